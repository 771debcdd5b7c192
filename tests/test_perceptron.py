"""fastnn.Perceptron: the epoch kernel against its NumPy twin, the theory, scikit-learn parity."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, make_blobs
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import Perceptron as SkPerceptron
from sklearn.model_selection import (GridSearchCV, StratifiedShuffleSplit, cross_val_score,
                                     train_test_split)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn
from fastnn import _config
from fastnn.kernels import perceptron_epoch
import reference as ref
from reference import DTYPES

F64 = np.float64


# ------------------------------------------------------------------- kernel

def kernel_data(rng, dtype, n_classes, n=140, d=13):
    """Separable-ish classes (shifted means), weights with zeros, 10 rows left out of ``order``."""
    y = rng.integers(0, n_classes, n).astype(np.int32)
    centres = rng.standard_normal((n_classes, d)) * 1.5
    X = (rng.standard_normal((n, d)) + centres[y]).astype(dtype)
    weights = rng.uniform(0.5, 2.0, n).astype(dtype)
    weights[::9] = 0
    order = rng.permutation(n)[:n - 10].astype(np.int64)
    return X, y, weights, order


def run_kernel(X, y, weights, orders, W, b, eta, alpha, fit_intercept, offset, active,
               variant="parallel", n_blocks=2):
    """Apply one kernel epoch per order to copies of W, b; return (W, b, [stats per epoch])."""
    W, b = W.copy(), b.copy()
    stats = []
    for order in orders:
        out = (np.zeros(W.shape[0], np.int64), np.zeros(W.shape[0]), np.zeros(W.shape[0]))
        getattr(perceptron_epoch, variant)(X, order, y, weights, W, b, eta, alpha, fit_intercept,
                                           offset, active, n_blocks, *out)
        stats.append(out)
    return W, b, stats


def run_twin(X, y, weights, orders, W, b, eta, alpha, fit_intercept, offset, active):
    stats = []
    for order in orders:
        W, b, *out = ref.perceptron_epoch(X, order, y, weights, W, b, eta, alpha, fit_intercept,
                                          offset, active)
        stats.append(out)
    return W, b, stats


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.6])
@pytest.mark.parametrize("n_classes, fit_intercept", [(2, True), (4, True), (4, False)])
def test_epochs_match_twin(n_classes, fit_intercept, alpha, dtype, variant, rng):
    X, y, weights, order = kernel_data(rng, dtype, n_classes)
    n_rows, offset = (1, 1) if n_classes == 2 else (n_classes, 0)
    W = (rng.standard_normal((n_rows, X.shape[1])) * 0.1).astype(dtype)
    b = np.zeros(n_rows, dtype)
    active = np.ones(n_rows, np.bool_)
    active[-1] = n_rows == 1  # the last of several problems sits this out
    orders = [order, rng.permutation(order), rng.permutation(order)]
    args = (X, y, weights, orders, W, b, 0.7, alpha, fit_intercept, offset, active)
    got_W, got_b, got_stats = run_kernel(*args, variant=variant)
    want_W, want_b, want_stats = run_twin(*args)
    # The twin repeats the kernel's operations in the same order (dot_rows),
    # so the results agree to the last bit, not just to a tolerance.
    assert got_W.dtype == got_b.dtype == dtype
    np.testing.assert_array_equal(got_W, want_W)
    np.testing.assert_array_equal(got_b, want_b)
    for got, want in zip(got_stats, want_stats):
        for name, g, w in zip(("mistakes", "loss", "objective"), got, want):
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(g, w, err_msg=name)
    first_mistakes = got_stats[0][0]
    assert (first_mistakes[active] > 0).all()  # every active problem learned something
    if n_rows > 1:  # the inactive problem is untouched and reports nothing
        np.testing.assert_array_equal(got_W[-1], W[-1])
        assert got_b[-1] == b[-1]
        assert all(m[-1] == 0 and l[-1] == 0 and o[-1] == 0 for m, l, o in got_stats)
    if not fit_intercept:
        np.testing.assert_array_equal(got_b, b)
    if alpha > 0:  # the penalty adds to the objective
        assert (got_stats[0][2][active] > got_stats[0][1][active]).all()
    else:
        np.testing.assert_array_equal(got_stats[0][2], got_stats[0][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_parallel_equals_serial_for_any_block_count(dtype, alpha, rng):
    X, y, weights, order = kernel_data(rng, dtype, 7, n=400, d=21)
    W = np.zeros((7, 21), dtype)
    b = np.zeros(7, dtype)
    active = np.ones(7, np.bool_)
    orders = [order, rng.permutation(order)]
    base = run_kernel(X, y, weights, orders, W, b, 1.0, alpha, True, 0, active, "serial", 1)
    for variant in ("parallel", "serial"):
        for n_blocks in (1, 2, 3, 7, 64):
            got = run_kernel(X, y, weights, orders, W, b, 1.0, alpha, True, 0, active, variant,
                             n_blocks)
            np.testing.assert_array_equal(got[0], base[0])
            np.testing.assert_array_equal(got[1], base[1])
            for s_got, s_base in zip(got[2], base[2]):
                for a, e in zip(s_got, s_base):
                    np.testing.assert_array_equal(a, e)


def test_rosenblatt_rule_by_hand():
    # p = w.x + b = -1 < 0 for a positive sample: w += eta s x, b += eta s; loss s |p|.
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    y = np.array([1, 0], np.int32)  # binary: row 0 is class 1 vs class 0
    W, b = np.array([[-1.0, 0.0]]), np.array([0.0])
    weights = np.array([2.0, 1.0])
    got_W, got_b, [(mistakes, loss, objective)] = run_kernel(
        X, y, weights, [np.array([0, 1])], W, b, 0.5, 0.0, True, 1, np.ones(1, np.bool_))
    # sample 0: W = [-1, 0] + 0.5*2*[1, 2] = [0, 2], b = 1.
    # sample 1 (class 0): p = 0*3 + 2*(-1) + 1 = -1 < 0, predicted 0: right, no change.
    np.testing.assert_array_equal(got_W, [[0.0, 2.0]])
    np.testing.assert_array_equal(got_b, [1.0])
    assert mistakes[0] == 1 and loss[0] == 2.0 and objective[0] == 2.0
    # p = 0 is predicted as class 1 (step(0) = 1): an error for a class-0 sample only.
    zero_W, zero_b = np.zeros((1, 2)), np.zeros(1)
    for label, expected_mistakes in ((1, 0), (0, 1)):
        out = run_kernel(X[:1], np.array([label], np.int32), np.ones(1), [np.array([0])],
                         zero_W, zero_b, 1.0, 0.0, True, 1, np.ones(1, np.bool_))
        assert out[2][0][0][0] == expected_mistakes
        np.testing.assert_array_equal(out[0], -X[:1] if expected_mistakes else zero_W)


@pytest.mark.parametrize("dtype", DTYPES)
def test_l2_decays_the_weights_at_every_visited_sample(dtype, rng):
    # Every sample right (positive with a large bias): no update, only the decay
    # (1 - eta alpha)^n, folded into the stored weights whenever the lazy scale
    # drops below 1e-9 (every 23 samples at decay 0.4), never the bias.
    n, d, eta, alpha = 60, 11, 1.0, 0.6
    X = rng.standard_normal((n, d)).astype(dtype)
    y = np.ones(n, np.int32)
    weights = rng.uniform(0.5, 1.5, n).astype(dtype)
    W0 = rng.standard_normal((1, d)).astype(dtype)
    b0 = np.array([1e3], dtype)
    W, b, [(mistakes, loss, objective)] = run_kernel(
        X, y, weights, [np.arange(n, dtype=np.int64)], W0, b0, eta, alpha, True, 1,
        np.ones(1, np.bool_))
    assert mistakes[0] == 0 and loss[0] == 0
    assert b[0] == b0[0]
    decay = 1 - eta * alpha
    np.testing.assert_allclose(W, W0.astype(F64) * decay ** n, rtol=1e-5 if dtype == np.float32 else 1e-12)
    sq = float(np.sum(W0.astype(F64) ** 2))
    expected = sum(float(weights[i]) * alpha / 2 * sq * decay ** (2 * i) for i in range(n))
    np.testing.assert_allclose(objective[0], expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    twin = ref.perceptron_epoch(X, np.arange(n), y, weights, W0, b0, eta, alpha, True, 1,
                                np.ones(1, np.bool_))
    ref.assert_close(W, twin[0], dtype)
    # eta * alpha >= 1: the weights are set to zero, not flipped in sign.
    W, *_ = run_kernel(X, y, weights, [np.arange(n, dtype=np.int64)], W0, b0, 1.0, 2.0, True, 1,
                       np.ones(1, np.bool_))
    np.testing.assert_array_equal(W, np.zeros_like(W0))


def test_zero_weight_samples_are_skipped(rng):
    X, y, weights, order = kernel_data(rng, F64, 3)
    W, b, active = np.zeros((3, 13)), np.zeros(3), np.ones(3, np.bool_)
    kept = order[weights[order] > 0]
    assert len(kept) < len(order)
    full = run_kernel(X, y, weights, [order], W, b, 1.0, 0.01, True, 0, active)
    trimmed = run_kernel(X, y, weights, [kept], W, b, 1.0, 0.01, True, 0, active)
    np.testing.assert_array_equal(full[0], trimmed[0])
    np.testing.assert_array_equal(full[2][0][2], trimmed[2][0][2])
