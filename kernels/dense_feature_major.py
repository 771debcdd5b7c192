"""Fully connected layer with feature-major activations: one row per unit, one column per sample.

:mod:`~fastnn.kernels.dense` keeps a batch's activations sample-major,
``(n, units)``; here they are stored transposed, ``(units, n)``.  The
arithmetic is the same; what changes is the shape of the BLAS calls.  A
row-major ``(n, units)`` result is, to column-major BLAS, a ``units x n``
matrix; stored ``(units, n)``, the batch becomes BLAS's row dimension.
How OpenBLAS shares a product between its threads depends on that shape,
and with small batches the feature-major products gain more from a
second thread (on one thread the two layouts are within 2 %).
On the W1 network (784-256-128-10, float32, 2 threads) an epoch's
products at batch 32 took 0.55-0.59 s this way against 0.67-0.75 s
sample-major, measured in ``trainer.matrix_products``; at batch 128 the two
tied (see ``fastnn.network.FEATURE_MAJOR_MAX_ROWS`` for whole epochs).

The first layer reads the gathered batch of ``X`` as it is, sample-major
(``a_by_rows``); every other activation and delta is feature-major.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import helper, kernel
from .activations import RELU, activate
from .blas import NOT_CONTIGUOUS, SHAPE_MISMATCH, gemm
from .dense import times_derivative_row


# Units per task in the bias gradient: their sums are independent chains, so
# the adds overlap instead of waiting for each other, one unit at a time.
_ROW_BLOCK = 8


@helper
def _sum_row_block(delta, out, blk):
    """``out[j] = delta[j].sum()`` for the rows of block ``blk``, each in sample order."""
    j0 = blk * _ROW_BLOCK
    j1 = min(j0 + _ROW_BLOCK, delta.shape[0])
    if j1 - j0 == _ROW_BLOCK:
        acc = np.zeros(_ROW_BLOCK, delta.dtype)
        for i in range(delta.shape[1]):
            for u in range(_ROW_BLOCK):
                acc[u] += delta[j0 + u, i]
        for u in range(_ROW_BLOCK):
            out[j0 + u] = acc[u]
        return
    for j in range(j0, j1):
        out[j] = 0
        for i in range(delta.shape[1]):
            out[j] += delta[j, i]


@kernel
def dense_forward_feature_major(A, a_by_rows, W, b, code, param, out):
    """``out = f(W.T @ A.T + b[:, None])`` (or ``W.T @ A`` when ``A`` is feature-major).

    Parameters
    ----------
    A : ndarray, float32 or float64, C-contiguous
        The layer's input: shape (n, n_in) if ``a_by_rows``, else (n_in, n).
    a_by_rows : bool
    W : ndarray, shape (n_in, n_out), same dtype, C-contiguous
    b : ndarray, shape (n_out,), same dtype
    code : int, activation code (see ``fastnn.kernels.activations``)
    param : float, activation parameter
    out : ndarray, shape (n_out, n), same dtype, C-contiguous (modified)
    """
    if a_by_rows:
        status = gemm(W, True, A, True, out, 1.0, 0.0)
    else:
        status = gemm(W, True, A, False, out, 1.0, 0.0)
    if status == SHAPE_MISMATCH:
        raise ValueError("dense_forward_feature_major: the shapes of A, W and out do not match")
    if status == NOT_CONTIGUOUS:
        raise ValueError("dense_forward_feature_major: A, W and out must be C-contiguous")
    if status != 0:
        raise RuntimeError("dense_forward_feature_major: the BLAS call failed")
    p = out.dtype.type(param)
    zero = p - p
    if code == RELU:  # written out so that LLVM vectorizes it (as in dense_forward)
        for j in prange(out.shape[0]):
            bj = b[j]
            for i in range(out.shape[1]):
                z = out[j, i] + bj
                out[j, i] = z if z > zero else zero
    else:
        for j in prange(out.shape[0]):
            bj = b[j]
            for i in range(out.shape[1]):
                out[j, i] = activate(out[j, i] + bj, code, p)


@kernel
def dense_backward_feature_major(A_prev, prev_by_rows, W, b, delta, dW, db, delta_prev,
                                 prev_code, prev_param, propagate, lr, decay):
    """:func:`~fastnn.kernels.dense.dense_backward` on feature-major activations and deltas.

    ``db = delta.sum(1)``; if ``propagate``, ``delta_prev = (W @ delta) *
    f'(Z_prev)``, ``f'`` taken from ``A_prev = f(Z_prev)``; then with ``lr ==
    0`` ``dW = A_prev.T @ delta.T`` (sample-major ``A_prev``) or ``A_prev @
    delta.T``, and with ``lr > 0`` the SGD step ``W <- (1 - lr decay) W - lr
    dW`` in the product itself (``dW`` not written) and ``b <- b - lr db``.

    Parameters
    ----------
    A_prev : ndarray, float32 or float64, C-contiguous
        This layer's input: shape (n, n_in) if ``prev_by_rows``, else (n_in, n).
    prev_by_rows : bool (must be False with ``propagate``)
    W : ndarray, shape (n_in, n_out), same dtype (modified if ``lr > 0``)
    b : ndarray, shape (n_out,), same dtype (modified if ``lr > 0``)
    delta : ndarray, shape (n_out, n), same dtype: dLoss/dZ of this layer
    dW : ndarray, shape (n_in, n_out) (modified if ``lr == 0``)
    db : ndarray, shape (n_out,) (modified)
    delta_prev : ndarray, shape (n_in, n) (modified if ``propagate``)
    prev_code, prev_param : activation of the previous layer
    propagate : bool
    lr : float, 0 for gradients only, else the SGD learning rate
    decay : float, L2 coefficient of the SGD step on ``W`` (not on ``b``)
    """
    n_out, n = delta.shape
    n_in = W.shape[0]
    a_rows, a_cols = (n, n_in) if prev_by_rows else (n_in, n)
    if (A_prev.shape[0] != a_rows or A_prev.shape[1] != a_cols or W.shape[1] != n_out
            or db.shape[0] != n_out or b.shape[0] != n_out
            or propagate and (prev_by_rows or delta_prev.shape[0] != n_in
                              or delta_prev.shape[1] != n)
            or lr <= 0.0 and (dW.shape[0] != n_in or dW.shape[1] != n_out)):
        raise ValueError("dense_backward_feature_major: the shapes of the arguments do not match")
    for blk in prange((n_out + _ROW_BLOCK - 1) // _ROW_BLOCK):
        _sum_row_block(delta, db, blk)
    # As in dense_backward: a product that fails writes nothing and stops
    # the rest, so W and b are stepped together or not at all.
    status = 0
    if propagate:  # before the step: it needs this W
        status = gemm(W, False, delta, False, delta_prev, 1.0, 0.0)
    if propagate and status == 0:
        for j in prange(n_in):
            times_derivative_row(delta_prev, A_prev, j, prev_code, prev_param)
    alpha, beta, C = (-lr, 1.0 - lr * decay, W) if lr > 0.0 else (1.0, 0.0, dW)
    if status == 0:
        if prev_by_rows:
            status = gemm(A_prev, True, delta, True, C, alpha, beta)
        else:
            status = gemm(A_prev, False, delta, True, C, alpha, beta)
    if status == 0 and lr > 0.0:
        lr_ = db.dtype.type(lr)
        for j in range(n_out):
            b[j] -= lr_ * db[j]
    if status == NOT_CONTIGUOUS:
        raise ValueError("dense_backward_feature_major: A_prev, W, delta, dW and delta_prev "
                         "must be C-contiguous")
    if status != 0:
        raise RuntimeError("dense_backward_feature_major: the BLAS call failed")


@kernel
def transpose(src, dst):
    """``dst[:] = src.T``: between the output layer (feature-major) and the loss (sample-major).

    Parameters
    ----------
    src : ndarray, shape (m, n), float32 or float64
    dst : ndarray, shape (n, m), same dtype (modified)
    """
    if dst.shape[0] != src.shape[1] or dst.shape[1] != src.shape[0]:
        raise ValueError("transpose: dst must have the shape of src.T")
    for i in prange(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[j, i]
