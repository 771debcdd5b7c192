"""Hyperparameter checks of the MLP estimators: clear errors before any work, and what
set_params changed of the units since the network was fitted."""
from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import InvalidParameterError

from .kernels import ACTIVATION_CODES

_SOLVERS = ("sgd", "adam", "lbfgs")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_FLAGS = ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping")


def check_hyperparameters(est) -> tuple[list[int], list[str]]:
    """Validate every constructor parameter of an MLP estimator.

    Returns
    -------
    hidden : list of int
        Hidden layer sizes.
    activations : list of str
        One activation name per hidden layer.
    """
    sizes = est.hidden_layer_sizes
    hidden = list(sizes) if isinstance(sizes, Iterable) and not isinstance(sizes, str) else [sizes]
    for size in hidden:
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size <= 0:
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes!r}")
    hidden = [int(size) for size in hidden]

    names = activation_names(est.activation, len(hidden))

    _check_flags(est)
    if hasattr(est, "class_weight"):
        check_class_weight(est.class_weight)
    if est.solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {est.solver!r}")
    if est.learning_rate not in _SCHEDULES:
        raise ValueError(f"learning_rate must be one of {_SCHEDULES}, got {est.learning_rate!r}")
    if est.batch_size not in ("auto", "full"):
        check_scalar(est.batch_size, "batch_size", numbers.Integral, min_val=1)
    check_scalar(est.alpha, "alpha", numbers.Real, min_val=0.0)
    check_scalar(est.learning_rate_init, "learning_rate_init", numbers.Real, min_val=0.0,
                 include_boundaries="neither")
    check_scalar(est.power_t, "power_t", numbers.Real, min_val=0.0)
    check_scalar(est.max_iter, "max_iter", numbers.Integral, min_val=1)
    check_scalar(est.tol, "tol", numbers.Real, min_val=0.0)
    check_scalar(est.momentum, "momentum", numbers.Real, min_val=0.0, max_val=1.0)
    # As scikit-learn: 0 is taken, and only refused where early stopping would hold out 0 rows
    check_scalar(est.validation_fraction, "validation_fraction", numbers.Real, min_val=0.0,
                 max_val=1.0, include_boundaries="left")
    if est.early_stopping and est.validation_fraction == 0:
        raise ValueError("validation_fraction must be > 0 with early_stopping=True: it is the "
                         "share of the data held out to decide when to stop")
    for name in ("beta_1", "beta_2"):
        check_scalar(getattr(est, name), name, numbers.Real, min_val=0.0, max_val=1.0,
                     include_boundaries="left")
    check_scalar(est.epsilon, "epsilon", numbers.Real, min_val=0.0, include_boundaries="neither")
    if not (isinstance(est.n_iter_no_change, numbers.Real) and est.n_iter_no_change == np.inf):
        # scikit-learn also takes np.inf: the tol rule never stops the run
        check_scalar(est.n_iter_no_change, "n_iter_no_change", numbers.Integral, min_val=1)
    check_scalar(est.max_fun, "max_fun", numbers.Integral, min_val=1)
    check_scalar(est.sigmoid_a, "sigmoid_a", numbers.Real)
    if est.sigmoid_a == 0:
        raise ValueError("sigmoid_a must not be 0: every sigmoid unit would output 0.5")
    check_scalar(est.leaky_slope, "leaky_slope", numbers.Real, min_val=0.0)
    for name in ("alpha", "learning_rate_init", "power_t", "tol", "momentum",
                 "validation_fraction", "beta_1", "beta_2", "epsilon", "sigmoid_a", "leaky_slope"):
        if not _is_finite(getattr(est, name)):
            raise ValueError(f"{name} must be finite, got {getattr(est, name)}")
    try:  # NumPy's "Seed must be between 0 and 2**32 - 1" did not name the parameter
        check_random_state(est.random_state)
    except (TypeError, ValueError):
        raise ValueError(f"random_state must be None, an int in [0, 2**32 - 1] or a "
                         f"numpy.random.RandomState, got {est.random_state!r}") from None
    check_n_threads(est.n_threads)
    callbacks = est.callbacks
    if callbacks is not None and not callable(callbacks) and not (
            isinstance(callbacks, (list, tuple)) and all(callable(c) for c in callbacks)):
        raise TypeError(f"callbacks must be a callable or a list of callables, got {callbacks!r}")
    return hidden, names


def activation_names(activation, n_hidden: int) -> list[str]:
    """The network's activation of each of ``n_hidden`` hidden layers for the estimator
    parameter ``activation`` (one name, or one per layer; scikit-learn's "logistic" is
    "sigmoid"); ValueError naming the parameter if it is neither."""
    if not isinstance(activation, (str, list, tuple, np.ndarray)):  # list(0) is a TypeError
        raise ValueError(f"activation must be one name or a list of {n_hidden} names from "
                         f"{sorted(ACTIVATION_CODES)}, got {activation!r}")
    names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
    if isinstance(activation, str) and activation not in ACTIVATION_CODES:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_CODES)}, "
                         f"got {activation!r}")
    if len(names) != n_hidden or any(name not in ACTIVATION_CODES for name in names):
        raise ValueError(f"activation must be one name or a list of {n_hidden} names from "
                         f"{sorted(ACTIVATION_CODES)}, got {activation!r}")
    return ["sigmoid" if name == "logistic" else name for name in names]


def unit_parameter_mismatch(est, network) -> str | None:
    """What differs between ``est``'s ``sigmoid_a``/``leaky_slope`` and the values its
    fitted ``network``'s units use (set_params after fitting), or None.  Checked where the
    network's value would be used in their place: continued training, saving."""
    for name, unit in (("sigmoid_a", "sigmoid"), ("leaky_slope", "leaky_relu")):
        if unit in network.activations and getattr(network, name) != getattr(est, name):
            return (f"the fitted network's {unit} units have {name}="
                    f"{getattr(network, name)!r}, but {name}={getattr(est, name)!r}")
    return None


def network_mismatch(est, network) -> str | None:
    """What of ``activation``, ``sigmoid_a``, ``leaky_slope`` was changed by set_params since
    ``network`` was fitted, or None.  scikit-learn's predict computes with the new
    activation; fastnn's network keeps the one it was trained with, so predict refuses
    rather than answer with the other silently (hidden_layer_sizes: both use the fitted
    layers), and save rather than write a file whose parameters are not its network's."""
    try:
        names = activation_names(est.activation, len(network.layer_sizes) - 2)
    except ValueError:
        names = None
    if names != network.activations:
        return (f"activation={est.activation!r} does not match the fitted network's "
                f"activations {network.activations}")
    return unit_parameter_mismatch(est, network)


def _is_finite(value: numbers.Real) -> bool:
    """Whether the real number ``value`` is finite in float64 (np.isfinite refused a
    Python int beyond int64 with a TypeError naming no parameter)."""
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:  # an int beyond float64
        return False


def check_n_threads(n_threads) -> None:
    """``n_threads``: None, "auto" (``fastnn.set_num_threads("auto")``) or an int >= 1.

    More than this machine's threads means all of them (``_config.capped``),
    as in the linear models.  A bool is refused: ``True`` would run on one thread.

    Raises
    ------
    TypeError, ValueError
        Naming ``n_threads`` and the values it takes.
    """
    if n_threads is None or (isinstance(n_threads, str) and n_threads == "auto"):
        return
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"n_threads must be an int >= 1, 'auto' or None, got {n_threads!r}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be an int >= 1, 'auto' or None, got {n_threads!r}")


def _check_flags(est) -> None:
    """Boolean parameters must be bools, as scikit-learn requires.

    A string such as ``"False"`` is truthy: accepting it would silently turn
    the option on.  ``verbose`` also takes a non-negative integer.
    """
    for name in _FLAGS:
        value = getattr(est, name)
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameterError(f"The '{name}' parameter of {type(est).__name__} must "
                                        f"be an instance of 'bool', got {value!r}")
    verbose = est.verbose
    if not isinstance(verbose, (bool, np.bool_)) and not (
            isinstance(verbose, numbers.Integral) and verbose >= 0):
        raise InvalidParameterError(f"The 'verbose' parameter of {type(est).__name__} must be "
                                    f"a bool or a non-negative int, got {verbose!r}")


def check_class_weight(class_weight) -> None:
    """``class_weight``: None, "balanced", or a dict (a list of dicts for several outputs).

    The weights must be finite and non-negative: a NaN weight would make the
    loss NaN from the first epoch on, a negative one reverse the gradient.

    Raises
    ------
    ValueError
        Naming ``class_weight`` and the offending value.
    """
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        return
    dicts = class_weight if isinstance(class_weight, (list, tuple)) else [class_weight]
    if not dicts or not all(isinstance(d, dict) for d in dicts):
        raise ValueError(f"class_weight must be None, 'balanced', a dict or a list of dicts, "
                         f"got {class_weight!r}")
    for weights in dicts:
        for label, weight in weights.items():
            if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
                    or not np.isfinite(weight) or weight < 0):
                raise ValueError(f"class_weight: class weights must be finite and non-negative "
                                 f"numbers, got {weight!r} for class {label!r}")
