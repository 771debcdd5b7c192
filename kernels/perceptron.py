"""Rosenblatt's perceptron: one whole training epoch per kernel call.

Layout.  One-vs-rest: ``W`` has shape ``(n_problems, n_features)``,
C-contiguous, row ``k`` the weight vector of binary problem ``k`` (this is
scikit-learn's ``coef_`` layout, so the API needs no transpose); ``b`` has
shape ``(n_problems,)``.  Problem ``k`` separates class ``k + class_offset``
from all others: ``class_offset`` is 1 for a two-class problem (a single row
for class 1, as ``coef_`` of shape ``(1, n_features)``) and 0 otherwise.

Rule.  For each visited sample ``x`` (targets ``t = 1`` for the problem's
class, else ``0``) and each problem: ``p = w.x + b``, ``t_hat = step(p)``
(1 if ``p >= 0``), and on a mistake ``w <- w + eta s (t - t_hat) x``,
``b <- b + eta s (t - t_hat)`` with the sample's weight ``s``.  With an L2
penalty ``alpha`` the weights (not the bias) are first multiplied by
``max(0, 1 - eta alpha)`` at every visited sample, as scikit-learn's SGD does
for ``penalty='l2'``; that decay is kept as a lazy per-row scale factor, so a
correctly classified sample costs one dot product.

Parallelism.  The problems are independent and every one walks the samples
in the same order, so ``prange`` runs over contiguous *blocks* of problems:
each block reads every row of ``X`` once per epoch and runs all its problems
on it while the row is in L1 cache.  Each problem's arithmetic is the same
sequence of operations whatever the number of blocks or threads, so results
are bit-identical for every thread count.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import helper, kernel

# Below this lazy scale factor the decay is folded into the stored weights
# (as scikit-learn's WeightVector does), so the scale never underflows.
_MIN_SCALE = 1e-9

# Rows requested ahead of use.  Visiting the rows in shuffled order makes
# every row a cache (and often TLB) miss; asking for row ``order[r + 8]``
# while working on row ``order[r]`` overlaps those misses instead of paying
# them one after the other.
_PREFETCH_AHEAD = 8


@intrinsic
def prefetch_row(typingctx, X, i):
    """Ask the CPU to start loading row ``i`` of the 2-D C-contiguous array ``X``.

    Emits one ``llvm.prefetch`` (read, keep in all cache levels) per 64-byte
    line of the row; a hint only, it neither faults nor changes any value.
    """
    if not (isinstance(X, types.Array) and X.ndim == 2 and X.layout == "C"
            and isinstance(i, types.Integer)):
        return None
    sig = types.void(X, i)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        row = context.cast(builder, args[1], signature.args[1], types.intp)
        itemsize = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        row_bytes = builder.mul(builder.extract_value(array.shape, 1), ir.Constant(intp, itemsize))
        start = builder.add(builder.ptrtoint(array.data, intp), builder.mul(row, row_bytes))
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_ptr],
            fnty=ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]))
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), row_bytes,
                                     ir.Constant(intp, 64), intp) as (offset, _):
            address = builder.inttoptr(builder.add(start, offset), byte_ptr)
            # rw=0 (read), locality=3 (keep in every level), cache type 1 (data)
            builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@helper
def dot_rows(A, a, B, b):
    """``sum_j A[a, j] * B[b, j]``: dot product of row ``a`` of ``A`` and row ``b`` of ``B``.

    ``A`` and ``B`` are 2-D, C-contiguous, of one dtype and equal row length.
    Eight interleaved partial sums: ``s_r`` adds the products of columns
    ``j = r, r + 8, ...`` below ``m = n - n % 8`` in increasing ``j``, ``s_0``
    then adds the tail ``j >= m`` in order; the result is
    ``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``.  This fixed order
    (the compile flags forbid reassociation) lets LLVM use SIMD registers
    while every machine and thread count gets the same result;
    ``tests/reference.py`` follows the same order.  Rows are indexed rather
    than sliced: a slice is a new array whose reference counting costs atomic
    operations on memory that every thread shares.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = A.dtype.type(0)
    n = A.shape[1]
    m = n - n % 8
    for j in range(0, m, 8):
        s0 += A[a, j] * B[b, j]
        s1 += A[a, j + 1] * B[b, j + 1]
        s2 += A[a, j + 2] * B[b, j + 2]
        s3 += A[a, j + 3] * B[b, j + 3]
        s4 += A[a, j + 4] * B[b, j + 4]
        s5 += A[a, j + 5] * B[b, j + 5]
        s6 += A[a, j + 6] * B[b, j + 6]
        s7 += A[a, j + 7] * B[b, j + 7]
    for j in range(m, n):
        s0 += A[a, j] * B[b, j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@kernel
def perceptron_epoch(X, order, y, sample_weight, W, b, eta, alpha, fit_intercept, class_offset,
                     active, n_blocks, mistakes, loss, objective):
    """One epoch of Rosenblatt's rule, one-vs-rest, over the samples ``order``.

    Parameters
    ----------
    X : ndarray, shape (n, d), float32 or float64, C-contiguous
    order : ndarray, shape (m,), int64, sample indices in ``[0, n)`` in visiting order
        (a shuffled permutation of the training rows; ``X`` itself is never copied)
    y : ndarray, shape (n,), int32, class codes (0 .. n_classes - 1)
    sample_weight : ndarray, shape (n,), X's dtype, non-negative (sample weight times
        class weight); samples of weight 0 are skipped entirely
    W : ndarray, shape (K, d), X's dtype, C-contiguous (modified), row k = problem k
    b : ndarray, shape (K,), X's dtype (modified; untouched if not ``fit_intercept``)
    eta : float, learning rate (> 0)
    alpha : float, L2 penalty (0 for none): decay ``max(0, 1 - eta alpha)`` per sample
    fit_intercept : bool
    class_offset : int, problem k is class ``k + class_offset`` vs rest (1 if binary, else 0)
    active : ndarray, shape (K,), bool; inactive problems are neither trained nor counted
    n_blocks : int, problems are split into ``min(n_blocks, K)`` contiguous blocks that run
        in parallel (does not change the result)
    mistakes : ndarray, shape (K,), int64 (written): misclassified visited samples per problem
    loss : ndarray, shape (K,), float64 (written): per problem, ``sum_i s_i |p_i|`` over the
        mistakes (the perceptron criterion, 0 when every visited sample is right)
    objective : ndarray, shape (K,), float64 (written): ``loss`` plus, at every visited
        sample, ``s_i alpha / 2 ||w||^2`` with ``w`` before that sample's step

    Weights and scores are computed in X's dtype; the three summaries are
    accumulated in float64.
    """
    dt = X.dtype.type
    zero = dt(0)
    one = dt(1)
    eta_ = dt(eta)
    decay = dt(max(0.0, 1.0 - eta * alpha))
    half_alpha = 0.5 * alpha
    penalised = alpha > 0.0
    n_problems = W.shape[0]
    n_features = X.shape[1]
    nb = max(1, min(n_blocks, n_problems))
    for blk in prange(nb):
        k0 = blk * n_problems // nb
        k1 = (blk + 1) * n_problems // nb
        scale = np.ones_like(b[k0:k1])  # the true weights of row k are scale[k - k0] * W[k]
        sqnorm = np.zeros(k1 - k0, np.float64)  # ||W[k]||^2 of the stored (unscaled) row
        n_wrong = np.zeros(k1 - k0, np.int64)
        loss_sum = np.zeros(k1 - k0, np.float64)
        objective_sum = np.zeros(k1 - k0, np.float64)
        if penalised:
            for k in range(k0, k1):
                sqnorm[k - k0] = dot_rows(W, k, W, k)
        n_visits = order.shape[0]
        for r in range(n_visits):
            if r + _PREFETCH_AHEAD < n_visits:
                prefetch_row(X, order[r + _PREFETCH_AHEAD])
            i = order[r]
            s = sample_weight[i]
            if s == zero:
                continue
            positive_row = y[i] - class_offset  # the one row for which this sample is positive
            for k in range(k0, k1):
                if not active[k]:
                    continue
                kk = k - k0
                c = scale[kk]
                p = c * dot_rows(W, k, X, i) + b[k]
                if penalised:  # (np.float64(x), not float(x), which keeps float32)
                    c64 = np.float64(c)
                    objective_sum[kk] += np.float64(s) * half_alpha * c64 * c64 * sqnorm[kk]
                positive = positive_row == k
                if positive != (p >= zero):
                    n_wrong[kk] += 1
                    lp = np.float64(s) * abs(np.float64(p))
                    loss_sum[kk] += lp
                    objective_sum[kk] += lp
                    u = eta_ * s if positive else -(eta_ * s)
                    if penalised:
                        cd = decay * c
                        for j in range(n_features):
                            W[k, j] = cd * W[k, j] + u * X[i, j]
                        scale[kk] = one
                        sqnorm[kk] = dot_rows(W, k, W, k)
                    else:
                        for j in range(n_features):
                            W[k, j] += u * X[i, j]
                    if fit_intercept:
                        b[k] += u
                elif penalised:
                    c = decay * c
                    if c < _MIN_SCALE:
                        for j in range(n_features):
                            W[k, j] *= c
                        c = one
                        sqnorm[kk] = dot_rows(W, k, W, k)
                    scale[kk] = c
        for k in range(k0, k1):
            kk = k - k0
            c = scale[kk]
            if c != one:
                for j in range(n_features):
                    W[k, j] *= c
            mistakes[k] = n_wrong[kk]
            loss[k] = loss_sum[kk]
            objective[k] = objective_sum[kk]
