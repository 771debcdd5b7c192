"""Software prefetch: ask the CPU to start loading memory before a kernel needs it.

A kernel that visits rows of a large array in a known but scattered order
(a shuffled epoch) pays one memory latency per row if it waits for each row;
naming a row some iterations ahead lets several rows' loads overlap with the
arithmetic on the current one.  ``prefetch_row`` emits LLVM's
``llvm.prefetch`` for every 64-byte cache line of one row.  A prefetch is a
hint: it never faults, never changes a value, and a kernel computes the same
result with or without it.

``prefetch_item`` asks for the one line holding an element of a 1-D array
(an index or a weight fetched at a scattered position).

The address is computed at run time from the array argument (no pointer is
baked into the machine code), so kernels that call it stay cacheable with
``cache=True``.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# Bytes per cache line on x86-64 and most ARM cores.  A smaller true line size
# only leaves part of a row to the hardware prefetcher; a larger one issues a
# few redundant hints.
LINE_BYTES = 64
_BYTE_PTR = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)


def _address_along_axis_0(context, builder, signature, args):
    """``(array, intp, address)``: the array argument ``args[0]`` as a struct, the
    integer type of addresses, and the byte address of its entry ``args[1]``
    along the first axis (``data + args[1] * strides[0]``)."""
    array = context.make_array(signature.args[0])(context, builder, args[0])
    intp = context.get_value_type(types.intp)
    index = context.cast(builder, args[1], signature.args[1], types.intp)
    offset = builder.mul(index, builder.extract_value(array.strides, 0))
    return array, intp, builder.add(builder.ptrtoint(array.data, intp), offset)


def _emit_prefetch(builder, address):
    """``llvm.prefetch(address, rw=0 read, locality=3 all levels, cache type 1 data)``."""
    fn = builder.module.declare_intrinsic(
        "llvm.prefetch", [_BYTE_PTR],
        fnty=ir.FunctionType(ir.VoidType(), [_BYTE_PTR, _I32, _I32, _I32]))
    builder.call(fn, [builder.inttoptr(address, _BYTE_PTR), _I32(0), _I32(3), _I32(1)])


@intrinsic
def prefetch_row(typingctx, X, i):
    """Start loading row ``i`` of the 2-D array ``X`` into every cache level.

    Parameters
    ----------
    X : ndarray, shape (n, d), any dtype and strides
    i : int, a row number in ``[0, n)`` (not checked: an out-of-range hint
        is harmless to the CPU but pointless)

    One ``llvm.prefetch`` (read, locality 3 = keep in all levels, data cache)
    per cache line that holds a byte of ``X[i]``: from the line of its first
    byte to the line of its last, so an unaligned row is covered entirely.
    A row whose items are not adjacent (``X.strides[1] != itemsize``) gets
    the line of its first item only.
    """
    if not (isinstance(X, types.Array) and X.ndim == 2 and isinstance(i, types.Integer)):
        return None
    sig = types.void(X, i)

    def codegen(context, builder, signature, args):
        array, intp, start = _address_along_axis_0(context, builder, signature, args)
        itemsize = ir.Constant(intp, context.get_abi_sizeof(
            context.get_data_type(signature.args[0].dtype)))
        item_stride = builder.extract_value(array.strides, 1)
        adjacent = builder.icmp_signed("==", item_stride, itemsize)
        row_bytes = builder.select(
            adjacent, builder.mul(builder.extract_value(array.shape, 1), itemsize), itemsize)
        first_line = builder.and_(start, ir.Constant(intp, -LINE_BYTES))
        end = builder.add(start, row_bytes)
        with cgutils.for_range_slice(builder, first_line, end, ir.Constant(intp, LINE_BYTES),
                                     intp) as (address, _):
            _emit_prefetch(builder, address)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch_item(typingctx, a, i):
    """Start loading the cache line that holds ``a[i]`` of the 1-D array ``a``.

    Parameters
    ----------
    a : ndarray, shape (n,), any dtype and stride
    i : int, an index in ``[0, n)`` (not checked, as for ``prefetch_row``)
    """
    if not (isinstance(a, types.Array) and a.ndim == 1 and isinstance(i, types.Integer)):
        return None
    sig = types.void(a, i)

    def codegen(context, builder, signature, args):
        _emit_prefetch(builder, _address_along_axis_0(context, builder, signature, args)[2])
        return context.get_dummy_value()

    return sig, codegen
