"""Optimizers: validated hyperparameters and state around the flat update kernels.

Each optimizer is bound to a :class:`~fastnn.Network` and updates its whole
:attr:`~fastnn.Network.params` vector from :attr:`~fastnn.Network.grads` in one
kernel call.  The update rules are scikit-learn's (see ``kernels/optimizers.py``).
"""
from __future__ import annotations

import numpy as np

from . import _config, kernels
from ._validation import check_real
from .network import Network
from .kernels.trainer import ADAM, MOMENTUM, SGD as _SGD_CODE


def _check_network(network) -> Network:
    """``network`` if it is a Network: else a TypeError now, not an AttributeError later."""
    if not isinstance(network, Network):
        raise TypeError(f"network must be a fastnn.Network, got {type(network).__name__}")
    return network


class _Hyperparameter:
    """A real hyperparameter checked whenever it is set, at construction or later.

    A schedule may assign ``optimizer.lr`` between epochs (as the
    estimators' invscaling and adaptive rules do); a negative rate assigned
    that way trained uphill without a word.  The value lives in the
    instance's ``__dict__`` under its own name, as a plain attribute's would
    (pickles and ``vars()`` see no difference).
    """

    def __init__(self, minimum: float | None = None, maximum: float | None = None):
        self.minimum, self.maximum = minimum, maximum

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        return self if obj is None else obj.__dict__[self.name]

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = check_real(value, self.name, self.minimum, self.maximum)


def _hyper(weight_decay, lr, momentum=0.0, nesterov=False, beta1=0.0, beta2=0.0,
           eps=0.0) -> np.ndarray:
    """The ``hyper`` vector of ``kernels.trainer.train_epoch_gathered`` (alpha, loss_scale and
    the kept batch set later: -1, plain SGD fuses every step; the epoch's loss starts at 0)."""
    return np.array([lr, momentum, float(nesterov), beta1, beta2, eps, 0.0, 1.0, weight_decay,
                     -1.0, 0.0])


class SGD:
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With momentum ``mu`` and learning rate ``lr``::

        v <- mu * v - lr * (g + weight_decay * w)
        w <- w + v                      (heavy ball)
        w <- w + mu * v - lr * g        (Nesterov)

    Weight decay (L2) applies to weights only, not to biases.

    Parameters
    ----------
    network : Network
    lr : float, default=0.01
    momentum : float in [0, 1], default=0.0
        0 keeps no velocity; 1 never decays it (allowed, as in scikit-learn).
    nesterov : bool, default=False
    weight_decay : float >= 0, default=0.0
    """

    lr = _Hyperparameter(minimum=0.0)
    weight_decay = _Hyperparameter(minimum=0.0)

    def __init__(self, network, lr: float = 0.01, *, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        self.network = _check_network(network)
        self.lr = lr
        self.velocity = None
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay

    @property
    def momentum(self) -> float:
        return self.__dict__["momentum"]

    @momentum.setter
    def momentum(self, value) -> None:
        """Checked as at construction; turning momentum on later starts a velocity of 0
        (assigned to an SGD built without momentum, it was ignored without a word)."""
        value = check_real(value, "momentum", minimum=0.0, maximum=1.0)
        self.__dict__["momentum"] = value
        if value == 0:
            self.velocity = None
        elif self.velocity is None:
            self.velocity = np.zeros_like(self.network.params)

    @property
    def nesterov(self) -> bool:
        return self.__dict__["nesterov"]

    @nesterov.setter
    def nesterov(self, value) -> None:
        if not isinstance(value, (bool, np.bool_)):  # "False" is truthy: it would be on
            raise TypeError(f"nesterov must be True or False, got {value!r}")
        self.__dict__["nesterov"] = bool(value)

    def step(self) -> None:
        """Apply one update from ``network.grads``."""
        net = self.network
        if self.velocity is None:
            _config.run(kernels.sgd_update, net.params, net.grads, self.lr, self.weight_decay,
                        net.n_weights)
        else:
            _config.run(kernels.momentum_update, net.params, net.grads, self.velocity, self.lr,
                        self.momentum, self.nesterov, self.weight_decay, net.n_weights)

    def _fused_state(self):
        """(code, state1, state2, t, hyper) for the fused epoch kernel."""
        grads = self.network.grads  # a placeholder of the right type where no state is kept
        if self.velocity is None:
            return _SGD_CODE, grads, grads, 0, _hyper(self.weight_decay, self.lr)
        return (MOMENTUM, self.velocity, grads, 0,
                _hyper(self.weight_decay, self.lr, self.momentum, self.nesterov))

    def _fused_done(self, t: int) -> None:
        """Nothing to carry over: SGD keeps no step count."""

    def _state_arrays(self) -> list[np.ndarray]:
        """The arrays the updates modify besides the parameters (the velocity, if any)."""
        return [] if self.velocity is None else [self.velocity]


class Adam:
    """Adam (Kingma and Ba), with the bias correction folded into the step size.

    Parameters
    ----------
    network : Network
    lr : float, default=0.001
    beta1, beta2 : float in [0, 1), default=0.9, 0.999
    eps : float > 0, default=1e-8
    weight_decay : float >= 0, default=0.0
        L2 coefficient added to the weights' gradient (not to biases).
    """

    lr = _Hyperparameter(minimum=0.0)
    beta1 = _Hyperparameter(minimum=0.0, maximum=1.0 - 1e-12)
    beta2 = _Hyperparameter(minimum=0.0, maximum=1.0 - 1e-12)
    weight_decay = _Hyperparameter(minimum=0.0)

    def __init__(self, network, lr: float = 0.001, *, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.network = _check_network(network)
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.m = np.zeros_like(network.params)
        self.v = np.zeros_like(network.params)
        self.t = 0

    @property
    def eps(self) -> float:
        return self.__dict__["eps"]

    @eps.setter
    def eps(self, value) -> None:
        # The kernels add eps in the network's dtype: one that rounds to 0
        # there would divide 0 by 0 wherever a gradient stays 0.
        self.__dict__["eps"] = check_real(value, "eps",
                                          minimum=float(np.finfo(self.network.dtype).tiny))

    def step(self) -> None:
        """Apply one update from ``network.grads``."""
        net = self.network
        self.t += 1
        _config.run(kernels.adam_update, net.params, net.grads, self.m, self.v, self.lr,
                    self.beta1, self.beta2, self.eps, self.t, self.weight_decay, net.n_weights)

    def _fused_state(self):
        """(code, state1, state2, t, hyper) for the fused epoch kernel."""
        return (ADAM, self.m, self.v, self.t,
                _hyper(self.weight_decay, self.lr, beta1=self.beta1, beta2=self.beta2,
                       eps=self.eps))

    def _fused_done(self, t: int) -> None:
        self.t = t

    def _state_arrays(self) -> list[np.ndarray]:
        """The arrays the updates modify besides the parameters."""
        return [self.m, self.v]


class Checkpoint:
    """A network's parameters, last gradient and its optimizer's state, to go back to.

    Training saves one after each good epoch; when an epoch diverges, it
    restores the parameters *and* the optimizer's state (velocity, Adam's
    moments and step count), so that training can go on as if the bad epoch
    had not run (restoring the weights alone would keep, say, a velocity of
    1e300), and :attr:`~fastnn.Network.grads`, which holds the gradient of
    the last step after training (not the diverged epoch's, up to inf/NaN).
    The copies are allocated once (again when the optimizer's state arrays
    change) and overwritten by :meth:`save`.

    The optimizer's state arrays are those it holds at :meth:`save`: a
    velocity started after a save (``optimizer.momentum`` turned on, e.g. by
    a callback) goes back to zero, its value when it started, on
    :meth:`restore`; hyperparameters (``lr``, ``momentum``, ...) are not
    part of the checkpoint.

    Parameters
    ----------
    optimizer : SGD or Adam
        Bound to the network whose :attr:`~fastnn.Network.params` are saved.
    """

    def __init__(self, optimizer: SGD | Adam):
        self.optimizer = optimizer
        network = optimizer.network
        self._saved = [np.empty_like(network.params), np.empty_like(network.grads)]
        self._states: list[np.ndarray] = []  # the optimizer's state arrays at the last save
        self._saved_states: list[np.ndarray] = []  # and their copies
        self.save()

    @property
    def params(self) -> np.ndarray:
        """The saved parameters, shape (n_params,); read only by convention."""
        return self._saved[0]

    def save(self) -> None:
        """Copy the current parameters, gradient and optimizer state into the checkpoint."""
        network = self.optimizer.network
        self._saved[0][...] = network.params
        self._saved[1][...] = network.grads
        states = self.optimizer._state_arrays()
        if not _same_arrays(states, self._states):  # momentum turned on or off since
            self._states, self._saved_states = list(states), [a.copy() for a in states]
        else:
            for saved, live in zip(self._saved_states, states):
                saved[...] = live
        self._t = getattr(self.optimizer, "t", 0)

    def restore(self) -> None:
        """Copy the checkpoint back into the network and its optimizer (state arrays started
        after the save back to zero)."""
        network = self.optimizer.network
        network.params[...] = self._saved[0]
        network.grads[...] = self._saved[1]
        for live in self.optimizer._state_arrays():
            saved = next((copy for array, copy in zip(self._states, self._saved_states)
                          if array is live), None)
            live[...] = 0 if saved is None else saved  # 0: started after the save
        if hasattr(self.optimizer, "t"):
            self.optimizer.t = self._t


def _same_arrays(a: list, b: list) -> bool:
    """Whether the lists hold the same array objects, in the same order."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))
