"""Optimizer kernels against their NumPy twins (``reference.py``)."""
import numpy as np
import pytest

from fastnn.kernels import adam_update, momentum_update, sgd_update
import reference as ref
from reference import DTYPES

P, N_DECAY = 10_001, 6_000  # weights params[:6000], biases params[6000:]
LR, MU, BETA1, BETA2, EPS = 0.01, 0.9, 0.9, 0.999, 1e-8
KINDS = ["sgd", "heavy_ball", "nesterov", "adam"]
F64 = np.float64


def problem(rng, dtype=F64, n_steps=5):
    """Initial parameters and one gradient per step."""
    params = rng.standard_normal(P).astype(dtype)
    return params, [rng.standard_normal(P).astype(dtype) for _ in range(n_steps)]


def run_kernel(kind, params, grads, weight_decay=0.01, variant="parallel", eps=EPS):
    """Apply one kernel step per gradient to a copy of ``params``; return (params, state1, state2)."""
    params, s1, s2 = params.copy(), np.zeros_like(params), np.zeros_like(params)
    for t, g in enumerate(grads, start=1):
        if kind == "sgd":
            getattr(sgd_update, variant)(params, g, LR, weight_decay, N_DECAY)
        elif kind == "adam":
            getattr(adam_update, variant)(params, g, s1, s2, LR, BETA1, BETA2, eps, t,
                                          weight_decay, N_DECAY)
        else:
            getattr(momentum_update, variant)(params, g, s1, LR, MU, kind == "nesterov",
                                              weight_decay, N_DECAY)
    return params, s1, s2


def run_twin(kind, params, grads, weight_decay=0.01):
    """The same steps with the twins, in float64."""
    params = params.astype(F64)
    s1, s2 = np.zeros_like(params), np.zeros_like(params)
    for t, g in enumerate(grads, start=1):
        g = g.astype(F64)
        if kind == "sgd":
            params = ref.sgd_update(params, g, LR, weight_decay, N_DECAY)
        elif kind == "adam":
            params, s1, s2 = ref.adam_update(params, g, s1, s2, LR, BETA1, BETA2, EPS, t,
                                             weight_decay, N_DECAY)
        else:
            params, s1 = ref.momentum_update(params, g, s1, LR, MU, kind == "nesterov",
                                             weight_decay, N_DECAY)
    return params, s1, s2


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_steps_match_twin(kind, dtype, variant, rng):
    params, grads = problem(rng, dtype)
    got = run_kernel(kind, params, grads, variant=variant)
    assert np.abs(got[0] - params).min() > 0  # every parameter moved
    for g, e in zip(got, run_twin(kind, params, grads)):
        ref.assert_close(g, e, dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_parallel_equals_serial(kind, rng):
    params, grads = problem(rng)
    parallel = run_kernel(kind, params, grads, variant="parallel")
    serial = run_kernel(kind, params, grads, variant="serial")
    for x_parallel, x_serial in zip(parallel, serial):
        np.testing.assert_array_equal(x_parallel, x_serial)


def test_nesterov_differs_from_heavy_ball(rng):
    params, grads = problem(rng)
    # First step from zero velocity: heavy ball moves by -lr g, Nesterov by -(1 + mu) lr g.
    heavy = run_kernel("heavy_ball", params, grads[:1], weight_decay=0.0)[0]
    nesterov = run_kernel("nesterov", params, grads[:1], weight_decay=0.0)[0]
    np.testing.assert_allclose(heavy - params, -LR * grads[0], rtol=1e-9)
    np.testing.assert_allclose(nesterov - params, -(1 + MU) * LR * grads[0], rtol=1e-9)
    heavy = run_kernel("heavy_ball", params, grads)[0]
    nesterov = run_kernel("nesterov", params, grads)[0]
    assert np.abs(nesterov - heavy).mean() > 0.1 * np.abs(heavy - params).mean()


@pytest.mark.parametrize("kind", KINDS)
def test_weight_decay_touches_only_the_weights(kind, rng):
    params, grads = problem(rng, n_steps=3)
    decayed = run_kernel(kind, params, grads, weight_decay=0.1)
    plain = run_kernel(kind, params, grads, weight_decay=0.0)
    for x_decayed, x_plain in zip(decayed, plain):
        np.testing.assert_array_equal(x_decayed[N_DECAY:], x_plain[N_DECAY:])
    assert (decayed[0][:N_DECAY] != plain[0][:N_DECAY]).all()
    if kind == "sgd":  # each step adds -lr * lam * p, p being the parameter before the step
        p = params[:N_DECAY]
        for g in grads:
            p = p - LR * (g[:N_DECAY] + 0.1 * p)
        np.testing.assert_allclose(decayed[0][:N_DECAY], p, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_first_step_moves_each_parameter_by_lr(dtype, rng):
    # Bias correction makes step 1 exactly lr * sign(g) when eps is negligible;
    # without it the step would be (1 - b1) / sqrt(1 - b2) = 3.16 times lr.
    params = rng.uniform(-1, 1, P).astype(dtype)
    g = (rng.uniform(0.1, 2.0, P) * rng.choice([-1.0, 1.0], P)).astype(dtype)
    moved = run_kernel("adam", params, [g], weight_decay=0.0, eps=1e-12)[0]
    assert moved.dtype == dtype
    step = moved.astype(F64) - params.astype(F64)
    np.testing.assert_allclose(step, -LR * np.sign(g), rtol=1e-9 if dtype == F64 else 1e-4)


@pytest.mark.parametrize("variant", ["parallel", "serial"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_leaves_out_what_would_be_subnormal(dtype, variant):
    """An m whose lr_t * m, a gradient whose (1 - b2) g^2, would be subnormal: m is kept but
    moves nothing, and the gradient still enters m but not v (as in the twin)."""
    tiny = np.finfo(np.float32).tiny
    lr_t = LR * np.sqrt(1 - BETA2) / (1 - BETA1)  # step 1
    in_band = 0.5 * tiny / lr_t  # lr_t * m would be subnormal; m itself is normal
    tiny_g = 0.5 * np.sqrt(tiny / (1 - BETA2))
    params = np.array([0.0, 0.0, 1.0, 0.0], dtype)
    grads = np.array([0.0, tiny_g, 0.0, 1e-3], dtype)
    m = np.array([in_band / BETA1, 0.0, 0.5, 0.0], dtype)
    v = np.array([1e-8, 2 * tiny, 1e-8, 0.0], dtype)
    ref_out = ref.adam_update(params.astype(F64), grads.astype(F64), m.astype(F64),
                              v.astype(F64), LR, BETA1, BETA2, EPS, 1, 0.0, 0)
    getattr(adam_update, variant)(params, grads, m, v, LR, BETA1, BETA2, EPS, 1, 0.0, 0)
    assert params[0] == 0 and m[0] == dtype(BETA1) * dtype(in_band / BETA1) and m[0] >= tiny
    assert v[1] == dtype(BETA2) * dtype(2 * tiny)  # nothing of g in v,
    assert m[1] == (dtype(1) - dtype(BETA1)) * dtype(tiny_g)  # all of it in m
    assert params[2] < 1 and params[3] < 0  # ordinary entries move
    for got, want in zip((params, m, v), ref_out):
        ref.assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["heavy_ball", "nesterov", "adam"])
def test_state_decaying_below_the_smallest_normal_float32_is_stored_as_zero(kind, dtype):
    """Zero gradients (a dead unit) shrink the state geometrically: it reaches 0, never a
    subnormal number (each costs a microcode assist), as in the twin; NaN is kept."""
    params = np.ones(4, dtype)
    state = np.array([3e-38, -3e-38, 1.0, np.nan], dtype)
    zeros = np.zeros(4, dtype)
    s1, s2 = state.copy(), np.abs(state)
    ref_params, ref_s1, ref_s2 = params.astype(F64), state.astype(F64), np.abs(state).astype(F64)
    for t in range(1, 400):  # 0.999 ** 400 * 3e-38 < 1.2e-38: v flushed too
        if kind == "adam":
            adam_update.serial(params, zeros, s1, s2, LR, BETA1, BETA2, EPS, t, 0.0, 0)
            ref_params, ref_s1, ref_s2 = ref.adam_update(ref_params, zeros.astype(F64), ref_s1,
                                                         ref_s2, LR, BETA1, BETA2, EPS, t, 0.0, 0)
        else:
            momentum_update.serial(params, zeros, s1, LR, MU, kind == "nesterov", 0.0, 0)
            ref_params, ref_s1 = ref.momentum_update(ref_params, zeros.astype(F64), ref_s1, LR,
                                                     MU, kind == "nesterov", 0.0, 0)
    tiny = np.finfo(dtype).tiny
    for got in (s1, s2) if kind == "adam" else (s1,):
        assert not ((got != 0) & (np.abs(got) < tiny)).any()
    np.testing.assert_array_equal(s1[:2], 0)
    assert np.isnan(s1[3]) and np.isnan(params[3])
    np.testing.assert_array_equal(s1[:2], ref_s1[:2])
    np.testing.assert_allclose(params[:3], ref_params[:3], rtol=1e-6)
