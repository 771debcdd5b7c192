"""MLPClassifier / MLPRegressor: scikit-learn compatibility, extras, bad input and faults."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn
from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_pipeline_grid_search_cross_val_clone_pickle(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=100,
                                                         learning_rate_init=0.05, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3, n_jobs=2).fit(X, y)
    assert search.best_score_ > 0.85
    assert cross_val_score(clone(pipe), X, y, cv=3).mean() > 0.85
    model = search.best_estimator_[-1]
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.coefs_[0] is restored._network.coefs[0]
    restored.partial_fit(X, y)  # a restored model keeps training
    assert restored.n_iter_ == 1 and restored.t_ == model.t_ + X.shape[0]  # as scikit-learn


def test_pandas_input_sets_feature_names(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(frame, y)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    assert model.predict(frame).shape == (150,)


@pytest.mark.parametrize("dtype, expected", [(np.float32, np.float32), (np.float64, np.float64),
                                             (np.int64, np.float64)])
def test_dtype_policy(dtype, expected, iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(6,), max_iter=3, random_state=0)
    model.fit((X * 10).astype(dtype), y)
    assert model.coefs_[0].dtype == expected and model._network.params.dtype == expected
    assert model.predict_proba((X * 10).astype(dtype)).dtype == expected


def test_same_seed_same_threads_bit_identical(iris):
    X, y = iris
    runs = [MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=5,
                          n_threads=n).fit(X, y) for n in (1, 1, None)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run._network.params, runs[0]._network.params)
    assert fastnn.get_num_threads() == fastnn.threading_info()["max_threads"]  # restored


@pytest.mark.parametrize("batch_size", [1, 16, "full"])
def test_gradient_descent_variants(batch_size, iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", batch_size=batch_size,
                          learning_rate_init=0.01 if batch_size == 1 else 0.5, max_iter=40,
                          random_state=0).fit(X, y)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    assert model.score(X, y) > 0.9


def test_full_batch_is_batch_size_n(iris):
    X, y = iris
    runs = [MLPClassifier(hidden_layer_sizes=(10,), solver="sgd", batch_size=b, max_iter=5,
                          random_state=0).fit(X, y) for b in ("full", len(X))]
    np.testing.assert_array_equal(runs[0].loss_curve_, runs[1].loss_curve_)


def test_activations_beyond_sklearn(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(12, 8), activation=["leaky_relu", "softplus"],
                          max_iter=80, random_state=0, learning_rate_init=0.01).fit(X, y)
    assert model.score(X, y) > 0.9
    sharp = MLPClassifier(hidden_layer_sizes=(12,), activation="sigmoid", sigmoid_a=3.0,
                          max_iter=5, random_state=0).fit(X, y)
    assert sharp._network._params[0] == 3.0


def test_callbacks_get_metrics_and_can_stop(iris):
    X, y = iris
    seen = []

    def callback(model, metrics):
        seen.append(metrics)
        return metrics["epoch"] == 4

    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0,
                          early_stopping=True, callbacks=[callback]).fit(X, y)
    assert model.n_iter_ == 4 and len(seen) == 4
    assert set(seen[0]) >= {"epoch", "loss", "validation_loss", "validation_score",
                            "learning_rate", "gradient_norms", "seconds"}
    assert seen[-1]["loss"] == model.loss_curve_[-1]


def test_early_stopping_curves_and_best_weights(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0,
                          early_stopping=True, n_iter_no_change=5).fit(X, y)
    assert len(model.validation_loss_curve_) == len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert all(np.isfinite(model.validation_loss_curve_))


def test_gradient_norms_show_vanishing_gradients():
    X, y = load_digits(return_X_y=True)
    kwargs = dict(hidden_layer_sizes=(32,) * 6, solver="sgd", max_iter=2, random_state=0)
    sigmoid = MLPClassifier(activation="logistic", **kwargs).fit(X / 16, y)
    relu = MLPClassifier(activation="relu", **kwargs).fit(X / 16, y)
    assert np.shape(sigmoid.gradient_norms_) == (2, 7)
    first_to_last = [m.gradient_norms_[-1][0] / m.gradient_norms_[-1][-1] for m in (sigmoid, relu)]
    assert first_to_last[0] < 1e-2 and first_to_last[0] < 0.1 * first_to_last[1]


def test_class_weight_equals_sample_weight(iris):
    X, y = iris
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0,
                      class_weight=weights).fit(X, y)
    b = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(
        X, y, sample_weight=np.vectorize(weights.get)(y))
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    with pytest.raises(ValueError, match="balanced.*partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


def test_verbose_shows_progress(iris, capsys):
    X, y = iris
    MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, verbose=True, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert "MLPRegressor" in captured.err or "Iteration 3" in captured.out


def test_regressor_multi_output_and_loss_convention():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = np.stack([X @ [1, 2, 0, 0], X @ [0, 0, 1, -1]], 1)
    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0,
                         learning_rate_init=0.01).fit(X, Y)
    assert model.predict(X).shape == (200, 2) and model.score(X, Y) > 0.95
    residual = 0.5 * ((model.predict(X) - Y) ** 2).mean()  # averaged over outputs, as sklearn
    assert model.loss_curve_[-1] == pytest.approx(residual, rel=0.2)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("X, y, error, match", [
    ([[np.nan, 1.0]] * 4, [0, 1, 0, 1], ValueError, "NaN"),
    ([[np.inf, 1.0]] * 4, [0, 1, 0, 1], ValueError, "infinity"),
    ([[0.0, 1.0]] * 4, [0, 1, 0, np.nan], ValueError, "NaN"),
    ([0.0, 1.0, 2.0, 3.0], [0, 1, 0, 1], ValueError, "2D array"),
    ([[0.0, 1.0]] * 4, [0, 1, 0], ValueError, "inconsistent numbers of samples"),
    (np.empty((0, 2)), [], ValueError, "0 sample"),
    ([[0.0, 1.0]] * 4, [1, 1, 1, 1], ValueError, "at least 2 classes"),
    ([["a", "b"]] * 4, [0, 1, 0, 1], ValueError, "could not convert|dtype"),
])
def test_bad_data(X, y, error, match):
    with pytest.raises(error, match=match):
        MLPClassifier(max_iter=2).fit(X, y)


@pytest.mark.parametrize("params, error, match", [
    (dict(alpha=-1.0), ValueError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"),
    (dict(learning_rate_init=0.0), ValueError, "learning_rate_init"),
    (dict(max_iter=0), ValueError, "max_iter"),
    (dict(momentum=1.5), ValueError, "momentum"),
    (dict(hidden_layer_sizes=(10, 0)), ValueError, "hidden_layer_sizes"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(activation=["relu", "tanh"]), ValueError, "activation"),
    (dict(solver="newton"), ValueError, "solver"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size=2.5), TypeError, "batch_size"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
    (dict(beta_2=1.0), ValueError, "beta_2"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(callbacks="print"), TypeError, "callbacks"),
    (dict(n_iter_no_change=0), ValueError, "n_iter_no_change"),
    (dict(n_iter_no_change=2.5), TypeError, "n_iter_no_change"),
])
def test_bad_hyperparameters(params, error, match, iris):
    with pytest.raises(error, match=match):
        MLPClassifier(**params).fit(*iris)


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_n_iter_no_change_inf_never_stops_early(estimator, iris, tmp_path):
    """scikit-learn takes n_iter_no_change=np.inf (the tol rule never stops a run);
    fastnn refused it with a TypeError."""
    X, y = iris
    model = estimator(hidden_layer_sizes=(3,), max_iter=8, tol=10.0, n_iter_no_change=np.inf,
                      random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 8
    loaded = fastnn.load(fastnn.save(model, tmp_path / "m.npz"))
    assert loaded.get_params()["n_iter_no_change"] == np.inf


def test_failed_calls_leave_a_fitted_model_untouched(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    before = model._network.params.copy()
    bad_X = X.copy()
    bad_X[3, 1] = np.nan
    for call in (lambda: model.partial_fit(bad_X, y),
                 lambda: model.partial_fit(X, np.where(y == 2, 7, y)),  # unseen label
                 lambda: model.partial_fit(X[:, :3], y),
                 lambda: model.partial_fit(X, y, sample_weight=-np.ones(len(y))),
                 lambda: model.set_params(learning_rate_init=-1.0).partial_fit(X, y)):
        with pytest.raises(ValueError):
            call()
    np.testing.assert_array_equal(model._network.params, before)


def test_divergence_warns_and_keeps_finite_weights(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e6,
                          max_iter=20, random_state=0)
    with pytest.warns(fastnn.DivergenceWarning, match="lower learning_rate_init"):
        model.fit(X * 100, y)
    assert np.isfinite(model._network.params).all()
    assert model.n_iter_ == len(model.loss_curve_) < 5
    assert np.isfinite(model.predict_proba(X)).all()
    with pytest.warns(fastnn.DivergenceWarning):  # NaN from overflow, same handling
        MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e6, max_iter=50,
                     random_state=0).fit(X * 1e3, y * 1e150)


def test_a_first_batch_that_overflows_is_not_blamed_on_the_learning_rate(iris):
    """float32 targets of 1e20 are finite, their squared errors are not: the first batch's
    loss overflows at the initial weights, before any update, and the warning names the
    data, not learning_rate_init."""
    X, y = iris
    model = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", max_iter=5, random_state=0)
    with pytest.warns(fastnn.DivergenceWarning, match="before any update.*rescale the data"):
        model.fit(X.astype(np.float32), (y * 1e20).astype(np.float32))
    assert model.n_iter_ == 0 and model.loss_curve_ == []
    assert np.isfinite(model._network.params).all()


def test_keyboard_interrupt_keeps_last_completed_epoch(iris, monkeypatch):
    X, y = iris
    params = dict(hidden_layer_sizes=(8,), solver="sgd", batch_size=10, random_state=0)
    reference = MLPClassifier(max_iter=3, **params).fit(X, y)
    epochs = {"n": 0}
    original = fastnn._mlp_fit.run_epoch

    def interrupted(*args, **kwargs):
        epochs["n"] += 1
        total = original(*args, **kwargs)  # the weights have moved ...
        if epochs["n"] == 4:
            raise KeyboardInterrupt  # ... but the fourth epoch never completes
        return total

    monkeypatch.setattr(fastnn._mlp_fit, "run_epoch", interrupted)
    with pytest.warns(UserWarning, match="interrupted"):
        model = MLPClassifier(max_iter=10, **params).fit(X, y)
    assert model.n_iter_ == 3
    np.testing.assert_array_equal(model._network.params, reference._network.params)


def test_partial_fit_needs_classes_then_streams(iris):
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(8,), random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X[:10], y[:10])
    for _ in range(30):
        for chunk in np.array_split(np.random.default_rng(0).permutation(150), 5):
            model.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    assert model.score(X, y) > 0.9
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("value, match", [(np.nan, "Input X contains NaN"),
                                          (np.inf, "Input X contains infinity")])
def test_predict_on_nonfinite_X_gives_scikit_learns_error(value, match, n_threads):
    """predict/predict_proba count NaN/inf inside the forward pass (by blocks from 2,048
    rows, else before it) and raise scikit-learn's error.  (float64 X runs in float64 on
    the float32 model, as scikit-learn's: 1e300 is no longer infinite there.)"""
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2100, 3))
    y = (X[:, 0] > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, n_threads=n_threads,
                          random_state=0).fit(X[:100].astype(np.float32), y[:100])
    assert model._network.dtype == np.float32
    for rows in (slice(None), slice(0, 50)):
        bad = X[rows].copy()
        bad[-1, 2] = value
        for method in (model.predict, model.predict_proba):
            with pytest.raises(ValueError, match=match):
                method(bad)


@pytest.mark.parametrize("labels", [
    np.array([3, 1, 2, 3, 1, 7]), np.array(["b", "a", "c", "a", "b", "b"], dtype=object),
    np.array(["no", "yes", "yes", "no", "no", "yes"]), np.array([1.0, -1.0, 1.0, 2.0, -1.0, 1.0]),
    np.array([1, 0, 0, 1, 1, 0], dtype=bool)])
def test_binarized_targets_are_label_binarizers(labels):
    """The targets fit trains on are LabelBinarizer's, also for data lacking some classes;
    multilabel indicators go through LabelBinarizer itself."""
    from sklearn.preprocessing import LabelBinarizer

    from fastnn._mlp_targets import binarized

    binarizer = LabelBinarizer().fit(labels)
    for y in (labels, labels[:2]):
        got = binarized(binarizer, y, np.float32)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, binarizer.transform(y))
    indicator = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    multilabel = LabelBinarizer().fit(indicator)
    np.testing.assert_array_equal(binarized(multilabel, indicator, np.float32), indicator)


def test_n_threads_above_this_machines_runs_on_all_of_them():
    """MLPClassifier(n_threads=16) on a 2-core machine was refused ('n_threads == 16, must
    be <= 2'), while the linear models clip it: a grid or a pickle from a bigger machine
    failed here.  It now trains as with every thread this machine runs."""
    most = fastnn.threading_info()["max_threads"]
    X, y = load_iris(return_X_y=True)
    fits = [fastnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0,
                                 n_threads=n).fit(X, y) for n in (most + 14, most)]
    assert fits[0].n_threads == most + 14
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", [fastnn.MLPClassifier, fastnn.MLPRegressor])
@pytest.mark.parametrize("out_of_core", [False, True])
def test_predict_reports_finite_inputs_that_overflow(estimator, out_of_core, tmp_path):
    """Finite X whose products overflow gave NaN outputs: predict_proba returned NaN and
    predict class 0 (or NaN values), without an error, where Network.forward raises."""
    X, y = load_iris(return_X_y=True)
    model = estimator(hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y if estimator is fastnn.MLPClassifier else y.astype(float))
    bad = X[:3].copy()
    bad[1] = np.finfo(np.float64).max  # finite, but X @ W overflows
    if out_of_core:
        bad = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=bad.dtype,
                                        shape=bad.shape)
        bad[...] = X[:3]
        bad[1] = np.finfo(np.float64).max
    with pytest.raises(ValueError, match=r"outputs of 1 row\(s\) of X .* overflow"):
        model.predict(bad)
    assert np.isfinite(model.predict(X[:3])).all()
