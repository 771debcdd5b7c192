"""``kernels.blas.gemm``: the BLAS call of every matrix product, against NumPy, with either BLAS."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numba import njit

import fastnn
from fastnn.kernels.blas import NOT_CONTIGUOUS, SHAPE_MISMATCH, gemm
from reference import DTYPES

TIMEOUT = 300  # seconds: a child compiles the dense kernels with an empty cache


def _gemm_with(trans_a, trans_b):
    """A compiled ``gemm`` call with these flags (closure constants: literal bools)."""
    @njit
    def call(A, B, C, alpha, beta):
        return gemm(A, trans_a, B, trans_b, C, alpha, beta)

    return call


_nn, _tn, _nt, _tt = (_gemm_with(a, b) for a, b in ((False, False), (True, False),
                                                    (False, True), (True, True)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("call, trans_a, trans_b", [(_nn, False, False), (_tn, True, False),
                                                    (_nt, False, True), (_tt, True, True)])
def test_gemm_matches_numpy(call, trans_a, trans_b, dtype, rng):
    m, k, n = 7, 5, 3
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    expected = -0.5 * (A.T if trans_a else A) @ (B.T if trans_b else B) + 2.0 * C
    assert call(A, B, C, -0.5, 2.0) == 0
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)


def test_gemm_reports_bad_operands_and_computes_nothing(rng):
    A, B = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    C = np.zeros((4, 5))
    assert _nn(A, B, C, 1.0, 0.0) == SHAPE_MISMATCH
    assert not C.any()
    C = np.zeros((2, 4)).T  # the right shape, column-major
    assert _nn(A, B, C, 1.0, 0.0) == NOT_CONTIGUOUS
    assert not C.any()


def test_the_kernels_use_numpys_openblas_where_numpy_bundles_one():
    from fastnn.kernels._openblas import numpy_gemm
    found = numpy_gemm()
    blas = fastnn.threading_info()["blas"]
    if found is None:
        assert "scipy" in blas
    else:
        assert blas == found[2] and "openblas64" in os.path.basename(blas)


@pytest.mark.parametrize("value, warns", [("mkl", True), ("NumPy", False), ("", False)])
def test_an_unknown_blas_choice_warns_and_keeps_the_default(monkeypatch, value, warns):
    from fastnn.kernels._openblas import numpy_gemm
    default = numpy_gemm()
    monkeypatch.setenv("FASTNN_BLAS", value)
    numpy_gemm.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found = numpy_gemm()
    finally:
        numpy_gemm.cache_clear()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert found == default
    if warns:
        assert len(messages) == 1 and f"FASTNN_BLAS={value!r}" in messages[0]
    else:
        assert not messages


def test_scipys_blas_on_request_gives_the_same_training(tmp_path):
    """``FASTNN_BLAS=scipy``: the kernels call SciPy's BLAS (Numba's helper), same numbers."""
    code = """
import json, numpy as np, fastnn
rng = np.random.default_rng(0)
X = rng.standard_normal((300, 20))
Y = np.eye(3)[rng.integers(0, 3, 300)]
net = fastnn.Network([20, 32, 3], "relu", "softmax", dtype=np.float64, random_state=0)
fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.1), epochs=3, batch_size=64,
             random_state=0)
print(json.dumps({"blas": fastnn.threading_info()["blas"], "params": net.params.tolist()}))
"""

    def run(env):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=TIMEOUT, env={**os.environ, **env}).stdout
        return json.loads(out.splitlines()[-1])

    scipy_run = run({"FASTNN_BLAS": "scipy", "NUMBA_CACHE_DIR": str(tmp_path)})
    default_run = run({})
    assert "scipy" in scipy_run["blas"]
    np.testing.assert_allclose(scipy_run["params"], default_run["params"], rtol=1e-10,
                               atol=1e-12)
