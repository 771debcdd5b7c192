"""MLP estimator state: copies, assigned weights, parameter checks and failed calls."""
import copy
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle as sklearn_shuffle
from sklearn.utils.validation import check_is_fitted

import fastnn
from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 3))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def _fitted(data, **params):
    params = {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0, **params}
    return MLPClassifier(**params).fit(*data)


def _layers(model):
    return [a.copy() for a in model.coefs_ + model.intercepts_]


def _assert_layers_equal(model, layers):
    assert len(model.coefs_) + len(model.intercepts_) == len(layers)
    for got, expected in zip(model.coefs_ + model.intercepts_, layers):
        np.testing.assert_array_equal(got, expected)


def _joblib_round_trip(model, tmp_path):
    joblib.dump(model, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


@pytest.mark.parametrize("copier", [lambda m, _: pickle.loads(pickle.dumps(m)),
                                    lambda m, _: copy.deepcopy(m), _joblib_round_trip],
                         ids=["pickle", "deepcopy", "joblib"])
def test_copying_leaves_the_original_fitted(copier, data, tmp_path):
    X, y = data
    model = _fitted(data)
    layers, proba = _layers(model), model.predict_proba(X)
    restored = copier(model, tmp_path)
    _assert_layers_equal(model, layers)
    np.testing.assert_array_equal(restored.predict_proba(X), proba)
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    model.partial_fit(X, y)
    assert len(model.loss_curve_) == 4  # 3 epochs of fit, 1 of partial_fit
    assert not np.array_equal(model.coefs_[0], layers[0])  # trained, in its own network
    _assert_layers_equal(restored, layers)


@pytest.mark.parametrize("name", ["shuffle", "warm_start", "nesterovs_momentum",
                                  "early_stopping", "verbose"])
@pytest.mark.parametrize("value", ["False", "no", None, 1.0])
def test_boolean_parameters_must_be_bools(name, value, data):
    with pytest.raises(ValueError, match=name):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, **{name: value}).fit(*data)


@pytest.mark.parametrize("params", [dict(early_stopping=np.bool_(False), shuffle=np.True_),
                                    dict(verbose=0), dict(verbose=np.False_)])
def test_boolean_parameters_accept_numpy_bools(params, data):
    model = _fitted(data, **params)
    assert model.validation_scores_ is None


@pytest.mark.parametrize("class_weight, match", [
    ({0: np.nan, 1: 1.0}, "finite and non-negative"),
    ({0: np.inf, 1: 1.0}, "finite and non-negative"),
    ({0: -1.0, 1: 1.0}, "finite and non-negative"),
    ({0: "1", 1: 1.0}, "finite and non-negative"),
    ({0: 0.0, 1: 0.0}, "all zero"),
    ({0: 0, 1: 1.0, 2: 0}, None),  # weights of absent classes are not used
    ("heavy", "class_weight must be"),
    ([0.5, 2.0], "class_weight must be"),
])
def test_class_weight_is_validated(class_weight, match, data):
    X, y = data
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, class_weight=class_weight)
    if match is None:
        model.fit(X, y)
        return
    with pytest.raises(ValueError, match="class_weight") as error:
        model.fit(X, y)
    assert error.match(match)
    with pytest.raises(ValueError, match="class_weight"):
        model.partial_fit(X, y, classes=[0, 1])


def _snapshot(model):
    return {name: copy.deepcopy(value) for name, value in vars(model).items()
            if name.endswith("_") and not name.startswith("_")}


def _assert_same_public_state(model, before):
    after = _snapshot(model)
    assert after.keys() == before.keys()
    for name, value in before.items():
        if name in ("coefs_", "intercepts_", "loss_curve_", "gradient_norms_"):
            for a, b in zip(after[name], value):
                np.testing.assert_array_equal(a, b)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[name], value)
        else:
            assert after[name] == value, name


@pytest.mark.parametrize("warm_start", [False, True])
def test_failed_fit_leaves_the_model_unchanged(warm_start, data):
    import pandas as pd
    X, y = data
    X = pd.DataFrame(X, columns=["a", "b", "c"])
    model = _fitted((X, y), warm_start=warm_start)
    before, proba = _snapshot(model), model.predict_proba(X)
    new_X = pd.DataFrame(np.c_[X, X], columns=list("uvwxyz"))
    bad_weight = np.full(len(y), np.nan)
    with pytest.raises(ValueError, match="sample_weight|NaN"):
        model.set_params(warm_start=False).fit(new_X, y + 5, sample_weight=bad_weight)
    with pytest.raises(ValueError, match="test_size"):  # fails in training (validation split)
        model.set_params(early_stopping=True, validation_fraction=0.01).fit(new_X, y + 5)
    model.set_params(early_stopping=False, warm_start=warm_start)
    _assert_same_public_state(model, before)
    assert list(model.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(model.predict_proba(X), proba)


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("bad", [np.nan, -np.inf, 1e300])
@pytest.mark.parametrize("solver, early_stopping, call", [
    ("sgd", False, "fit"), ("adam", False, "fit"), ("sgd", False, "partial_fit"),
    ("adam", False, "partial_fit"), ("adam", True, "fit"), ("lbfgs", False, "fit")])
def test_nonfinite_X_leaves_a_fitted_model_unchanged(estimator, bad, solver, early_stopping,
                                                     call):
    """A warm-start fit or partial_fit of a float32 model on X with one NaN/inf row, or with
    a float64 value finite until converted to float32: scikit-learn's error, and nothing
    of the model changed (weights, optimizer state, n_iter_, loss_curve_), also where the
    shuffled epoch found the row after applying the batches before it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    model = estimator(hidden_layer_sizes=(4,), solver=solver, early_stopping=early_stopping,
                      batch_size=50, max_iter=2, random_state=0).fit(X.astype(np.float32), y)
    before = _snapshot(model)
    state = [a.copy() for a in model._optimizer._state_arrays()] if solver != "lbfgs" else []
    bad_X = X.copy()
    # The last row of the call's first shuffle (seeded by random_state, as in the fit):
    # the batches before it are applied before it is found.
    bad_X[sklearn_shuffle(np.arange(600), random_state=np.random.RandomState(0))[-1], 1] = bad
    if np.isfinite(bad):
        match = r"Input X contains infinity or a value too large for dtype\('float32'\)"
    else:
        match = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    with pytest.raises(ValueError, match=match):
        if call == "fit":
            model.set_params(warm_start=True).fit(bad_X, y)
        else:
            model.partial_fit(bad_X, y)
    _assert_same_public_state(model, before)
    for a, b in zip(model._optimizer._state_arrays() if state else [], state):
        np.testing.assert_array_equal(a, b)
    model.set_params(warm_start=False)
    assert model.fit(X, y).n_iter_ == 2  # usable as before


def test_failed_first_partial_fit_leaves_the_model_unfitted(data):
    X, y = data
    bad_X = X.copy()
    bad_X[5, 1] = np.nan
    model = MLPClassifier(hidden_layer_sizes=(4,))
    for call in (lambda: model.partial_fit(bad_X, y, classes=[0, 1]),
                 lambda: model.partial_fit(X, y, classes=[0]),
                 lambda: model.partial_fit(X, y, sample_weight=-np.ones(len(y)),
                                           classes=[0, 1])):
        with pytest.raises(ValueError):
            call()
        with pytest.raises(Exception, match="not fitted"):
            check_is_fitted(model)
        assert not any(name.endswith("_") for name in vars(model))
    model.partial_fit(X, y, classes=[0, 1])
    assert list(model.classes_) == [0, 1]


def test_failed_first_partial_fit_of_a_regressor_leaves_it_unfitted(data):
    X, y = data
    model = MLPRegressor(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError):
        model.partial_fit(X, y, sample_weight=np.full(len(y), np.inf))
    assert not any(name.endswith("_") for name in vars(model))


def _loaded_from_file(model, tmp_path):
    import fastnn
    fastnn.save(model, tmp_path / "model.fnn")
    return fastnn.load(tmp_path / "model.fnn")


@pytest.mark.parametrize("source", ["fit", "pickle", "file"])
@pytest.mark.parametrize("assign", ["element", "list"])
def test_assigned_weights_are_used_by_predict(source, assign, data, tmp_path):
    X, y = data
    model = _fitted(data)
    if source == "pickle":
        model = pickle.loads(pickle.dumps(model))
    elif source == "file":
        model = _loaded_from_file(model, tmp_path)
    reference = copy.deepcopy(model)
    reference.coefs_[1][...] = 0.5  # in place: a view of the network
    reference.intercepts_[0][...] = -1.0
    expected = reference.predict_proba(X)
    assert not np.allclose(expected, model.predict_proba(X))
    if assign == "element":
        model.coefs_[1] = np.full_like(model.coefs_[1], 0.5)
        model.intercepts_[0] = np.full(4, -1.0)  # float64 into any dtype
    else:
        model.coefs_ = [model.coefs_[0].tolist(), np.full_like(model.coefs_[1], 0.5)]
        model.intercepts_ = [np.full(4, -1.0), model.intercepts_[1].copy()]
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert model.coefs_[1] is model._network.coefs[1]  # adopted: views of the network again
    model.coefs_[0][...] = 0.0  # and in-place writes reach the network again
    reference.coefs_[0][...] = 0.0
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))


@pytest.mark.parametrize("method", ["partial_fit", "warm_start_fit"])
def test_training_continues_from_assigned_weights(method, data):
    X, y = data
    model = _fitted(data, solver="sgd", shuffle=False)
    reference = copy.deepcopy(model)
    reference.coefs_[0][...] = 0.25
    model.coefs_[0] = np.full_like(model.coefs_[0], 0.25)
    for m in (model, reference):
        if method == "partial_fit":
            m.partial_fit(X, y)
        else:
            m.set_params(warm_start=True).fit(X, y)
    for got, expected in zip(model.coefs_ + model.intercepts_,
                             reference.coefs_ + reference.intercepts_):
        np.testing.assert_array_equal(got, expected)
    assert model.loss_curve_ == reference.loss_curve_


@pytest.mark.parametrize("name, value, match", [
    ("coefs_", [np.zeros((3, 4))], r"coefs_ must hold 2 arrays"),
    ("coefs_", "weights", r"coefs_ must be a list"),
    ("coefs_", [np.zeros((3, 4)), np.zeros((3, 1))], r"coefs_\[1\] must have shape \(4, 1\)"),
    ("coefs_", [np.zeros((3, 4)), np.full((4, 1), np.nan)], r"coefs_\[1\] contains NaN"),
    ("coefs_", [np.zeros((3, 4)), np.full((4, 1), 1e300)], r"coefs_\[1\] contains NaN or inf"),
    ("intercepts_", [np.zeros(4), np.array(["a"])], r"intercepts_\[1\] must hold real numbers"),
])
def test_assigned_weights_are_checked(name, value, match, data):
    X, y = data
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(
        X.astype(np.float32), y)
    params = model._network.params.copy()
    good = getattr(model, name)
    setattr(model, name, value)
    for call in (model.predict, lambda X: model.partial_fit(X, y),
                 lambda X: model.set_params(warm_start=True).fit(X, y)):
        with pytest.raises(ValueError, match=match):
            call(X)
    np.testing.assert_array_equal(model._network.params, params)
    setattr(model, name, good)
    model.predict(X)


def test_memory_mapped_copy_predicts_and_takes_assigned_weights(data, tmp_path):
    """joblib maps the arrays of a loaded model read-only: its views are memmaps."""
    X, y = data
    model = _fitted(data)
    joblib.dump(model, tmp_path / "model.joblib")
    mapped = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
    np.testing.assert_array_equal(mapped.predict_proba(X), model.predict_proba(X))
    mapped.intercepts_[1] = model.intercepts_[1] + 1.0
    model.intercepts_[1][...] += 1.0
    np.testing.assert_array_equal(mapped.predict_proba(X), model.predict_proba(X))
    # the assigned biases went into a private copy of the parameters; predict writes no
    # gradient, which stays the file's map
    assert mapped._network.params.flags.writeable
    assert not mapped._network.grads.flags.writeable
    np.testing.assert_array_equal(mapped._network.coefs[0], mapped.coefs_[0])
    assert mapped._network.coefs[0].base is mapped._network.params


@pytest.mark.parametrize("solver, call", [("adam", "partial_fit"), ("sgd", "partial_fit"),
                                          ("adam", "warm_start"), ("sgd", "warm_start"),
                                          ("lbfgs", "warm_start")])
def test_memory_mapped_copy_trains_on(solver, call, data, tmp_path):
    """A warm start or partial_fit of a model loaded with mmap_mode="r" trains private copies
    of its arrays, as the same model loaded into memory (it failed: 'assignment destination
    is read-only'), and leaves the file as it was."""
    X, y = data
    joblib.dump(_fitted(data, solver=solver, n_threads=1), tmp_path / "model.joblib")
    mapped, loaded = (joblib.load(tmp_path / "model.joblib", mmap_mode=mode)
                      for mode in ("r", None))
    assert not mapped._network.params.flags.writeable
    for model in (mapped, loaded):
        for _ in range(2):
            if call == "partial_fit":
                model.partial_fit(X, y)
            else:
                model.set_params(warm_start=True).fit(X, y)
    for name in ("params", "grads"):
        np.testing.assert_array_equal(getattr(mapped._network, name),
                                      getattr(loaded._network, name))
    np.testing.assert_array_equal(mapped.predict_proba(X), loaded.predict_proba(X))
    assert getattr(mapped, "loss_curve_", None) == getattr(loaded, "loss_curve_", None)
    assert mapped.loss_ == loaded.loss_
    again = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(again._network.params,
                                  _fitted(data, solver=solver, n_threads=1)._network.params)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_dataframe_input_trains_with_every_solver(solver, data):
    """A DataFrame's values are in Fortran order; L-BFGS's full-batch products refused them
    (``fastnn train --solver lbfgs`` always reads a DataFrame)."""
    pd = pytest.importorskip("pandas")
    X, y = data
    fits = [MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=20, shuffle=False,
                          random_state=0).fit(inputs, y)
            for inputs in (pd.DataFrame(X), np.asfortranarray(X), np.ascontiguousarray(X))]
    for fit in fits[:2]:
        np.testing.assert_array_equal(fit.predict_proba(X), fits[2].predict_proba(X))


def test_sample_weights_whose_sum_overflows_are_refused(data):
    """50 weights of 3e38 are each finite in float32, their sum is not: every batch's
    weighted mean loss was NaN, reported as a divergence."""
    X, y = data
    weights = np.full(X.shape[0], 3e38, np.float32)
    with pytest.raises(ValueError, match="sample_weight sums to inf in float32"):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3).fit(
            X.astype(np.float32), X[:, 0].astype(np.float32), sample_weight=weights)


@pytest.mark.parametrize("fitted_with, then, call", [
    (False, True, "fit"), (True, False, "fit"), (True, False, "partial_fit")])
def test_switching_early_stopping_between_calls_starts_its_record(fitted_with, then, call,
                                                                  data):
    """A model fitted with early stopping goes on with partial_fit (which refuses it) or a
    warm-start fit without it, and the other way round: the stopping rule now selected
    starts from an empty record, as in a first fit, instead of failing on the other rule's
    (None + tol, after the call's first epoch had changed the weights)."""
    X, y = data
    model = _fitted(data, early_stopping=fitted_with)
    model.set_params(early_stopping=then, warm_start=True)
    model.fit(X, y) if call == "fit" else model.partial_fit(X, y)
    assert len(model.loss_curve_) == 3 + model.n_iter_
    if then:
        assert len(model.validation_scores_) == len(model.validation_loss_curve_) == 3
        assert model.best_validation_score_ == max(model.validation_scores_)
        assert model.best_loss_ is None
    else:
        assert model.validation_scores_ is None and model.best_validation_score_ is None
        assert model.best_loss_ == min(model.loss_curve_[3:])


@pytest.mark.parametrize("call", ["fit", "warm_start", "partial_fit"])
def test_regression_targets_beyond_float32_are_refused(call, data):
    """A float64 target of 1e39 is finite, and infinite in the float32 network: every
    epoch's loss was NaN, reported as a divergence blamed on the learning rate, and the
    model kept its initial weights with no error. scikit-learn's error instead, and a
    fitted model unchanged."""
    X, _ = data
    X32, y = X.astype(np.float32), X[:, 0] * 1e39
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    if call != "fit":
        model.fit(X32, X[:, 0])
    before = _snapshot(model)
    match = r"Input y contains infinity or a value too large for dtype\('float32'\)"
    with pytest.raises(ValueError, match=match):
        if call == "partial_fit":
            model.partial_fit(X, y)
        else:
            model.set_params(warm_start=call == "warm_start").fit(X32, y)
    if call == "fit":
        assert not any(name.endswith("_") for name in vars(model))
    else:
        _assert_same_public_state(model, before)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_warm_start_whose_validation_split_fails_keeps_the_optimizer_state(solver, data):
    """The warm-start fit trains in place; it made a new optimizer (Adam's moments and
    step count, or the SGD velocity, zeroed) before the early-stopping split failed, so a
    later partial_fit went on from a reset optimizer."""
    X, y = data
    model = _fitted(data, solver=solver, early_stopping=True, warm_start=True)
    before = _snapshot(model)
    state = [a.copy() for a in model._optimizer._state_arrays()]
    step = getattr(model._optimizer, "t", None)
    with pytest.raises(ValueError, match="too few|test_size"):  # the stratified split
        model.fit(X[:4], y[:4])
    _assert_same_public_state(model, before)
    for a, b in zip(model._optimizer._state_arrays(), state, strict=True):
        np.testing.assert_array_equal(a, b)
    assert getattr(model._optimizer, "t", None) == step


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("side", ["training", "validation"])
def test_early_stopping_split_without_weight_on_one_side_is_refused(estimator, side, data,
                                                                    monkeypatch):
    """Weights that are 0 on every training row of the split trained nothing (loss 0 each
    epoch, no warning); 0 on every validation row failed while scoring, after the first
    epoch's updates (the warm start's model changed). Now an error before any change."""
    import fastnn._mlp_fit as mlp_fit

    X, y = data
    target = y if estimator is MLPClassifier else X[:, 0]
    split, sides = mlp_fit._split_validation, {}

    def recorded_split(*args):
        sides["training"], sides["validation"] = rows = split(*args)
        return rows

    monkeypatch.setattr(mlp_fit, "_split_validation", recorded_split)
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, early_stopping=True)
    model = estimator(**params).fit(X, target).set_params(warm_start=True)
    copy.deepcopy(model).fit(X, target)  # the split the model's next fit makes
    weights = np.ones(X.shape[0])
    weights[sides[side]] = 0
    before = _snapshot(model)
    with pytest.raises(ValueError, match=f"sample_weight is 0 on every {side} row"):
        model.fit(X, target, sample_weight=weights)
    _assert_same_public_state(model, before)


def _public_fitted(model) -> set:
    return {name for name in vars(model) if name.endswith("_") and not name.startswith("_")}


@pytest.mark.parametrize("solver, early_stopping", [("lbfgs", False), ("sgd", False),
                                                    ("adam", False), ("adam", True)])
@pytest.mark.parametrize("kind", ["MLPClassifier", "MLPRegressor"])
def test_fitted_attributes_are_scikit_learns(kind, solver, early_stopping):
    """After an lbfgs fit fastnn's models also had loss_curve_, best_loss_,
    validation_scores_, best_validation_score_ and validation_loss_curve_ (empty or None),
    which scikit-learn's keep for the stochastic solvers.  Now the same set as
    scikit-learn's, plus fastnn's own records of the stochastic solvers
    (gradient_norms_, validation_loss_curve_)."""
    from sklearn import neural_network

    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = (X[:, 0] > .5).astype(int)
    params = dict(solver=solver, early_stopping=early_stopping, hidden_layer_sizes=(3,),
                  max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = getattr(fastnn, kind)(**params).fit(X, y)
        theirs = getattr(neural_network, kind)(**params).fit(X, y)
    extra = set() if solver == "lbfgs" else {"gradient_norms_", "validation_loss_curve_"}
    assert _public_fitted(ours) == _public_fitted(theirs) | extra


def test_a_warm_start_from_lbfgs_to_a_stochastic_solver_starts_its_records(tmp_path):
    """scikit-learn's own warm start from lbfgs to sgd fails (no loss_curve_); fastnn's
    starts the stochastic records, and an lbfgs model saves and loads without them."""
    rng = np.random.RandomState(0)
    X = rng.rand(60, 3)
    y = (X[:, 0] > .5).astype(int)
    model = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(3,), max_iter=5,
                          random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        loaded = fastnn.load(fastnn.save(model, tmp_path / "model.npz"))
        assert _public_fitted(loaded) == _public_fitted(model)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        model.set_params(solver="sgd", max_iter=3).fit(X, y)
    assert len(model.loss_curve_) == 3 and len(model.gradient_norms_) == 3
    assert model.best_loss_ == min(model.loss_curve_) and model.validation_scores_ is None


@pytest.mark.parametrize("change", [{"activation": "tanh"}, {"activation": ["relu", "tanh"]},
                                    {"sigmoid_a": 2.0}, {"activation": 0}])
def test_predict_refuses_unit_parameters_changed_since_fitting(change):
    """set_params(activation=...) (or sigmoid_a) on a fitted model: scikit-learn's predict
    computes with the new activation; fastnn's answered with the fitted network's, without a
    word.  It now says what changed; set back, the model predicts as before."""
    X, y = load_iris(return_X_y=True)
    model = MLPClassifier(hidden_layer_sizes=(5, 4), activation="logistic", max_iter=3,
                          random_state=0).fit(X, y)
    before = model.predict_proba(X)
    original = {name: getattr(model, name) for name in change}
    model.set_params(**change)
    for method in (model.predict, model.predict_proba, lambda X: model.score(X, y)):
        with pytest.raises(ValueError, match=f"{next(iter(change))}=.*set_params after fitting"):
            method(X)
    model.set_params(**original)
    np.testing.assert_array_equal(model.predict_proba(X), before)
