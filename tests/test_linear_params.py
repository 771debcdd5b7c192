"""SGDClassifier and Perceptron hyperparameters: the values scikit-learn 1.9 accepts and refuses."""
import contextlib
import io
import json
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import Perceptron as SkPerceptron
from sklearn.linear_model import SGDClassifier as SkSGD
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_param_validation

import fastnn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_X, _Y = load_iris(return_X_y=True)
_X = (_X - _X.mean(0)) / _X.std(0)
X, Y = _X[::5], _Y[::5]  # 30 rows, 3 classes: fits take no time

# values scikit-learn accepts that fastnn refuses, on purpose, with "is not supported"
UNSUPPORTED = {
    "penalty": ["l1", "elasticnet"],
    "loss": ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"],
    "learning_rate": ["adaptive", "pa1", "pa2"],
    "average": [True, 1, 10, np.int64(3), np.True_],
}

CANDIDATES = {
    "loss": ["hinge", "log_loss", "perceptron", "modified_huber", "squared_hinge", "log", "x",
             *UNSUPPORTED["loss"]],
    "penalty": [None, "l2", "none", "L2", *UNSUPPORTED["penalty"]],
    "alpha": [0.0, 1, np.float32(0.1), np.int64(1), True, -1, np.nan, np.inf, "1", None],
    "l1_ratio": [0, 0.5, 1, np.float32(0.3), True, None, 1.5, -0.1, np.nan],
    "fit_intercept": [True, np.False_, 1, "yes", None],
    "max_iter": [1, np.int64(3), True, 0, 2.0, None],
    "tol": [None, 0, np.float32(1e-3), True, -1, np.nan, np.inf, "a"],
    "shuffle": [False, np.True_, 1, None],
    "verbose": [0, np.int64(0), False, np.False_, -1, 1.5, None],
    "epsilon": [0, 0.5, np.int64(2), True, -0.1, np.inf, np.nan, None],
    "n_jobs": [None, 1, -1, np.int64(2), True, 1.0, "2"],
    "random_state": [None, 0, np.int64(3), np.random.RandomState(0), -1, 2**32, 1.5, "s"],
    "learning_rate": ["optimal", "constant", "invscaling", "x", *UNSUPPORTED["learning_rate"]],
    "eta0": [0.01, 1, np.float32(0.1), True, 0, -1, np.inf, np.nan, None],
    "power_t": [0.5, -1, 0, np.int64(1), True, np.inf, np.nan, None],
    "early_stopping": [True, np.True_, 1, None],
    "validation_fraction": [0.3, np.float32(0.5), 0, 1, True, None],
    "n_iter_no_change": [1, np.int64(3), True, 0, 2.0, np.inf, None],
    "class_weight": [None, "balanced", {0: 1, 1: 2}, "x", [1, 2, 3]],
    "warm_start": [True, np.True_, 1, None],
    "average": [0, False, np.False_, -1, 0.5, None, *UNSUPPORTED["average"]],
}


def _outcome(estimator):
    """'ok', 'unsupported' or 'invalid': what fitting ``estimator`` on (X, Y) gives."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, Y)
    except ValueError as exc:  # InvalidParameterError included
        if "is not supported by fastnn" in str(exc):
            return "unsupported"
        return "invalid"
    return "ok"


def _cases(sk_class):
    names = sk_class().get_params()
    return [(name, value) for name, values in CANDIDATES.items() if name in names
            for value in values]


@pytest.mark.parametrize("ours, theirs", [(fastnn.SGDClassifier, SkSGD),
                                          (fastnn.Perceptron, SkPerceptron)])
def test_every_value_scikit_learn_accepts_is_accepted_or_refused_as_unsupported(ours, theirs):
    """A parameter grid copied from scikit-learn: l1_ratio=0.5, epsilon with hinge and
    average=np.False_ were refused (ValueError 'only the default'); True for max_iter, alpha,
    eta0, tol, n_iter_no_change and power_t was a TypeError; the Perceptron had no l1_ratio
    and no n_jobs."""
    extra = {"learning_rate": {"eta0": 0.1}}
    for name, value in _cases(theirs):
        params = {name: value, **extra.get(name, {})}
        expected = _outcome(theirs(**params))
        got = _outcome(ours(**params))
        if expected == "ok" and any(value is v or (type(value) is type(v) and value == v)
                                    for v in UNSUPPORTED.get(name, [])):
            expected = "unsupported"
        assert got == expected, (name, value, got, expected)


@pytest.mark.parametrize("ours, theirs", [(fastnn.SGDClassifier, SkSGD),
                                          (fastnn.Perceptron, SkPerceptron)])
def test_defaults_and_parameters_are_scikit_learns(ours, theirs):
    mine, sk = ours().get_params(), theirs().get_params()
    assert set(mine) - set(sk) == {"shuffle_block", "n_threads"}
    assert {name: mine[name] for name in sk} == sk


@pytest.mark.parametrize("estimator", [fastnn.SGDClassifier(), fastnn.Perceptron()])
def test_scikit_learns_parameter_validation_check(estimator):
    """scikit-learn's own check: every parameter has a constraint, and a bad type or value
    raises InvalidParameterError naming it, in fit and partial_fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize("cls, ignored", [
    (fastnn.SGDClassifier, dict(l1_ratio=0.9, epsilon=7.0, n_jobs=-1, average=np.False_)),
    (fastnn.SGDClassifier, dict(l1_ratio=None, average=False)),
    (fastnn.Perceptron, dict(l1_ratio=1.0, n_jobs=2)),
])
def test_parameters_that_do_not_apply_are_ignored(cls, ignored):
    """As in scikit-learn: l1_ratio only applies to 'elasticnet', epsilon to the regression
    losses, n_jobs is the thread count; average=False is no averaging."""
    reference = cls(random_state=0).fit(_X, _Y)
    model = cls(random_state=0, **ignored).fit(_X, _Y)
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    np.testing.assert_array_equal(model.intercept_, reference.intercept_)
    model = cls(random_state=0, **ignored).partial_fit(_X, _Y, classes=[0, 1, 2])
    np.testing.assert_array_equal(
        model.coef_, cls(random_state=0).partial_fit(_X, _Y, classes=[0, 1, 2]).coef_)


def test_grid_copied_from_scikit_learn_runs():
    grid = {"l1_ratio": [0.15, 0.5], "epsilon": [0.1, 0.01], "average": [False],
            "n_jobs": [None, 2]}
    search = GridSearchCV(fastnn.SGDClassifier(random_state=0), grid, cv=3,
                          error_score="raise").fit(_X, _Y)
    assert search.best_score_ > 0.8
    search = GridSearchCV(fastnn.Perceptron(), {"l1_ratio": [0.15, 0.5], "n_jobs": [None, 1]},
                          cv=3, error_score="raise").fit(_X, _Y)
    assert search.best_score_ > 0.7
    model = fastnn.Perceptron(l1_ratio=0.3, n_jobs=1)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(n_jobs=None, l1_ratio=0.5).get_params()["l1_ratio"] == 0.5


@pytest.mark.parametrize("params", [dict(alpha=np.float32(0.001)), dict(alpha=np.float32(0.3))])
def test_numpy_scalar_alpha_gives_the_model_of_its_float_value(params):
    """The 'optimal' rate's initial t was computed in float32 from a float32 alpha."""
    a = fastnn.SGDClassifier(random_state=0, **params).fit(_X, _Y)
    b = fastnn.SGDClassifier(random_state=0, alpha=float(params["alpha"])).fit(_X, _Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_perceptron_file_without_the_added_parameters_loads(tmp_path):
    """Files written before the Perceptron had l1_ratio and n_jobs load with their defaults."""
    path = fastnn.save(fastnn.Perceptron().fit(_X, _Y), tmp_path / "p.npz")
    with np.load(path) as stored:
        arrays = dict(stored)
    meta = json.loads(arrays["metadata"].tobytes().decode("utf-8"))
    del meta["params"]["l1_ratio"], meta["params"]["n_jobs"]
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    loaded = fastnn.load(tmp_path / "old.npz")
    assert loaded.get_params()["l1_ratio"] == 0.15 and loaded.get_params()["n_jobs"] is None
    np.testing.assert_array_equal(loaded.predict(_X), fastnn.load(path).predict(_X))
    del meta["params"]["alpha"]  # a parameter the class always had is still required
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"missing \['alpha'"):
        fastnn.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("cls, params", [
    (fastnn.SGDClassifier, dict(loss="log_loss")),
    (fastnn.SGDClassifier, dict(loss="modified_huber")),
    (fastnn.Perceptron, {}),
])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("predict_dtype", [np.float32, np.float64, np.int64])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # log of 0, as scikit-learn
def test_output_dtype_is_the_promotion_of_X_and_the_model(cls, params, n_classes, fit_dtype,
                                                          predict_dtype):
    """float32 only when X and the model are both float32, as scikit-learn's X @ coef_.T
    (a float32 model rounded float64 X to float32 and returned float32 scores)."""
    y = _Y if n_classes == 3 else (_Y > 0).astype(int)
    model = cls(random_state=0, **params).fit(_X.astype(fit_dtype), y)
    X_new = (_X * 3).astype(predict_dtype)
    expected = np.float32 if fit_dtype == predict_dtype == np.float32 else np.float64
    scores = model.decision_function(X_new)
    assert scores.dtype == expected
    reference = (X_new.astype(expected) @ model.coef_.T.astype(expected)
                 + model.intercept_.astype(expected))
    np.testing.assert_allclose(scores, reference.ravel() if n_classes == 2 else reference,
                               rtol=1e-6 if expected == np.float32 else 1e-13)
    if hasattr(model, "predict_proba"):
        assert model.predict_proba(X_new).dtype == expected
        assert model.predict_log_proba(X_new).dtype == expected


def test_float32_model_scores_float64_rows_beyond_float32s_range():
    """As scikit-learn: the rows are not converted to the model's float32 (they became inf:
    'Input X contains infinity or a value too large for dtype('float32')')."""
    model = fastnn.SGDClassifier(random_state=0).fit(_X.astype(np.float32), _Y)
    X_big = _X[:3] * 1e39
    scores = model.decision_function(X_big)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    np.testing.assert_allclose(scores, X_big @ model.coef_.T.astype(np.float64)
                               + model.intercept_, rtol=1e-12)


def test_perceptron_pickled_without_the_added_parameters_unpickles_with_their_defaults():
    """A pickle from before the Perceptron had l1_ratio and n_jobs: repr, get_params, clone
    and fit raised AttributeError on the unpickled model."""
    import pickle

    model = fastnn.Perceptron(eta0=0.5).fit(_X, _Y)
    state = model.__getstate__()
    del state["l1_ratio"], state["n_jobs"]

    class Old:  # pickles as a Perceptron whose state lacks the two parameters
        def __reduce__(self):
            return (fastnn.Perceptron.__new__, (fastnn.Perceptron,), state)

    restored = pickle.loads(pickle.dumps(Old()))
    assert isinstance(restored, fastnn.Perceptron)
    params = restored.get_params()
    assert params["l1_ratio"] == 0.15 and params["n_jobs"] is None and params["eta0"] == 0.5
    np.testing.assert_array_equal(restored.predict(_X), model.predict(_X))
    assert "eta0=0.5" in repr(restored)
    restored.fit(_X, _Y)
    np.testing.assert_array_equal(restored.coef_, model.coef_)
