"""Fused network passes: a whole forward/backward pass, or a whole training epoch, per call.

The Python API would otherwise pay one dispatch per layer and per operation
(about ten per mini-batch); here the loops over layers and batches run in
compiled code and call the same dense, loss, gather and update kernels.

A network is described by two tuples of arrays:

``net = (sizes, w_off, b_off, codes, act_params)``
    ``sizes`` (L+1,) int64 units per layer, input first; ``w_off``/``b_off``
    (L,) int64 offsets of each layer's weights (row-major, shape
    ``(sizes[l], sizes[l+1])``) and biases in the flat parameter vector;
    ``codes`` (L,) int64 activation code of each layer's output (the last
    entry is not read: the output activation follows ``loss_code``) and
    ``act_params`` (L,) float64.
``ws = (acts, deltas, a_off, xbuf, ybuf, wbuf, ones, sample_loss)``
    Scratch for ``capacity`` rows: ``acts``/``deltas`` flat, layer ``l`` at
    ``a_off[l]`` (= capacity * sum(sizes[1:l+1])); gathered inputs, targets,
    weights; a vector of ones; per-sample losses.

The functions come compiled in families (see ``_jit.compile_family``), one
per thread mode and optimizer, chosen per call with :func:`family`: a
parallel family runs the ``prange`` variants of the kernels for matrices of
at least ``_PARALLEL_MIN`` elements (smaller ones use the serial variants:
waking the thread pool costs more than it saves); a serial family calls only
serial variants and never compiles a parallel kernel (the API decides; see
``fastnn._config``).  Training families come in two layouts of the
batch's activations and deltas: sample-major ``(n, units)`` (``dense``) and
feature-major ``(units, n)`` (``dense_feature_major``, faster BLAS calls for
small batches on several threads); ``forward_pass`` is sample-major in both.
"""
from __future__ import annotations

import math

import numpy as np

from numba import prange

from ._jit import compile_family, helper, inline_helper, kernel, python_family
from .activations import IDENTITY
from .atomic import fetch_add
from .blas import gemm
from .data import count_nonfinite, gather_rows
from .fpenv import flush_subnormals, restore
from .dense import dense_backward, dense_forward
from .dense_feature_major import (dense_backward_feature_major, dense_forward_feature_major,
                                  transpose)
from .losses import loss_forward_backward, output_forward_inplace
from .optimizers import adam_update, momentum_update, sgd_update

SGD, MOMENTUM, ADAM = range(3)
OPTIMIZER_CODES = {"sgd": SGD, "momentum": MOMENTUM, "adam": ADAM}

_PARALLEL_MIN = 1 << 14
_PARALLEL = True  # False in the serial families
_OPTIMIZER = SGD  # each family's own optimizer (see family())
_FEATURE_MAJOR = False  # the layout of each family's training steps (see family())

# Numba resolves module-level dispatchers at compile time.
_forward_p, _forward_s = dense_forward.parallel, dense_forward.serial
_backward_p, _backward_s = dense_backward.parallel, dense_backward.serial
_forward_fm_p = dense_forward_feature_major.parallel
_forward_fm_s = dense_forward_feature_major.serial
_backward_fm_p = dense_backward_feature_major.parallel
_backward_fm_s = dense_backward_feature_major.serial
_transpose_p, _transpose_s = transpose.parallel, transpose.serial
_loss_p, _loss_s = loss_forward_backward.parallel, loss_forward_backward.serial
_output_p, _output_s = output_forward_inplace.parallel, output_forward_inplace.serial
_gather_p, _gather_s = gather_rows.parallel, gather_rows.serial
_sgd_p, _sgd_s = sgd_update.parallel, sgd_update.serial
_momentum_p, _momentum_s = momentum_update.parallel, momentum_update.serial
_adam_p, _adam_s = adam_update.parallel, adam_update.serial


def _view(flat, offset, rows, cols):
    """Rows x cols C-contiguous view of ``flat[offset:]``."""
    return flat[offset:offset + rows * cols].reshape((rows, cols))


def _dense_forward(below, W, b, code, param, out):
    if _PARALLEL and out.size >= _PARALLEL_MIN:
        return _forward_p(below, W, b, code, param, out)
    return _forward_s(below, W, b, code, param, out)


def _dense_backward(below, W, b, delta, dW, db, delta_below, code, param, propagate, lr, decay):
    if _PARALLEL and max(below.size, delta.size) >= _PARALLEL_MIN:
        _backward_p(below, W, b, delta, dW, db, delta_below, code, param, propagate, lr, decay)
    else:
        _backward_s(below, W, b, delta, dW, db, delta_below, code, param, propagate, lr, decay)


def _dense_forward_fm(below, by_rows, W, b, code, param, out):
    if _PARALLEL and out.size >= _PARALLEL_MIN:
        _forward_fm_p(below, by_rows, W, b, code, param, out)
    else:
        _forward_fm_s(below, by_rows, W, b, code, param, out)


def _dense_backward_fm(below, by_rows, W, b, delta, dW, db, delta_below, code, param, propagate,
                       lr, decay):
    if _PARALLEL and max(below.size, delta.size) >= _PARALLEL_MIN:
        _backward_fm_p(below, by_rows, W, b, delta, dW, db, delta_below, code, param, propagate,
                       lr, decay)
    else:
        _backward_fm_s(below, by_rows, W, b, delta, dW, db, delta_below, code, param, propagate,
                       lr, decay)


def _transpose(src, dst):
    if _PARALLEL and src.size >= _PARALLEL_MIN:
        _transpose_p(src, dst)
    else:
        _transpose_s(src, dst)


def forward_pass(inputs, params, net, ws, apply_output, loss_code):
    """Forward pass of the n rows of ``inputs``; returns the output layer's (n, k) view.

    With ``apply_output`` the output holds the output activation of
    ``loss_code`` (a row pass over the logits), otherwise the logits.
    ``inputs`` may be read-only; it is only passed to the first layer (so
    that its type never mixes with the writable buffers').
    """
    return forward_layers(inputs, params, net, ws[0], ws[2], apply_output, loss_code)[0]


def forward_layers(inputs, params, net, acts, a_off, apply_output, loss_code):
    """:func:`forward_pass` with its only scratch, the activations ``acts`` (layer l at
    ``a_off[l]``), passed alone; returns (output view, the number of NaN/inf entries
    of the first layer's ``inputs @ W + b``: 0 proves ``inputs`` finite, see
    ``dense_forward``).

    With ``apply_output``, rows whose logits hold NaN/inf come out all NaN: a
    softmax over -inf logits, or a sigmoid of +-inf, is finite and would hide
    the overflow behind a confident answer.
    """
    sizes, w_off, b_off, codes, act_params = net
    n = inputs.shape[0]
    n_layers = sizes.shape[0] - 1
    n_bad = 0
    n_bad_logits = 0
    for l in range(n_layers):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        W = _view(params, w_off[l], fan_in, fan_out)
        b = params[b_off[l]:b_off[l] + fan_out]
        out = _view(acts, a_off[l], n, fan_out)
        code, param = codes[l], act_params[l]
        if l == n_layers - 1:  # the logits; the output activation below, once checked
            code, param = IDENTITY, 0.0
        if l == 0:
            n_bad = _dense_forward(inputs, W, b, code, param, out)
            n_bad_logits = n_bad
        else:
            n_bad_logits = _dense_forward(_view(acts, a_off[l - 1], n, fan_in), W, b, code,
                                          param, out)
    output = _view(acts, a_off[n_layers - 1], n, sizes[n_layers])
    if apply_output:
        if n_bad_logits:  # rare: no pass over the logits otherwise
            _nan_rows_not_finite(output)
        if _PARALLEL and output.size >= _PARALLEL_MIN:
            _output_p(loss_code, output)
        else:
            _output_s(loss_code, output)
    return output, n_bad


@helper
def _nan_rows_not_finite(Z):
    """Set every entry of the rows of ``Z`` (n, k) that hold NaN or inf to NaN."""
    nan = Z.dtype.type(np.nan)
    for i in range(Z.shape[0]):
        bad = False
        for j in range(Z.shape[1]):
            if not math.isfinite(Z[i, j]):
                bad = True
        if bad:
            Z[i, :] = nan


def loss_and_gradient(inputs, targets, weights, params, grads, net, ws, loss_code, gradient):
    """Mean loss of a batch and (if ``gradient``) its gradient written into ``grads``.

    Parameters
    ----------
    inputs : (n, sizes[0]); targets : (n, sizes[-1]); weights : (n,) non-negative
    params, grads : (P,) flat vectors, same layout
    """
    loss = _forward_loss(inputs, targets, weights, params, net, ws, loss_code)
    if gradient:
        _backward(inputs, params, grads, net, ws, 0.0, 0.0)
    return loss


def _forward_feature_major(inputs, params, net, ws):
    """Logits of the n rows of ``inputs``, each layer's output stored (units, n) in ``ws``."""
    sizes, w_off, b_off, codes, act_params = net
    acts, a_off = ws[0], ws[2]
    n = inputs.shape[0]
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        W = _view(params, w_off[l], fan_in, fan_out)
        b = params[b_off[l]:b_off[l] + fan_out]
        out = _view(acts, a_off[l], fan_out, n)
        code, param = (IDENTITY, 0.0) if l == n_layers - 1 else (codes[l], act_params[l])
        if l == 0:
            _dense_forward_fm(inputs, True, W, b, code, param, out)
        else:
            _dense_forward_fm(_view(acts, a_off[l - 1], fan_in, n), False, W, b, code, param, out)


def _forward_loss(inputs, targets, weights, params, net, ws, loss_code):
    """Forward pass and loss of a batch; leaves dLoss/dZ of the output layer in ``ws``."""
    sizes = net[0]
    acts, deltas, a_off, sample_loss = ws[0], ws[1], ws[2], ws[7]
    n = inputs.shape[0]
    n_layers = sizes.shape[0] - 1
    k, out_off = sizes[n_layers], a_off[n_layers - 1]
    if _FEATURE_MAJOR:
        # The loss kernel reads and writes sample-major rows: the logits go
        # through the output layer's delta buffer and the delta comes back
        # through its activation buffer (both n * k, small: k outputs).
        _forward_feature_major(inputs, params, net, ws)
        logits = _view(deltas, out_off, n, k)
        _transpose(_view(acts, out_off, k, n), logits)
        delta = _view(acts, out_off, n, k)
    else:
        logits = forward_pass(inputs, params, net, ws, False, loss_code)
        delta = _view(deltas, out_off, n, k)
    if _PARALLEL and logits.size >= _PARALLEL_MIN:
        loss = _loss_p(loss_code, logits, targets, weights, logits, delta, sample_loss[:n])
    else:
        loss = _loss_s(loss_code, logits, targets, weights, logits, delta, sample_loss[:n])
    if _FEATURE_MAJOR:
        _transpose(delta, _view(deltas, out_off, k, n))
    return loss


def _backward(inputs, params, grads, net, ws, lr, decay):
    """Backpropagation after :func:`_forward_loss`: gradients into ``grads`` (``lr`` 0),
    or with ``lr > 0`` the plain SGD step applied layer by layer (see ``dense_backward``).
    """
    sizes, w_off, b_off, codes, act_params = net
    acts, deltas, a_off = ws[0], ws[1], ws[2]
    n = inputs.shape[0]
    for l in range(sizes.shape[0] - 2, -1, -1):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        W = _view(params, w_off[l], fan_in, fan_out)
        b = params[b_off[l]:b_off[l] + fan_out]
        dW = _view(grads, w_off[l], fan_in, fan_out)
        db = grads[b_off[l]:b_off[l] + fan_out]
        # One call site for every layer, so the backward kernel compiles once;
        # the first layer's input needs no gradient (propagate is False).
        propagate = l > 0
        below_l = max(l - 1, 0)
        if _FEATURE_MAJOR:
            delta = _view(deltas, a_off[l], fan_out, n)
            below = _view(acts, a_off[l - 1], fan_in, n) if propagate else inputs
            delta_below = _view(deltas, a_off[l - 1], fan_in, n) if propagate else delta
            _dense_backward_fm(below, not propagate, W, b, delta, dW, db, delta_below,
                               codes[below_l], act_params[below_l], propagate, lr, decay)
        else:
            delta = _view(deltas, a_off[l], n, fan_out)
            below = _view(acts, a_off[l - 1], n, fan_in) if propagate else inputs
            delta_below = _view(deltas, a_off[l - 1], n, fan_in) if propagate else delta
            _dense_backward(below, W, b, delta, dW, db, delta_below, codes[below_l],
                            act_params[below_l], propagate, lr, decay)


@helper
def squared_norm(values, n):
    """sum(values[:n] ** 2), accumulated in float64 in index order."""
    total = 0.0
    for i in range(n):
        v = np.float64(values[i])  # float() of a float32 stays float32 in Numba
        total += v * v
    return total


@inline_helper
def serial_step(optimizer, params, grads, state1, state2, hyper, t, decay, n_decay):
    """One update of ``params`` by the serial kernel of ``optimizer`` (a code of
    ``OPTIMIZER_CODES``; ``hyper`` as in :func:`train_epoch_gathered`, ``t`` Adam's step
    number, from 1), L2 ``decay`` on ``params[:n_decay]``."""
    if optimizer == SGD:
        _sgd_s(params, grads, hyper[0], decay, n_decay)
    elif optimizer == MOMENTUM:
        _momentum_s(params, grads, state1, hyper[0], hyper[1], hyper[2] != 0.0, decay, n_decay)
    else:
        _adam_s(params, grads, state1, state2, hyper[0], hyper[3], hyper[4], hyper[5], t, decay,
                n_decay)


def _train_step(inputs, targets, weights, params, grads, net, ws, loss_code, hyper, state1,
                state2, t, n_weights, w_sq, fuse):
    """Loss, gradient and update of one batch; returns (loss, t, new ||W||^2).

    The loss is NaN/inf-checked before the update: a non-finite loss leaves
    the parameters untouched.  A batch whose weights are all 0 is skipped
    (loss 0, no update, ``grads`` untouched).  With ``fuse``, plain SGD
    applies its step inside the backward pass (``grads`` then keeps an older
    gradient).
    """
    lr, momentum, nesterov = hyper[0], hyper[1], hyper[2] != 0.0
    beta1, beta2, eps, alpha, loss_scale = hyper[3], hyper[4], hyper[5], hyper[6], hyper[7]
    scale = 0.0
    for i in range(weights.shape[0]):
        scale += np.float64(weights[i])  # float64 also when run as Python (stepwise)
    if scale == 0.0:  # all its sample weights 0: no information, no step (the mean is 0 / 0)
        return 0.0, t, w_sq
    loss = _forward_loss(inputs, targets, weights, params, net, ws, loss_code) * loss_scale
    decay = hyper[8]  # the optimizer's own weight decay (not part of the loss)
    if alpha > 0.0:
        loss += 0.5 * alpha * w_sq / scale
        decay += alpha / scale
    if not math.isfinite(loss):
        return loss, t, w_sq
    step_lr = lr if _OPTIMIZER == SGD and fuse and lr > 0.0 else 0.0
    _backward(inputs, params, grads, net, ws, step_lr, decay)
    big = _PARALLEL and params.size >= _PARALLEL_MIN
    if step_lr > 0.0:
        pass  # applied by _backward
    elif _OPTIMIZER == SGD:
        if big:
            _sgd_p(params, grads, lr, decay, n_weights)
        else:
            _sgd_s(params, grads, lr, decay, n_weights)
    elif _OPTIMIZER == MOMENTUM:
        if big:
            _momentum_p(params, grads, state1, lr, momentum, nesterov, decay, n_weights)
        else:
            _momentum_s(params, grads, state1, lr, momentum, nesterov, decay, n_weights)
    else:
        t += 1
        if big:
            _adam_p(params, grads, state1, state2, lr, beta1, beta2, eps, t, decay, n_weights)
        else:
            _adam_s(params, grads, state1, state2, lr, beta1, beta2, eps, t, decay, n_weights)
    if alpha > 0.0:
        w_sq = squared_norm(params, n_weights)
    return loss, t, w_sq


def train_epoch_gathered(X, Y, sample_weight, has_weights, order, batch_size, params, grads,
                         net, ws, loss_code, hyper, state1, state2, t, n_weights):
    """One epoch of mini-batch gradient descent, batches gathered from ``X`` in ``order``.

    Parameters
    ----------
    X : (n_samples, sizes[0]); Y : (n_samples, sizes[-1]); params' dtype, any
        layout (may be read-only, e.g. a memory map): batches are gathered into
        the workspace, so the compiled step is the same for every ``X``.
    sample_weight : (n_samples,), read only if ``has_weights``
    order : (m,) int64 row indices, visited in this order
    batch_size : int
    hyper : (11,) float64: lr, momentum, nesterov (0/1), beta1, beta2, eps,
        alpha (L2 as in scikit-learn: ``alpha/2 ||W||^2 / s`` added to each
        batch loss and ``alpha W / s`` to the weights' gradient, ``s`` the
        batch's total weight), loss_scale (factor on the reported data loss),
        weight_decay (the optimizer's fixed L2 coefficient on the weights'
        gradient, not added to the loss), kept (the row offset, in this
        call's ``order``, of the start of the batch that leaves its gradient
        in ``grads``: plain SGD does not fuse its step there, and fuses it
        everywhere else; -1: no batch of this call.  The caller gives the
        epoch's last batch whose weights are not all 0, in whatever call of
        an epoch cut into calls it falls, so that ``grads`` holds the
        gradient of the last step for every optimizer and the epoch gives
        the same bits however it is cut),
        total (the epoch's loss sum before this call, to which its batches
        add: an epoch cut into calls then sums its loss in one call's order)
    state1, state2 : (P,) optimizer state (velocity; Adam's m and v), modified
    t : int, Adam's step count before this epoch
    n_weights : int, the weights are ``params[:n_weights]``

    Returns
    -------
    total : float
        ``hyper[10]`` plus the sum over batches of batch loss times batch size.
    t : int
        Adam's step count after the epoch.
    status : int
        0 done; 1 a batch loss was NaN/inf (stopped before that batch's
        update); 2 a gathered batch of X held NaN/inf (stopped, no update).
    """
    xbuf, ybuf, wbuf, ones = ws[3], ws[4], ws[5], ws[6]
    d, k = X.shape[1], Y.shape[1]
    w_sq = squared_norm(params, n_weights) if hyper[6] > 0.0 else 0.0
    kept = int(hyper[9])
    total = hyper[10]
    for start in range(0, order.shape[0], batch_size):
        stop = min(start + batch_size, order.shape[0])
        n = stop - start
        rows = order[start:stop]
        inputs = xbuf[:n * d].reshape((n, d))
        targets = ybuf[:n * k].reshape((n, k))
        if _PARALLEL and n * d >= _PARALLEL_MIN:
            n_bad = _gather_p(X, rows, inputs)
        else:
            n_bad = _gather_s(X, rows, inputs)
        if n_bad:
            return total, t, 2
        _gather_s(Y, rows, targets)
        weights = wbuf[:n]
        for i in range(n):
            weights[i] = sample_weight[rows[i]] if has_weights else ones[i]
        # Plain SGD fuses its step into the backward pass except on the epoch's
        # last weighted batch, so that ``grads`` holds the last step's gradient.
        loss, t, w_sq = _train_step(inputs, targets, weights, params, grads, net, ws, loss_code,
                                    hyper, state1, state2, t, n_weights, w_sq, start != kept)
        if not math.isfinite(loss):
            return total, t, 1
        total += loss * n
    return total, t, 0


def train_epoch_in_order(X, Y, sample_weight, has_weights, batch_size, params, grads, net, ws,
                         loss_code, hyper, state1, state2, t, n_weights):
    """One epoch over the rows of ``X`` in sequence, batches as zero-copy slices.

    As :func:`train_epoch_gathered` without ``order``; ``X`` and ``Y`` must be
    C-contiguous (read-only allowed) and checked for NaN/inf by the caller.
    """
    n_total = X.shape[0]
    ones = ws[6]
    w_sq = squared_norm(params, n_weights) if hyper[6] > 0.0 else 0.0
    kept = int(hyper[9])  # the batch plain SGD does not fuse (see train_epoch_gathered)
    total = hyper[10]
    for start in range(0, n_total, batch_size):
        stop = min(start + batch_size, n_total)
        weights = sample_weight[start:stop] if has_weights else ones[:stop - start]
        loss, t, w_sq = _train_step(X[start:stop], Y[start:stop], weights, params, grads, net,
                                    ws, loss_code, hyper, state1, state2, t, n_weights, w_sq,
                                    start != kept)
        if not math.isfinite(loss):
            return total, t, 1
        total += loss * (stop - start)
    return total, t, 0


def matrix_products(params, grads, net, ws, n, n_batches):
    """The matrix products of ``n_batches`` training steps of ``n`` rows, and nothing else.

    For ``fastnn.profile``: per batch, each layer's forward product, then
    from the last layer down its input gradient (all layers but the first)
    and its weight gradient (into ``grads``; ``params`` are only read), as
    the fused epoch orders them, through the same BLAS, in the family's
    layout, on the workspace's current inputs, activations and deltas.
    Their time is a floor for a training epoch with this BLAS and thread
    count.  Returns the last product's status (0: all ran; see ``blas.gemm``).
    """
    if _FEATURE_MAJOR:
        return _matrix_products_feature_major(params, grads, net, ws, n, n_batches)
    sizes, w_off = net[0], net[1]
    acts, deltas, a_off, xbuf = ws[0], ws[1], ws[2], ws[3]
    n_layers = sizes.shape[0] - 1
    inputs = _view(xbuf, 0, n, sizes[0])
    status = 0
    for _ in range(n_batches):
        for l in range(n_layers):
            below = inputs if l == 0 else _view(acts, a_off[l - 1], n, sizes[l])
            status = gemm(below, False, _view(params, w_off[l], sizes[l], sizes[l + 1]), False,
                          _view(acts, a_off[l], n, sizes[l + 1]), 1.0, 0.0)
        for l in range(n_layers - 1, -1, -1):
            below = inputs if l == 0 else _view(acts, a_off[l - 1], n, sizes[l])
            delta = _view(deltas, a_off[l], n, sizes[l + 1])
            if l > 0:
                status = gemm(delta, False, _view(params, w_off[l], sizes[l], sizes[l + 1]),
                              True, _view(deltas, a_off[l - 1], n, sizes[l]), 1.0, 0.0)
            status = gemm(below, True, delta, False,
                          _view(grads, w_off[l], sizes[l], sizes[l + 1]), 1.0, 0.0)
    return status


def _matrix_products_feature_major(params, grads, net, ws, n, n_batches):
    """:func:`matrix_products` with feature-major activations and deltas."""
    sizes, w_off = net[0], net[1]
    acts, deltas, a_off, xbuf = ws[0], ws[1], ws[2], ws[3]
    n_layers = sizes.shape[0] - 1
    inputs = _view(xbuf, 0, n, sizes[0])
    status = 0
    for _ in range(n_batches):
        for l in range(n_layers):
            W = _view(params, w_off[l], sizes[l], sizes[l + 1])
            out = _view(acts, a_off[l], sizes[l + 1], n)
            if l == 0:
                status = gemm(W, True, inputs, True, out, 1.0, 0.0)
            else:
                status = gemm(W, True, _view(acts, a_off[l - 1], sizes[l], n), False, out, 1.0,
                              0.0)
        for l in range(n_layers - 1, -1, -1):
            delta = _view(deltas, a_off[l], sizes[l + 1], n)
            dW = _view(grads, w_off[l], sizes[l], sizes[l + 1])
            if l > 0:
                status = gemm(_view(params, w_off[l], sizes[l], sizes[l + 1]), False, delta,
                              False, _view(deltas, a_off[l - 1], sizes[l], n), 1.0, 0.0)
                status = gemm(_view(acts, a_off[l - 1], sizes[l], n), False, delta, True, dW,
                              1.0, 0.0)
            else:
                status = gemm(inputs, True, delta, True, dW, 1.0, 0.0)
    return status


# Inlined into their callers at Numba IR level: each compiled function links
# and re-optimises the machine code of everything it calls, so a deep call
# chain compiles the leaf kernels' code once per level (measured: -20 % CPU
# time for a cold first fit).  Called from Python they are ordinary functions.
_INLINE = [_view, _dense_forward, _dense_backward, _dense_forward_fm, _dense_backward_fm,
           _transpose, forward_pass, forward_layers, _forward_feature_major, _forward_loss,
           _backward, loss_and_gradient, _train_step]
_FAMILY = _INLINE + [train_epoch_gathered, train_epoch_in_order, matrix_products,
                     _matrix_products_feature_major]
_SERIAL_ONLY = {"_PARALLEL": False, "_forward_p": _forward_s, "_backward_p": _backward_s,
                "_forward_fm_p": _forward_fm_s, "_backward_fm_p": _backward_fm_s,
                "_transpose_p": _transpose_s, "_loss_p": _loss_s, "_output_p": _output_s,
                "_gather_p": _gather_s, "_sgd_p": _sgd_s, "_momentum_p": _momentum_s,
                "_adam_p": _adam_s}
_LAYOUTS = {False: "", True: "_feature_major"}
# One family per (thread mode, optimizer, layout): a family compiles only
# when first used, and the branches on the constants _OPTIMIZER and
# _FEATURE_MAJOR that do not apply are pruned before typing, so a first fit
# compiles one update kernel, not three, and one layout's dense kernels.
_FAMILIES = {
    (parallel, code, fm): compile_family(
        _FAMILY, f"{'parallel' if parallel else 'serial'}_{name}{_LAYOUTS[fm]}",
        dict({} if parallel else _SERIAL_ONLY, _OPTIMIZER=code, _FEATURE_MAJOR=fm), _INLINE)
    for parallel in (True, False) for name, code in OPTIMIZER_CODES.items() for fm in _LAYOUTS}


# The same functions run as Python over the serial kernels: for jobs of a
# few batches, where compiling the fused epoch would cost more than it saves.
_STEPWISE = {(code, fm): python_family(_FAMILY, f"stepwise_{name}{_LAYOUTS[fm]}",
                                       dict(_SERIAL_ONLY, _OPTIMIZER=code, _FEATURE_MAJOR=fm))
             for name, code in OPTIMIZER_CODES.items() for fm in _LAYOUTS}


def family(parallel: bool, optimizer: int = SGD, feature_major: bool = False):
    """The compiled fused functions for a thread mode, an optimizer code and a layout.

    ``parallel`` False gives functions that call only serial kernels.  The
    forward pass and the loss/gradient do not depend on ``optimizer``;
    ``feature_major`` selects the layout of the training steps' activations
    (``forward_pass`` is sample-major in every family).
    """
    return _FAMILIES[parallel, optimizer, feature_major]


def stepwise(optimizer: int = SGD, feature_major: bool = False):
    """:func:`family`'s serial functions, run as Python: the same kernel calls, same results.

    Nothing compiles but the dense, loss, gather and update kernels (a cold
    first fit compiles in about half the time); each batch then pays about
    a microsecond per row of interpreter time (see ``fastnn.training``).
    """
    return _STEPWISE[optimizer, feature_major]


_forward_layers_serial = _FAMILIES[False, SGD, False].forward_layers
_count_nonfinite_s = count_nonfinite.serial


@kernel
def forward_in_blocks(inputs, params, net, acts, a_off, apply_output, loss_code, out, block_rows,
                      count_bad, next_block):
    """:func:`forward_pass` of ``inputs`` by blocks of ``block_rows`` rows, shared among threads.

    Each of the ``acts.shape[0]`` workers (one per thread) takes the next
    block from the counter ``next_block`` whenever it is free, and runs it
    through the serial forward pass in its own activation buffer: one-thread
    BLAS calls (the caller limits BLAS to one thread), so no BLAS thread pool
    to wake and wait for; a block's activations stay in the core's cache
    from one layer to the next; and a thread slowed by another process just
    takes fewer blocks.  The blocks start at multiples of ``block_rows``
    whoever runs them, so every thread count (and the serial variant) gives
    the same result.

    Parameters
    ----------
    inputs : (n, sizes[0])
    acts : (n_workers, block_rows * sum(sizes[1:])), one activation buffer per worker
    a_off : (L,) int64, layer l's offset in a worker's buffer (as ``ws[2]``)
    out : (n, sizes[-1]) (written)
    block_rows : int, rows per forward pass
    count_bad : bool, whether to count the NaN/inf entries of ``inputs``
        (a block's, only if its first layer's pre-activations hold NaN/inf:
        see ``dense_forward``; counting every block cost 5 % of W4)
    next_block : (1,) int64, zero on entry (the counter; left at n_blocks + n_workers)

    Returns
    -------
    int : the number of NaN/inf entries of ``inputs`` (0 unless ``count_bad``)
    """
    n = inputs.shape[0]
    n_blocks = (n + block_rows - 1) // block_rows
    n_bad = 0
    for worker in prange(acts.shape[0]):
        control_word = flush_subnormals()  # this thread's; given back below (see fpenv)
        block = fetch_add(next_block, 1)
        while block < n_blocks:
            start = block * block_rows
            rows = inputs[start:min(n, start + block_rows)]
            output, suspect = _forward_layers_serial(rows, params, net, acts[worker], a_off,
                                                     apply_output, loss_code)
            out[start:start + rows.shape[0]] = output
            if count_bad and suspect:  # else the block is finite: no pass over it
                n_bad += _count_nonfinite_s(rows)
            block = fetch_add(next_block, 1)
        restore(control_word)
    return n_bad
