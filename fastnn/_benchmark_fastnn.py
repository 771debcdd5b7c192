"""fastnn's rows of the side-by-side benchmark: one class per (fastnn entry point, workload kind).

See ``_benchmark_peers`` for the workload kinds and what a ``run()`` does.
fastnn is imported by the constructors, in the fastnn worker process only.
"""

from __future__ import annotations

import numpy as np

from ._benchmark_common import (XOR_LAYERS, XOR_X, XOR_Y, Impl, _fitted_classifier, _LinearFit,
                                _logreg_arguments, _quiet_sklearn, _warm_rows, calibrate,
                                init_weights, mnist_like, one_hot)

# --------------------------------------------------------------------------- fastnn


def _warm_fastnn(fastnn, warm) -> None:
    """Run ``warm()`` on one thread, then with the default (adaptive) thread count.

    The adaptive count may run a segment of a timed epoch on one thread: its
    serial kernels must be compiled beforehand too.  ``warm()`` works on a
    few rows, and some paths depend on the data's size (the fused epoch from
    ``training.STEPWISE_MAX_BATCHES`` batches or ``STEPWISE_MAX_WORK``
    multiply-adds, the compiled finite check of X
    from 2**20 values, ``forward`` by blocks from 2,048 rows): so the fastnn
    implementations then also run their timed call once, untimed, at full
    size, or their first timed round would compile (2-15 s, cold cache).
    """
    with fastnn._config.using_threads(1):
        warm()
    warm()


class FastnnTrain(Impl):
    """``fastnn.train(net, X, Y, optimizer=SGD, epochs=1, batch_size)``."""

    label = "fastnn train()"

    def __init__(self, spec):
        import fastnn

        self.fastnn = fastnn
        X, labels = mnist_like(spec)
        self.X, self.Y = X, one_hot(labels, spec["layers"][-1], X.dtype)
        self.net = fastnn.Network(spec["layers"], "relu", "softmax", dtype=X.dtype)
        for (W, b), coef, intercept in zip(init_weights(spec["layers"], "relu", "softmax",
                                                        spec["seed"], X.dtype),
                                           self.net.coefs, self.net.intercepts):
            coef[...], intercept[...] = W, b
        self.optimizer = fastnn.SGD(self.net, lr=spec["lr"])
        self.batch_size, self.samples = spec["batch_size"], spec["n"]
        self.rng = np.random.default_rng(spec["seed"] + 2)
        rows = _warm_rows(spec)
        _warm_fastnn(fastnn, lambda: self._epoch(self.X[:rows], self.Y[:rows]))
        self.run()  # once at full size (see _warm_fastnn)
        self.loss = None

    def _epoch(self, X, Y):
        return self.fastnn.train(self.net, X, Y, optimizer=self.optimizer, epochs=1,
                                 batch_size=self.batch_size, random_state=self.rng)[-1]

    def run(self):
        self.loss = self._epoch(self.X, self.Y)

    def extras(self):
        return {"loss": self.loss}


class _FastnnTrainFixedThreads(FastnnTrain):
    """:class:`FastnnTrain` with ``fastnn.set_num_threads(n_threads)``: issue 4's threads target.

    Only in the workload whose spec asks for it (W1 at its largest batch): the
    default thread count is adaptive (it may run a segment on one thread), so
    the target compares fixed counts.
    """

    n_threads = 0  # set by each subclass

    @staticmethod
    def applies(spec: dict) -> bool:
        return bool(spec.get("one_thread_row"))

    def run(self):
        with self.fastnn._config.using_threads(self.n_threads):
            super().run()


class FastnnTrainTwoThreads(_FastnnTrainFixedThreads):
    label = "fastnn train(), 2 threads"
    n_threads = 2


class FastnnTrainOneThread(_FastnnTrainFixedThreads):
    label = "fastnn train(), 1 thread"
    n_threads = 1


class FastnnMLPClassifier(Impl):
    """``fastnn.MLPClassifier(solver='sgd', momentum=0, alpha=0, max_iter=1).fit(X, y)``."""

    label = "fastnn MLPClassifier"

    def __init__(self, spec):
        import fastnn

        _quiet_sklearn()
        self.X, self.y = mnist_like(spec)
        self.est = fastnn.MLPClassifier(
            hidden_layer_sizes=tuple(spec["layers"][1:-1]), activation="relu", solver="sgd",
            momentum=0.0, nesterovs_momentum=False, alpha=0.0,
            learning_rate_init=spec["lr"], max_iter=1, shuffle=True, tol=0.0,
            batch_size=spec["batch_size"], random_state=spec["seed"])
        self.samples = spec["n"]
        rows = _warm_rows(spec)
        _warm_fastnn(fastnn, lambda: self.est.fit(self.X[:rows], self.y[:rows]))
        self.run()  # once at full size (see _warm_fastnn)

    def run(self):
        self.est.fit(self.X, self.y)

    def extras(self):
        return {"loss": float(self.est.loss_)}


class _FastnnXor(Impl):
    def __init__(self, spec):
        import fastnn

        self.fastnn = fastnn
        self.net = fastnn.Network(XOR_LAYERS, "sigmoid", "sigmoid", dtype=np.float64)
        for (W, b), coef, intercept in zip(init_weights(XOR_LAYERS, "sigmoid", "sigmoid",
                                                        spec["seed"], np.float64),
                                           self.net.coefs, self.net.intercepts):
            coef[...], intercept[...] = W, b
        self.optimizer = fastnn.SGD(self.net, lr=spec["lr"])
        self.rng = np.random.default_rng(spec["seed"] + 2)
        self.updates = self.samples = calibrate(self._updates, spec["target_seconds"])

    def run(self):
        self._updates(self.updates)

    def extras(self):
        return {"accuracy": float(np.mean(self.net.predict(XOR_X).ravel() == XOR_Y))}


class FastnnXorTrain(_FastnnXor):
    """``fastnn.train(..., epochs=updates/4, batch_size=1)``: Python loops over epochs."""

    label = "fastnn train()"

    def _updates(self, updates):
        self.fastnn.train(self.net, XOR_X, XOR_Y, optimizer=self.optimizer, epochs=updates // 4,
                          batch_size=1, random_state=self.rng)


class FastnnXorOneCall(_FastnnXor):
    """``fastnn.training.run_epoch`` once over the concatenated shuffles of all epochs.

    The same updates in the same kind of order as ``train()``; the loop over
    epochs runs inside the one compiled call instead of in Python.
    """

    label = "fastnn run_epoch(), all epochs in one call"

    def __init__(self, spec):
        from fastnn.training import run_epoch

        self.run_epoch = run_epoch
        self.Y = XOR_Y.reshape(-1, 1).copy()
        super().__init__(spec)

    def _updates(self, updates):
        order = self.rng.permuted(np.tile(np.arange(4, dtype=np.int64), (updates // 4, 1)),
                                  axis=1).ravel()
        self.run_epoch(self.net, XOR_X, self.Y, None, order, 1, self.optimizer)


class FastnnPerceptron(_LinearFit):
    """``fastnn.Perceptron(max_iter=epochs, tol=None).fit(X, y)``: blocked shuffle (default)."""

    label = "fastnn Perceptron"


class FastnnPerceptronUniform(FastnnPerceptron):
    """As :class:`FastnnPerceptron` with scikit-learn's uniform shuffle (``shuffle_block=1``)."""

    label = "fastnn Perceptron(shuffle_block=1)"
    options = {"shuffle_block": 1}


class FastnnLogReg(_LinearFit):
    """``fastnn.SGDClassifier(loss='log_loss', penalty=None, learning_rate='constant')``."""

    label = "fastnn SGDClassifier"
    estimator, arguments = "SGDClassifier", staticmethod(_logreg_arguments)


class FastnnLogRegUniform(FastnnLogReg):
    label = "fastnn SGDClassifier(shuffle_block=1)"
    options = {"shuffle_block": 1}


class FastnnForward(Impl):
    """``Network.forward(X)``: softmax probabilities."""

    label = "fastnn Network.forward()"

    def __init__(self, spec):
        import fastnn

        self.X, _ = mnist_like(spec)
        self.net = fastnn.Network(spec["layers"], "relu", "softmax", dtype=self.X.dtype)
        for (W, b), coef, intercept in zip(init_weights(spec["layers"], "relu", "softmax",
                                                        spec["seed"], self.X.dtype),
                                           self.net.coefs, self.net.intercepts):
            coef[...], intercept[...] = W, b
        self.samples = spec["n"]
        self.run()  # once at full size (see _warm_fastnn)

    def run(self):
        self.net.forward(self.X)


class FastnnPredictProba(Impl):
    """``fastnn.MLPClassifier.predict_proba(X)`` of a classifier holding the shared weights."""

    label = "fastnn MLPClassifier.predict_proba()"

    def __init__(self, spec):
        import fastnn

        _quiet_sklearn()
        self.X, labels = mnist_like(spec)
        self.est = _fitted_classifier(fastnn.MLPClassifier, spec, self.X, labels)
        self.samples = spec["n"]
        self.run()  # once at full size (see _warm_fastnn)

    def run(self):
        self.est.predict_proba(self.X)
