"""The training loop: epochs and shuffled mini-batches over a Network.

Python loops over epochs and batches; everything per sample and per
parameter happens in kernels.  The three gradient-descent variants of the
theory are the batch size: ``batch_size=1`` is stochastic gradient descent,
``batch_size=n_samples`` (or ``"full"``) is batch gradient descent (the mean of
all samples' gradients), anything between is mini-batch gradient descent.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _validation as check
from .kernels.losses import SQUARED_ERROR
from .network import Network
from .optimizers import SGD


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite; the weights were restored to the last good epoch."""


def run_epoch(network: Network, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None,
              order: np.ndarray | None, batch_size: int, optimizer, alpha: float = 0.0,
              loss_scale: float = 1.0) -> float:
    """One pass of mini-batch gradient descent over validated data.

    Parameters
    ----------
    network : Network
    X, Y, weights : validated arrays (see :meth:`Network.loss_and_gradient`);
        ``weights`` may be None.
    order : int64 array of row indices, or None
        Visiting order (a shuffle of the row indices; rows are gathered in a
        kernel).  None visits the rows in sequence through zero-copy slices.
    batch_size : int
    optimizer : SGD or Adam bound to ``network``
    alpha : float, default=0.0
        L2 penalty as in scikit-learn: each batch adds
        ``alpha / 2 * ||W||^2 / s`` to its loss and ``alpha * W / s`` to the
        weights' gradient, ``s`` the batch's size or total sample weight.
    loss_scale : float, default=1.0
        Factor on the reported data loss (not on the gradient): scikit-learn
        reports the squared error averaged over outputs.

    Returns
    -------
    float
        Sum over batches of batch loss times batch size; NaN as soon as a
        batch loss is NaN or inf (the epoch stops there, before that batch's
        update).

    Notes
    -----
    The whole epoch runs in one compiled call (``kernels.trainer.train_epoch``).
    The optimizer's own ``weight_decay`` applies as in its ``step`` (on the
    gradient only), in addition to ``alpha``.
    """
    return network._train_epoch(X, Y, weights, order, batch_size, optimizer, alpha, loss_scale)


def train(network: Network, X, y, *, optimizer=None, epochs: int = 10,
          batch_size: int | str = 200, shuffle: bool = True, random_state=None,
          sample_weight=None, callback: Callable[[int, float], bool | None] | None = None
          ) -> list[float]:
    """Train ``network`` in place by mini-batch gradient descent.

    Parameters
    ----------
    network : Network
    X : array of shape (n_samples, n_features) and the network's dtype
    y : array of shape (n_samples, n_outputs) or (n_samples,)
        Targets as for :meth:`Network.loss_and_gradient`.
    optimizer : SGD or Adam bound to ``network``, default ``SGD(network, lr=0.01)``
    epochs : int, default=10
    batch_size : int or "full", default=200
        Clipped to ``n_samples``.
    shuffle : bool, default=True
        Reshuffle the sample order (indices, never the data) every epoch.
    random_state : int, numpy.random.Generator or None
        Seed of the shuffles.
    sample_weight : array of shape (n_samples,), optional
    callback : callable(epoch, loss) -> bool, optional
        Called after each epoch; returning True stops training.

    Returns
    -------
    list of float
        Mean training loss of each epoch (average of the batch losses,
        weighted by batch size).

    Raises
    ------
    TrainingDiverged
        If a batch loss is NaN or infinite; the parameters are restored to
        their values at the end of the last complete epoch.
    """
    X = check.check_features(X, network.layer_sizes[0], network.dtype)
    check.check_finite(X)
    n = X.shape[0]
    Y = check.check_targets(y, n, network.layer_sizes[-1], network.dtype,
                            probabilities=network.loss_code != SQUARED_ERROR)
    weights = check.check_sample_weight(sample_weight, n, network.dtype)
    epochs = check.check_positive_int(epochs, "epochs")
    if batch_size == "full":
        batch_size = n
    batch_size = min(check.check_positive_int(batch_size, "batch_size"), n)
    if optimizer is None:
        optimizer = SGD(network, lr=0.01)
    elif getattr(optimizer, "network", None) is not network:
        raise ValueError("optimizer must be bound to the network being trained")
    rng = np.random.default_rng(random_state)

    order = np.arange(n, dtype=np.int64)
    last_good = network.params.copy()
    history: list[float] = []
    for epoch in range(epochs):
        if shuffle:
            rng.shuffle(order)
        total = run_epoch(network, X, Y, weights, order if shuffle else None, batch_size,
                          optimizer)
        # The params check catches an overflow in the epoch's last update.
        if not (np.isfinite(total) and np.isfinite(network.params).all()):
            network.params[...] = last_good
            raise TrainingDiverged(
                f"the loss or the weights became NaN or infinite in epoch {epoch + 1}; the "
                f"weights were restored to the end of epoch {epoch}. Lower the learning rate.")
        history.append(total / n)
        last_good[...] = network.params
        if callback is not None and callback(epoch, history[-1]):
            break
    return history
