"""Output layer and loss in one pass: activation, loss value and output delta.

Each loss pairs with the output activation that makes its gradient simple:

======================  ==================  ======================================
code                    output activation   loss of sample i (summed over outputs)
======================  ==================  ======================================
SQUARED_ERROR           identity            1/2 sum_j (z_ij - y_ij)^2
BINARY_CROSS_ENTROPY    sigmoid             sum_j softplus(z_ij) - y_ij z_ij
SOFTMAX_CROSS_ENTROPY   softmax             sum_j y_ij (logsumexp(z_i) - z_ij)
======================  ==================  ======================================

The loss is the weighted mean over samples, ``sum_i w_i l_i / sum_i w_i``,
and ``delta = dLoss/dZ = w_i (p_i * s_i - y_i) / sum_i w_i`` where ``p`` is the
output activation and ``s_i`` is 1 except for softmax with targets that do
not sum to one (``s_i = sum_j y_ij``).  Both cross-entropies are written in the
log-sum-exp form, so no ``log(0)`` or ``exp`` overflow for any finite logit.
"""
from __future__ import annotations

import math

import numpy as np

from numba import prange

from ._jit import helper, kernel
from .activations import SIGMOID, activate

SQUARED_ERROR, BINARY_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY = range(3)

LOSS_CODES = {
    "squared_error": SQUARED_ERROR,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "softmax_cross_entropy": SOFTMAX_CROSS_ENTROPY,
}

#: The output activation each loss implies.
OUTPUT_ACTIVATION = {
    SQUARED_ERROR: "identity",
    BINARY_CROSS_ENTROPY: "sigmoid",
    SOFTMAX_CROSS_ENTROPY: "softmax",
}


@helper
def loss_row(code, Z, Y, scale, out, delta, i):
    """Row ``i`` of :func:`loss_forward_backward`: its output activation and delta
    (``scale`` = the row's weight over the batch's total weight); returns its unweighted loss.
    """
    k = Z.shape[1]
    zero = Z.dtype.type(0)
    one = Z.dtype.type(1)
    sigmoid = np.int64(SIGMOID)  # not a literal: activate() compiles once, for int64 codes
    li = zero
    if code == SQUARED_ERROR:
        for j in range(k):
            r = Z[i, j] - Y[i, j]
            li += r * r
            out[i, j] = Z[i, j]
            delta[i, j] = scale * r
        li *= Z.dtype.type(0.5)
    elif code == BINARY_CROSS_ENTROPY:
        for j in range(k):
            z = Z[i, j]
            y = Y[i, j]
            li += max(z, zero) - y * z + math.log1p(math.exp(-abs(z)))
            p = activate(z, sigmoid, one)
            out[i, j] = p
            delta[i, j] = scale * (p - y)
    else:  # SOFTMAX_CROSS_ENTROPY
        zmax = Z[i, 0]
        for j in range(1, k):
            zmax = max(zmax, Z[i, j])
        norm = zero
        y_sum = zero
        y_dot_z = zero
        for j in range(k):
            norm += math.exp(Z[i, j] - zmax)
            y_sum += Y[i, j]
            y_dot_z += Y[i, j] * Z[i, j]
        log_norm = zmax + math.log(norm)
        li = y_sum * log_norm - y_dot_z
        for j in range(k):
            p = math.exp(Z[i, j] - log_norm)
            out[i, j] = p
            delta[i, j] = scale * (y_sum * p - Y[i, j])
    return li


@kernel
def loss_forward_backward(code, Z, Y, sample_weight, out, delta, sample_loss):
    """Output activation, weighted mean loss and ``dLoss/dZ`` in one pass.

    Parameters
    ----------
    code : int, one of ``LOSS_CODES``
    Z : ndarray, shape (n, k), float32 or float64, C-contiguous
        Pre-activation of the output layer (logits).
    Y : ndarray, shape (n, k), same dtype
        Targets: values (squared error), 0/1 or probabilities (cross-entropy;
        rows of one-hot or soft labels for softmax).
    sample_weight : ndarray, shape (n,), same dtype, non-negative with a
        positive sum.
    out : ndarray, shape (n, k), same dtype (modified; may be ``Z``)
        Output activation.
    delta : ndarray, shape (n, k), same dtype (modified; may be ``Z``
        only if ``out`` is not)
    sample_loss : ndarray, shape (n,), same dtype (modified)
        Unweighted loss of each sample.

    Returns
    -------
    loss : float
        Weighted mean loss, accumulated in Z's dtype; NaN or inf if the
        logits are.
    """
    n = Z.shape[0]
    zero = Z.dtype.type(0)
    total_weight = zero
    for i in range(n):
        total_weight += sample_weight[i]
    for i in prange(n):
        sample_loss[i] = loss_row(code, Z, Y, sample_weight[i] / total_weight, out, delta, i)
    # Serial weighted sum: the same result for every thread count.  Each weight is divided
    # by the total first: w_i * l_i overflowed float32 for a large weight (3e37 times a
    # loss of 270 made the mean inf), though the weighted mean is of the losses' size.
    loss = zero
    for i in range(n):
        loss += sample_weight[i] / total_weight * sample_loss[i]
    return loss


@kernel
def output_forward_inplace(code, Z):
    """Apply the output activation of loss ``code`` to logits ``Z`` in place.

    Identity for SQUARED_ERROR, sigmoid for BINARY_CROSS_ENTROPY, row-wise
    softmax (max-shifted, so no overflow) for SOFTMAX_CROSS_ENTROPY.

    Parameters
    ----------
    code : int, one of ``LOSS_CODES``
    Z : ndarray, shape (n, k), float32 or float64, C-contiguous (modified)
    """
    n, k = Z.shape
    zero = Z.dtype.type(0)
    one = Z.dtype.type(1)
    sigmoid = np.int64(SIGMOID)  # not a literal: activate() compiles once, for int64 codes
    if code == SQUARED_ERROR:
        return
    for i in prange(n):
        if code == BINARY_CROSS_ENTROPY:
            for j in range(k):
                Z[i, j] = activate(Z[i, j], sigmoid, one)
        else:
            zmax = Z[i, 0]
            for j in range(1, k):
                zmax = max(zmax, Z[i, j])
            norm = zero
            for j in range(k):
                e = math.exp(Z[i, j] - zmax)
                Z[i, j] = e
                norm += e
            for j in range(k):
                Z[i, j] /= norm
