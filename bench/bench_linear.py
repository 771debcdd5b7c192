"""Per-sample linear SGD (``kernels.perceptron.sgd_epoch``) and tiny networks (``kernels.small``).

``setup()`` fits once on a few rows, so compilation (or loading it from
Numba's cache) is never timed.  The linear problem is W3's shape scaled down
(100,000 x 100, 2 epochs); the tiny network is the course's XOR 2-4-1.
"""
import numpy as np

import fastnn

from .common import DTYPES, best_time, check_pool_usable

N_ROWS, N_FEATURES, EPOCHS = 100_000, 100, 2
XOR_EPOCHS = 25_000  # 100,000 per-sample updates


def _linear_problem(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_ROWS, N_FEATURES)).astype(dtype)
    y = (X @ rng.standard_normal(N_FEATURES) + 0.5 * rng.standard_normal(N_ROWS) > 0).astype(int)
    return X, y


class LinearSGD:
    """``Perceptron`` and ``SGDClassifier(loss='log_loss')``: 2 epochs of 100,000 rows."""

    params = [DTYPES, ["perceptron", "log_loss"], [64, 1]]
    param_names = ["dtype", "estimator", "shuffle_block"]

    def setup(self, dtype, estimator, shuffle_block):
        check_pool_usable()
        self.X, self.y = _linear_problem(dtype)
        common = dict(max_iter=EPOCHS, tol=None, random_state=0, shuffle_block=shuffle_block)
        self.est = (fastnn.Perceptron(**common) if estimator == "perceptron" else
                    fastnn.SGDClassifier(loss="log_loss", penalty=None,
                                         learning_rate="constant", eta0=1e-3, **common))
        self.est.fit(self.X[:1000], self.y[:1000])

    def time_fit(self, dtype, estimator, shuffle_block):
        self.est.fit(self.X, self.y)

    def peakmem_fit(self, dtype, estimator, shuffle_block):
        self.est.fit(self.X, self.y)

    def track_accuracy(self, dtype, estimator, shuffle_block):
        return float(self.est.fit(self.X, self.y).score(self.X, self.y))

    track_accuracy.unit = "fraction"


class SmallNetwork:
    """``fastnn.train`` of XOR 2-4-1 with per-sample SGD: all epochs in one kernel call.

    ``kernel``: ``generic`` runs 100k updates (``kernels.small.small_train``);
    ``unrolled`` runs 2**18, enough for ``train()`` to take
    ``small_sgd_train``, compiled for the 2-4-1 layer sizes (W2's path).
    """

    params = [DTYPES, ["generic", "unrolled"]]
    param_names = ["dtype", "kernel"]

    def setup(self, dtype, kernel):
        self.X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
        self.Y = np.array([[0], [1], [1], [0]], dtype=dtype)
        self.net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=np.dtype(dtype),
                                  random_state=0)
        self.optimizer = fastnn.SGD(self.net, lr=0.5)
        self.epochs = XOR_EPOCHS if kernel == "generic" else 2**16
        self._train(self.epochs)  # compiles the kernel the timed runs take

    def _train(self, epochs):
        return fastnn.train(self.net, self.X, self.Y, optimizer=self.optimizer, epochs=epochs,
                            batch_size=1, random_state=0)

    def time_train(self, dtype, kernel):
        self._train(self.epochs)

    def track_updates_per_second(self, dtype, kernel):
        return 4 * self.epochs / best_time(lambda: self._train(self.epochs), repeats=3)

    track_updates_per_second.unit = "updates/s"
