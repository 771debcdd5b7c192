"""The BLAS-free small-network path (kernels/small.py) and train() on top of it.

Checked against its NumPy twin (tests/reference.py) per dtype, against finite
differences, and against the BLAS path (kernels/trainer.py through
``run_epoch``) on the same sample order.
"""
import math
import re
import warnings

import numpy as np
import pytest
from numba import njit

import fastnn
from fastnn import training
from fastnn.kernels import data, small
from fastnn.kernels.activations import SIGMOID

import reference as ref

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)
XOR_Y = np.array([0, 1, 1, 0], np.float64)

# (hidden activations, output) pairs covering every activation code and loss.
CASES = [("sigmoid", "sigmoid"), ("tanh", "softmax"), ("relu", "identity"),
         ("leaky_relu", "softmax"), ("softplus", "sigmoid"), ("identity", "identity"),
         ("step", "softmax")]
OPTIMIZERS = {
    "sgd": lambda net: fastnn.SGD(net, lr=0.1, weight_decay=0.01),
    "nesterov": lambda net: fastnn.SGD(net, lr=0.05, momentum=0.9, nesterov=True),
    "momentum": lambda net: fastnn.SGD(net, lr=0.05, momentum=0.5),
    "adam": lambda net: fastnn.Adam(net, lr=0.01, weight_decay=0.001),
}


def _problem(rng, sizes, output, n=13, dtype=np.float64):
    return ref.random_problem(rng, sizes, output, n, dtype)


def _network(sizes, activation, output, dtype=np.float64, seed=0):
    net = fastnn.Network(sizes, activation, output, dtype=dtype, random_state=seed,
                         sigmoid_a=1.7, leaky_slope=0.1)
    for b in net.intercepts:  # biases in play too
        b[:] = np.random.default_rng(seed + 1).uniform(-0.3, 0.3, b.shape)
    return net


def _run_small(net, optimizer, X, Y, w, order, shuffle, state, epochs, batch_size, alpha=0.0):
    """small_train on ``net`` in place; returns (epochs_done, status, totals, t)."""
    code, state1, state2, t, hyper = optimizer._fused_state()
    hyper[6] = alpha
    scratch = np.empty(2 * sum(net.layer_sizes[1:]), net.dtype)
    totals = np.empty(epochs)
    done, t, status = small.small_train(
        X, Y, net.params if w is None else w, w is not None, order, shuffle, state, epochs,
        batch_size, net.params, net.grads, net._net, scratch, net.loss_code, code, hyper,
        state1, state2, t, net.n_weights, net.params.copy(), totals, False)
    optimizer._fused_done(t)
    return done, status, totals, t


@pytest.mark.parametrize("dtype", ref.DTYPES)
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
@pytest.mark.parametrize("activation,output", CASES[:4])
def test_small_train_matches_numpy_twin(activation, output, opt_name, dtype, rng):
    sizes = [3, 5, 4, 3 if output == "softmax" else 2]
    X, Y, w = _problem(rng, sizes, output, dtype=dtype)
    net = _network(sizes, [activation, "tanh"], output, dtype)
    opt = OPTIMIZERS[opt_name](net)
    code, s1, s2, t0, hyper = opt._fused_state()
    hyper = hyper.copy()
    hyper[6] = 0.02  # alpha
    expected = ref.small_train(X, Y, w, np.arange(13), True, 12345, 3, 4, net.params.copy(),
                               sizes, net._codes, net._params, net.loss_code, code, hyper,
                               s1.copy(), s2.copy(), t0)
    order = np.arange(13, dtype=np.int64)
    state = np.array([12345], np.uint64)
    done, status, totals, t = _run_small(net, opt, X, Y, w, order, True, state, 3, 4, alpha=0.02)
    assert (done, status) == (3, 0)
    ref.assert_close(net.params, expected[0], dtype, rtol=ref.RTOL[np.dtype(dtype)] * 100)
    np.testing.assert_allclose(totals, expected[3], rtol=1e-4 if dtype == np.float32 else 1e-11)
    np.testing.assert_array_equal(order, expected[4])
    assert int(state[0]) == expected[5] and t == expected[6]


@njit(cache=False)
def _exps(x, out):
    for i in range(x.shape[0]):
        out[i] = small._exp(x[i])


def test_inline_exp_matches_math_exp():
    """small._exp (inline for float64) against libm's exp: glibc's algorithm, error < 0.52 ulp.

    Bit-identical to glibc >= 2.28 with FMA; within 1 ulp of any exp that is
    itself within 0.5 ulp.  Special values (tiny, large, inf, NaN) go to libm.
    """
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-750, 750, 20000), rng.uniform(-1, 1, 20000),
                        -np.abs(rng.standard_normal(20000)) * 10,
                        [0.0, -0.0, 1e-300, -1e-17, 2.0**-54, -(2.0**-54), 511.99, -511.99, 512.0,
                         -512.0, -745.2, -708.4, 709.7, 710.0, 1e6, -1e6, np.inf, -np.inf]])
    out = np.empty_like(x)
    _exps(x, out)
    expected = np.array([math.exp(v) if v < 709.8 else math.inf for v in x])
    np.testing.assert_array_max_ulp(out, expected, maxulp=1)
    np.testing.assert_array_equal(out[-4:], [math.inf, 0.0, math.inf, 0.0])
    nan = np.array([np.nan])
    _exps(nan, nan)
    assert np.isnan(nan[0])
    x32 = x[20000:40000].astype(np.float32)
    out32 = np.empty_like(x32)
    _exps(x32, out32)  # float32: libm's expf, as before
    np.testing.assert_array_max_ulp(out32, np.exp(x32.astype(np.float64)).astype(np.float32),
                                    maxulp=1)


@njit(cache=False)
def _log1ps(x, out):
    for i in range(x.shape[0]):
        out[i] = small._log1p(x[i])


def test_inline_log1p_matches_math_log1p():
    """small._log1p (inline for float64 in [0, 2**53)) against libm's log1p.

    glibc's fdlibm algorithm: bit-identical to glibc's FMA build; within 1 ulp
    of another faithful log1p.  Every branch: tiny, |x| < 0.41, the reduction
    with k = 1 and its |f| < 2**-20 cases (x near 1), large x; the rest
    (negative, huge, inf, NaN) goes to libm.
    """
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 1, 20000), np.exp(-rng.uniform(0, 750, 20000)),
                        1 - rng.uniform(0, 2.0**-18, 5000), rng.uniform(0.41, 0.42, 5000),
                        rng.uniform(1, 1e6, 5000), rng.uniform(-0.99, 0, 1000),
                        [0.0, -0.0, 1.0, 2.0**-29, 2.0**-54, 5e-324, 1 - 2.0**-21, 1 - 2.0**-30,
                         3.0, 2.0**53, 1e300, math.inf, -1.0, -2.0, math.nan]])
    out = np.empty_like(x)
    _log1ps(x, out)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.array([math.log1p(v) if v > -1 else np.log1p(v) for v in x])
    np.testing.assert_array_max_ulp(out[:-3], expected[:-3], maxulp=1)
    assert out[-3] == -math.inf and np.isnan(out[-2]) and np.isnan(out[-1])
    assert math.copysign(1.0, out[-14]) == -1.0  # log1p(-0.0) is -0.0


def test_shuffle_matches_twin_and_is_a_permutation():
    order = np.arange(50, dtype=np.int64)
    state = np.array([2**64 - 1], np.uint64)  # wraps around
    expected, new_state = ref.shuffle(order, 2**64 - 1)
    data.shuffle_inplace(order, order.shape[0], state)
    np.testing.assert_array_equal(order, expected)
    assert int(state[0]) == new_state
    assert sorted(order) == list(range(50)) and (order != np.arange(50)).any()


def test_shuffle_positions_are_uniform():
    # 3 items: each of the 6 permutations should come up ~1/6 of the time.
    state = np.array([7], np.uint64)
    counts = {}
    for _ in range(6000):
        order = np.arange(3, dtype=np.int64)
        data.shuffle_inplace(order, order.shape[0], state)
        counts[tuple(order)] = counts.get(tuple(order), 0) + 1
    assert len(counts) == 6
    assert all(800 < c < 1200 for c in counts.values()), counts


@pytest.mark.parametrize("activation,output", CASES)
def test_gradient_matches_finite_differences(activation, output, rng):
    """One full-batch SGD step with lr=1 moves the parameters by minus the gradient."""
    sizes = [3, 5, 3 if output == "softmax" else 2]
    X, Y, w = _problem(rng, sizes, output, n=7)
    net = _network(sizes, activation, output)
    before = net.params.copy()
    eps = 1e-6
    numeric = np.empty_like(before)
    for i in range(net.n_params):
        net.params[i] = before[i] + eps
        up = net.loss(X, Y, w)
        net.params[i] = before[i] - eps
        down = net.loss(X, Y, w)
        net.params[i] = before[i]
        numeric[i] = (up - down) / (2 * eps)
    _run_small(net, fastnn.SGD(net, lr=1.0), X, Y, w, np.arange(7, dtype=np.int64), False,
               np.zeros(1, np.uint64), 1, 7)
    np.testing.assert_allclose(before - net.params, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("momentum", [0.0, 0.9])  # plain SGD with batch size 1 is fused
@pytest.mark.parametrize("batch_size", [1, 3, 13])
@pytest.mark.parametrize("activation,output", CASES)
def test_small_path_equals_blas_path(activation, output, batch_size, momentum, rng):
    sizes = [4, 6, 5, 3 if output == "softmax" else 2]
    X, Y, w = _problem(rng, sizes, output)
    nets = [_network(sizes, [activation, "sigmoid"], output) for _ in range(2)]
    opts = [fastnn.SGD(net, lr=0.05, momentum=momentum, weight_decay=0.01) for net in nets]
    order = np.arange(13, dtype=np.int64)
    state = np.array([99], np.uint64)
    _, status, totals, _ = _run_small(nets[0], opts[0], X, Y, w, order, True, state, 4,
                                      batch_size)
    assert status == 0
    order, state = np.arange(13, dtype=np.int64), 99
    for epoch in range(4):
        order, state = ref.shuffle(order, state)
        # the BLAS path itself: run_epoch takes batches of one sample to small_train too
        total = nets[1]._train_epoch(X, Y, w, order, batch_size, opts[1], 0.0, 1.0)
        assert total == pytest.approx(totals[epoch], rel=1e-11)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    if momentum:
        np.testing.assert_allclose(opts[0].velocity, opts[1].velocity, rtol=1e-9, atol=1e-12)


def test_small_path_equals_blas_path_with_alpha_and_adam(rng):
    X, Y, w = _problem(rng, [3, 4, 2], "sigmoid")
    nets = [_network([3, 4, 2], "tanh", "sigmoid") for _ in range(2)]
    opts = [fastnn.Adam(net, lr=0.01) for net in nets]
    order = np.arange(13, dtype=np.int64)
    _, _, totals, t = _run_small(nets[0], opts[0], X, Y, w, order, False, np.zeros(1, np.uint64),
                                 2, 5, alpha=0.1)
    for epoch in range(2):
        total = training.run_epoch(nets[1], X, Y, w, np.arange(13, dtype=np.int64), 5, opts[1],
                                   alpha=0.1)
        assert total == pytest.approx(totals[epoch], rel=1e-11)
    assert t == opts[1].t == 6
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ref.DTYPES)
def test_train_learns_xor_with_per_sample_sgd(dtype):
    """The benchmark's W2 workload: 2-4-1 sigmoid, batch size 1, SGD lr 0.5."""
    net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=dtype, random_state=0)
    history = fastnn.train(net, XOR_X.astype(dtype), XOR_Y.astype(dtype),
                           optimizer=fastnn.SGD(net, lr=0.5), epochs=5000, batch_size=1,
                           random_state=0)
    assert training._is_small(net, 4, 1) and len(history) == 5000
    assert net.params.dtype == dtype
    assert history[-1] < 0.05 < history[0]
    np.testing.assert_array_equal(net.predict(XOR_X.astype(dtype)).ravel(), XOR_Y)


@pytest.mark.parametrize("make_optimizer", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_train_with_callback_equals_one_call(make_optimizer, rng):
    X, Y, w = _problem(rng, [3, 6, 2], "softmax", n=20)
    results = []
    for callback in (None, lambda epoch, loss: False):
        net = _network([3, 6, 2], "relu", "softmax")
        opt = make_optimizer(net)
        history = fastnn.train(net, X, Y, optimizer=opt, epochs=7, batch_size=3,
                               sample_weight=w, random_state=5, callback=callback)
        results.append((history, net.params.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_train_small_path_equals_blas_path(rng, monkeypatch):
    """train() gives the same shuffles and (to rounding) results on either path."""
    X, Y, w = _problem(rng, [3, 6, 2], "softmax", n=20)
    results = []
    for limit in (10**9, 0):
        monkeypatch.setattr(training, "_SMALL_MAX_WEIGHTS", limit)
        net = _network([3, 6, 2], "tanh", "softmax")
        assert training._is_small(net, 20, 4) == (limit > 0)
        history = fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.1), epochs=5,
                               batch_size=4, sample_weight=w, random_state=3)
        results.append((history, net.params.copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-11)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)


def test_train_is_reproducible_and_generator_state_carries():
    def run(random_state):
        net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=np.float64, random_state=0)
        return fastnn.train(net, XOR_X, XOR_Y, optimizer=fastnn.SGD(net, lr=0.5), epochs=50,
                            batch_size=1, random_state=random_state)
    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))
    gen = np.random.default_rng(1)
    assert not np.array_equal(run(gen), run(gen))  # a Generator moves on between calls


@pytest.mark.parametrize("with_callback", [True, False])
def test_train_small_path_restores_last_good_epoch_on_divergence(with_callback, rng):
    # Full-batch gradient descent on a linear model with a step 1.2x past the
    # stability limit 2 / lambda_max: the error grows ~1.4x per epoch and
    # overflows after some hundreds of good epochs.
    X, Y, _ = _problem(rng, [4, 1], "identity", n=8)
    design = np.hstack([X, np.ones((8, 1))])
    lr = 1.2 * 2 / np.linalg.eigvalsh(design.T @ design / 8).max()
    net = fastnn.Network([4, 1], output="identity", dtype=np.float64, random_state=0)
    start = net.params.copy()
    snapshots = []  # the parameters after each epoch, from a run with a callback
    with pytest.raises(fastnn.TrainingDiverged) as info:
        fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=lr), epochs=10**4, batch_size=8,
                     random_state=0, callback=lambda epoch, loss: snapshots.append(
                         net.params.copy()))
    failed = int(re.search(r"in epoch (\d+)", str(info.value)).group(1))
    assert failed == len(snapshots) + 1 > 100  # diverged after many good epochs
    np.testing.assert_array_equal(net.params, snapshots[-1])
    if not with_callback:  # all epochs in one call: the same epoch fails, same restore
        net.params[:] = start
        with pytest.raises(fastnn.TrainingDiverged, match=f"in epoch {failed};"):
            fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=lr), epochs=10**4,
                         batch_size=8, random_state=0)
        np.testing.assert_array_equal(net.params, snapshots[-1])
    assert np.isfinite(net.params).all()


def test_train_small_path_rejects_bad_input():
    net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=np.float64, random_state=0)
    opt = fastnn.SGD(net, lr=0.5)
    with pytest.raises(ValueError, match="NaN"):
        fastnn.train(net, np.array([[0, np.nan], [1, 1]]), XOR_Y[:2], optimizer=opt)
    with pytest.raises(TypeError, match="float64"):
        fastnn.train(net, XOR_X.astype(np.float32), XOR_Y, optimizer=opt)
    with pytest.raises(ValueError, match="positive sum"):
        fastnn.train(net, XOR_X, XOR_Y, optimizer=opt, sample_weight=np.zeros(4))
    with pytest.raises(ValueError, match="y must lie in"):
        fastnn.train(net, XOR_X, XOR_Y + 2, optimizer=opt)


def _run_fixed(net, optimizer, X, Y, w, order, shuffle, state, epochs, alpha=0.0):
    """small_sgd_train on ``net`` in place; returns (epochs_done, status, totals)."""
    _, _, _, _, hyper = optimizer._fused_state()
    hyper[6] = alpha
    totals = np.empty(epochs)
    units = training._fixed_units(net, 1, 0, 10**9)
    done, status = small.small_sgd_train(
        X, Y, net.params if w is None else w, order, shuffle, state, epochs, net.params,
        net.grads, net._net, hyper, net.n_weights, net.params.copy(), totals, units,
        training._fixed_codes(net, w is not None, hyper))
    return done, status, totals


# Two architectures only: each compiles its own kernel per dtype.
@pytest.mark.parametrize("dtype", ref.DTYPES)
@pytest.mark.parametrize("hidden", [[], [6]])
@pytest.mark.parametrize("activation,output", CASES)
def test_fixed_kernel_equals_small_train(activation, output, hidden, dtype, rng):
    """small_sgd_train does small_train's fused arithmetic in the same order.

    Equal to rounding: with the house's ``arcp`` flag LLVM may turn a
    division into a multiplication by a shared reciprocal differently in the
    two kernels.
    """
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    sizes = [3] + hidden + [3 if output == "softmax" else 2]
    X, Y, w = _problem(rng, sizes, output, dtype=dtype)
    for weights, alpha, shuffle in [(None, 0.0, True), (w, 0.03, False)]:
        nets = [_network(sizes, activation, output, dtype) for _ in range(2)]
        opts = [fastnn.SGD(net, lr=0.05, weight_decay=0.01) for net in nets]
        orders = [np.arange(13, dtype=np.int64) for _ in range(2)]
        states = [np.array([7], np.uint64) for _ in range(2)]
        done, status, totals = _run_fixed(nets[0], opts[0], X, Y, weights, orders[0], shuffle,
                                          states[0], 3, alpha)
        expected = _run_small(nets[1], opts[1], X, Y, weights, orders[1], shuffle, states[1], 3,
                              1, alpha)
        assert (done, status) == (3, 0) == expected[:2]
        np.testing.assert_allclose(nets[0].params, nets[1].params, **tol)
        np.testing.assert_allclose(nets[0].grads, nets[1].grads, **tol)  # the last epoch's
        np.testing.assert_allclose(totals, expected[2], **tol)
        np.testing.assert_array_equal(orders[0], orders[1])
        assert states[0][0] == states[1][0]


@pytest.mark.parametrize("dtype", ref.DTYPES)
def test_fixed_kernel_without_decay_or_slope_equals_small_train(dtype, rng):
    """The flag variants that drop the decay term and the slope 1 still match small_train."""
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    sizes = [3, 6, 2]
    X, Y, w = _problem(rng, sizes, "sigmoid", dtype=dtype)
    for weights in (None, w):
        nets = [fastnn.Network(sizes, "sigmoid", "sigmoid", dtype=dtype, random_state=0)
                for _ in range(2)]
        opts = [fastnn.SGD(net, lr=0.5) for net in nets]
        codes = training._fixed_codes(nets[0], weights is not None, opts[0]._fused_state()[4])
        assert len(codes[2]) == small.UNIT_SLOPE + (small.WEIGHTED if weights is not None else 0)
        orders = [np.arange(13, dtype=np.int64) for _ in range(2)]
        states = [np.array([7], np.uint64) for _ in range(2)]
        done, status, totals = _run_fixed(nets[0], opts[0], X, Y, weights, orders[0], True,
                                          states[0], 5)
        expected = _run_small(nets[1], opts[1], X, Y, weights, orders[1], True, states[1], 5, 1)
        assert (done, status) == (5, 0) == expected[:2]
        np.testing.assert_allclose(nets[0].params, nets[1].params, **tol)
        np.testing.assert_allclose(nets[0].grads, nets[1].grads, **tol)
        np.testing.assert_allclose(totals, expected[2], **tol)
        # without weights each epoch's order is drawn during the last one's last sample
        np.testing.assert_array_equal(orders[0], orders[1])
        assert states[0][0] == states[1][0]


@pytest.mark.parametrize("callback", [False, True])
def test_fixed_kernel_divergence_leaves_the_last_good_epochs_gradient(callback, monkeypatch):
    """small_sgd_train keeps a gradient in the call's last epoch only; a train() that
    diverges in epoch 4 still ends with the weights and the gradient of epoch 3."""
    monkeypatch.setattr(training, "_FIXED_MIN_UPDATES", 0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = 3 * X[:, :1]
    kwargs = {"callback": lambda epoch, loss: None} if callback else {}

    def network_and_optimizer():
        net = fastnn.Network([4, 5, 1], ["relu"], "identity", dtype=np.float64, random_state=0)
        return net, fastnn.SGD(net, lr=0.08)  # diverges in epoch 4

    net, opt = network_and_optimizer()
    assert training._fixed_units(net, 1, opt._fused_state()[0], 6000) is not None
    with pytest.raises(fastnn.TrainingDiverged, match="end of epoch 3"):
        fastnn.train(net, X, y, optimizer=opt, epochs=60, batch_size=1, random_state=0,
                     **kwargs)
    expected, expected_opt = network_and_optimizer()
    fastnn.train(expected, X, y, optimizer=expected_opt, epochs=3, batch_size=1,
                 random_state=0, **kwargs)
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.grads, expected.grads)
    assert np.isfinite(net.grads).all() and np.any(net.grads != 0)


def test_fixed_codes_flags():
    net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid")
    hyper = fastnn.SGD(net, lr=0.5)._fused_state()[4]
    assert training._fixed_codes(net, False, hyper) == (
        (0,) * SIGMOID, (0,) * net.loss_code, (0,) * small.UNIT_SLOPE)
    assert len(training._fixed_codes(net, True, hyper)[2]) == small.UNIT_SLOPE + small.WEIGHTED
    hyper[8] = 0.01  # weight decay
    assert len(training._fixed_codes(net, False, hyper)[2]) == small.UNIT_SLOPE + small.DECAYED
    hyper[8], hyper[6] = 0.0, 1e-4  # alpha
    assert len(training._fixed_codes(net, False, hyper)[2]) == small.UNIT_SLOPE + small.DECAYED
    slope = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", sigmoid_a=2.0)
    assert len(training._fixed_codes(slope, False, hyper)[2]) == small.DECAYED
    relu = fastnn.Network([2, 4, 1], "relu", "sigmoid")
    assert len(training._fixed_codes(relu, False, hyper)[2]) == small.DECAYED


def test_fixed_kernel_stops_on_divergence(rng):
    X, Y, _ = _problem(rng, [3, 2], "identity", n=13)
    X *= 1e3
    net = _network([3, 2], "identity", "identity")
    opt = fastnn.SGD(net, lr=10.0)
    start = net.params.copy()
    done, status, _ = _run_fixed(net, opt, X, Y, None, np.arange(13, dtype=np.int64), True,
                                 np.array([1], np.uint64), 50)
    assert status == 1 and done < 50
    assert not np.array_equal(net.params, start)  # written back, as small_train leaves them


@pytest.mark.parametrize("dtype", ref.DTYPES)
def test_train_takes_fixed_kernel_for_long_xor_runs(dtype, monkeypatch):
    """train() gives the same history and weights (to rounding) whichever small kernel it runs."""
    X, Y = XOR_X.astype(dtype), XOR_Y.astype(dtype)
    results = []
    for min_updates in (0, 10**9):
        monkeypatch.setattr(training, "_FIXED_MIN_UPDATES", min_updates)
        net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=dtype, random_state=0)
        assert (training._fixed_units(net, 1, 0, 4 * 300) is not None) == (min_updates == 0)
        history = fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.5), epochs=300,
                               batch_size=1, random_state=0)
        results.append((history, net.params.copy()))
    rtol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=rtol)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=rtol, atol=rtol / 100)


def test_fixed_kernel_only_where_it_serves():
    net = fastnn.Network([2, 4, 1], "sigmoid", "sigmoid", dtype=np.float64)
    assert training._fixed_units(net, 1, 0, 10**7) == ((0, 0), (0, 0, 0, 0), (0,))
    assert training._fixed_units(net, 1, 0, 1000) is None  # too short to pay its compilation
    assert training._fixed_units(net, 2, 0, 10**7) is None  # batches
    assert training._fixed_units(net, 1, 1, 10**7) is None  # momentum
    assert training._fixed_units(fastnn.Network([3, 2]), 1, 0, 10**7) == ((0,) * 3, (), (0, 0))
    deep = fastnn.Network([2, 3, 3, 1], output="sigmoid")
    assert training._fixed_units(deep, 1, 0, 10**7) is None  # depth
    wide = fastnn.Network([2, 40, 1], output="sigmoid")
    assert training._fixed_units(wide, 1, 0, 10**7) is None  # width


def _no_blas_epoch(*args, **kwargs):
    raise AssertionError("the BLAS path ran an epoch of batches of one sample")


def _state(optimizer):
    return [optimizer.m, optimizer.v] if isinstance(optimizer, fastnn.Adam) else \
        [] if optimizer.velocity is None else [optimizer.velocity]


@pytest.mark.parametrize("dtype", ref.DTYPES)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_run_epoch_of_single_samples_takes_the_small_path(name, dtype, rng, monkeypatch):
    """``run_epoch`` with batches of one sample on a small network runs ``small_train``
    (the BLAS path's calls cost about 3 us a sample, 15x the step itself): the loss, the
    parameters, the kept gradient (of the last weighted sample) and the optimizer's state
    of the BLAS path, up to rounding."""
    sizes = [3, 5, 2]
    X, Y, w = _problem(rng, sizes, "sigmoid", dtype=dtype)
    order = rng.permutation(13).astype(np.int64)
    w[order[-2:]] = 0  # the epoch's last weighted sample is not its last one
    nets = [_network(sizes, "tanh", "sigmoid", dtype) for _ in range(2)]
    opts = [OPTIMIZERS[name](net) for net in nets]
    expected = [nets[1]._train_epoch(X, Y, w, order, 1, opts[1], 0.01, 0.5) for _ in range(2)]
    monkeypatch.setattr(fastnn.Network, "_train_epoch", _no_blas_epoch)
    totals = [training.run_epoch(nets[0], X, Y, w, order, 1, opts[0], alpha=0.01,
                                 loss_scale=0.5) for _ in range(2)]
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 1e-6)
    np.testing.assert_allclose(totals, expected, rtol=rtol)
    for a, b in zip([nets[0].params, nets[0].grads] + _state(opts[0]),
                    [nets[1].params, nets[1].grads] + _state(opts[1])):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    assert getattr(opts[0], "t", 0) == getattr(opts[1], "t", 0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_run_epoch_of_single_samples_in_parts_gives_the_bits_of_one_call(name, rng):
    """An epoch cut into calls (as out-of-core data is read), each given the kept
    sample's offset and the loss so far: the bits of one call."""
    sizes = [3, 5, 3]
    X, Y, w = _problem(rng, sizes, "softmax")
    order = rng.permutation(13).astype(np.int64)
    w[order[-3:]] = 0
    nets = [_network(sizes, "relu", "softmax") for _ in range(2)]
    opts = [OPTIMIZERS[name](net) for net in nets]
    whole = training.run_epoch(nets[0], X, Y, w, order, 1, opts[0], alpha=0.01)
    kept = fastnn.network.last_weighted_batch(w, order, 13, 1)
    assert kept == 9
    total = 0.0
    for start, stop in [(0, 4), (4, 11), (11, 13)]:
        total = training.run_epoch(nets[1], X, Y, w, order[start:stop], 1, opts[1], alpha=0.01,
                                   kept_batch=kept - start if start <= kept < stop else -1,
                                   loss_so_far=total)
    assert total == whole
    for a, b in zip([nets[0].params, nets[0].grads] + _state(opts[0]),
                    [nets[1].params, nets[1].grads] + _state(opts[1])):
        np.testing.assert_array_equal(a, b)


def test_run_epoch_of_single_samples_stops_at_a_nan_row_as_the_blas_path(rng):
    """A row with NaN/inf stops the epoch before its update, with NonFiniteRows, as the BLAS
    path's gather does (the caller restores the last good epoch); rows the epoch does not
    visit are not read."""
    X, Y, _ = _problem(rng, [3, 4, 2], "identity")
    order = rng.permutation(13).astype(np.int64)
    X[order[6], 1] = np.nan
    nets = [_network([3, 4, 2], "tanh", "identity") for _ in range(2)]
    opts = [fastnn.SGD(net, lr=0.1, momentum=0.9) for net in nets]
    with pytest.raises(fastnn.network.NonFiniteRows, match="NaN or infinite"):
        nets[1]._train_epoch(X, Y, None, order, 1, opts[1], 0.0, 1.0)
    with pytest.raises(fastnn.network.NonFiniteRows, match="NaN or infinite"):
        training.run_epoch(nets[0], X, Y, None, order, 1, opts[0])
    for a, b in [(nets[0].params, nets[1].params), (opts[0].velocity, opts[1].velocity)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    before = nets[0].params.copy()
    with pytest.raises(fastnn.network.NonFiniteRows):  # in order: row 6 is the 7th sample
        training.run_epoch(nets[0], X[order], Y[order], None, None, 1, opts[0])
    assert not np.array_equal(nets[0].params, before)  # the six rows before it stepped
    assert np.isfinite(training.run_epoch(nets[0], X, Y, None, order[order != order[6]], 1,
                                          opts[0]))


def test_mlp_with_batches_of_one_sample_matches_scikit_learn():
    """MLPClassifier(batch_size=1) on a small network: its epochs run ``small_train``."""
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(5,), activation="tanh", solver="sgd", batch_size=1,
                  learning_rate_init=0.01, momentum=0.5, alpha=1e-3, max_iter=3,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = fastnn.MLPClassifier(**params).fit(X, y), SkMLP(**params).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


@pytest.mark.parametrize("batch_size", [1, 2])  # the per-sample kernel, the BLAS path
def test_run_epoch_refuses_arrays_of_another_dtype(batch_size, rng):
    """A clear TypeError on both paths: float64 rows ran in a float32 network's per-sample
    kernel without a word, and the BLAS path raised a Numba typing error."""
    net = _network([2, 4, 1], "sigmoid", "sigmoid", np.float32)
    X, Y, w = _problem(rng, [2, 4, 1], "sigmoid", dtype=np.float32)
    before = net.params.copy()
    X64, Y64, w64 = (a.astype(np.float64) for a in (X, Y, w))
    for args, name in [((X64, Y, None), "X"), ((X, Y64, None), "Y"), ((X, Y, w64), "weights")]:
        with pytest.raises(TypeError, match=f"{name} must be an array of the network's dtype "
                                            "float32, got float64"):
            training.run_epoch(net, *args, None, batch_size, fastnn.SGD(net))
    np.testing.assert_array_equal(net.params, before)
