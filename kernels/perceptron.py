"""Per-sample SGD for linear classifiers: one whole training epoch per kernel call.

One kernel, ``sgd_epoch``, serves ``fastnn.Perceptron`` (loss code
``ROSENBLATT``, constant rate 1 by default) and ``fastnn.SGDClassifier``
(hinge, log, perceptron, modified Huber, squared hinge).

Layout.  One-vs-rest: ``W`` has shape ``(n_problems, n_features)``,
C-contiguous, row ``k`` the weight vector of binary problem ``k`` (this is
scikit-learn's ``coef_`` layout, so the API needs no transpose); ``b`` has
shape ``(n_problems,)``.  Problem ``k`` separates class ``k + class_offset``
(target ``+1``) from all others (target ``-1``): ``class_offset`` is 1 for a
two-class problem (a single row for class 1) and 0 otherwise.

Rule.  At the ``t``-th visited sample ``x`` (weight ``s``, target ``y``), for
each problem: ``p = w.x + b``, ``eta = rate(t)``, the weights (not the bias)
are multiplied by ``max(0, 1 - eta alpha)`` (L2 penalty), then
``w <- w - eta s dloss(p, y) x`` and ``b <- b - eta s dloss(p, y)``.  The
decay is kept as a lazy per-row scale factor, so a sample without an update
costs one dot product.  ``dloss`` is clipped to ``[-1e12, 1e12]``.

Visiting order.  The training rows ``rows`` are cut into consecutive blocks
of ``block`` rows.  With ``shuffle``, every epoch permutes the blocks and
takes them a window of consecutive (permuted) blocks at a time; round ``i``
of a window visits the ``i``-th row of each of its blocks that has one, the
blocks in a random order drawn for that round.  With ``block = 1`` this is a
uniformly random permutation.  Without ``shuffle``, the rows are visited in
file order.  The random numbers come from a SplitMix64 generator whose
64-bit state the caller passes in (seeded from the estimator's
``random_state``).

Memory.  A window's blocks are read side by side, each in file order: a few
sequential streams, which the CPU's hardware prefetchers follow from memory.
The kernel also asks for each row, its label, index and weight some steps
ahead of use (``kernels/prefetch.py``).  Measured on 1,000,000 x 100 float64
rows (two-core AMD EPYC, shared, perceptron rule, per epoch, ns per row):
file order 75-90; windows of 8 blocks of 64 rows 80-105, of 16 blocks
105-120; the earlier order (the rows of a window of 16 blocks in a uniformly
random order, the next window's rows prefetched meanwhile) 150-190; a
uniformly random order (``block = 1``) 290-350.

Parallelism.  The problems are independent and all of them visit the samples
in the same order, so ``prange`` runs over contiguous blocks of problems on
each window.  Each problem's arithmetic is the same sequence of
operations whatever the number of blocks or threads: results are
bit-identical for every thread count.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import compile_family, kernel
from .data import shuffle_inplace
from .fpenv import flush_subnormals, restore
from .prefetch import prefetch_item, prefetch_row

# Loss codes (``sgd_epoch``'s ``loss_code``).  ROSENBLATT is the classic
# perceptron: a mistake is ``step(p) != [y > 0]`` with ``step(0) = 1``, its
# loss ``|p|``; PERCEPTRON is scikit-learn's SGD loss ``max(0, -p y)``.
HINGE, LOG, PERCEPTRON, MODIFIED_HUBER, SQUARED_HINGE, ROSENBLATT = 0, 1, 2, 3, 4, 5
LOSS_CODES = {"hinge": HINGE, "log_loss": LOG, "perceptron": PERCEPTRON,
              "modified_huber": MODIFIED_HUBER, "squared_hinge": SQUARED_HINGE,
              "rosenblatt": ROSENBLATT}
# Learning-rate schedules: eta0; 1 / (alpha (optimal_init + t - 1)); eta0 / t^power_t.
CONSTANT, OPTIMAL, INVSCALING = 0, 1, 2
SCHEDULE_CODES = {"constant": CONSTANT, "optimal": OPTIMAL, "invscaling": INVSCALING}

# Below this lazy scale factor the decay is folded into the stored weights
# (as scikit-learn's WeightVector does), so the scale never underflows.
_MIN_SCALE = 1e-9
_MAX_DLOSS = 1e12
# Rows requested ahead of use in the visiting order: shuffled rows are cache
# misses; asking for row ``local[q + 6]`` while working on ``local[q]``
# overlaps those misses instead of paying them one after the other.  Measured
# on 1,000,000 x 100 float64 (two-core AMD EPYC, per epoch): 2 to 32 rows
# ahead were all within ~10 % of each other, 4 to 8 the best; no prefetch
# cost about twice as much as prefetching with a uniform shuffle.
_PREFETCH_AHEAD = 6
# Blocks ahead for the scattered index and weight loads of the window-building loop.
_INDEX_AHEAD = 16


@intrinsic
def dot_rows(typingctx, A, a, B, b):
    """``sum_j A[a, j] * B[b, j]``: dot product of row ``a`` of ``A`` and row ``b`` of ``B``.

    ``A`` and ``B`` are 2-D, C-contiguous, of one float dtype and equal row
    length ``n``.  Eight interleaved partial sums: ``s_r`` adds the products
    of columns ``j = r, r + 8, ...`` below ``m = n - n % 8`` in increasing
    ``j``, ``s_0`` then adds the tail ``j >= m`` in order; the result is
    ``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``.
    ``tests/reference.py`` follows the same order, so every machine and
    thread count gets the same result.

    Written as LLVM vector code (the eight sums are one ``<8 x float>``
    register group, each ``j`` step one vector multiply and add): the scalar
    Python form of this order stayed scalar, as Numba leaves LLVM's SLP
    vectorizer off, and cost about 40 ns per 100-element row instead of ~15.
    Multiplies and adds stay separate roundings (no fused multiply-add).
    """
    if not (isinstance(A, types.Array) and isinstance(B, types.Array) and A.ndim == B.ndim == 2
            and A.layout == B.layout == "C" and A.dtype == B.dtype
            and isinstance(A.dtype, types.Float)
            and isinstance(a, types.Integer) and isinstance(b, types.Integer)):
        return None
    sig = A.dtype(A, a, B, b)

    def codegen(context, builder, signature, args):
        A_ty, a_ty, B_ty, b_ty = signature.args
        intp = context.get_value_type(types.intp)
        n = builder.extract_value(context.make_array(A_ty)(context, builder, args[0]).shape, 1)
        rows = []
        for array_ty, array, row_ty, row in ((A_ty, args[0], a_ty, args[1]),
                                             (B_ty, args[2], b_ty, args[3])):
            data = context.make_array(array_ty)(context, builder, array).data
            row = context.cast(builder, row, row_ty, types.intp)
            rows.append(builder.gep(data, [builder.mul(row, n)]))
        scalar = context.get_value_type(A_ty.dtype)
        vector = ir.VectorType(scalar, 8)
        align = context.get_abi_sizeof(scalar)
        zero, eight = ir.Constant(intp, 0), ir.Constant(intp, 8)
        m = builder.sub(n, builder.srem(n, eight))
        acc = cgutils.alloca_once_value(builder, ir.Constant(vector, None))  # all 0
        with cgutils.for_range_slice(builder, zero, m, eight, intp) as (j, _):
            x, z = (builder.load(builder.bitcast(builder.gep(row, [j]), vector.as_pointer()),
                                 align=align) for row in rows)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(x, z)), acc)
        sums = builder.load(acc)
        s0 = cgutils.alloca_once_value(builder, builder.extract_element(sums, ir.Constant(intp, 0)))
        with cgutils.for_range_slice(builder, m, n, ir.Constant(intp, 1), intp) as (j, _):
            x, z = (builder.load(builder.gep(row, [j])) for row in rows)
            builder.store(builder.fadd(builder.load(s0), builder.fmul(x, z)), s0)
        s = [builder.load(s0)] + [builder.extract_element(sums, ir.Constant(intp, r))
                                  for r in range(1, 8)]
        pairs = [builder.fadd(s[r], s[r + 1]) for r in range(0, 8, 2)]
        return builder.fadd(builder.fadd(pairs[0], pairs[1]), builder.fadd(pairs[2], pairs[3]))

    return sig, codegen


def learning_rate(schedule, eta0, power_t, rate_alpha, optimal_init, t):
    """scikit-learn's rate at the ``t``-th sample (t >= 1), float64."""
    if schedule == OPTIMAL:
        return 1.0 / (rate_alpha * (optimal_init + t - 1.0))
    if schedule == INVSCALING:
        return eta0 / t ** power_t
    return eta0


def log1pexp(x):
    """``log(1 + exp(x))`` as scikit-learn computes it (``sklearn/_loss/_loss.pyx``)."""
    if x <= -37.0:
        return np.exp(x)
    if x <= -2.0:
        return np.log1p(np.exp(x))
    if x <= 18.0:
        return np.log(1.0 + np.exp(x))
    if x <= 33.3:
        return x + np.exp(-x)
    return x


def loss_dloss(code, p, y, want_loss):
    """``(loss, dloss/dp)`` of score ``p`` (float64) for target ``y`` in {-1, +1}.

    scikit-learn's formulas (``sklearn/linear_model/_sgd_fast``; LOG:
    ``CyHalfBinomialLoss`` of ``sklearn/_loss``, as in scikit-learn 1.9),
    dloss unclipped; ROSENBLATT's mistake is ``(p >= 0) != (y > 0)``.  Without
    ``want_loss`` the loss may be returned as 0 where it costs more than the
    derivative (LOG: one ``exp`` instead of two and a ``log``); the
    derivative is the same.
    """
    z = p * y
    if code == HINGE:
        if z <= 1.0:
            return 1.0 - z, -y
        return 0.0, 0.0
    if code == LOG:
        # scikit-learn's CyHalfBinomialLoss, targets t = (y + 1) / 2 in {0, 1}: the
        # gradient expit(p) - t in its very form, so equal bit for bit.  One exp and a
        # branch that almost always goes the same way; exp(-p) cannot overflow above
        # -37, and below it expit(p) is exp(p) to double precision.
        t = 0.5 * (y + 1.0)
        if p > -37.0:
            e = np.exp(-p)
            dloss = ((1.0 - t) - t * e) / (1.0 + e)
        else:
            dloss = np.exp(p) - t
        if want_loss:
            return log1pexp(p) - t * p, dloss
        return 0.0, dloss
    if code == PERCEPTRON:
        if z <= 0.0:
            return -z, -y
        return 0.0, 0.0
    if code == MODIFIED_HUBER:
        if z >= 1.0:
            return 0.0, 0.0
        if z >= -1.0:
            return (1.0 - z) * (1.0 - z), -2.0 * y * (1.0 - z)
        return -4.0 * z, -4.0 * y
    if code == SQUARED_HINGE:
        if z < 1.0:
            return (1.0 - z) * (1.0 - z), -2.0 * y * (1.0 - z)
        return 0.0, 0.0
    if (p >= 0.0) != (y > 0.0):  # ROSENBLATT
        return abs(p), -y
    return 0.0, 0.0


def gather_window(rows, sample_weight, blocks, c0, c1, block, out, starts):
    """Rows of nonzero weight of the blocks ``blocks[c0:c1]``, in block order, into ``out``.

    Block ``c`` holds ``rows[c * block:(c + 1) * block]`` (the last one may be
    shorter).  ``starts[j]`` (written, ``j <= c1 - c0``) is where the rows of
    block ``blocks[c0 + j]`` begin in ``out``; ``starts[c1 - c0]`` is their
    number ``m`` (``out[:m]`` written), which is returned.
    """
    n_rows = rows.shape[0]
    n_chunks = (n_rows + block - 1) // block  # blocks may be longer: its tail is not read
    zero = sample_weight.dtype.type(0)
    m = 0
    for c in range(c0, c1):
        # Two dependent scattered loads per block, rows[...] then sample_weight[...]:
        # ask for each one (and the next window's) some blocks ahead.
        if c + 2 * _INDEX_AHEAD < n_chunks:
            prefetch_item(rows, blocks[c + 2 * _INDEX_AHEAD] * block)
        if c + _INDEX_AHEAD < n_chunks:
            prefetch_item(sample_weight, rows[blocks[c + _INDEX_AHEAD] * block])
        starts[c - c0] = m
        r0 = blocks[c] * block
        for r in range(r0, min(r0 + block, n_rows)):
            i = rows[r]
            if sample_weight[i] == zero:
                continue
            out[m] = i
            m += 1
    starts[c1 - c0] = m
    return m


def interleave_window(gathered, starts, n_window_blocks, slots, rng_state, out):
    """A window's visiting order: its blocks' rows interleaved, in rounds.

    ``gathered[starts[j]:starts[j + 1]]`` are the rows of the window's block
    ``j`` (``j < n_window_blocks``).  Round ``i`` visits the ``i``-th row of
    every block that has one, the blocks in a random order (a new one every
    round).  Writes ``out[:m]``, ``m = starts[n_window_blocks]``; ``slots``
    (at least ``n_window_blocks`` long) is a workspace.
    """
    m = 0
    i = 0
    while m < starts[n_window_blocks]:
        k = 0
        for j in range(n_window_blocks):
            if starts[j] + i < starts[j + 1]:
                slots[k] = gathered[starts[j] + i]
                k += 1
        shuffle_inplace(slots, k, rng_state)
        for s in range(k):
            out[m + s] = slots[s]
        m += k
        i += 1


def train_window(X, y, sample_weight, local, m, t_base, W, b, k0, k1,
                 loss_code, schedule, eta0, power_t, alpha, rate_alpha, optimal_init,
                 fit_intercept, class_offset, active, track_loss, track_objective, scale, sqnorm,
                 n_updates, loss_sum, objective, penalty_sum, nonfinite):
    """Train problems ``k0 .. k1 - 1`` on the rows ``X[local[q]]``, q < m, in that order.

    The ``q``-th of them is the ``t_base + q + 1``-th sample of the run.  Per
    problem state (``scale``, ``sqnorm``, the five summaries) is indexed by
    the problem number; see ``sgd_epoch``.
    """
    dt = W.dtype.type
    penalised = alpha > 0.0
    half_alpha = 0.5 * alpha
    n_features = W.shape[1]
    for q in range(min(_PREFETCH_AHEAD, m)):  # the rows the loop below does not ask for
        prefetch_row(X, local[q])
        prefetch_item(y, local[q])
    for q in range(m):
        if q + _PREFETCH_AHEAD < m:
            ahead = local[q + _PREFETCH_AHEAD]
            prefetch_row(X, ahead)
            prefetch_item(y, ahead)
        r = local[q]
        s = sample_weight[r]
        s64 = np.float64(s)
        eta = learning_rate(schedule, eta0, power_t, rate_alpha, optimal_init,
                            np.float64(t_base + q + 1))
        # float64, as the scale it multiplies: 1 - eta alpha rounded to float32 moved the
        # L2 strength by up to 3e-8 / (eta alpha), the same way at every step (eta alpha
        # = 3e-8 decayed twice as fast, below that not at all)
        decay = max(0.0, 1.0 - eta * alpha)
        eta_ = dt(eta)
        positive_row = y[r] - class_offset  # the one problem for which this sample is +1
        for k in range(k0, k1):
            if not active[k]:
                continue
            c = scale[k]
            p = c * dot_rows(W, k, X, r) + b[k]
            if not math.isfinite(p):  # X[r] holds NaN/inf (or the score overflowed)
                nonfinite[k] += 1
            if track_objective:  # (np.float64(x), not float(x), which keeps float32)
                c64 = np.float64(c)
                penalty = half_alpha * (c64 * c64 * sqnorm[k])
                penalty_sum[k] += penalty
                objective[k] += s64 * penalty
            target = 1.0 if positive_row == k else -1.0
            value, dloss = loss_dloss(loss_code, np.float64(p), target, track_loss)
            if track_loss:
                loss_sum[k] += value
                objective[k] += s64 * value
            dloss = min(max(dloss, -_MAX_DLOSS), _MAX_DLOSS)
            u = -(eta_ * dt(dloss)) * s
            if penalised:  # the decay stays in the scale: w = c W (c in float64)
                c = decay * c
                if c < _MIN_SCALE:
                    for j in range(n_features):
                        W[k, j] *= c
                    c = 1.0
                    if track_objective:
                        sqnorm[k] = dot_rows(W, k, W, k)
                scale[k] = c
            if u != 0:
                n_updates[k] += 1
                # c W + u x = c (W + (u / c) x), as scikit-learn's WeightVector; without a
                # penalty c is 1: no division in the loop of every update
                v = dt(u / c) if penalised else dt(u)
                for j in range(n_features):
                    W[k, j] += v * X[r, j]
                if track_objective:
                    sqnorm[k] = dot_rows(W, k, W, k)
                if fit_intercept:
                    b[k] += u



# The per-sample helpers are inlined at Numba IR level: compiled separately,
# each rate, loss (and the dot product, then a function) was a call that
# passed its arrays field by field on the stack and spilled the loop's state
# (measured on cache-resident rows: about 100 ns per sample, most of it calls).
_INLINE = [learning_rate, log1pexp, loss_dloss]
_family = compile_family(_INLINE + [gather_window, interleave_window, train_window], "linear", {},
                         _INLINE)
gather_window, interleave_window, train_window = (
    _family.gather_window, _family.interleave_window, _family.train_window)


@kernel
def sgd_epoch(X, rows, y, sample_weight, W, b, loss_code, schedule, eta0, power_t, alpha,
              rate_alpha, optimal_init, t0, fit_intercept, class_offset, active, n_blocks,
              shuffle, block, rng_state, blocks, local, track_loss, n_updates, loss_sum, objective,
              penalty_sum, nonfinite):
    """One epoch of per-sample SGD, one-vs-rest, over the training rows ``rows``.

    Parameters
    ----------
    X : ndarray, shape (n, d), float32 or float64, C-contiguous
    rows : ndarray, shape (m,), int64, the training rows in file order (``X`` is never copied)
    y : ndarray, shape (n,), int32, class codes (0 .. n_classes - 1)
    sample_weight : ndarray, shape (n,), X's dtype (sample weight times class weight; a
        negative one reverses the sample's step); samples of weight 0 are skipped entirely
        (no decay, ``t`` unchanged)
    W : ndarray, shape (K, d), X's dtype, C-contiguous (modified), row k = problem k
    b : ndarray, shape (K,), X's dtype (modified; untouched if not ``fit_intercept``)
    loss_code : int, one of ``LOSS_CODES``
    schedule : int, one of ``SCHEDULE_CODES``; eta0, power_t, rate_alpha, optimal_init : float,
        the rate's parameters (``rate_alpha`` is scikit-learn's ``alpha`` in the 'optimal' rate)
    alpha : float, L2 penalty (0 for none): decay ``max(0, 1 - eta alpha)`` per visited sample
    t0 : int, samples visited before this epoch (the first sample here has ``t = t0 + 1``)
    fit_intercept : bool
    class_offset : int, problem k is class ``k + class_offset`` vs rest (1 if binary, else 0)
    active : ndarray, shape (K,), bool; inactive problems are neither trained nor counted
    n_blocks : int, problems are split into ``min(n_blocks, K)`` contiguous blocks that run
        in parallel (does not change the result)
    shuffle : bool, visit the rows in a random order (see the module docstring)
    block : int >= 1, rows per contiguous block of the shuffle
    rng_state : ndarray, shape (1,), uint64 (modified), the shuffle's generator
    blocks : ndarray, shape (at least ceil(m / block),), int64, workspace
    local : ndarray, shape (B,), B >= block, int64, workspace; ``B // block`` blocks form a
        window (the number of blocks read side by side)
    track_loss : bool, compute ``loss_sum``, ``objective`` and ``penalty_sum`` (else they are
        left at 0 and the losses are not evaluated, only their derivatives: same weights,
        less work)
    n_updates : ndarray, shape (K,), int64 (written): visited samples with a nonzero update
    loss_sum : ndarray, shape (K,), float64 (written): unweighted sum of the losses of the
        visited samples, each at the weights before its step (scikit-learn's ``sumloss``)
    objective : ndarray, shape (K,), float64 (written): weighted sum of the same losses
        plus, if ``alpha > 0``, ``s alpha / 2 ||w||^2`` at every visited sample (``w``
        before that sample's step); ``fastnn.Perceptron``'s stopping rule
    penalty_sum : ndarray, shape (K,), float64 (written): unweighted sum of
        ``alpha / 2 ||w||^2`` over the visited samples (0 if ``alpha == 0``);
        ``loss_sum + penalty_sum`` is scikit-learn's ``objective_sum``
    nonfinite : ndarray, shape (K,), int64 (written): visited samples whose score was NaN or
        infinite, i.e. whose row of ``X`` holds a NaN or an infinity (while the weights are
        finite), or whose score overflowed; the caller checks ``X`` at no extra pass

    Returns
    -------
    int, the number of samples visited (of nonzero weight)

    Weights are stored and updated in X's dtype; rates, the L2 decay's lazy scale factor
    (``w = scale W``), scores and summaries are float64.
    """
    n_problems = W.shape[0]
    nb = max(1, min(n_blocks, n_problems))
    n_rows = rows.shape[0]
    n_chunks = (n_rows + block - 1) // block
    if blocks.shape[0] < n_chunks or local.shape[0] < block:
        raise ValueError("sgd_epoch: blocks needs ceil(len(rows) / block) entries and local "
                         "at least block")
    per_window = max(1, local.shape[0] // block)
    track_objective = track_loss and alpha > 0.0
    scale = np.ones(n_problems, np.float64)  # the true weights of row k are scale[k] * W[k]
    sqnorm = np.zeros(n_problems, np.float64)  # ||W[k]||^2 of the stored (unscaled) row
    for k in range(n_problems):
        n_updates[k] = 0
        loss_sum[k] = 0.0
        objective[k] = 0.0
        penalty_sum[k] = 0.0
        nonfinite[k] = 0
        if track_objective:
            sqnorm[k] = dot_rows(W, k, W, k)
    for c in range(n_chunks):
        blocks[c] = c
    if shuffle:
        shuffle_inplace(blocks, n_chunks, rng_state)
    gathered = np.empty(local.shape[0], np.int64)
    starts = np.empty(per_window + 1, np.int64)
    slots = np.empty(per_window, np.int64)
    t = t0
    for w0 in range(0, n_chunks, per_window):
        w1 = min(w0 + per_window, n_chunks)
        m = gather_window(rows, sample_weight, blocks, w0, w1, block, gathered, starts)
        order = gathered
        if shuffle:
            interleave_window(gathered, starts, w1 - w0, slots, rng_state, local)
            order = local
        if nb == 1:
            train_window(X, y, sample_weight, order, m, t, W, b, 0, n_problems, loss_code,
                         schedule, eta0, power_t, alpha, rate_alpha, optimal_init, fit_intercept,
                         class_offset, active, track_loss, track_objective, scale, sqnorm,
                         n_updates, loss_sum, objective, penalty_sum, nonfinite)
        else:
            for blk in prange(nb):
                control_word = flush_subnormals()  # this thread's; given back below (fpenv)
                train_window(X, y, sample_weight, order, m, t, W, b, blk * n_problems // nb,
                             (blk + 1) * n_problems // nb, loss_code, schedule, eta0, power_t,
                             alpha, rate_alpha, optimal_init, fit_intercept, class_offset, active,
                             track_loss, track_objective, scale, sqnorm, n_updates, loss_sum,
                             objective, penalty_sum, nonfinite)
                restore(control_word)
        t += m
    for k in range(n_problems):
        c = scale[k]
        if c != 1.0:
            for j in range(W.shape[1]):
                W[k, j] *= c
    return t - t0
