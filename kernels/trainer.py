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
    entry is used for inference only) and ``act_params`` (L,) float64.
``ws = (acts, deltas, a_off, xbuf, ybuf, wbuf, ones, sample_loss)``
    Scratch for ``capacity`` rows: ``acts``/``deltas`` flat, layer ``l`` at
    ``a_off[l]`` (= capacity * sum(sizes[1:l+1])); gathered inputs, targets,
    weights; a vector of ones; per-sample losses.

Every function takes ``parallel`` first: True runs the ``prange`` variants
of the kernels it calls, False their serial variants (the API decides; see
``fastnn._config``).  Matrices of fewer than ``_PARALLEL_MIN`` elements always
use the serial variants: waking the thread pool costs more than it saves.
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import helper
from .activations import IDENTITY
from .data import gather_rows
from .dense import dense_backward, dense_forward
from .losses import SOFTMAX_CROSS_ENTROPY, loss_forward_backward, output_forward_inplace
from .optimizers import adam_update, momentum_update, sgd_update

SGD, MOMENTUM, ADAM = range(3)
OPTIMIZER_CODES = {"sgd": SGD, "momentum": MOMENTUM, "adam": ADAM}

_PARALLEL_MIN = 1 << 14

# Numba resolves module-level dispatchers at compile time.
_forward_p, _forward_s = dense_forward.parallel, dense_forward.serial
_backward_p, _backward_s = dense_backward.parallel, dense_backward.serial
_loss_p, _loss_s = loss_forward_backward.parallel, loss_forward_backward.serial
_output_p, _output_s = output_forward_inplace.parallel, output_forward_inplace.serial
_gather_p, _gather_s = gather_rows.parallel, gather_rows.serial
_sgd_p, _sgd_s = sgd_update.parallel, sgd_update.serial
_momentum_p, _momentum_s = momentum_update.parallel, momentum_update.serial
_adam_p, _adam_s = adam_update.parallel, adam_update.serial


@helper
def _view(flat, offset, rows, cols):
    """Rows x cols C-contiguous view of ``flat[offset:]``."""
    return flat[offset:offset + rows * cols].reshape((rows, cols))


@helper
def _dense_forward(parallel, below, W, b, code, param, out):
    if parallel and out.size >= _PARALLEL_MIN:
        _forward_p(below, W, b, code, param, out)
    else:
        _forward_s(below, W, b, code, param, out)


@helper
def _dense_backward(parallel, below, W, delta, dW, db, delta_below, code, param, propagate):
    if parallel and max(below.size, delta.size) >= _PARALLEL_MIN:
        _backward_p(below, W, delta, dW, db, delta_below, code, param, propagate)
    else:
        _backward_s(below, W, delta, dW, db, delta_below, code, param, propagate)


@helper
def forward_pass(parallel, inputs, params, net, ws, apply_output, loss_code):
    """Forward pass of the n rows of ``inputs``; returns the output layer's (n, k) view.

    With ``apply_output`` the output holds the output activation (sigmoid
    via ``codes[-1]``, softmax by a row pass), otherwise the logits.
    ``inputs`` may be read-only; it is only passed to the first layer (so
    that its type never mixes with the writable buffers').
    """
    sizes, w_off, b_off, codes, act_params = net
    acts, a_off = ws[0], ws[2]
    n = inputs.shape[0]
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        W = _view(params, w_off[l], fan_in, fan_out)
        b = params[b_off[l]:b_off[l] + fan_out]
        out = _view(acts, a_off[l], n, fan_out)
        code, param = codes[l], act_params[l]
        if l == n_layers - 1 and not apply_output:
            code, param = IDENTITY, 0.0
        if l == 0:
            _dense_forward(parallel, inputs, W, b, code, param, out)
        else:
            _dense_forward(parallel, _view(acts, a_off[l - 1], n, fan_in), W, b, code, param, out)
    output = _view(acts, a_off[n_layers - 1], n, sizes[n_layers])
    if apply_output and loss_code == SOFTMAX_CROSS_ENTROPY:
        if parallel and output.size >= _PARALLEL_MIN:
            _output_p(loss_code, output)
        else:
            _output_s(loss_code, output)
    return output


@helper
def loss_and_gradient(parallel, inputs, targets, weights, params, grads, net, ws, loss_code,
                      gradient):
    """Mean loss of a batch and (if ``gradient``) its gradient written into ``grads``.

    Parameters
    ----------
    inputs : (n, sizes[0]); targets : (n, sizes[-1]); weights : (n,) non-negative
    params, grads : (P,) flat vectors, same layout
    """
    sizes, w_off, b_off, codes, act_params = net
    acts, deltas, a_off, sample_loss = ws[0], ws[1], ws[2], ws[7]
    n = inputs.shape[0]
    n_layers = sizes.shape[0] - 1
    logits = forward_pass(parallel, inputs, params, net, ws, False, loss_code)
    delta = _view(deltas, a_off[n_layers - 1], n, sizes[n_layers])
    if parallel and logits.size >= _PARALLEL_MIN:
        loss = _loss_p(loss_code, logits, targets, weights, logits, delta, sample_loss[:n])
    else:
        loss = _loss_s(loss_code, logits, targets, weights, logits, delta, sample_loss[:n])
    if not gradient:
        return loss
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = sizes[l], sizes[l + 1]
        W = _view(params, w_off[l], fan_in, fan_out)
        dW = _view(grads, w_off[l], fan_in, fan_out)
        db = grads[b_off[l]:b_off[l] + fan_out]
        delta = _view(deltas, a_off[l], n, fan_out)
        if l > 0:
            _dense_backward(parallel, _view(acts, a_off[l - 1], n, fan_in), W, delta, dW, db,
                            _view(deltas, a_off[l - 1], n, fan_in), codes[l - 1],
                            act_params[l - 1], True)
        else:  # the input needs no gradient
            _dense_backward(parallel, inputs, W, delta, dW, db, delta, IDENTITY, 0.0, False)
    return loss


@helper
def _squared_norm(values, n):
    """sum(values[:n] ** 2), accumulated in float64 in index order."""
    total = 0.0
    for i in range(n):
        v = np.float64(values[i])  # float() of a float32 stays float32 in Numba
        total += v * v
    return total


@helper
def _train_step(parallel, inputs, targets, weights, params, grads, net, ws, loss_code, optimizer,
                hyper, state1, state2, t, n_weights, w_sq):
    """Loss, gradient and update of one batch; returns (loss, t, new ||W||^2).

    The loss is NaN/inf-checked before the update: a non-finite loss leaves
    the parameters untouched.
    """
    lr, momentum, nesterov = hyper[0], hyper[1], hyper[2] != 0.0
    beta1, beta2, eps, alpha, loss_scale = hyper[3], hyper[4], hyper[5], hyper[6], hyper[7]
    scale = 0.0
    for i in range(weights.shape[0]):
        scale += weights[i]
    loss = loss_and_gradient(parallel, inputs, targets, weights, params, grads, net, ws,
                             loss_code, True) * loss_scale
    decay = hyper[8]  # the optimizer's own weight decay (not part of the loss)
    if alpha > 0.0:
        loss += 0.5 * alpha * w_sq / scale
        decay += alpha / scale
    if not math.isfinite(loss):
        return loss, t, w_sq
    big = parallel and params.size >= _PARALLEL_MIN
    if optimizer == SGD:
        if big:
            _sgd_p(params, grads, lr, decay, n_weights)
        else:
            _sgd_s(params, grads, lr, decay, n_weights)
    elif optimizer == MOMENTUM:
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
        w_sq = _squared_norm(params, n_weights)
    return loss, t, w_sq


@helper
def train_epoch(parallel, X, Y, sample_weight, has_weights, order, has_order, batch_size,
                params, grads, net, ws, loss_code, optimizer, hyper, state1, state2, t, n_weights):
    """One epoch of mini-batch gradient descent over validated data.

    Parameters
    ----------
    X : (n_samples, sizes[0]); Y : (n_samples, sizes[-1]); C-contiguous, params' dtype
        (may be read-only, e.g. a memory map)
    sample_weight : (n_samples,), read only if ``has_weights``
    order : (m,) int64 row indices visited in this order (batches gathered),
        read only if ``has_order``; otherwise rows are visited in sequence
        through zero-copy slices.
    batch_size : int
    optimizer : int, one of ``OPTIMIZER_CODES``
    hyper : (9,) float64: lr, momentum, nesterov (0/1), beta1, beta2, eps,
        alpha (L2 as in scikit-learn: ``alpha/2 ||W||^2 / s`` added to each
        batch loss and ``alpha W / s`` to the weights' gradient, ``s`` the
        batch's total weight), loss_scale (factor on the reported data loss),
        weight_decay (the optimizer's fixed L2 coefficient on the weights'
        gradient, not added to the loss)
    state1, state2 : (P,) optimizer state (velocity; Adam's m and v), modified
    t : int, Adam's step count before this epoch
    n_weights : int, the weights are ``params[:n_weights]``

    Returns
    -------
    total : float
        Sum over batches of batch loss times batch size.
    t : int
        Adam's step count after the epoch.
    status : int
        0 done; 1 a batch loss was NaN/inf (stopped before that batch's
        update); 2 a gathered batch of X held NaN/inf (stopped, no update).
    """
    xbuf, ybuf, wbuf, ones = ws[3], ws[4], ws[5], ws[6]
    d, k = X.shape[1], Y.shape[1]
    n_total = order.shape[0] if has_order else X.shape[0]
    w_sq = _squared_norm(params, n_weights) if hyper[6] > 0.0 else 0.0
    total = 0.0
    for start in range(0, n_total, batch_size):
        stop = min(start + batch_size, n_total)
        n = stop - start
        # The two branches call _train_step with different array types (the
        # data may be read-only, the gathered buffers never are).
        if has_order:
            rows = order[start:stop]
            inputs = _view(xbuf, 0, n, d)
            targets = _view(ybuf, 0, n, k)
            if parallel and n * d >= _PARALLEL_MIN:
                n_bad = _gather_p(X, rows, inputs)
            else:
                n_bad = _gather_s(X, rows, inputs)
            if n_bad:
                return total, t, 2
            _gather_s(Y, rows, targets)
            weights = wbuf[:n]
            for i in range(n):
                weights[i] = sample_weight[rows[i]] if has_weights else ones[i]
            loss, t, w_sq = _train_step(parallel, inputs, targets, weights, params, grads, net,
                                        ws, loss_code, optimizer, hyper, state1, state2, t,
                                        n_weights, w_sq)
        elif has_weights:
            loss, t, w_sq = _train_step(parallel, X[start:stop], Y[start:stop],
                                        sample_weight[start:stop], params, grads, net, ws,
                                        loss_code, optimizer, hyper, state1, state2, t,
                                        n_weights, w_sq)
        else:
            loss, t, w_sq = _train_step(parallel, X[start:stop], Y[start:stop], ones[:n], params,
                                        grads, net, ws, loss_code, optimizer, hyper, state1,
                                        state2, t, n_weights, w_sq)
        if not math.isfinite(loss):
            return total, t, 1
        total += loss * n
    return total, t, 0
