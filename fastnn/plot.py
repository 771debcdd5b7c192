"""Plots of training and of the theory: loss curves, gradient norms, activations, boundaries.

Needs matplotlib (``pip install "fastnn[plot]"``), imported only when a plot
is drawn.  Each function draws into ``ax`` (a new figure's Axes when None) and
returns the Axes; save it with ``ax.figure.savefig("plot.png")``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from . import _config, kernels
from ._validation import check_positive_int, check_real
from .kernels.activations import ACTIVATION_CODES, LEAKY_RELU, SIGMOID

if TYPE_CHECKING:  # matplotlib is an optional extra, imported when a plot is drawn
    from matplotlib.axes import Axes
    from sklearn.base import BaseEstimator

#: Activations drawn by :func:`plot_activations` when ``names`` is None.
DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def _axes(ax):
    """``ax``, or a new pyplot figure's Axes; an ImportError with the fix without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError('fastnn.plot needs matplotlib: pip install "fastnn[plot]" '
                          "(or pip install matplotlib)") from exc
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def activation_curves(name: str, z: ArrayLike,
                      param: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """f(z) and f'(z) of a hidden activation, computed by fastnn's kernels.

    Parameters
    ----------
    name : str
        An activation of ``fastnn.kernels.ACTIVATION_CODES``.
    z : array-like of float
    param : float, optional
        The sigmoid's shape ``a`` (default 1) or the leaky ReLU's slope
        (>= 0, default 0.01); ignored by the others.

    Returns
    -------
    f, df : ndarray of float64, the shape of ``z``
    """
    if name not in ACTIVATION_CODES:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATION_CODES)}")
    code = ACTIVATION_CODES[name]
    if param is None:
        param = 1.0 if code == SIGMOID else 0.01
    elif code in (SIGMOID, LEAKY_RELU):
        # the kernels' derivative reads the sign of z from f(z): a negative slope got 1
        param = check_real(param, "sigmoid_a" if code == SIGMOID else "leaky_slope",
                           minimum=0.0 if code == LEAKY_RELU else None)
    Z = np.ascontiguousarray(z, dtype=np.float64)
    flat = Z.reshape(1, -1)
    f = np.empty_like(flat)
    df = np.empty_like(flat)
    _config.run(kernels.activation_forward, flat, code, float(param), f)
    _config.run(kernels.activation_derivative, f, code, float(param), df)
    return f.reshape(Z.shape), df.reshape(Z.shape)


def plot_loss_curve(model: BaseEstimator, ax: Axes | None = None) -> Axes:
    """Training loss per epoch and, with early stopping, the validation loss.

    Parameters
    ----------
    model : fitted MLPClassifier or MLPRegressor (a stochastic solver)
    ax : matplotlib Axes, optional
    """
    curve = getattr(model, "loss_curve_", None)
    if not curve:
        raise ValueError("the model has no loss_curve_: fit it first with solver 'sgd' or 'adam'")
    ax = _axes(ax)
    epochs = np.arange(1, len(curve) + 1)
    ax.plot(epochs, curve, marker="." if len(curve) < 30 else None, label="training loss")
    validation = getattr(model, "validation_loss_curve_", None)
    if validation:
        ax.plot(epochs[:len(validation)], validation, label="validation loss")
    ax.set(xlabel="epoch", ylabel="loss", title=f"{type(model).__name__}: loss per epoch")
    _integer_ticks(ax)
    ax.legend()
    return ax


def plot_gradient_norms(model: BaseEstimator, ax: Axes | None = None) -> Axes:
    """Each layer's weight-gradient norm per epoch (``gradient_norms_``), log scale.

    Layer 1 is next to the input: when its curve lies far below the last
    layer's, the gradients vanish on their way back through the network.
    """
    norms = np.asarray(getattr(model, "gradient_norms_", None) or [], dtype=np.float64)
    if norms.ndim != 2 or norms.size == 0:
        # lbfgs fits and Dask fits (the workers send back parameters, not gradients) keep none
        raise ValueError(f"the {type(model).__name__} has no gradient_norms_: they are kept "
                         f"by fits on one machine with solver 'sgd' or 'adam' (not by lbfgs "
                         f"fits, nor by Dask fits)")
    ax = _axes(ax)
    epochs = np.arange(1, norms.shape[0] + 1)
    colors = _colormap(norms.shape[1])
    for layer in range(norms.shape[1]):
        ax.plot(epochs, np.maximum(norms[:, layer], np.finfo(float).tiny),
                marker="o" if norms.shape[0] < 30 else None, color=colors[layer],
                label=f"layer {layer + 1}" + (" (output)" if layer == norms.shape[1] - 1 else ""))
    ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel="weight-gradient norm",
           title=f"{type(model).__name__}: gradient norm per layer")
    _integer_ticks(ax)
    ax.legend(fontsize="x-small", ncol=2 if norms.shape[1] > 6 else 1)
    return ax


def plot_activations(names: str | Sequence[str] | None = None,
                     sigmoid_a: float | Sequence[float] = (0.5, 1, 2), ax: Axes | None = None, *,
                     leaky_slope: float = 0.1, z: ArrayLike | None = None) -> Axes:
    """Activation functions (solid) and their derivatives (dashed), from fastnn's kernels.

    Parameters
    ----------
    names : str or sequence of str, optional
        Activations to draw; default sigmoid, tanh, relu, leaky_relu.
    sigmoid_a : float or sequence of float, default=(0.5, 1, 2)
        One sigmoid curve ``1 / (1 + exp(-a z))`` per shape ``a``.
    ax : matplotlib Axes, optional
    leaky_slope : float, default=0.1
        Negative-side slope of the leaky ReLU drawn (0.1, to tell it from ReLU).
    z : array-like of shape (n_points,), optional
        Inputs; default 401 points in [-5, 5].
    """
    # One name is one activation, not a sequence of its letters.
    names = (DEFAULT_ACTIVATIONS if names is None else
             (names,) if isinstance(names, str) else tuple(names))
    z = np.linspace(-5, 5, 401) if z is None else np.asarray(z, dtype=np.float64)
    if z.ndim != 1 or z.size == 0:  # a 2-D z drew one curve per column, unlabelled
        raise ValueError(f"z must be a non-empty 1-D array of inputs, got shape {z.shape}")
    sigmoid_a = np.atleast_1d(sigmoid_a)  # one shape as a number, as names takes one name
    curves = []
    for name in names:
        code = ACTIVATION_CODES.get(name)
        if code == SIGMOID:
            curves += [(f"{name} a={a:g}", name, float(a)) for a in sigmoid_a]
        elif code == LEAKY_RELU:
            curves.append((f"{name} slope={leaky_slope:g}", name, float(leaky_slope)))
        else:
            curves.append((name, name, None))
    computed = [(label, *activation_curves(name, z, param)) for label, name, param in curves]
    ax = _axes(ax)
    colors = _colormap(len(computed), "tab10")
    for (label, f, df), color in zip(computed, colors):
        ax.plot(z, f, color=color, label=label)
        ax.plot(z, df, color=color, linestyle="--", linewidth=1)
    ax.axhline(0, color="0.7", linewidth=0.5)
    ax.axvline(0, color="0.7", linewidth=0.5)
    ax.set(xlabel="z", ylabel="f(z) solid, f'(z) dashed", title="activations and derivatives")
    ax.legend(fontsize="small")
    return ax


def plot_decision_boundary(model: BaseEstimator, X: ArrayLike, y: ArrayLike,
                           ax: Axes | None = None, *, resolution: int = 200) -> Axes:
    """Decision regions of a fitted classifier over 2-D inputs, with the samples on top.

    Parameters
    ----------
    model : fitted classifier with ``predict`` (and ``predict_proba`` if available)
    X : array-like of shape (n_samples, 2)
    y : array-like of shape (n_samples,)
    ax : matplotlib Axes, optional
    resolution : int, default=200
        Grid points per axis, at least 2.
    """
    resolution = check_positive_int(resolution, "resolution", minimum=2)  # contours need 2x2
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary needs 2-D inputs of shape (n, 2), got {X.shape}")
    if X.shape[0] == 0:  # no range to draw over
        raise ValueError("plot_decision_boundary needs at least one sample, got X of shape "
                         f"{X.shape}")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:  # the plot's range comes from X: an inf made a grid of NaN
        raise ValueError(f"X has NaN or infinite values (row {bad[0]}, {bad.size} row(s) in "
                         f"all); remove them to draw the boundary")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) like X's rows, got {y.shape}")
    if not hasattr(model, "classes_"):
        raise ValueError(f"plot_decision_boundary needs a fitted classifier (with classes_), "
                         f"got {type(model).__name__}")
    classes = np.asarray(model.classes_)
    unknown = ~np.isin(y, classes)
    if unknown.any():  # they would silently be left out of the scatter
        raise ValueError(f"y has labels that are not classes of the model "
                         f"{classes.tolist()}: {np.unique(y[unknown]).tolist()}")
    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.15 * (high - low), 0.25)
    u = np.linspace(low[0] - margin[0], high[0] + margin[0], resolution)
    v = np.linspace(low[1] - margin[1], high[1] + margin[1], resolution)
    U, V = np.meshgrid(u, v)
    grid = np.column_stack([U.ravel(), V.ravel()])
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        import pandas as pd  # the model was fitted on a DataFrame, so pandas is there

        grid = pd.DataFrame(grid, columns=names)
    # Everything that can fail runs before a figure is made.
    if np.ndim(model.predict(grid[:1])) != 1:  # its classes_ are not one label a row
        raise ValueError(f"plot_decision_boundary needs a classifier that predicts one label a "
                         f"row; this {type(model).__name__} predicts several (multilabel or "
                         f"multi-output): plot a classifier of one of its labels instead")
    binary = hasattr(model, "predict_proba") and classes.shape[0] == 2
    if binary:
        surface = model.predict_proba(grid)[:, 1].reshape(U.shape)
    else:
        index = np.searchsorted(classes, model.predict(grid)).reshape(U.shape)
    ax = _axes(ax)
    if binary:
        filled = ax.contourf(U, V, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r",
                             alpha=0.6)
        ax.contour(U, V, surface, levels=[0.5], colors="k", linewidths=1.5)
        ax.figure.colorbar(filled, ax=ax, label=f"P(class {classes[1]})")
    else:
        ax.contourf(U, V, index, levels=np.arange(classes.shape[0] + 1) - 0.5,
                    cmap="tab10", alpha=0.35)
        ax.contour(U, V, index, levels=np.arange(classes.shape[0]) + 0.5, colors="k",
                   linewidths=1)
    marker_colors = _colormap(max(len(classes), 2), "coolwarm" if len(classes) == 2 else "tab10")
    for k, label in enumerate(classes):
        rows = y == label
        ax.scatter(X[rows, 0], X[rows, 1], color=marker_colors[k], edgecolors="k", s=40,
                   label=str(label), zorder=3)
    ax.set(xlim=(u[0], u[-1]), ylim=(v[0], v[-1]), xlabel="x1", ylabel="x2",
           title=f"{type(model).__name__}: decision boundary")
    ax.legend(fontsize="small", loc="best")
    return ax


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _colormap(n: int, name: str = "viridis"):
    from matplotlib import colormaps

    cmap = colormaps[name]
    if name == "tab10":
        return [cmap(i % 10) for i in range(n)]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]
