"""Activation kernels against their NumPy twins (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import (ACTIVATION_CODES, activation_backward_inplace, activation_derivative,
                            activation_forward, bias_activation_forward_inplace)
import reference as ref
from reference import DTYPES, code_param

NAMES = ref.ACTIVATIONS
SHAPE = (257, 67)  # enough rows for prange to split the work between threads
F64 = np.float64


def test_one_code_per_activation():
    assert sorted(ACTIVATION_CODES[name] for name in NAMES) == list(range(7))
    assert ACTIVATION_CODES["logistic"] == ACTIVATION_CODES["sigmoid"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_twin(name, dtype, rng):
    code, p = code_param(name)
    Z = (3 * rng.standard_normal(SHAPE)).astype(dtype)
    out = np.empty_like(Z)
    activation_forward(Z, code, p, out)
    ref.assert_close(out, ref.activation(Z.astype(F64), code, p), dtype)
    activation_forward(Z, code, p, Z)  # out may be Z
    np.testing.assert_array_equal(Z, out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_bias_activation_matches_twin(name, dtype, rng):
    code, p = code_param(name)
    Z = (3 * rng.standard_normal(SHAPE)).astype(dtype)
    b = rng.standard_normal(SHAPE[1]).astype(dtype)
    expected = ref.bias_activation(Z.astype(F64), b.astype(F64), code, p)
    bias_activation_forward_inplace(Z, b, code, p)
    ref.assert_close(Z, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_derivative_from_output_matches_twin_from_input(name, dtype, rng):
    code, p = code_param(name)
    Z = 3 * rng.standard_normal(SHAPE)
    A = ref.activation(Z, code, p).astype(dtype)
    delta = rng.standard_normal(SHAPE).astype(dtype)
    expected = ref.activation_derivative(Z, code, p)
    out = np.empty_like(A)
    activation_derivative(A, code, p, out)
    ref.assert_close(out, expected, dtype)
    backward = ref.activation_backward(delta.astype(F64), Z, code, p)
    activation_backward_inplace(delta, A, code, p)
    ref.assert_close(delta, backward, dtype)
    activation_derivative(A, code, p, A)  # out may be A
    np.testing.assert_array_equal(A, out)


@pytest.mark.parametrize("name", NAMES)
def test_parallel_equals_serial(name, rng):
    code, p = code_param(name)
    Z = 3 * rng.standard_normal(SHAPE)
    b, delta = rng.standard_normal(SHAPE[1]), rng.standard_normal(SHAPE)
    results = []
    for variant in ("parallel", "serial"):
        A, D, B = np.empty_like(Z), np.empty_like(Z), Z.copy()
        getattr(activation_forward, variant)(Z, code, p, A)
        getattr(activation_derivative, variant)(A, code, p, D)
        getattr(bias_activation_forward_inplace, variant)(B, b, code, p)
        G = delta.copy()
        getattr(activation_backward_inplace, variant)(G, A, code, p)
        results.append((A, D, B, G))
    for x_parallel, x_serial in zip(*results):
        np.testing.assert_array_equal(x_parallel, x_serial)


EXTREME = np.array([-1e4, -1e3, -100.0, -30.0, -1.0, -0.0, 0.0, 1e-3, 1.0, 30.0, 100.0, 1e3, 1e4])
# f(-1e4), f(1e4), f'(-1e4), f'(1e4) with the parameters of code_param
LIMITS = {
    "identity": (-1e4, 1e4, 1, 1), "step": (0, 1, 0, 0), "sigmoid": (0, 1, 0, 0),
    "tanh": (-1, 1, 0, 0), "relu": (0, 1e4, 0, 1), "leaky_relu": (-1e3, 1e4, 0.1, 1),
    "softplus": (0, 1e4, 0, 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_are_stable(name, dtype, strict):
    code, p = code_param(name)
    Z = np.tile(EXTREME, (3, 1)).astype(dtype)
    A, D = np.empty_like(Z), np.empty_like(Z)
    activation_forward(Z, code, p, A)
    activation_derivative(A, code, p, D)
    twin_A, twin_D = ref.activation(Z, code, p), ref.activation_derivative(Z, code, p)
    for x in (A, D, twin_A, twin_D):
        assert x.dtype == dtype and np.isfinite(x).all()
    np.testing.assert_allclose([A[0, 0], A[0, -1], D[0, 0], D[0, -1]], LIMITS[name], rtol=1e-6)
    np.testing.assert_allclose([twin_A[0, 0], twin_A[0, -1], twin_D[0, 0], twin_D[0, -1]],
                               LIMITS[name], rtol=1e-6)
    Z64 = Z.astype(F64)
    ref.assert_close(A, ref.activation(Z64, code, p), dtype)
    ref.assert_close(D, ref.activation_derivative(Z64, code, p), dtype)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_finite_differences(name, rng):
    code, p = code_param(name)
    # |z| >= 0.05 keeps the step / ReLU kinks at 0 out of the difference stencil.
    Z = rng.uniform(0.05, 4.0, (16, 9)) * rng.choice([-1.0, 1.0], (16, 9))
    eps = 1e-6
    fd = (ref.activation(Z + eps, code, p) - ref.activation(Z - eps, code, p)) / (2 * eps)
    D = np.empty_like(Z)
    activation_derivative(ref.activation(Z, code, p), code, p, D)
    np.testing.assert_allclose(D, fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ref.activation_derivative(Z, code, p), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_infinite_inputs_give_the_limits_not_nan(dtype):
    Z = np.array([[-np.inf, np.inf]], dtype)
    expected = {"identity": [-np.inf, np.inf], "step": [0, 1], "sigmoid": [0, 1], "tanh": [-1, 1],
                "relu": [0, np.inf], "softplus": [0, np.inf]}
    for name, limits in expected.items():
        code, p = code_param(name)
        A = np.empty_like(Z)
        activation_forward(Z, code, p, A)
        np.testing.assert_array_equal(A[0], limits, err_msg=name)
    D = np.empty_like(Z)
    activation_derivative(Z, ACTIVATION_CODES["identity"], 0.0, D)
    np.testing.assert_array_equal(D[0], [1, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_helpers_return_the_input_dtype(dtype):
    """``activate`` and ``derivative_from_output`` compiled for float32 returned float64
    (their ``z + math.nan`` fallback unified every return to float64), so each float32
    activation and derivative went through double in every kernel that calls them."""
    from numba import from_dtype, types

    from fastnn.kernels.activations import activate, derivative_from_output

    t = from_dtype(np.dtype(dtype))
    for helper in (activate, derivative_from_output):
        helper.compile((t, types.int64, t))
        assert helper.overloads[(t, types.int64, t)].signature.return_type == t
