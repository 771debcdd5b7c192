"""The MLP estimators' ``coefs_`` and ``intercepts_``: views of the network's flat parameter
vector, the checks and copying in of arrays the user assigned in their place, and the
float64 twin of a float32 network that predicts float64 rows."""
from __future__ import annotations

import numpy as np

from ._mlp_state import make_writeable
from .network import Network, _layer_views


def fresh_views(network: Network) -> tuple[list, list]:
    """New views of the network's weights and biases (its own lists may hold replaced arrays)."""
    sizes = network.layer_sizes
    return _layer_views(network.params, list(zip(sizes[:-1], sizes[1:])))


def are_views(arrays, views) -> bool:
    """Whether ``arrays`` is a list of exactly the memory of ``views``, layer for layer."""
    return (isinstance(arrays, list) and len(arrays) == len(views)
            and all(a is v or _same_memory(a, v) for a, v in zip(arrays, views)))


def _same_memory(array, view) -> bool:
    """Whether ``array`` is another view of exactly the memory of ``view``."""
    return (isinstance(array, np.ndarray) and array.dtype == view.dtype
            and array.shape == view.shape and array.strides == view.strides
            and array.__array_interface__["data"][0] == view.__array_interface__["data"][0])


def _checked_layers(name: str, given, views) -> list[np.ndarray]:
    """``given`` as arrays of the dtype and shapes of ``views``; a ValueError names the layer."""
    if isinstance(given, (str, bytes, dict)) or not hasattr(given, "__len__"):
        raise ValueError(f"{name} must be a list of {len(views)} arrays, got {given!r}")
    if len(given) != len(views):
        raise ValueError(f"{name} must hold {len(views)} arrays (one per layer), "
                         f"got {len(given)}")
    checked = []
    for i, (array, view) in enumerate(zip(given, views)):
        array = np.asarray(array)
        if array.dtype.kind not in "iuf":
            raise ValueError(f"{name}[{i}] must hold real numbers, got dtype {array.dtype}")
        if array.shape != view.shape:
            raise ValueError(f"{name}[{i}] must have shape {view.shape}, got {array.shape}")
        with np.errstate(over="ignore"):  # too large for float32: caught as infinite below
            array = array.astype(view.dtype, copy=False)
        if not np.isfinite(array).all():
            raise ValueError(f"{name}[{i}] contains NaN or infinite values"
                             f" (in the network's dtype {view.dtype})")
        checked.append(array)
    return checked


def assigned_layers(est, coefs, intercepts, assigned: dict | None = None) -> dict:
    """``coefs_``/``intercepts_`` that are no longer views of the network's weights (the
    user assigned them), each checked against the network's layers (``coefs``,
    ``intercepts``) before anything is copied: {name: list of arrays}.

    ``assigned``: the two attributes as the user left them (None: the current ones).
    """
    if assigned is None:
        assigned = {name: est.__dict__.get(name) for name in ("coefs_", "intercepts_")}
    pending = {}
    for name, views in (("coefs_", coefs), ("intercepts_", intercepts)):
        given = assigned[name]
        if given is not None and not are_views(given, views):
            pending[name] = _checked_layers(name, given, views)
    return pending


def adopt_assigned_weights(est, assigned: dict | None = None) -> None:
    """Copy ``coefs_``/``intercepts_`` into ``est``'s network where they were reassigned.

    The layer arrays are views of the network's flat parameter vector:
    writing into them in place changes the model.  Assigning a new list,
    or a new array to an element, replaces views; predict, partial_fit
    and a warm-start fit then check the assigned values and copy them
    into the network (an identity check per layer when nothing was
    assigned), after which both attributes hold views again.  This is
    also how a first warm-start ``fit`` starts from given weights.

    Parameters
    ----------
    est : fitted MLPClassifier or MLPRegressor
    assigned : dict, default=None
        ``coefs_`` and ``intercepts_`` as the user left them (None: the
        current attributes).
    """
    coefs, intercepts = weight_views(est)
    pending = assigned_layers(est, coefs, intercepts, assigned)
    if not pending:
        return
    network = est._network
    if not network.params.flags.writeable:  # e.g. joblib.load(..., mmap_mode="r")
        make_writeable(network, grads=False)  # a private copy, not the file's map
        coefs, intercepts = weight_views(est)
    write_layers(pending, coefs, intercepts)
    # The network's lists may be the ones whose elements were replaced;
    # the estimator gets lists of its own, so that cannot happen again.
    network.coefs, network.intercepts = list(coefs), list(intercepts)
    est.coefs_, est.intercepts_ = list(coefs), list(intercepts)


def write_layers(pending: dict, coefs, intercepts) -> None:
    """Copy the checked arrays of :func:`assigned_layers` (``pending``) into the layer views
    ``coefs`` and ``intercepts`` of a network."""
    for name, arrays in pending.items():
        for array, view in zip(arrays, coefs if name == "coefs_" else intercepts):
            view[...] = array


def drop_views(est, state: dict) -> None:
    """Delete from ``state`` (``est``'s attributes, to pickle or to copy) ``coefs_`` and
    ``intercepts_`` where they are views of its network's weights: they are rebuilt as
    views of the network that comes with the state (``_BaseMLP.__setstate__``), while
    arrays the user assigned are kept."""
    for name, views in zip(("coefs_", "intercepts_"), weight_views(est)):
        if are_views(state.get(name), views):
            del state[name]


def weight_views(est) -> tuple[tuple, tuple]:
    """The views of the weights and biases of ``est``'s network, to compare ``coefs_`` against.

    Cached per network in ``est._weight_views_cache`` (found by identity, so
    a check per call is cheap); the network's own lists are used when they are
    intact, since those are the arrays ``coefs_`` holds after a fit or a load.
    """
    network = est._network
    cached = est.__dict__.get("_weight_views_cache")
    if cached is not None and cached[0] is network.params:
        return cached[1], cached[2]
    coefs, intercepts = fresh_views(network)
    if are_views(network.coefs, coefs) and are_views(network.intercepts, intercepts):
        coefs, intercepts = network.coefs, network.intercepts
    est._weight_views_cache = (network.params, tuple(coefs), tuple(intercepts))
    return est._weight_views_cache[1:]


def network_for(network: Network, dtype) -> Network:
    """``network``, or for a float32 one and data that are not float32 a float64 copy of it
    (a copy of the parameters, once per predict call): its outputs are float64."""
    if network.dtype != np.float32 or np.dtype(dtype) == np.float32:
        return network
    # params= draws no random initial weights (drawing them only to overwrite them took
    # about 1 ms for a 784-256-128-10 network on every such predict call)
    return Network(network.layer_sizes, network.activations, network.output, dtype=np.float64,
                   params=network.params, sigmoid_a=network.sigmoid_a,
                   leaky_slope=network.leaky_slope)
