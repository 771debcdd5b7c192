"""Compile settings for every kernel, in one place.

Kernels are plain Python functions compiled twice at import (lazily, on first
call): a ``parallel`` variant whose ``prange`` loops run on Numba's thread pool
and a ``serial`` variant of the same code.  The API picks one per call (see
``fastnn._threads``); the kernels never import the API.
"""
from __future__ import annotations

import os
import tempfile
import types

from numba import config as numba_config
from numba import njit

# Fast-math minus ``nnan``/``ninf``: reassociation and FMA contraction let LLVM
# vectorise reductions, while NaN/inf keep their meaning so that a diverging
# loss is still detected.  ``afn`` (approximate exp/log) is left out on purpose:
# kernels are checked against NumPy twins to tight tolerances.
FASTMATH = frozenset({"nsz", "arcp", "contract", "reassoc"})

_cache_enabled = True


def _fallback_cache_dir() -> str:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"fastnn-numba-cache-{uid}")


def _compile(func, parallel: bool):
    """``njit`` with the house flags; degrade caching instead of failing import.

    Numba raises ``RuntimeError`` at decoration time when neither the package
    directory nor the user cache directory is writable (a read-only install
    with a read-only home).  We then point Numba at a private temporary
    directory, and if even that fails compile without an on-disk cache.
    """
    global _cache_enabled
    options = dict(parallel=parallel, fastmath=set(FASTMATH), nogil=True, error_model="numpy")
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


def _renamed_copy(func, suffix: str):
    """A copy of ``func`` with its own qualified name.

    Numba's cache index is named after ``__qualname__`` and does not record the
    ``parallel`` flag, so the serial and parallel variants must not share a
    name or one would load the other's machine code from the cache.
    """
    clone = types.FunctionType(func.__code__, func.__globals__, func.__name__ + suffix,
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
        self.parallel = _compile(func, parallel=True)
        self.serial = _compile(_renamed_copy(func, "_serial"), parallel=False)
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
    return _compile(func, parallel=False)
