"""Where the time of a training step goes: per phase and per layer.

``profile(network, X, Y)`` runs mini-batches through the same kernels the
fused trainer calls, one kernel at a time so that each can be timed:

gather   rows of X and Y by shuffled index into the batch buffers
forward  each layer's ``A @ W + b`` and activation
loss     output activation, loss value and output delta
backward each layer's weight/bias gradients and the delta for the layer below
update   the optimizer step over the flat parameter vector

and reports seconds per epoch for each, GFLOP/s of the matrix products and
their fraction of a measured GEMM roof.  Separate calls add a little dispatch
overhead that the fused trainer does not pay; ``fused`` is the trainer's own
time for the same batches, for comparison, and ``products`` the time of the
epoch's matrix products alone (same shapes, same BLAS, back to back in one
compiled call, in the layout training uses at that batch size): the floor
of an epoch with that BLAS.  The phases run the sample-major kernels also
where training runs feature-major (batches of up to
``network.FEATURE_MAJOR_MAX_ROWS`` rows).

On several threads, batches of ``network.DATA_PARALLEL_MIN_ROWS`` rows or
more (smaller ones on two threads where the first layer is split by depth
and holds most of the weights: see ``network.SMALL_BATCH_MIN_FIRST_LAYER_SHARE``)
train by rows (``kernels.data_parallel``): each thread runs its share
of every batch with one-thread BLAS, and the kernel-by-kernel phases above,
with BLAS's own threads, are not how that epoch spends its time.  The fused
epoch then also reports, per thread, what it spent its time on
(``kernels.data_parallel.PHASES``: gather, forward, loss, backward, waiting
for the other threads' rows, weight gradient, update, waiting for their
weights), read from the processor's time-stamp counter inside the kernel
(``kernels.clock``; x86-64 only).
"""
from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field

import numpy as np

from . import _config, _outofcore, kernels
from ._validation import (assert_all_finite, check_features, check_finite, check_positive_int,
                          check_targets, random_generator)
from .kernels import clock, data_parallel
from .kernels.fpenv import subnormals_flushed
from .kernels.activations import IDENTITY
from .kernels.losses import SQUARED_ERROR
from ._mlp_weights import assigned_layers, fresh_views, write_layers
from .network import Network
from .optimizers import SGD, Adam, Checkpoint
from .training import TrainingDiverged, run_epoch


@dataclass
class Profile:
    """Seconds per epoch by phase and layer, and the achieved GEMM rate."""

    n_samples: int
    batch_size: int
    #: The optimizer that trained, e.g. "SGD (lr 0.01)"
    optimizer: str = "SGD"
    phases: dict[str, float] = field(default_factory=dict)
    layers: list[dict[str, float]] = field(default_factory=list)
    fused_seconds: float = 0.0
    products_seconds: float = 0.0
    gflop: float = 0.0
    roof_gflops: float = 0.0
    #: Seconds of the fused epoch trained by rows, shape (threads,
    #: len(kernels.data_parallel.PHASES), layers); None if it did not train by rows.
    by_rows: np.ndarray | None = None

    @property
    def total_seconds(self) -> float:
        return sum(self.phases.values())

    def table(self) -> str:
        """A Markdown report."""
        rate = self.gflop / max(self.phases.get("forward", 0) + self.phases.get("backward", 0),
                                1e-12)
        products = max(self.products_seconds, 1e-12)
        lines = [f"{self.n_samples} samples, batch {self.batch_size}, {self.optimizer}: "
                 f"{self.total_seconds:.3f} s per epoch kernel by kernel, "
                 f"{self.fused_seconds:.3f} s fused; its matrix products alone "
                 f"{self.products_seconds:.3f} s ({self.gflop / products:.1f} GFLOP/s, "
                 f"{products / max(self.fused_seconds, 1e-12):.0%} of the fused epoch)",
                 "", "| phase | s/epoch | share |", "|---|---:|---:|"]
        for name, seconds in self.phases.items():
            lines.append(f"| {name} | {seconds:.4f} | {seconds / self.total_seconds:.0%} |")
        lines += ["", "| layer | forward s | backward s | GFLOP/s |", "|---|---:|---:|---:|"]
        for i, layer in enumerate(self.layers):
            seconds = layer["forward"] + layer["backward"]
            lines.append(f"| {i} | {layer['forward']:.4f} | {layer['backward']:.4f} | "
                         f"{layer['gflop'] / max(seconds, 1e-12):.1f} |")
        lines.append("")
        lines.append(f"matrix products: {rate:.1f} GFLOP/s" + self._of_roof(rate))
        if self.by_rows is not None:
            lines += ["", *self._by_rows_table()]
        return "\n".join(lines)

    def _of_roof(self, rate: float) -> str:
        if not self.roof_gflops:
            return ""
        text = (f", {rate / self.roof_gflops:.0%} of the measured roof "
                f"({self.roof_gflops:.1f} GFLOP/s)")
        if rate > self.roof_gflops:  # "291 % of the roof" meant nothing, without a word
            text += (" (above the roof: other processes were using the cores while it was "
                     "measured, so its share means nothing; profile on a quiet machine)")
        return text

    def _by_rows_table(self) -> list[str]:
        """The fused epoch by rows: each thread's seconds per phase, then per layer."""
        seconds = self.by_rows
        threads = range(seconds.shape[0])
        per_phase = seconds.sum(axis=2)  # (threads, phases)
        lines = [f"The fused epoch trained by rows on {len(threads)} threads; seconds per "
                 f"thread (waits: for the other threads' rows, then weights):", "",
                 "| phase | " + " | ".join(f"thread {i}" for i in threads) + " | share |",
                 "|---|" + "---:|" * (len(threads) + 1)]
        total = per_phase.sum(axis=1)
        for j, name in enumerate(data_parallel.PHASES):
            lines.append(f"| {name} | " + " | ".join(f"{per_phase[i, j]:.4f}" for i in threads)
                         + f" | {per_phase[:, j].sum() / max(total.sum(), 1e-12):.0%} |")
        lines.append("| all | " + " | ".join(f"{t:.4f}" for t in total) + " | |")
        phase = {name: j for j, name in enumerate(data_parallel.PHASES)}
        mean = seconds.mean(axis=0)  # (phases, layers): the threads run side by side
        lines += ["", "| layer | forward s | backward s | weight gradient s | update s | "
                  "GFLOP/s |", "|---|---:|---:|---:|---:|---:|"]
        products = 0.0
        for l, layer in enumerate(self.layers):
            times = [mean[phase[name], l] for name in
                     ("forward", "backward", "weight gradient", "update")]
            products += sum(times[:3])
            lines.append(f"| {l} | " + " | ".join(f"{t:.4f}" for t in times)
                         + f" | {layer['gflop'] / max(sum(times[:3]), 1e-12):.1f} |")
        rate = self.gflop / max(products, 1e-12)
        lines += ["", f"matrix products by rows: {rate:.1f} GFLOP/s" + self._of_roof(rate)]
        return lines


def gemm_roof(dtype=np.float32, size: int = 2048, repeats: int = 3) -> float:
    """Best GFLOP/s of a ``size``-square matrix product through NumPy's BLAS."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = min(_timed(lambda: np.matmul(a, a, out=out)) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def profile(network, X, Y, *, batch_size: int | None = None, lr: float | None = None,
            optimizer=None, random_state=0, roof: bool = True) -> Profile:
    """Time one epoch of training ``network``, phase by phase and layer by layer.

    Parameters
    ----------
    network : Network or fitted fastnn MLPClassifier / MLPRegressor
        A Network is trained in place (a warm-up batch and one epoch fused,
        then a warm-up batch and one epoch kernel by kernel), unless that
        training diverges: see Raises.  An estimator's network is copied and
        the copy trained with the estimator's optimizer (``solver``: SGD with
        its momentum, or Adam; plain SGD for lbfgs), from a fresh optimizer
        state and without the L2 penalty, on its ``n_threads`` when set (as
        its fit runs): the estimator is left as it was.
    X : array-like of shape (n_samples, n_features)
        In the network's dtype (a Network's), or anything the estimator's
        ``partial_fit`` takes (a DataFrame with its feature names included).
    Y : array-like of shape (n_samples, n_outputs) or (n_samples,)
        A Network's targets (one column per output unit; class probabilities
        for a softmax or sigmoid output), or an estimator's ``y`` as its
        ``partial_fit`` takes it (class labels it was fitted on, for a
        classifier).
    batch_size : int, optional
        Rows per mini-batch; default 128, or an estimator's own batch size
        (``"auto"``: at most 200).
    lr : float, optional
        Learning rate; default 0.01 (plain SGD for a Network), or an
        estimator's ``learning_rate_init``.
    optimizer : SGD or Adam, optional
        For a Network: the optimizer to train it with, bound to it (its state
        advances, as in training); default plain SGD at ``lr``.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the shuffle (as ``np.random.default_rng`` takes it).
    roof : bool, default=True
        Also measure the GEMM roof (a few seconds).

    Returns
    -------
    Profile

    Raises
    ------
    TrainingDiverged
        If the weights or the loss become NaN or infinite (``lr`` too large
        for the data): the network's parameters, gradient and optimizer
        state are restored to their values before profiling.  Times of
        non-finite arithmetic would not describe training anyway.
    """
    if not isinstance(network, Network):
        if optimizer is not None:
            raise ValueError("optimizer= is for a Network: an estimator is profiled with its "
                             "own solver on a copy of its network")
        estimator = network
        network, X, Y, batch_size, optimizer = _from_estimator(estimator, X, Y, batch_size, lr)
        with estimator._threads():  # its n_threads, as its fit runs (None: the current)
            return _profiled(network, X, Y, batch_size, optimizer, random_state, roof)
    if optimizer is None:
        optimizer = SGD(network, lr=0.01 if lr is None else lr)
    elif lr is not None:
        raise ValueError("give lr or optimizer, not both (the optimizer has its learning rate)")
    if not isinstance(optimizer, (SGD, Adam)) or optimizer.network is not network:
        raise ValueError(f"optimizer must be a fastnn SGD or Adam bound to the network, got "
                         f"{optimizer!r}")
    return _profiled(network, X, Y, batch_size, optimizer, random_state, roof)


def _profiled(network: Network, X, Y, batch_size, optimizer, random_state, roof) -> Profile:
    """:func:`profile` of a Network with its optimizer chosen."""
    X = check_features(X, network.layer_sizes[0], network.dtype)
    check_finite(X)
    n = X.shape[0]
    Y = check_targets(Y, n, network.layer_sizes[-1], network.dtype,
                      probabilities=network.loss_code != SQUARED_ERROR)
    batch_size = min(check_positive_int(128 if batch_size is None else batch_size,
                                        "batch_size"), n)
    # NumPy's errors ("Seed must be between 0 and 2**32 - 1") did not name the parameter
    order = random_generator(random_state).permutation(n).astype(np.int64)
    before = Checkpoint(optimizer)

    def check(step: str, loss: float = 0.0) -> None:
        # Checked outside the timed calls, after each training step: O(n_params).
        if not (np.isfinite(loss) and np.isfinite(network.params).all()):
            before.restore()
            raise TrainingDiverged(
                f"profile: the loss or the weights became NaN or infinite in {step} "
                f"(lr={optimizer.lr}); the network's parameters, gradient and optimizer "
                f"state were restored to their values before profiling. Lower lr.")

    losses = []
    # The fused epoch first: after OpenBLAS's own threads have worked (the
    # kernel-by-kernel epoch below) they keep spinning for a while and take a
    # core from training by rows (measured: 0.15 s against 0.10 s for 20,000
    # rows of W1 at batch 512).  The thread count fixed at its current value:
    # the adaptive count would try one thread in some segments of the epoch.
    threads = _config.get_num_threads()
    ticks = np.zeros((threads, len(data_parallel.PHASES), len(network.coefs)), np.int64)
    with _config.using_threads(threads):
        check("the fused warm-up batch",  # compiles the fused kernels
              run_epoch(network, X, Y, None, order[:batch_size], batch_size, optimizer))
        start_ticks = clock.now()
        fused_seconds = _timed(lambda: losses.append(network._train_epoch(
            X, Y, None, order, batch_size, optimizer, 0.0, 1.0, clock=ticks)))
        ticks_per_second = (clock.now() - start_ticks) / fused_seconds
    check("the fused epoch", losses[0])
    # Subnormals flushed on this thread, as in the fused epoch (OpenBLAS's own threads keep
    # IEEE arithmetic: see kernels.fpenv).
    with subnormals_flushed():
        _timed_epoch(network, X, Y, order[:batch_size], batch_size, optimizer,
                     Profile(n, batch_size))  # compiles every kernel variant it times
        check("the warm-up batch")
        result = _timed_epoch(network, X, Y, order, batch_size, optimizer,
                              Profile(n, batch_size))
    check("the kernel-by-kernel epoch")
    result.gflop = sum(layer["gflop"] for layer in result.layers)
    result.optimizer = _described(optimizer)
    result.fused_seconds = fused_seconds
    if ticks.any():  # it trained by rows, and the counter counts
        result.by_rows = ticks / ticks_per_second
    result.products_seconds = _products_seconds(network, n, batch_size)
    if roof:
        result.roof_gflops = gemm_roof(network.dtype)
    return result


def _from_estimator(estimator, X, y, batch_size, lr):
    """A copy of a fitted MLP estimator's network, X and the targets as its training sees
    them, its batch size where ``batch_size`` is None, and its optimizer on the copy."""
    from sklearn.utils.validation import check_is_fitted

    from ._mlp_fit import _batch_size, _make_optimizer
    from .mlp import _BaseMLP

    if not isinstance(estimator, _BaseMLP):
        raise TypeError(f"profile takes a fastnn Network or a fitted fastnn MLPClassifier or "
                        f"MLPRegressor, got {type(estimator).__name__}")
    check_is_fitted(estimator)
    network = _network_copy(estimator)
    # Its own checks: feature count and names, finite values, labels it knows
    X, Y = estimator._validate_input(X, y, incremental=True, reset=False)
    if isinstance(X, _outofcore.RowSource):  # a memory map (fit reads it by blocks): the
        X = X[:]  # kernels gather rows from one array in memory
    if batch_size is None:
        batch_size = _batch_size(estimator, max(X.shape[0], 1))
    with np.errstate(over="ignore"):  # beyond float32: infinite, named below
        X, Y = (np.ascontiguousarray(a, dtype=network.dtype) for a in (X, Y))
    for a, name in ((X, "X"), (Y, "y")):  # "too large for dtype('float32')", as fit says
        assert_all_finite(a, input_name=name, estimator_name=type(estimator).__name__)
    optimizer = (SGD(network, lr=estimator.learning_rate_init if lr is None else lr)
                 if estimator.solver == "lbfgs" else _make_optimizer(estimator, network, lr))
    return network, X, Y, batch_size, optimizer


def _network_copy(estimator) -> Network:
    """A copy of the estimator's network with the ``coefs_``/``intercepts_`` the user
    assigned, as predict uses them, written into the copy (predict writes them into the
    estimator's own network: profile leaves the estimator as it was)."""
    pending = assigned_layers(estimator, *fresh_views(estimator._network))
    network = copy.deepcopy(estimator._network)
    write_layers(pending, *fresh_views(network))
    return network


def _described(optimizer) -> str:
    """``"Adam (lr 0.001)"``, ``"SGD (lr 0.1, momentum 0.9, Nesterov)"``."""
    if isinstance(optimizer, Adam):
        return f"Adam (lr {optimizer.lr:g})"
    momentum = (f", momentum {optimizer.momentum:g}" + (", Nesterov" if optimizer.nesterov
                                                        else "")) if optimizer.momentum else ""
    return f"SGD (lr {optimizer.lr:g}{momentum})"


def _products_seconds(network: Network, n: int, batch_size: int) -> float:
    """Seconds of an epoch's matrix products alone (``kernels.trainer.matrix_products``).

    They run on the workspace's activations and deltas of the epoch just
    timed, in the layout training uses at this batch size (feature-major up
    to ``network.FEATURE_MAJOR_MAX_ROWS`` rows), write their weight
    gradients to scratch, and use the BLAS threads in force.
    """
    products = network._fused(False, batch_size).matrix_products
    scratch = np.empty_like(network.grads)
    buffers = network._workspace_for(batch_size).buffers
    full, rest = divmod(n, batch_size)

    def epoch(batches):
        products(network.params, scratch, network._net, buffers, batch_size, batches)
        if rest:
            products(network.params, scratch, network._net, buffers, rest, 1)

    epoch(1)  # compile
    return _timed(lambda: epoch(full))


def _timed_epoch(network, X, Y, order, batch_size, optimizer, result: Profile) -> Profile:
    """Run the batches of ``order`` kernel by kernel, adding each kernel's time to ``result``."""
    sizes = network.layer_sizes
    result.phases = dict.fromkeys(["gather", "forward", "loss", "backward", "update"], 0.0)
    result.layers = [{"forward": 0.0, "backward": 0.0, "gflop": 0.0} for _ in network.coefs]
    ws = network._workspace_for(batch_size)
    for start in range(0, order.shape[0], batch_size):
        rows = order[start:start + batch_size]
        m = rows.shape[0]
        inputs, targets = ws.rows(3, m, sizes[0]), ws.rows(4, m, sizes[-1])
        result.phases["gather"] += _timed(lambda: (
            _config.run(kernels.gather_rows, X, rows, inputs),
            _config.run(kernels.gather_rows, Y, rows, targets)))
        outputs = [ws.layer(0, l, m, sizes[l + 1]) for l in range(len(network.coefs))]
        deltas = [ws.layer(1, l, m, sizes[l + 1]) for l in range(len(network.coefs))]
        below = inputs
        for l, (W, b) in enumerate(zip(network.coefs, network.intercepts)):
            last = l == len(network.coefs) - 1
            code = IDENTITY if last else network._codes[l]
            param = 0.0 if last else network._params[l]
            seconds = _timed(lambda: _config.run(kernels.dense_forward, below, W, b, code, param,
                                                 outputs[l]))
            result.phases["forward"] += seconds
            result.layers[l]["forward"] += seconds
            result.layers[l]["gflop"] += 2 * m * W.size / 1e9
            below = outputs[l]
        weights = ws.buffers[6][:m]
        result.phases["loss"] += _timed(lambda: _config.run(
            kernels.loss_forward_backward, network.loss_code, outputs[-1], targets, weights,
            outputs[-1], deltas[-1], ws.buffers[7][:m]))
        for l in range(len(network.coefs) - 1, -1, -1):
            below = outputs[l - 1] if l else inputs
            code = network._codes[l - 1] if l else IDENTITY
            param = network._params[l - 1] if l else 0.0
            seconds = _timed(lambda: _config.run(
                kernels.dense_backward, below, network.coefs[l], network.intercepts[l],
                deltas[l], network.coef_grads[l], network.intercept_grads[l],
                deltas[l - 1] if l else deltas[l], code, param, l > 0, 0.0, 0.0))
            result.phases["backward"] += seconds
            result.layers[l]["backward"] += seconds
            result.layers[l]["gflop"] += 2 * m * network.coefs[l].size * (2 if l else 1) / 1e9
        result.phases["update"] += _timed(optimizer.step)
    return result


def add_parser(sub) -> argparse.ArgumentParser:
    """``fastnn profile``: profile one epoch of a model on data, or of an MNIST-shaped
    network on synthetic data."""
    parser = sub.add_parser("profile", help="where the time of a training epoch goes "
                            "(per phase and layer, GFLOP/s, share of the GEMM roof)",
                            description="Profile one epoch of training: a saved MLP model "
                            "on a data file with its own solver (--model, --data), or a new "
                            "ReLU network on synthetic data by plain SGD (--layers, --samples, "
                            "--dtype).")
    from .cli import int_at_least, thread_count

    parser.add_argument("--model", help="a model file saved by fastnn train (an MLP); "
                        "its copy is profiled, the file is not changed")
    parser.add_argument("--data", help="with --model: .csv, .parquet, .npy or .npz of "
                        "features and target, as fastnn train reads it")
    parser.add_argument("--target", help="with --model: the target column (default: the "
                        "last)")
    parser.add_argument("--samples", type=int_at_least(1), default=None,
                        help="synthetic rows (default: 20000)")
    parser.add_argument("--layers", type=_layer_sizes, default=None,
                        help="layer sizes, input first (default: 784,256,128,10)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=None,
                        help="rows per batch (default: 128, or the model's own)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default=None,
                        help="synthetic data's dtype (default: float32)")
    parser.add_argument("--threads", type=thread_count, default=0,
                        help="0: the model's n_threads if it has one, else the current "
                        "setting")
    return parser


def _layer_sizes(text: str) -> tuple[int, ...]:
    """An argparse type for --layers: two or more positive sizes, the last at least 2."""
    from .cli import int_list

    sizes = int_list(text, "positive integers, input first", "784,256,10")
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two sizes (input and output, "
                                         f"e.g. 784,256,10), got {text!r}")
    if sizes[-1] < 2:  # the network's output is a softmax, which needs two units
        raise argparse.ArgumentTypeError(f"the last size is the softmax output, it must be "
                                         f"at least 2 (the classes), got {text!r}")
    return sizes


def check_options(parser, args) -> None:
    """Usage errors (``parser.error``, exit status 2) for options that do not go together:
    a model and its data, or synthetic data."""
    synthetic = {"--samples": args.samples, "--layers": args.layers, "--dtype": args.dtype}
    given = [option for option, value in synthetic.items() if value is not None]
    if (args.model is None) != (args.data is None):
        parser.error("--model and --data go together: give both or neither")
    if args.model is not None and given:
        parser.error(f"{', '.join(given)} describe synthetic data; they do not go with "
                     f"--model and --data")
    if args.model is None and args.target is not None:
        parser.error("--target names a column of --data")


def main(args) -> int:
    """Run ``fastnn profile`` with parsed ``args`` (checked by :func:`check_options`) and
    print the report."""
    from ._config import using_threads

    if args.model is not None:
        model, X, y = _model_and_data(args)
        if args.threads:  # over the model's own n_threads, which profile() uses
            model.set_params(n_threads=args.threads)
    else:
        sizes = list(args.layers or (784, 256, 128, 10))
        dtype = np.dtype(args.dtype or "float32")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((args.samples or 20000, sizes[0])).astype(dtype)
        y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], X.shape[0])]
        model = Network(sizes, "relu", "softmax", dtype=dtype, random_state=0)
    with using_threads(args.threads or None):
        print(profile(model, X, y, batch_size=args.batch_size).table())
    return 0


def _model_and_data(args):
    """The model of ``--model`` and the features and target of ``--data`` for it."""
    from ._datafiles import file_class_labels, read_data
    from .cli import _frame
    from .mlp import MLPClassifier, _BaseMLP
    from .model_io import load

    model = load(args.model)
    if not isinstance(model, _BaseMLP):
        raise ValueError(f"{args.model} holds a {type(model).__name__}; fastnn profile "
                         f"profiles MLPClassifier and MLPRegressor models")
    names = getattr(model, "feature_names_in_", None)
    names = None if names is None else list(names)
    X, y, _, _ = read_data(args.data, args.target, train=True, feature_names=names)
    if X.shape[1] != model.n_features_in_:
        raise ValueError(f"{args.data} has {X.shape[1]} feature columns, the model expects "
                         f"{model.n_features_in_} (--target names the target column)")
    if isinstance(model, MLPClassifier):
        y = file_class_labels(y, args.data)
    return model, _frame(X, names), y
