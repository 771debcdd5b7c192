"""Moving data: batch gather by index and finiteness checks.

Shuffling permutes *indices*; batches are gathered from the user's array
into one reused buffer, so the data set itself is never copied.
"""
from __future__ import annotations

import math

from numba import prange

from ._jit import kernel


@kernel
def gather_rows(X, indices, out):
    """``out[r] = X[indices[r]]``; returns how many gathered values are not finite.

    Parameters
    ----------
    X : ndarray, shape (n, m), float32 or float64, C-contiguous
    indices : ndarray, shape (b,), int64, each in ``[0, n)``
    out : ndarray, shape (b, m), same dtype as X (modified)

    Returns
    -------
    n_nonfinite : int
    """
    n_bad = 0
    for r in prange(indices.shape[0]):
        src = indices[r]
        # A branch-free count per row, so that LLVM vectorizes copy and check
        # (a branch on the prange reduction variable kept it scalar).
        row_bad = 0
        for j in range(X.shape[1]):
            x = X[src, j]
            out[r, j] = x
            row_bad += 0 if math.isfinite(x) else 1
        n_bad += row_bad
    return n_bad


@kernel
def count_nonfinite(X):
    """Number of NaN or +-inf entries of a 2-D array ``X`` of shape (n, m)."""
    n_bad = 0
    for i in prange(X.shape[0]):
        for j in range(X.shape[1]):
            if not math.isfinite(X[i, j]):
                n_bad += 1
    return n_bad
