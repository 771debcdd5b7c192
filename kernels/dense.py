"""Fully connected layer: forward and backward.

The matrix products go to BLAS (``blas.gemm``: no allocation, and the
weight gradient can be applied as an SGD step inside the product); the
elementwise work around them (bias, activation, activation derivative, bias
gradient) is fused into ``prange`` loops.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .activations import RELU, activate, derivative_from_output
from .blas import NOT_CONTIGUOUS, SHAPE_MISMATCH, gemm

# Columns per task in the bias-gradient reduction: enough contiguous columns
# per row to stream through cache lines, few enough to give every thread work.
COLUMN_BLOCK = 16


@helper
def sum_column_block(delta, out, blk):
    """``out[j] = delta[:, j].sum()`` for the columns of block ``blk``, rows in order."""
    j0 = blk * COLUMN_BLOCK
    j1 = min(j0 + COLUMN_BLOCK, delta.shape[1])
    if j1 - j0 == COLUMN_BLOCK:
        # A full block sums into a fixed-size local accumulator that LLVM
        # keeps in vector registers (summing into ``out`` loaded and stored
        # it per element: 4-7x slower than NumPy's sum).  Same order, same sums.
        acc = np.zeros(COLUMN_BLOCK, delta.dtype)
        for i in range(delta.shape[0]):
            for j in range(COLUMN_BLOCK):
                acc[j] += delta[i, j0 + j]
        for j in range(COLUMN_BLOCK):
            out[j0 + j] = acc[j]
        return
    for j in range(j0, j1):
        out[j] = 0
    for i in range(delta.shape[0]):
        for j in range(j0, j1):
            out[j] += delta[i, j]


@helper
def times_derivative_row(delta, A, r, code, param):
    """``delta[r] *= f'(Z[r])``, ``f'`` taken from the row ``A[r] = f(Z[r])``.

    Row by row, so that both layouts' backward kernels share it: ``delta``
    and ``A`` have the same shape, whichever way it is laid out.
    """
    p = A.dtype.type(param)
    zero = p - p
    one = zero + np.float32(1)  # a float32 1 keeps float32 in float32 (int 1: float64)
    if code == RELU:
        # The common case, written out so that LLVM vectorizes it (as in
        # dense_forward); the same expression as derivative_from_output.
        for j in range(A.shape[1]):
            delta[r, j] *= one if A[r, j] > zero else zero
    else:
        for j in range(A.shape[1]):
            delta[r, j] *= derivative_from_output(A[r, j], code, p)


@kernel
def dense_forward(A, W, b, code, param, out):
    """``out = f(A @ W + b)``; returns how many entries of ``A @ W + b`` are NaN or inf.

    The count comes almost free with the activation loop, before ReLU turns
    NaN into 0.  A NaN or inf in a row of ``A`` makes every entry of that
    row of ``A @ W`` NaN or inf (``NaN * w``, ``inf * 0`` and ``inf - inf``
    are NaN), so a count of 0 proves ``A`` finite without reading it again;
    the converse does not hold (finite values may overflow).

    Parameters
    ----------
    A : ndarray, shape (n, n_in), float32 or float64, C-contiguous
    W : ndarray, shape (n_in, n_out), same dtype, C-contiguous
    b : ndarray, shape (n_out,), same dtype
    code : int, activation code (see ``fastnn.kernels.activations``)
    param : float, activation parameter
    out : ndarray, shape (n, n_out), same dtype, C-contiguous (modified)

    Returns
    -------
    n_nonfinite : int
    """
    status = gemm(A, False, W, False, out, 1.0, 0.0)
    if status == SHAPE_MISMATCH:
        raise ValueError("dense_forward: the shapes of A, W and out do not match")
    if status == NOT_CONTIGUOUS:
        raise ValueError("dense_forward: A, W and out must be C-contiguous")
    if status != 0:
        raise RuntimeError("dense_forward: the BLAS call failed")
    p = out.dtype.type(param)
    zero = p - p
    n_bad = 0
    if code == RELU:
        # The common case, written out so that LLVM vectorizes it: through
        # activate() each element paid a call and a switch on the code
        # (measured 3x the time of the matrix product's elementwise share).
        # Same expression as activate(), so the same results.  The count is
        # branch-free per row, as in data.gather_rows, to stay vectorized.
        for i in prange(out.shape[0]):
            row_bad = 0
            for j in range(out.shape[1]):
                z = out[i, j] + b[j]
                row_bad += 0 if math.isfinite(z) else 1
                out[i, j] = z if z > zero else zero
            n_bad += row_bad
    else:
        for i in prange(out.shape[0]):
            row_bad = 0
            for j in range(out.shape[1]):
                z = out[i, j] + b[j]
                row_bad += 0 if math.isfinite(z) else 1
                out[i, j] = activate(z, code, p)
            n_bad += row_bad
    return n_bad


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
    n_blocks = (delta.shape[1] + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for blk in prange(n_blocks):
        sum_column_block(delta, out, blk)


@kernel
def dense_backward(A_prev, W, b, delta, dW, db, delta_prev, prev_code, prev_param, propagate,
                   lr, decay):
    """Gradients of one layer (or an SGD step on it) and the error signal below.

    ``db = delta.sum(0)`` and, if ``propagate``, ``delta_prev = (delta @ W.T)
    * f'(Z_prev)`` with ``f'`` computed from ``A_prev = f(Z_prev)`` (the first
    layer passes ``propagate=False``: its input needs no gradient).  Then,
    with ``lr == 0``, ``dW = A_prev.T @ delta``; with ``lr > 0``, the plain
    SGD step of :func:`~fastnn.kernels.optimizers.sgd_update` is applied in
    place instead, ``W <- (1 - lr decay) W - lr A_prev.T @ delta`` (one BLAS
    call, ``dW`` not written) and ``b <- b - lr db``.

    Parameters
    ----------
    A_prev : ndarray, shape (n, n_in), float32 or float64, C-contiguous
        Input of this layer (output of the previous one).
    W : ndarray, shape (n_in, n_out), same dtype (modified if ``lr > 0``)
    b : ndarray, shape (n_out,), same dtype (modified if ``lr > 0``)
    delta : ndarray, shape (n, n_out), same dtype
        dLoss/dZ of this layer.
    dW : ndarray, shape (n_in, n_out) (modified if ``lr == 0``)
    db : ndarray, shape (n_out,) (modified)
    delta_prev : ndarray, shape (n, n_in) (modified if ``propagate``)
    prev_code, prev_param : activation of the previous layer
    propagate : bool
    lr : float, 0 for gradients only, else the SGD learning rate
    decay : float, L2 coefficient of the SGD step on ``W`` (not on ``b``)
    """
    n, n_in = A_prev.shape
    n_out = W.shape[1]
    if (W.shape[0] != n_in or delta.shape[0] != n or delta.shape[1] != n_out
            or db.shape[0] != n_out or b.shape[0] != n_out
            or propagate and (delta_prev.shape[0] != n or delta_prev.shape[1] != n_in)
            or lr <= 0.0 and (dW.shape[0] != n_in or dW.shape[1] != n_out)):
        raise ValueError("dense_backward: the shapes of the arguments do not match")
    n_blocks = (n_out + COLUMN_BLOCK - 1) // COLUMN_BLOCK
    for blk in prange(n_blocks):
        sum_column_block(delta, db, blk)
    # Shapes are checked above.  A product that fails (an operand not
    # C-contiguous) writes nothing, and nothing after it runs: W and b are
    # either both stepped or both left as they were.
    status = 0
    if propagate:  # before the step: it needs this W
        status = gemm(delta, False, W, True, delta_prev, 1.0, 0.0)
    if propagate and status == 0:
        for i in prange(n):
            times_derivative_row(delta_prev, A_prev, i, prev_code, prev_param)
    if status == 0 and lr > 0.0:
        status = gemm(A_prev, True, delta, False, W, -lr, 1.0 - lr * decay)
        if status == 0:
            lr_ = db.dtype.type(lr)
            for j in range(n_out):
                b[j] -= lr_ * db[j]
    elif status == 0:
        status = gemm(A_prev, True, delta, False, dW, 1.0, 0.0)
    if status == NOT_CONTIGUOUS:
        raise ValueError("dense_backward: A_prev, W, delta, dW and delta_prev must be "
                         "C-contiguous")
    if status != 0:
        raise RuntimeError("dense_backward: the BLAS call failed")
