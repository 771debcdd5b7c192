"""Network-level benchmarks on an MNIST-shaped problem (synthetic, 20_000 x 784).

One training step is what a training loop does per mini-batch:
``Network.loss_and_gradient(X, Y, indices=batch)`` (the batch is gathered
from ``X`` by shuffled indices; ``X`` is never copied) followed by one
``sgd_update`` of the flat parameter vector.  Network 784-256-128-10, ReLU
hidden units, softmax output.

``time_train`` covers an epoch *subset* (the first ``SUBSET_ROWS`` rows of a
shuffled epoch) to keep the suite short; ``track_train_gflops`` converts it to
GFLOP/s and ``peakmem_train_epoch`` runs a whole epoch.
"""
import numpy as np

import fastnn
from fastnn import _config, kernels

from .common import (DTYPES, LAYERS, N_SAMPLES, best_time, check_pool_usable, forward_flops,
                     mnist_like, training_flops)

BATCH_SIZES = [32, 128, 512]
SUBSET_ROWS = 4096  # 128 batches of 32, 32 of 128, 8 of 512
LEARNING_RATE = 1e-3


def _network(dtype):
    return fastnn.Network(LAYERS, "relu", "softmax", dtype=np.dtype(dtype), random_state=0)


def _train(net, X, Y, batches):
    """One SGD step per batch of indices; returns the last loss."""
    loss = None
    for batch in batches:
        loss, grads = net.loss_and_gradient(X, Y, indices=batch)
        _config.run(kernels.sgd_update, net.params, grads, LEARNING_RATE, 0.0, net.n_weights)
    return loss


def _batches(order, batch_size, n_rows):
    return [order[start:start + batch_size] for start in range(0, n_rows - batch_size + 1,
                                                               batch_size)]


class Train:
    """SGD steps over an epoch subset of 4096 rows."""

    params = [DTYPES, BATCH_SIZES]
    param_names = ["dtype", "batch_size"]

    def setup(self, dtype, batch_size):
        check_pool_usable()
        self.X, self.Y = mnist_like(dtype)
        self.net = _network(dtype)
        order = np.random.default_rng(0).permutation(N_SAMPLES)
        self.batches = _batches(order, batch_size, SUBSET_ROWS)
        _train(self.net, self.X, self.Y, self.batches[:1])  # compile / load cache, allocate

    def time_train(self, dtype, batch_size):
        _train(self.net, self.X, self.Y, self.batches)

    def track_train_gflops(self, dtype, batch_size):
        n_rows = sum(len(b) for b in self.batches)
        seconds = best_time(lambda: _train(self.net, self.X, self.Y, self.batches), repeats=3)
        return training_flops(LAYERS, n_rows) / seconds / 1e9

    track_train_gflops.unit = "GFLOP/s"


class Products:
    """The matrix products alone of the same training steps as ``Train``.

    ``kernels.trainer.matrix_products`` (what ``fastnn profile`` reports as
    the floor of an epoch with this BLAS) on one real batch's inputs,
    activations and deltas.
    """

    params = [DTYPES, BATCH_SIZES]
    param_names = ["dtype", "batch_size"]

    def setup(self, dtype, batch_size):
        check_pool_usable()
        X, Y = mnist_like(dtype)
        self.net = _network(dtype)
        self.net.loss_and_gradient(X, Y, indices=np.arange(batch_size))  # fills the workspace
        self.buffers = self.net._workspace_for(batch_size).buffers
        self.scratch = np.empty_like(self.net.grads)
        self.batch_size, self.n_batches = batch_size, SUBSET_ROWS // batch_size
        self._products(1)  # compile / load cache

    def _products(self, n_batches):
        products = self.net._fused(False, self.batch_size).matrix_products  # training's layout
        return products(self.net.params, self.scratch, self.net._net, self.buffers,
                        self.batch_size, n_batches)

    def time_matrix_products(self, dtype, batch_size):
        self._products(self.n_batches)

    def track_matrix_products_gflops(self, dtype, batch_size):
        seconds = best_time(lambda: self._products(self.n_batches), repeats=3)
        return training_flops(LAYERS, self.n_batches * batch_size) / seconds / 1e9

    track_matrix_products_gflops.unit = "GFLOP/s"


class _SubsetEpoch:
    """Set-up shared by the fused-epoch benchmarks: the epoch subset of ``Train``, a fresh
    network and SGD, and the thread count fixed (in set-up, not in the timed call:
    threadpoolctl's scan)."""

    def _prepare(self, dtype, batch_size, threads):
        check_pool_usable()
        if threads > fastnn.threading_info()["max_threads"]:
            raise NotImplementedError(f"needs {threads} threads")
        X, Y = mnist_like(dtype)
        self.X, self.Y, self.X_rest = X[:SUBSET_ROWS], Y[:SUBSET_ROWS], X[SUBSET_ROWS:]
        self.net = _network(dtype)
        self.optimizer = fastnn.SGD(self.net, lr=LEARNING_RATE)
        self.order = np.random.default_rng(0).permutation(SUBSET_ROWS)
        self.batch_size = batch_size
        fastnn.set_num_threads(threads)

    def teardown(self, *params):
        fastnn.set_num_threads("auto")

    def _epoch(self):
        from fastnn.training import run_epoch

        return run_epoch(self.net, self.X, self.Y, None, self.order, self.batch_size,
                         self.optimizer)


class FusedEpoch(_SubsetEpoch):
    """``training.run_epoch`` (one compiled call) over the same epoch subset as ``Train``.

    On several threads, batches of 128 rows or more train by rows
    (``kernels.data_parallel``); on one thread the serial fused epoch runs.
    """

    params = [DTYPES, [128, 512], [1, 2]]
    param_names = ["dtype", "batch_size", "threads"]

    def setup(self, dtype, batch_size, threads):
        self._prepare(dtype, batch_size, threads)
        self._epoch()  # compile / load cache, allocate

    def time_fused_epoch(self, dtype, batch_size, threads):
        self._epoch()

    def track_fused_epoch_gflops(self, dtype, batch_size, threads):
        seconds = best_time(self._epoch, repeats=3)
        return training_flops(LAYERS, SUBSET_ROWS) / seconds / 1e9

    track_fused_epoch_gflops.unit = "GFLOP/s"


class EpochAfterForward(_SubsetEpoch):
    """A training epoch (batch 256) right after a ``forward`` of 1,000 rows (a validation
    check between ``partial_fit`` calls), on 2 threads.

    Work that leaves OpenBLAS's threads spinning (they wait about 0.1 s for
    the next product) slows the epoch that follows: ``track_slowdown`` is
    the epoch's best time after such a forward over its best time alone
    (1.0: no effect; 1.8-2.1 on 2 cores when inputs under 2,048 rows ran through
    OpenBLAS's threads, before 2026-11-30).
    """

    params = [DTYPES]
    param_names = ["dtype"]
    check_rows = 1000
    repeats = 7

    def setup(self, dtype):
        self._prepare(dtype, batch_size=256, threads=2)
        self.X_check = self.X_rest[:self.check_rows]
        self.net.forward(self.X_check)  # compile / load cache, allocate
        self._epoch()

    def time_forward_then_epoch(self, dtype):
        self.net.forward(self.X_check)
        self._epoch()

    def track_slowdown(self, dtype):
        alone = best_time(self._epoch, repeats=self.repeats)
        after = float("inf")
        for _ in range(self.repeats):
            self.net.forward(self.X_check)
            after = min(after, best_time(self._epoch, repeats=1))
        return after / alone

    track_slowdown.unit = "ratio"


class TrainEpoch:
    """Peak memory of one whole training epoch (20_000 rows, batches of 128)."""

    params = [DTYPES]
    param_names = ["dtype"]
    timeout = 300

    def setup(self, dtype):
        check_pool_usable()
        self.X, self.Y = mnist_like(dtype)
        self.net = _network(dtype)
        order = np.random.default_rng(0).permutation(N_SAMPLES)
        self.batches = _batches(order, 128, N_SAMPLES)
        _train(self.net, self.X, self.Y, self.batches[:1])

    def peakmem_train_epoch(self, dtype):
        _train(self.net, self.X, self.Y, self.batches)


class Forward:
    """Inference: ``Network.forward`` on all 20_000 rows (by blocks, see ``network._BLOCK_ROWS``)."""

    params = [DTYPES]
    param_names = ["dtype"]

    def setup(self, dtype):
        check_pool_usable()
        self.X, _ = mnist_like(dtype)
        self.net = _network(dtype)
        self.net.forward(self.X)  # the path of 2,048 rows and more: compile / load it now

    def time_forward(self, dtype):
        self.net.forward(self.X)

    def track_forward_gflops(self, dtype):
        seconds = best_time(lambda: self.net.forward(self.X), repeats=5)
        return forward_flops(LAYERS, self.X.shape[0]) / seconds / 1e9

    track_forward_gflops.unit = "GFLOP/s"


class ConvergedEpoch:
    """A ``partial_fit`` epoch of an ``MLPClassifier`` that has fit its data, against the
    first epoch of a fresh one.

    The digits (scikit-learn's, no download) tiled to 36,000 rows, float32,
    hidden layers 256-128, the estimator's defaults otherwise (ReLU, Adam,
    batches of 200).  Confidently classified rows make the backward products
    build subnormal partial sums; ``kernels.fpenv`` flushes them to zero.
    ``track_converged_over_fresh``: the converged epoch's best time over the
    fresh one's (2 cores, 2026-11-30: 0.96-1.07 with the flush, 2.35-2.46 on
    the code before it, eb9c0db).
    """

    params = [["float32"]]
    param_names = ["dtype"]
    epochs_to_converge = 30
    timeout = 300

    def setup(self, dtype):
        from sklearn.datasets import load_digits

        check_pool_usable()
        X, y = load_digits(return_X_y=True)
        self.X, self.y = np.tile(X / 16.0, (20, 1)).astype(dtype), np.tile(y, 20)
        self.converged = self._fitted(self.epochs_to_converge)

    def _fitted(self, epochs):
        est = fastnn.MLPClassifier(hidden_layer_sizes=(256, 128), random_state=0)
        est.partial_fit(self.X, self.y, classes=np.arange(10))
        for _ in range(epochs - 1):
            est.partial_fit(self.X, self.y)
        return est

    def time_converged_epoch(self, dtype):
        self.converged.partial_fit(self.X, self.y)

    def track_converged_over_fresh(self, dtype):
        fresh = min(best_time(lambda: self._fitted(1), repeats=1) for _ in range(3))
        converged = best_time(lambda: self.converged.partial_fit(self.X, self.y), repeats=3)
        return converged / fresh

    track_converged_over_fresh.unit = "ratio"
