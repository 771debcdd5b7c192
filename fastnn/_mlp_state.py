"""What a fit or partial_fit changes of an MLP estimator in place: private copies of arrays
mapped read-only from a file before training writes them, and the undo of a failed call."""
from __future__ import annotations

import numpy as np

from .network import _layer_views


def restore_attributes(est, saved: dict) -> None:
    """Put back the attributes of ``est`` as they were in ``saved`` (a copy of its __dict__)."""
    est.__dict__.clear()
    est.__dict__.update(saved)


def make_writeable(network, optimizer=None, grads: bool = True) -> None:
    """Private copies of the arrays training writes that are read-only (a model loaded with
    ``joblib.load(..., mmap_mode="r")`` maps them from the file): the network's parameters
    (with new layer views), its gradient unless ``grads`` is False (copying in assigned
    weights before a predict writes only the parameters), and the optimizer's state."""
    shapes = list(zip(network.layer_sizes[:-1], network.layer_sizes[1:]))
    if not network.params.flags.writeable:
        network.params = np.array(network.params)
        network.coefs, network.intercepts = _layer_views(network.params, shapes)
    if grads and not network.grads.flags.writeable:
        network.grads = np.array(network.grads)
        network.coef_grads, network.intercept_grads = _layer_views(network.grads, shapes)
    for name, value in (vars(optimizer) if optimizer is not None else {}).items():
        if isinstance(value, np.ndarray) and not value.flags.writeable:
            setattr(optimizer, name, np.array(value))


def _updated_arrays(obj) -> list[np.ndarray]:
    """The arrays training updates in place: a network's parameters and gradient, or an
    optimizer's state."""
    if hasattr(obj, "_state_arrays"):
        return obj._state_arrays()
    return [obj.params, obj.grads]


class Undo:
    """What a call may change of an estimator, in place or not, to put back if it fails.

    Its attributes, the lengths of its lists (``loss_curve_`` ... are appended to), the
    network's parameters and last gradient, the optimizer's state and learning rate, and the
    state of a RandomState given as ``random_state`` (the call draws from it): a failed
    warm start or partial_fit leaves the model exactly as before it, not at the last good
    epoch of the failed call.  The copies cost a pass over the parameters per call.
    """

    def __init__(self, est):
        self.est = est
        self.attributes = dict(est.__dict__)
        # lengths, not copies: training only appends to them (loss_curve_ grows with every
        # partial_fit: copying it each call would cost quadratic time over a stream)
        self.lengths = {name: len(value) for name, value in self.attributes.items()
                        if isinstance(value, list)}
        # (object, its __dict__, copies of the arrays it updates in place)
        self.objects = [(obj, dict(obj.__dict__), [a.copy() for a in _updated_arrays(obj)])
                        for obj in (self.attributes.get("_network"),
                                    self.attributes.get("_optimizer")) if obj is not None]
        self.generators = [(rs, rs.get_state()) for rs in {
            id(rs): rs for rs in (est.random_state, self.attributes.get("_random_state"))
            if isinstance(rs, np.random.RandomState)}.values()]

    def restore(self) -> None:
        for obj, attributes, arrays in self.objects:
            restore_attributes(obj, attributes)
            for live, saved in zip(_updated_arrays(obj), arrays):
                if live.flags.writeable:  # a read-only map was replaced, never written
                    live[...] = saved
        for name, length in self.lengths.items():
            del self.attributes[name][length:]
        for rs, state in self.generators:
            rs.set_state(state)
        restore_attributes(self.est, self.attributes)
