"""Dense-layer kernels against their NumPy twins (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import column_sum, dense_backward, dense_forward
import reference as ref
from reference import ACTIVATIONS as NAMES, DTYPES, code_param

N, N_IN, N_OUT = 257, 67, 35  # 67 and 35 columns: the 16-column blocks end part-full
F64 = np.float64


def layer(rng, dtype, name):
    """Z_prev (float64), then A_prev = f(Z_prev), W, b, delta in ``dtype``."""
    code, p = code_param(name)
    Z_prev = 2 * rng.standard_normal((N, N_IN))
    A_prev = ref.activation(Z_prev, code, p).astype(dtype)
    W = (rng.standard_normal((N_IN, N_OUT)) / np.sqrt(N_IN)).astype(dtype)
    b = rng.standard_normal(N_OUT).astype(dtype)
    delta = rng.standard_normal((N, N_OUT)).astype(dtype)
    return Z_prev, A_prev, W, b, delta


def backward(kernel, A_prev, W, delta, code, p, propagate, fill=np.nan):
    """Gradients only (``lr`` 0): W and the bias are left alone."""
    dW = np.full(W.shape, fill, W.dtype)
    db = np.full(W.shape[1], fill, W.dtype)
    delta_prev = np.full(A_prev.shape, fill, W.dtype)
    W_before, b = W.copy(), np.full(W.shape[1], fill, W.dtype)
    kernel(A_prev, W, b, delta, dW, db, delta_prev, code, p, propagate, 0.0, 0.0)
    np.testing.assert_array_equal(W, W_before)
    return dW, db, delta_prev


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_twin(name, dtype, rng):
    code, p = code_param(name)
    _, A, W, b, _ = layer(rng, dtype, "identity")
    out = np.empty((N, N_OUT), dtype)
    dense_forward(A, W, b, code, p, out)
    ref.assert_close(out, ref.dense_forward(A.astype(F64), W.astype(F64), b.astype(F64), code, p),
                     dtype)


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_forward_counts_nonfinite_pre_activations(name, dtype, variant, rng):
    """The count is of ``A @ W + b`` before the activation (ReLU makes NaN 0): every
    entry of a row with a NaN or inf in A, entries that overflow with A finite."""
    code, p = code_param(name)
    _, A, W, b, _ = layer(rng, dtype, "identity")
    W[:, 3] = 0  # inf * 0 is NaN: a zero column does not hide a bad row
    kernel = getattr(dense_forward, variant)
    out = np.empty((N, N_OUT), dtype)
    assert kernel(A, W, b, code, p, out) == 0
    A[[5, 100], [0, 66]] = np.nan, np.inf
    A[200, 1] = -np.inf
    assert kernel(A, W, b, code, p, out) == 3 * N_OUT  # every entry of the 3 rows
    W[:, 4] = 1
    A[250, :] = np.finfo(dtype).max  # finite, but its sum over 67 columns overflows
    assert 3 * N_OUT < kernel(A, W, b, code, p, out) <= 4 * N_OUT


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_twin(name, dtype, rng):
    code, p = code_param(name)
    Z_prev, A_prev, W, _, delta = layer(rng, dtype, name)
    got = backward(dense_backward, A_prev, W, delta, code, p, True)
    expected = ref.dense_backward(A_prev.astype(F64), W.astype(F64), delta.astype(F64), Z_prev,
                                  code, p, True)
    for g, e in zip(got, expected):
        ref.assert_close(g, e, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_without_propagate_leaves_delta_prev(dtype, rng):
    code, p = code_param("tanh")
    _, A_prev, W, _, delta = layer(rng, dtype, "tanh")
    dW, db, delta_prev = backward(dense_backward, A_prev, W, delta, code, p, False, fill=7.0)
    assert (delta_prev == 7.0).all()
    ref.assert_close(dW, A_prev.astype(F64).T @ delta.astype(F64), dtype)
    ref.assert_close(db, delta.astype(F64).sum(axis=0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay", [0.0, 0.3])
@pytest.mark.parametrize("propagate", [True, False])
def test_backward_with_lr_applies_the_sgd_step(propagate, decay, dtype, rng):
    """``lr > 0``: W and b take the step of ``sgd_update`` on the twin's gradient, in place."""
    code, p = code_param("relu")
    Z_prev, A_prev, W, b, delta = layer(rng, dtype, "relu")
    W0, b0, lr = W.astype(F64), b.astype(F64), 0.05
    dW = np.full(W.shape, 7.0, dtype)
    db = np.empty(W.shape[1], dtype)
    delta_prev = np.full(A_prev.shape, 7.0, dtype)
    dense_backward(A_prev, W, b, delta, dW, db, delta_prev, code, p, propagate, lr, decay)
    e_dW, e_db, e_delta_prev = ref.dense_backward(A_prev.astype(F64), W0, delta.astype(F64),
                                                  Z_prev, code, p, propagate)
    assert (dW == 7.0).all()  # not written
    ref.assert_close(W, W0 - lr * (e_dW + decay * W0), dtype)
    ref.assert_close(b, b0 - lr * e_db, dtype)
    ref.assert_close(db, e_db, dtype)
    if propagate:  # computed with W before the step
        ref.assert_close(delta_prev, e_delta_prev, dtype)
    else:
        assert (delta_prev == 7.0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(N, N_IN), (N, 32), (1, 3)])
def test_column_sum_is_the_row_order_sum(shape, dtype, rng):
    delta = rng.standard_normal(shape).astype(dtype)
    out = np.full(shape[1], np.nan, dtype)
    column_sum(delta, out)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref.column_sum(delta))  # bit-identical, as documented
    ref.assert_close(out, delta.astype(F64).sum(axis=0), dtype)


@pytest.mark.parametrize("name", NAMES)
def test_parallel_equals_serial(name, rng):
    code, p = code_param(name)
    _, A_prev, W, b, delta = layer(rng, F64, name)
    results = []
    for variant in ("parallel", "serial"):
        out, sums = np.empty((N, N_OUT)), np.empty(N_OUT)
        getattr(dense_forward, variant)(A_prev, W, b, code, p, out)
        getattr(column_sum, variant)(delta, sums)
        grads = backward(getattr(dense_backward, variant), A_prev, W, delta, code, p, True)
        W_step, b_step = W.copy(), b.copy()
        getattr(dense_backward, variant)(A_prev, W_step, b_step, delta, np.empty_like(W),
                                         np.empty_like(b), np.empty_like(A_prev), code, p, True,
                                         0.01, 0.1)
        results.append((out, sums, *grads, W_step, b_step))
    for x_parallel, x_serial in zip(*results):
        np.testing.assert_array_equal(x_parallel, x_serial)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mismatched_shapes_raise_instead_of_reading_out_of_bounds(dtype, rng):
    _, A, W, b, delta = layer(rng, dtype, "identity")
    with pytest.raises(ValueError, match="shapes"):
        dense_forward(A, W[:-1], b, 0, 0.0, np.empty((N, N_OUT), dtype))
    with pytest.raises(ValueError, match="shapes"):
        dense_backward(A, W, b, delta[:-1], np.empty_like(W), np.empty_like(b),
                       np.empty_like(A), 0, 0.0, True, 0.0, 0.0)
    with pytest.raises(ValueError, match="shapes"):
        dense_backward(A, W, b, delta, np.empty((N_IN, N_OUT + 1), dtype), np.empty_like(b),
                       np.empty_like(A), 0, 0.0, True, 0.0, 0.0)


def test_non_contiguous_operands_raise_and_leave_the_layer_alone(rng):
    _, A, W, b, delta = layer(rng, F64, "identity")
    with pytest.raises(ValueError, match="C-contiguous"):
        dense_forward(np.asfortranarray(A), W, b, 0, 0.0, np.empty((N, N_OUT)))
    W_before, b_before = W.copy(), b.copy()
    for bad in ("A_prev", "W", "delta", "delta_prev"):
        args = {"A_prev": A, "W": W, "delta": delta, "delta_prev": np.empty_like(A)}
        args[bad] = np.asfortranarray(args[bad])
        with pytest.raises(ValueError, match="C-contiguous"):
            dense_backward(args["A_prev"], args["W"], b, args["delta"], np.empty_like(W),
                           np.empty_like(b), args["delta_prev"], 0, 0.0, True, 0.1, 0.0)
        np.testing.assert_array_equal(W, W_before)
        np.testing.assert_array_equal(b, b_before)
