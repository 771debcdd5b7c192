"""Compile settings for every kernel, in one place.

Kernels are plain Python functions compiled twice at import (lazily, on first
call): a ``parallel`` variant whose ``prange`` loops run on Numba's thread pool
and a ``serial`` variant of the same code.  The API picks one per call (see
``fastnn._threads``); the kernels never import the API.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import types
from pathlib import Path

import numba

from numba import config as numba_config
from numba import njit

from ._openblas import numpy_gemm

# A fast-math subset: reciprocal division and ignoring the sign of zero.
# Left out on purpose: ``nnan``/``ninf`` (NaN/inf must keep their meaning so
# that a diverging loss is detected), ``afn`` (approximate exp/log; kernels are
# checked against NumPy twins to tight tolerances), and ``reassoc`` and
# ``contract``: with either, LLVM fused or reordered ``b1 * m + (1 - b1) * g``
# differently in the parallel and the serial variant of adam_update, so
# results changed with the thread count.
FASTMATH = frozenset({"nsz", "arcp"})

_cache_enabled = True


def _source_tag() -> str:
    """Hash of every kernel source file, the compile flags, Numba's version and the BLAS.

    Numba's cache checks only the timestamp of the file that defines a
    function: it does not notice a change of flags here, nor of a helper in
    another file that the function inlines.  Every compiled function's name
    carries this tag, so any such change starts a fresh cache entry.
    """
    digest = hashlib.sha1(numba.__version__.encode())
    digest.update(repr(sorted(FASTMATH)).encode())
    digest.update(repr(numpy_gemm() is not None).encode())  # which BLAS interface gemm calls
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


_TAG = _source_tag()


def _fallback_cache_dir() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"fastnn-numba-cache-{uid}")


def _compile(func, parallel: bool, inline: str = "never"):
    """``njit`` with the house flags; degrade caching instead of failing import.

    Numba raises ``RuntimeError`` at decoration time when neither the package
    directory nor the user cache directory is writable (a read-only install
    with a read-only home).  We then point Numba at a private temporary
    directory, and if even that fails compile without an on-disk cache.
    """
    global _cache_enabled
    options = dict(parallel=parallel, fastmath=set(FASTMATH), nogil=True, error_model="numpy",
                   inline=inline)
    if _cache_enabled:
        try:
            return njit(cache=True, **options)(func)
        except RuntimeError:
            if not numba_config.CACHE_DIR:
                numba_config.CACHE_DIR = _fallback_cache_dir()
                try:
                    return njit(cache=True, **options)(func)
                except RuntimeError:
                    pass
            _cache_enabled = False
    return njit(cache=False, **options)(func)


def _renamed_copy(func, variant: str, namespace: dict | None = None):
    """A copy of ``func`` named ``<qualname>_<variant>_<source tag>`` (globals: ``namespace``).

    Numba's cache index is named after ``__qualname__`` and does not record the
    ``parallel`` flag, so the serial and parallel variants must not share a
    name or one would load the other's machine code from the cache; the tag
    invalidates the cache when any kernel source or flag changes.
    """
    suffix = f"_{variant}_{_TAG}"
    namespace = func.__globals__ if namespace is None else namespace
    clone = types.FunctionType(func.__code__, namespace, func.__name__ + suffix,
                               func.__defaults__, func.__closure__)
    clone.__qualname__ = func.__qualname__ + suffix
    clone.__doc__ = func.__doc__
    clone.__module__ = func.__module__
    return clone


class Kernel:
    """A kernel compiled as a parallel and a serial variant.

    Calling the object runs the parallel variant.  ``fastnn`` itself chooses
    between ``.parallel`` and ``.serial`` per call, so that concurrent Python
    threads and forked children never launch Numba's thread pool unsafely.
    """

    def __init__(self, func):
        self.parallel = _compile(_renamed_copy(func, "parallel"), parallel=True)
        self.serial = _compile(_renamed_copy(func, "serial"), parallel=False)
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    def __call__(self, *args):
        return self.parallel(*args)

    def __repr__(self) -> str:
        return f"<fastnn kernel {self.__name__}>"


def kernel(func) -> Kernel:
    """Decorator: compile ``func`` as a :class:`Kernel` (parallel + serial)."""
    return Kernel(func)


def helper(func):
    """Decorator for serial device-level helpers called from kernels."""
    return _compile(_renamed_copy(func, "helper"), parallel=False)


def inline_helper(func):
    """:func:`helper` inlined into its callers at Numba IR level (no call, no array
    reference counting per call)."""
    return _compile(_renamed_copy(func, "inline_helper"), parallel=False, inline="always")


def compile_family(funcs, variant: str, overrides: dict, inline=()) -> types.SimpleNamespace:
    """Compile functions that call each other against a private copy of their globals.

    Each function of ``funcs`` (plain functions of one module) is compiled as
    a serial helper named ``<qualname>_<variant>_<tag>`` whose globals are the
    module's with ``overrides`` applied and with every name of ``funcs``
    bound to its compiled copy, so calls inside the family stay inside it.
    The fused trainer builds a ``parallel`` family and a ``serial`` one whose
    overrides swap every parallel kernel for its serial variant: Numba
    compiles what a function references, so the serial family never compiles
    a ``prange`` kernel (half the cold-start time for small networks).

    Returns
    -------
    SimpleNamespace
        The compiled functions by name.
    """
    return _family(funcs, variant, overrides, lambda func, clone: _compile(
        clone, parallel=False, inline="always" if func in inline else "never"))


def python_family(funcs, variant: str, overrides: dict) -> types.SimpleNamespace:
    """:func:`compile_family` without compiling: the functions run as Python.

    Their loops (over batches and layers) then run in the interpreter and
    each kernel they call is a compiled call of its own; nothing but those
    kernels compiles.
    """
    return _family(funcs, variant, overrides, lambda func, clone: clone)


def _family(funcs, variant: str, overrides: dict, build) -> types.SimpleNamespace:
    namespace = dict(funcs[0].__globals__)
    namespace.update(overrides)
    members = {func.__name__: build(func, _renamed_copy(func, variant, namespace))
               for func in funcs}
    namespace.update(members)  # Numba resolves globals at compile time, i.e. later
    return types.SimpleNamespace(**members)
