"""fastnn.plot: every plot draws a real, non-blank PNG; activations come from the kernels."""
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from fastnn import MLPClassifier, Perceptron, plot  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_y = np.array([0, 1, 1, 0])


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(8, 8, 8), activation="tanh", max_iter=15,
                          early_stopping=True, validation_fraction=0.2, n_iter_no_change=50,
                          learning_rate_init=0.05, random_state=0).fit(X, y)
    return model, X, y


def _png(ax, path):
    """Save the Axes' figure; assert a non-empty file whose pixels are not all one colour."""
    ax.figure.savefig(path, dpi=60)
    plt.close(ax.figure)
    assert path.stat().st_size > 0
    pixels = matplotlib.image.imread(path)[..., :3]
    coloured = np.abs(pixels - pixels.reshape(-1, 3).max(axis=0)).sum(axis=2) > 0.1
    assert coloured.mean() > 0.01, "the image is blank"
    return pixels


def _lines(ax):
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def test_loss_curve_has_train_and_validation(fitted, tmp_path):
    model = fitted[0]
    ax = plot.plot_loss_curve(model)
    assert isinstance(ax, matplotlib.axes.Axes)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), model.loss_curve_)
    _png(ax, tmp_path / "loss.png")


def test_gradient_norms_one_line_per_layer_log_scale(fitted, tmp_path):
    model = fitted[0]
    fig, ax = plt.subplots()
    assert plot.plot_gradient_norms(model, ax=ax) is ax
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 4
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                               np.asarray(model.gradient_norms_)[:, 0])
    _png(ax, tmp_path / "norms.png")


def test_activations_come_from_the_kernels(tmp_path):
    z = np.linspace(-4, 4, 9)
    for a in (0.5, 1.0, 2.0):
        f, df = plot.activation_curves("sigmoid", z, a)
        np.testing.assert_allclose(f, 1 / (1 + np.exp(-a * z)), rtol=1e-12)
        np.testing.assert_allclose(df, a * f * (1 - f), rtol=1e-12)
    f, df = plot.activation_curves("leaky_relu", z, 0.1)
    np.testing.assert_array_equal(f, np.where(z > 0, z, 0.1 * z))
    np.testing.assert_array_equal(df, np.where(z > 0, 1.0, 0.1))
    ax = plot.plot_activations()
    assert len(_lines(ax)) == 2 * (3 + 3)  # sigmoid x 3 shapes, tanh, relu, leaky relu
    assert {line.get_label() for line in ax.get_lines()} >= {"sigmoid a=0.5", "sigmoid a=2",
                                                              "tanh", "relu"}
    _png(ax, tmp_path / "activations.png")
    ax = plot.plot_activations(["tanh"], ax=plt.subplots()[1])
    assert len(_lines(ax)) == 2
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="unknown activation"):
        plot.activation_curves("swish", z)
    # f'(z) is computed from f(z): a negative slope drew a derivative of 1 for z < 0
    with pytest.raises(ValueError, match="leaky_slope must be >= 0.0, got -0.5"):
        plot.plot_activations(["leaky_relu"], leaky_slope=-0.5)
    with pytest.raises(ValueError, match="sigmoid_a must be finite"):
        plot.activation_curves("sigmoid", z, float("nan"))


def test_decision_boundaries(fitted, tmp_path):
    model, X, y = fitted
    _png(plot.plot_decision_boundary(model, X, y), tmp_path / "mlp.png")
    perceptron = Perceptron(random_state=0).fit(XOR_X, XOR_y)
    _png(plot.plot_decision_boundary(perceptron, XOR_X, XOR_y), tmp_path / "perceptron.png")
    labels = np.array(["a", "b", "c"])[np.arange(120) % 3]
    three = MLPClassifier(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, labels)
    _png(plot.plot_decision_boundary(three, X, labels), tmp_path / "three.png")
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        plot.plot_decision_boundary(model, np.ones((4, 3)), XOR_y)


@pytest.mark.parametrize("change, error, message", [
    (dict(resolution=1), ValueError, "resolution must be >= 2"),
    (dict(resolution=2.5), TypeError, "resolution must be an integer"),
    (dict(X=np.empty((0, 2)), y=np.empty(0)), ValueError, "at least one sample"),
    (dict(y=1), ValueError, "y must have shape"),
    (dict(y=XOR_y + 5), ValueError, "not classes of the model"),
    (dict(model=MLPClassifier()), ValueError, "fitted classifier"),
    # an inf was reported as "Input X contains NaN" (of the grid), after making a figure
    (dict(X=np.where(XOR_X == 1, np.inf, XOR_X)), ValueError, "X has NaN or infinite values"),
    (dict(X=np.where(XOR_X == 1, np.nan, XOR_X)), ValueError, "X has NaN or infinite values"),
])
def test_decision_boundary_bad_arguments_are_named(change, error, message):
    args = dict(model=Perceptron(random_state=0).fit(XOR_X, XOR_y), X=XOR_X, y=XOR_y)
    args.update(change)
    figures = plt.get_fignums()
    with pytest.raises(error, match=message):
        plot.plot_decision_boundary(args.pop("model"), **args)
    assert plt.get_fignums() == figures  # refused before a figure was made


def test_one_activation_by_name(tmp_path):
    ax = plot.plot_activations("tanh")
    assert [line.get_label() for line in ax.get_lines()][:1] == ["tanh"]
    _png(ax, tmp_path / "tanh.png")


def test_unfitted_models_give_clear_errors():
    with pytest.raises(ValueError, match="loss_curve_"):
        plot.plot_loss_curve(MLPClassifier())
    with pytest.raises(ValueError, match="gradient_norms_.*not by lbfgs fits, nor by Dask"):
        plot.plot_gradient_norms(MLPClassifier(solver="lbfgs"))


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install \"fastnn\[plot\]\""):
        plot.plot_activations()


def test_decision_boundary_refuses_a_multilabel_classifier():
    """Its classes_ are [0, 1] and it has predict_proba: the plot drew label 1's
    probability as a binary classifier's boundary, without a word."""
    X = np.random.default_rng(0).standard_normal((40, 2))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], 1).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, Y)
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match="predicts several \\(multilabel"):
        plot.plot_decision_boundary(model, X, Y[:, 1])
    assert plt.get_fignums() == figures


def test_decision_boundary_errors_of_predict_come_before_a_figure():
    model = Perceptron(random_state=0).fit(np.c_[XOR_X, XOR_X[:, :1]], XOR_y)  # 3 features
    figures = plt.get_fignums()
    with pytest.raises(ValueError, match="X has 2 features"):
        plot.plot_decision_boundary(model, XOR_X, XOR_y)
    assert plt.get_fignums() == figures  # a blank figure was left behind


def test_activations_take_one_sigmoid_shape_and_refuse_a_2d_z():
    ax = plot.plot_activations("sigmoid", sigmoid_a=2)  # was TypeError: not iterable
    assert [line.get_label() for line in ax.get_lines()][:1] == ["sigmoid a=2"]
    plt.close(ax.figure)
    figures = plt.get_fignums()
    for z in ([[1.0, 2.0], [3.0, 4.0]], []):  # 2-D drew unlabelled curves per column
        with pytest.raises(ValueError, match="z must be a non-empty 1-D array"):
            plot.plot_activations("relu", z=z)
    assert plt.get_fignums() == figures
