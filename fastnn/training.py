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
from .kernels import data
from .kernels.activations import SIGMOID
from .kernels.fpenv import subnormals_flushed
from .kernels.losses import SQUARED_ERROR
from .kernels.trainer import SGD as SGD_CODE
from .network import Network, NonFiniteRows, last_weighted_batch
from .optimizers import SGD, Checkpoint


# When train() takes the BLAS-free path of kernels/small.py.  Measured on 2
# loaded cores (train(), float32, [h, h, 10] relu, 2048 rows; seconds per
# epoch BLAS / small): batch size 1: h=8 (64 weights per layer) 7.5x,
# h=16 (256) 1.6x, h=32 (1024) 0.9x, h=64 0.5x; batch size 32: 0.16-0.34x at
# every h.  The small path computes one sample at a time, so it wins where the
# BLAS path's fixed cost per batch and per epoch (a call, tens of microseconds)
# dominates: per-sample batches of small layers, or whole epochs of little work.
_SMALL_MAX_WEIGHTS = 256  # per layer (fan_in * fan_out)
_SMALL_MAX_EPOCH_WORK = 4096  # n_samples * n_weights below which any batch size goes small
# When the small path's per-sample SGD (batch size 1, no momentum) runs a
# kernel compiled for the network's layer sizes (``small.small_sgd_train``,
# at most one hidden layer).  Measured (XOR 2-4-1, 2 loaded cores, CPU time
# of the kernel): about 10M updates/s against 5M for the generic kernel, and
# 1.3x that since exp and log1p are inline and the activation, loss and
# flags compile-time constants (paired A/B of train()); but each new
# architecture, activation, loss, flags and dtype first compiles for 2-5 s
# (cached on disk after).  So only for runs long enough to matter (2**18 updates: 50 ms or
# more on the generic kernel; unit tests stay below) and for layers small
# enough to unroll.
_FIXED_MIN_UPDATES = 2**18  # epochs * n_samples
_FIXED_MAX_WEIGHTS = 64  # per layer

# Jobs of at most this many batches (epochs x batches per epoch) run their
# batches as Python over the compiled kernels (``stepwise``) instead of
# compiling the fused epoch.  Measured, cold Numba cache, the first train() of
# a 20-16-3 network: about 4 s less to compile; per batch the interpreter
# costs some tens of microseconds more, under 30 ms for a whole such job,
# plus about 1.2 us per row: the loops over a batch's sample weights (gather,
# sum) run as Python too (cProfile, W1 batch 512: 0.63 ms of a batch's 10 ms).
STEPWISE_MAX_BATCHES = 256
# ... unless the job has this much work (epochs x rows x weights: the
# multiply-adds of all its forward passes): then the fused epoch's speed matters more
# than its compile time, which is paid once (it is cached on disk).  Measured
# on W1 (one epoch, batch 512: 118 batches, 1.4e10), one process,
# interleaved: fused 0.60-0.69 s against 0.63-0.78 s stepwise on 2 threads,
# 1.01-1.09 s against 1.10-1.17 s on 1; with an empty cache the first train()
# of that network compiled for 13-14 s fused against 7-7.5 s stepwise.
STEPWISE_MAX_WORK = 2**32


def runs_stepwise(n_samples: int, batch_size: int, epochs: int, n_weights: int) -> bool:
    """Whether a job of ``epochs`` epochs over ``n_samples`` rows should run stepwise.

    ``n_weights``: the network's number of weights (its work per row).
    """
    return (epochs * -(-n_samples // batch_size) <= STEPWISE_MAX_BATCHES
            and epochs * n_samples * n_weights < STEPWISE_MAX_WORK)


class TrainingDiverged(ArithmeticError):
    """The loss became NaN or infinite; the weights and the optimizer's state were restored
    to the end of the last good epoch."""


def run_epoch(network: Network, X: np.ndarray, Y: np.ndarray, weights: np.ndarray | None,
              order: np.ndarray | None, batch_size: int, optimizer, alpha: float = 0.0,
              loss_scale: float = 1.0, stepwise: bool = False,
              kept_batch: int | None = None, loss_so_far: float = 0.0) -> float:
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
    stepwise : bool, default=False
        Run the epoch's batches as Python over the compiled kernels (same
        results; see :func:`runs_stepwise`) rather than in one fused call.
    kept_batch : int or None, default=None
        The batch whose gradient stays in ``network.grads`` (plain SGD does
        not fuse its step into the backward pass there, and does everywhere
        else): the row offset of its start in this call's rows (a multiple of
        ``batch_size``), -1 for none.  None: the call is a whole epoch, and
        keeps its last batch whose weights are not all 0
        (:func:`fastnn.network.last_weighted_batch`).  An epoch cut into
        several calls gives each the offset of the epoch's kept batch in its
        rows (-1 where it lies in another call): the same bits as one call.
    loss_so_far : float, default=0.0
        What the epoch's earlier parts returned: this call adds its batches'
        losses to it, so that parts of an epoch sum the loss in one call's
        order, to the bit.

    Returns
    -------
    float
        ``loss_so_far`` plus the sum over batches of batch loss times batch
        size; NaN as soon as a batch loss is NaN or inf (the epoch stops
        there, before that batch's update).

    Raises
    ------
    TypeError
        If ``X``, ``Y`` or ``weights`` is not an array of the network's dtype:
        the compiled paths took such arrays differently (a Numba typing error,
        or float64 rows in a float32 network's per-sample kernel).

    Notes
    -----
    Unless ``stepwise``, the whole epoch runs in one compiled call
    (``kernels.trainer.train_epoch_gathered`` or ``_in_order``; batches of one
    sample of a network whose layers have at most ``_SMALL_MAX_WEIGHTS``
    weights: ``kernels.small.small_train``, as :func:`train` takes them).
    The optimizer's own ``weight_decay`` applies as in its ``step`` (on the
    gradient only), in addition to ``alpha``.  Afterwards ``network.grads``
    holds the gradient of the epoch's last batch that stepped (its last one
    whose sample weights are not all 0), for every optimizer: the data loss's
    gradient, without the ``alpha`` term, which the step adds; an epoch
    whose every batch weighs 0 steps nowhere and leaves it as it was.
    """
    for name, values in (("X", X), ("Y", Y), ("weights", weights)):
        if values is not None and getattr(values, "dtype", None) != network.dtype:
            raise TypeError(f"run_epoch takes validated arrays: {name} must be an array of the "
                            f"network's dtype {network.dtype.name}, got "
                            f"{getattr(values, 'dtype', type(values).__name__)}")
    if not stepwise and batch_size == 1 and _small_layers(network):
        return _run_epoch_small(network, X, Y, weights, order, optimizer, alpha, loss_scale,
                                kept_batch, loss_so_far)
    return network._train_epoch(X, Y, weights, order, batch_size, optimizer, alpha, loss_scale,
                                stepwise, kept_batch=kept_batch, loss_so_far=loss_so_far)


def _run_epoch_small(network: Network, X, Y, weights, order, optimizer, alpha: float,
                     loss_scale: float, kept_batch: int | None, loss_so_far: float) -> float:
    """:func:`run_epoch` of batches of one sample through ``kernels.small.small_train``.

    The BLAS path's fixed cost per batch (calls, views: about 3 us) is most of
    a small network's per-sample step, which takes about 0.3 us here (2-4-1):
    an MLPClassifier(batch_size=1) epoch of 20,000 rows took 115 ms through
    the BLAS path, 12.5 ms through this one (one process, before and after).
    The kept batch, the loss so far and the stop at a row with NaN/inf
    (:class:`NonFiniteRows`, before that row's update) are the BLAS path's
    (``small_train``'s ``segment``): an epoch cut into parts gives the bits
    of one call.
    """
    from .kernels import small  # see _train_small

    n = X.shape[0] if order is None else order.shape[0]
    if kept_batch is None:
        kept_batch = last_weighted_batch(weights, order, n, 1)
    rows = np.arange(n, dtype=np.int64) if order is None else order
    sample_weight = network.params if weights is None else weights  # a placeholder if None
    scratch = np.empty(2 * sum(network.layer_sizes[1:]), network.dtype)
    totals = np.zeros(1, np.float64)
    code, state1, state2, t, hyper = optimizer._fused_state()
    hyper[6:8] = alpha, loss_scale
    hyper[9:11] = kept_batch, loss_so_far
    with network._workspace_lock, subnormals_flushed():
        _, t, status = small.small_train(
            X, Y, sample_weight, weights is not None, rows, False,
            np.zeros(1, np.uint64), 1, 1, network.params, network.grads, network._net, scratch,
            network.loss_code, code, hyper, state1, state2, t, network.n_weights,
            np.empty_like(network.params), totals, True)
    optimizer._fused_done(t)
    if status == 2:
        raise NonFiniteRows("X contains NaN or infinite value(s) in the rows of a batch")
    return float("nan") if status else float(totals[0])


def _small_layers(network: Network) -> bool:
    """Whether every layer has at most ``_SMALL_MAX_WEIGHTS`` weights."""
    sizes = network.layer_sizes
    return max(a * b for a, b in zip(sizes[:-1], sizes[1:])) <= _SMALL_MAX_WEIGHTS


def train(network: Network, X, y, *, optimizer=None, epochs: int = 10,
          batch_size: int | str = 200, shuffle: bool = True, random_state=None,
          sample_weight=None, callback: Callable[[int, float], bool | None] | None = None
          ) -> np.ndarray:
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
        Reshuffle the sample order (indices, never the data) every epoch: a
        Fisher-Yates shuffle of the previous epoch's order, drawn from
        fastnn's own SplitMix64 generator (``kernels.data``), seeded once per
        call from ``random_state``.  The same seed gives the same orders and
        results, on either path below.
    random_state : int, numpy.random.Generator or None
        Seed of the shuffles (a Generator advances by one draw per call).
    sample_weight : array of shape (n_samples,), optional
        Non-negative, with a positive sum.  A batch whose weights are all 0
        is skipped (no step; it adds 0 to the epoch's loss; ``network.grads``
        keeps the gradient of the last batch that stepped).
    callback : callable(epoch, loss) -> bool, optional
        Called after each epoch (``epoch`` from 0, ``loss`` its mean loss);
        returning True stops training.  Changes it makes to the optimizer
        (``lr``, ``momentum``, ...) act from the next epoch.  If it raises,
        training stops and the exception propagates; the epochs completed
        are kept, the one it was called for included: ``network.params``,
        ``network.grads`` (the gradient of that epoch's last step) and the
        optimizer's state (velocity, Adam's moments and step count) are as
        after a run of that many epochs.  Their losses are not returned.

    Returns
    -------
    ndarray of shape (n_epochs_run,), float64
        Mean training loss of each epoch (average of the batch losses,
        weighted by batch size).  An array, not a list: a run of a million
        tiny epochs would spend more time building a list of Python floats
        than training.

    Raises
    ------
    ValueError
        If ``X`` holds NaN or infinite values (found by the first epoch,
        which gathers every row; the parameters and the optimizer's state
        are restored to their values before the call), or another argument
        is invalid (before any training).
    TrainingDiverged
        If a batch loss is NaN or infinite; the parameters and the
        optimizer's state are restored to their values at the end of the
        last complete epoch.
    Exception
        Whatever ``callback`` raises (see above: nothing is restored).

    Notes
    -----
    Networks whose every layer has at most ``_SMALL_MAX_WEIGHTS`` weights,
    trained with ``batch_size=1`` or on little data, go through
    ``kernels.small.small_train``: plain loops instead of BLAS, and all
    epochs (shuffles included) in one compiled call, one per epoch with a
    callback (same results); per-sample plain SGD of a network with at
    most one hidden layer, for many updates, through
    ``kernels.small.small_sgd_train`` compiled for its layer sizes.  Otherwise
    one ``kernels.trainer`` epoch per call.  Both give the same result up to
    rounding (summation order).
    """
    X = check.check_features(X, network.layer_sizes[0], network.dtype)
    n = X.shape[0]
    Y = check.check_targets(y, n, network.layer_sizes[-1], network.dtype,
                            probabilities=network.loss_code != SQUARED_ERROR)
    weights = check.check_sample_weight(sample_weight, n, network.dtype)
    if weights is not None and not weights.sum() > 0:
        raise ValueError("sample_weight must have a positive sum")
    epochs = check.check_positive_int(epochs, "epochs")
    if not isinstance(shuffle, (bool, np.bool_)):  # "False" is truthy: it would shuffle
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    if callback is not None and not callable(callback):  # else found after the first epoch
        raise TypeError(f"callback must be callable or None, got {callback!r}")
    if isinstance(batch_size, str):
        if batch_size != "full":  # the integer check below would not mention "full"
            raise TypeError(f"batch_size must be an integer or 'full', got {batch_size!r}")
        batch_size = n
    batch_size = min(check.check_positive_int(batch_size, "batch_size"), n)
    if optimizer is None:
        optimizer = SGD(network, lr=0.01)
    elif getattr(optimizer, "network", None) is not network:
        raise ValueError("optimizer must be bound to the network being trained")
    rng = check.random_generator(random_state)
    # fastnn's own PRNG (SplitMix64, in kernels/data.py) draws the shuffles on
    # both paths, so a seed gives the same orders whichever path runs.
    rng_state = rng.integers(0, 2**64 - 1, size=1, dtype=np.uint64, endpoint=True)

    order = np.arange(n, dtype=np.int64)
    small = _is_small(network, n, batch_size)
    x_checked = not shuffle or small
    if x_checked:
        # These epochs read X in place.  Shuffled ones gather every row and
        # check it for NaN/inf as they go (a pass over X less: 8 ms of W1's
        # 0.3 s epoch); the weights are restored if one is found.
        check.check_finite(X)
    last_good = Checkpoint(optimizer)  # weights and optimizer state after the last good epoch
    if small:
        return _train_small(network, X, Y, weights, order, shuffle, rng_state, epochs,
                            batch_size, optimizer, last_good, callback)
    history: list[float] = []
    stepwise = runs_stepwise(n, batch_size, epochs, network.n_weights)
    for epoch in range(epochs):
        if shuffle:
            data.shuffle_inplace(order, n, rng_state)
        try:
            total = run_epoch(network, X, Y, weights, order if shuffle else None, batch_size,
                              optimizer, stepwise=stepwise)
        except NonFiniteRows:  # NaN/inf in a gathered batch of X: nothing of the epoch is kept
            last_good.restore()
            check.check_finite(X)  # the error with the count of NaN/inf values
            raise
        # The params check catches an overflow in the epoch's last update.
        if not (np.isfinite(total) and np.isfinite(network.params).all()):
            stepped = not untouched(epoch, network.params, last_good.params)
            if not x_checked:  # rows not gathered yet may hold NaN/inf: name X, not the rate
                last_good.restore()
                check.check_finite(X)
            _diverged(last_good, epoch, stepped)
        history.append(total / n)
        last_good.save()
        if callback is not None and callback(epoch, history[-1]):
            break
    return np.asarray(history, dtype=np.float64)


def _is_small(network: Network, n_samples: int, batch_size: int) -> bool:
    """Whether train() takes the BLAS-free path (see ``_SMALL_MAX_WEIGHTS``)."""
    if not _small_layers(network):
        return False
    return batch_size == 1 or n_samples * network.n_weights <= _SMALL_MAX_EPOCH_WORK


def _fixed_units(network: Network, batch_size: int, optimizer_code: int, updates: int):
    """``small_sgd_train``'s ``units`` argument if it serves this run, else None.

    ``units`` holds one tuple per layer (input, hidden, output) whose length is
    the layer's size, ``()`` as the hidden one without hidden layer: the sizes
    become part of the compiled signature.
    """
    sizes = network.layer_sizes
    if (batch_size != 1 or optimizer_code != SGD_CODE or len(sizes) > 3
            or updates < _FIXED_MIN_UPDATES
            or max(a * b for a, b in zip(sizes[:-1], sizes[1:])) > _FIXED_MAX_WEIGHTS):
        return None
    hidden = sizes[1:-1]
    return ((0,) * sizes[0], (0,) * (hidden[0] if hidden else 0), (0,) * sizes[-1])


def _fixed_codes(network: Network, weighted: bool, hyper: np.ndarray):
    """``small_sgd_train``'s ``codes``: tuples as long as the hidden activation and loss codes
    and the kernel's flags (sample weights, decay, a sigmoid slope of 1).

    Compile-time constants, like the layer sizes in ``units``.
    """
    from .kernels import small  # see _train_small

    hidden = int(network._net[3][0]) if len(network.layer_sizes) > 2 else 0
    flags = ((small.WEIGHTED if weighted else 0)
             | (small.DECAYED if hyper[6] > 0 or hyper[8] != 0 else 0)
             | (small.UNIT_SLOPE if hidden == SIGMOID and network._net[4][0] == 1.0 else 0))
    return ((0,) * hidden, (0,) * int(network.loss_code), (0,) * flags)


def untouched(epochs_done: int, params: np.ndarray, start_params: np.ndarray | None) -> bool:
    """Whether a training call that diverged had not changed the weights yet.

    True if none of its epochs completed and ``params`` still equal
    ``start_params``, the weights it started from (None: not known, False).
    Its first batch then overflowed at those weights: the data (or the
    weights) are to blame, not the learning rate, and the divergence
    messages say so.
    """
    return (epochs_done == 0 and start_params is not None
            and np.array_equal(params, start_params))


def _diverged(last_good: Checkpoint, epoch: int, stepped: bool = True):
    """Restore ``last_good`` and raise TrainingDiverged for ``epoch`` (0-based).

    ``stepped``: whether the call had changed the weights before the loss or
    the weights became non-finite.  If not, its first batch overflowed at the
    weights it started from, and no learning rate would have helped.
    """
    last_good.restore()
    if not stepped:
        dtype = last_good.params.dtype.name
        raise TrainingDiverged(
            f"the loss became NaN or infinite in epoch {epoch + 1} before any update, at the "
            f"weights training started from: the values of X, y or sample_weight (or those "
            f"weights) overflow {dtype}. Rescale the data; the weights and the optimizer's "
            f"state were restored.")
    raise TrainingDiverged(
        f"the loss or the weights became NaN or infinite in epoch {epoch + 1}; the weights "
        f"and the optimizer's state were restored to the end of epoch {epoch}. Lower the "
        f"learning rate.")


def _train_small(network: Network, X, Y, weights, order, shuffle: bool, rng_state, epochs: int,
                 batch_size: int, optimizer, last_good: Checkpoint, callback) -> np.ndarray:
    """:func:`train` through ``kernels.small.small_train``: all epochs in one call.

    With a callback, one epoch per call; ``order`` and ``rng_state`` carry
    the shuffles across calls, so the result is the same.  Each call holds
    the network's training lock, as the BLAS path's epochs do (the kernels
    write ``params`` and ``grads`` without the GIL).

    The kernels keep the parameters of the last good epoch, not the
    optimizer's state or the last gradient.  When a call diverges, the
    checkpoint of the call's start is restored and its good epochs are run
    again (the kernels are deterministic), so that weights, state (momentum,
    Adam) and ``grads`` all end at the last good epoch.
    """
    # Imported here, not with fastnn: building its exp table and compiled
    # families costs 15-50 ms, which a program that never trains a tiny
    # network should not pay at start-up.
    from .kernels import small

    scratch = np.empty(2 * sum(network.layer_sizes[1:]), network.dtype)
    per_call = epochs if callback is None else 1
    n = X.shape[0]
    sample_weight = network.params if weights is None else weights  # a placeholder if None
    good_params = last_good.params.copy()  # the kernels' own: they write it after each epoch

    def run(n_epochs: int, totals: np.ndarray) -> tuple[int, int]:
        """``n_epochs`` epochs in one kernel call; returns (epochs done, status)."""
        nonlocal t
        # Flushed as the BLAS path's epochs are (kernels.fpenv): these kernels are serial.
        with network._workspace_lock, subnormals_flushed():
            if units is not None:
                return small.small_sgd_train(
                    X, Y, sample_weight, order, shuffle, rng_state, n_epochs, network.params,
                    network.grads, network._net, hyper, network.n_weights, good_params, totals,
                    units, _fixed_codes(network, weights is not None, hyper))
            done, t, status = small.small_train(
                X, Y, sample_weight, weights is not None, order, shuffle, rng_state, n_epochs,
                batch_size, network.params, network.grads, network._net, scratch,
                network.loss_code, code, hyper, state1, state2, t, network.n_weights,
                good_params, totals, False)
            return done, status

    parts: list[np.ndarray] = []
    for epoch in range(0, epochs, per_call):
        # Read per call, as the BLAS path's epochs do: a callback may have set the
        # optimizer's lr or turned momentum on, which the first call's copy ignored.
        code, state1, state2, t, hyper = optimizer._fused_state()
        units = _fixed_units(network, batch_size, code, epochs * n)
        totals = np.empty(per_call, np.float64)  # becomes this call's part of the history
        start_order, start_rng = order.copy(), rng_state.copy()
        done, status = run(per_call, totals)
        optimizer._fused_done(t)
        if status:
            stepped = not untouched(epoch + done, network.params, last_good.params)
            # back to this call's start, then its good epochs again
            last_good.restore()
            order[...], rng_state[...] = start_order, start_rng
            t = optimizer._fused_state()[3]
            run(done, np.empty(done, np.float64))
            optimizer._fused_done(t)
            last_good.save()
            _diverged(last_good, epoch + done, stepped)
        last_good.save()
        totals[:done] /= n  # in place: a 1M-epoch run's array is not allocated twice
        parts.append(totals[:done])
        if callback is not None and callback(epoch, float(parts[-1][-1])):
            break
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
