"""Kernel-level benchmarks: each fastnn kernel alone, steady state.

Kernels run through ``fastnn._config.run`` as the API runs them (parallel
variant unless ``fastnn.set_num_threads(1)``).  ``setup()`` builds the arrays
and calls the kernel once, so compilation (or loading it from Numba's cache)
is never timed.  Shapes are those of the MNIST-shaped network
784-256-128-10 of bench_network.py.
"""
import numpy as np

from fastnn import _config, kernels
from fastnn.kernels.activations import ACTIVATION_CODES, RELU
from fastnn.kernels.losses import LOSS_CODES

from .common import DTYPES, LAYERS, N_PARAMS, best_time, check_pool_usable, mnist_like

ACTIVATIONS = ["sigmoid", "tanh", "relu", "softplus"]
ACT_SHAPE = (2048, 256)  # a hidden layer's activations for a large batch


def _rng():
    return np.random.default_rng(42)


class Activation:
    """``activation_forward`` and ``activation_backward_inplace`` on (2048, 256)."""

    params = [DTYPES, ACTIVATIONS]
    param_names = ["dtype", "activation"]

    def setup(self, dtype, activation):
        check_pool_usable()
        rng = _rng()
        self.code = ACTIVATION_CODES[activation]
        self.param = 1.0
        self.Z = rng.standard_normal(ACT_SHAPE).astype(dtype)
        self.out = np.empty_like(self.Z)
        self.A = np.empty_like(self.Z)
        _config.run(kernels.activation_forward, self.Z, self.code, self.param, self.A)
        # The backward kernel works in place: every sample starts from a fresh
        # delta, so repeated calls never drive it into denormal numbers.
        self.delta = rng.standard_normal(ACT_SHAPE).astype(dtype)
        _config.run(kernels.activation_backward_inplace, self.delta, self.A, self.code,
                    self.param)

    def time_forward(self, dtype, activation):
        _config.run(kernels.activation_forward, self.Z, self.code, self.param, self.out)

    def time_backward_inplace(self, dtype, activation):
        _config.run(kernels.activation_backward_inplace, self.delta, self.A, self.code,
                    self.param)


class Dense:
    """``dense_forward`` / ``dense_backward`` of the 784 -> 256 ReLU layer.

    ``track_*`` report GFLOP/s of the matrix products (``2 n n_in n_out``
    per GEMM: one forward; ``dW`` and ``delta_prev`` backward), from the
    best of 5 calls.
    """

    params = [DTYPES, [128, 1024]]
    param_names = ["dtype", "batch"]

    def setup(self, dtype, batch):
        check_pool_usable()
        rng = _rng()
        n_in, n_out = LAYERS[0], LAYERS[1]
        self.n, self.n_in, self.n_out = batch, n_in, n_out
        self.A = rng.random((batch, n_in)).astype(dtype)  # previous layer: ReLU output >= 0
        self.W = (rng.uniform(-1, 1, (n_in, n_out)) * np.sqrt(6 / n_in)).astype(dtype)
        self.b = np.zeros(n_out, dtype)
        self.out = np.empty((batch, n_out), dtype)
        self.delta = (rng.standard_normal((batch, n_out)) / batch).astype(dtype)
        self.dW = np.empty_like(self.W)
        self.db = np.empty_like(self.b)
        self.delta_prev = np.empty_like(self.A)
        self._arrange()
        self.forward()
        self.backward()

    def _arrange(self):
        """Lay the arrays out as the kernels expect them (here: as built, sample-major)."""

    def forward(self):
        _config.run(kernels.dense_forward, self.A, self.W, self.b, RELU, 0.0, self.out)

    def backward(self):
        _config.run(kernels.dense_backward, self.A, self.W, self.b, self.delta, self.dW,
                    self.db, self.delta_prev, RELU, 0.0, True, 0.0, 0.0)

    def time_dense_forward(self, dtype, batch):
        self.forward()

    def time_dense_backward(self, dtype, batch):
        self.backward()

    def track_dense_forward_gflops(self, dtype, batch):
        return 2 * self.n * self.n_in * self.n_out / best_time(self.forward) / 1e9

    def track_dense_backward_gflops(self, dtype, batch):
        return 2 * 2 * self.n * self.n_in * self.n_out / best_time(self.backward) / 1e9

    track_dense_forward_gflops.unit = "GFLOP/s"
    track_dense_backward_gflops.unit = "GFLOP/s"


class DenseFeatureMajor(Dense):
    """:class:`Dense` with ``dense_forward_feature_major`` / ``dense_backward_feature_major``.

    The same layer and products, every array but ``W`` and ``b`` stored
    transposed, ``(units, n)``: the layout of training steps on batches of
    up to ``network.FEATURE_MAJOR_MAX_ROWS`` rows (batch 32), and at 128 for
    a side-by-side look at :class:`Dense`.
    """

    params = [DTYPES, [32, 128]]

    def _arrange(self):
        self.A = np.ascontiguousarray(self.A.T)
        self.out = np.empty((self.n_out, self.n), self.out.dtype)
        self.delta = np.ascontiguousarray(self.delta.T)
        self.delta_prev = np.empty_like(self.A)

    def forward(self):
        _config.run(kernels.dense_forward_feature_major, self.A, False, self.W, self.b, RELU,
                    0.0, self.out)

    def backward(self):
        _config.run(kernels.dense_backward_feature_major, self.A, False, self.W, self.b,
                    self.delta, self.dW, self.db, self.delta_prev, RELU, 0.0, True, 0.0, 0.0)


class Loss:
    """``loss_forward_backward``: output activation, loss and delta, 2048 x 10."""

    params = [DTYPES, list(LOSS_CODES)]
    param_names = ["dtype", "loss"]

    def setup(self, dtype, loss):
        check_pool_usable()
        rng = _rng()
        n, k = 2048, LAYERS[-1]
        self.code = LOSS_CODES[loss]
        self.Z = rng.standard_normal((n, k)).astype(dtype)
        if loss == "squared_error":
            self.Y = rng.standard_normal((n, k)).astype(dtype)
        elif loss == "binary_cross_entropy":
            self.Y = (rng.random((n, k)) < 0.5).astype(dtype)
        else:
            self.Y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
        self.sw = np.ones(n, dtype)
        self.out = np.empty_like(self.Z)
        self.delta = np.empty_like(self.Z)
        self.sample_loss = np.empty(n, dtype)
        self.time_loss_forward_backward(dtype, loss)

    def time_loss_forward_backward(self, dtype, loss):
        _config.run(kernels.loss_forward_backward, self.code, self.Z, self.Y, self.sw, self.out,
                    self.delta, self.sample_loss)


class Optimizer:
    """One update of the flat 235_146-parameter vector (784-256-128-10)."""

    params = [DTYPES]
    param_names = ["dtype"]

    def setup(self, dtype):
        check_pool_usable()
        rng = _rng()
        self.n_decay = sum(a * b for a, b in zip(LAYERS[:-1], LAYERS[1:]))
        self.p = (rng.standard_normal(N_PARAMS) * 0.05).astype(dtype)
        self.g = (rng.standard_normal(N_PARAMS) * 0.01).astype(dtype)
        self.velocity = np.zeros(N_PARAMS, dtype)
        self.m = np.zeros(N_PARAMS, dtype)
        self.v = np.zeros(N_PARAMS, dtype)
        self.time_sgd_update(dtype)
        self.time_momentum_update(dtype)
        self.time_adam_update(dtype)

    def time_sgd_update(self, dtype):
        _config.run(kernels.sgd_update, self.p, self.g, 1e-3, 1e-4, self.n_decay)

    def time_momentum_update(self, dtype):
        _config.run(kernels.momentum_update, self.p, self.g, self.velocity, 1e-3, 0.9, True,
                    1e-4, self.n_decay)

    def time_adam_update(self, dtype):
        _config.run(kernels.adam_update, self.p, self.g, self.m, self.v, 1e-3, 0.9, 0.999,
                    1e-8, 10, 1e-4, self.n_decay)


class Gather:
    """``gather_rows``: a shuffled batch of 512 rows out of 20_000 x 784."""

    params = [DTYPES]
    param_names = ["dtype"]

    def setup(self, dtype):
        check_pool_usable()
        self.X, _ = mnist_like(dtype)
        self.indices = _rng().permutation(self.X.shape[0])[:512]
        self.out = np.empty((512, self.X.shape[1]), dtype)
        self.time_gather_rows(dtype)

    def time_gather_rows(self, dtype):
        _config.run(kernels.gather_rows, self.X, self.indices, self.out)
