"""float32 stays float32: the per-element and per-sample helpers compile without double work.

A Python float, ``math.nan`` or an int literal mixed into float32 arithmetic makes Numba
compute in float64 (and LLVM then keeps ``fpext float ... to double``, double arithmetic
and f64 math calls in the loop): slower (no float32 vectors) and not the float32 numbers
the docs promise.  ``activate``'s ``z + math.nan`` fallback did this to every float32
activation unnoticed.  Each helper here is compiled afresh, without Numba's on-disk cache
(cached code has no IR to inspect), for the float32 types the kernels call it with, and
its optimised LLVM IR is searched for double-precision work (a conversion LLVM folds
away, as the ``fcmp`` of a float32 against the int 0, costs nothing and is not counted).
The deliberate float64 work (the weights' squared norm, the batch's total weight for
``alpha``, the loss times ``loss_scale``, the shuffle's uniform draw) lives outside them.
"""
import re

import numba
import numpy as np
import pytest
from numba import types

from fastnn.kernels import (_jit, activations, data, dense, dense_feature_major, losses,
                            optimizers, small)

F32, I64 = types.float32, types.int64
ROW = types.Array(F32, 1, "C")
MATRIX = types.Array(F32, 2, "C")
F64 = types.float64  # activation parameters and learning rates arrive as float64

_DOUBLE = re.compile(
    r"fpext (?:float|<\d+ x float>) .* to|"
    r"= (?:fadd|fsub|fmul|fdiv|frem|fneg|fcmp(?: \w+)*)(?: \w+)* (?:double|<\d+ x double>) |"
    r"call [^@]*@(?:llvm\.\w+\.f64|exp|expm1|log|log1p|tanh|pow|sqrt)\(")


def double_work(func, argtypes, family=None):
    """The lines of ``func``'s LLVM IR, compiled for ``argtypes``, that compute in double.

    ``func`` is a kernel module's Python function; ``family`` a list of functions of its
    module that it calls by name (compiled alongside it, as ``_jit.compile_family`` does).
    Python's boxing of the result (the ``cpython`` wrapper) is left out.
    """
    def build(_, clone):
        return numba.njit(cache=False, fastmath=set(_jit.FASTMATH), nogil=True,
                          error_model="numpy")(clone)

    members = [func] + [f for f in family or () if f is not func]
    compiled = getattr(_jit._family(members, "float32_ir", {}, build), func.__name__)
    compiled.compile(tuple(argtypes))
    ir = compiled.inspect_llvm(tuple(argtypes))
    found, own = [], False
    for line in ir.splitlines():
        if line.startswith("define"):
            own = "cpython" not in line and "cfunc" not in line
        elif own and _DOUBLE.search(line):
            found.append(line.strip())
    return found


def _python(func):
    """The Python function of a compiled helper (``helper``/``inline_helper`` dispatchers)."""
    return getattr(func, "py_func", func)


def test_the_check_sees_double_work():
    """The check itself: a float32 plus a Python float is double work, plus a float32 not."""
    def with_literal(x):
        return x + 0.5

    def typed(x):
        return x + np.float32(0.5)

    assert double_work(with_literal, [F32])
    assert not double_work(typed, [F32])


@pytest.mark.parametrize("helper", ["activate", "derivative_from_output"])
def test_activation_scalars(helper):
    """Every activation and derivative (the code is a run-time value: all branches)."""
    assert double_work(_python(getattr(activations, helper)), [F32, I64, F32]) == []


# Each kernel's serial loop (``prange`` compiles as ``range``) with the float32 types the
# trainers pass; the per-element helpers they call come compiled from their modules.
KERNELS = {
    "activation_forward": (activations.activation_forward, [MATRIX, I64, F64, MATRIX]),
    "bias_activation_forward_inplace": (activations.bias_activation_forward_inplace,
                                        [MATRIX, ROW, I64, F64]),
    "activation_derivative": (activations.activation_derivative, [MATRIX, I64, F64, MATRIX]),
    "activation_backward_inplace": (activations.activation_backward_inplace,
                                    [MATRIX, MATRIX, I64, F64]),
    "dense_forward": (dense.dense_forward, [MATRIX, MATRIX, ROW, I64, F64, MATRIX]),
    "column_sum": (dense.column_sum, [MATRIX, ROW]),
    "dense_forward_feature_major": (dense_feature_major.dense_forward_feature_major,
                                    [MATRIX, types.boolean, MATRIX, ROW, I64, F64, MATRIX]),
    "loss_forward_backward": (losses.loss_forward_backward,
                              [I64, MATRIX, MATRIX, ROW, MATRIX, MATRIX, ROW]),
    "output_forward_inplace": (losses.output_forward_inplace, [I64, MATRIX]),
    "gather_rows": (data.gather_rows, [MATRIX, types.Array(I64, 1, "C"), MATRIX]),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_loops(name):
    """Loops written out in the kernels (ReLU in the dense layers, copies, sums, softmax)."""
    kernel, argtypes = KERNELS[name]
    assert double_work(kernel.__wrapped__, argtypes) == []


def test_loss_row():
    """A row's output activation, delta and loss, all three losses."""
    args = [I64, MATRIX, MATRIX, F32, MATRIX, MATRIX, I64]
    assert double_work(_python(losses.loss_row), args) == []


def test_column_sums():
    """The bias gradient's column (and feature-major row) sums, full blocks and the rest."""
    assert double_work(_python(dense.sum_column_block), [MATRIX, ROW, I64]) == []
    assert double_work(_python(dense_feature_major._sum_row_block), [MATRIX, ROW, I64]) == []


def test_times_derivative_row():
    """The backward pass's ``delta *= f'(A)``, ReLU written out and the others."""
    assert double_work(_python(dense.times_derivative_row), [MATRIX, MATRIX, I64, I64, F64]) == []


def test_optimizer_loops():
    """The elementwise loops of SGD, momentum/Nesterov and Adam (``decayed`` and ``nesterov``
    run-time flags here: both branches compiled)."""
    flag = types.boolean
    assert double_work(_python(optimizers._sgd_part), [ROW, ROW, F32, F32, flag]) == []
    assert double_work(_python(optimizers._momentum_part),
                       [ROW, ROW, ROW, F32, F32, flag, F32, F32, flag]) == []
    assert double_work(_python(optimizers._adam_part),
                       [ROW, ROW, ROW, ROW] + [F32] * 8 + [flag]) == []


def test_small_network_per_sample_code():
    """The small path's forward, loss and backward of one sample (fused SGD step and not)."""
    family = small._INLINE
    forward = [MATRIX, I64, ROW, I64, ROW, I64, I64, I64, I64, I64, I64, F32]
    assert double_work(small._layer_forward, forward, family) == []
    assert double_work(small._output_loss, [I64, MATRIX, I64, ROW, ROW, I64, I64, F32],
                       family) == []
    backward = [MATRIX, I64, ROW, I64, ROW, ROW, I64, I64, I64, I64, ROW, I64, I64, F32,
                types.boolean, F32, F32, types.boolean]
    assert double_work(small._layer_backward, backward, family) == []
