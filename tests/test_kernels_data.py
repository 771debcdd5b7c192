"""Batch gather and finiteness kernels against their NumPy twins (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import count_nonfinite, gather_rows
import reference as ref
from reference import DTYPES

N, M = 257, 67
BAD = {(3, 5): np.nan, (3, 6): np.inf, (10, 0): -np.inf, (200, 66): np.nan}  # rows 3, 10, 200


def data(rng, dtype):
    """X of shape (N, M) with the non-finite values of BAD, and a batch of row indices."""
    X = rng.standard_normal((N, M)).astype(dtype)
    for idx, value in BAD.items():
        X[idx] = value
    # Repeated rows count repeatedly; row 3 (two bad values) is drawn twice.
    indices = np.concatenate([rng.integers(0, N, 300), [3, 3, 10, 200, 0]]).astype(np.int64)
    return X, indices


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows(dtype, rng):
    X, indices = data(rng, dtype)
    out = np.empty((len(indices), M), dtype)
    n_bad = gather_rows(X, indices, out)
    counts = np.bincount(indices, minlength=N)
    assert n_bad == 2 * counts[3] + counts[10] + counts[200] >= 5
    expected, twin_bad = ref.gather_rows(X, indices)
    assert n_bad == twin_bad
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)  # NaN where NaN, inf where inf
    clean = indices[~np.isin(indices, [3, 10, 200])]
    assert gather_rows(X, clean, out[:len(clean)]) == 0
    np.testing.assert_array_equal(out[:len(clean)], X[clean])


@pytest.mark.parametrize("dtype", DTYPES)
def test_count_nonfinite(dtype, rng):
    X, _ = data(rng, dtype)
    assert count_nonfinite(X) == ref.count_nonfinite(X) == len(BAD)
    X[np.isnan(X)] = -np.inf
    X[0, :] = np.nan
    assert count_nonfinite(X) == len(BAD) + M
    assert count_nonfinite(np.nan_to_num(X, nan=0.0, posinf=1.0, neginf=-1.0)) == 0


def test_parallel_equals_serial(rng):
    X, indices = data(rng, np.float64)
    outs, counts = [], []
    for kernel in (gather_rows.parallel, gather_rows.serial):
        out = np.empty((len(indices), M))
        counts.append(kernel(X, indices, out))
        outs.append(out)
    assert counts[0] == counts[1] > 0
    np.testing.assert_array_equal(*outs)
    assert count_nonfinite.parallel(X) == count_nonfinite.serial(X) == len(BAD)
