"""General matrix product with ``alpha`` and ``beta``, straight to BLAS.

Numba's ``np.dot`` computes ``C = A @ B`` only.  A gradient-descent step
``W <- W - lr * A.T @ delta`` is one BLAS call with ``alpha = -lr`` and
``beta = 1``: no gradient buffer written and read again, no separate update
pass.  ``np.dot`` also compiles a large implementation per combination of
layouts (checks, copies of non-contiguous operands); :func:`gemm` is an
intrinsic that emits the call in place (a cold first fit compiles less).

The call goes to the OpenBLAS bundled with NumPy where there is one (its
64-bit-integer Fortran ``sgemm``/``dgemm``, registered with LLVM under
``fastnn_sgemm64``/``fastnn_dgemm64``; faster than SciPy's on these shapes,
see ``_openblas.py``), else to ``numba_xxgemm`` in Numba's helper library,
the function ``np.dot`` itself uses, which forwards to SciPy's BLAS
(``scipy.linalg.cython_blas``).  fastnn's thread limits apply to both (set
through threadpoolctl on every loaded BLAS).  The symbols are resolved by
name when the machine code is loaded, so kernels using them are cached on
disk like any other; the choice is part of the cache tag (``_jit.py``).
"""
from __future__ import annotations

from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from ._openblas import numpy_gemm

_BLAS_KIND = {types.float32: ord("s"), types.float64: ord("d")}
_NUMPY_GEMM = numpy_gemm()
if _NUMPY_GEMM is not None:
    llvm.add_symbol("fastnn_sgemm64", _NUMPY_GEMM[0])
    llvm.add_symbol("fastnn_dgemm64", _NUMPY_GEMM[1])
#: The library the products run in: NumPy's OpenBLAS (its path) or SciPy's.
BLAS_LIBRARY = _NUMPY_GEMM[2] if _NUMPY_GEMM else "scipy.linalg.cython_blas (numba_xxgemm)"
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
    """``C = alpha * op(A) @ op(B) + beta * C`` on row-major matrices.

    Each matrix must be C-contiguous, or row-major with rows further apart
    than their length: a block of columns of a C-contiguous matrix such as
    ``X[:, j0:j1]`` (BLAS's leading dimension; checked at run time unless
    the array's Numba type says C-contiguous).

    Parameters
    ----------
    A : ndarray, shape (m, k), or (k, m) if ``trans_a``; float32 or float64
    trans_a : literal bool, use ``A.T``
    B : ndarray, shape (k, n), or (n, k) if ``trans_b``; same dtype
    trans_b : literal bool, use ``B.T``
    C : ndarray, shape (m, n), same dtype (modified; with
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
        (a_ok, lda), (b_ok, ldb), (c_ok, ldc) = (
            _leading_dimension(builder, context, ty, array) for ty, array in ((A, a), (B, b), (C, c)))
        contiguous = builder.and_(builder.and_(a_ok, b_ok), c_ok)
        i32 = ir.IntType(32)
        status = cgutils.alloca_once_value(builder, builder.select(
            contiguous, ir.Constant(i32, SHAPE_MISMATCH), ir.Constant(i32, NOT_CONTIGUOUS)))
        with builder.if_then(builder.and_(contiguous, match), likely=True):
            # A row-major matrix is its transpose in column-major order, so
            # C.T = alpha * op(B).T @ op(A).T + beta * C.T in BLAS's terms:
            # (transa, transb, m, n, k, A, lda, B, ldb, C, ldc) in column-major order.
            operands = (tb, ta, n, m, k, b, ldb, a, lda, c, ldc)
            alpha_value = context.cast(builder, alpha_, signature.args[5], dtype)
            beta_value = context.cast(builder, beta_, signature.args[6], dtype)
            call = _call_numpy_gemm if _NUMPY_GEMM is not None else _call_numba_xxgemm
            builder.store(call(context, builder, dtype, operands, alpha_value, beta_value), status)
        return builder.load(status)

    return sig, codegen


def _call_numpy_gemm(context, builder, dtype, operands, alpha, beta):
    """Call NumPy's OpenBLAS: Fortran interface, every argument by address, int64 sizes.

    ``operands``: BLAS's ``(transa, transb, m, n, k, A, lda, B, ldb, C, ldc)``
    (flags as bools, sizes as intp values, matrices as array structs).
    """
    transa, transb, m, n, k, a, lda, b, ldb, c, ldc = operands
    scalar = context.get_value_type(dtype)
    i64, char = ir.IntType(64), ir.IntType(8)
    fnty = ir.FunctionType(ir.VoidType(), [
        char.as_pointer(), char.as_pointer(), i64.as_pointer(), i64.as_pointer(),
        i64.as_pointer(), scalar.as_pointer(), scalar.as_pointer(), i64.as_pointer(),
        scalar.as_pointer(), i64.as_pointer(), scalar.as_pointer(), scalar.as_pointer(),
        i64.as_pointer()])
    name = "fastnn_sgemm64" if dtype == types.float32 else "fastnn_dgemm64"
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)

    def by_address(value):
        return cgutils.alloca_once_value(builder, value)

    def size(value):
        return by_address(builder.sext(value, i64) if value.type.width < 64 else value)

    def flag(transposed):
        return by_address(ir.Constant(char, ord("t" if transposed else "n")))

    def data(array):
        return builder.bitcast(array.data, scalar.as_pointer())

    builder.call(fn, [flag(transa), flag(transb), size(m), size(n), size(k), by_address(alpha),
                      data(a), size(lda), data(b), size(ldb), by_address(beta), data(c),
                      size(ldc)])
    return ir.Constant(ir.IntType(32), 0)


def _call_numba_xxgemm(context, builder, dtype, operands, alpha, beta):
    """Call ``numba_xxgemm`` (SciPy's BLAS); returns its int32 status (0: done)."""
    transa, transb, m, n, k, a, lda, b, ldb, c, ldc = operands
    intp = context.get_value_type(types.intp)
    char = ir.IntType(8)
    void_p = cgutils.voidptr_t
    fnty = ir.FunctionType(ir.IntType(32), [char, char, char, intp, intp, intp, void_p, void_p,
                                            intp, void_p, intp, void_p, void_p, intp])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")

    def slot(value):
        return builder.bitcast(cgutils.alloca_once_value(builder, value), void_p)

    def flag(transposed):
        return ir.Constant(char, ord("t" if transposed else "n"))

    return builder.call(fn, [
        ir.Constant(char, _BLAS_KIND[dtype]), flag(transa), flag(transb), m, n, k, slot(alpha),
        builder.bitcast(a.data, void_p), lda, builder.bitcast(b.data, void_p), ldb, slot(beta),
        builder.bitcast(c.data, void_p), ldc])


def _leading_dimension(builder, context, ty, array):
    """(i1 usable, intp leading dimension) of the 2-D ``array`` (a struct of Numba type ``ty``).

    Usable: row-major with adjacent items in a row; the rows may be further
    apart than their length (a block of columns of a C-contiguous matrix),
    then the leading dimension is the row stride in items.  At least 1, as
    BLAS requires.
    """
    intp = context.get_value_type(types.intp)
    one = ir.Constant(intp, 1)
    rows, cols = cgutils.unpack_tuple(builder, array.shape, 2)
    cols_or_one = builder.select(builder.icmp_signed(">", cols, one), cols, one)
    if ty.layout == "C":
        return cgutils.true_bit, cols_or_one
    item = ir.Constant(intp, context.get_abi_sizeof(context.get_data_type(ty.dtype)))
    row_stride, col_stride = cgutils.unpack_tuple(builder, array.strides, 2)
    adjacent_items = builder.or_(builder.icmp_signed("<=", cols, one),
                                 builder.icmp_signed("==", col_stride, item))
    stride_items = builder.sdiv(row_stride, item)
    whole_items = builder.icmp_signed("==", builder.mul(stride_items, item), row_stride)
    single_row = builder.icmp_signed("<=", rows, one)
    rows_apart = builder.and_(whole_items, builder.icmp_signed(">=", stride_items, cols_or_one))
    usable = builder.and_(adjacent_items, builder.or_(single_row, rows_apart))
    return usable, builder.select(single_row, cols_or_one, stride_items)
