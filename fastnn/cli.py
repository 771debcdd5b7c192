"""``fastnn train`` and ``fastnn predict``: data files in, model files and predictions out.

Data files: CSV (first line: column names), Parquet (needs pyarrow), ``.npy``
(a 2-D numeric array; the target is a column index) and ``.npz`` (feature
array ``X`` or the only other array, target array ``y`` or ``--target``).
Models are written with :func:`fastnn.save`.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from .mlp import MLPClassifier, MLPRegressor

# Estimator parameters the command line does not offer: it shows its own
# progress bar (callbacks, verbose) and always trains from scratch.
_NOT_OPTIONS = ("callbacks", "verbose", "warm_start")
_SUFFIXES = (".csv", ".npy", ".npz", ".parquet", ".pq")


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
    parser.add_argument("data", help="CSV, Parquet, .npy or .npz file")
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
    parser.add_argument("--validation-split", type=_fraction, default=0.2,
                        help="fraction of rows held out to score the model (0: score on the "
                        "training rows)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--chunk-size", type=int_at_least(1), metavar="ROWS",
                        help="for files bigger than memory (CSV, Parquet, .npy): read blocks "
                        "of ROWS rows, partial_fit on each, --max-iter passes (default 10), "
                        "no validation split (fastnn.fit_stream)")
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


def _fraction(text: str) -> float:
    """--validation-split: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
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
        from .streaming import train_command
        return train_command(args)
    X, y, names, weights = read_data(args.data, args.target, train=True,
                                     weight=args.sample_weight)
    task = choose_task(y, args.task)
    if task == "classification":
        y = file_class_labels(y, args.data)
    params = {name[6:]: value for name, value in vars(args).items()
              if name.startswith("param_") and value is not None}
    estimator = estimator_class(task, params)
    if task == "regression":
        if y.dtype.kind not in "biuf":
            raise ValueError("a regression target must be numeric")
        y = y.astype(args.dtype)
    X = X.astype(args.dtype)
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
        where = f"on {len(X_val)} held-out rows"
        score = model.score(_frame(X_val, names), y_val)
    else:
        where = "on the training rows (--validation-split 0)"
        score = model.score(_frame(X_train, names), y_train)
    print(f"trained in {seconds:.2f} s ({model.n_iter_} iterations; a first run also compiles "
          f"the kernels); validation {metric} {score:.4f} {where}")
    _save_model(model, args)
    return 0


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


def class_labels(y: np.ndarray, what: str = "the target", offset: int = 0,
                 base: int = 1) -> np.ndarray:
    """Classification labels: integral floats become integers (0, 1, ... rather than 0.0,
    1.0); other floats (0.5) are a ValueError, as scikit-learn's classifiers reject such
    "continuous" targets (it does not round them)."""
    check_target(y, what, offset, base)
    if y.dtype.kind != "f":
        return y
    fractional = np.flatnonzero((y != np.round(y)) | (np.abs(y) >= 2.0 ** 53))
    if fractional.size:
        row = fractional[0]
        raise ValueError(f"{what} has non-integer values (e.g. {float(y.flat[row])!r} on "
                         f"row {row + offset + base}, {_rows_note(base)}), which are not "
                         f"class labels: use --task regression, or write the classes as "
                         f"integers or text")
    return y.astype(np.int64)


def file_class_labels(y: np.ndarray, path) -> np.ndarray:
    """:func:`class_labels` of the target read from data file ``path``, its rows counted as
    the file counts them (from 1 after the header line of CSV/Parquet, from 0 in .npy/.npz
    arrays, which have no header)."""
    arrays = Path(path).suffix.lower() in (".npy", ".npz")
    return class_labels(y, f"{path}: the target", base=0 if arrays else 1)


def missing_rows(values: np.ndarray) -> np.ndarray:
    """Indices of the missing entries of a column: NaN, infinite, empty text or None."""
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        bad = ~np.isfinite(values)
    elif values.dtype.kind in "US":
        bad = np.char.strip(values) == ""
    elif values.dtype == object:
        bad = np.array([v is None or v == "" or (isinstance(v, float) and not np.isfinite(v))
                        for v in values.ravel()], dtype=bool).reshape(values.shape)
    else:
        return np.empty(0, dtype=np.int64)
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    return np.flatnonzero(bad)


def _rows_note(base: int) -> str:
    return "rows counted from 1 after the header" if base else "rows counted from 0"


def check_target(y: np.ndarray, what: str, offset: int = 0, base: int = 1) -> None:
    """ValueError naming ``what`` (e.g. "target column 'y'") if ``y`` has missing values
    (empty cells, nulls, NaN) or infinite ones; ``y[0]`` is reported as row
    ``offset + base`` (base 1: data rows after a header; 0: array indices)."""
    rows = missing_rows(y)
    if rows.size:
        shown = ", ".join(str(r + offset + base) for r in rows[:10])
        more = f" and {rows.size - 10} more" if rows.size > 10 else ""
        raise ValueError(f"{what} has {rows.size} missing or non-finite value(s) (empty, null, "
                         f"NaN or infinite) on row(s) {shown}{more} ({_rows_note(base)}); "
                         f"remove those rows or fill them in")


def choose_task(y: np.ndarray, task: str = "auto") -> str:
    """'classification' or 'regression' for target ``y`` (``task`` other than auto wins)."""
    if task != "auto":
        return task
    if y.dtype.kind not in "iuf":
        return "classification"
    if y.ndim == 1 and np.all(np.isfinite(y)) and np.all(y == np.round(y)) \
            and len(np.unique(y)) <= 20:
        return "classification"
    if y.ndim == 2 and y.size and np.isin(y, (0, 1)).all():
        return "classification"  # several labels a row (scikit-learn's multilabel indicator)
    return "regression"


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


# -------------------------------------------------------------------- files
def read_data(path, target=None, *, train: bool, feature_names=None, weight=None):
    """Features, target, feature names and sample weights from a data file.

    ``weight`` names the column of sample weights (CSV/Parquet: a name; .npy: an index;
    .npz: an array), which is not a feature.  ``feature_names`` (a model's) picks the
    feature columns by name; with ``train``, a target among them is a ValueError.

    Returns
    -------
    X : ndarray of float64, shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) (or (n_samples, n_outputs) from .npz), None unless train
    names : list of str or None
        Feature column names (CSV/Parquet).
    weights : ndarray of float64, shape (n_samples,), or None without ``weight`` or ``train``
        Finite and non-negative (else a ValueError naming the column and the row).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"{path}: unsupported data file type {suffix!r}; use "
                         f"{', '.join(_SUFFIXES)}")
    if suffix == ".npy":
        X, y, names, weights = _split_array(_load_npy(path), target, train, path, weight)
        if y is not None:
            check_target(y, f"{path}: the target column", base=0)
        return X, y, names, _weights(weights if train else None, path, weight, base=0)
    if suffix == ".npz":
        X, y, names, weights = _from_npz(path, target, train, weight)
        if y is not None:
            check_target(y, f"{path}: the target array", base=0)
        return X, y, names, _weights(weights if train else None, path, weight, base=0)
    columns = _read_csv(path) if suffix == ".csv" else _read_parquet(path)
    if train:
        target = _column_name(columns, target if target is not None else list(columns)[-1], path)
    elif target is not None:
        target = _column_name(columns, target, path)
    weights = None
    if weight is not None:
        weight = _column_name(columns, weight, path)
        if weight == target:
            raise ValueError(f"{path}: --sample-weight and --target name the same column "
                             f"{weight!r}")
        if train:  # predict only leaves the column out
            weights = _weights(columns[weight], path, weight)
    if feature_names is not None:
        missing = [name for name in feature_names if name not in columns]
        if missing:
            raise ValueError(f"{path} lacks the model's feature columns {missing}")
        names = list(feature_names)
        if train and target in names:  # it would be a feature and the target
            raise ValueError(f"{path}: the target column {target!r} is one of the model's "
                             f"features; name the target column with --target (default: the "
                             f"last column)")
    else:
        names = [name for name in columns if name not in (target, weight)]
    for name in names:
        if columns[name].dtype.kind not in "biuf":
            raise ValueError(f"{path}: feature column {name!r} is not numeric: "
                             f"{_not_a_number(columns[name])}")
    if not names:
        raise ValueError(f"{path} has no feature columns")
    X = np.column_stack([columns[name] for name in names]).astype(np.float64)
    if not train:
        return X, None, names, weights
    y, what = columns[target], f"{path}: target column {target!r}"
    if suffix == ".csv" and y.dtype.kind == "U":  # not all numbers: typed as --chunk-size
        return X, text_labels(y, what), names, weights
    check_target(y, what)
    return X, y, names, weights


def _weights(values, path, column, offset: int = 0, base: int = 1):
    """Sample weights as float64 (None for None): numbers, none missing, infinite or
    negative, else a ValueError naming the file, the column and the row (``values[0]`` is
    row ``offset + base``)."""
    if values is None:
        return None
    from ._csv import as_weights, check_weights

    try:
        weights = as_weights(values, column, offset + base, _rows_note(base))
    except ValueError as exc:  # text that is not a number
        raise ValueError(f"{path}: {exc}") from None
    return check_weights(weights, column, offset + base, str(path), _rows_note(base))


def text_labels(values, what: str, offset: int = 0, base: int = 1, kind: str | None = None):
    """Target values read as CSV text, typed as ``fastnn._csv`` types a column (as pandas
    does), with and without --chunk-size alike: pandas' missing-value texts ("NA", "null",
    ...) are missing (:func:`check_target` names their rows), the others are stripped and
    read as ``kind`` ('i', 'f', 'b' or 'U'; default: the values' own, so "true"/"false" are
    booleans).  ``_csv.NotOfKind`` for a value that is not of ``kind``.  Read apart, "NA"
    was a class without --chunk-size and a missing label with it.
    """
    from ._csv import missing_label, text_as, text_kind

    labels = np.array([None if missing_label(v) else v.strip() for v in values], dtype=object)
    check_target(labels, what, offset, base)
    return text_as(labels, kind or text_kind(labels))


def _not_a_number(values) -> str:
    """The first entry of ``values`` that is not a number, and its data row (from 1)."""
    for row, value in enumerate(values, start=1):
        try:
            float(value)
        except (TypeError, ValueError):
            shown = "an empty cell" if str(value).strip() == "" else repr(str(value))
            return f"{shown} on row {row} ({_rows_note(1)})"
    return f"dtype {values.dtype}"


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except OSError:
        raise
    except Exception as exc:  # corrupt header, pickled objects, truncated data...
        raise ValueError(f"{path} is not a readable .npy file: {type(exc).__name__}: {exc}"
                         ) from None


def _column_name(columns, target, path) -> str:
    if target in columns:
        return target
    try:
        return list(columns)[int(target)]
    except (ValueError, IndexError):
        raise ValueError(f"{path} has no column {target!r}; columns: {list(columns)}") from None


def _split_array(array, target, train, path, weight=None):
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a 2-D numeric array, got {array.ndim}-D {array.dtype}")
    width = array.shape[1]
    at = None
    if weight is not None:
        at = _array_column(weight, width, path, "--sample-weight")
    if not train and target is None and at is None:
        return array.astype(np.float64), None, None, None
    column = None
    if train or target is not None:
        column = _array_column(-1 if target is None else target, width, path, "--target")
        if column == at:
            raise ValueError(f"{path}: --sample-weight and --target name the same column "
                             f"{column}")
    X = np.delete(array, [c for c in (column, at) if c is not None], axis=1).astype(np.float64)
    y = array[:, column] if train else None
    return X, y, None, None if at is None else array[:, at]


def _array_column(text, width: int, path, option: str) -> int:
    """The index (>= 0) of the column of a 2-D array that ``option`` names by ``text``."""
    try:
        column = int(text)
        if not -width <= column < width:
            raise ValueError
    except ValueError:
        raise ValueError(f"{path}: {option} must be a column index in [-{width}, {width}), "
                         f"got {text!r}") from None
    return column % width


def _from_npz(path, target, train, weight=None):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # BadZipFile, a damaged member, pickled objects...
        raise ValueError(f"{path} is not a readable .npz file (damaged, truncated or not an "
                         f"npz archive): {type(exc).__name__}: {exc}") from None
    if train and target is not None and target == "X" and "X" in arrays:
        raise ValueError(f"{path}: --target 'X' names the feature array; the target must be "
                         f"another array (arrays: {list(arrays)})")
    target = target if target is not None else "y"
    if weight is not None and weight not in arrays:
        raise ValueError(f"{path} has no sample weight array {weight!r} (arrays: "
                         f"{list(arrays)})")
    if weight is not None and weight in (target, "X"):
        what = "target" if weight == target else "feature"
        raise ValueError(f"{path}: --sample-weight names the {what} array {weight!r}")
    features = [name for name in arrays if name not in (target, weight)]
    name = "X" if "X" in arrays else features[0] if len(features) == 1 else None
    if name is None:
        raise ValueError(f"{path}: expected a feature array 'X' (arrays: {list(arrays)})")
    X = arrays[name]
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {name!r} must be 2-D numeric, got {X.ndim}-D {X.dtype}")
    y = None
    if train:
        if target not in arrays:
            raise ValueError(f"{path} has no target array {target!r} (arrays: {list(arrays)})")
        y = arrays[target]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
    weights = None if weight is None else arrays[weight]
    if weights is not None and (weights.ndim != 1 or len(weights) != len(X)):
        raise ValueError(f"{path}: the sample weight array {weight!r} must have shape "
                         f"({len(X)},), got {weights.shape}")
    return X.astype(np.float64), y, None, weights


def _read_csv(path) -> dict:
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = [row for row in csv.reader(file) if row]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header line and at least one data row")
    header = header_names(rows[0], path)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {number}: {len(row)} fields, the header has "
                             f"{len(header)}")
    columns = {}
    for index, name in enumerate(header):
        values = [row[index].strip() for row in rows[1:]]
        try:
            columns[name] = np.array(values, dtype=np.float64)
        except ValueError:
            columns[name] = np.array(values)
    return columns


def header_names(row, path) -> list[str]:
    """Column names from a CSV header row: stripped of spaces (and of a byte order mark);
    ValueError if two are equal.  Used by all CSV readers of the command line."""
    header = [name.strip() for name in row]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:].strip()
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: duplicate column names in {header}")
    return header


def _read_parquet(path) -> dict:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path)
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object:  # text: a null becomes an empty cell, as in CSV
            values = np.array(["" if v is None else str(v) for v in values])
        columns[name] = values
    return columns


def write_predictions(values: np.ndarray, columns: list[str], out) -> None:
    """``values`` as .npy, or as CSV with ``columns`` (to stdout when ``out`` is None)."""
    if out is not None and Path(out).suffix.lower() == ".npy":
        np.save(out, values.astype(str) if values.dtype == object else values,
                allow_pickle=False)
        return
    if out is not None and Path(out).suffix.lower() != ".csv":
        raise ValueError(f"--out must end in .csv or .npy, got {out}")
    rows = values.reshape(len(values), -1)
    file = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows.tolist())
    finally:
        if out:
            file.close()
