"""A call that fails after training started leaves the estimator exactly as it was.

Every attribute (``vars(est)``, deep-copied before the call) is compared after it, arrays
bit for bit, down into the network and the optimizer; and the model then trains on exactly
as an untouched copy of it does.
"""
import copy
import warnings

import numpy as np
import pytest

from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _state(value):
    """What ``value`` holds, for comparison: objects by their pickled state (the network
    without its scratch memory), random generators by their state."""
    if isinstance(value, np.random.RandomState):
        return _state(value.get_state(legacy=False))
    if isinstance(value, (list, tuple)):
        return [_state(v) for v in value]
    if isinstance(value, dict):
        return {k: _state(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) or np.isscalar(value) or value is None:
        return value
    if hasattr(value, "__dict__"):
        return (type(value).__name__, _state(value.__getstate__()))
    return value


def _assert_same(after, before, where="est"):
    if isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray), where
        assert (after.dtype, after.shape) == (before.dtype, before.shape), where
        assert after.tobytes() == before.tobytes(), where  # bitwise: NaN == NaN, -0 != 0
    elif isinstance(before, dict):
        assert after.keys() == before.keys(), where
        for key in before:
            _assert_same(after[key], before[key], f"{where}.{key}")
    elif isinstance(before, (list, tuple)):
        assert isinstance(after, (list, tuple)) and len(after) == len(before), where
        for i, (a, b) in enumerate(zip(after, before)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(before, float) and np.isnan(before):
        assert np.isnan(after), where
    else:
        assert type(after) is type(before) and after == before, (where, after, before)


def _snapshot(est):
    return _state(copy.deepcopy(vars(est)))


def _raise_in_epoch(epoch, error):
    """A callback that raises ``error`` at the end of epoch ``epoch`` of a call."""
    seen = []

    def callback(est, metrics):
        seen.append(metrics["epoch"])
        if len(seen) == epoch:
            raise error
    return callback


def _fitted(estimator, data, **params):
    # one thread: results compared bit for bit (see random_state in MLPClassifier's doc)
    params = {"hidden_layer_sizes": (5,), "max_iter": 4, "batch_size": 40, "random_state": 0,
              "n_threads": 1, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator(**params).fit(*data)


def _assert_unchanged_and_trains_on(est, before, untouched, data, call):
    _assert_same(_snapshot(est), before)
    assert all(c.base is est._network.params for c in est.coefs_)  # views, as before
    est.set_params(callbacks=None)
    untouched.set_params(callbacks=None)
    for model in (est, untouched):
        getattr(model, call)(*data)
    _assert_same(_snapshot(est), _snapshot(untouched))


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("call, epoch, early_stopping", [
    ("fit", 1, False), ("fit", 2, False), ("partial_fit", 1, False), ("fit", 1, True),
    ("fit", 2, True)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_stochastic_call_failing_midway_changes_nothing(estimator, solver, call, epoch,
                                                          early_stopping, dtype, data):
    data = data[0].astype(dtype), data[1]
    # n_iter_no_change=1: the adaptive rate changes in the failed call (without early
    # stopping, which would end the call before its failure)
    est = _fitted(estimator, data, solver=solver, warm_start=True, learning_rate="adaptive",
                  early_stopping=early_stopping, n_iter_no_change=5 if early_stopping else 1)
    untouched = copy.deepcopy(est)
    before = _snapshot(est)
    est.set_params(callbacks=_raise_in_epoch(epoch, RuntimeError("callback failed")))
    with pytest.raises(RuntimeError, match="callback failed"):
        getattr(est, call)(*data)
    est.set_params(callbacks=None)
    _assert_unchanged_and_trains_on(est, before, untouched, data, call)


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_a_warm_start_with_a_shared_random_state_failing_changes_nothing(estimator, data):
    """random_state given as a RandomState: the draws of the failed call are taken back."""
    est = _fitted(estimator, data, warm_start=True, random_state=np.random.RandomState(1))
    untouched = copy.deepcopy(est)
    before = _snapshot(est)
    est.set_params(callbacks=_raise_in_epoch(2, ValueError("stop")))
    with pytest.raises(ValueError, match="stop"):
        est.fit(*data)
    est.set_params(callbacks=None)
    _assert_unchanged_and_trains_on(est, before, untouched, data, "fit")


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("error", [KeyboardInterrupt, MemoryError])
def test_an_lbfgs_warm_start_failing_midway_changes_nothing(estimator, error, data,
                                                            monkeypatch):
    est = _fitted(estimator, data, solver="lbfgs", warm_start=True)
    untouched = copy.deepcopy(est)
    before = _snapshot(est)
    network_class = type(est._network)
    evaluate = network_class._batch_loss_and_gradient
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise error()
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(network_class, "_batch_loss_and_gradient", failing)
    with pytest.raises(error):
        est.fit(*data)
    monkeypatch.undo()
    _assert_unchanged_and_trains_on(est, before, untouched, data, "fit")


def test_a_failed_call_after_assigned_weights_keeps_them_assigned(data):
    """Weights assigned before a failing warm start stay the assigned ones (not yet adopted),
    and the next call adopts them as it would have."""
    est = _fitted(MLPClassifier, data, warm_start=True)
    est.coefs_ = [np.full_like(c, 0.1) for c in est.coefs_]
    untouched = copy.deepcopy(est)
    before = _snapshot(est)
    est.set_params(callbacks=_raise_in_epoch(2, RuntimeError("callback failed")))
    with pytest.raises(RuntimeError):
        est.fit(*data)
    est.set_params(callbacks=None)
    _assert_same(_snapshot(est), before)
    for model in (est, untouched):
        model.fit(*data)
    _assert_same(_snapshot(est), _snapshot(untouched))


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_ctrl_c_while_validating_keeps_the_last_epoch_and_its_records(estimator, solver, data,
                                                                      monkeypatch):
    """Ctrl-C while epoch 3's validation score is computed: the model is that of 2 epochs
    (it kept epoch 3's gradient norms, with epoch 3's weights while n_iter_ said 2)."""
    params = dict(solver=solver, early_stopping=True, n_iter_no_change=100)
    expected = _fitted(estimator, data, max_iter=2, **params)
    score = estimator._validation_score
    calls = []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return score(self, *args)

    monkeypatch.setattr(estimator, "_validation_score", interrupted)
    with pytest.warns(UserWarning, match="interrupted by user; the model keeps the weights "
                                         "of epoch 2"):
        est = estimator(**{**_fitted(estimator, data, max_iter=1).get_params(), "max_iter": 4,
                           **params}).fit(*data)
    assert est.n_iter_ == len(est.loss_curve_) == len(est.gradient_norms_) == 2
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == 2
    got, want = _snapshot(est), _snapshot(expected)
    for name in ("max_iter", "_random_state"):  # epoch 3's shuffle was drawn
        del got[name], want[name]
    _assert_same(got, want)


@pytest.mark.parametrize("nesterovs_momentum", [False, True])
def test_a_diverged_epoch_leaves_the_last_good_epochs_gradient(nesterovs_momentum, data):
    """grads (whose norms gradient_norms_ records) is the last good epoch's, not the
    diverged one's (it was, up to inf/NaN)."""
    X, _ = data
    y = 3 * X[:, 0]
    params = dict(hidden_layer_sizes=(5,), solver="sgd", random_state=0, batch_size=20, n_threads=1,
                  learning_rate_init=0.2, nesterovs_momentum=nesterovs_momentum, max_iter=30)
    with pytest.warns(UserWarning, match="diverged in epoch"):
        est = MLPRegressor(**params).fit(X, y)
    n_epochs = est.n_iter_
    expected = _fitted(MLPRegressor, (X, y), **{**params, "max_iter": n_epochs})
    np.testing.assert_array_equal(est._network.params, expected._network.params)
    np.testing.assert_array_equal(est._network.grads, expected._network.grads)
    np.testing.assert_allclose([np.linalg.norm(g) for g in est._network.coef_grads],
                               est.gradient_norms_[-1], rtol=1e-12)
