"""A cycle counter readable inside compiled kernels, for per-phase timing.

Numba compiles no clock (``time.perf_counter`` is Python only), and a kernel
that runs a whole epoch on every thread cannot be timed phase by phase from
outside.  :func:`ticks` reads the processor's time-stamp counter (``rdtsc``
through LLVM's ``readcyclecounter``: about 8 ns on the Intel machine, so a
kernel can read it a few times per batch at no measurable cost).  Modern
x86-64 processors count at a constant rate, whatever the core's clock; the
rate is measured against ``time.perf_counter`` by the caller.

Elsewhere ``readcyclecounter`` may read a register that user code is not
allowed to read (AArch64's cycle counter faults), so there :func:`ticks`
returns 0 and :data:`AVAILABLE` is False.
"""
from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import helper

#: Whether :func:`ticks` counts (an x86-64 time-stamp counter) or returns 0.
AVAILABLE = platform.machine().lower() in ("x86_64", "amd64")


@intrinsic
def ticks(typingctx):
    """The time-stamp counter now (int64; 0 where :data:`AVAILABLE` is False)."""
    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        if not AVAILABLE:
            return ir.Constant(i64, 0)
        counter = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, []),
                                                 "llvm.readcyclecounter")
        return builder.call(counter, [])

    return types.int64(), codegen


def _now():
    """:func:`ticks` callable from Python (to measure the counter's rate)."""
    return ticks()


now = helper(_now)
