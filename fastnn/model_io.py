"""Model files: ``fastnn.save(model, path)`` and ``fastnn.load(path)``, with no pickle anywhere.

A model file (format version 1) is an *uncompressed* ``.npz`` archive, a zip of
``.npy`` arrays of numeric or unicode dtype only, read back with
``np.load(path, allow_pickle=False)``:

``metadata``
    uint8 array holding UTF-8 JSON: ``format`` ("fastnn-model"),
    ``format_version``, ``fastnn_version``, ``class`` (MLPClassifier,
    MLPRegressor, Perceptron or SGDClassifier), ``params`` (``get_params()``), ``dtype``,
    ``classes_dtype`` and ``state`` (the fitted attributes other than arrays:
    layer sizes, activations, ``n_iter_``, ``t_``, ``loss_curve_``,
    ``gradient_norms_``, optimizer scalars...).  JSON values are None, bool,
    int, float, str and lists; a tuple is written ``{"tuple": [...]}``, a dict
    ``{"dict": [[key, value], ...]}`` and an infinite float ``{"float": "inf"}``.
``params``, ``best_params``, ``optimizer_velocity``, ``optimizer_m``, ``optimizer_v``
    MLPs: the flat parameter vector (see :class:`fastnn.Network`), the best
    weights of early stopping and the optimizer's state, so that
    ``partial_fit`` continues exactly where the saved model stopped.
``coef``, ``intercept``
    Perceptron and SGDClassifier.
``classes``, ``feature_names``
    ``classes_`` (object arrays of strings are stored as unicode) and
    ``feature_names_in_`` when the model was fitted on a DataFrame.

A Perceptron file written before ``shuffle_block`` existed (the first model
files, 2026-11-28) loads with ``shuffle_block=1``, the uniform shuffle it was
trained with.

Loading trusts nothing: only the four estimator classes above can be built
(by a fixed table, never by importing a name), every array's header is
checked before it is read (no object or structured dtype, declared shape equal
to the bytes actually stored, so a forged shape cannot allocate memory), and
every shape, dtype and value is checked against the metadata.  Any problem
raises :class:`ModelFileError` (a ``ValueError``) that names it.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import check_is_fitted

from ._mlp_params import check_hyperparameters, network_mismatch
from ._mlp_weights import adopt_assigned_weights
from .mlp import MLPClassifier, MLPRegressor
from .network import OUTPUTS, Network
from .optimizers import SGD, Adam
from .linear import LinearSGD
from .sgd_classifier import SGDClassifier
from .perceptron import Perceptron

FORMAT = "fastnn-model"
FORMAT_VERSION = 1
CLASSES = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor, "Perceptron": Perceptron,
           "SGDClassifier": SGDClassifier}

_ARRAYS = {"metadata", "params", "best_params", "optimizer_velocity", "optimizer_m",
           "optimizer_v", "coef", "intercept", "classes", "feature_names"}
_MLP_SCALARS = ("n_iter_", "t_", "loss_", "best_loss_", "best_validation_score_",
                "_no_improvement_count")
_MLP_CURVES = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
# Parameters added after format version 1 came out, with the value that trains as the fastnn
# that wrote a file without them did (Perceptron: a uniform shuffle before 2026-11-29;
# l1_ratio and n_jobs, which it ignores as scikit-learn's does, at their defaults).
_ADDED_PARAMS = {"Perceptron": {"shuffle_block": 1, **Perceptron._ADDED_PARAMS}}
_Y_TYPES = ("binary", "multiclass", "multilabel-indicator")
_MAX_DEPTH = 32
# Step counters (Perceptron/SGDClassifier t_, Adam's t) beyond this overflow in training.
_MAX_STEPS = 2 ** 53
# What a damaged archive can raise while it is read; all become ModelFileError.
_READ_ERRORS = (OSError, EOFError, KeyError, IndexError, TypeError, ValueError, OverflowError,
                NotImplementedError, RecursionError, UnicodeDecodeError, zipfile.BadZipFile,
                zlib.error, struct.error)


class ModelFileError(ValueError):
    """A model file cannot be written or read; the message names the problem."""


# --------------------------------------------------------------------- saving
def save(model: MLPClassifier | MLPRegressor | LinearSGD, path: str | os.PathLike) -> Path:
    """Write a fitted estimator to ``path`` (one uncompressed ``.npz`` file, no pickle).

    Parameters
    ----------
    model : fitted MLPClassifier, MLPRegressor, Perceptron or SGDClassifier
        Its parameters must be plain values (None, bool, int, float, str,
        lists, tuples, dicts of them): a callback or a ``RandomState`` cannot
        be stored, set them to None (or an int seed) with ``set_params`` first.
    path : str or os.PathLike
        Written as given (no extension is added), atomically: an existing
        file is replaced only once the new one is complete.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ModelFileError (a ValueError)
        If a parameter or attribute cannot be stored, or the model would not
        load back: :func:`load`'s checks run before anything is written (e.g.
        ``set_params(hidden_layer_sizes=...)`` after fitting, ``alpha=-1``), or
        ``sigmoid_a``/``leaky_slope`` differ from the values the fitted network's units
        use (the file would hold both, and the network's would predict).
    """
    from . import __version__

    name = type(model).__name__
    if CLASSES.get(name) is not type(model):
        hint = ("; save its to_local() copy, a plain MLP estimator" if hasattr(model, "to_local")
                else "")
        raise TypeError(f"fastnn.save stores {', '.join(CLASSES)}; got "
                        f"{type(model).__qualname__}{hint}")
    check_is_fitted(model)
    _check_params_before_saving(model)
    arrays: dict[str, np.ndarray] = {}
    if isinstance(model, LinearSGD):
        state, dtype = _linear_state(model, arrays)
    else:
        state, dtype = _mlp_state(model, arrays)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fastnn_version": __version__,
            "class": name, "dtype": dtype.name,
            "params": {key: _encode(value, f"parameter {key}")
                       for key, value in model.get_params(deep=False).items()},
            "state": {key: _encode(value, f"attribute {key}") for key, value in state.items()}}
    if hasattr(model, "classes_"):
        classes = np.asarray(model.classes_)
        meta["classes_dtype"] = classes.dtype.str if classes.dtype != object else "object"
        arrays["classes"] = _storable(classes, "classes_")
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names"] = _storable(np.asarray(model.feature_names_in_),
                                            "feature_names_in_")
    text = json.dumps(meta, allow_nan=False, sort_keys=True)
    arrays["metadata"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    try:  # what load would say about this file, before anything is written
        _build(_read_metadata(arrays["metadata"]),
               {key: value for key, value in arrays.items() if key != "metadata"})
    except ModelFileError as exc:
        raise ModelFileError(f"cannot save this {name}, it would not load back: {exc}") from None

    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.",
                                             suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez(file, **arrays)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:  # it named the temporary file, which the caller never asked for
        raise type(exc)(exc.errno, exc.strerror, os.fspath(path)) from None
    return path


def _check_params_before_saving(model) -> None:
    """The parameter checks :func:`load` applies, as a ModelFileError naming the parameter."""
    try:
        if isinstance(model, LinearSGD):
            model._check_params()
            return
        hidden, _ = check_hyperparameters(model)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"cannot save this {type(model).__name__}: its parameters are "
                             f"invalid (load would refuse them): {exc}") from None
    network = model._network
    if network.layer_sizes[1:-1] != hidden:
        raise ModelFileError(
            f"cannot save: hidden_layer_sizes={model.hidden_layer_sizes!r} does not match the "
            f"fitted network's hidden layers {network.layer_sizes[1:-1]}; set it back or refit")
    # predict's check: the file would hold the new value beside the network's, which predicts
    mismatch = network_mismatch(model, network)
    if mismatch:
        raise ModelFileError(f"cannot save: {mismatch}; set it back or refit")


def _storable(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as numbers, booleans or unicode; object arrays must hold only strings."""
    if array.dtype == object:
        if not all(isinstance(item, str) for item in array.ravel()):
            raise ModelFileError(f"{what} holds objects that are not strings; a model file "
                                 "stores numbers, booleans and strings only")
        converted = array.astype(str)
        # NumPy's unicode arrays drop trailing NUL characters: 'a' and 'a\x00' would merge.
        if any(a != b for a, b in zip(converted.ravel().tolist(), array.ravel())):
            raise ModelFileError(f"{what} holds strings ending in NUL characters ('\\x00'), "
                                 "which a model file cannot store unchanged")
        return converted
    if array.dtype.kind not in "biufU":
        raise ModelFileError(f"{what} has dtype {array.dtype}, which a model file cannot store")
    return array


def _mlp_state(model, arrays):
    adopt_assigned_weights(model)  # coefs_/intercepts_ assigned since the last fit/predict
    network = model._network
    state = {"layer_sizes": network.layer_sizes, "activations": network.activations,
             "output": network.output, "sigmoid_a": network.sigmoid_a,
             "leaky_slope": network.leaky_slope}
    if hasattr(model, "gradient_norms_"):  # not after an lbfgs fit
        state["gradient_norms_"] = model.gradient_norms_
    for name in _MLP_SCALARS + _MLP_CURVES:
        if name in model.__dict__:
            state[name] = getattr(model, name)
    arrays["params"] = network.params
    if getattr(model, "_best_params", None) is not None:
        arrays["best_params"] = model._best_params
    if hasattr(model, "_label_binarizer"):
        binarizer = model._label_binarizer
        state["label_binarizer"] = {"y_type_": binarizer.y_type_,
                                    "neg_label": binarizer.neg_label,
                                    "pos_label": binarizer.pos_label}
    optimizer = getattr(model, "_optimizer", None)
    if isinstance(optimizer, SGD):
        state["optimizer"] = {"kind": "sgd", "lr": optimizer.lr, "momentum": optimizer.momentum,
                              "nesterov": optimizer.nesterov,
                              "weight_decay": optimizer.weight_decay}
        if optimizer.velocity is not None:
            arrays["optimizer_velocity"] = optimizer.velocity
    elif isinstance(optimizer, Adam):
        state["optimizer"] = {"kind": "adam", "lr": optimizer.lr, "beta1": optimizer.beta1,
                              "beta2": optimizer.beta2, "eps": optimizer.eps, "t": optimizer.t,
                              "weight_decay": optimizer.weight_decay}
        arrays["optimizer_m"], arrays["optimizer_v"] = optimizer.m, optimizer.v
    return state, network.dtype


def _linear_state(model, arrays):
    coef = model.coef_
    arrays["coef"] = np.ascontiguousarray(coef.toarray() if sp.issparse(coef) else coef)
    arrays["intercept"] = np.ascontiguousarray(model.intercept_)
    state = {"n_iter_": model.n_iter_, "t_": model.t_}
    if "_rate_t" in model.__dict__:  # the learning rate's t (see LinearSGD._train)
        state["rate_t"] = model._rate_t
    return state, model.coef_.dtype


def _encode(value, what: str, depth: int = 0):
    """``value`` as JSON (see the module docstring); ModelFileError if it is not plain data."""
    if depth > _MAX_DEPTH:
        raise ModelFileError(f"{what} is nested too deeply to be stored")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [_encode(item, what, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, what, depth + 1) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, what, depth + 1), _encode(v, what, depth + 1)]
                         for k, v in value.items()]}
    hint = ("a model file holds no code: set_params(callbacks=None) before saving"
            if what == "parameter callbacks" else
            "only None, bool, int, float, str and lists, tuples and dicts of them can be "
            "stored; replace it with such a value (set_params) before saving")
    raise ModelFileError(f"{what} = {value!r} cannot be saved: {hint}")


# -------------------------------------------------------------------- loading
def load(path: str | os.PathLike) -> MLPClassifier | MLPRegressor | LinearSGD:
    """Read an estimator written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLPClassifier, MLPRegressor, Perceptron or SGDClassifier
        Fitted, predicting bit-identically to the saved model; MLPs keep
        their optimizer state, so ``partial_fit`` continues the training.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ModelFileError (a ValueError)
        If the file is not a fastnn model file, is truncated or corrupted,
        has another format version, or anything in it is inconsistent.
    """
    path = os.fspath(path)
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic != b"PK\x03\x04":
        raise ModelFileError(f"{path} is not a fastnn model file (not an .npz archive; "
                             "it may be empty, truncated or of another format)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = _read_arrays(archive, os.path.getsize(path))
        meta = _read_metadata(arrays.pop("metadata", None))
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    except _READ_ERRORS as exc:
        raise ModelFileError(f"{path} is truncated or corrupted: {type(exc).__name__}: {exc}"
                             ) from None
    try:
        return _build(meta, arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _read_arrays(archive, file_size: int) -> dict[str, np.ndarray]:
    """Check each member's header against its stored bytes, then read it."""
    members = archive.zip.infolist()
    names = []
    for info in members:
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name not in _ARRAYS:
            raise ModelFileError(f"unexpected member {info.filename!r}: not part of the format")
        if name in names:
            raise ModelFileError(f"member {info.filename!r} appears twice")
        names.append(name)
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ModelFileError(f"array {name!r} is compressed or encrypted; model files "
                                 "store arrays uncompressed")
        if info.file_size != info.compress_size or info.file_size > file_size:
            raise ModelFileError(f"array {name!r} declares {info.file_size} bytes, more than "
                                 f"the file holds ({file_size} bytes)")
        with archive.zip.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ModelFileError(f"array {name!r} has .npy version {version}, not 1.0/2.0")
            header = member.tell()
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or dtype.kind not in "biufU":
            raise ModelFileError(f"array {name!r} has dtype {dtype}: model files hold only "
                                 "numbers, booleans and unicode strings (never objects, which "
                                 "would need pickle)")
        if any(n < 0 for n in shape):
            raise ModelFileError(f"array {name!r} declares a negative shape {shape}")
        stored = info.file_size - header
        if math.prod(shape) * dtype.itemsize != stored:
            raise ModelFileError(f"array {name!r} declares shape {shape} of {dtype} "
                                 f"({math.prod(shape) * dtype.itemsize} bytes) but stores "
                                 f"{stored} bytes")
    return {name: archive[name] for name in names}


def _read_metadata(raw) -> dict:
    if raw is None:
        raise ModelFileError("no 'metadata' entry: not a fastnn model file")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError("the 'metadata' entry is not a byte array")

    def reject_constant(name):
        raise ModelFileError(f"metadata holds the non-JSON constant {name}")

    meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=reject_constant)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError("its metadata does not say format 'fastnn-model': not a fastnn "
                             "model file")
    version = meta.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFileError(
            f"format version {version!r} (written by fastnn {meta.get('fastnn_version')!r}); "
            f"this fastnn reads format version {FORMAT_VERSION}: use a matching fastnn version")
    name = meta.get("class")
    if not isinstance(name, str) or name not in CLASSES:
        raise ModelFileError(f"unknown model class {name!r}; fastnn model files hold one of "
                             f"{', '.join(CLASSES)}")
    for key, kind in (("params", dict), ("state", dict), ("dtype", str)):
        if not isinstance(meta.get(key), kind):
            raise ModelFileError(f"metadata entry {key!r} is missing or not a {kind.__name__}")
    meta["params"] = {k: _decode(v, f"parameter {k}") for k, v in meta["params"].items()}
    meta["state"] = {k: _decode(v, f"attribute {k}") for k, v in meta["state"].items()}
    return meta


def _decode(value, what: str, depth: int = 0):
    """Inverse of :func:`_encode`."""
    if depth > _MAX_DEPTH:
        raise ModelFileError(f"{what} is nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(item, what, depth + 1) for item in value]
    if isinstance(value, dict) and len(value) == 1:
        (tag, body), = value.items()
        if tag == "tuple" and isinstance(body, list):
            return tuple(_decode(item, what, depth + 1) for item in body)
        if tag == "float" and body in ("inf", "-inf", "nan"):
            return float(body)
        if tag == "dict" and isinstance(body, list) and all(
                isinstance(pair, list) and len(pair) == 2 for pair in body):
            pairs = [(_decode(k, what, depth + 1), _decode(v, what, depth + 1)) for k, v in body]
            if all(isinstance(k, (type(None), bool, int, float, str, tuple)) for k, _ in pairs):
                return dict(pairs)
    raise ModelFileError(f"{what} holds an unreadable value {value!r}")


# ------------------------------------------------------------------ building
def _build(meta: dict, arrays: dict):
    cls = CLASSES[meta["class"]]
    expected = set(cls().get_params(deep=False))
    params = meta["params"]
    for name, value in _ADDED_PARAMS.get(meta["class"], {}).items():
        params.setdefault(name, value)
    if set(params) != expected:
        raise ModelFileError(f"the parameters of {meta['class']} differ from this fastnn's: "
                             f"unknown {sorted(set(params) - expected)}, "
                             f"missing {sorted(expected - set(params))}")
    model = cls(**params)
    if meta["dtype"] not in ("float32", "float64"):
        raise ModelFileError(f"dtype {meta['dtype']!r} is not float32 or float64")
    dtype = np.dtype(meta["dtype"])
    try:
        if issubclass(cls, LinearSGD):
            model._check_params()
            n_features = _build_linear(model, meta, arrays, dtype)
        else:
            n_features = _build_mlp(model, meta, arrays, dtype)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"cannot rebuild the {meta['class']} it holds: {exc}") from None
    names = arrays.pop("feature_names", None)
    if names is not None:
        if names.dtype.kind != "U" or names.shape != (n_features,):
            raise ModelFileError(f"feature_names must be {n_features} strings, got "
                                 f"{names.shape} of {names.dtype}")
        model.feature_names_in_ = names.astype(object)
    model.n_features_in_ = n_features
    leftover = set(arrays)
    if leftover:
        raise ModelFileError(f"arrays {sorted(leftover)} do not belong to a {meta['class']}")
    return model


def _classes(meta_dtype, arrays) -> np.ndarray:
    classes = arrays.pop("classes", None)
    if classes is None or classes.ndim != 1 or classes.shape[0] < 2:
        raise ModelFileError("a classifier needs a 'classes' array of at least 2 labels")
    if classes.dtype.kind in "fc" and not np.isfinite(classes).all():
        raise ModelFileError("classes contains NaN or infinite labels")
    # fit makes them sorted and unique (np.unique); predict and partial_fit rely on it
    if not np.array_equal(np.unique(classes), classes):
        raise ModelFileError(f"classes {classes.tolist()!r} are not sorted and unique, as "
                             f"fit leaves them")
    if meta_dtype == "object":
        if classes.dtype.kind != "U":
            raise ModelFileError(f"classes of dtype object must be stored as unicode, got "
                                 f"{classes.dtype}")
        return classes.astype(object)
    if not isinstance(meta_dtype, str) or classes.dtype.str != meta_dtype:
        raise ModelFileError(f"classes are stored as {classes.dtype.str}, the metadata says "
                             f"{meta_dtype!r}")
    return classes


def _array(arrays, name, shape, dtype) -> np.ndarray:
    array = arrays.pop(name, None)
    if array is None:
        raise ModelFileError(f"array {name!r} is missing")
    if array.shape != tuple(shape) or array.dtype != dtype:
        raise ModelFileError(f"array {name!r} has shape {array.shape} and dtype {array.dtype}, "
                             f"expected {tuple(shape)} and {dtype}")
    if not np.isfinite(array).all():
        raise ModelFileError(f"array {name!r} contains NaN or infinite values")
    return np.ascontiguousarray(array)


def _number(state, name, kind=numbers.Real, minimum=None, optional=False, maximum=None):
    value = state.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or (
            minimum is not None and not value >= minimum) or (
            maximum is not None and not value <= maximum):
        raise ModelFileError(f"attribute {name} = {value!r} is not a valid "
                             f"{'integer' if kind is numbers.Integral else 'number'}")
    return value


def _float_list(state, name, length=None, optional=False):
    values = state.get(name)
    if values is None and optional:
        return None
    if not isinstance(values, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) or (
            length is not None and len(values) != length):
        raise ModelFileError(f"attribute {name} must be a list of "
                             f"{length if length is not None else ''} numbers")
    return values


def _build_linear(model, meta, arrays, dtype) -> int:
    classes = _classes(meta.get("classes_dtype"), arrays)
    coef = arrays.get("coef")
    if coef is None or coef.ndim != 2:
        raise ModelFileError("array 'coef' is missing or not 2-dimensional")
    n_rows = 1 if classes.shape[0] == 2 else classes.shape[0]
    n_features = coef.shape[1]
    model.coef_ = _array(arrays, "coef", (n_rows, n_features), dtype)
    model.intercept_ = _array(arrays, "intercept", (n_rows,), dtype)
    model.classes_ = classes
    model.n_iter_ = _number(meta["state"], "n_iter_", numbers.Integral, minimum=0)
    # t_ counts from 1 (scikit-learn's): the 'invscaling' rate of t = 0 is eta0 / 0 ** power_t
    model.t_ = _number(meta["state"], "t_", minimum=1, maximum=_MAX_STEPS)
    rate_t = _number(meta["state"], "rate_t", minimum=1, maximum=_MAX_STEPS, optional=True)
    if rate_t is not None:  # files written before rate_t was saved go on from t_
        model._rate_t = rate_t
    return n_features


def _build_mlp(model, meta, arrays, dtype) -> int:
    state = meta["state"]
    sizes = state.get("layer_sizes")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ModelFileError(f"layer_sizes {sizes!r} is not a list of positive integers")
    shapes = list(zip(sizes[:-1], sizes[1:]))
    n_params = sum(a * b for a, b in shapes) + sum(sizes[1:])
    params = _array(arrays, "params", (n_params,), dtype)  # before allocating anything
    hidden, activations = check_hyperparameters(model)
    if sizes[1:-1] != hidden or state.get("activations") != activations:
        raise ModelFileError(f"layer_sizes {sizes} and activations {state.get('activations')} "
                             f"do not match the parameters ({hidden}, {activations})")
    output = state.get("output")
    if output not in OUTPUTS:
        raise ModelFileError(f"unknown output activation {output!r}")
    network = Network(sizes, activations, output, dtype=dtype, params=params,
                      sigmoid_a=_number(state, "sigmoid_a"),
                      leaky_slope=_number(state, "leaky_slope", minimum=0.0))
    model._network = network
    model.coefs_, model.intercepts_ = network.coefs, network.intercepts
    if "best_params" in arrays:
        model._best_params = _array(arrays, "best_params", (n_params,), dtype).copy()
    model.n_outputs_ = sizes[-1]
    model.n_layers_ = len(sizes)
    model.out_activation_ = model._output_names[output]
    if isinstance(model, MLPClassifier):
        _build_label_binarizer(model, meta, arrays, output, sizes[-1])
    elif output != "identity":
        raise ModelFileError(f"a regressor has an identity output, not {output!r}")
    for name in ("n_iter_", "t_"):
        setattr(model, name, _number(state, name, numbers.Integral, minimum=0,
                                     maximum=_MAX_STEPS))
    if "loss_" in state:
        model.loss_ = _number(state, "loss_", optional=True)
    if "loss_curve_" in state or "gradient_norms_" in state:
        _build_stochastic_records(model, state, len(shapes))
    # else fitted by lbfgs, which keeps none, as scikit-learn's
    _build_optimizer(model, state.get("optimizer"), arrays, n_params, dtype)
    return sizes[0]


def _build_stochastic_records(model, state: dict, n_layers: int) -> None:
    """``loss_curve_``, ``gradient_norms_`` and the stopping rule's record of a model fitted
    by a stochastic solver."""
    model._no_improvement_count = _number(state, "_no_improvement_count", numbers.Integral,
                                          minimum=0, maximum=_MAX_STEPS)
    for name in ("best_loss_", "best_validation_score_"):
        if name in state:
            setattr(model, name, _number(state, name, optional=True))
    model.loss_curve_ = _float_list(state, "loss_curve_")
    for name in ("validation_scores_", "validation_loss_curve_"):
        setattr(model, name, _float_list(state, name, optional=True))
    _check_stopping_record(model)
    norms = state.get("gradient_norms_")
    if not isinstance(norms, list):
        raise ModelFileError("attribute gradient_norms_ must be a list")
    model.gradient_norms_ = [_float_list({"row": row}, "row", n_layers) for row in norms]


def _check_stopping_record(model) -> None:
    """The stopping rule's record, as fit leaves it: partial_fit and warm starts go on from
    it (a None best_loss_ failed there with TypeError, after the first epoch's updates)."""
    if model.validation_scores_ is None:  # fitted without early stopping
        needed = {"best_loss_": getattr(model, "best_loss_", None)}
    else:
        needed = {"validation_loss_curve_": model.validation_loss_curve_,
                  "best_validation_score_": getattr(model, "best_validation_score_", None)}
    for name, value in needed.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise ModelFileError(f"attribute {name} = {value!r} is missing or not a number, "
                                 f"though validation_scores_ is "
                                 f"{'None' if model.validation_scores_ is None else 'a list'}")


def _build_label_binarizer(model, meta, arrays, output, n_outputs) -> None:
    classes = _classes(meta.get("classes_dtype"), arrays)
    spec = meta["state"].get("label_binarizer")
    if not isinstance(spec, dict) or spec.get("y_type_") not in _Y_TYPES:
        raise ModelFileError(f"label_binarizer {spec!r} is not valid")
    y_type = spec["y_type_"]
    expected = {"multiclass": ("softmax", classes.shape[0]), "binary": ("sigmoid", 1),
                "multilabel-indicator": ("sigmoid", classes.shape[0])}[y_type]
    if (output, n_outputs) != expected:
        raise ModelFileError(f"{y_type} targets with {classes.shape[0]} classes need a "
                             f"{expected[0]} output of {expected[1]} units, the file has "
                             f"{output!r} with {n_outputs}")
    # fit uses LabelBinarizer() as it comes: other labels would change the targets
    if spec.get("neg_label") != 0 or spec.get("pos_label") != 1 \
            or isinstance(spec.get("neg_label"), bool) or isinstance(spec.get("pos_label"), bool):
        raise ModelFileError(f"label_binarizer has neg_label={spec.get('neg_label')!r} and "
                             f"pos_label={spec.get('pos_label')!r}; fit uses 0 and 1")
    binarizer = LabelBinarizer(neg_label=0, pos_label=1)
    binarizer.classes_, binarizer.y_type_, binarizer.sparse_input_ = classes, y_type, False
    model._label_binarizer, model.classes_ = binarizer, classes


def _build_optimizer(model, spec, arrays, n_params, dtype) -> None:
    if spec is None:
        return
    network, shape = model._network, (n_params,)
    if not isinstance(spec, dict) or spec.get("kind") not in ("sgd", "adam"):
        raise ModelFileError(f"optimizer {spec!r} is not valid")
    if spec["kind"] == "sgd":
        optimizer = SGD(network, lr=_number(spec, "lr"), momentum=_number(spec, "momentum"),
                        nesterov=spec.get("nesterov") is True,
                        weight_decay=_number(spec, "weight_decay"))
        if optimizer.velocity is not None:
            optimizer.velocity[...] = _array(arrays, "optimizer_velocity", shape, dtype)
    else:
        optimizer = Adam(network, lr=_number(spec, "lr"), beta1=_number(spec, "beta1"),
                         beta2=_number(spec, "beta2"), eps=_number(spec, "eps"),
                         weight_decay=_number(spec, "weight_decay"))
        optimizer.t = _number(spec, "t", numbers.Integral, minimum=0, maximum=_MAX_STEPS)
        optimizer.m[...] = _array(arrays, "optimizer_m", shape, dtype)
        optimizer.v[...] = _array(arrays, "optimizer_v", shape, dtype)
    model._optimizer = optimizer
