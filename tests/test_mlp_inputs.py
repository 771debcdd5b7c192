"""MLPClassifier / MLPRegressor: parameter values and inputs a scikit-learn user passes."""
import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris

import fastnn
from fastnn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_n_threads_auto_is_set_num_threads_auto(estimator, iris, tmp_path):
    """MLPClassifier(n_threads="auto") was refused ('n_threads must be an instance of int,
    not str') while fastnn.set_num_threads("auto") takes it.  It now trains and predicts
    in the adaptive mode, and the setting before the call is back afterwards."""
    X, y = iris
    seen = []
    model = estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0, n_threads="auto",
                      callbacks=lambda est, metrics: seen.append(fastnn.threading_info()))
    fastnn.set_num_threads(1)
    try:
        model.fit(X, y)
        assert fastnn.get_num_threads() == 1 and not fastnn.threading_info()["adaptive"]
        model.predict(X)
    finally:
        fastnn.set_num_threads("auto")
    most = fastnn.threading_info()["max_threads"]
    assert [(info["n_threads"], info["adaptive"]) for info in seen] == [(most, True)] * 3

    assert model.get_params()["n_threads"] == "auto"
    assert clone(model).n_threads == "auto"
    assert model.set_params(n_threads=1).set_params(n_threads="auto").n_threads == "auto"
    restored = pickle.loads(pickle.dumps(model.set_params(callbacks=None)))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    loaded = fastnn.load(fastnn.save(model, tmp_path / "model.npz"))
    assert loaded.n_threads == "auto"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    loaded.partial_fit(X, y)


@pytest.mark.parametrize("value, error", [(True, TypeError), (False, TypeError),
                                          (np.True_, TypeError), ("2", TypeError),
                                          ("AUTO", TypeError), (2.0, TypeError),
                                          (0, ValueError), (-1, ValueError)])
def test_n_threads_refused_values_name_the_parameter(value, error, iris):
    """n_threads=True trained on one thread (a bool is an int to check_scalar, and
    _config.capped made it 1): bools, other strings and numbers below 1 are refused with
    an error naming n_threads and the values it takes, before anything changes."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, n_threads=value)
    with pytest.raises(error, match=r"n_threads must be an int >= 1, 'auto' or None"):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")


def _state(model) -> dict:
    """What a failed call must leave as it was: the attributes, with the network's weights."""
    state = {name: pickle.dumps(value) for name, value in vars(model).items()
             if name != "_weight_views_cache"}
    if hasattr(model, "_network"):
        state["params"] = model._network.params.tobytes()
    return state


@pytest.mark.parametrize("y_of", [
    lambda y: y.astype(str),  # numeric strings: "1.5" trained as 1.5
    lambda y: y.astype(str).astype(bytes),
    lambda y: y.astype(str).tolist(),
    lambda y: np.stack([y, y], 1).astype(str),
    lambda y: (y * 100).astype("datetime64[D]"),
    lambda y: (y * 100).astype("timedelta64[s]"),
], ids=["str", "bytes", "list-of-str", "2d-str", "datetime", "timedelta"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_regressor_refuses_targets_that_are_not_numbers(y_of, method, iris):
    """MLPRegressor().fit(X, np.array(["1.5", "2"])) trained (the conversion to float
    parsed the strings; dates became day counts), where scikit-learn's MLPRegressor raises
    ("ufunc 'subtract' did not contain a loop with signature matching types (dtype('<U3'),
    dtype('float64'))").  Now a ValueError names y's dtype; neither a new nor a fitted
    model changes."""
    X, y = iris
    y = np.asarray(y, dtype=float) / 2
    bad = y_of(y)
    dtype = np.asarray(bad).dtype
    fresh = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    fitted = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    for model in (fresh, fitted):
        before = _state(model)
        with pytest.raises(ValueError, match=re.escape(f"MLPRegressor needs numeric targets: "
                                                       f"y has dtype {dtype}")):
            getattr(model, method)(X, bad)
        assert _state(model) == before


@pytest.mark.parametrize("y_of", [lambda y: y.astype(object), lambda y: y > 0,
                                  lambda y: y.astype(str).astype(object)],
                         ids=["object-floats", "bool", "object-str"])
def test_regressor_takes_targets_scikit_learn_converts(y_of, iris):
    """Object arrays (scikit-learn converts them with astype(float), as numbers and numeric
    strings alike) and bools are fitted as scikit-learn fits them: the same losses."""
    from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor

    X, y = iris
    params = dict(hidden_layer_sizes=(3,), solver="sgd", max_iter=5, random_state=0)
    y = y_of(np.asarray(y, dtype=float) / 2 - 0.3)
    ours = MLPRegressor(**params).fit(X, y)
    theirs = SklearnMLPRegressor(**params).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("two_outputs", [False, True])
def test_regressor_refuses_none_in_object_targets(method, two_outputs, iris):
    """An object y holding None passed scikit-learn's checks (which look for NaN before
    converting it to float) and became NaN: every epoch's loss was NaN, and fit ended with a
    DivergenceWarning and the initial weights (a partial_fit of a fitted model counted an
    epoch).  Now it is scikit-learn's 'Input y contains NaN', and nothing changes."""
    X, y = iris
    y = np.asarray(y, dtype=float)
    bad = y.astype(object)
    bad[3] = None
    if two_outputs:
        bad = np.stack([bad, y], 1)
    fresh = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    fitted = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    for model in (fresh, fitted):
        before = _state(model)
        with pytest.raises(ValueError, match="Input y contains NaN"):
            getattr(model, method)(X, bad)
        assert _state(model) == before


@pytest.mark.parametrize("estimator", ["MLPClassifier", "MLPRegressor"])
def test_float32_validation_fraction_splits_as_scikit_learn(estimator, iris):
    """validation_fraction=np.float32(0.2) (a grid from np.linspace(...).astype(np.float32))
    with early stopping failed with train_test_split's error about 'test_size', which
    scikit-learn's MLPs do not check when they call it.  It now trains on scikit-learn's
    split: 150 * float32(0.2) rounds to 30 validation rows there (31 in float64)."""
    from sklearn import neural_network

    X, y = iris
    y = y if estimator == "MLPClassifier" else y / 2.0
    params = dict(hidden_layer_sizes=(3,), solver="sgd", max_iter=4, early_stopping=True,
                  validation_fraction=np.float32(0.2), random_state=0)
    ours = getattr(fastnn, estimator)(**params).fit(X, y)
    theirs = getattr(neural_network, estimator)(**params).fit(X, y)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-6)
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=1e-6)


@pytest.mark.parametrize("value, error", [(True, TypeError), (2.5, TypeError),
                                          ("bogus", TypeError), (0, ValueError)])
@pytest.mark.parametrize("out_of_core", [False, True])
def test_predict_checks_n_threads_set_after_fitting(value, error, out_of_core, iris, tmp_path):
    """predict does not run the parameter checks of fit: after set_params(n_threads=True)
    (or 2.5) it ran on one thread (two), and 'bogus' failed with int()'s 'invalid literal
    for int() with base 10'.  It now gives fit's error naming n_threads."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
    if out_of_core:
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
    model.set_params(n_threads=value)
    for predict in (model.predict, model.predict_proba):
        with pytest.raises(error, match=r"n_threads must be an int >= 1, 'auto' or None"):
            predict(X)
    np.testing.assert_array_equal(model.set_params(n_threads=1).predict(X),
                                  model.set_params(n_threads=None).predict(X))


@pytest.mark.parametrize("classes", [[0, 1, 2, 3], [0, 1], ["a", "b", "c"]])
def test_multilabel_partial_fit_classes_must_be_the_columns(classes, iris):
    """partial_fit(X, Y, classes=[0, 1, 2, 3]) with a 3-column indicator Y trained a model
    whose classes_ had 4 labels and predict_proba 3 columns (scikit-learn 1.9.1 does the
    same), which fastnn.save refused ('would not load back').  The first call now refuses
    classes that are not the columns' indices, and the model stays unfitted."""
    X, y = iris
    Y = np.stack([y == 0, y == 1, y == 2], 1).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(3,), random_state=0)
    with pytest.raises(ValueError, match=r"multilabel indicator matrix of 3 columns: classes "
                                         r"must be their indices \[0, 1, 2\]"):
        model.partial_fit(X, Y, classes=classes)
    assert not hasattr(model, "classes_")
    model.partial_fit(X, Y, classes=[0, 1, 2]).partial_fit(X, Y)
    assert model.predict_proba(X).shape == (150, 3) and model.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_weights_assigned_before_fitting_do_not_make_a_fitted_model(method, iris):
    """coefs_ and intercepts_ set on a new estimator (how a warm start is given its first
    weights) passed check_is_fitted, whose default looks for any attribute ending in '_':
    predict then failed with "no attribute '_network'".  It is now NotFittedError, and the
    warm start still starts from those weights."""
    from sklearn.exceptions import NotFittedError

    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, warm_start=True, random_state=0)
    model.coefs_ = [np.full((4, 3), 0.1), np.full((3, 3), 0.2)]
    model.intercepts_ = [np.zeros(3), np.zeros(3)]
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(model, method)(X, *([y] if method == "score" else []))
    model.fit(X, y)
    fresh = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, warm_start=True, random_state=0)
    fresh.coefs_ = [np.full((4, 3), 0.1), np.full((3, 3), 0.2)]
    fresh.intercepts_ = [np.zeros(3), np.zeros(3)]
    np.testing.assert_array_equal(fresh.fit(X, y)._network.params, model._network.params)


@pytest.mark.parametrize("activation, name, value", [("logistic", "sigmoid_a", 3.0),
                                                     ("leaky_relu", "leaky_slope", 0.5)])
@pytest.mark.parametrize("call", ["partial_fit", "warm_start"])
def test_continued_training_refuses_a_changed_activation_shape(activation, name, value, call,
                                                               iris):
    """set_params(sigmoid_a=3.0) after fitting, then partial_fit or a warm-start fit, trained
    on with the network's sigmoid_a=1.0 while get_params said 3.0 (a changed activation or
    hidden_layer_sizes is refused).  It is now refused the same way, before anything changes;
    a value the network's units do not use (sigmoid_a of ReLU units) is not checked."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(4,), activation=activation, max_iter=2,
                          random_state=0, warm_start=call == "warm_start").fit(X, y)
    before = _state(model.set_params(**{name: value}))
    train = model.partial_fit if call == "partial_fit" else model.fit
    with pytest.raises(ValueError, match=rf"the fitted network's \w+ units have {name}="):
        train(X, y)
    assert _state(model) == before
    model.set_params(**{name: np.float32(getattr(model._network, name))})
    train(X, y)  # the network's value, of another type
    relu = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    relu.set_params(**{name: value}).partial_fit(X, y)


@pytest.mark.parametrize("where", ["X in fit", "X in predict", "X in partial_fit",
                                   "y beyond float32", "y infinite"])
def test_infinite_values_of_both_signs_raise_without_a_stray_warning(where):
    """scikit-learn's finite check sums the array first: +inf plus -inf (given, or float64
    values beyond float32's range cast for a float32 model) warned "invalid value
    encountered in reduce" before the error that names the problem."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    model = fastnn.MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X.astype(np.float32), y)
    bad = X.copy()
    bad[0, 0], bad[1, 1] = np.inf, -np.inf
    calls = {"X in fit": lambda: model.fit(bad, y), "X in predict": lambda: model.predict(bad),
             "X in partial_fit": lambda: model.partial_fit(bad, y),
             "y beyond float32": lambda: model.fit(X.astype(np.float32), y * 1e39),
             "y infinite": lambda: model.partial_fit(X, np.r_[np.inf, -np.inf, y[2:]])}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"contains (infinity|NaN)"):
            calls[where]()


@pytest.mark.parametrize("given, same_as", [
    (dict(learning_rate_init=True), dict(learning_rate_init=1.0)),
    (dict(solver="sgd", momentum=False), dict(solver="sgd", momentum=0.0)),
    (dict(beta_1=False), dict(beta_1=0.0)),
    (dict(beta_2=False), dict(beta_2=0.0)),
    (dict(epsilon=True), dict(epsilon=1.0)),
    (dict(validation_fraction=0), dict(validation_fraction=0.5)),  # unused without early stop
    (dict(validation_fraction=False), dict(validation_fraction=0.5)),
])
def test_values_scikit_learn_takes_train_as_their_numbers(given, same_as, iris):
    """scikit-learn's MLPs take bools for real parameters (True is 1) and
    validation_fraction=0 without early stopping; fastnn refused them, the bools with
    its optimizers' messages that named none of the estimator's parameters ('lr must be
    a real number, got True')."""
    X, y = iris
    fitted = [MLPClassifier(**{"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0,
                               "learning_rate_init": 0.01, **params}).fit(X, y)
              for params in (given, same_as)]
    assert fitted[0].loss_curve_ == fitted[1].loss_curve_


@pytest.mark.parametrize("params, match", [
    (dict(activation=0), "activation"), (dict(activation=None), "activation"),
    (dict(activation=1.5), "activation"),
    (dict(random_state=-1), "random_state"), (dict(random_state="x"), "random_state"),
    (dict(random_state=1.5), "random_state"), (dict(random_state=np.nan), "random_state"),
    (dict(early_stopping=True, validation_fraction=0.0), "validation_fraction"),
])
@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_refused_values_name_their_parameter(estimator, params, match, iris):
    """activation=0 raised "'int' object is not iterable", random_state=-1 NumPy's 'Seed
    must be between 0 and 2**32 - 1', validation_fraction=0 with early stopping
    train_test_split's 'test_size=0.0 should be ...': none named the parameter."""
    X, y = iris
    with pytest.raises(ValueError, match=match):
        estimator(max_iter=2, **params).fit(X, y)



def test_validation_outputs_that_overflow_are_a_divergence():
    """A step so large that the weights stay finite but the validation rows' outputs
    overflow: the early-stopping score failed with r2_score's 'Input contains NaN.'; it is
    now a divergence (a warning naming the learning rate), with the last good weights."""
    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = (X[:, 0] > .5).astype(float)
    model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0,
                         early_stopping=True, learning_rate_init=1e308)
    with pytest.warns(fastnn.DivergenceWarning, match="validation loss"):
        model.fit(X, y)
    assert np.isfinite(model._network.params).all() and model.n_iter_ == 0
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_a_fitted_model_refuses_strings_as_scikit_learn(estimator, iris):
    """predict, predict_proba and score parsed an X of strings ("1.5" as 1.5); scikit-learn's
    raise (its fit converts them, as fastnn's fit does)."""
    X, y = iris
    model = estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X.astype(str), y)
    assert model.n_features_in_ == 4
    methods = [model.predict, lambda X: model.score(X, y)]
    if estimator is MLPClassifier:
        methods += [model.predict_proba, model.predict_log_proba]
    for method in methods:
        with pytest.raises(ValueError, match="str"):
            method(X.astype(str))
        method(X.astype(object))  # numbers in an object array are taken, as scikit-learn's


@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_a_float32_model_answers_float64_for_other_X_as_scikit_learn(estimator, iris):
    """A model fitted on float32 X answered float32 for float64 X (rounded to float32 on the
    way in); scikit-learn's, and fastnn's linear models, answer float64 computed from the
    float64 rows.  float32 X still gives float32."""
    from sklearn import neural_network

    X, y = iris
    params = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    model = estimator(**params).fit(X.astype(np.float32), y)
    theirs = getattr(neural_network, estimator.__name__)(**params).fit(X.astype(np.float32), y)
    method = "predict_proba" if estimator is MLPClassifier else "predict"
    for data in (X, (X * 10).astype(np.int64), X.astype(np.float32)):
        got = getattr(model, method)(data)
        expected = getattr(theirs, method)(data)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # computed from the float64 rows: a row that rounds to the same float32 one differs
    near = np.vstack([X[:1], X[:1] + 1e-12])
    assert getattr(model, method)(near)[0].tolist() != getattr(model, method)(near)[1].tolist()
    assert model._network.dtype == np.float32 and model.coefs_[0].dtype == np.float32


@pytest.mark.parametrize("activation", ["logistic", "leaky_relu"])
def test_the_float64_twin_of_a_float32_network_draws_no_random_weights(activation, iris,
                                                                       monkeypatch):
    """The float64 copy of a float32 network that predicts float64 X was built with
    Network(..., random_state=0): random initial weights drawn and then overwritten (about
    1 ms for a 784-256-128-10 network, on every such predict call).  It is built from the
    network's parameters alone, and equals what the old construction gave."""
    from fastnn import Network
    from fastnn._mlp_weights import network_for

    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(5, 3), activation=activation, sigmoid_a=1.5,
                          leaky_slope=0.2, max_iter=3, random_state=0).fit(X.astype(np.float32), y)
    network = model._network
    before = Network(network.layer_sizes, network.activations, network.output,
                     dtype=np.float64, random_state=0, sigmoid_a=network.sigmoid_a,
                     leaky_slope=network.leaky_slope)
    before.params[...] = network.params
    expected = model.predict_proba(X)

    def drawn(self, random_state=None):
        raise AssertionError("random initial weights drawn for the float64 twin")

    monkeypatch.setattr(Network, "initialize", drawn)
    twin = network_for(network, np.float64)
    assert twin is not network and network_for(network, np.float32) is network
    assert twin.dtype == np.float64 and network.dtype == np.float32
    for name in ("layer_sizes", "activations", "output", "loss_code", "sigmoid_a",
                 "leaky_slope", "n_weights", "_codes", "_params"):
        assert getattr(twin, name) == getattr(before, name), name
    for got, want in zip(twin._net, before._net):
        np.testing.assert_array_equal(got, want)
    for name in ("params", "grads"):
        assert getattr(twin, name).dtype == np.float64
        np.testing.assert_array_equal(getattr(twin, name), getattr(before, name))
    for got, want in zip(twin.coefs + twin.intercepts, before.coefs + before.intercepts):
        assert np.shares_memory(got, twin.params)
        np.testing.assert_array_equal(got, want)
    X64 = np.ascontiguousarray(X)
    np.testing.assert_array_equal(twin.forward(X64), before.forward(X64))
    twin.params[0] += 1  # a copy: the model's own weights are not written
    assert network.params[0] != twin.params[0]
    np.testing.assert_array_equal(model.predict_proba(X), expected)  # bit for bit


@pytest.mark.parametrize("fitted_on, given, match", [
    ("2 labels", "labels", r"multilabel indicator matrix of 2 columns.*shape \(150,\)"),
    ("3 labels", "labels", r"multilabel indicator matrix of 3 columns.*shape \(150,\)"),
    ("3 labels", "2 labels", r"multilabel indicator matrix of 3 columns.*shape \(150, 2\)"),
    ("labels", "3 labels", r"fitted on class labels.*shape \(150, 3\)"),
])
@pytest.mark.parametrize("call", ["partial_fit", "warm_start"])
def test_continued_training_names_a_y_of_another_kind(fitted_on, given, match, call, iris):
    """A multilabel model given 1-D labels: with 2 labels the error blamed the layer sizes
    ('the fitted network has layers [4, 4, 2] ... ask for [4, 4, 1]'), with 3 labels of
    0/1 it trained them as indicator rows of the 3 classes (scikit-learn trains a broken
    model whose predict fails).  The error now says what is wrong with y."""
    X, y = iris
    binary = (y > 0).astype(int)
    targets = {"labels": binary, "2 labels": np.c_[binary, 1 - binary],
               "3 labels": np.c_[binary, 1 - binary, binary]}
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0,
                          warm_start=call == "warm_start").fit(X, targets[fitted_on])
    before = model._network.params.copy()
    with pytest.raises(ValueError, match=match):
        getattr(model, "fit" if call == "warm_start" else call)(X, targets[given])
    np.testing.assert_array_equal(model._network.params, before)


@pytest.mark.parametrize("power_t", [200.0, 1e308])
def test_an_invscaling_rate_that_underflows_is_zero(power_t, iris):
    """learning_rate_init / (t_ + 1) ** power_t with (t_ + 1) ** power_t beyond float64:
    Python's power raised OverflowError: (34, 'Numerical result out of range') after the
    first epoch (as scikit-learn's does); the rate is now 0, the value it rounds to."""
    X, y = iris
    one, three = (MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", momentum=0.0,
                                learning_rate="invscaling", power_t=power_t, max_iter=epochs,
                                random_state=0).fit(X, y) for epochs in (1, 3))
    assert three.n_iter_ == 3 and three._optimizer.lr == 0.0
    # no steps after the first epoch
    np.testing.assert_array_equal(three._network.params, one._network.params)


@pytest.mark.parametrize("name", ["alpha", "learning_rate_init", "tol", "epsilon", "sigmoid_a",
                                  "leaky_slope"])
def test_integers_beyond_int64_are_numbers_too(name, iris):
    """A Python int beyond int64 (2**70) failed the finiteness check with NumPy's "ufunc
    'isfinite' not supported for the input types", naming no parameter; it is now taken
    as the float it is (scikit-learn's take it), and one beyond float64 is named."""
    X, y = iris
    activation = {"sigmoid_a": "logistic", "leaky_slope": "leaky_relu"}.get(name, "relu")
    params = dict(hidden_layer_sizes=(3,), activation=activation, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a rate of 2**70 diverges
        MLPClassifier(**params, **{name: 2**70}).fit(X, y)
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        MLPClassifier(**params, **{name: 10**400}).fit(X, y)


def test_partial_fit_refuses_classes_that_are_not_1d(iris):
    """classes=[[0, 1]] on a first partial_fit made a multilabel binarizer, and then 1-D
    labels were refused as not of the 'multilabel indicator matrix of 2 columns' the model
    was fitted on (scikit-learn fails with an IndexError).  classes is 1-D, also for
    multilabel y (its column indices): the error now says so, and the model stays unfitted."""
    X, y = iris
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"classes must be a 1-D array.*shape \(1, 3\)"):
        model.partial_fit(X, y, classes=np.array([[0, 1, 2]]))
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, classes=np.array([0, 1, 2]))  # the same model trains after it
    assert model.classes_.tolist() == [0, 1, 2]
