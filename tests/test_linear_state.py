"""SGDClassifier and Perceptron: warm starts, partial_fit and fitted state against scikit-learn."""
import copy

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Perceptron as SkPerceptron
from sklearn.linear_model import SGDClassifier as SkSGD
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.estimator_checks import check_sparsify_coefficients

import fastnn

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X, Y = load_iris(return_X_y=True)
X = (X - X.mean(0)) / X.std(0)


@pytest.mark.parametrize("ours, theirs", [(fastnn.Perceptron, SkPerceptron),
                                          (fastnn.SGDClassifier, SkSGD)])
@pytest.mark.parametrize("given", ["coef_init", "intercept_init"])
def test_warm_start_takes_from_the_previous_fit_only_what_is_not_given(ours, theirs, given):
    """A warm fit given intercept_init alone dropped it (and one given coef_init alone
    started the intercepts from 0): scikit-learn takes each from the previous fit only when
    it is not given. Checked on one epoch without shuffling, where the rules agree."""
    init = {"coef_init": np.full((3, 4), 0.5), "intercept_init": np.array([3.0, -2.0, 1.0])}
    models = []
    for cls in (ours, theirs):
        kwargs = dict(max_iter=1, tol=None, shuffle=False, warm_start=True)
        if cls in (fastnn.SGDClassifier, SkSGD):
            kwargs.update(learning_rate="constant", eta0=0.1, loss="hinge")
        # from nonzero weights: no score of exactly 0, where the Perceptrons differ on purpose
        model = cls(**kwargs).fit(X, Y, coef_init=np.full((3, 4), -0.25),
                                  intercept_init=[0.5, 0.25, -0.5])
        previous = (model.coef_.copy(), model.intercept_.copy())
        # the starting point, seen through one epoch: that of a fresh fit from it
        # (copies: scikit-learn trains a given intercept_init array in place)
        model.fit(X, Y, **{given: init[given].copy()})
        expected_start = dict(coef_init=previous[0], intercept_init=previous[1])
        expected_start[given] = init[given].copy()
        fresh = cls(**{**kwargs, "warm_start": False}).fit(X, Y, **expected_start)
        np.testing.assert_array_equal(model.coef_, fresh.coef_)
        np.testing.assert_array_equal(model.intercept_, fresh.intercept_)
        models.append(model)
    np.testing.assert_allclose(models[0].coef_, models[1].coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(models[0].intercept_, models[1].intercept_, rtol=1e-12,
                               atol=1e-12)


def test_warm_start_with_a_new_problem_shape_names_what_does_not_fit():
    warm = fastnn.Perceptron(warm_start=True).fit(X, Y)
    with pytest.raises(ValueError, match=r"warm_start: the previous coef_ has shape \(3, 4\)"):
        warm.fit(X[Y < 2], Y[Y < 2])
    # a given coef_init of the new shape: the previous intercept_ still does not fit
    with pytest.raises(ValueError, match=r"warm_start: the previous intercept_ has shape"):
        warm.fit(X[Y < 2], Y[Y < 2], coef_init=np.zeros((1, 4)))
    model = warm.fit(X[Y < 2], Y[Y < 2], coef_init=np.zeros((1, 4)), intercept_init=[0.0])
    assert model.coef_.shape == (1, 4)


@pytest.mark.parametrize("cls", [fastnn.Perceptron, fastnn.SGDClassifier])
@pytest.mark.parametrize("weight", [2.0, 3])
def test_early_stopping_takes_a_scalar_sample_weight(cls, weight):
    """A scalar sample_weight (one weight for every sample, as scikit-learn takes it) was
    indexed for the validation rows: IndexError."""
    model = cls(early_stopping=True, random_state=0)
    scalar = model.fit(X, Y, sample_weight=weight)
    array = cls(early_stopping=True, random_state=0).fit(X, Y, sample_weight=np.full(150, weight))
    np.testing.assert_array_equal(scalar.coef_, array.coef_)
    assert scalar.n_iter_ == array.n_iter_


@pytest.mark.parametrize("cls", [fastnn.Perceptron, fastnn.SGDClassifier])
def test_initial_values_beyond_float32_are_named_as_such(cls):
    """Finite float64 coef_init/intercept_init too large for a float32 model were called
    'NaN or infinity'."""
    X32 = X.astype(np.float32)
    with pytest.raises(ValueError, match=r"coef_init has values beyond the range of float32 "
                                         r"\(largest in magnitude 1e\+39\)"):
        cls().fit(X32, Y, coef_init=np.full((3, 4), 1e39))
    with pytest.raises(ValueError, match="intercept_init has values beyond the range of float32"):
        cls().fit(X32, Y, intercept_init=[0.0, -1e40, 0.0])
    with pytest.raises(ValueError, match="coef_init contains NaN or infinity"):
        cls().fit(X32, Y, coef_init=np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="intercept_init contains NaN or infinity"):
        cls().fit(X, Y, intercept_init=[0.0, np.inf, 0.0])
    assert cls().fit(X, Y, coef_init=np.full((3, 4), 1e39)).coef_.dtype == np.float64


@pytest.mark.parametrize("cls", [fastnn.Perceptron, fastnn.SGDClassifier])
@pytest.mark.parametrize("labels", [Y, Y > 0])
@pytest.mark.parametrize("method", ["partial_fit", "fit"])
def test_sparsify_and_densify_as_scikit_learn(cls, labels, method, tmp_path):
    """scikit-learn's linear classifiers have sparsify()/densify() (code calling them was an
    AttributeError). A sparse coef_ scores as the dense one; training goes on from its dense
    copy; a model file stores it dense."""
    with pytest.raises(NotFittedError, match="must be fitted before sparsifying"):
        cls().sparsify()
    model = cls(random_state=0, warm_start=True).fit(X, labels)
    dense = copy.deepcopy(model)
    scores, predictions = model.decision_function(X), model.predict(X)
    assert model.sparsify() is model and sp.issparse(model.coef_)
    np.testing.assert_allclose(model.decision_function(X), scores, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), predictions)
    loaded = fastnn.load(fastnn.save(model, tmp_path / "sparse.npz"))
    np.testing.assert_array_equal(loaded.coef_, dense.coef_)
    # partial_fit and a warm start go on from the same weights as the dense model
    getattr(model, method)(X, labels)
    getattr(dense, method)(X, labels)
    assert isinstance(model.coef_, np.ndarray)
    np.testing.assert_array_equal(model.coef_, dense.coef_)
    assert isinstance(model.sparsify().densify().coef_, np.ndarray)


@pytest.mark.parametrize("cls", [fastnn.Perceptron, fastnn.SGDClassifier])
def test_scikit_learns_sparsify_check(cls):
    check_sparsify_coefficients(cls.__name__, cls())


@pytest.mark.parametrize("cls", [fastnn.Perceptron, fastnn.SGDClassifier])
@pytest.mark.parametrize("dtype, weight", [(np.float32, 1e-40), (np.float64, 1e-310)])
def test_weights_all_below_the_smallest_normal_number_are_refused(cls, dtype, weight):
    """Subnormal weights are 0 to the kernel (subnormals flushed): the fit trained nothing
    and left coef_ at 0, without a word. The MLP estimators refuse them the same way."""
    X_ = X.astype(dtype)
    with pytest.raises(ValueError, match=f"are all below .*the smallest normal {dtype.__name__}"):
        cls().fit(X_, Y, sample_weight=np.full(150, weight))
    with pytest.raises(ValueError, match="are all below"):
        cls().partial_fit(X_, Y, classes=[0, 1, 2], sample_weight=np.full(150, weight))
    with pytest.raises(ValueError, match="are all below"):  # through class weights
        cls(class_weight={0: weight, 1: weight, 2: weight}).fit(X_, Y)
    # one normal weight among them trains
    weights = np.full(150, weight)
    weights[::10] = 1.0
    assert np.abs(cls(random_state=0).fit(X_, Y, sample_weight=weights).coef_).max() > 0


@pytest.mark.parametrize("ours, theirs, params", [
    (fastnn.Perceptron, SkPerceptron, {}),
    (fastnn.SGDClassifier, SkSGD, dict(learning_rate="constant", eta0=0.1))])
@pytest.mark.parametrize("labels", [Y, Y > 0])
def test_partial_fit_with_early_stopping_after_the_first_call_as_scikit_learn(
        ours, theirs, params, labels):
    """scikit-learn refuses early_stopping only on the first partial_fit; fastnn refused it on
    every call (after fit too). A later call trains on the batch's training split, the
    validation_fraction held out, as scikit-learn's (same split and trajectory without
    shuffling; a constant rate, as the 'optimal' rate's t differs on purpose, see Notes)."""
    kwargs = dict(early_stopping=True, random_state=0, max_iter=3, tol=None, shuffle=False,
                  **params)
    with pytest.raises(ValueError, match="early_stopping should be False with partial_fit"):
        ours(**kwargs).partial_fit(X, labels, classes=np.unique(labels))
    n_rows = 1 if labels.dtype == bool else 3
    init = dict(coef_init=np.full((n_rows, 4), 0.1), intercept_init=np.full(n_rows, 0.05))
    models = [cls(**kwargs).fit(X, labels, **init).partial_fit(X, labels)
              for cls in (ours, theirs)]
    np.testing.assert_allclose(models[0].coef_, models[1].coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(models[0].intercept_, models[1].intercept_, rtol=1e-12,
                               atol=1e-12)
    assert models[0].t_ == models[1].t_ == 4 * len(X) + 1
    # the held-out rows are not trained on: the same as a partial_fit on the training rows
    fitted = ours(**kwargs).fit(X, labels, **init)
    train, _ = next(StratifiedShuffleSplit(test_size=0.1, random_state=0).split(X, labels))
    plain = copy.deepcopy(fitted).set_params(early_stopping=False)
    plain.partial_fit(X[np.sort(train)], labels[np.sort(train)])
    np.testing.assert_array_equal(fitted.partial_fit(X, labels).coef_, plain.coef_)
