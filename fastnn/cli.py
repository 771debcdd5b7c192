"""``fastnn train`` and ``fastnn predict``: data files in, model files and predictions out.

Data files: CSV (first line: column names), Parquet (needs pyarrow), ``.npy``
(a 2-D numeric array; the target is a column index) and ``.npz`` (feature
array ``X`` or the only other array, target array ``y`` or ``--target``),
read by :mod:`fastnn._datafiles`.  Models are written with :func:`fastnn.save`.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from ._datafiles import (choose_task, file_as_dtype, file_class_labels, file_regression_target,
                         read_data, write_predictions)
from .mlp import MLPClassifier, MLPRegressor

# Estimator parameters the command line does not offer: it shows its own
# progress bar (callbacks, verbose) and always trains from scratch.
_NOT_OPTIONS = ("callbacks", "verbose", "warm_start")


class Progress:
    """Estimator callback showing a progress bar with the loss and samples per second.

    A tqdm bar when tqdm is installed, else a printed line every tenth of
    ``total`` epochs.  Pass it as ``callbacks=Progress(max_iter, n_samples)``.
    """

    def __init__(self, total: int, n_samples: int, desc: str = "training"):
        self.total, self.n_samples, self.desc = total, n_samples, desc
        self.every = max(1, total // 10)
        self.bar = None
        self.started = False

    def __call__(self, estimator, metrics) -> bool:
        if not self.started:  # the bar appears once training has started
            self.started = True
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=self.total, desc=self.desc, unit="epoch", leave=True)
        rate = self.n_samples / max(metrics["seconds"], 1e-9)
        shown = {"loss": f"{metrics['loss']:.4f}"}
        if metrics.get("validation_score") is not None:
            shown["val score"] = f"{metrics['validation_score']:.4f}"
        shown["samples/s"] = f"{rate:,.0f}"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(shown)
        elif metrics["epoch"] % self.every == 0 or metrics["epoch"] == 1:
            print(f"  epoch {metrics['epoch']:4d}  "
                  + "  ".join(f"{k} {v}" for k, v in shown.items()), flush=True)
        return False

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.started = None, False


# ------------------------------------------------------------------ parsers
def add_train_parser(sub) -> None:
    parser = sub.add_parser(
        "train", help="train an MLP on a data file and save it",
        description="Train an MLPClassifier or MLPRegressor on a CSV, Parquet, .npy or .npz "
                    "file, print the validation score and save the model (fastnn.save). "
                    "Hyperparameters are the estimators' (see help(fastnn.MLPClassifier)).")
    parser.add_argument("data", help="CSV (also .tsv, .txt; compressed: .csv.gz, .zip, ...), "
                        "Parquet, .npy or .npz file")
    parser.add_argument("--target", help="target column (CSV/Parquet: name, default the last "
                        "column; .npy: index, default -1; .npz: array name, default 'y')")
    parser.add_argument("--task", choices=["auto", "classification", "regression"],
                        default="auto", help="auto: classification for text, for at most "
                        "20 distinct integer values, or for several columns of 0s and 1s "
                        "(labels that a row has or not), else regression. Classification labels "
                        "1.0, 2.0 become 1, 2; other numbers (0.5) are an error, as in "
                        "scikit-learn, never rounded. Missing target values (empty cells, "
                        "nulls, NaN, and in CSV files pandas' missing texts such as NA) are "
                        "an error; CSV labels true/false are booleans")
    parser.add_argument("--sample-weight", metavar="COLUMN", help="column of each row's "
                        "weight in training (CSV/Parquet: name; .npy: index; .npz: array "
                        "name), not a feature; finite and non-negative. The validation score "
                        "is unweighted")
    parser.add_argument("--out", help="model file to write (default: DATA's name + .model.npz)")
    parser.add_argument("--validation-split", type=float_in(0, 1, "a fraction in [0, 1)"),
                        default=0.2,
                        help="fraction of rows held out to score the model (0: score on the "
                        "training rows)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--chunk-size", type=int_at_least(1), metavar="ROWS",
                        help="for files bigger than memory (CSV, Parquet, .npy): read blocks "
                        "of ROWS rows, partial_fit on each, --max-iter passes (default 10), "
                        "no validation split: the score is on the last block's rows, trained "
                        "on (fastnn.fit_stream). Classification reads the file once for the "
                        "classes, checking every row before any training; a regression's "
                        "rows are checked as the first pass trains on them, and a bad row "
                        "(text target, NaN feature) stops it there, with no model written")
    options = parser.add_argument_group("estimator parameters (default: the estimator's)")
    for name, default in MLPClassifier().get_params().items():
        if name in _NOT_OPTIONS:
            continue
        kwargs = {"type": _checked(name, _PARSERS.get(name, type(default)))}
        if isinstance(default, bool):
            kwargs = {"action": argparse.BooleanOptionalAction}
        if name == "class_weight":
            kwargs = {"choices": ["balanced"]}
        if "action" not in kwargs:
            kwargs["metavar"] = name.upper()
        options.add_argument("--" + name.replace("_", "-"), dest="param_" + name, default=None,
                             help=f"default {_show(default)}", **kwargs)
    return parser


def check_train_options(parser, args) -> None:
    """Usage errors (``parser.error``, exit status 2) for train options that are valid alone
    but not together, before any data are read: the value checks of ``_checked`` see one
    option at a time."""
    activation = args.param_activation
    if isinstance(activation, list):  # one per hidden layer
        sizes = args.param_hidden_layer_sizes
        given = sizes is not None
        sizes = sizes if given else MLPClassifier().hidden_layer_sizes
        if len(activation) != len(sizes):
            layers = (f"--hidden-layer-sizes {_show(tuple(sizes))}" if given
                      else f"the default --hidden-layer-sizes {_show(tuple(sizes))}")
            parser.error(f"argument --activation: {len(activation)} activations "
                         f"({_show(tuple(activation))}) for {len(sizes)} hidden layer(s) "
                         f"({layers}): give one activation, or one per hidden layer")
    if args.chunk_size is not None and args.param_solver == "lbfgs":
        parser.error("argument --solver: --chunk-size trains with partial_fit, a block of rows "
                     "at a time, which solver 'lbfgs' cannot do (it needs all rows at once): "
                     "use --solver adam or sgd, or train without --chunk-size")
    if args.chunk_size is not None and args.param_early_stopping:
        parser.error("argument --early-stopping: --chunk-size trains with partial_fit, which "
                     "holds no rows out to stop on (scikit-learn's partial_fit refuses "
                     "early_stopping too): train without one of the two")
    if args.task == "regression" and args.param_class_weight is not None:
        parser.error("argument --class-weight: applies to classification only, not to "
                     "--task regression")


def add_predict_parser(sub) -> None:
    parser = sub.add_parser("predict", help="predict with a saved model",
                            description="Predict the rows of a data file with a model written "
                            "by 'fastnn train' or fastnn.save.")
    parser.add_argument("model", help="model file")
    parser.add_argument("data", help="CSV, Parquet, .npy or .npz file with the feature columns "
                        "(CSV/Parquet: matched by name when the model knows them)")
    parser.add_argument("--out", help=".csv or .npy file to write (default: CSV to stdout)")
    parser.add_argument("--target", help="a column of DATA to ignore (e.g. the true target)")
    parser.add_argument("--sample-weight", metavar="COLUMN", help="another column of DATA to "
                        "ignore: the sample weights 'fastnn train --sample-weight' trained with "
                        "(CSV/Parquet: name; .npy: index; .npz: array name)")
    parser.add_argument("--proba", action="store_true",
                        help="write class probabilities instead of labels (classifiers)")


def int_list(text: str, what: str = "positive integers", example: str = "64 or 128,64",
             minimum: int = 1) -> tuple[int, ...]:
    """An argparse type: comma-separated integers >= ``minimum`` (spaces around them allowed).

    An empty item ("3,,2", "3,"), a non-integer or a smaller value is an
    ``argparse.ArgumentTypeError`` that shows it: dropping it silently would
    train another network than the one asked for.
    """
    def refuse(problem: str):
        return argparse.ArgumentTypeError(f"expected comma-separated {what}, e.g. {example}; "
                                          f"got {text!r} ({problem})")

    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise refuse("nothing")
    values = []
    for position, item in enumerate(items, start=1):
        if not item:
            raise refuse(f"item {position} is empty")
        try:
            value = int(item)
        except ValueError:
            raise refuse(f"{item!r} is not an integer") from None
        if value < minimum:
            raise refuse(f"{value} is below {minimum}")
        values.append(value)
    return tuple(values)


def int_at_least(minimum: int, expected: str | None = None):
    """An argparse type: an integer >= ``minimum``, else an error showing the text (and
    ``expected``, default "an integer >= minimum")."""
    expected = expected or f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def float_in(low: float, high: float, expected: str, *, low_inclusive: bool = True):
    """An argparse type: a number in [``low``, ``high``) (``low`` excluded unless
    ``low_inclusive``), else an error "expected ``expected``, got TEXT" that states the
    option's rule; text, NaN and ``high`` (give ``inf`` for finite numbers) are outside."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (low <= value if low_inclusive else low < value) or not value < high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected
    return parse


def thread_count(text: str) -> int:
    """An argparse type for --threads: 0 (the current setting) up to the cores Numba may use."""
    from ._config import threading_info

    value = int_at_least(0)(text)
    most = threading_info()["max_threads"]
    if value > most:
        raise argparse.ArgumentTypeError(f"expected 0 (the current setting) to {most} (the "
                                         f"threads Numba may use), got {text!r}")
    return value


def _activation(text: str):
    if "," not in text:
        return text.strip()
    return [part.strip() for part in text.split(",")]


def _batch_size(text: str):
    text = text.strip()
    if text in ("auto", "full"):
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto', 'full' or a positive integer, "
                                         f"got {text!r}") from None


def _int_or_inf(text: str):
    """--n-iter-no-change: an integer, or inf (the tol rule never stops the run), as the
    estimators and scikit-learn take n_iter_no_change."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = None
    if value != np.inf:
        raise argparse.ArgumentTypeError(f"expected an integer or inf, got {text!r}")
    return value


def seed(text: str) -> int:
    """An argparse type for a seed (--random-state, digits' --seed): an integer in
    [0, 2**32 - 1], as NumPy's RandomState takes."""
    value = int_at_least(0)(text)
    if value >= 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32 - 1], got {text!r}")
    return value


def _checked(name: str, convert):
    """An argparse type for estimator parameter ``name``: ``convert`` the text, then check
    the value as ``fit`` would (``check_hyperparameters``), so that a bad value is a usage
    error naming the option (exit status 2) before any data are read."""
    from ._mlp_params import check_hyperparameters

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            kind = {float: "a number", int: "an integer"}.get(convert, convert.__name__)
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        probe = MLPClassifier(**{name: value})
        if name == "activation" and isinstance(value, list):  # one per hidden layer
            probe.set_params(hidden_layer_sizes=(1,) * len(value))
        try:
            check_hyperparameters(probe)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = name
    return parse


def _show(default) -> str:
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


def _threads_or_auto(text: str):
    """--n-threads: an integer or "auto", as the estimators take ``n_threads``."""
    text = text.strip()
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


_PARSERS = {"hidden_layer_sizes": int_list, "activation": _activation,
            "batch_size": _batch_size, "random_state": seed, "n_threads": _threads_or_auto,
            "n_iter_no_change": _int_or_inf}


# ----------------------------------------------------------------- commands
def train(args) -> int:
    _check_out(_model_path(args))  # before training: found after it, it lost the training
    if args.chunk_size is not None:  # >= 1: checked while parsing
        from ._train_chunks import train_command
        return train_command(args)
    # X in --dtype, its values checked (named by column and row)
    X, y, names, weights = read_data(args.data, args.target, train=True,
                                     weight=args.sample_weight, dtype=args.dtype)
    task = choose_task(y, args.task)
    if task == "classification":
        y = file_class_labels(y, args.data)
    params = estimator_params(args)
    estimator = estimator_class(task, params)
    if task == "regression":
        y = file_as_dtype(file_regression_target(y, args.data), args.dtype, args.data,
                          "the target")
    what = (f"{len(np.unique(y))} classes" if task == "classification"
            else f"values {y.min():.4g} .. {y.max():.4g}")
    print(f"{args.data}: {X.shape[0]} rows, {X.shape[1]} features; {task} "
          f"({what}; --task to override)")
    X_train, X_val, y_train, y_val, w_train, _ = _split(X, y, args.validation_split, task,
                                                        params.get("random_state", 0), weights)
    max_iter = params.get("max_iter", MLPClassifier().max_iter)
    progress = Progress(max_iter, len(X_train), estimator.__name__)
    model = estimator(callbacks=progress, **params)
    started = time.perf_counter()
    try:
        model.fit(_frame(X_train, names), y_train, sample_weight=w_train)
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    model.set_params(callbacks=None)
    metric = "accuracy" if task == "classification" else "R^2"
    if X_val is not None:
        where = f"on {len(X_val)} held-out row{'' if len(X_val) == 1 else 's'}"
        X_score, y_score = X_val, y_val
    else:
        where = "on the training rows (--validation-split 0)"
        X_score, y_score = X_train, y_train
    if task == "regression" and len(y_score) < 2:  # scikit-learn warns and gives nan
        score = "undefined"
    else:
        score = f"{model.score(_frame(X_score, names), y_score):.4f}"
    print(f"trained in {seconds:.2f} s ({model.n_iter_} iterations; a first run also compiles "
          f"the kernels); validation {metric} {score} {where}")
    _save_model(model, args)
    return 0


def estimator_params(args) -> dict:
    """The estimator parameters given on the command line (the ``--`` options stored as
    ``param_NAME``), by name; those not given are left to the estimator's defaults."""
    return {name[6:]: value for name, value in vars(args).items()
            if name.startswith("param_") and value is not None}


def estimator_class(task: str, params: dict):
    """MLPClassifier or MLPRegressor for ``task``; ValueError for --class-weight with a
    regression target (MLPRegressor has no class_weight)."""
    if task == "classification":
        return MLPClassifier
    if "class_weight" in params:
        raise ValueError("--class-weight applies to classification only")
    return MLPRegressor


def _save_model(model, args) -> None:
    """Save ``model`` to ``--out`` (default: the data file's name + .model.npz) and say where."""
    from .model_io import save

    out = _model_path(args)
    save(model, out)
    print(f"model saved to {out}")


def _model_path(args) -> Path:
    """--out, or the data file's name + .model.npz."""
    return Path(args.out) if args.out else Path(args.data).with_suffix(".model.npz")


def _check_out(out: Path) -> None:
    """ValueError naming ``out`` if a model file cannot be written there."""
    folder = out.parent
    problem = ("is a folder" if out.is_dir() else
               f"its folder {folder} does not exist" if not folder.is_dir() else
               f"its folder {folder} is not writable" if not os.access(folder, os.W_OK) else
               None)
    if problem:
        raise ValueError(f"cannot write the model to {out}: {problem} (--out)")


def predict(args) -> int:
    from .model_io import load

    if args.out is not None and Path(args.out).suffix.lower() not in (".csv", ".npy"):
        raise ValueError(f"--out must end in .csv or .npy, got {args.out}")
    model = load(args.model)
    names = getattr(model, "feature_names_in_", None)
    X, _, _, _ = read_data(args.data, args.target, train=False,
                           feature_names=None if names is None else list(names),
                           weight=args.sample_weight)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(f"{args.data} has {X.shape[1]} feature columns, the model expects "
                         f"{model.n_features_in_} (--target and --sample-weight drop a column "
                         f"each)")
    inputs = _frame(X, None if names is None else list(names))
    if args.proba:
        if not hasattr(model, "predict_proba"):
            raise ValueError(f"a {type(model).__name__} has no class probabilities (--proba)")
        values = model.predict_proba(inputs)
        columns = [f"proba_{label}" for label in model.classes_]
    else:
        values = model.predict(inputs)
        columns = (["prediction"] if values.ndim == 1
                   else [f"prediction_{i}" for i in range(values.shape[1])])
    write_predictions(values, columns, args.out)
    if args.out:
        print(f"{len(values)} predictions written to {args.out}")
    return 0


def _split(X, y, fraction, task, seed, weights=None):
    """Training and validation rows of X, y and the sample weights (None: none)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"--validation-split must be in [0, 1), got {fraction}")
    if fraction == 0:
        return X, None, y, None, weights, None
    from sklearn.model_selection import train_test_split

    arrays = (X, y) if weights is None else (X, y, weights)
    try:
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed,
                                 stratify=y if task == "classification" else None)
    except ValueError:  # a class too small to stratify
        parts = train_test_split(*arrays, test_size=fraction, random_state=seed)
    return (*parts, None, None) if weights is None else tuple(parts)


def _frame(X, names):
    """A DataFrame (so the model records/matches feature names) when names and pandas exist."""
    if names is None:
        return X
    try:
        import pandas as pd
    except ImportError:
        return X
    return pd.DataFrame(X, columns=names)
