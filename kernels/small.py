"""Training of small networks: every epoch in one call, one sample at a time, no BLAS.

For layers of a few units the arithmetic of a batch is a few dozen
multiply-adds; the BLAS path (``trainer.train_epoch_gathered``) spends far more on
calls, array views and dispatch per layer and batch.  Here the loops over
epochs, batches, samples, layers and units are plain compiled loops over the
flat parameter vector, with one row of scratch per layer: each sample is
propagated forward and backward on its own and its gradient is added into
``grads``, so the batch size costs no memory.  The shuffle runs in the kernel
too, from an explicit SplitMix64 state.

``small_sgd_train`` is the per-sample plain-SGD case of ``small_train``
compiled for one architecture (at most one hidden layer): with the layer
sizes known to LLVM every loop unrolls and the whole network lives in
registers, about twice the updates per second on XOR 2-4-1.

Conventions are the BLAS path's: ``net``, the optimizer codes and the
``hyper`` vector are those of :func:`fastnn.kernels.trainer.train_epoch_gathered`;
activations, derivatives and losses follow ``activations.py`` and
``losses.py`` (weighted mean loss accumulated in the parameters' dtype,
``delta = w_i (p_i s_i - y_i) / sum_i w_i``); updates call the optimizer
kernels' serial variants.
"""
from __future__ import annotations

import decimal
import math

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._jit import compile_family
from .activations import IDENTITY, SIGMOID, activate, derivative_from_output
from .data import shuffle_inplace
from .losses import BINARY_CROSS_ENTROPY, SQUARED_ERROR
from .trainer import ADAM, SGD, serial_step, squared_norm

# small_sgd_train's flags (see its ``codes``).
WEIGHTED, DECAYED, UNIT_SLOPE = 1, 2, 4


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``); three operands of one float type."""
    def codegen(context, builder, signature, args):
        t = args[0].type
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(t, [t, t, t]),
                                             f"llvm.fma.{'f64' if t == ir.DoubleType() else 'f32'}")
        return builder.call(fma, args)

    return a(a, a, a), codegen


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose bits are the int64 ``i``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


def _exp_table():
    """glibc's ``__exp_data.tab``: for i < 128, the bits of ``tail_i`` and ``s_i - (i << 45)``.

    ``s_i`` is ``2**(i/128)`` rounded to float64 and ``tail_i`` the rounded
    ``(2**(i/128) - s_i) / s_i`` (checked equal to glibc 2.36's table).
    ``2**(i/128)`` is a product of the roots ``2**(2**-k)`` over the bits of
    ``i``, in 60 digits: square roots and products cost a tenth of what
    fractional powers did (2 ms against 24-38 ms at every import of fastnn).
    """
    table = np.empty(256, np.uint64)
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        roots = [decimal.Decimal(2)]  # roots[k] = 2 ** (2 ** -k)
        for _ in range(7):
            roots.append(roots[-1].sqrt())
        for i in range(128):
            exact = decimal.Decimal(1)
            for bit in range(7):  # bit b of i contributes 2 ** (2 ** b / 128) = roots[7 - b]
                if i >> bit & 1:
                    exact *= roots[7 - bit]
            scale = float(exact)
            tail = (exact - decimal.Decimal(scale)) / decimal.Decimal(scale)
            table[2 * i] = np.float64(tail).view(np.uint64)
            table[2 * i + 1] = np.float64(scale).view(np.uint64) - np.uint64(i << 45)
    return table.view(np.int64)


# glibc's exp (sysdeps/ieee754/dbl-64/e_exp.c, from Arm's optimized-routines):
# exp(x) = 2**(k/128) exp(r), x = k ln2/128 + r, |r| <= ln2/256; its constants.
_EXP_TABLE = _exp_table()
_INV_LN2_N = float.fromhex("0x1.71547652b82fep+7")
_NEG_LN2_HI_N = float.fromhex("-0x1.62e42fefa0000p-8")
_NEG_LN2_LO_N = float.fromhex("-0x1.cf79abc9e3b3ap-47")
_EXP_SHIFT = float.fromhex("0x1.8p+52")
_C2, _C3, _C4, _C5 = (float.fromhex(c) for c in (
    "0x1.ffffffffffdbdp-2", "0x1.555555555543cp-3", "0x1.55555cf172b91p-5",
    "0x1.1111167a4d017p-7"))


def _exp(x):
    """``math.exp(x)``; for float64 computed inline (see :func:`_exp64`)."""
    return math.exp(x)


def _exp64(x):
    """``math.exp`` of a float64 without a call, the same bits as glibc's FMA variant.

    The fast path of glibc's ``__exp`` with the multiply-adds that its
    ``-mfma`` build contracts done by ``llvm.fma``, in its order (error
    < 0.52 ulp).  Outside ``2**-54 <= |x| < 512`` (and for inf, NaN) it calls
    ``math.exp``.  Why: a call clobbers every vector register, so each of a
    small network's exps spilled and reloaded the network around it.
    """
    abstop = (_bits(x) >> 52) & 0x7FF
    if not 0x3C9 <= abstop < 0x408:
        return math.exp(x)
    kd = _fma(x, _INV_LN2_N, _EXP_SHIFT)  # k = round(x 128 / ln2) in the low bits
    ki = _bits(kd)
    kd -= _EXP_SHIFT
    r = _fma(kd, _NEG_LN2_LO_N, _fma(kd, _NEG_LN2_HI_N, x))
    idx = 2 * (ki & 127)
    tail = _from_bits(_EXP_TABLE[idx])
    scale = _from_bits(_EXP_TABLE[idx + 1] + (ki << 45))
    r2 = r * r
    tmp = _fma(r2 * r2, _fma(r, _C5, _C4), _fma(_fma(r, _C3, _C2), r2, r + tail))
    return _fma(scale, tmp, scale)


@overload(_exp, inline="always")
def _exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 64:
        return _exp64
    return lambda x: math.exp(x)


# glibc's log1p (sysdeps/ieee754/dbl-64/s_log1p.c, from fdlibm): ln2 split in two,
# and the coefficients Lp1..Lp7 of its polynomial in s**2, s = f / (2 + f).
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")
_LN2_LO = float.fromhex("0x1.a39ef35793c76p-33")
_TWO_THIRDS = float.fromhex("0x1.5555555555555p-1")
_LP1, _LP2, _LP3, _LP4, _LP5, _LP6, _LP7 = (float.fromhex(c) for c in (
    "0x1.5555555555593p-1", "0x1.999999997fa04p-2", "0x1.2492494229359p-2",
    "0x1.c71c51d8e78afp-3", "0x1.7466496cb03dep-3", "0x1.39a09d078c69fp-3",
    "0x1.2f112df3e5244p-3"))


def _log1p(x):
    """``math.log1p(x)``; for float64 computed inline (see :func:`_log1p64`)."""
    return math.log1p(x)


def _log1p64(x):
    """``math.log1p`` of a float64 without a call, the same bits as glibc's FMA variant.

    fdlibm's algorithm as glibc has it, with the multiply-adds that its
    ``-mfma`` build contracts done by ``llvm.fma``, in its order.  Inline for
    ``0 <= x < 2**53`` (the BCE loss needs ``[0, 1]``), else ``math.log1p``.
    Why: as a call it was a sixth of the unrolled XOR kernel's time, and it
    spilled the network's registers.
    """
    hx = _bits(x) >> 32
    if not 0 <= hx < 0x43400000:  # negative, huge, inf, NaN
        return math.log1p(x)
    if hx < 0x3E200000:  # x < 2**-29
        return x if hx < 0x3C900000 else _fma(x * x, -0.5, x)
    k = 0
    f = x
    hu = 1
    c = 0.0
    if hx >= 0x3FDA827A:  # x >= sqrt(2) - 1: 1 + x = 2**k (1 + f), c its rounding error
        u = 1.0 + x
        hu = _bits(u) >> 32
        k = (hu >> 20) - 1023
        c = (1.0 - (u - x) if k > 0 else x - (u - 1.0)) / u
        hu &= 0x000FFFFF
        low = _bits(u) & 0xFFFFFFFF
        if hu < 0x6A09E:  # normalise u into [sqrt(2)/2, sqrt(2)): its high word replaced
            u = _from_bits(((hu | 0x3FF00000) << 32) | low)
        else:
            k += 1
            u = _from_bits(((hu | 0x3FE00000) << 32) | low)
            hu = (0x00100000 - hu) >> 2
        f = u - 1.0
    hfsq = 0.5 * f * f
    if hu == 0:  # |f| < 2**-20
        if f == 0.0:
            return 0.0 if k == 0 else _fma(float(k), _LN2_HI, _fma(float(k), _LN2_LO, c))
        r = _fma(-f, _TWO_THIRDS, 1.0) * hfsq
        if k == 0:
            return f - r
        return _fma(float(k), _LN2_HI, -((r - _fma(float(k), _LN2_LO, c)) - f))
    s = f / (2.0 + f)
    z = s * s
    z2 = z * z
    z4 = z2 * z2
    r = _fma(z2 * z4, _fma(z, _LP7, _LP6),
             _fma(z4, _fma(z, _LP5, _LP4), _fma(z, _LP1, z2 * _fma(z, _LP3, _LP2))))
    t = s * (hfsq + r)
    if k == 0:
        return f - (hfsq - t)
    return _fma(float(k), _LN2_HI, -((hfsq - (_fma(float(k), _LN2_LO, c) + t)) - f))


@overload(_log1p, inline="always")
def _log1p_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 64:
        return _log1p64
    return lambda x: math.log1p(x)


def _layer_forward(X, row, acts, in_off, params, w, b, fan_in, fan_out, out_off, code, p):
    """``acts[out_off:out_off + fan_out] = f(x @ W + b)`` for one sample.

    ``x`` is ``X[row]`` if ``in_off < 0``, else ``acts[in_off:in_off + fan_in]``;
    ``W`` is ``params[w:w + fan_in * fan_out]`` as (fan_in, fan_out), ``b`` is
    ``params[b:b + fan_out]``; ``p`` has the parameters' dtype.  Each unit's
    sum runs in a register over its inputs (a strided walk down a column of
    W, all in L1 for small layers) rather than accumulating rows of W into
    ``acts``, which the compiler must store and reload each time.
    """
    for j in range(fan_out):
        z = params.dtype.type(0)
        if in_off < 0:
            for k in range(fan_in):
                z += X[row, k] * params[w + k * fan_out + j]
        else:
            for k in range(fan_in):
                z += acts[in_off + k] * params[w + k * fan_out + j]
        acts[out_off + j] = _activate(z + params[b + j], code, p, params.dtype.type(1))


def _activate(z, code, p, one):
    """``activations.activate``, the sigmoid without a branch on the sign.

    ``exp(-|t|)`` is ``exp(-t)`` for ``t >= 0`` and ``exp(t)`` below, so both of
    activate's formulas come from one exp and the sign only selects between
    them: the shuffled samples of a tiny network flip it unpredictably, and
    the mispredicted branch cost more (XOR float64: +5-10% updates/s).
    ``one`` has z's dtype: ``activate``'s ``zero + 1`` is float64 for float32
    z (an int literal promotes), which cost float32 XOR 5-15%.
    """
    if code == SIGMOID:
        t = p * z
        e = _exp(-abs(t))
        return one / (one + e) if t >= one - one else e / (one + e)
    return activate(z, code, p)


def _layer_backward(X, row, acts, in_off, params, grads, w, b, fan_in, fan_out, deltas,
                    out_off, code, p, fused, lr, decay, decayed=True):
    """Backpropagate one sample through one layer whose output delta is ``deltas[out_off:]``.

    Inputs and weights as in :func:`_layer_forward`.  Adds the layer's
    gradient into ``grads``, or, if ``fused``, applies plain SGD to each
    parameter as its gradient is produced: for a batch of one sample the
    gradient of a weight is ``x * d`` and is needed once, so ``sgd_update``'s
    rule ``p -= lr * (g + decay * p)`` (biases undecayed) runs in place, after
    the weight has been read for the delta below; no gradient buffer and no
    second pass, the same numbers as accumulating and then ``sgd_update``.
    If ``in_off >= 0`` writes ``deltas[in_off + k] = (delta @ W.T)[k] * f'(x_k)``,
    ``code``, ``p`` being the activation that produced ``x``.  ``lr``,
    ``decay`` have the parameters' dtype (ignored unless ``fused``); ``decayed``
    False (a compile-time constant) promises ``decay == 0`` and skips its
    multiply-add, the same numbers for finite weights.
    """
    for j in range(fan_out):
        if fused:
            params[b + j] -= lr * deltas[out_off + j]
        else:
            grads[b + j] += deltas[out_off + j]
    for k in range(fan_in):
        x = X[row, k] if in_off < 0 else acts[in_off + k]
        w_k = w + k * fan_out
        back = params.dtype.type(0)
        for j in range(fan_out):
            d = deltas[out_off + j]
            old = params[w_k + j]
            back += d * old
            if fused:
                params[w_k + j] = old - lr * ((x * d + decay * old) if decayed else x * d)
            else:
                grads[w_k + j] += x * d
        if in_off >= 0:
            deltas[in_off + k] = back * derivative_from_output(x, code, p)


def _forward(X, row, params, net, acts):
    """Forward pass of ``X[row]``; ``acts`` gets every layer's output, the last as logits."""
    sizes, w_off, b_off, codes, act_params = net
    n_layers = sizes.shape[0] - 1
    off_in = -1  # the first layer reads X[row]
    off_out = 0
    for l in range(n_layers):
        code = IDENTITY if l == n_layers - 1 else codes[l]
        _layer_forward(X, row, acts, off_in, params, w_off[l], b_off[l], sizes[l],
                       sizes[l + 1], off_out, code, params.dtype.type(act_params[l]))
        off_in = off_out
        off_out += sizes[l + 1]


def _output_loss(loss_code, Y, row, acts, deltas, off, k, scale):
    """Loss of one sample from its logits ``acts[off:off + k]``; ``deltas[off:]`` = dLoss/dZ.

    ``scale`` is the sample's weight over the batch's total weight.
    """
    zero = acts.dtype.type(0)
    one = acts.dtype.type(1)
    li = zero
    if loss_code == SQUARED_ERROR:
        for j in range(k):
            r = acts[off + j] - Y[row, j]
            li += r * r
            deltas[off + j] = scale * r
        return li * acts.dtype.type(0.5)
    if loss_code == BINARY_CROSS_ENTROPY:
        for j in range(k):
            z = acts[off + j]
            y = Y[row, j]
            e = _exp(-abs(z))  # shared by the loss and the sigmoid
            li += max(z, zero) - y * z + _log1p(e)
            p = one / (one + e) if z >= zero else e / (one + e)
            deltas[off + j] = scale * (p - y)
        return li
    zmax = acts[off]
    for j in range(1, k):
        zmax = max(zmax, acts[off + j])
    norm = zero
    y_sum = zero
    y_dot_z = zero
    for j in range(k):
        z = acts[off + j]
        norm += math.exp(z - zmax)
        y_sum += Y[row, j]
        y_dot_z += Y[row, j] * z
    log_norm = zmax + math.log(norm)
    for j in range(k):
        deltas[off + j] = scale * (y_sum * math.exp(acts[off + j] - log_norm) - Y[row, j])
    return y_sum * log_norm - y_dot_z


def _backward(X, row, params, grads, net, acts, deltas, off_out, fused, lr, decay):
    """One sample's backward pass, ``deltas[off_out:]`` holding the output delta.

    Adds the gradient into ``grads``, or applies SGD in place if ``fused``
    (see :func:`_layer_backward`).
    """
    sizes, w_off, b_off, codes, act_params = net
    for l in range(sizes.shape[0] - 2, -1, -1):
        off_in = off_out - sizes[l] if l > 0 else -1
        below = max(l - 1, 0)  # the activation feeding this layer (none for l == 0)
        _layer_backward(X, row, acts, off_in, params, grads, w_off[l], b_off[l], sizes[l],
                        sizes[l + 1], deltas, off_out, codes[below],
                        params.dtype.type(act_params[below]), fused, lr, decay)
        off_out = off_in


def _update(optimizer, params, grads, state1, state2, hyper, t, decay, n_weights):
    """One optimizer step with the optimizer kernels; returns Adam's new step count."""
    if optimizer == ADAM:
        t += 1
    serial_step(optimizer, params, grads, state1, state2, hyper, t, decay, n_weights)
    return t


def _end_epoch(params, last_good):
    """Copy ``params`` into ``last_good`` if all are finite; returns whether they were.

    ``p - p`` is 0 for a finite ``p`` and NaN for inf or NaN, so one sum
    without branches tells, where a test per parameter cost a tiny network's
    epoch of four samples ~3 %.
    """
    check = params.dtype.type(0)
    for i in range(params.shape[0]):
        check += params[i] - params[i]
    if check != check:
        return False
    for i in range(params.shape[0]):
        last_good[i] = params[i]
    return True


def small_train(X, Y, sample_weight, has_weights, order, shuffle, rng_state, n_epochs,
                batch_size, params, grads, net, scratch, loss_code, optimizer, hyper, state1,
                state2, t, n_weights, last_good, epoch_totals, segment):
    """``n_epochs`` epochs of mini-batch gradient descent, shuffles included.

    Each epoch first shuffles ``order`` in place (if ``shuffle``; continuing
    from its current permutation) and then visits its rows in batches of
    ``batch_size``, the last one shorter.  A batch's loss, gradient, alpha
    and optimizer step are those of ``trainer._train_step``; a non-finite
    batch loss stops before that batch's update.  After each epoch the
    parameters are checked and copied into ``last_good``.

    Parameters
    ----------
    X : (n_samples, sizes[0]); Y : (n_samples, sizes[-1]); C-contiguous, params' dtype, finite
    sample_weight : (n_samples,), non-negative, read only if ``has_weights``
    order : (n_samples,) int64, a permutation of the rows (modified if ``shuffle``)
    shuffle : bool
    rng_state : (1,) uint64, SplitMix64 state (modified)
    n_epochs, batch_size : int >= 1
    params, grads : (P,) flat vectors (modified); ``net`` as in ``trainer``
    scratch : (2 * sum(sizes[1:]),) params' dtype: one row of activations, one of deltas
    loss_code : int; optimizer : int, one of ``trainer.OPTIMIZER_CODES``
    hyper : (11,) float64, as in ``trainer.train_epoch_gathered`` (the kept batch, ``hyper[9]``,
        and the loss so far, ``hyper[10]``, read only if ``segment``)
    state1, state2 : (P,) optimizer state (modified); t : int, Adam's step count
    n_weights : int, the weights are ``params[:n_weights]``
    last_good : (P,) params' dtype, the parameters after the last finite epoch (modified)
    epoch_totals : (>= n_epochs,) float64, sum over batches of batch loss times
        batch size, per completed epoch (modified)
    segment : bool
        The call is an epoch or a part of one (``n_epochs`` 1, no shuffle) as
        ``train_epoch_gathered`` runs it (``fastnn.training.run_epoch``):
        ``hyper[9]`` is the row offset of the batch whose gradient stays in
        ``grads`` (-1: none in this call; plain SGD on batches of one sample
        fuses every other step), the total starts at ``hyper[10]`` (the loss
        of the parts before), and a batch with a NaN/inf value in its rows of
        ``X`` stops the call before its update (status 2), as the gather does
        there.  False: each epoch finds its own kept batch and starts from 0,
        and ``X`` must be finite.

    After each epoch ``grads`` holds the gradient of its last batch that
    stepped (one whose weights are not all 0; left as it was if none did).

    Returns
    -------
    epochs_done : int
        Epochs completed with a finite loss and finite parameters.
    t : int
        Adam's step count.
    status : int
        0 all done; 1 epoch ``epochs_done`` hit a non-finite batch loss or
        ended with non-finite parameters (``last_good`` holds the end of the
        epoch before it); 2 (``segment`` only) a batch's rows of ``X`` held
        NaN/inf.
    """
    sizes = net[0]
    n_layers = sizes.shape[0] - 1
    n_units = 0
    for l in range(1, n_layers + 1):
        n_units += sizes[l]
    k = sizes[n_layers]
    off_last = n_units - k
    acts = scratch[:n_units]
    deltas = scratch[n_units:2 * n_units]
    n = order.shape[0]
    n_params = params.shape[0]
    one = params.dtype.type(1)
    alpha, loss_scale = hyper[6], hyper[7]
    w_sq = squared_norm(params, n_weights) if alpha > 0.0 else 0.0
    for epoch in range(n_epochs):
        if shuffle:
            shuffle_inplace(order, order.shape[0], rng_state)
        # Plain SGD on batches of one sample fuses each step into the backward
        # pass, but for the epoch's last weighted sample, whose gradient then
        # stays in ``grads`` (as every other batch size and optimizer leave it).
        kept = -1
        if segment:
            kept = np.int64(hyper[9])
        elif optimizer == SGD and batch_size == 1:
            kept = n - 1
            while has_weights and kept >= 0:
                total_weight = params.dtype.type(0)
                total_weight += sample_weight[order[kept]]
                if total_weight != 0:  # the skip's test below
                    break
                kept -= 1
        total = hyper[10] if segment else 0.0
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            total_weight = params.dtype.type(0)
            scale = 0.0  # alpha's divisor, summed in float64 as in trainer._train_step
            for i in range(start, stop):
                w = sample_weight[order[i]] if has_weights else one
                total_weight += w
                scale += w
            if total_weight == 0:  # all weights 0: no step, as trainer._train_step
                continue
            if segment and not _finite_rows(X, order, start, stop):
                return epoch, t, 2
            # Not a lone last row of longer batches: ``kept`` is only found for batches of
            # one, and that row, the epoch's last step, must leave its gradient in ``grads``.
            fused = batch_size == 1 and optimizer == SGD and start != kept
            if not fused:
                for i in range(n_params):
                    grads[i] = 0
            weighted = params.dtype.type(0)
            for i in range(start, stop):
                row = order[i]
                w = sample_weight[row] if has_weights else one
                _forward(X, row, params, net, acts)
                li = _output_loss(loss_code, Y, row, acts, deltas, off_last, k, w / total_weight)
                weighted += w / total_weight * li  # as losses.py: w * li may overflow
                if not fused:
                    _backward(X, row, params, grads, net, acts, deltas, off_last, False, one,
                              one)
            loss = weighted * loss_scale
            decay = hyper[8]
            if alpha > 0.0:
                loss += 0.5 * alpha * w_sq / scale
                decay += alpha / scale
            if not math.isfinite(loss):
                return epoch, t, 1
            if fused:
                _backward(X, order[start], params, grads, net, acts, deltas, off_last, True,
                          params.dtype.type(hyper[0]), params.dtype.type(decay))
            else:
                t = _update(optimizer, params, grads, state1, state2, hyper, t, decay, n_weights)
            if alpha > 0.0:
                w_sq = squared_norm(params, n_weights)
            total += loss * (stop - start)
        if not _end_epoch(params, last_good):
            return epoch, t, 1
        epoch_totals[epoch] = total
    return n_epochs, t, 0


def _finite_rows(X, order, start, stop):
    """Whether the rows ``order[start:stop]`` of ``X`` are all finite."""
    for i in range(start, stop):
        for j in range(X.shape[1]):
            if not math.isfinite(X[order[i], j]):
                return False
    return True


def _kept_step(X, row, acts, in_off, params, grads, w_out, b_out, fan_in, n_out, deltas,
               n_hid, n_in, b_hid, code, p, lr, decay, decayed, n_weights):
    """``small_sgd_train``'s step of one sample unfused: its gradient into ``grads`` (zeroed
    first), then ``sgd_update``'s expression, the fused step's numbers (``decay`` on the
    first ``n_weights`` parameters if ``decayed``)."""
    for j in range(grads.shape[0]):
        grads[j] = 0
    _layer_backward(X, row, acts, in_off, params, grads, w_out, b_out, fan_in, n_out, deltas,
                    n_hid, code, p, False, lr, decay, decayed)
    if n_hid > 0:
        _layer_backward(X, row, acts, -1, params, grads, 0, b_hid, n_in, n_hid, deltas, 0,
                        code, p, False, lr, decay, decayed)
    for j in range(grads.shape[0]):
        old = params[j]
        params[j] = old - lr * ((grads[j] + decay * old) if decayed and j < n_weights
                                else grads[j])


def scratch_size(sizes):
    """Parameters plus three rows of units (activations, deltas, the next sample's sums)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])) + 3 * sum(sizes[1:])


@intrinsic
def _stack_scratch(typingctx, like, units):
    """Pointer to ``scratch_size`` uninitialised elements of ``like``'s dtype on the stack.

    ``units`` is ``small_sgd_train``'s tuple of tuples whose lengths are the
    layer sizes (an empty one: no hidden layer).  Allocated in the entry
    block with a size fixed at compile time, the buffer is private to the
    kernel, so LLVM keeps its elements in registers where the loops over it
    are unrolled, and knows no store to it changes X, Y or ``order``.
    """
    count = scratch_size([len(u) for u in units if len(u)])

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(like.dtype), size=count)

    return types.CPointer(like.dtype)(like, units), codegen


def small_sgd_train(X, Y, sample_weight, order, shuffle, rng_state, n_epochs, params_out,
                    grads_out, net, hyper, n_weights, last_good, epoch_totals, units, codes):
    """``small_train`` with ``batch_size=1`` and plain SGD, compiled for one architecture.

    The layer sizes are the lengths of the tuples in ``units`` and so are
    part of the compiled signature: every loop over units has a constant trip
    count and is unrolled, and the parameters, activations and deltas live in
    a stack buffer (copied from and back to ``params_out``) that LLVM keeps in
    registers.  The hidden activation and the loss are compile-time constants
    too (the lengths of the tuples in ``codes``): the per-sample code is one
    branch-free block, not a switch over codes whose joins made LLVM spill
    the network around them.  So are three facts that spare multiplies on
    the path from one sample's update to the next: no sample weights, no
    decay (``hyper[6] == hyper[8] == 0``), a sigmoid slope of 1 (the same
    numbers: multiplying by 1 and adding ``0 * w`` are exact for finite
    values).  Without sample weights or decay, each sample's hidden sums are
    computed during the step before it, from the weights before that step
    and a correction, so that one sample's chain of dependent operations
    does not wait for the last one's update.  Each new architecture,
    activation, loss, flags and dtype compiles once (2-3 s on two quiet
    cores, up to 5 s under load; cached on disk after).  The arithmetic of
    ``small_train``: the same numbers up to rounding (``arcp`` lets LLVM
    share reciprocals differently, and the hidden sums ahead round apart).

    Parameters
    ----------
    X, Y, sample_weight, order, shuffle, rng_state, n_epochs, net, hyper, n_weights,
    last_good, epoch_totals : as in :func:`small_train` (``sample_weight`` read only
    with the ``WEIGHTED`` flag)
    params_out : (P,) the flat parameters (modified)
    grads_out : (P,) the flat gradient (modified): the last weighted sample of the call's
        last epoch steps unfused, every other sample fused, and leaves its gradient there
        (as ``small_train`` does at the end of each epoch); the same arithmetic as its
        fused step.  After a call that stops early (status 1) it is not the last good
        epoch's, and ``order`` and ``rng_state`` may hold the next epoch's shuffle too:
        callers restore them and run the good epochs again, as ``training._train_small`` does
    units : tuple of 3 tuples, ``(0,) * size`` for the input, hidden and output
        layer; ``()`` as the hidden one for a network without hidden layer
    codes : tuple of 3 tuples, ``(0,) * code`` for the hidden layer's activation
        code (``()`` without hidden layer), for the loss code, and for the sum
        of the flags ``WEIGHTED``, ``DECAYED`` and ``UNIT_SLOPE`` that hold

    Returns
    -------
    epochs_done, status : int
        As in :func:`small_train`.
    """
    n_in, n_hid, n_out = len(units[0]), len(units[1]), len(units[2])
    one = params_out.dtype.type(1)
    # Network._structure's layout: every layer's weights, then every layer's biases;
    # the output layer reads X (in_off -1) or the hidden units (acts[0:n_hid]).
    if n_hid == 0:
        fan_in, in_off, w_out, b_out = n_in, -1, 0, n_in * n_out
    else:
        fan_in, in_off, w_out, b_out = n_hid, 0, n_in * n_hid, n_in * n_hid + n_hid * n_out + n_hid
    b_hid = n_in * n_hid + n_hid * n_out
    n_params = b_out + n_out
    n_units = n_hid + n_out
    buffer = carray(_stack_scratch(params_out, units), n_params + 3 * n_units)
    params = buffer[:n_params]
    acts = buffer[n_params:n_params + n_units]
    deltas = buffer[n_params + n_units:n_params + 2 * n_units]
    sums = buffer[n_params + 2 * n_units:]  # the next sample's hidden sums, see below
    for i in range(n_params):
        params[i] = params_out[i]
    code, loss_code, flags = len(codes[0]), len(codes[1]), len(codes[2])
    has_weights, decayed = (flags & WEIGHTED) != 0, (flags & DECAYED) != 0
    ahead = n_hid > 0 and not has_weights and not decayed
    # the hidden layer's activation parameter
    p = one if (flags & UNIT_SLOPE) != 0 else params.dtype.type(net[4][0])
    lr = params.dtype.type(hyper[0])
    alpha, loss_scale = hyper[6], hyper[7]
    w_sq = squared_norm(params, n_weights) if decayed and alpha > 0.0 else 0.0
    n = order.shape[0]
    done = 0
    status = 0
    summed = False  # whether sums holds the hidden sums of the sample to come
    shuffled = False  # whether this epoch's order was drawn in the last epoch
    for epoch in range(n_epochs):
        if shuffle and not shuffled:
            shuffle_inplace(order, n, rng_state)
        shuffled = False
        kept = n - 1  # the last sample with weight: its gradient stays in grads_out
        while has_weights and kept >= 0 and sample_weight[order[kept]] == 0:
            kept -= 1
        total = 0.0
        for i in range(kept + 1):  # the rows after kept take no step
            row = order[i]
            w = sample_weight[row] if has_weights else one
            if has_weights and w == 0:  # no step, as small_train (a compile-time branch)
                continue
            # small_train's w / total weight; no divisions if 1
            scale = w / w if has_weights else one
            if summed:
                for j in range(n_hid):
                    acts[j] = _activate(sums[j], code, p, one)
            elif n_hid > 0:
                _layer_forward(X, row, acts, -1, params, 0, b_hid, n_in, n_hid, 0, code, p)
            _layer_forward(X, row, acts, in_off, params, w_out, b_out, fan_in, n_out, n_hid,
                           IDENTITY, one)
            li = _output_loss(loss_code, Y, row, acts, deltas, n_hid, n_out, scale)
            loss = (w / w * li if has_weights else li) * loss_scale  # small_train's, batch of one
            decay = hyper[8]
            if decayed and alpha > 0.0:
                scale = 0.0 + w
                loss += 0.5 * alpha * w_sq / scale
                decay += alpha / scale
            if not math.isfinite(loss):
                status = 1
                break
            nxt = -1  # the sample to come, if its hidden sums are to be had ahead
            if ahead and i < kept:
                nxt = order[i + 1]
            elif ahead and epoch < n_epochs - 1:
                # the next epoch's first sample: its shuffle drawn now (the same draws)
                if shuffle:
                    shuffle_inplace(order, n, rng_state)
                shuffled = True
                nxt = order[0]
            summed = nxt >= 0
            if summed:
                # The next sample's hidden sums from the weights before this step, and
                # s = x'.x + 1: plain SGD moves W[k, j] by -lr x_k d_j and b_j by -lr d_j,
                # so its sums after the step are these minus lr s d_j, one multiply-add
                # once d_j is known.  The chain from one sample's deltas to the next
                # one's activations loses the update and the products (XOR 2-4-1: +10 %
                # updates/s); equal to the sums of the updated weights up to rounding.
                s = one
                for k in range(n_in):
                    s += X[nxt, k] * X[row, k]
                _layer_forward(X, nxt, sums, -1, params, 0, b_hid, n_in, n_hid, 0, IDENTITY,
                               one)
            # Unfused only where the gradient is kept: grads_out is read after the call,
            # so only the call's last epoch leaves it (storing and reloading it every
            # epoch cost XOR 2-4-1 ~8 % of its updates/s).
            if i < kept or epoch < n_epochs - 1:
                _layer_backward(X, row, acts, in_off, params, params, w_out, b_out, fan_in,
                                n_out, deltas, n_hid, code, p, True, lr,
                                params.dtype.type(decay), decayed)
                if n_hid > 0:
                    _layer_backward(X, row, acts, -1, params, params, 0, b_hid, n_in, n_hid,
                                    deltas, 0, code, p, True, lr, params.dtype.type(decay),
                                    decayed)
            else:
                _kept_step(X, row, acts, in_off, params, grads_out, w_out, b_out, fan_in,
                           n_out, deltas, n_hid, n_in, b_hid, code, p, lr,
                           params.dtype.type(decay), decayed, n_weights)
            if summed:
                lr_s = -(lr * s)
                for j in range(n_hid):
                    sums[j] = _fma(lr_s, deltas[j], sums[j])
            if decayed and alpha > 0.0:
                w_sq = squared_norm(params, n_weights)
            total += loss
        if status or not _end_epoch(params, last_good):
            status = 1
            break
        epoch_totals[epoch] = total
        done += 1
    for i in range(n_params):
        params_out[i] = params[i]
    return done, status


# The per-sample helpers are inlined at Numba IR level: as calls, each passed
# its arrays with atomic reference counting and spilled its state, which cost
# more than the arithmetic of a small layer (XOR SGD: 2.7M -> 4.5M updates/s).
_INLINE = [_activate, _layer_forward, _layer_backward, _forward, _output_loss, _backward, _update,
           _end_epoch, _kept_step, _finite_rows]
# data.shuffle_inplace inlined too: as a call it cost a tiny network's epoch ~3%.
_shuffle = shuffle_inplace.py_func
_shuffle = getattr(compile_family([_shuffle], "small", {}, [_shuffle]), _shuffle.__name__)
_family = compile_family(_INLINE + [small_train, small_sgd_train], "small",
                         {"shuffle_inplace": _shuffle}, _INLINE)
small_train, small_sgd_train = _family.small_train, _family.small_sgd_train
