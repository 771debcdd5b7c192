"""Network: backpropagation against finite differences, the theory's small truths, dtypes."""
import numpy as np
import pytest

import fastnn
from fastnn.kernels import ACTIVATION_CODES

import reference as ref

HIDDEN = sorted(set(ACTIVATION_CODES) - {"logistic", "step"})
OUTPUTS = ["identity", "sigmoid", "softmax"]


def _problem(rng, n_in, n_out, output, n=7, dtype=np.float64):
    return ref.random_problem(rng, (n_in, n_out), output, n, dtype)


def _numeric_gradient(net, X, Y, w, eps=1e-6):
    grad = np.empty_like(net.params)
    for i in range(net.n_params):
        saved = net.params[i]
        net.params[i] = saved + eps
        up, _ = net.loss_and_gradient(X, Y, w)
        net.params[i] = saved - eps
        down, _ = net.loss_and_gradient(X, Y, w)
        net.params[i] = saved
        grad[i] = (up - down) / (2 * eps)
    return grad


@pytest.fixture(params=["sample-major", "feature-major"])
def layout(request, monkeypatch):
    """Training steps with (n, units) or (units, n) activations (FEATURE_MAJOR_MAX_ROWS)."""
    limit = 0 if request.param == "sample-major" else 10**9
    monkeypatch.setattr(fastnn.network, "FEATURE_MAJOR_MAX_ROWS", limit)
    return request.param


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", HIDDEN)
def test_gradient_matches_finite_differences(activation, output, layout, rng):
    X, Y, w = _problem(rng, 3, 2 if output != "softmax" else 3, output)
    net = fastnn.Network([3, 5, Y.shape[1]], activation, output, dtype=np.float64,
                         random_state=1, sigmoid_a=1.7, leaky_slope=0.1)
    net.intercepts[0][:] = rng.uniform(-0.5, 0.5, 5)  # biases in play too
    _, grads = net.loss_and_gradient(X, Y, w)
    analytic = grads.copy()
    numeric = _numeric_gradient(net, X, Y, w)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_gradient_of_deep_network(layout, rng):
    X, Y, w = _problem(rng, 4, 3, "softmax", n=9)
    net = fastnn.Network([4, 6, 5, 4, 3], ["tanh", "sigmoid", "softplus"], "softmax",
                         dtype=np.float64, random_state=2, sigmoid_a=2.0)
    for b in net.intercepts:
        b[:] = rng.uniform(-0.3, 0.3, b.shape)
    analytic = net.loss_and_gradient(X, Y, w)[1].copy()
    np.testing.assert_allclose(analytic, _numeric_gradient(net, X, Y, w), rtol=1e-5, atol=1e-9)
    assert np.abs(analytic[:net.coefs[0].size]).max() > 1e-4  # the first layer does learn


def test_step_activation_blocks_the_gradient_below(rng):
    X, Y, _ = _problem(rng, 3, 2, "identity")
    net = fastnn.Network([3, 4, 2], "step", "identity", dtype=np.float64, random_state=0)
    net.loss_and_gradient(X, Y)
    assert not net.coef_grads[0].any() and not net.intercept_grads[0].any()
    assert net.coef_grads[1].any()


def test_loss_values_match_their_formulas(rng):
    X, Y, w = _problem(rng, 3, 4, "softmax")
    for output in OUTPUTS:
        net = fastnn.Network([3, 4], output=output, dtype=np.float64, random_state=0)
        Z = X @ net.coefs[0] + net.intercepts[0]
        if output == "identity":
            per_sample = 0.5 * ((Z - Y) ** 2).sum(1)
        elif output == "sigmoid":
            per_sample = (np.logaddexp(0, Z) - Y * Z).sum(1)
        else:
            per_sample = -(Y * (Z - np.logaddexp.reduce(Z, axis=1, keepdims=True))).sum(1)
        loss, _ = net.loss_and_gradient(X, Y, w)
        assert loss == pytest.approx(np.average(per_sample, weights=w), rel=1e-12)


def test_perceptron_cannot_and_two_layers_can_learn_xor():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.float64)
    linear = fastnn.Network([2, 1], output="sigmoid", dtype=np.float64, random_state=0)
    fastnn.train(linear, X, y, optimizer=fastnn.SGD(linear, lr=1.0), epochs=2000, batch_size="full")
    assert np.mean(linear.predict(X).ravel() == y) <= 0.75
    for hidden in (2, 4):
        net = fastnn.Network([2, hidden, 1], "sigmoid", "sigmoid", dtype=np.float64, random_state=0)
        history = fastnn.train(net, X, y, optimizer=fastnn.SGD(net, lr=2.0, momentum=0.9),
                               epochs=3000, batch_size="full")
        assert np.array_equal(net.predict(X).ravel(), y), hidden
        assert history[-1] < 0.05 < history[0]


@pytest.mark.parametrize("batch_size", [1, 2, "full"])
def test_gradient_descent_variants_learn_or(batch_size):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([0, 1, 1, 1], dtype=np.float32)
    net = fastnn.Network([2, 1], output="sigmoid", random_state=0)
    history = fastnn.train(net, X, y, optimizer=fastnn.SGD(net, lr=0.5), epochs=500,
                           batch_size=batch_size, random_state=0)
    assert np.array_equal(net.predict(X).ravel(), y)
    assert history[-1] < history[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_end_to_end(dtype, rng):
    X, Y, _ = _problem(rng, 5, 3, "softmax", n=40, dtype=dtype)
    net = fastnn.Network([5, 8, 3], "tanh", dtype=dtype, random_state=0)
    fastnn.train(net, X, Y, optimizer=fastnn.Adam(net, lr=0.01), epochs=3, batch_size=16)
    assert net.params.dtype == dtype and net.grads.dtype == dtype
    assert all(W.dtype == dtype for W in net.coefs)
    assert net.forward(X).dtype == dtype
    loss, grads = net.loss_and_gradient(X, Y)
    assert grads.dtype == dtype and np.isfinite(loss)


def test_float32_agrees_with_float64(rng):
    X, Y, w = _problem(rng, 6, 4, "softmax", n=50)
    nets = [fastnn.Network([6, 16, 4], "relu", dtype=dt, random_state=3)
            for dt in (np.float32, np.float64)]
    results = [net.loss_and_gradient(X.astype(net.dtype), Y, w) for net in nets]
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-3, atol=1e-5)


def test_batch_indices_equal_explicit_subset(rng):
    X, Y, w = _problem(rng, 5, 3, "softmax", n=30)
    net = fastnn.Network([5, 7, 3], "relu", dtype=np.float64, random_state=0)
    idx = rng.permutation(30)[:11]
    loss_a, grads = net.loss_and_gradient(X, Y, w, indices=idx)
    grads_a = grads.copy()
    loss_b, grads_b = net.loss_and_gradient(X[idx], Y[idx], w[idx])
    assert loss_a == loss_b
    np.testing.assert_array_equal(grads_a, grads_b)


def test_integer_sample_weights_equal_repeated_samples(rng):
    X, Y, _ = _problem(rng, 4, 2, "identity", n=6)
    counts = np.array([1, 3, 2, 1, 1, 2])
    net = fastnn.Network([4, 5, 2], "tanh", "identity", dtype=np.float64, random_state=0)
    loss_w, grads = net.loss_and_gradient(X, Y, counts)
    grads_w = grads.copy()
    loss_r, grads_r = net.loss_and_gradient(np.repeat(X, counts, 0), np.repeat(Y, counts, 0))
    assert loss_w == pytest.approx(loss_r, rel=1e-12)
    np.testing.assert_allclose(grads_w, grads_r, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("sizes, batch_size, epochs, path", [
    ([3, 4, 2], 1, 3, "small"),           # kernels/small.small_train
    ([3, 4, 2], 1, 4700, "fixed"),        # kernels/small.small_sgd_train (>= 2**18 updates)
    ([3, 4, 2], 8, 3, "small"),
    ([3, 4, 2], 8, 3, "blas"),            # kernels/trainer
], ids=["small-1", "fixed", "small-8", "blas-8"])
def test_a_batch_whose_weights_are_all_zero_is_skipped(sizes, batch_size, epochs, path,
                                                       monkeypatch):
    """One such batch made the weighted mean 0 / 0 and train() raised a false
    TrainingDiverged. Skipping it equals training without its rows (batches in order)."""
    import fastnn.kernels.small

    # Batches of 8 take the small path on little data, the BLAS path on more.
    monkeypatch.setattr(fastnn.training, "_SMALL_MAX_EPOCH_WORK", 0 if path == "blas" else 10**9)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3))
    Y = np.eye(2)[rng.integers(0, 2, 64)]
    weights = rng.uniform(0.5, 2.0, 64)
    weights[16:24] = 0.0  # the third batch of 8; rows of their own with batch size 1
    calls = []
    original = {name: getattr(fastnn.kernels.small, name)
                for name in ("small_train", "small_sgd_train")}
    for name, kernel in original.items():
        monkeypatch.setattr(fastnn.kernels.small, name,
                            lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))

    def fit(rows):
        net = fastnn.Network(sizes, "tanh", dtype=np.float64, random_state=0)
        fastnn.train(net, X[rows], Y[rows], optimizer=fastnn.SGD(net, lr=0.1), epochs=epochs,
                     batch_size=batch_size, shuffle=False, sample_weight=weights[rows])
        return net.params

    kept = np.r_[0:16, 24:64]
    np.testing.assert_allclose(fit(np.arange(64)), fit(kept), rtol=1e-12, atol=1e-14)
    expected = {"small": "small_train", "fixed": "small_sgd_train", "blas": None}[path]
    assert set(calls) == ({expected} if expected else set())


def test_layers_are_views_of_one_flat_buffer():
    net = fastnn.Network([3, 4, 2], "relu", dtype=np.float64, random_state=0)
    assert net.n_params == 3 * 4 + 4 * 2 + 4 + 2 and net.n_weights == 3 * 4 + 4 * 2
    for views, flat in ((net.coefs + net.intercepts, net.params),
                        (net.coef_grads + net.intercept_grads, net.grads)):
        assert all(np.shares_memory(v, flat) for v in views)
    net.params[:] = np.arange(net.n_params)
    np.testing.assert_array_equal(net.coefs[1].ravel(), np.arange(12, 20))
    np.testing.assert_array_equal(net.intercepts[0], np.arange(20, 24))


@pytest.mark.parametrize("activation, factor", [("tanh", 6.0), ("sigmoid", 2.0)])
def test_glorot_and_he_initialisation(activation, factor):
    net = fastnn.Network([400, 300, 10], activation, dtype=np.float64, random_state=0)
    bound = np.sqrt(factor / 700)
    assert np.abs(net.coefs[0]).max() <= bound and np.abs(net.coefs[0]).max() > 0.99 * bound
    relu = fastnn.Network([400, 300, 10], "relu", dtype=np.float64, random_state=0)
    assert np.abs(relu.coefs[0]).max() == pytest.approx(np.sqrt(6 / 400), rel=0.01)
    assert not any(b.any() for b in net.intercepts)


def test_same_seed_same_network_and_training(rng):
    X, Y, _ = _problem(rng, 5, 3, "softmax", n=64, dtype=np.float32)
    runs = []
    for _ in range(2):
        net = fastnn.Network([5, 9, 3], "relu", random_state=42)
        fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.1, momentum=0.9), epochs=4,
                     batch_size=8, random_state=7)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_forward_matches_numpy_and_predict(rng):
    X, _, _ = _problem(rng, 5, 3, "softmax", n=20)
    net = fastnn.Network([5, 6, 3], "tanh", "softmax", dtype=np.float64, random_state=0)
    Z = np.tanh(X @ net.coefs[0] + net.intercepts[0]) @ net.coefs[1] + net.intercepts[1]
    P = np.exp(Z - Z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    np.testing.assert_allclose(net.forward(X), P, rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), P.argmax(1))
    sig = fastnn.Network([5, 2], output="sigmoid", dtype=np.float64, random_state=0)
    np.testing.assert_array_equal(sig.predict(X), (X @ sig.coefs[0] > 0).astype(int))


@pytest.mark.parametrize("n_rows, block_rows", [
    (1, 32), (33, 32), (100, 32), (1000, 250), (1024, 256), (1025, 129), (2047, 256),
    (2048, 256), (60_000, 256)])
def test_forward_block_rows(n_rows, block_rows):
    """Blocks of _BLOCK_ROWS rows from _BLOCKS_MIN_ROWS rows on; below, a multiple of 4
    blocks (equal shares for 2 or 4 threads) of at least 32 rows."""
    assert fastnn.network._forward_block_rows(n_rows) == block_rows


def test_forward_in_small_blocks_equals_one_pass(rng, monkeypatch):
    X, _, _ = _problem(rng, 5, 3, "softmax", n=50)
    net = fastnn.Network([5, 6, 3], "relu", dtype=np.float64, random_state=0)
    whole = net.forward(X)
    monkeypatch.setattr("fastnn.network._MIN_BLOCK_ROWS", 7)  # 4 blocks, the last short
    np.testing.assert_allclose(net.forward(X), whole, rtol=1e-14)
    np.testing.assert_allclose(whole, ref.network_forward(X, net), rtol=1e-12)


def test_diverging_training_restores_last_good_epoch(rng):
    X, Y, _ = _problem(rng, 4, 1, "identity", n=32)
    X *= 100
    net = fastnn.Network([4, 8, 1], "relu", "identity", dtype=np.float64, random_state=0)
    good = []
    fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=1e-9), epochs=1,
                 callback=lambda epoch, loss: good.append(net.params.copy()))
    with pytest.raises(fastnn.TrainingDiverged, match="Lower the learning rate"):
        fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=1e6), epochs=50, batch_size=4)
    assert np.isfinite(net.params).all()
    np.testing.assert_array_equal(net.params, good[0])


def test_callback_stops_training(rng):
    X, Y, _ = _problem(rng, 4, 2, "softmax", n=16)
    net = fastnn.Network([4, 2], dtype=np.float64, random_state=0)
    history = fastnn.train(net, X, Y, epochs=100, callback=lambda epoch, loss: epoch == 2)
    assert len(history) == 3


def test_loss_without_gradient_and_pickle_round_trip(rng):
    import pickle
    X, Y, w = _problem(rng, 4, 3, "softmax", n=20)
    net = fastnn.Network([4, 6, 3], "tanh", dtype=np.float64, random_state=0)
    loss, _ = net.loss_and_gradient(X, Y, w)
    assert net.loss(X, Y, w) == loss
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    clone.params[0] += 1.0  # views are rebuilt on the clone's own flat buffer
    assert clone.coefs[0][0, 0] == net.coefs[0][0, 0] + 1.0
    assert clone.loss_and_gradient(X, Y, w)[1] is clone.grads


OPTIMIZERS = {
    "sgd": lambda net: fastnn.SGD(net, lr=0.1, weight_decay=0.01),
    "nesterov": lambda net: fastnn.SGD(net, lr=0.1, momentum=0.9, nesterov=True,
                                       weight_decay=0.01),
    "adam": lambda net: fastnn.Adam(net, lr=0.01, weight_decay=0.01),
}


@pytest.fixture(params=["fused", "stepwise"])
def epoch_mode(request, monkeypatch):
    """train() with every epoch in one compiled call, or run as Python over the kernels."""
    limit = 0 if request.param == "fused" else 10**9
    monkeypatch.setattr(fastnn.training, "STEPWISE_MAX_BATCHES", limit)
    return request.param


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_fused_epochs_equal_step_by_step_training(optimizer, epoch_mode, rng):
    make_optimizer = OPTIMIZERS[optimizer]
    """train() (one compiled call per epoch) == loss_and_gradient + step per batch.

    40 hidden units: the BLAS path (not kernels/small.py), where plain SGD
    applies its step inside the backward pass; ``grads`` must still end as
    the last batch's gradient.
    """
    X, Y, w = _problem(rng, 5, 3, "softmax", n=50)
    nets = [fastnn.Network([5, 40, 3], "tanh", dtype=np.float64, random_state=0) for _ in range(2)]
    opts = [make_optimizer(net) for net in nets]
    history = fastnn.train(nets[0], X, Y, optimizer=opts[0], epochs=3, batch_size=16,
                           shuffle=False, sample_weight=w)
    losses = []
    for _ in range(3):
        total = 0.0
        for start in range(0, 50, 16):
            batch = np.arange(start, min(start + 16, 50))
            loss, _ = nets[1].loss_and_gradient(X, Y, w, indices=batch)
            opts[1].step()
            total += loss * len(batch)
        losses.append(total / 50)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nets[0].grads, nets[1].grads, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(history, losses, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_stepwise_epochs_equal_fused_epochs_bit_for_bit(optimizer, dtype, monkeypatch, rng):
    """Small jobs run the fused epoch's functions as Python (see training.runs_stepwise)."""
    X, Y, w = _problem(rng, 6, 3, "softmax", n=45, dtype=dtype)
    results = []
    for limit in (0, 10**9):  # fused, then stepwise
        monkeypatch.setattr(fastnn.training, "STEPWISE_MAX_BATCHES", limit)
        net = fastnn.Network([6, 40, 3], ["relu"], dtype=dtype, random_state=1)
        opt = OPTIMIZERS[optimizer](net)
        history = []
        for shuffle, weights in ((True, w), (False, None)):  # gathered, then in order
            history += list(fastnn.train(net, X, Y, optimizer=opt, epochs=2, batch_size=8,
                                    shuffle=shuffle, sample_weight=weights, random_state=0))
        results.append((net.params.copy(), net.grads.copy(), history))
    (p_fused, g_fused, h_fused), (p_step, g_step, h_step) = results
    np.testing.assert_array_equal(p_step, p_fused)
    np.testing.assert_array_equal(g_step, g_fused)
    assert h_step == h_fused


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_feature_major_training_equals_sample_major(optimizer, dtype, monkeypatch, rng):
    """Both layouts of the training steps take the same steps (up to rounding), gathered
    and in order, with sample weights and weight decay; ``grads`` ends as the last batch's
    gradient."""
    X, Y, w = _problem(rng, 6, 3, "softmax", n=45, dtype=dtype)
    monkeypatch.setattr(fastnn.training, "STEPWISE_MAX_BATCHES", 0)  # the compiled epochs
    results = []
    for limit in (0, 10**9):  # sample-major, then feature-major
        monkeypatch.setattr(fastnn.network, "FEATURE_MAJOR_MAX_ROWS", limit)
        net = fastnn.Network([6, 40, 20, 3], ["relu", "tanh"], dtype=dtype, random_state=1)
        opt = OPTIMIZERS[optimizer](net)
        history = []
        for shuffle, weights in ((True, w), (False, None)):
            history += list(fastnn.train(net, X, Y, optimizer=opt, epochs=2, batch_size=8,
                                         shuffle=shuffle, sample_weight=weights, random_state=0))
        results.append((net.params.copy(), net.grads.copy(), history))
    tolerance = {"rtol": 1e-11, "atol": 1e-13} if dtype == np.float64 else {"rtol": 2e-4,
                                                                              "atol": 1e-5}
    for sample_major, feature_major in zip(*results):
        np.testing.assert_allclose(feature_major, sample_major, **tolerance)


def test_only_small_jobs_of_few_batches_run_stepwise():
    runs_stepwise = fastnn.training.runs_stepwise
    assert runs_stepwise(45, 8, 2, 20 * 16 + 16 * 3)
    assert not runs_stepwise(10**6, 32, 1, 100)  # many batches
    assert not runs_stepwise(1000, 10, 10, 100)
    w1 = 784 * 256 + 256 * 128 + 128 * 10
    assert runs_stepwise(2048, 512, 1, w1)  # few batches, little work
    assert not runs_stepwise(60_000, 512, 1, w1)  # few batches, much work (W1 at batch 512)


@pytest.mark.parametrize("path", ["small", "blas"])
def test_large_float32_sample_weights_do_not_overflow_the_loss(path, monkeypatch):
    """A weight of 3e37 times a sample loss of ~270 overflowed float32 in the weighted sum
    (``w_i * l_i``): ``loss`` returned inf and ``train`` stopped as diverged, though the
    weighted mean is ~270 and does not change when the weights are rescaled."""
    net = fastnn.Network([2, 3], output="softmax", random_state=0)
    net.coefs[0][...] *= 100
    X = np.array([[1, 2], [3, -1]], np.float32)
    Y = np.eye(3, dtype=np.float32)[[0, 2]]
    w = np.array([3e37, 1], np.float32)
    expected = net.loss(X, Y, w / w.mean())
    assert expected > 100
    np.testing.assert_allclose(net.loss(X, Y, w), expected, rtol=1e-6)
    np.testing.assert_allclose(net.loss_and_gradient(X, Y, w)[0], expected, rtol=1e-6)
    monkeypatch.setattr(fastnn.training, "_SMALL_MAX_WEIGHTS", 10**9 if path == "small" else 0)
    for batch_size in (1, 2):
        losses = fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.0), epochs=1,
                              batch_size=batch_size, shuffle=False, sample_weight=w)
        assert np.isfinite(losses).all()
