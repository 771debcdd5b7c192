"""Input checks shared by the public API: clear errors before any work is done."""
from __future__ import annotations

import numbers

import numpy as np

from . import _config
from . import kernels
from .kernels.fpenv import smallest_weight_read


def as_array(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like of numbers: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must contain numbers, got an array of dtype {array.dtype}")
    return array


def check_features(X, n_features: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous 2-D array of ``dtype``, without copying if possible.

    Raises TypeError for non-float data or a float dtype other than ``dtype``
    (converting silently would copy the whole data set on every call) and
    ValueError for a wrong shape or an empty array.  Finiteness is checked
    separately, on the rows actually used (see :func:`check_finite_rows`).
    """
    array = as_array(X, name)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be a floating-point array, got dtype {array.dtype}; "
                        f"convert it once with np.asarray({name}, dtype=np.{dtype.name})")
    if array.dtype != dtype:
        raise TypeError(f"{name} has dtype {array.dtype} but this network computes in "
                        f"{dtype.name}; convert it once with np.asarray({name}, dtype=np.{dtype.name})")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if array.shape[1] != n_features:
        raise ValueError(f"{name} has {array.shape[1]} features, but the network expects {n_features}")
    return np.ascontiguousarray(array)


_SMALL_FINITE_CHECK = 1 << 20


def check_finite(X: np.ndarray, name: str = "X") -> None:
    """Raise ValueError if the 2-D float array ``X`` holds NaN or infinity."""
    raise_if_nonfinite(count_nonfinite(X), name)


def count_nonfinite(X: np.ndarray) -> int:
    """Number of NaN/inf entries of the 2-D float array ``X``."""
    if X.size < _SMALL_FINITE_CHECK:  # no kernel to compile for small data
        return X.size - int(np.count_nonzero(np.isfinite(X)))
    return _config.run(kernels.count_nonfinite, X)  # no temporary mask the size of X


def raise_if_nonfinite(n_nonfinite: int, name: str = "X") -> None:
    """Raise ValueError naming ``name`` if ``n_nonfinite`` (a count of NaN/inf values) > 0."""
    if n_nonfinite:
        raise ValueError(f"{name} contains {n_nonfinite} NaN or infinite value(s)")


def check_targets(y, n_samples: int, n_outputs: int, dtype: np.dtype,
                  probabilities: bool) -> np.ndarray:
    """Return targets as a C-contiguous ``(n_samples, n_outputs)`` array of ``dtype``.

    ``y`` may be 1-D when ``n_outputs == 1``.  With ``probabilities`` (the
    cross-entropy losses) every target must lie in [0, 1].
    """
    array = as_array(y, "y")
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[1] != n_outputs:
        raise ValueError(f"y must have shape (n_samples, {n_outputs})"
                         f"{' or (n_samples,)' if n_outputs == 1 else ''}, got {array.shape}")
    if array.shape[0] != n_samples:
        raise ValueError(f"X and y have different numbers of samples: {n_samples} and {array.shape[0]}")
    with np.errstate(over="ignore"):  # float64 targets beyond float32's range: reported below
        converted = np.ascontiguousarray(array, dtype=dtype)
    if not np.isfinite(converted).all():
        # Finite targets that overflow the network's dtype are not NaN/inf in
        # the user's data: "y contains NaN" sent them looking for missing values.
        if converted.dtype != array.dtype and np.isfinite(array).all():
            raise ValueError(f"y has values beyond the range of {dtype.name} (largest in "
                             f"magnitude {np.abs(array).max()}); rescale the targets")
        raise ValueError("y contains NaN or infinite value(s)")
    array = converted
    if probabilities and (array.min() < 0 or array.max() > 1):
        raise ValueError("y must lie in [0, 1] for a cross-entropy loss "
                         "(one-hot or probability targets)")
    return array


def check_sample_weight(sample_weight, n_samples: int, dtype: np.dtype) -> np.ndarray | None:
    """Return ``sample_weight`` as a 1-D array of ``dtype`` (or None).

    Raises ValueError for a wrong shape, NaN/inf, negative weights, weights
    too large for ``dtype`` and weights whose sum is not finite in ``dtype``.
    """
    if sample_weight is None:
        return None
    array = as_array(sample_weight, "sample_weight")
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {array.shape}")
    with np.errstate(over="ignore"):  # float64 weights beyond float32's range: reported below
        converted = np.ascontiguousarray(array, dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        total = converted.sum()
    # A finite sum means every weight is finite: one pass instead of isfinite().all().
    if not np.isfinite(total) and not np.isfinite(converted).all():
        if converted.dtype != array.dtype and np.isfinite(array).all():
            raise ValueError(f"sample_weight has values beyond the range of {dtype.name} "
                             f"(largest {array.max()}); rescale the weights")
        raise ValueError("sample_weight contains NaN or infinite value(s)")
    if (converted < 0).any():
        raise ValueError("sample_weight must be non-negative")
    # The kernels run with subnormal numbers flushed to 0 (kernels/fpenv.py): weights
    # all below the smallest normal number made every batch's weight 0, and train()
    # skipped every batch, without an error.
    floor = smallest_weight_read(dtype)
    if converted.size and 0 < converted.max() < floor:
        raise ValueError(f"sample_weight values are all below {floor:.3g}, the smallest normal "
                         f"{dtype.name}, which training reads as 0; rescale the weights (e.g. "
                         f"divide them by their mean)")
    # The loss kernels divide by the batch's weight sum, accumulated in the
    # network's dtype: an overflowing sum (50 weights of 3e38 in float32) gave
    # a NaN loss and a misleading TrainingDiverged.  A batch's sum is at most
    # the whole array's, so train() checking that once covers every batch.
    if not np.isfinite(total):
        raise ValueError(f"sample_weight sums to {total} in {dtype.name}; rescale the "
                         f"weights (e.g. divide them by their mean)")
    return converted


def take_rows(values, indices: np.ndarray, n_samples: int, name: str) -> np.ndarray:
    """``values[indices]`` after checking that ``values`` has ``n_samples`` rows."""
    array = as_array(values, name)
    if array.ndim == 0 or array.shape[0] != n_samples:
        raise ValueError(f"X and {name} have different numbers of samples: {n_samples} and "
                         f"{array.shape[0] if array.ndim else 'a scalar'}")
    return array[indices]


def check_indices(indices, n_samples: int) -> np.ndarray:
    """Return batch indices as a non-empty 1-D int64 array with values in [0, n_samples)."""
    array = as_array(indices, "indices")
    if array.size == 0:  # np.asarray([]) is float64: "must be integers" misled
        raise ValueError(f"indices must be a non-empty 1-D array, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"indices must be a non-empty 1-D array, got shape {array.shape}")
    if array.min() < 0 or array.max() >= n_samples:
        raise ValueError(f"indices must lie in [0, {n_samples}), got values from "
                         f"{array.min()} to {array.max()}")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``; TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def random_generator(random_state) -> np.random.Generator:
    """``np.random.default_rng(random_state)``, its errors prefixed with "random_state:"
    (NumPy's own do not name the argument)."""
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"random_state: {exc}") from None


def check_real(value, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a finite float within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def assert_all_finite(array, *, input_name: str, estimator_name: str | None = None) -> None:
    """scikit-learn's ``assert_all_finite`` without its stray RuntimeWarning: its first pass
    sums the array, and +inf plus -inf warned "invalid value encountered in reduce" before
    the ValueError that names the problem."""
    from sklearn.utils import assert_all_finite as sklearn_assert_all_finite

    with np.errstate(invalid="ignore", over="ignore"):
        sklearn_assert_all_finite(array, input_name=input_name, estimator_name=estimator_name)
