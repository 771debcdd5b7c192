"""MLPClassifier / MLPRegressor: parameter values and inputs a scikit-learn user passes."""
import pickle

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
