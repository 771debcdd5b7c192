"""Parameter updates over one flat parameter vector.

All layers' weights and biases live in one contiguous vector, weights first:
``params[:n_decay]`` are the weights (L2-decayed), ``params[n_decay:]`` the
biases (not decayed, as in scikit-learn).  Every update is one ``prange`` loop
over that vector.  With ``weight_decay`` (L2 coefficient) ``lam``, the gradient
used is ``g_i + lam * p_i`` for ``i < n_decay`` and ``g_i`` otherwise.

The rules follow scikit-learn's ``SGDOptimizer`` and ``AdamOptimizer`` so
that fastnn can reproduce its training trajectories, with one difference:
optimizer state (velocity; Adam's m and v) smaller in magnitude than
``FLUSH_BELOW`` is set to 0.  The state of a weight whose gradient is 0 (a
dead ReLU unit) decays geometrically into subnormal numbers, and every
arithmetic operation on one costs a microcode assist: measured on W1 (Intel
Xeon, float32, Adam, batch 200, one thread) an epoch took 1.31 s once half of
m was subnormal against 0.59 s before.  The step such state contributes is
below ``lr * 1e-38 / eps``, i.e. nothing.

For the same reason Adam leaves intermediate results that would be subnormal
out: an ``m`` below ``FLUSH_BELOW / lr_t`` moves nothing (``lr_t * m`` would
be subnormal; ``m`` itself is kept), and a gradient whose ``(1 - b2) g^2``
would be subnormal enters ``m`` but not ``v``.  The flush above let every
``m`` of a dying unit pass through the first band for about 65 steps: in W1's
second epoch (float32, batch 128) 100,000 of them did, and the epoch took
1.02 s against 0.73 s on one thread; 100,000 updates with every ``m`` at
1e-37 took 1 ms against 0.06 ms.  Five such epochs end with the same
parameters to the bit either way.

Like every training kernel, the updates run with subnormal numbers flushed to
zero (``fpenv``; each thread's control word is set for each block of the
vector it updates and given back after it): ``Optimizer.step()`` after
``loss_and_gradient`` then gives the bits of the fused epochs, which flush on
their threads (a step of 1e-39 leaves a weight of 0 at 0, not at -1e-39).
"""
from __future__ import annotations

import math

from numba import prange

from ._jit import inline_helper, kernel
from .fpenv import flush_subnormals, restore

#: Optimizer state below this magnitude is stored as 0 (float32's smallest normal number).
FLUSH_BELOW = 1.1754943508222875e-38
# Parameters per block of the prange loops.  Each block sets its thread's control word and
# gives it back (10 ns), and a parallel update (from 16,384 parameters in the fused epoch)
# has at least 16 blocks to share between the threads.
_BLOCK = 1024


@inline_helper
def _n_blocks(n):
    """Number of ``_BLOCK``-sized blocks of a vector of ``n`` parameters."""
    return (n + _BLOCK - 1) // _BLOCK


@inline_helper
def _block_bounds(block, n, n_decay):
    """(start, mid, stop): block ``block`` is ``[start, stop)``, its decayed part
    ``[start, mid)``.  Each part is updated as a slice indexed from 0: indexed from
    ``start``, Numba kept its negative-index check and the loop did not vectorize (4-5x
    slower); the two parts, each without a per-element branch, made Adam's serial update
    of W1's 235,146 float32 parameters 10-13 % faster than one loop over the vector."""
    start = block * _BLOCK
    stop = min(n, start + _BLOCK)
    return start, min(max(n_decay, start), stop), stop


@kernel
def sgd_update(params, grads, lr, weight_decay, n_decay):
    """Plain gradient descent: ``p <- p - lr * g``.

    Parameters
    ----------
    params : ndarray, shape (P,), float32 or float64 (modified)
    grads : ndarray, shape (P,), same dtype
    lr : float, learning rate
    weight_decay : float, L2 coefficient applied to ``params[:n_decay]``
    n_decay : int, number of leading parameters that are decayed
    """
    lr_ = params.dtype.type(lr)
    lam = params.dtype.type(weight_decay)
    for block in prange(_n_blocks(params.shape[0])):
        control_word = flush_subnormals()  # this thread's; given back below (see fpenv)
        start, mid, stop = _block_bounds(block, params.shape[0], n_decay)
        _sgd_part(params[start:mid], grads[start:mid], lr_, lam, True)
        _sgd_part(params[mid:stop], grads[mid:stop], lr_, lam, False)
        restore(control_word)


@inline_helper
def _sgd_part(params, grads, lr, lam, decayed):
    """:func:`sgd_update` of a part of a block (``decayed``: with weight decay ``lam``)."""
    for i in range(params.shape[0]):
        g = grads[i] + lam * params[i] if decayed else grads[i]
        params[i] -= lr * g


@kernel
def momentum_update(params, grads, velocity, lr, momentum, nesterov, weight_decay, n_decay):
    """Heavy-ball or Nesterov momentum (scikit-learn's formulation).

    ``v <- mu v - lr g``; then ``p <- p + v`` (heavy ball) or
    ``p <- p + mu v - lr g`` (Nesterov, with the updated ``v``).

    Parameters
    ----------
    params, grads : ndarray, shape (P,), float32 or float64 (params modified)
    velocity : ndarray, shape (P,), same dtype (modified; zeros at the start)
    lr, momentum : float
    nesterov : bool
    weight_decay, n_decay : see :func:`sgd_update`
    """
    lr_ = params.dtype.type(lr)
    mu = params.dtype.type(momentum)
    lam = params.dtype.type(weight_decay)
    flush = params.dtype.type(FLUSH_BELOW)
    for block in prange(_n_blocks(params.shape[0])):  # as in sgd_update
        control_word = flush_subnormals()
        start, mid, stop = _block_bounds(block, params.shape[0], n_decay)
        _momentum_part(params[start:mid], grads[start:mid], velocity[start:mid], lr_, mu,
                       nesterov, lam, flush, True)
        _momentum_part(params[mid:stop], grads[mid:stop], velocity[mid:stop], lr_, mu,
                       nesterov, lam, flush, False)
        restore(control_word)


@inline_helper
def _momentum_part(params, grads, velocity, lr, mu, nesterov, lam, flush, decayed):
    """:func:`momentum_update` of a part of a block (``decayed``: with weight decay)."""
    zero = flush - flush
    for i in range(params.shape[0]):
        g = grads[i] + lam * params[i] if decayed else grads[i]
        v = mu * velocity[i] - lr * g
        v = zero if abs(v) < flush else v  # NaN stays NaN
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - lr * g
        else:
            params[i] += v


@kernel
def adam_update(params, grads, m, v, lr, beta1, beta2, eps, t, weight_decay, n_decay):
    """Adam step ``t`` (1-based), bias correction folded into the step size.

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``;
    ``p <- p - lr_t m / (sqrt(v) + eps)`` with
    ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``.

    Parameters
    ----------
    params, grads : ndarray, shape (P,), float32 or float64 (params modified)
    m, v : ndarray, shape (P,), same dtype (modified; zeros at the start)
    lr, beta1, beta2, eps : float
    t : int, step number, starting at 1
    weight_decay, n_decay : see :func:`sgd_update`
    """
    dt = params.dtype.type
    lr_t = dt(lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t))
    b1 = dt(beta1)
    b2 = dt(beta2)
    eps_ = dt(eps)
    lam = dt(weight_decay)
    flush = dt(FLUSH_BELOW)
    # Below these, lr_t * m and (1 - b2) * g * g would be subnormal (see the module).
    step_flush = dt(FLUSH_BELOW / lr_t) if lr_t > 0.0 else flush
    square_flush = dt(math.sqrt(FLUSH_BELOW / (1.0 - beta2))) if beta2 < 1.0 else flush
    for block in prange(_n_blocks(params.shape[0])):  # as in sgd_update
        control_word = flush_subnormals()
        start, mid, stop = _block_bounds(block, params.shape[0], n_decay)
        _adam_part(params[start:mid], grads[start:mid], m[start:mid], v[start:mid], lr_t, b1,
                   b2, eps_, lam, flush, step_flush, square_flush, True)
        _adam_part(params[mid:stop], grads[mid:stop], m[mid:stop], v[mid:stop], lr_t, b1, b2,
                   eps_, lam, flush, step_flush, square_flush, False)
        restore(control_word)


@inline_helper
def _adam_part(params, grads, m, v, lr_t, b1, b2, eps, lam, flush, step_flush, square_flush,
               decayed):
    """:func:`adam_update` of a part of a block (``decayed``: with weight decay ``lam``)."""
    one = params.dtype.type(1)
    zero = one - one
    for i in range(params.shape[0]):
        g = grads[i] + lam * params[i] if decayed else grads[i]
        g_v = zero if abs(g) < square_flush else g  # NaN stays NaN
        mi = b1 * m[i] + (one - b1) * g
        vi = b2 * v[i] + (one - b2) * g_v * g_v
        mi = zero if abs(mi) < flush else mi
        vi = zero if vi < flush else vi
        m[i] = mi
        v[i] = vi
        m_step = zero if abs(mi) < step_flush else mi
        params[i] -= lr_t * m_step / (math.sqrt(vi) + eps)
