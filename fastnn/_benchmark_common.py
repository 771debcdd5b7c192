"""What the benchmark's implementations share: seeded data, the initial weights, the base class.

Every implementation of ``_benchmark_fastnn`` and ``_benchmark_peers`` starts
from these: the same arrays and initial weights in every process, and
:class:`Impl`'s contract (``run()`` timed; ``reseed``, ``extras`` not).  The
W3 linear fit and the fitted classifier of the ``forward`` workload are here
too, since fastnn and scikit-learn differ there only by the module they come
from.  Like its siblings, this module imports nothing of fastnn at import
time (see ``_benchmark_host``).
"""

from __future__ import annotations

import importlib
import time
import warnings

import numpy as np

# ---------------------------------------------------------------------------- data


def mnist_like(spec: dict):
    """Seeded MNIST-shaped data: ``X`` in [0, 1) of ``spec['dtype']`` and int labels.

    float64 data is the float32 data converted, so W5 trains on W1's values.
    """
    n, layers = spec["n"], spec["layers"]
    rng = np.random.default_rng(spec["seed"])
    X = rng.random((n, layers[0]), dtype=np.float32)
    labels = rng.integers(0, layers[-1], n)
    return X.astype(spec["dtype"], copy=False), labels


def one_hot(labels, k: int, dtype) -> np.ndarray:
    Y = np.zeros((labels.shape[0], k), dtype)
    Y[np.arange(labels.shape[0]), labels] = 1
    return Y


def init_weights(layers, hidden: str, output: str, seed: int, dtype):
    """The initial weights every implementation starts from (fastnn's rule).

    Uniform in [-r, r]: He ``r = sqrt(6 / fan_in)`` for ReLU layers, Glorot
    with factor 2 for sigmoid layers, Glorot for the identity (softmax) output.
    Biases are zero.  Returns a list of ``(W of shape (fan_in, fan_out), b)``.
    """
    rng = np.random.default_rng(seed + 1)
    params = []
    names = [hidden] * (len(layers) - 2) + ["sigmoid" if output == "sigmoid" else "identity"]
    for fan_in, fan_out, name in zip(layers[:-1], layers[1:], names):
        if name == "relu":
            bound = np.sqrt(6.0 / fan_in)
        else:
            bound = np.sqrt((2.0 if name == "sigmoid" else 6.0) / (fan_in + fan_out))
        W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
        params.append((W, np.zeros(fan_out, dtype)))
    return params


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
XOR_Y = np.array([0, 1, 1, 0], np.float64)
XOR_LAYERS = [2, 4, 1]


def linear_problem(spec: dict):
    """Seeded large linear classification data (float64), train and test.

    ``y = [x.w + noise > 0]`` with standard normal ``x``, ``||w||`` = 3 and
    unit noise: about 90 % is the best any linear model can reach.
    """
    rng = np.random.default_rng(spec["seed"])
    d = spec["d"]
    w = rng.standard_normal(d)
    w *= 3.0 / np.linalg.norm(w)

    def draw(n):
        X = rng.standard_normal((n, d))
        y = (X @ w + rng.standard_normal(n) > 0).astype(np.int64)
        return X, y

    X, y = draw(spec["n"])
    X_test, y_test = draw(spec["n_test"])
    return X, y, X_test, y_test


def calibrate(run_updates, target_seconds: float, start: int = 64) -> int:
    """Updates (a multiple of 4) that make ``run_updates(k)`` last about ``target_seconds``."""
    updates = start
    while True:
        run_updates(updates)  # the first call of a size may compile
        began = time.perf_counter()
        run_updates(updates)
        seconds = time.perf_counter() - began
        if seconds >= target_seconds / 8 or updates >= 1 << 30:
            break
        updates *= 8
    updates = max(4, int(updates * target_seconds / max(seconds, 1e-9)) // 4 * 4)
    run_updates(updates)  # warm-up of the final size (JAX's scan compiles per length)
    return updates


def _quiet_sklearn():
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)


class Impl:
    """Base: ``run()`` is timed, ``extras()`` is not."""

    samples = 0  # rows (or sample-updates) processed per run()

    @staticmethod
    def applies(spec: dict) -> bool:
        """Whether this implementation has a row in the workload of ``spec``."""
        return True

    def run(self):
        raise NotImplementedError

    def reseed(self, seed: int) -> None:
        """Make the next ``run()`` use ``seed`` for its own randomness (not for the data)."""
        raise NotImplementedError(f"{type(self).__name__} takes no seed per run")

    def extras(self) -> dict:
        return {}


def _epoch_batches(n: int, batch_size: int):
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _warm_rows(spec: dict) -> int:
    """Rows of a warm-up epoch: one full batch and one of the epoch's last batch size."""
    n, bs = spec["n"], spec["batch_size"]
    return min(n, bs + (n % bs or bs))


def _linear_fit_extras(est, X_test, y_test):
    return {"accuracy": float(np.mean(est.predict(X_test) == y_test))}


def _perceptron_arguments(spec: dict) -> dict:
    return {"max_iter": spec["epochs"], "tol": None, "shuffle": True, "random_state": spec["seed"]}


def _logreg_arguments(spec: dict) -> dict:
    return {"loss": "log_loss", "penalty": None, "learning_rate": "constant", "eta0": spec["lr"],
            **_perceptron_arguments(spec)}


class _LinearFit(Impl):
    """W3: ``estimator(**arguments(spec), **options).fit(X, y)``, fastnn's or scikit-learn's.

    Both libraries take the same arguments: only the module differs (and
    fastnn's ``options``).
    """

    module, estimator, arguments = "fastnn", "Perceptron", staticmethod(_perceptron_arguments)
    options: dict = {}

    def __init__(self, spec):
        _quiet_sklearn()
        self.cls = getattr(importlib.import_module(self.module), self.estimator)
        self.spec = spec
        self.X, self.y, self.X_test, self.y_test = linear_problem(spec)
        self.reseed(spec["seed"])
        self.samples = spec["n"] * spec["epochs"]
        self.est.fit(self.X[:1000], self.y[:1000])

    def reseed(self, seed):
        """A new estimator whose fits shuffle with ``random_state=seed``."""
        self.est = self.cls(**self.arguments({**self.spec, "seed": seed}), **self.options)

    def run(self):
        self.est.fit(self.X, self.y)

    def extras(self):
        return _linear_fit_extras(self.est, self.X_test, self.y_test)


def _fitted_classifier(cls, spec, X, labels):
    """An MLP classifier fitted one epoch on a slice, then given the shared weights in place."""
    est = cls(hidden_layer_sizes=tuple(spec["layers"][1:-1]), activation="relu", solver="sgd",
              max_iter=1, random_state=spec["seed"])
    rows = min(X.shape[0], 50 * spec["layers"][-1])
    est.fit(X[:rows], labels[:rows])
    for (W, b), coef, intercept in zip(init_weights(spec["layers"], "relu", "softmax",
                                                    spec["seed"], X.dtype),
                                       est.coefs_, est.intercepts_):
        coef[...], intercept[...] = W, b
    return est
