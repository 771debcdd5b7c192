"""Subnormal numbers flushed to zero while fastnn's kernels run (x86-64's MXCSR).

A float32 below 1.2e-38 in magnitude (2.2e-308 in float64) is subnormal,
and on x86 every instruction that reads or makes one takes a microcode
assist of about a hundred cycles.  Training makes them where it converges:
the output deltas of confidently classified rows become tiny (not subnormal
themselves), and the products of the backward pass (``delta @ W.T``) then
build their sums out of subnormal partial products.  Measured on the digits data (tiled to
36,000 rows, 64-256-128-10 ReLU, Adam, one thread): an epoch took 0.38 s
after 60 epochs against 0.17 s with subnormals flushed, 0.16 s at the start.

:func:`flush_subnormals` sets the calling thread's flush-to-zero and
denormals-are-zero bits (subnormal results become 0, subnormal inputs read
as 0), for everything the thread runs next, OpenBLAS's products on that
thread included (not those OpenBLAS hands to its own worker threads, which
keep IEEE arithmetic), and returns the previous control word for
:func:`restore`.  Only values
below the smallest normal number change: what they would add to a weight is
below ``lr * 1e-38``.  Each thread has its own control word, so a parallel
kernel sets it in every worker, and every setter restores it: Numba's pool
threads and the caller's thread go back to IEEE arithmetic for any other
code.  Elsewhere (no MXCSR) both are no-ops and :data:`AVAILABLE` is False.
"""
from __future__ import annotations

import platform
from contextlib import contextmanager

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import _compile, _renamed_copy, helper

#: Whether :func:`flush_subnormals` changes anything (an x86-64 MXCSR).
AVAILABLE = platform.machine().lower() in ("x86_64", "amd64")

FLUSH_TO_ZERO = 0x8000  # MXCSR bit 15: subnormal results are written as 0
DENORMALS_ARE_ZERO = 0x0040  # MXCSR bit 6: subnormal operands are read as 0

_I32 = ir.IntType(32)
_BYTE_PTR = ir.IntType(8).as_pointer()


def smallest_weight_read(dtype) -> float:
    """The smallest non-negative ``dtype`` value the training kernels read as nonzero.

    Inside :func:`subnormals_flushed` a subnormal operand reads as 0, so a sample
    weight below the smallest normal number weighs nothing there; where the
    control word cannot be set (:data:`AVAILABLE` False), every positive value
    counts.  Input checks and :func:`fastnn.network.last_weighted_batch` use this
    one floor so that they agree with the kernels and with each other.
    """
    info = np.finfo(dtype)
    return float(info.tiny if AVAILABLE else info.smallest_subnormal)


def _mxcsr_call(builder, name, slot):
    """Emit ``llvm.x86.sse.<name>(slot)``: ``stmxcsr`` stores the register in ``slot``,
    ``ldmxcsr`` loads it from there."""
    fn = builder.module.declare_intrinsic(
        f"llvm.x86.sse.{name}", fnty=ir.FunctionType(ir.VoidType(), [_BYTE_PTR]))
    builder.call(fn, [builder.bitcast(slot, _BYTE_PTR)])


@intrinsic
def _read_mxcsr(typingctx):
    """The calling thread's MXCSR (int32; 0 where :data:`AVAILABLE` is False)."""
    def codegen(context, builder, signature, args):
        if not AVAILABLE:
            return ir.Constant(_I32, 0)
        slot = cgutils.alloca_once(builder, _I32)
        _mxcsr_call(builder, "stmxcsr", slot)
        return builder.load(slot)

    return types.int32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    """Set the calling thread's MXCSR to ``value`` (int32; nothing where not AVAILABLE)."""
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        if AVAILABLE:
            slot = cgutils.alloca_once(builder, _I32)
            builder.store(context.cast(builder, args[0], signature.args[0], types.int32), slot)
            _mxcsr_call(builder, "ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(value), codegen


def _flush_subnormals():
    """Flush subnormals to zero on the calling thread; returns its previous control word."""
    previous = _read_mxcsr()
    _write_mxcsr(previous | (FLUSH_TO_ZERO | DENORMALS_ARE_ZERO))
    return previous


def _restore(previous):
    """Give the calling thread back the control word ``previous`` (from flush_subnormals)."""
    _write_mxcsr(previous)


def _control_word():
    """The calling thread's control word as it is (for tests and callers that check)."""
    return _read_mxcsr()


# Callable from kernels and from Python alike (compiled helpers).
flush_subnormals = helper(_flush_subnormals)
restore = helper(_restore)
control_word = helper(_control_word)


def _pool_control_words(n):
    """Each of ``n`` iterations' thread's control word (one per thread, when ``n`` is the
    pool's size): running it starts every thread of the calling thread's pool."""
    words = np.zeros(n, np.int64)
    for i in prange(n):
        words[i] = _read_mxcsr()
    return words


pool_control_words = _compile(_renamed_copy(_pool_control_words, "parallel"), parallel=True)


def start_pool_in_ieee_arithmetic() -> None:
    """Start every thread of the calling Python thread's Numba pool, from an IEEE control word.

    A new thread inherits its creator's control word, and the threading layers
    create pool threads at the first parallel region that needs them: one
    first run inside :func:`subnormals_flushed` left them flushing subnormals
    for the rest of the process (restoring a worker gives back what it
    started with), in the user's own Numba code too.  So the threads are all
    started here, before a Python thread's first parallel kernel
    (``fastnn._config.parallel_slot`` calls this; each Python thread has its
    own pool with OpenMP), whatever the caller's control word.
    """
    if not AVAILABLE:
        return
    threads = numba.get_num_threads()
    previous = control_word()
    restore(previous & ~(FLUSH_TO_ZERO | DENORMALS_ARE_ZERO))
    try:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        pool_control_words(4 * numba.config.NUMBA_NUM_THREADS)
    finally:
        numba.set_num_threads(threads)
        restore(previous)


@contextmanager
def subnormals_flushed():
    """Context manager: :func:`flush_subnormals` on the calling thread inside, :func:`restore`
    after (for Python code that calls kernels; parallel kernels set their workers, whose
    threads were started in IEEE arithmetic: :func:`start_pool_in_ieee_arithmetic`)."""
    previous = flush_subnormals()
    try:
        yield
    finally:
        restore(previous)
