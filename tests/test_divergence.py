"""A diverged or failed training puts back the weights *and* the optimizer's state.

Before, only the weights went back: a momentum velocity of 1e153 (Adam: the
moments and step count of the bad epoch) stayed, so the next ``train()`` or
``partial_fit`` on good data diverged again or returned NaN.
"""
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

import fastnn
from fastnn import MLPClassifier, MLPRegressor


def _state(optimizer):
    return [a.copy() for a in optimizer._state_arrays()], getattr(optimizer, "t", 0)


def _assert_same_state(net, optimizer, expected_net, expected_optimizer):
    np.testing.assert_array_equal(net.params, expected_net.params)
    (arrays, t), (expected_arrays, expected_t) = _state(optimizer), _state(expected_optimizer)
    assert t == expected_t
    for got, want in zip(arrays, expected_arrays, strict=True):
        np.testing.assert_array_equal(got, want)


def _linear_problem():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8, 4)), rng.standard_normal((8, 1))
    design = np.hstack([X, np.ones((8, 1))])
    return X, Y, np.linalg.eigvalsh(design.T @ design / 8).max()


# Full-batch steps past the stability limit (heavy ball: 2 (1 + mu) / lambda_max)
# overflow after some hundreds of epochs; Adam's step of 1e154 after one.
_DIVERGING = {"momentum": lambda net, lam: fastnn.SGD(net, lr=1.2 * 2 * 1.5 / lam, momentum=0.5),
              "adam": lambda net, lam: fastnn.Adam(net, lr=1e154)}


@pytest.mark.parametrize("optimizer", sorted(_DIVERGING))
def test_small_path_restores_the_optimizer_state_of_the_last_good_epoch(optimizer):
    """Per epoch (with a callback) and all epochs in one kernel call (the good epochs of the
    call are run again from its start, as the kernel keeps no copy of the state)."""
    X, Y, lam = _linear_problem()

    def fit(epochs, callback=None):
        net = fastnn.Network([4, 1], output="identity", dtype=np.float64, random_state=0)
        opt = _DIVERGING[optimizer](net, lam)
        fastnn.train(net, X, Y, optimizer=opt, epochs=epochs, batch_size=8, random_state=0,
                     callback=callback)
        return net, opt

    diverged = []
    for callback in (lambda epoch, loss: None, None):
        with pytest.raises(fastnn.TrainingDiverged, match="optimizer's state") as info:
            fit(10**4, callback)
        diverged.append(int(re.search(r"in epoch (\d+)", str(info.value)).group(1)))
    assert diverged[0] == diverged[1] >= 2
    expected = fit(diverged[0] - 1)
    for callback in (lambda epoch, loss: None, None):
        net = fastnn.Network([4, 1], output="identity", dtype=np.float64, random_state=0)
        opt = _DIVERGING[optimizer](net, lam)
        with pytest.raises(fastnn.TrainingDiverged):
            fastnn.train(net, X, Y, optimizer=opt, epochs=10**4, batch_size=8, random_state=0,
                         callback=callback)
        _assert_same_state(net, opt, *expected)


@pytest.mark.parametrize("make_optimizer", [lambda net: fastnn.SGD(net, lr=0.05, momentum=0.9),
                                            lambda net: fastnn.Adam(net, lr=0.01)],
                         ids=["momentum", "adam"])
def test_blas_path_restores_the_optimizer_state_of_the_last_good_epoch(make_optimizer):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 20))
    Y = np.eye(3)[rng.integers(0, 3, 300)]

    def start():
        net = fastnn.Network([20, 32, 3], "relu", dtype=np.float64, random_state=0)
        return net, make_optimizer(net)

    expected = start()
    fastnn.train(expected[0], X, Y, optimizer=expected[1], epochs=2, batch_size=32,
                 random_state=0)
    net, opt = start()

    def blow_up_after_the_second_epoch(epoch, loss):
        if epoch == 1:
            opt.lr = 1e300

    with pytest.raises(fastnn.TrainingDiverged, match="in epoch 3;"):
        fastnn.train(net, X, Y, optimizer=opt, epochs=5, batch_size=32, random_state=0,
                     callback=blow_up_after_the_second_epoch)
    _assert_same_state(net, opt, *expected)


@pytest.mark.parametrize("layers, batch_size", [([8, 16, 1], 32), ([2, 1], 1)],
                         ids=["blas", "small"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_first_batch_that_overflows_is_not_blamed_on_the_learning_rate(layers, batch_size,
                                                                         momentum):
    """Targets of 1e20 have squares beyond float32: the first batch's loss is inf at the
    initial weights, and the error said "Lower the learning rate", which cannot help."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, layers[0])).astype(np.float32)
    y = (rng.standard_normal(64) * 1e20).astype(np.float32)
    net = fastnn.Network(layers, "relu", "identity", dtype=np.float32, random_state=0)
    before = net.params.copy()
    with pytest.raises(fastnn.TrainingDiverged, match="epoch 1 before any update") as info:
        fastnn.train(net, X, y, optimizer=fastnn.SGD(net, lr=1e-6, momentum=momentum),
                     epochs=2, batch_size=batch_size, random_state=0)
    assert "overflow float32. Rescale the data" in str(info.value)
    assert "learning rate" not in str(info.value)
    np.testing.assert_array_equal(net.params, before)


def test_adam_refuses_an_eps_that_rounds_to_zero_in_the_networks_dtype():
    """float32's smallest normal number is 1.2e-38: eps=1e-50 became 0 there, and a weight
    whose gradient stays 0 got 0 / 0 = NaN, with no error."""
    with pytest.raises(ValueError, match="eps must be >="):
        fastnn.Adam(fastnn.Network([4, 3], dtype=np.float32), eps=1e-50)
    assert fastnn.Adam(fastnn.Network([4, 3], dtype=np.float64), eps=1e-50).eps == 1e-50


def _classification():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    return X, np.arange(60) % 3


def test_partial_fit_after_a_diverged_one_continues_like_a_model_that_never_saw_it():
    X, y = _classification()

    def fitted():
        return MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", max_iter=5,
                             random_state=0).fit(X, y)

    model, untouched = fitted(), fitted()
    velocity = model._optimizer.velocity.copy()
    bad = X[:10].copy()
    bad[3, 2] = 1e300
    with pytest.warns(fastnn.DivergenceWarning):
        model.partial_fit(bad, y[:10])
    np.testing.assert_array_equal(model._optimizer.velocity, velocity)
    model.partial_fit(X, y)
    untouched.partial_fit(X, y)
    np.testing.assert_array_equal(model._network.params, untouched._network.params)
    assert np.isfinite(model.predict_proba(X)).all()


def test_a_failed_lbfgs_fit_keeps_the_weights_it_started_from():
    """The search writes each trial point into the network: a search that ended non-finite
    used to leave NaN weights in a warm-started model."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    y = X @ np.arange(1.0, 5.0)
    model = MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=20, random_state=0,
                         warm_start=True).fit(X, y)
    before, predictions = model._network.params.copy(), model.predict(X)
    bad = X.copy()
    bad[0, 0] = 1e200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="non-finite"):
            model.fit(bad, y)
    np.testing.assert_array_equal(model._network.params, before)
    np.testing.assert_array_equal(model.predict(X), predictions)


def test_n_iter_counts_the_epochs_of_the_last_call_as_in_scikit_learn():
    """A second warm-started fit ran max_iter epochs without the ConvergenceWarning, since
    n_iter_ went on from the first fit's; partial_fit reports one epoch."""
    X, y = _classification()
    for make in (MLPClassifier, SkMLPClassifier):
        model = make(hidden_layer_sizes=(5,), max_iter=5, random_state=0, warm_start=True)
        for _ in range(2):
            with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
                model.fit(X, y)
            assert model.n_iter_ == 5
        model.partial_fit(X, y)
        assert model.n_iter_ == 1 and model.t_ == 11 * 60, make


def test_untouched_means_no_epoch_done_and_the_starting_weights():
    """The one rule behind "before any update" in train(), its small-network path and the
    estimators' warning: a NaN weight or a later epoch is an update, unknown weights are not
    taken as the starting ones."""
    from fastnn.training import untouched

    start = np.array([0.5, -1.0])
    assert untouched(0, start.copy(), start)
    assert not untouched(1, start.copy(), start)
    assert not untouched(0, np.array([0.5, np.nan]), start)
    assert not untouched(0, start.copy(), None)
