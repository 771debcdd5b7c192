"""Fused output-activation + loss kernel against its NumPy twin (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import LOSS_CODES, OUTPUT_ACTIVATION, loss_forward_backward
import reference as ref
from reference import DTYPES, LOSSES

F64 = np.float64


def problem(rng, name, n, k, dtype=F64):
    """Logits, targets and non-uniform sample weights (some zero) for loss ``name``.

    Binary cross-entropy gets probabilities as targets; softmax gets one-hot
    rows, soft rows summing to 1 and soft rows summing to 0.5..1.5.
    """
    Z = 3 * rng.standard_normal((n, k))
    if name == "squared_error":
        Y = rng.standard_normal((n, k))
    elif name == "binary_cross_entropy":
        Y = rng.uniform(0, 1, (n, k))
        Y[::2] = Y[::2] > 0.5
    else:
        Y = rng.dirichlet(np.ones(k), n) * rng.uniform(0.5, 1.5, (n, 1))
        Y[::3] = np.eye(k)[rng.integers(0, k, len(Y[::3]))]
        Y[1::3] /= Y[1::3].sum(axis=1, keepdims=True)
    w = rng.uniform(0.1, 3.0, n)
    w[::4] = 0.0
    return Z.astype(dtype), Y.astype(dtype), w.astype(dtype)


def run(code, Z, Y, w, kernel=loss_forward_backward):
    """Call the kernel with fresh buffers; return (loss, out, delta, sample_loss)."""
    out, delta, sample_loss = np.empty_like(Z), np.empty_like(Z), np.empty_like(w)
    loss = kernel(code, Z, Y, w, out, delta, sample_loss)
    return loss, out, delta, sample_loss


def test_one_code_per_loss():
    assert sorted(LOSS_CODES[name] for name in LOSSES) == [0, 1, 2]
    assert [OUTPUT_ACTIVATION[LOSS_CODES[name]] for name in LOSSES] == [
        "identity", "sigmoid", "softmax"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_matches_twin(name, dtype, rng):
    Z, Y, w = problem(rng, name, 257, 13, dtype)
    loss, *arrays = run(LOSS_CODES[name], Z, Y, w)
    expected = ref.loss_forward_backward(LOSS_CODES[name], *(x.astype(F64) for x in (Z, Y, w)))
    assert np.isfinite(loss) and loss > 0.1
    # The kernel returns the loss as a Python float; judge it at Z's precision.
    ref.assert_close(np.asarray(loss, dtype), expected[0], dtype)
    for got, want in zip(arrays, expected[1:]):
        ref.assert_close(got, want, dtype)


@pytest.mark.parametrize("alias", ["out", "delta"])
@pytest.mark.parametrize("name", LOSSES)
def test_out_or_delta_may_be_z(name, alias, rng):
    code = LOSS_CODES[name]
    Z, Y, w = problem(rng, name, 33, 5)
    expected = run(code, Z, Y, w)
    buf, sample_loss = np.empty_like(Z), np.empty_like(w)
    out, delta = (Z, buf) if alias == "out" else (buf, Z)
    loss = loss_forward_backward(code, Z, Y, w, out, delta, sample_loss)
    assert loss == expected[0]
    for got, want in zip((out, delta, sample_loss), expected[1:]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", LOSSES)
def test_parallel_equals_serial(name, rng):
    Z, Y, w = problem(rng, name, 257, 67)
    parallel = run(LOSS_CODES[name], Z, Y, w, loss_forward_backward.parallel)
    serial = run(LOSS_CODES[name], Z, Y, w, loss_forward_backward.serial)
    assert parallel[0] == serial[0]
    for x_parallel, x_serial in zip(parallel[1:], serial[1:]):
        np.testing.assert_array_equal(x_parallel, x_serial)


EXTREME_Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e3], [1e3, -1e3, 1e4], [0.5, -0.5, 0.0]])
EXTREME_Y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
# Unweighted loss of each row above, in the limit.
EXTREME_LOSS = {
    "squared_error": [0.5 * (9999**2 + 1e8), 0.5 * (10001**2 + 1e8 + 1e6), 0.5 * (1e6 + 1e6 + 9999**2),
                      0.5 * (0.25 + 2.25)],
    "binary_cross_entropy": [np.log(2), 2e4 + 1e3, 1e3, 1 + 2 * np.log1p(np.exp(-0.5)) + np.log(2)],
    "softmax_cross_entropy": [0.0, 2e4, 0.0, 1 + np.log(1 + np.exp(-0.5) + np.exp(-1))],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
def test_extreme_logits_are_stable(name, dtype, strict):
    code = LOSS_CODES[name]
    Z, Y = EXTREME_Z.astype(dtype), EXTREME_Y.astype(dtype)
    w = np.array([1.0, 2.0, 0.5, 1.0], dtype)
    loss, out, delta, sample_loss = run(code, Z, Y, w)
    twin = ref.loss_forward_backward(code, Z, Y, w)  # the twin in `dtype`, under `strict`
    for x in (loss, out, delta, sample_loss, *twin):
        assert np.isfinite(x).all()
    np.testing.assert_allclose(sample_loss, EXTREME_LOSS[name], rtol=1e-6)
    np.testing.assert_allclose(twin[3], EXTREME_LOSS[name], rtol=1e-6)
    if name != "squared_error":  # probabilities, saturated where |z| is huge
        assert ((0 <= out) & (out <= 1)).all()
        assert out[0, 0] == 1 and out[0, 1] == 0 and out[1, 1] == 1 and out[1, 0] == 0
    expected = ref.loss_forward_backward(code, *(x.astype(F64) for x in (Z, Y, w)))
    ref.assert_close(np.asarray(loss, dtype), expected[0], dtype)
    for got, want in zip((out, delta, sample_loss), expected[1:]):
        ref.assert_close(got, want, dtype)


@pytest.mark.parametrize("name", LOSSES)
def test_delta_matches_finite_differences(name, rng):
    code = LOSS_CODES[name]
    Z, Y, w = problem(rng, name, 9, 4)
    _, _, delta, _ = run(code, Z, Y, w)
    eps = 1e-6
    fd = np.empty_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += eps
        Zm[idx] -= eps
        fd[idx] = (run(code, Zp, Y, w)[0] - run(code, Zm, Y, w)[0]) / (2 * eps)
    assert np.abs(delta).max() > 0.01
    np.testing.assert_allclose(delta, fd, rtol=1e-6, atol=1e-8)
