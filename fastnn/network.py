"""A fully connected network whose parameters live in one flat buffer."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
from numpy.typing import ArrayLike

from . import _adaptive, _config, kernels
from .kernels import data_parallel, fpenv, trainer
from .kernels.fpenv import subnormals_flushed
from . import _validation as check
from .kernels.activations import ACTIVATION_CODES, IDENTITY, LEAKY_RELU, RELU, SIGMOID
from .kernels.losses import BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY, SQUARED_ERROR

#: Output activation -> loss code it is trained with.
OUTPUTS = {
    "identity": SQUARED_ERROR,
    "sigmoid": BINARY_CROSS_ENTROPY,
    "logistic": BINARY_CROSS_ENTROPY,
    "softmax": SOFTMAX_CROSS_ENTROPY,
}

# The output layer's activation code in ``_net`` (tests/reference.py reads it).
# The forward pass itself computes the logits and applies the output activation
# of ``loss_code`` in a row pass, once it has checked them for NaN/inf.
_OUTPUT_DENSE_CODE = {SQUARED_ERROR: IDENTITY, BINARY_CROSS_ENTROPY: SIGMOID,
                      SOFTMAX_CROSS_ENTROPY: IDENTITY}


# Whether the fused passes run their elementwise work (bias and activation,
# derivatives, bias gradients, batch gather, update) on Numba's thread pool.
# Measured on 2 cores (W1, batch 128 and 512, 2 BLAS threads either way): the
# epoch is 15-30 % faster with it on the calling thread, because the pool's
# threads compete with OpenBLAS's workers, which keep spinning for a while
# after each product.  The matrix products use the BLAS threads in both cases;
# results are identical.
PARALLEL_ELEMENTWISE = False

# Training steps on batches of at most this many rows keep their activations
# feature-major, (units, n) (``kernels.dense_feature_major``): the same
# products in shapes that OpenBLAS's threads share better.  Measured on W1
# (784-256-128-10 float32, 2 threads; train() epochs, interleaved in one
# process), feature-major was faster in every pair: 7 % at batch 32 (0.76 /
# 0.82 s median over 8 pairs) and 64 (10 pairs), 10-15 % at batch 4 (3
# pairs); about even at 16.  At batch 128 (float32 and float64) the two tied,
# and at 256 and 512 the sample-major products were 5-10 % faster.
FEATURE_MAJOR_MAX_ROWS = 64

# Training epochs on several threads share each batch by rows, then by
# weights (``kernels.data_parallel``: one-thread BLAS per thread, two
# barriers per batch) instead of running every product on OpenBLAS's threads.
# Measured on W1 (784-256-128-10 float32, 2 cores, Intel Xeon with AVX-512,
# train() epochs interleaved in one process, medians of 5): 0.298 s against
# 0.399 s at batch 512 (1.75x one thread's 0.523 s, against 1.38x), 0.372 s
# against 0.466 s at batch 128.  Same results as one thread up to OpenBLAS's
# rounding of a block against the whole product (tests/test_data_parallel.py;
# identical on W1).  Turned off for the process when its workers fail to run
# at once several times in a row (a thread pool that runs them one after the
# other; once may be a thread that another process kept off its core).
DATA_PARALLEL = True
DATA_PARALLEL_MAX_FAILURES = 3
DATA_PARALLEL_MIN_ROWS = 128
# Smaller batches train by rows only where two threads split the first layer
# by depth (see DEPTH_SPLIT_MAX_ROWS) and it holds most of the weights: every
# thread packs each other layer's whole W for its half of the rows, while
# OpenBLAS's threads (the feature-major fused epoch) split W by columns.
# Measured (float32, 2 cores, train() epochs alternating in one process,
# medians of 3-7; by rows / fused on 2 threads / 1 thread, s):
#   784-256-128-10, batch  8: 0.76 / 1.75 / 1.17;  16: 0.75 / 1.32 / 0.81;
#                   batch 32: 0.60 / 0.87 / 0.73;  64: 0.51 / 0.57 / 0.67;
#                   batch 96: 0.46 / 0.49 / 0.62
#   784-300-100-10 (88 % of the weights in the first layer), batch 32:
#     0.62 / 0.77 / 0.73;  784-128-10 (99 %): 0.32 / 0.35 / 0.36;
#   200-64-10 (95 %, 12,800 weights): 0.099 / 0.109 / 0.110;
#   128-100-10 (93 %, 12,800): 0.113 / 0.112 / 0.117;
#   64-100-10 (86 %, 6,400): 0.089 / 0.078 / 0.083;
#   784-400-200-10 (79 %, left out by the rule): 1.10 / 1.22 / 1.24;
#   784-512-256-10 (75 %): 1.49 / 1.37 / 1.79, batch 64 1.18 / 1.12 / 1.59;
#   784-512-512-10 (60 %): 2.15 / 1.74 / 2.26;  100-512-512-10 (16 %),
#     batch 64: 1.01 / 0.76 / 1.01.
# Float64 W1 splits in three blocks (THREE_BLOCKS_MAX_ROWS): batch 32 took
# 1.02 s by rows against 1.38 s fused (1.27 s by rows unsplit), batch 64
# 0.90-0.96 against 1.07 s.
SMALL_BATCH_MIN_FIRST_LAYER_SHARE = 0.8
SMALL_BATCH_MIN_FIRST_LAYER_WEIGHTS = 10_000

# On two threads, batches of fewer rows than this split the first layer's
# product by depth (``kernels.data_parallel``, ``k_split``) where OpenBLAS
# rounds the split exactly as the whole product (probed once per shape,
# ``_first_layer_split``).  Measured on W1 float32 (train() epochs,
# alternating processes, medians of 5-7): 0.308-0.312 s against 0.339-0.346
# s at batch 128 (5 pairs), 0.291-0.312 against 0.305-0.329 s at 256 (3
# pairs), even at 512 (0.304-0.308 against 0.300-0.307 s, 2 pairs).
DEPTH_SPLIT_MAX_ROWS = 511
# Where OpenBLAS cuts the depth in three blocks (float64 W1: 384 | 208 | 192),
# only batches of at most this many rows split: thread 1 runs two products
# and the sum has a third term.  Measured on W1 float64 (fixed 2 threads,
# train() epochs alternating in one process, medians of 4-7; split / by rows
# unsplit / the fused epoch, s): batch 32 1.02 / 1.27 / 1.38, batch 64
# 0.90-0.96 / 0.92 / 1.07; batch 128 0.74-0.77 against 0.75-0.76 unsplit
# (3 runs), batch 256 0.73 against 0.69 (and 0.68 against 0.67) on the Intel
# host; on an AMD EPYC (Zen 4, SkylakeX kernels; 2026-12-02, train() epochs
# on 2 threads alternating in one process, medians of 12 pairs) batch 128
# 0.777 and 0.793 against 0.824 and 0.810 unsplit, batch 256 0.883 against
# 0.824: so batch 128 splits too (W5), and larger batches do not.
THREE_BLOCKS_MAX_ROWS = 128
_depth_splits: dict = {}

# forward() cuts the rows into blocks of _BLOCK_ROWS rows, which the threads
# take one at a time and each runs with one-thread BLAS calls
# (``trainer.forward_in_blocks``; on one thread they run one after the
# other).  OpenBLAS's own threads synchronise in every product; a block of
# 256 rows keeps its activations in the core's cache from one layer to the
# next; and a thread slowed by another process takes fewer blocks.  NaN/inf
# inputs are counted block by block as the first product is about to read
# them, instead of in a separate pass over X.  Measured on W4 (60,000 rows,
# 784-256-128-10 float32, 2 cores, interleaved in one process), with each
# thread's half of the rows split in blocks: forward() took 0.226 s (median
# of 9) with blocks of 256 rows and the fused count, against 0.259 s with
# halves of 8,192-row blocks and the separate count; 128 / 384 / 512 / 1024
# rows took 0.231 / 0.233 / 0.243 / 0.239 s.  Blocks taken from a shared
# counter instead of fixed halves: 0.231-0.241 s against 0.241-0.242 s
# (medians of 15, three runs), at most 0.24-0.37 s against 0.34-0.37 s.
_BLOCKS_MIN_ROWS = 2048
_BLOCK_ROWS = 256
# Below _BLOCKS_MIN_ROWS rows the blocks are smaller, a multiple of
# _SMALL_BLOCKS of them (so 2 or 4 threads get equal shares), of at least
# _MIN_BLOCK_ROWS rows.  Small inputs ran through OpenBLAS's threads before,
# which keep spinning after a product, for long enough to slow the next
# training epoch: partial_fit of 20,000 x 784 rows (256-128 ReLU, batch
# 256, 2 cores) took 0.20-0.22 s after a predict of 1,000 rows against
# 0.15-0.16 s without; with the small blocks 0.15-0.16 s either way.  The
# blocks cost the predict itself little: 1,000 rows of that network took
# 2.03 ms in 4 blocks against 2.19 ms through OpenBLAS's threads, 128 rows
# 0.54 against 0.37 ms.
_SMALL_BLOCKS = 4
_MIN_BLOCK_ROWS = 32
# OpenBLAS runs a product of fewer multiply-adds than this on the calling
# thread anyway (its SMP threshold, 65,536 x GEMM_MULTITHREAD_THRESHOLD = 4):
# no need to pay threadpoolctl's 17-66 us to limit it.
_BLAS_THREADS_MIN_WORK = 65536 * 4


def _activation_offsets(capacity: int, layer_sizes: Sequence[int]) -> np.ndarray:
    """Offset of each layer's ``(capacity, units)`` block in a flat activation buffer."""
    units = list(layer_sizes[1:])
    return np.array([capacity * sum(units[:l]) for l in range(len(units))], np.int64)


@contextmanager
def _held_or_own(lock: threading.Lock, shared, own, wait: bool = False):
    """``shared()`` while holding ``lock``; ``own()`` (private memory) if the lock is taken
    and ``wait`` is False, else ``shared()`` once the lock is free."""
    if not lock.acquire(blocking=wait):
        yield own()
        return
    try:
        yield shared()
    finally:
        lock.release()


class NonFiniteRows(ValueError):
    """A training epoch gathered a batch of ``X`` holding NaN or inf and stopped before that
    batch's update (the batches before it were applied)."""


class _Workspace:
    """Flat scratch buffers for up to ``capacity`` rows, allocated once and sliced.

    ``buffers`` is the tuple the fused kernels take (see ``kernels/trainer.py``).
    """

    def __init__(self, capacity: int, layer_sizes: Sequence[int], dtype: np.dtype):
        self.capacity = capacity
        units = list(layer_sizes[1:])
        a_off = _activation_offsets(capacity, layer_sizes)
        self.buffers = (np.empty(capacity * sum(units), dtype),      # activations
                        np.empty(capacity * sum(units), dtype),      # deltas
                        a_off,
                        np.empty(capacity * layer_sizes[0], dtype),  # gathered inputs
                        np.empty(capacity * layer_sizes[-1], dtype),  # gathered targets
                        np.empty(capacity, dtype),                   # gathered weights
                        np.ones(capacity, dtype),
                        np.empty(capacity, dtype))                   # per-sample losses

    def rows(self, index: int, n: int, width: int) -> np.ndarray:
        """The first ``n`` rows of buffer ``index`` seen as an (n, width) array."""
        return self.buffers[index][:n * width].reshape(n, width)

    def layer(self, index: int, layer: int, n: int, width: int) -> np.ndarray:
        """Layer ``layer``'s (n, width) block of the activations (0) or deltas (1)."""
        start = self.buffers[2][layer]
        return self.buffers[index][start:start + n * width].reshape(n, width)


class _ForwardScratch:
    """:meth:`Network.forward`'s scratch memory, allocated on first use.

    :meth:`workers` gives ``trainer.forward_in_blocks`` one activation
    buffer of ``_BLOCK_ROWS`` rows per thread.  Kept apart from the training
    workspace, so a prediction never writes into a running fit's buffers.
    """

    def __init__(self, layer_sizes: Sequence[int], dtype: np.dtype):
        self.layer_sizes, self.dtype = layer_sizes, dtype
        self.block_offsets = _activation_offsets(_BLOCK_ROWS, layer_sizes)
        self._acts = np.empty((0, _BLOCK_ROWS * sum(layer_sizes[1:])), dtype)

    def workers(self, n_workers: int) -> np.ndarray:
        """``(n_workers, _BLOCK_ROWS * sum(units))`` activation buffers, one per worker."""
        if self._acts.shape[0] < n_workers:
            self._acts = np.empty((n_workers, self._acts.shape[1]), self.dtype)
        return self._acts[:n_workers]


class Network:
    """Fully connected feed-forward network trained by backpropagation.

    All weights and biases live in one contiguous vector :attr:`params`
    (every layer's weights first, then every layer's biases); :attr:`coefs`
    and :attr:`intercepts` are views of it.  :attr:`grads` has the same
    layout.  Buffers for activations and deltas are allocated once and reused.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, input first and output last, e.g. ``[784, 256, 10]``.
        Two entries give a network with no hidden layer (a linear model).
    activations : str or sequence (list, tuple, 1-D array) of str, default="relu"
        Hidden-layer activation, one for all or one per hidden layer:
        "identity", "step", "sigmoid" (alias "logistic"), "tanh", "relu",
        "leaky_relu", "softplus".
    output : {"softmax", "sigmoid", "identity"}, default="softmax"
        Output activation; it fixes the loss: softmax cross-entropy,
        binary cross-entropy, or squared error (1/2, summed over outputs).
        Softmax needs at least two output units.
    dtype : {np.float32, np.float64}, default=np.float32
        Precision of parameters and of every computation.  Any spelling
        NumPy reads as one of them ("float32", "f8", float) is accepted;
        None is refused (NumPy would read it as float64).
    random_state : int, numpy.random.Generator or None
        Seed for the initial weights.
    params : array-like, shape (n_params,), optional
        Initial parameters in the layout of :attr:`params` (e.g. another
        network's), copied in ``dtype``; given, nothing is drawn and
        ``random_state`` is unused.
    sigmoid_a : float, default=1.0
        Shape ``a`` of hidden sigmoid units, ``1 / (1 + exp(-a x))``; not 0.
    leaky_slope : float, default=0.01
        Negative-side slope of hidden leaky ReLU units (>= 0).

    Notes
    -----
    Weights are initialised uniformly in ``[-r, r]``: Glorot for identity,
    tanh, softplus and step (``r = sqrt(6 / (fan_in + fan_out))``), Glorot
    with factor 2 for sigmoid (as scikit-learn), He for (leaky) ReLU
    (``r = sqrt(6 / fan_in)``).  Biases start at zero.

    A network may be shared between Python threads: :meth:`forward`,
    :meth:`predict` and :meth:`loss` may run in several at once, also during a
    fit; epochs and :meth:`loss_and_gradient` (which write :attr:`params` or
    :attr:`grads`) take turns.
    """

    def __init__(self, layer_sizes: Sequence[int],
                 activations: str | Sequence[str] | np.ndarray = "relu",
                 output: str = "softmax", *, dtype=np.float32, random_state=None,
                 params: ArrayLike | None = None, sigmoid_a: float = 1.0,
                 leaky_slope: float = 0.01):
        sizes = _check_layer_sizes(layer_sizes)
        n_hidden = len(sizes) - 2
        if isinstance(activations, np.ndarray) and activations.ndim <= 1:
            activations = activations.tolist()  # as layer_sizes: np.array(["relu"]) is no Sequence
        if isinstance(activations, str):
            names = [activations] * n_hidden
        elif isinstance(activations, Sequence):
            names = list(activations)
        else:  # list(None) failed with "'NoneType' object is not iterable"
            raise TypeError(f"activations must be a name or a sequence of names, got "
                            f"{activations!r}")
        if len(names) != n_hidden:
            raise ValueError(f"activations must be one name or {n_hidden} names (one per hidden "
                             f"layer), got {len(names)}")
        for name in names:
            if not isinstance(name, str) or name not in ACTIVATION_CODES:
                raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATION_CODES)}")
        names = [str(name) for name in names]  # np.str_ entries: plain names in repr and files
        if not isinstance(output, str) or output not in OUTPUTS:  # a list is not hashable
            raise ValueError(f"unknown output {output!r}; choose from {sorted(OUTPUTS)}")
        if dtype is None:  # np.dtype(None) is float64, not the documented default float32
            raise TypeError("dtype must be float32 or float64 (the default is float32), got "
                            "None")
        try:
            dtype = np.dtype(dtype)
        except TypeError:  # NumPy's "data type 'x' not understood" did not name dtype
            raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.sigmoid_a = check.check_real(sigmoid_a, "sigmoid_a")
        if self.sigmoid_a == 0:  # 1 / (1 + exp(0)): every sigmoid unit a constant 0.5
            raise ValueError("sigmoid_a must not be 0: every sigmoid unit would output 0.5 "
                             "whatever its input, and nothing below it would train")
        self.leaky_slope = check.check_real(leaky_slope, "leaky_slope", minimum=0.0)
        if output == "softmax" and sizes[-1] == 1:
            # a softmax over one unit is 1 whatever the input: loss and gradient are 0
            raise ValueError("output 'softmax' needs at least 2 output units (over one unit it "
                             "is always 1, and nothing trains); use output='sigmoid' for one "
                             "binary output")

        self.layer_sizes = sizes
        self.activations = names
        self.output = str(output)  # np.str_("softmax") is a str, but repr()s as np.str_(...)
        self.loss_code = OUTPUTS[output]
        self.dtype = dtype
        self._codes = [ACTIVATION_CODES[name] for name in names]
        self._params = [self._activation_param(code) for code in self._codes]
        self._net = self._structure()

        shapes = list(zip(sizes[:-1], sizes[1:]))
        self.n_weights = sum(a * b for a, b in shapes)
        self.params = np.zeros(self.n_weights + sum(sizes[1:]), dtype)
        self.grads = np.zeros_like(self.params)
        self.coefs, self.intercepts = _layer_views(self.params, shapes)
        self.coef_grads, self.intercept_grads = _layer_views(self.grads, shapes)
        self._new_scratch()
        if params is None:
            self.initialize(random_state)
        else:
            self._set_params(params)

    # ------------------------------------------------------------------ set-up
    def _activation_param(self, code: int) -> float:
        if code == SIGMOID:
            return self.sigmoid_a
        if code == LEAKY_RELU:
            return self.leaky_slope
        return 0.0

    def _structure(self) -> tuple:
        """The ``net`` tuple of the fused kernels (see ``kernels/trainer.py``)."""
        sizes = self.layer_sizes
        shapes = list(zip(sizes[:-1], sizes[1:]))
        w_off = np.cumsum([0] + [a * b for a, b in shapes[:-1]])
        b_off = sum(a * b for a, b in shapes) + np.cumsum([0] + sizes[1:-1])
        codes = self._codes + [_OUTPUT_DENSE_CODE[self.loss_code]]
        act_params = self._params + [1.0]  # the sigmoid output has a = 1
        return (np.array(sizes, np.int64), w_off.astype(np.int64), b_off.astype(np.int64),
                np.array(codes, np.int64), np.array(act_params, np.float64))

    def initialize(self, random_state: int | np.random.Generator | None = None) -> None:
        """Draw new initial weights (see Notes of the class) and zero the biases."""
        rng = check.random_generator(random_state)
        layer_names = self.activations + ["sigmoid" if self.loss_code == BINARY_CROSS_ENTROPY
                                          else "identity"]
        for W, b, name in zip(self.coefs, self.intercepts, layer_names):
            fan_in, fan_out = W.shape
            code = ACTIVATION_CODES[name]
            if code in (RELU, LEAKY_RELU):
                bound = np.sqrt(6.0 / fan_in)
            else:
                bound = np.sqrt((2.0 if code == SIGMOID else 6.0) / (fan_in + fan_out))
            W[...] = rng.uniform(-bound, bound, size=W.shape)
            b[...] = 0

    def _set_params(self, params: ArrayLike) -> None:
        """Copy ``params`` (the flat layout) into :attr:`params`, in this network's dtype."""
        values = check.as_array(params, "params")
        if values.shape != self.params.shape:
            raise ValueError(f"params must have shape {self.params.shape} (the parameters of "
                             f"layers {self.layer_sizes}), got {values.shape}")
        with np.errstate(over="ignore"):
            cast = values.astype(self.dtype)
        if np.any(np.isinf(cast) & np.isfinite(values)):
            raise ValueError(f"params has values beyond {self.dtype}'s range")
        self.params[...] = cast

    @property
    def n_params(self) -> int:
        """Number of trainable parameters."""
        return self.params.shape[0]

    def _new_scratch(self) -> None:
        """Empty scratch memory (not pickled): training's workspace, forward's, their locks."""
        self._workspace: _Workspace | None = None  # training's (see _training_workspace)
        self._workspace_lock = threading.Lock()
        self._scratch = _ForwardScratch(self.layer_sizes, self.dtype)
        self._scratch_lock = threading.Lock()

    def _workspace_for(self, n_rows: int) -> _Workspace:
        if self._workspace is None or self._workspace.capacity < n_rows:
            self._workspace = _Workspace(n_rows, self.layer_sizes, self.dtype)
        return self._workspace

    def _training_workspace(self, n_rows: int, writes_network: bool = True):
        """The training workspace for ``n_rows`` rows, held by this call alone.

        A call that writes :attr:`params` or :attr:`grads` (an epoch, a
        gradient) waits for the workspace, so concurrent fits on one network
        run their epochs one after the other.  A loss alone (``writes_network``
        False) takes a workspace of its own instead when the network's is
        busy.  Without this, a :meth:`loss` called from another thread during
        a fit wrote into the fit's activations: the fitted parameters came out
        wrong by up to 1.2 in a test, with no error.
        """
        return _held_or_own(self._workspace_lock, lambda: self._workspace_for(n_rows),
                            lambda: _Workspace(n_rows, self.layer_sizes, self.dtype),
                            wait=writes_network)

    # ----------------------------------------------------------------- forward
    def forward(self, X: ArrayLike) -> np.ndarray:
        """Output activations for ``X``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features) and the network's dtype

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            Class probabilities (softmax/sigmoid outputs) or values (identity).

        Raises
        ------
        ValueError
            If ``X`` holds NaN or infinite values, or if finite values of
            ``X`` overflow the network's dtype on the way to the outputs
            or to the logits under them (or its parameters are not finite):
            NaN outputs made :meth:`predict` answer class 0 without an
            error, and -inf logits a confident class.
        """
        X = check.check_features(X, self.layer_sizes[0], self.dtype)
        out, n_nonfinite = self._outputs(X, count_nonfinite=True)
        check.raise_if_nonfinite(n_nonfinite)
        self._check_outputs(out)
        return out

    def _check_outputs(self, out: np.ndarray) -> None:
        """ValueError if outputs of finite inputs are NaN or infinite: finite values of X
        that overflow the dtype in the products (or non-finite parameters) made NaN
        probabilities, and ``predict`` answered class 0 without an error.  A pass over
        ``out`` (n x n_outputs), cheap next to the products."""
        if np.isfinite(out).all():
            return
        if not np.isfinite(self.params).all():
            raise ValueError("the network's parameters hold NaN or infinite values")
        n_bad = int(np.count_nonzero(~np.isfinite(out).all(axis=1)))
        raise ValueError(f"the outputs of {n_bad} row(s) of X are NaN or infinite: their "
                         f"values overflow {self.dtype.name} in the network's products; "
                         f"rescale X")

    def _forward(self, X: np.ndarray) -> np.ndarray:
        """:meth:`forward` of an already validated C-contiguous ``X`` (finite values)."""
        return self._outputs(X, count_nonfinite=False)[0]

    def _outputs(self, X: np.ndarray, count_nonfinite: bool) -> tuple[np.ndarray, int]:
        """Outputs for a C-contiguous ``X`` of the right shape and dtype.

        Returns the ``(n_samples, n_outputs)`` outputs and, with
        ``count_nonfinite``, the number of NaN/inf entries of ``X`` (else
        0).  Where there are some, the outputs are meaningless; the caller
        raises.  Nothing of the network is modified.
        """
        n = X.shape[0]
        out = np.empty((n, self.layer_sizes[-1]), self.dtype)
        block_rows = _forward_block_rows(n)
        with (self._forward_scratch() as scratch, _config.parallel_slot() as parallel,
              self._one_thread_blas(n) as one_thread):
            # A call that finds the pool taken (another Python thread), or BLAS
            # not held to one thread, runs serially; the blocks, hence the
            # results, are the same.
            n_workers = (_config.get_num_threads()
                         if parallel and one_thread and n > block_rows and self._uses_pool(n)
                         else 1)
            kernel = trainer.forward_in_blocks.parallel if n_workers > 1 else \
                trainer.forward_in_blocks.serial
            return out, self._forward_in_blocks(kernel, n_workers, X, out, scratch,
                                                count_nonfinite, block_rows)

    def _one_thread_blas(self, n_rows: int):
        """Context limiting BLAS to the calling thread for products of ``n_rows`` rows; yields
        whether BLAS runs on one thread (see ``_adaptive.blas_limited_to_one``)."""
        work = n_rows * max(a * b for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        return (_adaptive.blas_limited_to_one() if work > _BLAS_THREADS_MIN_WORK
                else nullcontext(True))

    def _forward_scratch(self):
        """The network's forward workspaces, or new ones while another thread uses them.

        Concurrent :meth:`forward` calls (threads sharing a model, e.g. a
        threaded Dask scheduler) must not share scratch memory: they gave
        wrong outputs when they did.
        """
        return _held_or_own(self._scratch_lock, lambda: self._scratch,
                            lambda: _ForwardScratch(self.layer_sizes, self.dtype))

    def _forward_in_blocks(self, kernel, n_workers: int, X: np.ndarray, out: np.ndarray,
                           scratch: _ForwardScratch, count_nonfinite: bool,
                           block_rows: int) -> int:
        """Run a variant of ``trainer.forward_in_blocks`` with ``n_workers`` (see ``_BLOCK_ROWS``)."""
        next_block = np.zeros(1, np.int64)  # the kernel's shared counter
        return kernel(X, self.params, self._net, scratch.workers(n_workers),
                      scratch.block_offsets, True, self.loss_code, out, block_rows,
                      count_nonfinite, next_block)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class index (softmax), 0/1 per output (sigmoid) or values (identity).

        Returns
        -------
        ndarray of shape (n_samples,) for softmax, else (n_samples, n_outputs)
        """
        out = self.forward(X)
        if self.loss_code == SOFTMAX_CROSS_ENTROPY:
            return out.argmax(axis=1)
        if self.loss_code == BINARY_CROSS_ENTROPY:
            return (out >= 0.5).astype(np.int64)
        return out

    # ---------------------------------------------------------------- backward
    def loss_and_gradient(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                          *, indices: ArrayLike | None = None) -> tuple[float, np.ndarray]:
        """Loss and its gradient with respect to :attr:`params` (backpropagation).

        Parameters
        ----------
        X : array of shape (n_samples, n_features) and the network's dtype
        y : array of shape (n_samples, n_outputs), or (n_samples,) for one output
            Targets: one-hot or probability rows for softmax, values in [0, 1]
            for sigmoid, real values for identity.
        sample_weight : array of shape (n_samples,), optional
            Non-negative weights; the loss is the weighted mean over samples.
        indices : array of int of shape (batch_size,), optional
            Rows of ``X``/``y``/``sample_weight`` forming the batch.  They
            are gathered into a reused buffer: ``X`` is never copied.

        Returns
        -------
        loss : float
            Mean loss over the batch (no regularisation term).
        grads : ndarray of shape (n_params,)
            The gradient, in :attr:`grads` (the same array on every call,
            overwritten by the next one; copy it to keep it).
        """
        X = check.check_features(X, self.layer_sizes[0], self.dtype)
        n_total = X.shape[0]
        if indices is not None:
            # Only the batch's targets and weights are validated and copied,
            # so a loop over batches costs O(batch), not O(n_samples), per call.
            indices = check.check_indices(indices, n_total)
            y = check.take_rows(y, indices, n_total, "y")
            if sample_weight is not None:
                sample_weight = check.take_rows(sample_weight, indices, n_total, "sample_weight")
        n_rows = n_total if indices is None else indices.shape[0]
        Y = check.check_targets(y, n_rows, self.layer_sizes[-1], self.dtype,
                                probabilities=self.loss_code != SQUARED_ERROR)
        weights = check.check_sample_weight(sample_weight, n_rows, self.dtype)
        if indices is None:
            check.check_finite(X)
        return self._batch_loss_and_gradient(X, Y, weights, indices), self.grads

    def loss(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> float:
        """Mean loss over ``X`` (no gradient); arguments as :meth:`loss_and_gradient`."""
        X = check.check_features(X, self.layer_sizes[0], self.dtype)
        Y = check.check_targets(y, X.shape[0], self.layer_sizes[-1], self.dtype,
                                probabilities=self.loss_code != SQUARED_ERROR)
        weights = check.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        check.check_finite(X)
        # Small inputs on one BLAS thread, as in forward: OpenBLAS's threads
        # would keep spinning after the products and slow the next epoch.
        small = X.shape[0] < _BLOCKS_MIN_ROWS
        with self._one_thread_blas(X.shape[0]) if small else nullcontext():
            return self._batch_loss_and_gradient(X, Y, weights, None, gradient=False)

    def _batch_loss_and_gradient(self, X, Y, weights, indices, gradient: bool = True) -> float:
        """Loss and gradient (into :attr:`grads`) of the rows ``indices`` of ``X`` (None: all).

        ``X``, ``Y`` and ``weights`` (or None) are already validated; ``Y``
        and ``weights`` hold the batch's rows only (``indices`` selects rows
        of ``X`` alone).  The gathered rows of ``X`` are still checked for
        NaN/inf, at no extra pass.  With ``gradient=False`` only the loss is
        computed.
        """
        n = X.shape[0] if indices is None else indices.shape[0]
        with self._training_workspace(n, writes_network=gradient) as ws, subnormals_flushed():
            return self._loss_and_gradient_in(ws, X, Y, weights, indices, gradient)

    def _loss_and_gradient_in(self, ws: _Workspace, X, Y, weights, indices,
                              gradient: bool) -> float:
        """:meth:`_batch_loss_and_gradient` in the workspace ``ws``."""
        n = X.shape[0] if indices is None else indices.shape[0]
        if indices is None:
            inputs, targets = X, Y
            sw = ws.buffers[6][:n] if weights is None else weights
        else:
            inputs, targets = ws.rows(3, n, X.shape[1]), Y
            n_bad = _config.run(kernels.gather_rows, X, indices, inputs)
            if n_bad:
                raise ValueError(f"X contains {n_bad} NaN or infinite value(s) in the rows of this batch")
            sw = ws.buffers[6][:n] if weights is None else weights
        if not sw.sum() > 0:
            raise ValueError("sample_weight must have a positive sum over the batch")
        with _config.parallel_slot() as parallel:
            return float(self._fused(parallel, n).loss_and_gradient(
                inputs, targets, sw, self.params, self.grads, self._net, ws.buffers,
                self.loss_code, gradient))

    def _thread_tuner(self, batch_size: int):
        """This network's :class:`~fastnn._adaptive.ThreadTuner` for ``batch_size`` (None: fixed)."""
        if not (_config.adaptive() and self._uses_pool(batch_size)):
            return None
        return _adaptive.tuner_for((tuple(self.layer_sizes), self.dtype.name, batch_size),
                                   _config.get_num_threads())

    def _fused(self, parallel: bool, n_rows: int, optimizer: int = trainer.SGD,
               sample_major: bool = False):
        """The fused kernels for batches of ``n_rows`` (see ``PARALLEL_ELEMENTWISE``).

        Batches whose every matrix is below the kernels' parallel threshold
        would run serial kernels anyway; the serial family gives the same
        results without compiling (or waking) any parallel kernel.  Batches
        of up to ``FEATURE_MAJOR_MAX_ROWS`` rows train feature-major, unless
        ``sample_major`` (for ``forward_pass``, sample-major in every family:
        it then compiles once).
        """
        return trainer.family(parallel and PARALLEL_ELEMENTWISE and self._uses_pool(n_rows),
                              optimizer, not sample_major and _feature_major(n_rows))

    def _uses_pool(self, n_rows: int) -> bool:
        """Whether batches of ``n_rows`` have a matrix big enough for the parallel kernels."""
        return max(n_rows * max(self.layer_sizes), self.params.size) >= trainer._PARALLEL_MIN

    def _train_epoch(self, X, Y, weights, order, batch_size: int, optimizer, alpha: float,
                     loss_scale: float, stepwise: bool = False, clock=None,
                     kept_batch: int | None = None, loss_so_far: float = 0.0) -> float:
        """One fused epoch (see :func:`fastnn.training.run_epoch`); NaN if it diverged.

        With ``stepwise`` the same epoch runs as Python over the compiled
        kernels (``kernels.trainer.stepwise``): same results, no fused epoch
        to compile, for jobs of a few batches.  ``clock``: an int64 array of
        shape (threads, len(data_parallel.PHASES), n_layers) to which the
        segments trained by rows add their ticks per phase (``fastnn.profile``).
        ``kept_batch``, ``loss_so_far``: see :func:`fastnn.training.run_epoch`.
        """
        if order is None and not (X.flags.c_contiguous and Y.flags.c_contiguous):
            order = np.arange(X.shape[0], dtype=np.int64)  # gather: one compiled step per dtype
        n = X.shape[0] if order is None else order.shape[0]
        if kept_batch is None:
            kept_batch = last_weighted_batch(weights, order, n, batch_size)
        with self._training_workspace(min(batch_size, n)) as ws, subnormals_flushed():
            code, state1, state2, t, hyper = optimizer._fused_state()
            hyper[6:8] = alpha, loss_scale
            has_weights = weights is not None
            tuner = self._thread_tuner(batch_size)
            total, status = loss_so_far, 0
            by_rows = not stepwise and self._trains_by_rows(batch_size)
            if by_rows and order is None:
                order = np.arange(X.shape[0], dtype=np.int64)
            floor = 0 if tuner is None else tuner.min_segment_rows()
            short = n if tuner is None else _adaptive.segment_rows(n, batch_size, None, floor)
            long = (_adaptive.segment_rows(n, batch_size, _adaptive.SEGMENTS_PER_EPOCH_BY_ROWS,
                                           floor)
                    if tuner is not None and by_rows else short)
            # Segments of whole batches: the same batches and updates as one call,
            # bit for bit (only the segment that holds the kept batch keeps its gradient).
            stop = 0
            while stop < n:
                start = stop
                stop = min(start + (long if tuner is not None and tuner.all_threads_next()
                                    else short), n)
                hyper[9] = kept_batch - start if start <= kept_batch < stop else -1.0
                # The kernels add this segment's batches to the loss so far: summed
                # in one call's order, the loss does not depend on where the tuner cut.
                hyper[10] = total
                with _adaptive.tuned_slot(tuner, stop - start) as parallel:
                    fused = (trainer.stepwise(code, _feature_major(batch_size)) if stepwise
                             else self._fused(parallel, batch_size, code))
                    done = (self._segment_by_rows(X, Y, weights, order[start:stop], batch_size,
                                                  ws, code, hyper, state1, state2, t, clock)
                            if parallel and by_rows else None)
                    if done is not None:
                        part, t, status = done
                    elif order is None:
                        part, t, status = fused.train_epoch_in_order(
                            X[start:stop], Y[start:stop],
                            ws.buffers[6] if weights is None else weights[start:stop], has_weights,
                            batch_size, self.params, self.grads, self._net, ws.buffers,
                            self.loss_code, hyper, state1, state2, t, self.n_weights)
                    else:
                        part, t, status = fused.train_epoch_gathered(
                            X, Y, ws.buffers[6] if weights is None else weights, has_weights,
                            order[start:stop], batch_size, self.params, self.grads, self._net,
                            ws.buffers, self.loss_code, hyper, state1, state2, t, self.n_weights)
                total = part
                if status:
                    break
            optimizer._fused_done(t)
            if status == 2:
                raise NonFiniteRows("X contains NaN or infinite value(s) in the rows of a batch")
            return total if status == 0 else float("nan")

    def _trains_by_rows(self, batch_size: int) -> bool:
        """Whether epochs with this batch size run ``kernels.data_parallel`` when they may use
        several threads (see ``DATA_PARALLEL_MIN_ROWS`` and the small-batch rule below it)."""
        n_threads = _config.get_num_threads()
        if not DATA_PARALLEL or n_threads < 2:
            return False
        if batch_size >= DATA_PARALLEL_MIN_ROWS:
            return True
        first = self.layer_sizes[0] * self.layer_sizes[1]
        return (first >= SMALL_BATCH_MIN_FIRST_LAYER_WEIGHTS
                and first >= SMALL_BATCH_MIN_FIRST_LAYER_SHARE * self.n_weights
                and self._depth_split(batch_size, {batch_size})[0] > 0)

    def _depth_split(self, batch_size: int, row_counts) -> tuple[int, int]:
        """``(k_split, k_split2)`` of the first layer for training by rows on the pool's
        threads, batches of ``batch_size`` (``row_counts``: the batch lengths to probe), or
        ``(0, 0)``: see ``DEPTH_SPLIT_MAX_ROWS`` and ``THREE_BLOCKS_MAX_ROWS``."""
        if _config.get_num_threads() != 2 or batch_size > DEPTH_SPLIT_MAX_ROWS:
            return 0, 0
        split = _first_layer_split(self.dtype, self.layer_sizes[0], self.layer_sizes[1],
                                   row_counts)
        return (0, 0) if split[1] and batch_size > THREE_BLOCKS_MAX_ROWS else split

    def _segment_by_rows(self, X, Y, weights, order, batch_size: int, ws, code: int, hyper,
                         state1, state2, t: int, clock=None):
        """The batches of ``X[order]`` with ``kernels.data_parallel``: (total, t, status), or
        None if its workers did not all run at once or BLAS could not be held to one thread
        (see ``_adaptive.blas_limited_to_one``; nothing done).  ``clock``: see
        :meth:`_train_epoch` (None: a scratch one)."""
        n_workers = _config.get_num_threads()
        if clock is None or clock.shape[0] != n_workers:
            clock = np.zeros((n_workers, len(data_parallel.PHASES), len(self.coefs)), np.int64)
        with _adaptive.blas_limited_to_one() as one_thread:
            if not one_thread:
                return None
            last = (order.shape[0] - 1) % batch_size + 1
            k_split, k_split2 = self._depth_split(batch_size, {batch_size, last})
            total, t, status = data_parallel.train_epoch_data_parallel(
                X, Y, ws.buffers[6] if weights is None else weights, weights is not None, order,
                batch_size, self.params, self.grads, self._net, ws.buffers, self.loss_code,
                code, hyper, state1, state2, t, self.n_weights, n_workers, clock, k_split,
                k_split2)
        _data_parallel_checked_in(status != 3)
        return None if status == 3 else (total, t, status)

    def __getstate__(self) -> dict:
        # Pickle the flat buffers only: per-layer views would come back as
        # independent copies, and the workspace is scratch memory.
        state = self.__dict__.copy()
        for derived in ("coefs", "intercepts", "coef_grads", "intercept_grads", "_workspace",
                        "_workspace_lock", "_scratch", "_scratch_lock", "_net"):
            state.pop(derived)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        shapes = list(zip(self.layer_sizes[:-1], self.layer_sizes[1:]))
        self.coefs, self.intercepts = _layer_views(self.params, shapes)
        self.coef_grads, self.intercept_grads = _layer_views(self.grads, shapes)
        self._net = self._structure()
        self._new_scratch()

    def __repr__(self) -> str:
        return (f"Network(layer_sizes={self.layer_sizes}, activations={self.activations}, "
                f"output={self.output!r}, dtype={self.dtype.name})")


def last_weighted_batch(weights, order, n: int, batch_size: int) -> int:
    """Row offset of the start of the last batch of an epoch that steps: the last one
    whose sample weights are not all 0 as the kernels read them; -1 if there is none.

    The epoch visits ``weights[order]`` (``order`` None: ``weights[:n]`` in
    sequence) in batches of ``batch_size``; ``weights`` None: the last batch.
    The kernels skip a batch whose weights sum to 0 (``trainer._train_step``)
    and read subnormal weights as 0 where they flush subnormals
    (``kernels.fpenv``): those count as 0 here too.  Plain SGD does not fuse
    its step into that batch (``hyper[9]`` of ``trainer.train_epoch_gathered``),
    so that ``grads`` holds the gradient of the epoch's last step afterwards,
    as with every other optimizer.  Costs a look at the last batch's weights,
    or at all of them if that one is weightless.
    """
    last = (n - 1) // batch_size * batch_size if n > 0 else -1
    if weights is None or n == 0:
        return last
    floor = fpenv.smallest_weight_read(weights.dtype)  # weights are >= 0

    def weighted(rows):
        return np.flatnonzero((weights[rows] if order is None else weights[order[rows]]) >= floor)

    if weighted(slice(last, n)).size:
        return last
    found = weighted(slice(0, last))
    return -1 if found.size == 0 else int(found[-1]) // batch_size * batch_size


def _first_layer_split(dtype, fan_in: int, fan_out: int, row_counts) -> tuple[int, int]:
    """Where two threads split the first layer's product by depth: ``(k_split, k_split2)``.

    OpenBLAS's drivers cut a depth ``k`` into blocks of their ``Q`` while
    ``2 Q`` or more are left, then what is left into two halves rounded up to
    a multiple of their unroll (when over ``Q``).  The candidates, in order:
    two blocks, cut at half the depth rounded up to a multiple of 1 to 64
    (``k_split2`` 0); three blocks, the first half the depth rounded down to
    a multiple of 16 to 64 (a ``Q`` just under it) and the rest cut at its
    half rounded up likewise.  The first whose products, summed in that
    order, equal the whole product to the bit for every row count of
    ``row_counts`` (``data_parallel.depth_split_rounds_alike`` on random
    data; a different blocking shows in the last bits almost surely).
    ``(0, 0)`` if none does: the first layer is then shared by rows.  Probed
    once per dtype and shape in the process, with BLAS held to one thread
    (``(0, 0)``, not kept, if another Python thread holds BLAS's thread
    count), on at most 1,024 of the layer's units: OpenBLAS cuts the depth
    the same way for any number of columns, and a product too small for its
    blocked path only makes the probe say no.
    """
    key = (np.dtype(dtype).str, fan_in, fan_out, tuple(sorted(row_counts)))
    if key in _depth_splits:
        return _depth_splits[key]
    with _adaptive.blas_limited_to_one() as one_thread:
        if not one_thread:
            return 0, 0
        rng = np.random.default_rng(0)
        W = rng.uniform(-1.0, 1.0, (fan_in, min(fan_out, 1024))).astype(dtype)
        samples = [rng.uniform(-1.0, 1.0, (n, fan_in)).astype(dtype) for n in key[3]]
        _depth_splits[key] = next(
            ((split, split2) for split, split2 in _depth_cut_candidates(fan_in)
             if all(data_parallel.depth_split_rounds_alike(A, W, split, split2)
                    for A in samples)), (0, 0))
        return _depth_splits[key]


def _depth_cut_candidates(depth: int) -> list[tuple[int, int]]:
    """``(k_split, k_split2)`` pairs for :func:`_first_layer_split`, in the order tried."""
    units = (1, 2, 4, 8, 16, 32, 64)
    half = depth // 2
    pairs = [(split, 0) for split in sorted({-(-half // unit) * unit for unit in units})]
    for first in sorted({half // unit * unit for unit in (16, 32, 64)}, reverse=True):
        rest = (depth - first) // 2
        pairs += [(first, first + second)
                  for second in sorted({-(-rest // unit) * unit for unit in units})]
    return [(a, b) for a, b in pairs if 0 < a < depth and (b == 0 or a < b < depth)]


_check_in_failures = 0


def _data_parallel_checked_in(ok: bool) -> None:
    """Count failed check-ins in a row; after ``DATA_PARALLEL_MAX_FAILURES``, stop trying."""
    global DATA_PARALLEL, _check_in_failures
    _check_in_failures = 0 if ok else _check_in_failures + 1
    if _check_in_failures >= DATA_PARALLEL_MAX_FAILURES:
        DATA_PARALLEL = False


def _feature_major(n_rows: int) -> bool:
    """Whether training steps on batches of ``n_rows`` rows run feature-major."""
    return n_rows <= FEATURE_MAJOR_MAX_ROWS


def _forward_block_rows(n_rows: int) -> int:
    """Rows per block of :meth:`Network.forward` on ``n_rows`` rows (see ``_BLOCK_ROWS``).

    A function of ``n_rows`` only, so every thread count runs the same
    blocks and gives the same bits.
    """
    if n_rows >= _BLOCKS_MIN_ROWS:
        return _BLOCK_ROWS
    n_blocks = _SMALL_BLOCKS * -(-n_rows // (_SMALL_BLOCKS * _BLOCK_ROWS))
    return max(_MIN_BLOCK_ROWS, -(-n_rows // max(n_blocks, 1)))


def _check_layer_sizes(layer_sizes) -> list[int]:
    if isinstance(layer_sizes, np.ndarray) and layer_sizes.ndim == 1:
        layer_sizes = layer_sizes.tolist()  # np.array([784, 256, 10]) is not a Sequence
    if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
        raise TypeError(f"layer_sizes must be a sequence of ints, got {layer_sizes!r}")
    sizes = [check.check_positive_int(size, "layer_sizes entries") for size in layer_sizes]
    if len(sizes) < 2:
        raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes}")
    return sizes


def _layer_views(flat: np.ndarray, shapes):
    """Per-layer weight matrices and bias vectors as views of ``flat`` (weights first)."""
    coefs, intercepts = [], []
    offset = 0
    for fan_in, fan_out in shapes:
        coefs.append(flat[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
    for _, fan_out in shapes:
        intercepts.append(flat[offset:offset + fan_out])
        offset += fan_out
    return coefs, intercepts
