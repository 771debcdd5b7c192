"""Plain-NumPy twins of the Numba kernels in ``fastnn.kernels``, for the tests.

Each twin takes the kernel's arguments minus the output buffers and returns
its results.  Twins favour clarity over speed, work in the dtype they are
given (no upcast), and are numerically stable for any finite input: overflow,
invalid operations and division by zero never happen.  Underflow to zero
(``exp(-1e4)``) is intended and silenced with ``np.errstate(under="ignore")``.

One deliberate difference: activation derivatives are computed from the
pre-activation ``Z``, whereas the kernels compute them from ``A = f(Z)``.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from fastnn.kernels import ACTIVATION_CODES, LOSS_CODES
from fastnn.kernels.optimizers import FLUSH_BELOW

DTYPES = (np.float32, np.float64)
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
ATOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-14}


def assert_close(actual, desired, dtype, rtol=None, atol=None):
    """Assert ``actual`` has ``dtype`` and matches ``desired`` to that dtype's tolerance.

    ``atol`` defaults to ``ATOL[dtype]`` times the magnitude of ``desired``
    (at least 1), so values that cancel to about zero are judged on the scale
    of the data rather than on their own.
    """
    dtype = np.dtype(dtype)
    actual = np.asarray(actual)
    assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {dtype}"
    rtol = RTOL[dtype] if rtol is None else rtol
    if atol is None:
        atol = ATOL[dtype] * max(1.0, float(np.max(np.abs(desired), initial=0.0)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


def _underflow_ok(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(under="ignore"):
            return func(*args, **kwargs)
    return wrapper


# ---------------------------------------------------------------- activations

def _sigmoid(t):
    """Logistic ``1 / (1 + exp(-t))`` without overflow for any finite ``t``."""
    e = np.exp(-np.abs(t))
    return np.where(t >= 0, 1 / (1 + e), e / (1 + e))


def _bell(t):
    """``sigmoid(t) * (1 - sigmoid(t)) = e / (1 + e)^2`` with ``e = exp(-|t|)``."""
    e = np.exp(-np.abs(t))
    return e / (1 + e) ** 2


# name -> (f(z, param), f'(z, param)); both return arrays of z's dtype.
_ACTIVATIONS = {
    "identity": (lambda z, p: z.copy(), lambda z, p: np.ones_like(z)),
    "step": (lambda z, p: (z >= 0).astype(z.dtype), lambda z, p: np.zeros_like(z)),
    "sigmoid": (lambda z, p: _sigmoid(p * z), lambda z, p: p * _bell(p * z)),
    # sech(z)^2 = 4 e / (1 + e)^2 with e = exp(-2|z|): 1 - tanh^2 would cancel.
    "tanh": (lambda z, p: np.tanh(z), lambda z, p: 4 * _bell(2 * z)),
    "relu": (lambda z, p: np.where(z > 0, z, 0), lambda z, p: (z > 0).astype(z.dtype)),
    "leaky_relu": (lambda z, p: np.where(z > 0, z, p * z),
                   lambda z, p: np.where(z > 0, 1, p).astype(z.dtype)),
    "softplus": (lambda z, p: np.logaddexp(0, z), lambda z, p: _sigmoid(z)),
}
#: The seven activation names, one per code.
ACTIVATIONS = tuple(_ACTIVATIONS)
_ACTIVATION_NAME = {ACTIVATION_CODES[name]: name for name in ACTIVATIONS}


def random_problem(rng, sizes, output, n, dtype=np.float64):
    """A batch for a network of layer ``sizes`` (input first) and ``output`` activation.

    Returns ``X`` (n, sizes[0]), targets ``Y`` (n, sizes[-1]) that fit the
    output (real values for identity, in [0, 1] for sigmoid, one-hot for
    softmax) and sample weights (n,) in [0.5, 2), all in ``dtype``.
    """
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    k = sizes[-1]
    if output == "identity":
        Y = rng.standard_normal((n, k))
    elif output == "sigmoid":
        Y = rng.uniform(size=(n, k))
    else:
        Y = np.eye(k)[rng.integers(0, k, n)]
    return X, Y.astype(dtype), rng.uniform(0.5, 2.0, n).astype(dtype)


def code_param(name):
    """Kernel arguments for activation ``name``: its code and a non-default parameter.

    The parameter (sigmoid shape 1.7, leaky-ReLU slope 0.1, 0.5 for the others,
    which ignore it) is a Python float, so every call shares one specialisation.
    """
    return ACTIVATION_CODES[name], {"sigmoid": 1.7, "leaky_relu": 0.1}.get(name, 0.5)


@_underflow_ok
def activation(Z, code, param):
    """Twin of ``activation_forward``.

    Parameters
    ----------
    Z : ndarray, shape (n, m)
    code : int, activation code
    param : float, sigmoid shape or leaky-ReLU slope

    Returns
    -------
    A : ndarray, shape (n, m), ``f(Z)``
    """
    return _ACTIVATIONS[_ACTIVATION_NAME[code]][0](Z, float(param))


@_underflow_ok
def activation_derivative(Z, code, param):
    """Twin of ``activation_derivative``, but computed from ``Z``, not ``A = f(Z)``.

    Parameters
    ----------
    Z : ndarray, shape (n, m), pre-activation
    code, param : see :func:`activation`

    Returns
    -------
    dA_dZ : ndarray, shape (n, m), ``f'(Z)``
    """
    return _ACTIVATIONS[_ACTIVATION_NAME[code]][1](Z, float(param))


def activation_backward(delta, Z, code, param):
    """Twin of ``activation_backward_inplace``.

    Parameters
    ----------
    delta, Z : ndarray, shape (n, m)
    code, param : see :func:`activation`

    Returns
    -------
    ndarray, shape (n, m), ``delta * f'(Z)``
    """
    return delta * activation_derivative(Z, code, param)


def bias_activation(Z, b, code, param):
    """Twin of ``bias_activation_forward_inplace``.

    Parameters
    ----------
    Z : ndarray, shape (n, m)
    b : ndarray, shape (m,)
    code, param : see :func:`activation`

    Returns
    -------
    ndarray, shape (n, m), ``f(Z + b)``
    """
    return activation(Z + b, code, param)


# ---------------------------------------------------------------------- dense

def dense_forward(A, W, b, code, param):
    """Twin of ``dense_forward``.

    Parameters
    ----------
    A : ndarray, shape (n, n_in)
    W : ndarray, shape (n_in, n_out)
    b : ndarray, shape (n_out,)
    code, param : see :func:`activation`

    Returns
    -------
    ndarray, shape (n, n_out), ``f(A @ W + b)``
    """
    return activation(A @ W + b, code, param)


def column_sum(delta):
    """Twin of ``column_sum``: columns summed in row order, as the kernel promises.

    Parameters
    ----------
    delta : ndarray, shape (n, m)

    Returns
    -------
    ndarray, shape (m,)
    """
    out = np.zeros(delta.shape[1], delta.dtype)
    for row in delta:
        out += row
    return out


def dense_backward(A_prev, W, delta, Z_prev, prev_code, prev_param, propagate):
    """Twin of ``dense_backward``; takes ``Z_prev`` too, since ``f'`` is taken from it.

    Parameters
    ----------
    A_prev : ndarray, shape (n, n_in), ``f(Z_prev)``
    W : ndarray, shape (n_in, n_out)
    delta : ndarray, shape (n, n_out), dLoss/dZ of this layer
    Z_prev : ndarray, shape (n, n_in), pre-activation of the previous layer
    prev_code, prev_param : activation of the previous layer
    propagate : bool

    Returns
    -------
    dW : ndarray, shape (n_in, n_out)
    db : ndarray, shape (n_out,)
    delta_prev : ndarray, shape (n, n_in), or None if not ``propagate``
    """
    delta_prev = None
    if propagate:
        delta_prev = (delta @ W.T) * activation_derivative(Z_prev, prev_code, prev_param)
    return A_prev.T @ delta, column_sum(delta), delta_prev



def dense_forward_feature_major(A, a_by_rows, W, b, code, param):
    """Twin of ``dense_forward_feature_major``: :func:`dense_forward`, transposed.

    Parameters
    ----------
    A : ndarray, shape (n, n_in) if ``a_by_rows``, else (n_in, n)
    a_by_rows : bool
    W, b, code, param : as for :func:`dense_forward`

    Returns
    -------
    ndarray, shape (n_out, n)
    """
    return dense_forward(A if a_by_rows else A.T, W, b, code, param).T


def dense_backward_feature_major(A_prev, prev_by_rows, W, delta, Z_prev, prev_code, prev_param,
                                 propagate):
    """Twin of ``dense_backward_feature_major``: :func:`dense_backward`, transposed.

    Parameters
    ----------
    A_prev : ndarray, shape (n, n_in) if ``prev_by_rows``, else (n_in, n)
    prev_by_rows : bool
    W : ndarray, shape (n_in, n_out)
    delta : ndarray, shape (n_out, n)
    Z_prev : ndarray, shape (n_in, n), or None if not ``propagate``
    prev_code, prev_param, propagate : as for :func:`dense_backward`

    Returns
    -------
    dW : (n_in, n_out); db : (n_out,); delta_prev : (n_in, n) or None
    """
    dW, db, delta_prev = dense_backward(A_prev if prev_by_rows else A_prev.T, W, delta.T,
                                        None if Z_prev is None else Z_prev.T, prev_code,
                                        prev_param, propagate)
    return dW, db, None if delta_prev is None else delta_prev.T

# --------------------------------------------------------------------- losses

#: The three loss names, one per code.
LOSSES = ("squared_error", "binary_cross_entropy", "softmax_cross_entropy")
_LOSS_NAME = {LOSS_CODES[name]: name for name in LOSSES}


@_underflow_ok
def loss_forward_backward(code, Z, Y, sample_weight):
    """Twin of ``loss_forward_backward``.

    Parameters
    ----------
    code : int, loss code
    Z : ndarray, shape (n, k), logits
    Y : ndarray, shape (n, k), targets (soft-label rows of softmax may not sum to 1)
    sample_weight : ndarray, shape (n,), non-negative with a positive sum

    Returns
    -------
    loss : scalar, ``sum_i w_i l_i / sum_i w_i``
    out : ndarray, shape (n, k), output activation ``p``
    delta : ndarray, shape (n, k), ``w_i (p_i s_i - y_i) / sum_i w_i``
    sample_loss : ndarray, shape (n,), unweighted ``l_i``
    """
    name = _LOSS_NAME[code]
    s = 1
    if name == "squared_error":
        out = Z.copy()
        sample_loss = 0.5 * ((Z - Y) ** 2).sum(axis=1)
    elif name == "binary_cross_entropy":
        out = _sigmoid(Z)
        sample_loss = (np.logaddexp(0, Z) - Y * Z).sum(axis=1)
    else:
        zmax = Z.max(axis=1, keepdims=True)
        lse = zmax + np.log(np.exp(Z - zmax).sum(axis=1, keepdims=True))
        out = np.exp(Z - lse)
        sample_loss = (Y * (lse - Z)).sum(axis=1)
        s = Y.sum(axis=1, keepdims=True)
    w = sample_weight / sample_weight.sum()
    return w @ sample_loss, out, w[:, None] * (out * s - Y), sample_loss


# ----------------------------------------------------------------- optimizers

def _gradient(params, grads, weight_decay, n_decay):
    g = grads.copy()
    g[:n_decay] += weight_decay * params[:n_decay]
    return g


def sgd_update(params, grads, lr, weight_decay, n_decay):
    """Twin of ``sgd_update``.

    Parameters
    ----------
    params, grads : ndarray, shape (P,)
    lr, weight_decay : float
    n_decay : int, L2 decay applies to ``params[:n_decay]`` only

    Returns
    -------
    params : ndarray, shape (P,), updated
    """
    return params - lr * _gradient(params, grads, weight_decay, n_decay)


def _flushed(state):
    """Optimizer state below ``FLUSH_BELOW`` in magnitude set to 0, as the kernels store it."""
    return np.where(np.abs(state) < FLUSH_BELOW, np.zeros_like(state), state)


def momentum_update(params, grads, velocity, lr, momentum, nesterov, weight_decay, n_decay):
    """Twin of ``momentum_update`` (scikit-learn's ``SGDOptimizer``).

    Parameters
    ----------
    params, grads, velocity : ndarray, shape (P,)
    lr, momentum : float
    nesterov : bool
    weight_decay, n_decay : see :func:`sgd_update`

    Returns
    -------
    params, velocity : ndarray, shape (P,), updated
    """
    g = _gradient(params, grads, weight_decay, n_decay)
    velocity = _flushed(momentum * velocity - lr * g)
    step = momentum * velocity - lr * g if nesterov else velocity
    return params + step, velocity


def adam_update(params, grads, m, v, lr, beta1, beta2, eps, t, weight_decay, n_decay):
    """Twin of ``adam_update`` (scikit-learn's ``AdamOptimizer``), step ``t`` >= 1.

    Parameters
    ----------
    params, grads, m, v : ndarray, shape (P,)
    lr, beta1, beta2, eps : float
    t : int
    weight_decay, n_decay : see :func:`sgd_update`

    Returns
    -------
    params, m, v : ndarray, shape (P,), updated
    """
    g = _gradient(params, grads, weight_decay, n_decay)
    lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    # As the kernel: no g in v whose (1 - b2) g^2, no m in the step whose lr_t m, is
    # below float32's smallest normal number.
    g_v = np.where(np.abs(g) < math.sqrt(FLUSH_BELOW / (1 - beta2)), 0.0, g)
    m = _flushed(beta1 * m + (1 - beta1) * g)
    v = _flushed(beta2 * v + (1 - beta2) * g_v * g_v)
    m_step = np.where(np.abs(m) < FLUSH_BELOW / lr_t, 0.0, m) if lr_t > 0 else m
    return params - lr_t * m_step / (np.sqrt(v) + eps), m, v


# ----------------------------------------------------------------------- data

def count_nonfinite(X):
    """Twin of ``count_nonfinite``: number of NaN or +-inf entries (int) of ``X`` (n, m)."""
    return int(np.count_nonzero(~np.isfinite(X)))


def gather_rows(X, indices):
    """Twin of ``gather_rows``.

    Parameters
    ----------
    X : ndarray, shape (n, m)
    indices : ndarray, shape (b,), int

    Returns
    -------
    out : ndarray, shape (b, m), ``X[indices]``
    n_nonfinite : int, NaN/inf count in ``out``
    """
    out = X[indices]
    return out, count_nonfinite(out)


# ================================================================= perceptron
# Twins of kernels/perceptron.py (fastnn.Perceptron, fastnn.SGDClassifier).  Kept apart from the
# twins above: nothing in this section is used by them, nor the reverse.

def _sequential_sum(values):
    """``values[0] + values[1] + ...`` from left to right, in the values' dtype."""
    total = values.dtype.type(0)
    for value in values:
        total = total + value
    return total


def dot_rows(a, b):
    """Twin of the kernels' ``dot_rows`` for two 1-D rows: the same eight partial sums.

    ``s_r`` sums the products of columns ``r, r + 8, ...`` below
    ``m = n - n % 8``; ``s_0`` also takes the tail; the result is
    ``((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))``.  Same order as the
    kernel, so the two agree to the last bit.
    """
    products = a * b
    m = products.shape[0] - products.shape[0] % 8
    s = [_sequential_sum(products[r:m:8]) for r in range(8)]
    s[0] = _sequential_sum(np.concatenate([[s[0]], products[m:]]).astype(products.dtype))
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))


_MASK64 = (1 << 64) - 1


def random_below(state, n):
    """Twin of ``data.random_below`` (SplitMix64); ``state`` is a one-item list of int."""
    z = (state[0] + 0x9E3779B97F4A7C15) & _MASK64
    state[0] = z
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    u = float(z >> 11) * (1.0 / 9007199254740992.0)
    return min(int(u * n), n - 1)


def shuffle_inplace(a, n, state):
    """Twin of ``data.shuffle_inplace``: Fisher-Yates of ``a[:n]`` in place."""
    for i in range(n - 1, 0, -1):
        j = random_below(state, i + 1)
        a[i], a[j] = a[j], a[i]


def visiting_order(rows, sample_weight, shuffle, block, window_rows, state):
    """The rows an epoch visits, in order.

    Blocks of ``block`` rows permuted; windows of ``window_rows // block``
    consecutive blocks; in each window, round ``i`` visits the ``i``-th row of
    nonzero weight of every block that has one, the blocks in a random order.
    """
    n_chunks = -(-len(rows) // block)
    blocks = list(range(n_chunks))
    if shuffle:
        shuffle_inplace(blocks, n_chunks, state)
    per_window = max(1, window_rows // block)
    order = []
    for w0 in range(0, n_chunks, per_window):
        members = [[i for i in rows[c * block:(c + 1) * block] if sample_weight[i] != 0]
                   for c in blocks[w0:w0 + per_window]]
        if not shuffle:
            order.extend(i for member in members for i in member)
            continue
        for position in range(max(map(len, members))):
            round_ = [member[position] for member in members if position < len(member)]
            shuffle_inplace(round_, len(round_), state)
            order.extend(round_)
    return order


def log1pexp(x):
    """scikit-learn's ``log(1 + exp(x))`` (``sklearn/_loss/_loss.pyx``)."""
    if x <= -37:
        return np.exp(x)
    if x <= -2:
        return np.log1p(np.exp(x))
    if x <= 18:
        return np.log(1.0 + np.exp(x))
    return x + np.exp(-x) if x <= 33.3 else x


def loss_dloss(loss, p, y):
    """scikit-learn's loss and derivative at score ``p`` for target ``y`` in {-1, 1}."""
    z = p * y
    if loss == "hinge":
        return (1 - z, -y) if z <= 1 else (0.0, 0.0)
    if loss == "log_loss":  # CyHalfBinomialLoss, targets t in {0, 1}
        t = 0.5 * (y + 1.0)
        if p > -37:
            e = np.exp(-p)
            dloss = ((1.0 - t) - t * e) / (1.0 + e)
        else:
            dloss = np.exp(p) - t
        return log1pexp(p) - t * p, dloss
    if loss == "perceptron":
        return (-z, -y) if z <= 0 else (0.0, 0.0)
    if loss == "modified_huber":
        if z >= 1:
            return 0.0, 0.0
        return ((1 - z) ** 2, -2 * y * (1 - z)) if z >= -1 else (-4 * z, -4 * y)
    if loss == "squared_hinge":
        return ((1 - z) ** 2, -2 * y * (1 - z)) if z < 1 else (0.0, 0.0)
    return (abs(p), -y) if (p >= 0) != (y > 0) else (0.0, 0.0)  # rosenblatt


def rate(schedule, eta0, power_t, rate_alpha, optimal_init, t):
    if schedule == "optimal":
        return 1.0 / (rate_alpha * (optimal_init + t - 1.0))
    if schedule == "invscaling":
        return eta0 / t ** power_t
    return eta0


def sgd_epoch(X, order, y, sample_weight, W, b, loss, schedule, eta0, power_t, alpha, rate_alpha,
              optimal_init, t0, fit_intercept, class_offset, active):
    """Twin of ``sgd_epoch`` given its visiting ``order`` (see :func:`visiting_order`).

    Written one problem at a time (the kernel runs the problems side by side;
    they are independent).  The L2 decay is kept as a lazy scale factor
    exactly as in the kernel, so results agree bit for bit.

    Returns
    -------
    W, b : updated copies
    n_updates : ndarray, shape (K,), int64
    loss_sum, objective, penalty_sum : ndarray, shape (K,), float64 (see the kernel's docstring)
    """
    dt = X.dtype.type
    W, b = W.copy(), b.copy()
    half_alpha = 0.5 * alpha
    penalised = alpha > 0.0
    n_problems = W.shape[0]
    n_updates = np.zeros(n_problems, np.int64)
    loss_sum = np.zeros(n_problems)
    objective = np.zeros(n_problems)
    penalty_sum = np.zeros(n_problems)
    for k in range(n_problems):
        if not active[k]:
            continue
        w = W[k]  # a view: updated in place
        c = 1.0  # float64: the true weights are c * w
        sqnorm = float(dot_rows(w, w)) if penalised else 0.0
        for q, i in enumerate(order):
            s = sample_weight[i]
            eta = rate(schedule, eta0, power_t, rate_alpha, optimal_init, float(t0 + q + 1))
            decay = max(0.0, 1.0 - eta * alpha)
            x = X[i]
            p = c * float(dot_rows(w, x)) + float(b[k])
            if penalised:
                penalty = half_alpha * (float(c) * float(c) * sqnorm)
                penalty_sum[k] += penalty
                objective[k] += float(s) * penalty
            target = 1.0 if y[i] - class_offset == k else -1.0
            value, dloss = loss_dloss(loss, float(p), target)
            loss_sum[k] += value
            objective[k] += float(s) * value
            dloss = min(max(dloss, -1e12), 1e12)
            u = -(dt(eta) * dt(dloss)) * s
            if penalised:
                c = decay * c
                if c < 1e-9:  # the kernel's _MIN_SCALE
                    w[:] = w.astype(np.float64) * c  # one rounding, as the kernel's
                    c = 1.0
                    sqnorm = float(dot_rows(w, w))
            if u != 0:
                n_updates[k] += 1
                w += dt(float(u) / c) * x
                if penalised:
                    sqnorm = float(dot_rows(w, w))
                if fit_intercept:
                    b[k] += u
        if c != 1:
            w[:] = w.astype(np.float64) * c
    return W, b, n_updates, loss_sum, objective, penalty_sum


# ------------------------------------------------------------- small networks

def shuffle(order, state):
    """Twin of ``data.shuffle_inplace`` on a whole array: (shuffled copy, new int state)."""
    order = np.array(order, dtype=np.int64)
    box = [state]
    shuffle_inplace(order, len(order), box)
    return order, box[0]


def _layers(params, sizes):
    """(W, b) views of each layer of a flat parameter vector (weights first)."""
    shapes = list(zip(sizes[:-1], sizes[1:]))
    n_weights = sum(a * b for a, b in shapes)
    out, w, b = [], 0, n_weights
    for fan_in, fan_out in shapes:
        out.append((params[w:w + fan_in * fan_out].reshape(fan_in, fan_out),
                    params[b:b + fan_out]))
        w += fan_in * fan_out
        b += fan_out
    return out, n_weights


def network_forward(X, net):
    """Twin of ``Network.forward``: each layer's :func:`dense_forward`, then softmax rows.

    ``net`` is a ``fastnn.Network`` (its weights, activation codes and output).
    """
    _, _, _, codes, act_params = net._net
    A = X
    for W, b, code, param in zip(net.coefs, net.intercepts, codes, act_params):
        A = dense_forward(A, W, b, int(code), float(param))
    if net.output == "softmax":
        A = np.exp(A - A.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
    return A


def matrix_products(params, sizes, inputs, output_delta):
    """Twin of ``trainer.matrix_products`` (one batch): its products and nothing else.

    Forward products without bias or activation, input gradients from the
    output delta without activation derivatives, and the weight gradients.

    Returns
    -------
    activations : list of (n, sizes[l + 1]) arrays, every layer's product
    weight_grads : list of (sizes[l], sizes[l + 1]) arrays
    """
    layers, _ = _layers(params, sizes)
    below = [inputs]
    for W, _ in layers:
        below.append(below[-1] @ W)
    deltas = [output_delta]
    for W, _ in layers[:0:-1]:
        deltas.insert(0, deltas[0] @ W.T)
    return below[1:], [A.T @ delta for A, delta in zip(below[:-1], deltas)]


def batch_loss_and_gradient(params, sizes, codes, act_params, loss_code, X, Y, sample_weight):
    """Mean loss and flat gradient of one batch, built from the layer and loss twins.

    Parameters
    ----------
    params : ndarray, shape (P,), flat (every layer's weights, then biases)
    sizes : sequence of int, units per layer, input first
    codes, act_params : per hidden layer activation code and parameter
    loss_code : int
    X : (n, sizes[0]); Y : (n, sizes[-1]); sample_weight : (n,)

    Returns
    -------
    loss : scalar of params' dtype
    grads : ndarray, shape (P,)
    """
    layers, _ = _layers(params, sizes)
    dt = params.dtype.type
    A, Z = [X], []
    for l, (W, b) in enumerate(layers):
        last = l == len(layers) - 1
        Z.append(A[-1] @ W + b)
        A.append(Z[-1] if last else activation(Z[-1], codes[l], dt(act_params[l])))
    loss, _, delta, _ = loss_forward_backward(loss_code, Z[-1], Y, sample_weight)
    grads_w, grads_b = [], []
    for l in range(len(layers) - 1, -1, -1):
        propagate = l > 0
        code, param = (codes[l - 1], dt(act_params[l - 1])) if propagate else (0, dt(0))
        dW, db, delta_below = dense_backward(A[l], layers[l][0], delta, Z[l - 1] if propagate
                                             else None, code, param, propagate)
        grads_w.insert(0, dW.ravel())
        grads_b.insert(0, db)
        delta = delta_below
    return loss, np.concatenate(grads_w + grads_b)


def small_train(X, Y, sample_weight, order, shuffle_rows, state, n_epochs, batch_size, params,
                sizes, codes, act_params, loss_code, optimizer, hyper, state1, state2, t):
    """Twin of ``small.small_train`` (without the divergence bookkeeping).

    Parameters
    ----------
    X, Y : (n, sizes[0]), (n, sizes[-1]); sample_weight : (n,) or None
    order : (n,) int64; shuffle_rows : bool; state : int, SplitMix64 state
    n_epochs, batch_size : int
    params : (P,) flat; sizes, codes, act_params, loss_code : see
        :func:`batch_loss_and_gradient`
    optimizer : 0 SGD, 1 momentum, 2 Adam; hyper : (11,) as ``trainer``'s (the last two,
        whether the last batch keeps its gradient and the loss so far, do not change the
        parameters)
    state1, state2 : (P,) velocity or Adam's m and v; t : Adam's step count

    Returns
    -------
    params, state1, state2 : updated copies
    totals : list of float, per epoch sum of batch loss times batch size
    order : the last epoch's order; state : new SplitMix64 state; t : int
    grads : (P,) the gradient (no decay) of the last batch that stepped, or None

    A batch whose sample weights are all 0 is skipped: no step, nothing added to the total.
    """
    params, state1, state2 = params.copy(), state1.copy(), state2.copy()
    n_weights = _layers(params, sizes)[1]
    lr, momentum, nesterov, beta1, beta2, eps, alpha, loss_scale, decay0 = hyper[:9]
    weights = np.ones(len(X), params.dtype) if sample_weight is None else sample_weight
    totals, last_grads = [], None
    for _ in range(n_epochs):
        if shuffle_rows:
            order, state = shuffle(order, state)
        total = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            if not np.any(weights[rows] > 0):
                continue
            loss, grads = batch_loss_and_gradient(params, sizes, codes, act_params, loss_code,
                                                  X[rows], Y[rows], weights[rows])
            loss = float(loss) * loss_scale
            decay = decay0
            if alpha > 0:
                scale = float(np.sum(weights[rows], dtype=np.float64))
                loss += 0.5 * alpha * float(np.sum(params[:n_weights].astype(np.float64) ** 2)) / scale
                decay += alpha / scale
            if optimizer == 0:
                params = sgd_update(params, grads, lr, decay, n_weights)
            elif optimizer == 1:
                params, state1 = momentum_update(params, grads, state1, lr, momentum,
                                                 bool(nesterov), decay, n_weights)
            else:
                t += 1
                params, state1, state2 = adam_update(params, grads, state1, state2, lr, beta1,
                                                     beta2, eps, t, decay, n_weights)
            total += loss * len(rows)
            last_grads = grads
        totals.append(total)
    return params, state1, state2, totals, order, state, t, last_grads
