"""Differential tests: ``fastnn.train``, ``Network.loss_and_gradient`` and ``Network.forward``
against the plain-NumPy twins of ``tests/reference.py`` on random small problems.

Hypothesis draws the architecture, activations, output, dtype, batch size, sample weights,
optimizer, epochs and shuffling, and forces the code path of ``train`` (``kernels/small.py``,
the BLAS epochs stepwise or fused, sample- or feature-major, training by rows in
``kernels/data_parallel.py``).  Derandomized, so CI runs the same examples every time.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastnn
from fastnn import network, training
from fastnn.kernels import data_parallel

import reference as ref

OUTPUTS = ("softmax", "sigmoid", "identity")
PATHS = ("small", "stepwise", "fused", "by_rows")
TWO_THREADS = fastnn.threading_info()["max_threads"] >= 2

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
# Parameters after a few epochs: float64 agrees to rounding; float32 runs its own
# rounding through every step, so it gets a looser bound.
TOL = {np.dtype(np.float32): (2e-3, 2e-4), np.dtype(np.float64): (1e-9, 1e-11)}


def _problem(rng, sizes, output, n, dtype, weighting):
    X, Y, _ = ref.random_problem(rng, sizes, output, n, dtype)
    if weighting == "none":
        return X, Y, None
    w = rng.uniform(0.1, 2.0, n)
    if weighting == "some_zero":
        w[rng.random(n) < 0.4] = 0.0
        w[rng.integers(n)] = 1.0  # a positive sum
    return X, Y, w.astype(dtype)


def _optimizer(net, kind):
    if kind == "sgd":
        return fastnn.SGD(net, lr=0.03)
    if kind == "sgd_decay":
        return fastnn.SGD(net, lr=0.03, weight_decay=1e-2)
    if kind == "momentum":
        return fastnn.SGD(net, lr=0.02, momentum=0.5)
    if kind == "nesterov":
        return fastnn.SGD(net, lr=0.02, momentum=0.5, nesterov=True, weight_decay=1e-3)
    if kind == "adam":
        return fastnn.Adam(net, lr=0.01)
    return fastnn.Adam(net, lr=0.01, weight_decay=1e-2)


OPTIMIZERS = ("sgd", "sgd_decay", "momentum", "nesterov", "adam", "adam_decay")


@st.composite
def problems(draw, path="small"):
    n_hidden = draw(st.integers(1, 3))
    output = draw(st.sampled_from(OUTPUTS))
    n_out = draw(st.integers(2 if output == "softmax" else 1, 5))
    max_width = 12 if path == "small" else 40  # the small path takes any size when forced
    sizes = ([draw(st.integers(1, max_width))]
             + [draw(st.integers(1, max_width)) for _ in range(n_hidden)] + [n_out])
    activations = [draw(st.sampled_from(ref.ACTIVATIONS)) for _ in range(n_hidden)]
    n = draw(st.integers(1, 70))
    batch = draw(st.sampled_from(["one", "odd", "n", "more", "random"]))
    batch_size = {"one": 1, "odd": 3, "n": n, "more": n + 5,
                  "random": draw(st.integers(1, max(1, n)))}[batch]
    weighting = draw(st.sampled_from(["none", "random", "some_zero", "last_zero"]))
    return dict(path=path, sizes=sizes, activations=activations, output=output,
                dtype=draw(st.sampled_from(ref.DTYPES)), n=n, batch_size=batch_size,
                weighting=weighting, optimizer=draw(st.sampled_from(OPTIMIZERS)),
                epochs=draw(st.integers(1, 3)), shuffle=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)),
                sigmoid_a=draw(st.sampled_from([1.0, 1.7, -0.8])),
                leaky_slope=draw(st.sampled_from([0.01, 0.0, 0.2])))


def _build(case):
    rng = np.random.default_rng(case["seed"])
    dtype = np.dtype(case["dtype"])
    X, Y, w = _problem(rng, case["sizes"], case["output"], case["n"], dtype, case["weighting"])
    if case["weighting"] == "last_zero":
        # a weightless last batch (visited last only without shuffling)
        w = rng.uniform(0.1, 2.0, case["n"]).astype(dtype)
        last = (case["n"] - 1) // min(case["batch_size"], case["n"]) * case["batch_size"]
        if last > 0:
            w[last:] = 0
    net = fastnn.Network(case["sizes"], case["activations"], case["output"], dtype=dtype,
                         random_state=case["seed"], sigmoid_a=case["sigmoid_a"],
                         leaky_slope=case["leaky_slope"])
    return net, X, Y, w


def _force_path(mp, path):
    """Monkeypatch train()'s path choice; returns the thread count to train with."""
    if path == "small":
        mp.setattr(training, "_SMALL_MAX_WEIGHTS", 10**9)
        mp.setattr(training, "_SMALL_MAX_EPOCH_WORK", 10**12)
        mp.setattr(training, "_FIXED_MIN_UPDATES", 10**18)
        return 1
    mp.setattr(training, "_SMALL_MAX_WEIGHTS", 0)
    if path == "stepwise":
        mp.setattr(training, "STEPWISE_MAX_BATCHES", 10**9)
        mp.setattr(training, "STEPWISE_MAX_WORK", 10**18)
        return 1
    mp.setattr(training, "STEPWISE_MAX_BATCHES", -1)
    if path == "fused":
        return 1
    mp.setattr(network, "DATA_PARALLEL", True)
    mp.setattr(network, "DATA_PARALLEL_MIN_ROWS", 1)
    return 2


def _reference_train(net, opt, X, Y, w, case):
    """The epochs of ``train`` in NumPy: (params, grads or None, per-epoch mean losses)."""
    code, state1, state2, t, hyper = opt._fused_state()
    hyper = hyper.copy()
    hyper[6:8] = 0.0, 1.0
    n = X.shape[0]
    batch_size = min(case["batch_size"], n)
    rng = np.random.default_rng(case["seed"])
    state = int(rng.integers(0, 2**64 - 1, size=1, dtype=np.uint64, endpoint=True)[0])
    params, _, _, totals, _, _, _, grads = ref.small_train(
        X, Y, w, np.arange(n), case["shuffle"], state, case["epochs"], batch_size,
        net.params.copy(), net.layer_sizes, net._codes, net._params, net.loss_code, code,
        hyper, state1.copy(), state2.copy(), t)
    return params, grads, np.asarray(totals) / n


def _check_train(case, force=True):
    if case["path"] == "by_rows" and not TWO_THREADS:
        case = dict(case, path="fused")
    net, X, Y, w = _build(case)
    dtype = net.dtype
    opt = _optimizer(net, case["optimizer"])
    with np.errstate(all="ignore"):
        expected_params, expected_grads, expected_losses = _reference_train(net, opt, X, Y, w,
                                                                            case)
    diverges = not (np.isfinite(expected_params).all() and np.isfinite(expected_losses).all())
    by_rows_calls = []
    with pytest.MonkeyPatch.context() as mp:
        n_threads = _force_path(mp, case["path"]) if force else 1
        original = data_parallel.train_epoch_data_parallel
        mp.setattr(data_parallel, "train_epoch_data_parallel",
                   lambda *args: by_rows_calls.append(1) or original(*args))
        with fastnn._config.using_threads(n_threads):
            if diverges:  # rare with these rates; then train() must say so
                with pytest.raises(training.TrainingDiverged):
                    fastnn.train(net, X, Y, optimizer=opt, epochs=case["epochs"],
                                 batch_size=case["batch_size"], shuffle=case["shuffle"],
                                 random_state=case["seed"], sample_weight=w)
                return
            losses = fastnn.train(net, X, Y, optimizer=opt, epochs=case["epochs"],
                                  batch_size=case["batch_size"], shuffle=case["shuffle"],
                                  random_state=case["seed"], sample_weight=w)
    if case["path"] == "by_rows":
        assert by_rows_calls, "the epochs did not train by rows"
    rtol, atol = TOL[dtype]
    scale = max(1.0, float(np.abs(expected_params).max()))
    np.testing.assert_allclose(losses, expected_losses, rtol=rtol, atol=atol)
    assert net.params.dtype == dtype
    np.testing.assert_allclose(net.params, expected_params, rtol=rtol, atol=atol * scale)
    if expected_grads is not None:
        gscale = max(1.0, float(np.abs(expected_grads).max()))
        np.testing.assert_allclose(net.grads, expected_grads, rtol=rtol * 10,
                                   atol=atol * 10 * gscale)


@pytest.mark.parametrize("path", PATHS)
@SETTINGS
@given(data=st.data())
def test_train_matches_numpy_reference(path, data):
    _check_train(data.draw(problems(path), label="case"))


@SETTINGS
@given(problems(path="fused"))
def test_loss_gradient_and_forward_match_numpy_reference(case):
    net, X, Y, w = _build(case)
    if w is not None and not w.sum() > 0:
        w = None
    dtype = net.dtype
    rtol, atol = ref.RTOL[dtype] * 10, ref.ATOL[dtype] * 10
    weights = np.ones(X.shape[0], dtype) if w is None else w
    loss, grads = net.loss_and_gradient(X, Y, w)
    expected_loss, expected_grads = ref.batch_loss_and_gradient(
        net.params, net.layer_sizes, net._codes, net._params, net.loss_code, X, Y, weights)
    np.testing.assert_allclose(loss, expected_loss, rtol=rtol, atol=atol)
    ref.assert_close(grads, expected_grads, dtype, rtol=rtol)
    ref.assert_close(net.forward(X), ref.network_forward(X, net), dtype, rtol=rtol)


def _finite_difference(net, X, Y, w, eps=1e-6):
    params = net.params
    grads = np.empty_like(params)
    for i in range(params.size):
        saved = params[i]
        params[i] = saved + eps
        up = net.loss(X, Y, w)
        params[i] = saved - eps
        down = net.loss(X, Y, w)
        params[i] = saved
        grads[i] = (up - down) / (2 * eps)
    return grads


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ref.ACTIVATIONS)
def test_gradient_matches_finite_differences(activation, output):
    rng = np.random.default_rng(7)
    sizes = [3, 5, 4, 3]
    X, Y, w = ref.random_problem(rng, sizes, output, 11, np.float64)
    net = fastnn.Network(sizes, [activation, "tanh"], output, dtype=np.float64, random_state=3,
                         sigmoid_a=1.7, leaky_slope=0.1)
    net.params[net.n_weights:] = rng.uniform(-0.3, 0.3, net.params.size - net.n_weights)
    _, grads = net.loss_and_gradient(X, Y, w)
    grads = grads.copy()
    expected = _finite_difference(net, X, Y, w)
    # A kink (relu, leaky relu) or step within eps of a unit's input would spoil the
    # difference quotient; none lies that close for this seed.
    np.testing.assert_allclose(grads, expected, rtol=1e-5, atol=1e-7)


# Per-sample plain SGD of networks with at most one hidden layer runs a kernel compiled for
# the layer sizes (``small.small_sgd_train``): a few shapes only, each compiles once.
FIXED_CASES = [
    ([2, 4, 1], ["tanh"], "sigmoid", "none", "sgd", np.float64),
    ([3, 5, 3], ["relu"], "softmax", "random", "sgd_decay", np.float32),
    ([2, 3, 2], ["sigmoid"], "identity", "some_zero", "sgd", np.float64),
    ([4, 2], [], "softmax", "last_zero", "sgd", np.float32),
]


@pytest.mark.parametrize("sizes, activations, output, weighting, optimizer, dtype", FIXED_CASES)
def test_fixed_size_kernel_matches_numpy_reference(sizes, activations, output, weighting,
                                                   optimizer, dtype, monkeypatch):
    monkeypatch.setattr(training, "_FIXED_MIN_UPDATES", 0)
    calls = []
    from fastnn.kernels import small
    original = small.small_sgd_train
    monkeypatch.setattr(small, "small_sgd_train", lambda *args: calls.append(1) or original(*args))
    case = dict(path="auto", sizes=sizes, activations=activations, output=output, dtype=dtype,
                n=17, batch_size=1, weighting=weighting, optimizer=optimizer, epochs=2,
                shuffle=True, seed=5, sigmoid_a=1.0, leaky_slope=0.01)
    _check_train(case, force=False)
    assert calls, "small_sgd_train did not run"


@pytest.mark.parametrize("path", ["small", "fused"])
def test_grads_hold_a_lone_last_row_of_longer_batches(path):
    """47 rows in batches of 23: the last batch is one row.  Its gradient must stay in
    ``grads``; the small path fused that row's SGD step and left the batch before's."""
    case = dict(path=path, sizes=[1, 1, 2], activations=["identity"], output="softmax",
                dtype=np.float32, n=47, batch_size=23, weighting="none", optimizer="sgd",
                epochs=1, shuffle=False, seed=0, sigmoid_a=1.0, leaky_slope=0.01)
    _check_train(case)
