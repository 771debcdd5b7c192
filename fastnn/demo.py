"""``fastnn demo``: the basics of neural networks, run, printed and plotted in five steps.

1. the perceptron learns AND and OR but not XOR; a 2-layer network learns XOR;
2. batch vs stochastic vs mini-batch gradient descent (loss against epochs and time);
3. activation functions and their derivatives (sigmoid with a = 0.5, 1, 2, tanh, ReLU,
   leaky ReLU), computed by fastnn's kernels;
4. vanishing gradients in a 10-hidden-layer network: sigmoid vs tanh vs ReLU;
5. digits: fastnn's MLPClassifier next to scikit-learn's, accuracy and time.

Each step function prints its results, saves a PNG into ``out`` when
matplotlib is installed (and ``out`` is not None) and returns its numbers.
"""
from __future__ import annotations

import numbers
import os
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .mlp import MLPClassifier
from .perceptron import Perceptron

GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}
LOGIC_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
PLOT_HINT = 'matplotlib is not installed: text only. For the plots: pip install "fastnn[plot]"'


def run(steps: Iterable[int] = (1, 2, 3, 4, 5),
        out: str | os.PathLike | None = "fastnn-demo") -> dict:
    """Run the chosen steps, printing each and saving its PNG.

    Parameters
    ----------
    steps : iterable of int, default=(1, 2, 3, 4, 5)
        Step numbers from 1 to 5, run in the order given.
    out : str, path or None, default="fastnn-demo"
        Folder for the PNGs (made if missing); None, or no matplotlib: text only.

    Returns
    -------
    dict
        ``{step: results}``, each step's numbers as its function returns them.

    Raises
    ------
    ValueError
        If ``steps`` is not a collection of step numbers 1 to 5 (before anything runs).
    """
    try:
        valid = not isinstance(steps, str) and all(
            isinstance(step, numbers.Integral) and not isinstance(step, bool) and 1 <= step <= 5
            for step in steps)
    except TypeError:  # not iterable
        valid = False
    if not valid:  # a KeyError after the folder was made and the first steps ran
        raise ValueError(f"steps must be step numbers from 1 to 5, e.g. (1, 3); got {steps!r}")
    if out is not None and not _has_matplotlib():
        print(PLOT_HINT)
        out = None
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    functions = {1: logic_gates, 2: gradient_descent_variants, 3: activations,
                 4: vanishing_gradients, 5: digits}
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the deliberately short runs
        for step in steps:
            started = time.perf_counter()
            print(f"\n== Step {step}: {functions[step].__doc__.splitlines()[0]}")
            results[step] = functions[step](out)
            print(f"   ({time.perf_counter() - started:.1f} s)")
    if out is not None:
        print(f"\nPlots are in {Path(out).resolve()}")
    return results


def logic_gates(out: str | os.PathLike | None = None) -> dict:
    """The perceptron learns AND and OR, not XOR; a hidden layer learns XOR."""
    results = {}
    models = {}
    for gate, y in GATES.items():
        model = Perceptron(max_iter=100, tol=None, random_state=0).fit(LOGIC_X, y)
        (w1, w2), b = model.coef_[0], model.intercept_[0]
        accuracy = model.score(LOGIC_X, y)
        results[gate] = {"weights": (float(w1), float(w2)), "bias": float(b),
                         "accuracy": accuracy}
        models[f"perceptron {gate}"] = (model, y)
        line = (f"x2 = {-w1 / w2:+.2f} x1 {-b / w2:+.2f}" if w2 != 0 else f"x1 = {-b / w1:+.2f}"
                if w1 != 0 else "none (all weights 0)")
        print(f"   perceptron {gate:3s}: w = ({w1:+.1f}, {w2:+.1f}), b = {b:+.1f}; "
              f"separating line {line}; accuracy {accuracy:.0%}")
    print("   XOR is not linearly separable: no line gets more than 3 of the 4 points right.")
    mlp = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", solver="lbfgs",
                        random_state=0).fit(LOGIC_X, GATES["XOR"])
    results["MLP XOR"] = {"accuracy": mlp.score(LOGIC_X, GATES["XOR"]),
                          "predictions": mlp.predict(LOGIC_X).tolist()}
    models["2-layer network XOR"] = (mlp, GATES["XOR"])
    print(f"   2-layer network (4 tanh hidden units) on XOR: predictions "
          f"{results['MLP XOR']['predictions']}, accuracy {results['MLP XOR']['accuracy']:.0%}")
    if out is not None:
        from .plot import plot_decision_boundary

        fig, axes = _figure(1, 4, (19, 4.2))
        for ax, (title, (model, y)) in zip(axes, models.items()):
            plot_decision_boundary(model, LOGIC_X, np.asarray(y), ax=ax, resolution=120)
            ax.set_title(title)
        results["png"] = _save(fig, out, "1_logic_gates.png")
    return results


def gradient_descent_variants(out: str | os.PathLike | None = None, epochs: int = 30) -> dict:
    """Batch vs stochastic vs mini-batch gradient descent on one problem."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=400, noise=0.25, random_state=0)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    variants = {"batch GD": ("full", 0.5), "stochastic GD": (1, 0.01),
                "mini-batch GD": (32, 0.1)}
    print(f"   2-16-1 tanh network on {len(X)} 'moons' points, plain SGD (no momentum), "
          f"{epochs} epochs each")
    print(f"   {'variant':14s} {'batch':>5s} {'updates/epoch':>13s} {'lr':>5s} "
          f"{'loss':>7s} {'accuracy':>8s} {'time':>7s}")
    results = {}
    for name, (batch_size, lr) in variants.items():
        seconds = []
        params = dict(hidden_layer_sizes=(16,), activation="tanh", solver="sgd", momentum=0.0,
                      batch_size=batch_size, learning_rate_init=lr, max_iter=epochs,
                      n_iter_no_change=epochs + 1, random_state=0)
        # Compile (or load) the kernels this variant's fit runs before timing it: a smaller
        # job runs other ones (stepwise rather than a fused epoch), which its fit compiled.
        MLPClassifier(**params).fit(X, y)
        model = MLPClassifier(**params, callbacks=lambda est, m: seconds.append(m["seconds"]))
        model.fit(X, y)
        size = len(X) if batch_size == "full" else batch_size
        results[name] = {"batch_size": size, "loss_curve": list(model.loss_curve_),
                         "seconds": np.cumsum(seconds).tolist(), "accuracy": model.score(X, y)}
        print(f"   {name:14s} {size:5d} {-(-len(X) // size):13d} {lr:5g} "
              f"{model.loss_curve_[-1]:7.4f} {results[name]['accuracy']:8.1%} "
              f"{sum(seconds):6.3f}s")
    target = max(result["loss_curve"][-1] for result in results.values())
    reached = {name: (next(i for i, loss in enumerate(r["loss_curve"]) if loss <= target),
                      r) for name, r in results.items()}
    print(f"   to reach loss {target:.4f}: " + "; ".join(
        f"{name} {i + 1} epochs, {r['seconds'][i]:.3f} s" for name, (i, r) in reached.items()))
    print("   An epoch is 1 update in batch GD, one per sample in stochastic GD, one per batch "
          "in mini-batch GD:\n   more updates per epoch learn faster per epoch but cost more "
          "time per epoch.")
    if out is not None:
        fig, (by_epoch, by_time) = _figure(1, 2, (12, 4.5))
        for name, result in results.items():
            epochs_axis = np.arange(1, len(result["loss_curve"]) + 1)
            by_epoch.plot(epochs_axis, result["loss_curve"], label=name)
            by_time.plot(result["seconds"], result["loss_curve"], label=name)
        by_epoch.set(xlabel="epoch", ylabel="training loss", title="loss against epochs")
        by_time.set(xlabel="wall time (s)", ylabel="training loss", title="loss against time")
        for ax in (by_epoch, by_time):
            ax.legend()
        results["png"] = _save(fig, out, "2_gradient_descent.png")
    return results


def activations(out: str | os.PathLike | None = None) -> dict:
    """Activation functions and their derivatives, from fastnn's kernels."""
    from .plot import activation_curves

    z = np.array([-4.0, -1.0, 0.0, 1.0, 4.0])
    curves = [(f"sigmoid a={a:g}", "sigmoid", a) for a in (0.5, 1.0, 2.0)]
    curves += [("tanh", "tanh", None), ("relu", "relu", None),
               ("leaky_relu 0.1", "leaky_relu", 0.1)]
    print("   " + " " * 15 + "f(z) at z = " + ", ".join(f"{v:g}" for v in z).ljust(30)
          + "f'(z) at the same z")
    results = {}
    for label, name, param in curves:
        f, df = activation_curves(name, z, param)
        results[label] = {"f": f.tolist(), "df": df.tolist()}
        print(f"   {label:15s}" + " ".join(f"{v:6.3f}" for v in f) + "   "
              + " ".join(f"{v:6.3f}" for v in df))
    print("   The sigmoid's slope is at most a/4 (0.25 for a=1), tanh's 1, ReLU's exactly 1 for "
          "z > 0:\n   backpropagation multiplies one such factor per layer (step 4).")
    if out is not None:
        from .plot import plot_activations

        fig, (left, right) = _figure(1, 2, (12, 4.5))
        plot_activations(["sigmoid"], ax=left)
        plot_activations(["tanh", "relu", "leaky_relu"], ax=right)
        left.set_title("sigmoid 1/(1+exp(-a z)) and its derivative")
        right.set_title("tanh, ReLU, leaky ReLU and their derivatives")
        results["png"] = _save(fig, out, "3_activations.png")
    return results


def vanishing_gradients(out: str | os.PathLike | None = None, epochs: int = 3) -> dict:
    """Vanishing gradients: 10 hidden layers, sigmoid vs tanh vs ReLU."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    print(f"   64-(32 x 10)-10 networks on digits, mini-batch SGD, {epochs} epochs; "
          "weight-gradient norm of each layer in the last epoch (gradient_norms_):")
    models = {}
    for name in ("sigmoid", "tanh", "relu"):
        models[name] = MLPClassifier(hidden_layer_sizes=(32,) * 10, activation=name,
                                     solver="sgd", max_iter=epochs, random_state=0).fit(X, y)
    norms = {name: model.gradient_norms_[-1] for name, model in models.items()}
    print(f"   {'layer':>9s}" + "".join(f"{name:>11s}" for name in norms))
    for layer in range(len(norms["relu"])):
        label = f"{layer + 1}" + (" (out)" if layer == len(norms["relu"]) - 1 else "")
        print(f"   {label:>9s}" + "".join(f"{n[layer]:11.2e}" for n in norms.values()))
    ratios = {name: n[0] / n[-1] for name, n in norms.items()}
    print(f"   {'1st/last':>9s}" + "".join(f"{r:11.1e}" for r in ratios.values()))
    print("   Backpropagation multiplies the gradient by the activation's slope at every layer: "
          "through 10\n   sigmoid layers (slope <= 1/4) it shrinks by orders of magnitude before "
          "it reaches the first layer,\n   which then hardly learns; with tanh and ReLU it keeps "
          "its size far better.")
    results = {"gradient_norms": {name: m.gradient_norms_ for name, m in models.items()},
               "first_to_last": ratios}
    if out is not None:
        from .plot import plot_gradient_norms

        fig, axes = _figure(1, 4, (21, 4.5), sharey=True)
        layers = np.arange(1, len(norms["relu"]) + 1)
        for name, n in norms.items():
            axes[0].plot(layers, n, marker="o", label=name)
        axes[0].set(yscale="log", xlabel="layer (1 = next to the input)",
                    ylabel="weight-gradient norm", title=f"by layer, epoch {epochs}")
        axes[0].legend()
        for ax, (name, model) in zip(axes[1:], models.items()):
            plot_gradient_norms(model, ax=ax)
            ax.set_title(f"{name}: per layer over epochs")
        results["png"] = _save(fig, out, "4_vanishing_gradients.png")
    return results


def digits(out: str | os.PathLike | None = None, max_iter: int = 60) -> dict:
    """Digits: fastnn's MLPClassifier next to scikit-learn's on the same data."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from .cli import Progress

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # float64 like steps 1-4: one set of compiled kernels for the whole demo
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    params = dict(hidden_layer_sizes=(128,), learning_rate_init=0.005, max_iter=max_iter,
                  random_state=0)
    print(f"   {len(X_train)} training and {len(X_test)} test images of 8x8 pixels, "
          f"64-128-10 ReLU network, Adam, up to {max_iter} epochs, float64")
    started = time.perf_counter()
    MLPClassifier(**params).fit(X_train, y_train)  # the same job: the kernels the timed fit runs
    print(f"   fastnn warm-up (first fit in this process, not timed below): "
          f"{time.perf_counter() - started:.1f} s")
    progress = Progress(max_iter, len(X_train), "fastnn")
    model = MLPClassifier(callbacks=progress, **params)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    fastnn_seconds = time.perf_counter() - started
    progress.close()
    started = time.perf_counter()
    reference = SklearnMLP(**params).fit(X_train, y_train)
    sklearn_seconds = time.perf_counter() - started
    results = {"fastnn": {"accuracy": model.score(X_test, y_test), "seconds": fastnn_seconds,
                          "epochs": model.n_iter_},
               "scikit-learn": {"accuracy": reference.score(X_test, y_test),
                                "seconds": sklearn_seconds, "epochs": reference.n_iter_}}
    print(f"   {'':13s}{'test accuracy':>14s}{'fit time':>10s}{'epochs':>8s}")
    for name, result in results.items():
        print(f"   {name:13s}{result['accuracy']:14.2%}{result['seconds']:9.2f}s"
              f"{result['epochs']:8d}")
    print(f"   fastnn / scikit-learn fit time: {fastnn_seconds / sklearn_seconds:.2f} "
          "(same parameters and random_state: the same training trajectory)")
    if out is not None:
        from .plot import plot_loss_curve

        fig, (ax,) = _figure(1, 1, (7, 4.5))
        plot_loss_curve(model, ax=ax)
        ax.get_lines()[0].set_label("fastnn training loss")
        ax.plot(np.arange(1, len(reference.loss_curve_) + 1), reference.loss_curve_, ":",
                label="scikit-learn training loss")
        ax.legend()
        results["png"] = _save(fig, out, "5_digits.png")
    return results


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(rows, cols, size, sharey=False):
    """A pyplot-free Figure (no GUI backend needed) and its Axes as a flat list."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    return fig, list(axes.ravel())


def _save(fig, out, name) -> str:
    path = Path(out) / name
    fig.savefig(path, dpi=80)
    print(f"   -> {path}")
    return str(path)
