"""The Network-level public API: argument checks of Network, train and the optimizers."""
import numpy as np
import pytest

import fastnn


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    Y = np.eye(3)[rng.integers(0, 3, 30)]
    return X, Y


def _net():
    return fastnn.Network([4, 5, 3], dtype=np.float64, random_state=0)


@pytest.mark.parametrize("batch_size", [1, 7])  # the small path and the BLAS path
def test_train_rejects_a_callback_that_is_not_callable_before_training(problem, batch_size):
    X, Y = problem
    net = _net()
    before = net.params.copy()
    with pytest.raises(TypeError, match="callback must be callable"):
        fastnn.train(net, X, Y, epochs=2, batch_size=batch_size, callback=3)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("nesterov", ["False", 0, None])
def test_sgd_nesterov_must_be_a_bool(nesterov):
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        fastnn.SGD(_net(), momentum=0.9, nesterov=nesterov)
    assert fastnn.SGD(_net(), momentum=0.9, nesterov=np.True_).nesterov is True


@pytest.mark.parametrize("output", [["softmax"], {"softmax": 1}, None])
def test_network_names_an_unknown_output(output):
    with pytest.raises(ValueError, match="unknown output"):
        fastnn.Network([4, 3], output=output)


@pytest.mark.parametrize("random_state, error",
                         [(-1, ValueError), ("seed", TypeError), (1.5, TypeError)])
def test_train_names_a_bad_random_state(problem, random_state, error):
    X, Y = problem
    net = _net()
    before = net.params.copy()
    with pytest.raises(error, match="random_state"):
        fastnn.train(net, X, Y, epochs=1, random_state=random_state)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("indices", [[], np.array([], np.int64), ()])
def test_loss_and_gradient_names_empty_indices(problem, indices):
    X, Y = problem
    net = _net()
    grads = net.grads.copy()
    with pytest.raises(ValueError, match="indices must be a non-empty"):
        net.loss_and_gradient(X, Y, indices=indices)
    np.testing.assert_array_equal(net.grads, grads)


@pytest.mark.parametrize("batch_size", ["FULL", "auto", "all"])
def test_train_names_the_batch_size_choices(problem, batch_size):
    X, Y = problem
    with pytest.raises(TypeError, match="batch_size must be an integer or 'full', got"):
        fastnn.train(_net(), X, Y, epochs=1, batch_size=batch_size)


@pytest.mark.parametrize("optimizer", [fastnn.SGD, fastnn.Adam])
@pytest.mark.parametrize("network", [None, "net", np.zeros(3)])
def test_optimizers_need_a_network(optimizer, network):
    with pytest.raises(TypeError, match="network must be a fastnn.Network"):
        optimizer(network)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
def test_forward_reports_finite_inputs_that_overflow(dtype, output):
    net = fastnn.Network([4, 5, 3], output=output, dtype=dtype, random_state=0)
    X = np.ones((3, 4), dtype)
    X[1] = np.finfo(dtype).max / 2  # finite, but X @ W overflows
    for call in (net.forward, net.predict):
        with pytest.raises(ValueError, match=r"outputs of 1 row\(s\) of X .* overflow"):
            call(X)
    assert np.isfinite(net.forward(X[[0, 2]])).all()


def test_forward_reports_non_finite_parameters():
    net = fastnn.Network([4, 3], random_state=0)
    net.coefs[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="parameters hold NaN"):
        net.forward(np.ones((2, 4), np.float32))


def test_optimizer_hyperparameters_set_later_are_checked_and_take_effect():
    """``opt.lr = -5`` was accepted (training climbed uphill: losses 1.4, 4.7, 64), and
    ``opt.momentum = 0.9`` on an SGD built without momentum was ignored (no velocity)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), np.eye(2)[rng.integers(0, 2, 64)]

    def network():
        return fastnn.Network([3, 8, 2], "relu", dtype=np.float64, random_state=0)

    net = network()
    sgd = fastnn.SGD(net, lr=0.1)
    for name, value, error in [("lr", -5.0, ValueError), ("lr", float("nan"), ValueError),
                               ("momentum", 1.5, ValueError), ("nesterov", "False", TypeError),
                               ("weight_decay", -1.0, ValueError), ("lr", "0.1", TypeError)]:
        with pytest.raises(error, match=name):
            setattr(sgd, name, value)
    assert (sgd.lr, sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.1, 0.0, False, 0.0)
    sgd.momentum = 0.9  # momentum turned on later trains as an SGD built with it
    fastnn.train(net, X, y, optimizer=sgd, epochs=2, batch_size=16, random_state=0)
    expected = network()
    fastnn.train(expected, X, y, optimizer=fastnn.SGD(expected, lr=0.1, momentum=0.9),
                 epochs=2, batch_size=16, random_state=0)
    np.testing.assert_array_equal(net.params, expected.params)
    sgd.momentum = 0.0
    assert sgd.velocity is None and sgd._state_arrays() == []
    adam = fastnn.Adam(net)
    for name, value in [("lr", -1.0), ("beta1", 1.0), ("beta2", -0.1), ("eps", 0.0),
                        ("weight_decay", float("inf"))]:
        with pytest.raises(ValueError, match=name):
            setattr(adam, name, value)
    assert (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.001, 0.9, 0.999, 1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_starts_from_given_params_without_drawing(problem, dtype, monkeypatch):
    """params= copies another network's parameters (in the new dtype); nothing is drawn,
    so model files, the Dask rounds and the float64 twin of a float32 model build their
    networks without random weights they would overwrite."""
    X, _ = problem
    source = fastnn.Network([4, 5, 3], "tanh", dtype=np.float32, random_state=3)

    def drawn(self, random_state=None):
        raise AssertionError("random initial weights drawn")

    monkeypatch.setattr(fastnn.Network, "initialize", drawn)
    net = fastnn.Network([4, 5, 3], "tanh", dtype=dtype, params=source.params,
                         random_state=99)
    assert net.params.dtype == dtype and not np.shares_memory(net.params, source.params)
    np.testing.assert_array_equal(net.params, source.params.astype(dtype))
    np.testing.assert_array_equal(net.coefs[0], source.coefs[0].astype(dtype))
    np.testing.assert_allclose(net.forward(X.astype(dtype)), source.forward(X.astype(np.float32)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params, error, match", [
    (np.zeros(3), ValueError, r"params must have shape \(43,\) \(the parameters of layers "
                              r"\[4, 5, 3\]\), got \(3,\)"),
    (np.zeros((43, 1)), ValueError, r"params must have shape \(43,\)"),
    (np.array(["1"] * 43), TypeError, "params must contain numbers, got an array of dtype <U1"),
    (np.full(43, 1e300), ValueError, "params has values beyond float32's range"),
])
def test_network_names_bad_params(params, error, match):
    with pytest.raises(error, match=match):
        fastnn.Network([4, 5, 3], params=params)


@pytest.mark.parametrize("sizes", [[4, 5, 3], [4, 64, 3]])  # the small path and the BLAS path
@pytest.mark.parametrize("stepwise", [False, True])
def test_grads_after_an_epoch_are_the_data_losss_gradient_without_alpha(problem, sizes, stepwise):
    """As documented (run_epoch, README, MLP gradient_norms_): the step adds alpha's term,
    grads does not hold it. A rate of 0 keeps the weights, so the gradients compare."""
    from fastnn.training import run_epoch

    X, Y = problem
    grads = []
    for alpha in (0.0, 5.0):
        net = fastnn.Network(sizes, dtype=np.float64, random_state=0)
        run_epoch(net, X, Y, None, np.arange(len(X)), len(X), fastnn.SGD(net, lr=0.0),
                  alpha=alpha, stepwise=stepwise)
        grads.append(net.grads.copy())
    np.testing.assert_array_equal(grads[0], grads[1])
    expected = net.loss_and_gradient(X, Y)[1]
    np.testing.assert_allclose(grads[1], expected, rtol=1e-12, atol=1e-15)
