"""Moving data: batch gather by index, finiteness checks, and in-kernel shuffles.

Shuffling permutes *indices*; batches are gathered from the user's array
into one reused buffer, so the data set itself is never copied.  Kernels that
shuffle (the small-network and linear SGD epochs) draw from one explicit
SplitMix64 generator (Steele, Lea and Flood 2014): a 64-bit state, advanced
by a fixed odd increment and mixed; it passes BigCrush, has no bad state,
and its state is an ordinary uint64[1] array the caller seeds and keeps.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .prefetch import prefetch_row

_GATHER_AHEAD = 2  # rows; W1's are 3 kB
_INCREMENT = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@helper
def next_uint64(state):
    """The next 64 random bits of SplitMix64; advances ``state[0]`` (uint64, modified)."""
    s = state[0] + _INCREMENT
    state[0] = s
    z = (s ^ (s >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@helper
def random_below(state, n):
    """Uniform integer in ``[0, n)``: ``floor(u n)``, ``u`` the top 53 bits over 2**53.

    No integer division; the bias is below ``n / 2**53``.
    """
    u = np.float64(next_uint64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return min(np.int64(u * n), n - 1)


@helper
def shuffle_inplace(a, n, state):
    """Fisher-Yates shuffle of ``a[:n]`` (modified) with the generator ``state`` (modified)."""
    for i in range(n - 1, 0, -1):
        j = random_below(state, i + 1)
        tmp = a[i]
        a[i] = a[j]
        a[j] = tmp


@kernel
def gather_rows(X, indices, out):
    """``out[r] = X[indices[r]]``; returns how many gathered values are not finite.

    Parameters
    ----------
    X : ndarray, shape (n, m), float32 or float64, any layout (a row-major
        X reads each row in one run of memory)
    indices : ndarray, shape (b,), int64, each in ``[0, n)``
    out : ndarray, shape (b, m), same dtype as X (modified)

    Returns
    -------
    n_nonfinite : int
    """
    n_bad = 0
    n = indices.shape[0]
    for r in prange(n):
        # Ask for a row a few ahead while this one is copied: the rows are
        # scattered, so each would otherwise wait for memory.
        if r + _GATHER_AHEAD < n:
            prefetch_row(X, indices[r + _GATHER_AHEAD])
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
