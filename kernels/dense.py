"""Fully connected layer: forward and backward.

The matrix products go to BLAS (``np.dot`` with an output buffer, no
allocation); the elementwise work around them (bias, activation, activation
derivative, bias gradient) is fused into ``prange`` loops.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .activations import activate, derivative_from_output

# Columns per task in the bias-gradient reduction: enough contiguous columns
# per row to stream through cache lines, few enough to give every thread work.
_COLUMN_BLOCK = 16


@helper
def _sum_column_block(delta, out, blk):
    """``out[j] = delta[:, j].sum()`` for the columns of block ``blk``, rows in order."""
    j0 = blk * _COLUMN_BLOCK
    j1 = min(j0 + _COLUMN_BLOCK, delta.shape[1])
    for j in range(j0, j1):
        out[j] = 0
    for i in range(delta.shape[0]):
        for j in range(j0, j1):
            out[j] += delta[i, j]


@kernel
def dense_forward(A, W, b, code, param, out):
    """``out = f(A @ W + b)``.

    Parameters
    ----------
    A : ndarray, shape (n, n_in), float32 or float64, C-contiguous
    W : ndarray, shape (n_in, n_out), same dtype, C-contiguous
    b : ndarray, shape (n_out,), same dtype
    code : int, activation code (see ``fastnn.kernels.activations``)
    param : float, activation parameter
    out : ndarray, shape (n, n_out), same dtype, C-contiguous (modified)
    """
    np.dot(A, W, out)
    p = out.dtype.type(param)
    for i in prange(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = activate(out[i, j] + b[j], code, p)


@kernel
def column_sum(delta, out):
    """``out = delta.sum(axis=0)``, each column summed in row order.

    Split over column blocks (not rows) so every thread count gives the
    bit-identical result of the serial loop.

    Parameters
    ----------
    delta : ndarray, shape (n, m), float32 or float64, C-contiguous
    out : ndarray, shape (m,), same dtype (modified)
    """
    n_blocks = (delta.shape[1] + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(n_blocks):
        _sum_column_block(delta, out, blk)


@kernel
def dense_backward(A_prev, W, delta, dW, db, delta_prev, prev_code, prev_param, propagate):
    """Gradients of one layer and the error signal for the layer below.

    ``dW = A_prev.T @ delta``, ``db = delta.sum(0)`` and, if ``propagate``,
    ``delta_prev = (delta @ W.T) * f'(Z_prev)`` with ``f'`` computed from
    ``A_prev = f(Z_prev)``.  The first layer passes ``propagate=False``: its
    input needs no gradient.

    Parameters
    ----------
    A_prev : ndarray, shape (n, n_in), float32 or float64, C-contiguous
        Input of this layer (output of the previous one).
    W : ndarray, shape (n_in, n_out), same dtype
    delta : ndarray, shape (n, n_out), same dtype
        dLoss/dZ of this layer.
    dW : ndarray, shape (n_in, n_out) (modified)
    db : ndarray, shape (n_out,) (modified)
    delta_prev : ndarray, shape (n, n_in) (modified if ``propagate``)
    prev_code, prev_param : activation of the previous layer
    propagate : bool
    """
    np.dot(A_prev.T, delta, dW)
    n_blocks = (delta.shape[1] + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(n_blocks):
        _sum_column_block(delta, db, blk)
    if propagate:
        np.dot(delta, W.T, delta_prev)
        p = A_prev.dtype.type(prev_param)
        for i in prange(delta.shape[0]):
            for j in range(A_prev.shape[1]):
                delta_prev[i, j] *= derivative_from_output(A_prev[i, j], prev_code, p)


