"""Targets of the MLP estimators as their networks train on them: class labels one column
per class, checks of continued training's labels, regression targets that are numbers."""
from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target

from ._validation import assert_all_finite

def binarized(binarizer: LabelBinarizer, y, dtype) -> np.ndarray:
    """``binarizer.transform(y).astype(dtype)``: the targets, one column per class (one
    column for two classes), shape (n_samples, n_outputs).

    1-D class labels are compared with ``classes_`` directly: LabelBinarizer
    builds a sparse matrix first (5-7 ms for 60,000 labels, against about 1).
    The callers have checked that every label is in ``classes_``.
    """
    y = np.asarray(y)
    classes = binarizer.classes_
    if y.ndim == 1 and binarizer.y_type_ == "multiclass":
        return (y[:, None] == classes).astype(dtype)
    if y.ndim == 1 and binarizer.y_type_ == "binary" and len(classes) == 2:
        return (y == classes[1]).astype(dtype)[:, None]
    return binarizer.transform(y).astype(dtype)


def check_target_kind(binarizer: LabelBinarizer, y: np.ndarray) -> None:
    """ValueError where continued training gets class labels for a multilabel model, or a
    multilabel indicator matrix of other columns or for a model of class labels: the
    network's outputs would not be y's (a layer-size error, or labels 0/1 trained as
    indicator rows)."""
    kind = type_of_target(y)
    n_classes = len(binarizer.classes_)
    if binarizer.y_type_.startswith("multilabel"):
        if not kind.startswith("multilabel") or y.shape[1] != n_classes:
            raise ValueError(f"this model was fitted on a multilabel indicator matrix of "
                             f"{n_classes} columns (one per class of classes_): y must be one "
                             f"too, of shape (n_samples, {n_classes}); got y of shape "
                             f"{y.shape} ({kind})")
    elif kind.startswith("multilabel"):
        raise ValueError(f"this model was fitted on class labels (y of shape (n_samples,)): y "
                         f"must be such labels; got a multilabel indicator matrix of shape "
                         f"{y.shape}")


def finite_targets(Y, dtype, estimator_name: str) -> np.ndarray:
    """``Y`` as a C-contiguous array of ``dtype``; scikit-learn's ValueError where a value
    overflows it (a float64 target of 1e39 is finite, and infinite in float32: every epoch's
    loss was then NaN, reported as a divergence blamed on the learning rate)."""
    with np.errstate(over="ignore"):  # named below
        converted = np.ascontiguousarray(Y, dtype=dtype)
    if converted.dtype != np.asarray(Y).dtype:
        assert_all_finite(converted, input_name="y", estimator_name=estimator_name)
    return converted


def numeric_targets(y: np.ndarray, estimator_name: str) -> np.ndarray:
    """Validated regression targets ``y``, refused where they are not finite numbers.

    scikit-learn's validation converts only object arrays to float: strings,
    bytes and dates came through, and the conversion to the network's dtype
    parsed them ("1.5" trained as 1.5, a date as its day count), where
    scikit-learn's MLPRegressor raises.  Complex y was refused before.
    """
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{estimator_name} needs numeric targets: y has dtype {y.dtype} "
                         f"({_KIND_NAMES.get(y.dtype.kind, 'not numbers')}); convert it to "
                         f"numbers first, e.g. y.astype(float)")
    # NaN from None in an object array: scikit-learn checked y before converting it
    assert_all_finite(y, input_name="y", estimator_name=estimator_name)
    return y


_KIND_NAMES = {"U": "strings", "S": "bytes", "M": "dates", "m": "time spans"}
