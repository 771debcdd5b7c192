"""``kernels.prefetch``: hints that must never change a result, and kernels that stay cacheable."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit

from fastnn.kernels.prefetch import prefetch_item, prefetch_row
from fastnn.kernels.perceptron import LOSS_CODES, sgd_epoch
import reference as ref


@njit
def _sum_rows_prefetched(X, order, y, ahead):
    """``sum_q X[order[q]] * y[order[q]]``, asking for row ``order[q + ahead]`` at step q."""
    out = np.zeros(X.shape[1], X.dtype)
    for q in range(order.shape[0]):
        if q + ahead < order.shape[0]:
            prefetch_row(X, order[q + ahead])
            prefetch_item(y, order[q + ahead])
        r = order[q]
        for j in range(X.shape[1]):
            out[j] += X[r, j] * y[r]
    return out


@njit
def _touch_edges(X, y):
    prefetch_row(X, 0)
    prefetch_row(X, X.shape[0] - 1)
    prefetch_item(y, 0)
    prefetch_item(y, y.shape[0] - 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
@pytest.mark.parametrize("d", [1, 3, 8, 100, 129])
def test_prefetch_changes_nothing(dtype, d, rng):
    """Rows of any width (aligned or not to a cache line), any item size, strided 1-D arrays."""
    X = (rng.standard_normal((257, d)) * 10).astype(dtype)
    y = (rng.standard_normal(2 * 257) * 10).astype(dtype)[::2]  # a strided view
    order = rng.permutation(257).astype(np.int64)
    expected = _sum_rows_prefetched(X, order, y, order.shape[0])  # never prefetches
    for ahead in (0, 1, 8):
        np.testing.assert_array_equal(_sum_rows_prefetched(X, order, y, ahead), expected)
    _touch_edges(X, y)  # the first and last row and item: no fault


def test_prefetch_rejects_wrong_arguments():
    bad_row = njit(lambda a: prefetch_row(a, 0))
    bad_item = njit(lambda a: prefetch_item(a, 0))
    with pytest.raises(Exception, match="prefetch_row"):
        bad_row(np.zeros(3))                      # 1-D: not a row
    with pytest.raises(Exception, match="prefetch_item"):
        bad_item(np.zeros((2, 2)))


def test_prefetch_row_takes_any_strides():
    """Rows of a strided or Fortran-ordered array: the first item's line is named only."""
    row = njit(lambda a, i: prefetch_row(a, i))
    for X in (np.zeros((4, 4))[:, ::2], np.asfortranarray(np.zeros((5, 3))), np.zeros((3, 2))):
        row(X, 1)


def test_gather_with_prefetch_is_a_gather(rng):
    from fastnn.kernels import gather_rows
    X = rng.standard_normal((50, 7))
    indices = rng.integers(0, 50, 20)
    for source in (X, np.asfortranarray(X), X[:, :]):
        out = np.empty((20, 7))
        for variant in (gather_rows.serial, gather_rows.parallel):
            assert variant(source, indices, out) == 0
            np.testing.assert_array_equal(out, X[indices])


@pytest.mark.parametrize("variant", ["serial", "parallel"])
@pytest.mark.parametrize("block", [1, 3, 16, 32])
def test_sgd_epoch_with_prefetches_matches_twin(block, variant, rng):
    """Windows and data large enough that every prefetch of ``sgd_epoch`` fires (rows ahead
    in a window, indices and weights blocks ahead, past the window's end), over training
    rows that are not the identity and with zero weights: the twin's result, bit for bit."""
    n, d, window = 1500, 13, 256
    X = rng.standard_normal((n, d))
    y = rng.integers(0, 3, n).astype(np.int32)
    weights = np.ones(n)
    weights[::7] = 0
    rows = np.sort(rng.choice(n, 1200, replace=False)).astype(np.int64)
    W, b = np.zeros((3, d)), np.zeros(3)
    W_ref, b_ref, state, ref_state, t = W.copy(), b.copy(), np.array([7], np.uint64), [7], 0
    active = np.ones(3, np.bool_)
    for _ in range(2):
        stats = (np.zeros(3, np.int64), np.zeros(3), np.zeros(3))
        visited = getattr(sgd_epoch, variant)(
            X, rows, y, weights, W, b, LOSS_CODES["log_loss"], 0, 0.05, 0.5, 0.0, 1e-4, 1.0, t,
            True, 0, active, 2, True, block, state, np.empty(-(-len(rows) // block), np.int64),
            np.empty(window // block * block, np.int64), True, *stats, np.zeros(3),
            np.zeros(3, np.int64))
        order = ref.visiting_order(list(rows), weights, True, block, window, ref_state)
        W_ref, b_ref, n_updates, *_ = ref.sgd_epoch(
            X, order, y, weights, W_ref, b_ref, "log_loss", "constant", 0.05, 0.5, 0.0, 1e-4, 1.0,
            t, True, 0, active)
        assert visited == len(order)
        np.testing.assert_array_equal(stats[0], n_updates)
        t += visited
    # exp/log1p may differ in the last ulp between NumPy and LLVM (as in test_sgd_classifier)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-12)


def test_kernels_using_prefetch_are_cacheable(tmp_path):
    """No pointer is baked into the code: Numba caches it and a fresh process loads it."""
    module = tmp_path / "uses_prefetch.py"
    module.write_text(textwrap.dedent("""
        import numpy as np
        from numba import njit
        from fastnn.kernels.prefetch import prefetch_item, prefetch_row

        @njit(cache=True)
        def first_row_sum(X, y):
            prefetch_row(X, 1)
            prefetch_item(y, 1)
            return X[0].sum() + y[0]

        X = np.ones((4, 3))
        print(first_row_sum(X, np.ones(4)), len(first_row_sum.stats.cache_hits))
    """))
    outputs = [subprocess.run([sys.executable, str(module)], capture_output=True, text=True,
                              cwd=tmp_path, check=True).stdout.split() for _ in range(2)]
    assert outputs[0] == ["4.0", "0"]
    assert outputs[1] == ["4.0", "1"]
