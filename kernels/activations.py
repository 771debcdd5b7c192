"""Activation functions: forward, derivative, in place and fused with the bias add.

Every activation is identified by a small integer code (``ACTIVATION_CODES``)
and one real parameter ``param``: the sigmoid's shape ``a`` in
``1 / (1 + exp(-a x))``, the leaky ReLU's negative slope (must be >= 0), and
ignored by the others.  One compiled version per dtype serves all activations.

Derivatives are computed from the activation's *output* ``A = f(Z)``; this is
exact for every function here and lets the forward pass overwrite ``Z`` with
``A`` (half the memory, one pass fewer):

=============  ==========================  ===========================
activation     f(z)                        f'(z) written with A = f(z)
=============  ==========================  ===========================
identity       z                           1
step           1 if z >= 0 else 0          0
sigmoid        1 / (1 + exp(-a z))         a A (1 - A)
tanh           tanh(z)                     1 - A^2
relu           max(z, 0)                   1 if A > 0 else 0
leaky_relu     z if z > 0 else s z         1 if A > 0 else s   (s >= 0)
softplus       log(1 + exp(z))             1 - exp(-A)
=============  ==========================  ===========================
"""
from __future__ import annotations

import math

import numpy as np

from numba import prange

from ._jit import helper, kernel

IDENTITY, STEP, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTPLUS = range(7)

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "step": STEP,
    "sigmoid": SIGMOID,
    "logistic": SIGMOID,  # scikit-learn's name
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "softplus": SOFTPLUS,
}


@helper
def activate(z, code, param):
    """f(z) for one scalar, numerically stable for |z| up to 1e4 in either dtype.

    ``param`` must already have z's dtype; the constants are derived from it
    (not from z, which may be infinite).
    """
    zero = param - param
    one = zero + np.float32(1)  # a float32 1 keeps float32 in float32 (int 1: float64)
    if code == IDENTITY:
        return z
    if code == STEP:
        return one if z >= zero else zero
    if code == SIGMOID:
        t = param * z
        if t >= zero:
            return one / (one + math.exp(-t))
        e = math.exp(t)
        return e / (one + e)
    if code == TANH:
        return math.tanh(z)
    if code == RELU:
        return z if z > zero else zero
    if code == LEAKY_RELU:
        return z if z > zero else param * z
    if code == SOFTPLUS:
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows.
        return max(z, zero) + math.log1p(math.exp(-abs(z)))
    # unknown code: poison the result rather than guess (a float32 NaN: math.nan, a
    # float64, made every return of a float32 call float64)
    return z + np.float32(math.nan)


@helper
def derivative_from_output(a, code, param):
    """f'(z) for one scalar, given the activation's output ``a = f(z)`` (``param`` as in activate)."""
    zero = param - param
    one = zero + np.float32(1)  # a float32 1 keeps float32 in float32 (int 1: float64)
    if code == IDENTITY:
        return one
    if code == STEP:
        return zero
    if code == SIGMOID:
        return param * a * (one - a)
    if code == TANH:
        return one - a * a
    if code == RELU:
        return one if a > zero else zero
    if code == LEAKY_RELU:
        return one if a > zero else param
    if code == SOFTPLUS:
        return -math.expm1(-a)
    return a + np.float32(math.nan)  # as in activate


@kernel
def activation_forward(Z, code, param, out):
    """``out = f(Z)`` elementwise.

    Parameters
    ----------
    Z : ndarray, shape (n, m), float32 or float64, C-contiguous
    code : int, one of ``ACTIVATION_CODES``
    param : float, sigmoid shape ``a`` or leaky-ReLU slope
    out : ndarray, shape (n, m), same dtype as ``Z`` (modified; may be ``Z``)
    """
    p = Z.dtype.type(param)
    for i in prange(Z.shape[0]):
        for j in range(Z.shape[1]):
            out[i, j] = activate(Z[i, j], code, p)


@kernel
def bias_activation_forward_inplace(Z, b, code, param):
    """``Z = f(Z + b)`` in place, the bias broadcast over rows.

    Parameters
    ----------
    Z : ndarray, shape (n, m), float32 or float64, C-contiguous (modified)
    b : ndarray, shape (m,), same dtype
    code, param : see :func:`activation_forward`
    """
    p = Z.dtype.type(param)
    for i in prange(Z.shape[0]):
        for j in range(Z.shape[1]):
            Z[i, j] = activate(Z[i, j] + b[j], code, p)


@kernel
def activation_derivative(A, code, param, out):
    """``out = f'(Z)`` elementwise, computed from the output ``A = f(Z)``.

    Parameters
    ----------
    A : ndarray, shape (n, m), float32 or float64, the activation's output
    code, param : see :func:`activation_forward`
    out : ndarray, shape (n, m), same dtype (modified; may be ``A``)
    """
    p = A.dtype.type(param)
    for i in prange(A.shape[0]):
        for j in range(A.shape[1]):
            out[i, j] = derivative_from_output(A[i, j], code, p)


@kernel
def activation_backward_inplace(delta, A, code, param):
    """``delta *= f'(Z)`` in place, with ``f'`` computed from ``A = f(Z)``.

    Parameters
    ----------
    delta : ndarray, shape (n, m), float32 or float64 (modified)
    A : ndarray, shape (n, m), same dtype, the layer's activation output
    code, param : see :func:`activation_forward`
    """
    p = A.dtype.type(param)
    for i in prange(A.shape[0]):
        for j in range(A.shape[1]):
            delta[i, j] *= derivative_from_output(A[i, j], code, p)
