"""What the side-by-side benchmark times: one class per (implementation, workload kind).

This module holds the peers' classes (NumPy, PyTorch, scikit-learn, JAX) and
the table of all of them, fastnn's included (``_benchmark_fastnn``); what
they share (seeded data, initial weights, the :class:`Impl` base) is in
``_benchmark_common``.

``fastnn/benchmark.py`` decides which workloads run, in which order, in which
process, and reports; this module only builds and runs them.  Every class
takes a workload ``spec`` (a dict; see ``benchmark.workloads``).  Its
constructor makes the seeded data (the same arrays in every process), sets up
the model from the same initial weights as every other implementation, and
warms up (JIT compilation, caches, buffers), none of which is timed.
``run()`` does the timed work once; ``extras()`` (not timed) returns what
the report shows besides time, e.g. the test accuracy.  The fresh fits of
``perceptron`` and ``logreg`` take each round's shuffle seed through
``reseed(seed)`` (not timed) before ``run()``: the data stay the same.

Workload kinds and their work per ``run()``:

``mlp``        one epoch of plain mini-batch SGD (shuffled, constant learning
               rate, no momentum, no L2) of a ReLU network with a softmax
               cross-entropy output, from the current weights.
``xor``        ``updates`` per-sample SGD updates of the 2-4-1 sigmoid XOR
               network (``updates / 4`` epochs of 4 shuffled samples); the
               number is chosen per implementation so that a run lasts about
               ``target_seconds`` (``calibrate``).
``perceptron`` a fresh fit of ``epochs`` epochs of Rosenblatt's rule, shuffled
               with the seed of the last ``reseed``.
``logreg``     a fresh fit of ``epochs`` epochs of per-sample SGD on the
               logistic loss (constant learning rate, no penalty), likewise.
``forward``    class probabilities of ``n`` rows.

Nothing here is imported by ``import fastnn``; the peers (PyTorch, JAX) are
imported by the classes that use them, in the benchmark's worker processes.
"""

from __future__ import annotations

import numpy as np

from ._benchmark_common import (XOR_LAYERS, XOR_X, XOR_Y, Impl, _epoch_batches,
                                _fitted_classifier, _LinearFit, _logreg_arguments,
                                _quiet_sklearn, _warm_rows, calibrate, init_weights, mnist_like,
                                one_hot)
from ._benchmark_fastnn import (FastnnForward, FastnnLogReg, FastnnLogRegUniform,
                                FastnnMLPClassifier, FastnnPerceptron, FastnnPerceptronUniform,
                                FastnnPredictProba, FastnnTrain, FastnnTrainOneThread,
                                FastnnTrainTwoThreads, FastnnXorOneCall, FastnnXorTrain)

# ---------------------------------------------------------------------------- NumPy


class NumpyNet:
    """Plain NumPy twin of the network: forward, backpropagation, SGD (OpenBLAS products).

    Hidden units ``relu`` or ``sigmoid``; output ``softmax`` (cross-entropy)
    or ``sigmoid`` (binary cross-entropy).  Batches are gathered with fancy
    indexing (a copy per batch, as scikit-learn does).
    """

    def __init__(self, layers, hidden, output, seed, dtype):
        self.params = init_weights(layers, hidden, output, seed, dtype)
        self.hidden, self.output = hidden, output

    def _activate(self, Z, last):
        if last and self.output == "softmax":
            Z -= Z.max(axis=1, keepdims=True)
            np.exp(Z, out=Z)
            Z /= Z.sum(axis=1, keepdims=True)
        elif (last and self.output == "sigmoid") or (not last and self.hidden == "sigmoid"):
            np.negative(Z, out=Z)
            np.exp(Z, out=Z)
            Z += 1
            np.reciprocal(Z, out=Z)
        else:
            np.maximum(Z, 0, out=Z)
        return Z

    def forward(self, X):
        acts = [X]
        for l, (W, b) in enumerate(self.params):
            Z = acts[-1] @ W
            Z += b
            acts.append(self._activate(Z, l == len(self.params) - 1))
        return acts

    def step(self, X, Y, lr):
        """One SGD step on the batch ``X`` with one-hot (or 0/1) targets ``Y``; returns the loss."""
        acts = self.forward(X)
        P = acts[-1]
        m = X.shape[0]
        tiny = np.finfo(P.dtype).tiny
        if self.output == "softmax":
            loss = -np.sum(Y * np.log(np.maximum(P, tiny))) / m
        else:
            loss = -np.sum(Y * np.log(np.maximum(P, tiny))
                           + (1 - Y) * np.log(np.maximum(1 - P, tiny))) / m
        delta = P - Y
        delta /= m
        for l in range(len(self.params) - 1, -1, -1):
            W, b = self.params[l]
            dW = acts[l].T @ delta
            db = delta.sum(axis=0)
            if l > 0:  # the input needs no gradient
                A = acts[l]
                delta = delta @ W.T
                if self.hidden == "relu":
                    delta *= A > 0
                else:
                    delta *= A * (1 - A)
            W -= lr * dW
            b -= lr * db
        return loss


class NumpyMLP(Impl):
    label = "NumPy"

    def __init__(self, spec):
        X, labels = mnist_like(spec)
        self.X, self.Y = X, one_hot(labels, spec["layers"][-1], X.dtype)
        self.net = NumpyNet(spec["layers"], "relu", "softmax", spec["seed"], X.dtype)
        self.lr = X.dtype.type(spec["lr"])
        self.batch_size, self.samples = spec["batch_size"], spec["n"]
        self.rng = np.random.default_rng(spec["seed"] + 2)
        rows = _warm_rows(spec)
        self._epoch(rows)
        self.loss = None

    def _epoch(self, n):
        order = self.rng.permutation(n)
        total = 0.0
        for start, stop in _epoch_batches(n, self.batch_size):
            rows = order[start:stop]
            total += self.net.step(self.X[rows], self.Y[rows], self.lr) * (stop - start)
        return total / n

    def run(self):
        self.loss = self._epoch(self.X.shape[0])

    def extras(self):
        return {"loss": float(self.loss)}


class NumpyXor(Impl):
    label = "NumPy"

    def __init__(self, spec):
        self.net = NumpyNet(XOR_LAYERS, "sigmoid", "sigmoid", spec["seed"], np.float64)
        self.Y = XOR_Y.reshape(-1, 1)
        self.lr = spec["lr"]
        self.rng = np.random.default_rng(spec["seed"] + 2)
        self.updates = self.samples = calibrate(self._updates, spec["target_seconds"])

    def _updates(self, updates):
        for _ in range(updates // 4):
            for i in self.rng.permutation(4):
                self.net.step(XOR_X[i:i + 1], self.Y[i:i + 1], self.lr)

    def run(self):
        self._updates(self.updates)

    def extras(self):
        return {"accuracy": float(np.mean((self.net.forward(XOR_X)[-1].ravel() >= 0.5) == XOR_Y))}


class NumpyForward(Impl):
    label = "NumPy"

    def __init__(self, spec):
        self.X, _ = mnist_like(spec)
        self.net = NumpyNet(spec["layers"], "relu", "softmax", spec["seed"], self.X.dtype)
        self.samples = spec["n"]

    def run(self):
        self.net.forward(self.X)


# -------------------------------------------------------------------------- PyTorch


def _torch():
    import torch

    torch.set_num_threads(2)
    return torch


def _torch_model(torch, layers, hidden, output, seed, dtype):
    modules = []
    for l, (W, b) in enumerate(init_weights(layers, hidden, output, seed, dtype)):
        linear = torch.nn.Linear(W.shape[0], W.shape[1], dtype=getattr(torch, np.dtype(dtype).name))
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if l < len(layers) - 2:
            modules.append(torch.nn.ReLU() if hidden == "relu" else torch.nn.Sigmoid())
    return torch.nn.Sequential(*modules)


class TorchMLP(Impl):
    """Eager ``nn.Linear``/``nn.ReLU`` + ``F.cross_entropy`` + ``optim.SGD``, 2 threads."""

    label = "PyTorch eager"

    def __init__(self, spec):
        torch = self.torch = _torch()
        X, labels = mnist_like(spec)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(labels)
        self.model = _torch_model(torch, spec["layers"], "relu", "softmax", spec["seed"], X.dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=spec["lr"], momentum=0.0)
        self.batch_size, self.samples = spec["batch_size"], spec["n"]
        self.generator = torch.Generator().manual_seed(spec["seed"] + 2)
        self._epoch(_warm_rows(spec))
        self.loss = None

    def _epoch(self, n):
        F = self.torch.nn.functional
        order = self.torch.randperm(n, generator=self.generator)
        total = 0.0
        for start, stop in _epoch_batches(n, self.batch_size):
            rows = order[start:stop]
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.model(self.X[rows]), self.y[rows])
            loss.backward()
            self.optimizer.step()
            total += loss.item() * (stop - start)
        return total / n

    def run(self):
        self.loss = self._epoch(self.X.shape[0])

    def extras(self):
        return {"loss": self.loss}


class TorchXor(Impl):
    label = "PyTorch eager"

    def __init__(self, spec):
        torch = self.torch = _torch()
        self.model = _torch_model(torch, XOR_LAYERS, "sigmoid", "sigmoid", spec["seed"], np.float64)
        self.X = torch.from_numpy(XOR_X)
        self.Y = torch.from_numpy(XOR_Y.reshape(-1, 1).copy())
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=spec["lr"], momentum=0.0)
        self.generator = torch.Generator().manual_seed(spec["seed"] + 2)
        self.updates = self.samples = calibrate(self._updates, spec["target_seconds"], start=16)

    def _updates(self, updates):
        F = self.torch.nn.functional
        for _ in range(updates // 4):
            for i in self.torch.randperm(4, generator=self.generator).tolist():
                self.optimizer.zero_grad()
                loss = F.binary_cross_entropy_with_logits(self.model(self.X[i:i + 1]),
                                                          self.Y[i:i + 1])
                loss.backward()
                self.optimizer.step()

    def run(self):
        self._updates(self.updates)

    def extras(self):
        with self.torch.no_grad():
            out = self.model(self.X).numpy().ravel()
        return {"accuracy": float(np.mean((out >= 0) == XOR_Y))}


class TorchForward(Impl):
    label = "PyTorch eager"

    def __init__(self, spec):
        torch = self.torch = _torch()
        X, _ = mnist_like(spec)
        self.X = torch.from_numpy(X)
        self.model = _torch_model(torch, spec["layers"], "relu", "softmax", spec["seed"], X.dtype)
        self.samples = spec["n"]
        self.run()

    def run(self):
        with self.torch.inference_mode():
            self.torch.softmax(self.model(self.X), dim=1)


# --------------------------------------------------------------------- scikit-learn


class SklearnMLP(Impl):
    """``MLPClassifier(solver='sgd', momentum=0, alpha=0, max_iter=1).fit(X, y)``."""

    label = "scikit-learn MLPClassifier"

    def __init__(self, spec):
        from sklearn.neural_network import MLPClassifier

        _quiet_sklearn()
        self.X, self.y = mnist_like(spec)
        self.est = MLPClassifier(
            hidden_layer_sizes=tuple(spec["layers"][1:-1]), activation="relu", solver="sgd",
            momentum=0.0, nesterovs_momentum=False, alpha=0.0, learning_rate_init=spec["lr"],
            max_iter=1, shuffle=True, tol=0.0, batch_size=spec["batch_size"],
            random_state=spec["seed"])
        self.samples = spec["n"]
        rows = _warm_rows(spec)
        self.est.fit(self.X[:rows], self.y[:rows])

    def run(self):
        self.est.fit(self.X, self.y)

    def extras(self):
        return {"loss": float(self.est.loss_)}


class SklearnXor(Impl):
    label = "scikit-learn MLPClassifier"

    def __init__(self, spec):
        _quiet_sklearn()
        self.spec = spec
        self.y = XOR_Y.astype(np.int64)
        self.updates = self.samples = calibrate(self._updates, spec["target_seconds"], start=16)

    def _updates(self, updates):
        from sklearn.neural_network import MLPClassifier

        epochs = updates // 4
        self.est = MLPClassifier(
            hidden_layer_sizes=(4,), activation="logistic", solver="sgd", batch_size=1,
            learning_rate_init=self.spec["lr"], momentum=0.0, nesterovs_momentum=False,
            alpha=0.0, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, shuffle=True,
            random_state=self.spec["seed"]).fit(XOR_X, self.y)

    def run(self):
        self._updates(self.updates)

    def extras(self):
        return {"accuracy": float(np.mean(self.est.predict(XOR_X) == self.y))}


class SklearnPerceptron(_LinearFit):
    label = "scikit-learn Perceptron"
    module = "sklearn.linear_model"


class SklearnLogReg(_LinearFit):
    """``SGDClassifier(loss='log_loss', penalty=None, learning_rate='constant')``."""

    label = "scikit-learn SGDClassifier"
    module, estimator, arguments = ("sklearn.linear_model", "SGDClassifier",
                                    staticmethod(_logreg_arguments))


class SklearnPredictProba(Impl):
    label = "scikit-learn MLPClassifier.predict_proba()"

    def __init__(self, spec):
        from sklearn.neural_network import MLPClassifier

        _quiet_sklearn()
        self.X, labels = mnist_like(spec)
        self.est = _fitted_classifier(MLPClassifier, spec, self.X, labels)
        self.samples = spec["n"]
        self.est.predict_proba(self.X[:1000])

    def run(self):
        self.est.predict_proba(self.X)


# ------------------------------------------------------------------------------ JAX


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 workloads; float32 stays float32
    return jax


def _jax_params(jax, layers, hidden, output, seed, dtype):
    return [(jax.numpy.asarray(W), jax.numpy.asarray(b))
            for W, b in init_weights(layers, hidden, output, seed, dtype)]


def _jax_logits(jnp, params, x, hidden):
    act = (lambda z: jnp.maximum(z, 0)) if hidden == "relu" else (lambda z: 1 / (1 + jnp.exp(-z)))
    for W, b in params[:-1]:
        x = act(x @ W + b)
    W, b = params[-1]
    return x @ W + b


class JaxMLP(Impl):
    """``jax.jit`` of the whole SGD step (gather, forward, gradient, update), one call per batch."""

    label = "JAX jit"

    def __init__(self, spec):
        jax = self.jax = _jax()
        jnp = jax.numpy
        X, labels = mnist_like(spec)
        self.X, self.y = jnp.asarray(X), jnp.asarray(labels)
        self.params = _jax_params(jax, spec["layers"], "relu", "softmax", spec["seed"], X.dtype)
        lr = spec["lr"]

        def loss_fn(params, x, y):
            logp = jax.nn.log_softmax(_jax_logits(jnp, params, x, "relu"))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def step(params, X, y, rows):
            loss, grads = jax.value_and_grad(loss_fn)(params, X[rows], y[rows])
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads), loss

        self.step = jax.jit(step, donate_argnums=0)
        self.batch_size, self.samples = spec["batch_size"], spec["n"]
        self.rng = np.random.default_rng(spec["seed"] + 2)
        self._epoch(_warm_rows(spec))
        self.loss = None

    def _epoch(self, n):
        order = self.rng.permutation(n)
        losses, sizes = [], []
        for start, stop in _epoch_batches(n, self.batch_size):
            self.params, loss = self.step(self.params, self.X, self.y, order[start:stop])
            losses.append(loss)  # no host sync per batch: JAX dispatches asynchronously
            sizes.append(stop - start)
        return float(np.dot(np.asarray(self.jax.block_until_ready(losses)), sizes)) / n

    def run(self):
        self.loss = self._epoch(self.X.shape[0])

    def extras(self):
        return {"loss": self.loss}


class _JaxXor(Impl):
    def __init__(self, spec):
        jax = self.jax = _jax()
        jnp = jax.numpy
        self.X, self.y = jnp.asarray(XOR_X), jnp.asarray(XOR_Y)
        self.params = _jax_params(jax, XOR_LAYERS, "sigmoid", "sigmoid", spec["seed"], np.float64)
        lr = spec["lr"]

        def loss_fn(params, x, y):
            z = _jax_logits(jnp, params, x[None, :], "sigmoid")[0, 0]
            return jnp.logaddexp(0.0, z) - y * z  # binary cross-entropy of sigmoid(z)

        def step(params, i):
            grads = jax.grad(loss_fn)(params, self.X[i], self.y[i])
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)

        self._build(jax, step)
        self.rng = np.random.default_rng(spec["seed"] + 2)
        self.updates = self.samples = calibrate(self._updates, spec["target_seconds"], start=16)

    def run(self):
        self._updates(self.updates)

    def extras(self):
        z = np.asarray(_jax_logits(self.jax.numpy, self.params, self.X, "sigmoid")).ravel()
        return {"accuracy": float(np.mean((z >= 0) == XOR_Y))}


class JaxXor(_JaxXor):
    label = "JAX jit"

    def _build(self, jax, step):
        self.step = jax.jit(step)

    def _updates(self, updates):
        params = self.params
        for _ in range(updates // 4):
            for i in self.rng.permutation(4):
                params = self.step(params, i)
        self.params = self.jax.block_until_ready(params)


class JaxXorScan(_JaxXor):
    """All updates in one compiled call: ``jax.lax.scan`` of the step over the visiting order."""

    label = "JAX lax.scan, all epochs in one call"

    def _build(self, jax, step):
        def train(params, order):
            return jax.lax.scan(lambda p, i: (step(p, i), None), params, order)[0]

        self.train = jax.jit(train)

    def _updates(self, updates):
        order = self.rng.permuted(np.tile(np.arange(4), (updates // 4, 1)), axis=1).ravel()
        self.params = self.jax.block_until_ready(self.train(self.params, order))


class JaxForward(Impl):
    label = "JAX jit"

    def __init__(self, spec):
        jax = self.jax = _jax()
        jnp = jax.numpy
        X, _ = mnist_like(spec)
        self.X = jnp.asarray(X)
        self.params = _jax_params(jax, spec["layers"], "relu", "softmax", spec["seed"], X.dtype)
        self.forward = jax.jit(
            lambda params, X: jax.nn.softmax(_jax_logits(jnp, params, X, "relu")))
        self.samples = spec["n"]
        self.run()

    def run(self):
        self.forward(self.params, self.X).block_until_ready()


#: peer -> workload kind -> implementations, in the order of the table.
IMPLEMENTATIONS = {
    "fastnn": {"mlp": [FastnnTrain, FastnnMLPClassifier, FastnnTrainTwoThreads,
                       FastnnTrainOneThread],
               "xor": [FastnnXorTrain, FastnnXorOneCall],
               "perceptron": [FastnnPerceptron, FastnnPerceptronUniform],
               "logreg": [FastnnLogReg, FastnnLogRegUniform],
               "forward": [FastnnForward, FastnnPredictProba]},
    "numpy": {"mlp": [NumpyMLP], "xor": [NumpyXor], "forward": [NumpyForward]},
    "torch": {"mlp": [TorchMLP], "xor": [TorchXor], "forward": [TorchForward]},
    "sklearn": {"mlp": [SklearnMLP], "xor": [SklearnXor], "perceptron": [SklearnPerceptron],
                "logreg": [SklearnLogReg], "forward": [SklearnPredictProba]},
    "jax": {"mlp": [JaxMLP], "xor": [JaxXor, JaxXorScan], "forward": [JaxForward]},
}
