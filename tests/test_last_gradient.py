"""After an epoch, ``grads`` holds the gradient of its last batch that stepped.

A batch whose sample weights are all 0 (as the kernels read them: subnormal
weights count as 0 where subnormals are flushed) takes no step.  Plain SGD
fuses its step into the backward pass, except on the epoch's last *weighted*
batch, whose gradient then stays in ``grads`` as momentum's and Adam's do;
it used to be the epoch's last batch, weighted or not, so that an epoch
ending in weightless batches left an older gradient (the previous epoch's,
or zeros) in ``grads`` and in the estimators' ``gradient_norms_``.  Checked
against a NumPy twin of the epochs on every path: one compiled call in
order or gathered, stepwise, by rows on two threads, the adaptive tuner's
segments, out-of-core segments, the small-network kernels and the
estimators.
"""
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import _adaptive, _outofcore, network, training
from fastnn.kernels import fpenv
from fastnn.kernels.trainer import OPTIMIZER_CODES

import reference as ref

two_threads = pytest.mark.skipif(fastnn.threading_info()["max_threads"] < 2,
                                 reason="needs a Numba pool of 2 threads")

OPTIMIZERS = {
    "sgd": lambda net: fastnn.SGD(net, lr=0.05, weight_decay=1e-3),
    "nesterov": lambda net: fastnn.SGD(net, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda net: fastnn.Adam(net, lr=0.01),
}
RTOL, ATOL = 1e-9, 1e-12


def _as_read(w):
    """Sample weights as the kernels read them (subnormal ones as 0 where flushed)."""
    if fpenv.AVAILABLE:
        return np.where(w < np.finfo(w.dtype).tiny, 0, w)
    return w


def twin_epochs(net, optimizer, X, Y, w, orders, batch_size, grads):
    """NumPy twin of ``run_epoch`` over each order of ``orders``, from ``net``'s parameters
    and ``optimizer``'s state: (params, gradient of the last batch that stepped, or
    ``grads`` if none did)."""
    params = net.params.copy()
    sizes, codes, act_params = net.layer_sizes, net._codes, net._params
    code = OPTIMIZER_CODES["adam" if isinstance(optimizer, fastnn.Adam)
                           else "sgd" if optimizer.velocity is None else "momentum"]
    s1 = np.zeros_like(params)
    s2, t = np.zeros_like(params), 0
    weights = np.ones(X.shape[0]) if w is None else _as_read(w)
    last = grads.copy()
    for order in orders:
        for start in range(0, order.shape[0], batch_size):
            rows = order[start:start + batch_size]
            if not weights[rows].sum() > 0:
                continue  # no step
            _, g = ref.batch_loss_and_gradient(params, sizes, codes, act_params, net.loss_code,
                                               X[rows], Y[rows], weights[rows])
            last = g
            if code == OPTIMIZER_CODES["sgd"]:
                params = ref.sgd_update(params, g, optimizer.lr, optimizer.weight_decay,
                                        net.n_weights)
            elif code == OPTIMIZER_CODES["momentum"]:
                params, s1 = ref.momentum_update(params, g, s1, optimizer.lr, optimizer.momentum,
                                                 optimizer.nesterov, optimizer.weight_decay,
                                                 net.n_weights)
            else:
                t += 1
                params, s1, s2 = ref.adam_update(params, g, s1, s2, optimizer.lr,
                                                 optimizer.beta1, optimizer.beta2, optimizer.eps,
                                                 t, optimizer.weight_decay, net.n_weights)
    return params, last


def _problem(sizes, n, weightless_from, kind="zero", seed=0):
    """X, Y (one-hot), weights whose rows ``weightless_from:`` of the visiting order are
    0 (``kind`` "zero") or subnormal ("subnormal"), and two epochs' orders."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    orders = [rng.permutation(n).astype(np.int64) for _ in range(2)]
    w = rng.uniform(0.5, 2.0, n)
    tail = orders[0][weightless_from:]
    w[tail] = 0.0 if kind == "zero" else 1e-310
    # The second epoch visits the same weightless rows last (the others shuffled anew).
    orders[1] = np.concatenate([orders[1][~np.isin(orders[1], tail)], tail])
    return X, Y, w, orders


def _check(net, optimizer, X, Y, w, orders, batch_size, run):
    """``run(order)`` trains one epoch of ``net``; after each, its ``grads`` and params are
    the twin's."""
    start = (net.params.copy(), net.grads.copy())
    got = []
    for order in orders:
        run(order)
        got.append((net.params.copy(), net.grads.copy()))
    probe = fastnn.Network(net.layer_sizes, net.activations, net.output, dtype=net.dtype)
    probe.params[...] = start[0]
    fresh = _like(optimizer, probe)
    for k, (params, grads) in enumerate(got):
        want_params, want_grads = twin_epochs(probe, fresh, X, Y, w, orders[:k + 1], batch_size,
                                              start[1])
        np.testing.assert_allclose(params, want_params, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(grads, want_grads, rtol=RTOL, atol=ATOL)


def _like(optimizer, net):
    """A new optimizer like ``optimizer`` (same hyperparameters, fresh state) bound to ``net``."""
    if isinstance(optimizer, fastnn.Adam):
        return fastnn.Adam(net, lr=optimizer.lr, beta1=optimizer.beta1, beta2=optimizer.beta2,
                           eps=optimizer.eps, weight_decay=optimizer.weight_decay)
    return fastnn.SGD(net, lr=optimizer.lr, momentum=optimizer.momentum,
                      nesterov=optimizer.nesterov, weight_decay=optimizer.weight_decay)


@pytest.mark.parametrize("tail", [("zero", 512), ("zero", 300), ("subnormal", 512)])
@pytest.mark.parametrize("path", ["in order", "gathered", "stepwise"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_one_thread_epochs_keep_the_last_weighted_batchs_gradient(name, path, tail):
    """600 rows in batches of 128 whose last one (rows 512:) or last three (300: ends inside
    a batch, which still steps) weigh nothing."""
    kind, weightless_from = tail
    X, Y, w, orders = _problem([20, 32, 3], 600, weightless_from, kind)
    if path == "in order":  # the rows in sequence, weights along
        X, Y, w = X[orders[0]], Y[orders[0]], w[orders[0]]
        orders = [np.arange(600, dtype=np.int64)] * 2
    net = fastnn.Network([20, 32, 3], "tanh", dtype=np.float64, random_state=0)
    opt = OPTIMIZERS[name](net)

    def run(order):
        with fastnn._config.using_threads(1):
            training.run_epoch(net, X, Y, w, None if path == "in order" else order, 128, opt,
                               stepwise=path == "stepwise")

    _check(net, opt, X, Y, w, orders, 128, run)


@two_threads
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_epochs_by_rows_keep_the_last_weighted_batchs_gradient(name, monkeypatch):
    calls = []
    by_rows = network.data_parallel.train_epoch_data_parallel
    monkeypatch.setattr(network.data_parallel, "train_epoch_data_parallel",
                        lambda *args: (calls.append(1), by_rows(*args))[1])
    X, Y, w, orders = _problem([20, 32, 3], 600, 384)
    net = fastnn.Network([20, 32, 3], "relu", dtype=np.float64, random_state=0)
    opt = OPTIMIZERS[name](net)

    def run(order):
        with fastnn._config.using_threads(2):
            training.run_epoch(net, X, Y, w, order, 128, opt)

    _check(net, opt, X, Y, w, orders, 128, run)
    assert calls  # trained by rows


@two_threads
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_tuners_segments_keep_the_last_weighted_batchs_gradient(name, monkeypatch):
    """The kept batch lies in a segment before the last: only that segment keeps it."""
    monkeypatch.setattr(_adaptive, "SEGMENTS_PER_EPOCH", 8)
    monkeypatch.setattr(_adaptive, "SEGMENTS_PER_EPOCH_BY_ROWS", 8)
    monkeypatch.setattr(_adaptive, "_MIN_BATCHES_PER_SEGMENT", 1)
    monkeypatch.setattr(_adaptive, "MIN_SEGMENT_SECONDS", 0.0)  # cuts every 4 batches
    monkeypatch.setattr(_adaptive, "_tuners", {})
    X, Y, w, orders = _problem([64, 300, 3], 512, 352)  # batch 336 of segment 320:384
    net = fastnn.Network([64, 300, 3], "tanh", dtype=np.float64, random_state=0)
    opt = OPTIMIZERS[name](net)

    def run(order):
        with fastnn._config.using_threads("auto"):
            training.run_epoch(net, X, Y, w, order, 16, opt)

    _check(net, opt, X, Y, w, orders, 16, run)
    (tuner,) = _adaptive._tuners.values()
    assert len(tuner.history) == 2 * 8


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_out_of_core_segments_keep_the_last_weighted_batchs_gradient(name, monkeypatch):
    monkeypatch.setattr(_outofcore, "WINDOW_BYTES", 2 * 32 * 20 * 8)  # 2 batches a segment
    X, Y, w, orders = _problem([20, 32, 3], 300, 200)  # batch 192, segment 192:256
    net = fastnn.Network([20, 32, 3], "tanh", dtype=np.float64, random_state=0)
    opt = OPTIMIZERS[name](net)
    source = _outofcore.row_source(X)  # read block by block, in the visiting order
    segments = []
    original = training.run_epoch
    monkeypatch.setattr(training, "run_epoch", lambda *args, **kw: (
        segments.append(kw.get("kept_batch")), original(*args, **kw))[1])

    def run(order):
        _outofcore.run_epoch(net, source, Y, w, order, 32, opt)

    _check(net, opt, X, Y, w, orders, 32, run)
    assert segments == [-1, -1, -1, 0, -1] * 2  # segments of 64 rows


@pytest.mark.parametrize("name, batch_size, fixed",
                         [(name, size, False) for name in OPTIMIZERS for size in (1, 4)]
                         + [("sgd", 1, True)])
def test_small_networks_keep_the_last_weighted_batchs_gradient(name, batch_size, fixed,
                                                              monkeypatch):
    """train()'s BLAS-free path (``kernels.small``); plain SGD on single samples fuses every
    step but the epoch's last weighted one, in ``small_train`` and in the kernel compiled
    for the architecture (``fixed``, for long runs)."""
    monkeypatch.setattr(training, "_FIXED_MIN_UPDATES", 0 if fixed else 2**62)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 3))
    Y = np.eye(2)[rng.integers(0, 2, 40)]
    w = rng.uniform(0.5, 2.0, 40)
    w[30:] = 0.0  # shuffle=False: the epoch's last 10 rows weigh nothing
    net = fastnn.Network([3, 5, 2], "tanh", dtype=np.float64, random_state=0)
    assert training._is_small(net, 40, batch_size)
    opt = OPTIMIZERS[name](net)
    order = np.arange(40, dtype=np.int64)
    assert (training._fixed_units(net, batch_size, opt._fused_state()[0], 40) is not None) == fixed

    def run(_):
        fastnn.train(net, X, Y, optimizer=opt, epochs=1, batch_size=batch_size, shuffle=False,
                     sample_weight=w)

    _check(net, opt, X, Y, w, [order, order], batch_size, run)


@pytest.mark.parametrize("path", ["compiled", "stepwise", "small"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_an_epoch_without_weight_leaves_grads_as_they_were(name, path):
    """No batch steps: the parameters, and ``grads`` for every optimizer, stay as they were."""
    small = path == "small"
    sizes = [3, 5, 2] if small else [20, 32, 3]
    X, Y, w, orders = _problem(sizes, 40 if small else 300, 0)
    net = fastnn.Network(sizes, "tanh", dtype=np.float64, random_state=0)
    opt = OPTIMIZERS[name](net)
    net.grads[...] = np.arange(net.n_params)  # as left by an earlier epoch
    before = net.params.copy(), net.grads.copy()
    if small:
        from fastnn.kernels import small as small_kernels

        code, state1, state2, t, hyper = opt._fused_state()
        small_kernels.small_train(X, Y, w, True, orders[0], False, np.zeros(1, np.uint64), 2, 1,
                                  net.params, net.grads, net._net,
                                  np.empty(2 * sum(sizes[1:])), net.loss_code, code, hyper,
                                  state1, state2, t, net.n_weights, net.params.copy(),
                                  np.empty(2), False)
    else:
        total = training.run_epoch(net, X, Y, w, orders[0], 32, opt, stepwise=path == "stepwise")
        assert total == 0.0
    np.testing.assert_array_equal(net.params, before[0])
    np.testing.assert_array_equal(net.grads, before[1])


@pytest.mark.parametrize("stepwise", [True, False])
@pytest.mark.parametrize("solver, momentum", [("sgd", 0.0), ("sgd", 0.9), ("adam", 0.9)])
def test_gradient_norms_are_the_last_weighted_batchs(solver, momentum, stepwise, monkeypatch):
    """MLPClassifier.gradient_norms_: each layer's norm of the gradient of the epoch's last
    batch that stepped, not of an older one."""
    if not stepwise:
        monkeypatch.setattr(training, "STEPWISE_MAX_BATCHES", 0)  # the fused epoch
    X, Y, w, _ = _problem([20, 32, 3], 600, 600)
    y = Y.argmax(axis=1)
    w[384:] = 0.0  # shuffle=False: the last two batches of 128
    start = fastnn.Network([20, 32, 3], "relu", dtype=np.float64, random_state=0)
    est = fastnn.MLPClassifier((32,), solver=solver, momentum=momentum, alpha=0.0,
                               batch_size=128, shuffle=False, max_iter=2, warm_start=True,
                               learning_rate_init=0.01, random_state=0)
    est.coefs_ = [c.copy() for c in start.coefs]
    est.intercepts_ = [b.copy() for b in start.intercepts]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        est.fit(X, y, sample_weight=w)
    if solver == "adam":
        opt = fastnn.Adam(start, lr=0.01, beta1=est.beta_1, beta2=est.beta_2, eps=est.epsilon)
    else:
        opt = fastnn.SGD(start, lr=0.01, momentum=momentum, nesterov=est.nesterovs_momentum)
    order = np.arange(600, dtype=np.int64)
    for epoch in (1, 2):
        _, grads = twin_epochs(start, opt, X, Y, w, [order] * epoch, 128, start.grads)
        norms = [np.linalg.norm(W) for W, _ in ref._layers(grads, [20, 32, 3])[0]]
        np.testing.assert_allclose(est.gradient_norms_[epoch - 1], norms, rtol=RTOL)


@pytest.mark.parametrize("hidden", [5, 64])  # the small-network kernels, the BLAS path
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("callback", [False, True])
def test_a_diverged_train_leaves_the_last_good_epochs_gradient(hidden, momentum, callback):
    """train() raising TrainingDiverged restored the weights and the optimizer's state of
    the last good epoch, but left the diverged epoch's gradient in ``grads`` (2e186 here,
    up to inf/NaN).  Now every part equals a run of the good epochs alone."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = 3 * X[:, :1]
    kwargs = {"callback": lambda epoch, loss: None} if callback else {}

    def network_and_optimizer():
        net = fastnn.Network([4, hidden, 1], ["relu"], "identity", dtype=np.float64,
                             random_state=0)
        # rates at which epoch 2, 3, 2 or 8 diverges
        lr = {(5, 0.0): 0.8, (5, 0.9): 0.3, (64, 0.0): 0.2, (64, 0.9): 0.1}[hidden, momentum]
        return net, fastnn.SGD(net, lr=lr, momentum=momentum)

    net, opt = network_and_optimizer()
    with pytest.raises(fastnn.TrainingDiverged) as caught:
        fastnn.train(net, X, y, optimizer=opt, epochs=60, batch_size=20, random_state=0,
                     **kwargs)
    good = int(re.search(r"end of epoch (\d+)", str(caught.value)).group(1))
    assert good >= 1 and np.isfinite(net.grads).all()
    expected, expected_opt = network_and_optimizer()
    fastnn.train(expected, X, y, optimizer=expected_opt, epochs=good, batch_size=20,
                 random_state=0, **kwargs)
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.grads, expected.grads)
    for state, expected_state in zip(opt._state_arrays(), expected_opt._state_arrays()):
        np.testing.assert_array_equal(state, expected_state)
