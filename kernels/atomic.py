"""An atomic counter for handing out work to the threads of a ``prange`` loop.

Numba's ``prange`` splits its iterations among the threads up front, in equal
shares.  When another process takes a core, the thread on it finishes its
share late and the others wait.  With a shared counter, each thread instead
takes the next piece of work when it is free (``fetch_add``), so a slowed
thread simply takes fewer pieces.
"""
from __future__ import annotations

from numba import types
from numba.core import errors
from numba.extending import intrinsic


def _check_operands(name, counter, *values):
    """Typing-time check: a writable 1-D int64 ``counter`` and integer ``values``."""
    if not (isinstance(counter, types.Array) and counter.ndim == 1
            and counter.dtype == types.int64 and counter.mutable):
        raise errors.TypingError(f"{name}: counter must be a writable 1-D int64 array, "
                                 f"got {counter}")
    for value in values:
        if not isinstance(value, types.Integer):
            raise errors.TypingError(f"{name}: operands must be integers, got {value}")


def _atomic_add(ordering: str):
    """Code generator of ``counter[0] += value`` as one atomic instruction with ``ordering``."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        increment = context.cast(builder, args[1], signature.args[1], types.int64)
        return builder.atomic_rmw("add", array.data, increment, ordering)

    return codegen


@intrinsic
def fetch_add(typingctx, counter, value):
    """Atomically add ``value`` to ``counter[0]``; return the value it held before.

    Parameters
    ----------
    counter : ndarray, shape (k,), int64, writable (only entry 0 is used)
    value : int

    Returns
    -------
    int64 : ``counter[0]`` before the addition (each thread sees a different one)
    """
    _check_operands("fetch_add", counter, value)
    # Monotonic ordering: the counter only hands out numbers; the work's data
    # are published by the end of the parallel region.
    return types.int64(counter, value), _atomic_add("monotonic")


@intrinsic
def fetch_add_sync(typingctx, counter, value):
    """:func:`fetch_add` with sequentially consistent ordering, for barriers.

    Whatever a thread wrote before its ``fetch_add_sync`` is visible to a
    thread whose later ``fetch_add_sync`` (``value`` 0: a plain read) sees
    the addition.
    """
    _check_operands("fetch_add_sync", counter, value)
    return types.int64(counter, value), _atomic_add("seq_cst")


@intrinsic
def compare_exchange(typingctx, counter, expected, new):
    """Atomically set ``counter[0]`` to ``new`` if it holds ``expected``; return whether it did.

    Sequentially consistent, like :func:`fetch_add_sync`.
    """
    _check_operands("compare_exchange", counter, expected, new)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        old = context.cast(builder, args[1], signature.args[1], types.int64)
        value = context.cast(builder, args[2], signature.args[2], types.int64)
        pair = builder.cmpxchg(array.data, old, value, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)

    return types.boolean(counter, expected, new), codegen
