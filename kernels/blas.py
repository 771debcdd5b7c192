"""General matrix product with ``alpha`` and ``beta``, straight to BLAS.

Numba's ``np.dot`` computes ``C = A @ B`` only.  A gradient-descent step
``W <- W - lr * A.T @ delta`` is one BLAS call with ``alpha = -lr`` and
``beta = 1``: no gradient buffer written and read again, no separate update
pass.  ``np.dot`` also compiles a large implementation per combination of
layouts (checks, copies of non-contiguous operands); :func:`gemm` is an
intrinsic that emits the call in place (a cold first fit compiles less).

The call goes to ``numba_xxgemm`` in Numba's helper library, the function
``np.dot`` itself uses: it forwards to SciPy's BLAS (``scipy.linalg.cython_blas``),
so the thread limits fastnn sets on that BLAS apply.  The symbol is resolved
by name when the machine code is loaded, so kernels using it are cached on
disk like any other.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

_BLAS_KIND = {types.float32: ord("s"), types.float64: ord("d")}
# gemm's own statuses (numba_xxgemm returns 0, or -1 when it finds no BLAS).
SHAPE_MISMATCH = -101
NOT_CONTIGUOUS = -102


def _check_types(A, trans_a, B, trans_b, C, alpha, beta):
    arrays = {"A": A, "B": B, "C": C}
    for name, array in arrays.items():
        if not (isinstance(array, types.Array) and array.ndim == 2):
            raise errors.TypingError(f"gemm: {name} must be a 2-D array, got {array}")
    if C.dtype not in _BLAS_KIND or A.dtype != C.dtype or B.dtype != C.dtype:
        raise errors.TypingError(f"gemm: A, B, C must share a float32 or float64 dtype, got "
                                 f"{A.dtype}, {B.dtype}, {C.dtype}")
    if not C.mutable:
        raise errors.TypingError("gemm: C must be writable")
    for name, flag in (("trans_a", trans_a), ("trans_b", trans_b)):
        if not isinstance(flag, types.BooleanLiteral):
            raise errors.TypingError(f"gemm: {name} must be a literal True or False")
    for name, scalar in (("alpha", alpha), ("beta", beta)):
        if not isinstance(scalar, (types.Float, types.Integer)):
            raise errors.TypingError(f"gemm: {name} must be a number, got {scalar}")


@intrinsic
def gemm(typingctx, A, trans_a, B, trans_b, C, alpha, beta):
    """``C = alpha * op(A) @ op(B) + beta * C`` on row-major (C-contiguous) matrices.

    Parameters
    ----------
    A : ndarray, shape (m, k), or (k, m) if ``trans_a``; float32 or float64,
        C-contiguous (checked at run time unless its Numba type says so)
    trans_a : literal bool, use ``A.T``
    B : ndarray, shape (k, n), or (n, k) if ``trans_b``; same dtype, C-contiguous
    trans_b : literal bool, use ``B.T``
    C : ndarray, shape (m, n), same dtype, C-contiguous (modified; with
        ``beta == 0`` its old values are not read, as in BLAS)
    alpha, beta : float

    Returns
    -------
    status : int32
        0 done; ``NOT_CONTIGUOUS`` or ``SHAPE_MISMATCH`` (nothing computed);
        else the BLAS helper's error.
    """
    _check_types(A, trans_a, B, trans_b, C, alpha, beta)
    sig = types.int32(A, trans_a, B, trans_b, C, alpha, beta)
    ta, tb = trans_a.literal_value, trans_b.literal_value
    dtype = C.dtype

    def codegen(context, builder, signature, args):
        a, _, b, _, c, alpha_, beta_ = args
        intp = context.get_value_type(types.intp)
        char = ir.IntType(8)
        void_p = cgutils.voidptr_t
        a, b, c = (context.make_array(ty)(context, builder, value)
                   for ty, value in zip((A, B, C), (a, b, c)))
        a_rows, a_cols = cgutils.unpack_tuple(builder, a.shape, 2)
        b_rows, b_cols = cgutils.unpack_tuple(builder, b.shape, 2)
        m, n = cgutils.unpack_tuple(builder, c.shape, 2)
        a_m, k = (a_cols, a_rows) if ta else (a_rows, a_cols)
        b_k, b_n = (b_cols, b_rows) if tb else (b_rows, b_cols)
        match = builder.and_(builder.and_(builder.icmp_signed("==", a_m, m),
                                          builder.icmp_signed("==", b_k, k)),
                             builder.icmp_signed("==", b_n, n))
        contiguous = builder.and_(builder.and_(_row_major(builder, context, A, a),
                                               _row_major(builder, context, B, b)),
                                  _row_major(builder, context, C, c))
        i32 = ir.IntType(32)
        status = cgutils.alloca_once_value(builder, builder.select(
            contiguous, ir.Constant(i32, SHAPE_MISMATCH), ir.Constant(i32, NOT_CONTIGUOUS)))
        with builder.if_then(builder.and_(contiguous, match), likely=True):
            fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, void_p,
                                                    void_p, intp, void_p, intp, void_p, void_p,
                                                    intp])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
            one = ir.Constant(intp, 1)

            def at_least_one(value):  # BLAS wants leading dimensions >= 1
                return builder.select(builder.icmp_signed(">", value, one), value, one)

            def slot(value, ty):
                ptr = cgutils.alloca_once_value(builder, context.cast(builder, value, ty, dtype))
                return builder.bitcast(ptr, void_p)

            def flag(transposed):
                return ir.Constant(char, ord("t" if transposed else "n"))

            # A row-major matrix is its transpose in column-major order, so
            # C.T = alpha * op(B).T @ op(A).T + beta * C.T in BLAS's terms.
            result = builder.call(fn, [
                ir.Constant(char, _BLAS_KIND[dtype]), flag(tb), flag(ta), n, m, k,
                slot(alpha_, signature.args[5]), builder.bitcast(b.data, void_p),
                at_least_one(b_cols), builder.bitcast(a.data, void_p), at_least_one(a_cols),
                slot(beta_, signature.args[6]), builder.bitcast(c.data, void_p),
                at_least_one(n)])
            builder.store(result, status)
        return builder.load(status)

    return sig, codegen


def _row_major(builder, context, ty, array):
    """i1: whether the 2-D ``array`` (a struct of Numba type ``ty``) is C-contiguous."""
    if ty.layout == "C":
        return cgutils.true_bit
    intp = context.get_value_type(types.intp)
    one = ir.Constant(intp, 1)
    item = ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(ty.dtype)))
    rows, cols = cgutils.unpack_tuple(builder, array.shape, 2)
    row_stride, col_stride = cgutils.unpack_tuple(builder, array.strides, 2)
    adjacent_items = builder.or_(builder.icmp_signed("<=", cols, one),
                                 builder.icmp_signed("==", col_stride, item))
    adjacent_rows = builder.or_(builder.icmp_signed("<=", rows, one),
                                builder.icmp_signed("==", row_stride, builder.mul(cols, item)))
    return builder.and_(adjacent_items, adjacent_rows)
