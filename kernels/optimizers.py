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
"""
from __future__ import annotations

import math

from numba import prange

from ._jit import kernel

#: Optimizer state below this magnitude is stored as 0 (float32's smallest normal number).
FLUSH_BELOW = 1.1754943508222875e-38


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
    for i in prange(params.shape[0]):
        g = grads[i] + lam * params[i] if i < n_decay else grads[i]
        params[i] -= lr_ * g


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
    zero = flush - flush
    for i in prange(params.shape[0]):
        g = grads[i] + lam * params[i] if i < n_decay else grads[i]
        v = mu * velocity[i] - lr_ * g
        v = zero if abs(v) < flush else v  # NaN stays NaN
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - lr_ * g
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
    one = dt(1)
    flush = dt(FLUSH_BELOW)
    # Below these, lr_t * m and (1 - b2) * g * g would be subnormal (see the module).
    step_flush = dt(FLUSH_BELOW / lr_t) if lr_t > 0.0 else flush
    square_flush = dt(math.sqrt(FLUSH_BELOW / (1.0 - beta2))) if beta2 < 1.0 else flush
    zero = one - one
    for i in prange(params.shape[0]):
        g = grads[i] + lam * params[i] if i < n_decay else grads[i]
        g_v = zero if abs(g) < square_flush else g  # NaN stays NaN
        mi = b1 * m[i] + (one - b1) * g
        vi = b2 * v[i] + (one - b2) * g_v * g_v
        mi = zero if abs(mi) < flush else mi
        vi = zero if vi < flush else vi
        m[i] = mi
        v[i] = vi
        m_step = zero if abs(mi) < step_flush else mi
        params[i] -= lr_t * m_step / (math.sqrt(vi) + eps_)
