"""Drop-in parity: fastnn's MLPs follow scikit-learn's training trajectory."""
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import fastnn

SOLVERS = [
    dict(solver="sgd", momentum=0.0),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=False),
    dict(solver="sgd", momentum=0.9, nesterovs_momentum=True),
    dict(solver="adam"),
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0)


def _fit_both(make_sk, make_fastnn, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_sk().fit(X, y), make_fastnn().fit(X, y)


def _assert_same_trajectory(ref, ours):
    assert ours.n_iter_ == ref.n_iter_ and ours.t_ == ref.t_
    np.testing.assert_allclose(ours.loss_curve_, ref.loss_curve_, rtol=1e-6)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1e-3])
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_classifier_follows_sklearn(solver, alpha, digits):
    X, _, y, _ = digits
    params = dict(hidden_layer_sizes=(32, 16), alpha=alpha, shuffle=False, max_iter=8,
                  learning_rate_init=0.01, random_state=3, batch_size=64, **solver)
    ref, ours = _fit_both(lambda: sk.MLPClassifier(**params),
                          lambda: fastnn.MLPClassifier(**params), X[:600], y[:600])
    _assert_same_trajectory(ref, ours)


@pytest.mark.parametrize("alpha", [0.0, 1e-3])
@pytest.mark.parametrize("solver", SOLVERS, ids=lambda kw: "-".join(map(str, kw.values())))
def test_regressor_follows_sklearn(solver, alpha):
    X, y = make_regression(n_samples=300, n_features=8, n_targets=2, noise=0.1, random_state=0)
    y /= y.std()
    params = dict(hidden_layer_sizes=(16,), activation="tanh", alpha=alpha, shuffle=False,
                  max_iter=10, learning_rate_init=0.005, random_state=1, batch_size=32, **solver)
    ref, ours = _fit_both(lambda: sk.MLPRegressor(**params),
                          lambda: fastnn.MLPRegressor(**params), X, y)
    _assert_same_trajectory(ref, ours)


@pytest.mark.parametrize("kwargs", [
    dict(shuffle=True, activation="logistic"),
    dict(early_stopping=True, validation_fraction=0.2, activation="tanh"),
    dict(solver="sgd", learning_rate="invscaling", power_t=0.3, learning_rate_init=0.1),
    dict(solver="sgd", learning_rate="adaptive", tol=0.5, n_iter_no_change=2),
])
def test_seeded_runs_with_shuffles_splits_and_schedules_match(kwargs, digits):
    X, _, y, _ = digits
    params = dict(hidden_layer_sizes=(24,), max_iter=12, random_state=7, **kwargs)
    ref, ours = _fit_both(lambda: sk.MLPClassifier(**params),
                          lambda: fastnn.MLPClassifier(**params), X[:500], y[:500])
    _assert_same_trajectory(ref, ours)
    if kwargs.get("early_stopping"):
        np.testing.assert_allclose(ours.validation_scores_, ref.validation_scores_)


def test_binary_and_multilabel_follow_sklearn(digits):
    X, _, y, _ = digits
    targets = {"binary": y[:400] % 2, "multilabel": np.stack([y[:400] % 2, y[:400] > 4], 1)}
    for target in targets.values():
        params = dict(hidden_layer_sizes=(20,), max_iter=6, random_state=0)
        ref, ours = _fit_both(lambda: sk.MLPClassifier(**params),
                              lambda: fastnn.MLPClassifier(**params), X[:400], target)
        _assert_same_trajectory(ref, ours)
        np.testing.assert_allclose(ours.predict_proba(X[:50]), ref.predict_proba(X[:50]), rtol=1e-6)


def test_lbfgs_follows_sklearn(digits):
    X, _, y, _ = digits
    params = dict(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=30, random_state=0)
    ref, ours = _fit_both(lambda: sk.MLPClassifier(**params),
                          lambda: fastnn.MLPClassifier(**params), X[:400], y[:400])
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-5)
    assert ours.n_iter_ == ref.n_iter_


def test_start_from_given_weights(digits):
    """Setting coefs_/intercepts_ with warm_start=True starts fit from those weights."""
    X, _, y, _ = digits
    X, y = X[:300], y[:300]
    rng = np.random.default_rng(0)
    shapes = [(64, 20), (20, 10)]
    coefs = [rng.uniform(-0.2, 0.2, s) for s in shapes]
    intercepts = [rng.uniform(-0.2, 0.2, s[1]) for s in shapes]
    params = dict(hidden_layer_sizes=(20,), solver="sgd", shuffle=False, max_iter=5,
                  learning_rate_init=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sk.MLPClassifier(**params).fit(X, y)  # scikit-learn needs a fit before a warm start
        for target, source in zip(ref.coefs_ + ref.intercepts_, coefs + intercepts):
            target[...] = source
        ref.set_params(warm_start=True).fit(X, y)
        fresh = fastnn.MLPClassifier(warm_start=True, **params)
        fresh.coefs_, fresh.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
        fresh.fit(X, y)
        refit = fastnn.MLPClassifier(**params).fit(X, y)
        refit.coefs_, refit.intercepts_ = coefs, intercepts
        refit.set_params(warm_start=True).fit(X, y)
    for ours in (fresh, refit):
        np.testing.assert_allclose(ours.loss_curve_[-5:], ref.loss_curve_[-5:], rtol=1e-6)
        for a, b in zip(ours.coefs_, ref.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12)
    assert refit.coefs_[0] is refit._network.coefs[0]  # adopted into the flat buffer


def test_digits_accuracy_matches_sklearn(digits):
    X_train, X_test, y_train, y_test = digits
    params = dict(hidden_layer_sizes=(100,), max_iter=30, random_state=0)
    ref, ours = _fit_both(lambda: sk.MLPClassifier(**params),
                          lambda: fastnn.MLPClassifier(**params), X_train, y_train)
    assert abs(ours.score(X_test, y_test) - ref.score(X_test, y_test)) <= 0.01
    assert ours.score(X_test, y_test) > 0.93  # 0.946 measured with these settings


@pytest.mark.parametrize("n", [0, 1, 7, 1797])
def test_the_epoch_shuffle_draws_as_sklearns_shuffle(n):
    """``_mlp_fit.shuffled`` gives what ``sklearn.utils.shuffle`` gives, and leaves the
    generator in the same state, call after call."""
    from sklearn.utils import shuffle
    from fastnn._mlp_fit import shuffled
    ours, theirs = np.random.RandomState(3), np.random.RandomState(3)
    a = b = np.arange(10, 10 + n, dtype=np.int64)
    for _ in range(3):
        a, b = shuffled(a, ours), shuffle(b, random_state=theirs)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert ours.randint(1 << 30) == theirs.randint(1 << 30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh"])
def test_initial_weights_are_sklearns_draws(activation, dtype, monkeypatch):
    """The initial weights and biases of every layer are scikit-learn's ``_init_coef`` draws
    from the same RandomState, in the same order, bit for bit (rounded to the dtype), and
    the network draws none of its own (it drew random weights, then all were overwritten)."""
    from fastnn._mlp_fit import initialize_network
    from fastnn._mlp_params import check_hyperparameters

    def drawn(*args, **kwargs):
        raise AssertionError("the network drew initial weights of its own")

    monkeypatch.setattr(fastnn.Network, "initialize", drawn)

    units = [4, 5, 3, 2]
    ours = fastnn.MLPRegressor(hidden_layer_sizes=(5, 3), activation=activation)
    ours._random_state = np.random.RandomState(7)
    initialize_network(ours, units, check_hyperparameters(ours)[1], dtype)
    ref = sk.MLPRegressor(hidden_layer_sizes=(5, 3), activation=activation)
    ref._random_state = np.random.RandomState(7)
    ref._initialize(np.zeros((1, units[-1])), units, dtype)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()
    # nothing else drawn: the generator is where scikit-learn's is
    assert ours._random_state.randint(2 ** 31) == ref._random_state.randint(2 ** 31)
