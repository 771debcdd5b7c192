"""Feature-major dense-layer kernels against their NumPy twins (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import dense_backward_feature_major, dense_forward_feature_major
from fastnn.kernels.dense_feature_major import transpose
import reference as ref
from reference import ACTIVATIONS as NAMES, DTYPES, code_param

N, N_IN, N_OUT = 67, 35, 19  # 35 and 19 units: the 8-unit blocks of the bias sum end part-full
F64 = np.float64


def layer(rng, dtype, name):
    """Z_prev (float64, (N_IN, N)), A_prev = f(Z_prev), W, b, delta ((N_OUT, N)) in ``dtype``."""
    code, p = code_param(name)
    Z_prev = 2 * rng.standard_normal((N_IN, N))
    A_prev = ref.activation(Z_prev, code, p).astype(dtype)
    W = (rng.standard_normal((N_IN, N_OUT)) / np.sqrt(N_IN)).astype(dtype)
    b = rng.standard_normal(N_OUT).astype(dtype)
    delta = rng.standard_normal((N_OUT, N)).astype(dtype)
    return Z_prev, A_prev, W, b, delta


def backward(kernel, A_prev, by_rows, W, delta, code, p, propagate, fill=np.nan):
    """Gradients only (``lr`` 0): W and the bias are left alone."""
    dW = np.full(W.shape, fill, W.dtype)
    db = np.full(W.shape[1], fill, W.dtype)
    delta_prev = np.full((W.shape[0], delta.shape[1]), fill, W.dtype)
    W_before, b = W.copy(), np.full(W.shape[1], fill, W.dtype)
    kernel(A_prev, by_rows, W, b, delta, dW, db, delta_prev, code, p, propagate, 0.0, 0.0)
    np.testing.assert_array_equal(W, W_before)
    return dW, db, delta_prev


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("by_rows", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_twin(name, by_rows, dtype, rng):
    code, p = code_param(name)
    _, A, W, b, _ = layer(rng, dtype, "identity")
    A = np.ascontiguousarray(A.T) if by_rows else A
    out = np.full((N_OUT, N), np.nan, dtype)
    dense_forward_feature_major(A, by_rows, W, b, code, p, out)
    expected = ref.dense_forward_feature_major(A.astype(F64), by_rows, W.astype(F64),
                                               b.astype(F64), code, p)
    ref.assert_close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_twin(name, dtype, rng):
    code, p = code_param(name)
    Z_prev, A_prev, W, _, delta = layer(rng, dtype, name)
    got = backward(dense_backward_feature_major, A_prev, False, W, delta, code, p, True)
    expected = ref.dense_backward_feature_major(A_prev.astype(F64), False, W.astype(F64),
                                                delta.astype(F64), Z_prev, code, p, True)
    for g, e in zip(got, expected):
        ref.assert_close(g, e, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_first_layer_reads_its_input_by_rows_and_leaves_delta_prev(dtype, rng):
    code, p = code_param("tanh")
    _, A_prev, W, _, delta = layer(rng, dtype, "tanh")
    X = np.ascontiguousarray(A_prev.T)  # (N, N_IN): the gathered batch
    dW, db, delta_prev = backward(dense_backward_feature_major, X, True, W, delta, code, p,
                                  False, fill=7.0)
    assert (delta_prev == 7.0).all()
    e_dW, e_db, _ = ref.dense_backward_feature_major(X.astype(F64), True, W.astype(F64),
                                                     delta.astype(F64), None, code, p, False)
    ref.assert_close(dW, e_dW, dtype)
    ref.assert_close(db, e_db, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("decay", [0.0, 0.3])
@pytest.mark.parametrize("by_rows", [False, True])
def test_backward_with_lr_applies_the_sgd_step(by_rows, decay, dtype, rng):
    """``lr > 0``: W and b take the SGD step on the twin's gradient, in place."""
    code, p = code_param("relu")
    Z_prev, A_prev, W, b, delta = layer(rng, dtype, "relu")
    A_prev = np.ascontiguousarray(A_prev.T) if by_rows else A_prev
    propagate = not by_rows
    W0, b0, lr = W.astype(F64), b.astype(F64), 0.05
    dW = np.full(W.shape, 7.0, dtype)
    db = np.empty(W.shape[1], dtype)
    delta_prev = np.full((N_IN, N), 7.0, dtype)
    dense_backward_feature_major(A_prev, by_rows, W, b, delta, dW, db, delta_prev, code, p,
                                 propagate, lr, decay)
    e_dW, e_db, e_delta_prev = ref.dense_backward_feature_major(
        A_prev.astype(F64), by_rows, W0, delta.astype(F64), Z_prev, code, p, propagate)
    assert (dW == 7.0).all()  # not written
    ref.assert_close(W, W0 - lr * (e_dW + decay * W0), dtype)
    ref.assert_close(b, b0 - lr * e_db, dtype)
    if propagate:  # computed with W before the step
        ref.assert_close(delta_prev, e_delta_prev, dtype)
    else:
        assert (delta_prev == 7.0).all()


@pytest.mark.parametrize("name", NAMES)
def test_parallel_equals_serial(name, rng):
    code, p = code_param(name)
    _, A_prev, W, b, delta = layer(rng, F64, name)
    results = []
    for variant in ("parallel", "serial"):
        forward = getattr(dense_forward_feature_major, variant)
        backward_kernel = getattr(dense_backward_feature_major, variant)
        out = np.empty((N_OUT, N))
        forward(A_prev, False, W, b, code, p, out)
        grads = backward(backward_kernel, A_prev, False, W, delta, code, p, True)
        W_step, b_step = W.copy(), b.copy()
        backward_kernel(A_prev, False, W_step, b_step, delta, np.empty_like(W), np.empty_like(b),
                        np.empty_like(A_prev), code, p, True, 0.01, 0.1)
        flipped = np.empty((N, N_IN))
        getattr(transpose, variant)(A_prev, flipped)
        results.append((out, *grads, W_step, b_step, flipped))
    for x_parallel, x_serial in zip(*results):
        np.testing.assert_array_equal(x_parallel, x_serial)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_gradient_sums_each_unit_in_sample_order(dtype, rng):
    """As ``column_sum`` does sample-major: the same sums, bit for bit."""
    _, A_prev, W, _, delta = layer(rng, dtype, "identity")
    _, db, _ = backward(dense_backward_feature_major, A_prev, False, W, delta, 0, 0.0, False)
    np.testing.assert_array_equal(db, ref.column_sum(np.ascontiguousarray(delta.T)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose(dtype, rng):
    src = rng.standard_normal((N_OUT, N)).astype(dtype)
    dst = np.full((N, N_OUT), np.nan, dtype)
    transpose(src, dst)
    np.testing.assert_array_equal(dst, src.T)
    with pytest.raises(ValueError, match="shape of src.T"):
        transpose(src, np.empty((N_OUT, N), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mismatched_shapes_raise_instead_of_reading_out_of_bounds(dtype, rng):
    _, A, W, b, delta = layer(rng, dtype, "identity")
    with pytest.raises(ValueError, match="shapes"):
        dense_forward_feature_major(A, False, W[:-1], b, 0, 0.0, np.empty((N_OUT, N), dtype))
    with pytest.raises(ValueError, match="shapes"):
        dense_forward_feature_major(A, True, W, b, 0, 0.0, np.empty((N_OUT, N), dtype))
    with pytest.raises(ValueError, match="shapes"):
        dense_backward_feature_major(A, False, W, b, delta[:, :-1], np.empty_like(W),
                                     np.empty_like(b), np.empty_like(A), 0, 0.0, True, 0.0, 0.0)
    with pytest.raises(ValueError, match="shapes"):  # by rows has no input gradient
        dense_backward_feature_major(np.ascontiguousarray(A.T), True, W, b, delta,
                                     np.empty_like(W), np.empty_like(b), np.empty_like(A), 0,
                                     0.0, True, 0.0, 0.0)


def test_non_contiguous_operands_raise_and_leave_the_layer_alone(rng):
    _, A, W, b, delta = layer(rng, F64, "identity")
    with pytest.raises(ValueError, match="C-contiguous"):
        dense_forward_feature_major(np.asfortranarray(A), False, W, b, 0, 0.0,
                                    np.empty((N_OUT, N)))
    W_before, b_before = W.copy(), b.copy()
    for bad in ("A_prev", "W", "delta", "delta_prev"):
        args = {"A_prev": A, "W": W, "delta": delta, "delta_prev": np.empty_like(A)}
        args[bad] = np.asfortranarray(args[bad])
        with pytest.raises(ValueError, match="C-contiguous"):
            dense_backward_feature_major(args["A_prev"], False, args["W"], b, args["delta"],
                                         np.empty_like(W), np.empty_like(b), args["delta_prev"],
                                         0, 0.0, True, 0.1, 0.0)
        np.testing.assert_array_equal(W, W_before)
        np.testing.assert_array_equal(b, b_before)
