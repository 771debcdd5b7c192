"""Find the OpenBLAS bundled with NumPy and its matrix products, without importing anything.

NumPy's wheels bundle OpenBLAS built with 64-bit integers (``numpy.libs/``
on Linux and Windows, ``numpy/.dylibs/`` on macOS) and load it with NumPy.
Its Fortran-interface ``sgemm``/``dgemm`` take every argument by address,
dimensions as int64.  Measured on the W1 epoch's products (2 threads, the
same calls through each library): NumPy 2.4's OpenBLAS 0.3.31 took 0.59 /
0.69 / 1.15 s at batch 512 / 128 / 32 against 0.65 / 0.76 / 1.37 s for the
0.3.30 bundled with SciPy 1.17, which the kernels called before.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import warnings
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def numpy_gemm() -> tuple[int, int, str] | None:
    """``(sgemm address, dgemm address, library path)`` of NumPy's OpenBLAS, or None.

    None where NumPy has no bundled 64-bit-integer OpenBLAS (a build
    against the system's BLAS, MKL, Accelerate), or with the environment
    variable ``FASTNN_BLAS=scipy`` (then the kernels use SciPy's BLAS).
    ``FASTNN_BLAS`` unset, empty or ``numpy`` is the default; any other value
    warns (once: the result is cached) and is treated as the default.  The
    symbols are ``scipy_sgemm_64_`` (NumPy 2) or ``sgemm_64_`` (NumPy 1.2x);
    their names fix the interface.
    """
    choice = os.environ.get("FASTNN_BLAS", "").strip().lower()
    if choice == "scipy":
        return None
    if choice not in ("", "numpy"):
        warnings.warn(f"FASTNN_BLAS={os.environ['FASTNN_BLAS']!r} is not 'numpy' or 'scipy'; "
                      "the kernels use NumPy's OpenBLAS (SciPy's if NumPy has none)",
                      RuntimeWarning, stacklevel=2)
    spec = importlib.util.find_spec("numpy")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    for path in [*sorted(package.parent.glob("numpy.libs/*openblas64*")),
                 *sorted(package.glob(".dylibs/*openblas64*"))]:
        try:
            library = ctypes.CDLL(str(path))
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            try:
                sgemm, dgemm = (getattr(library, f"{prefix}{kind}gemm_64_") for kind in "sd")
            except AttributeError:
                continue
            return _address(sgemm), _address(dgemm), str(path)
    return None


def _address(function) -> int:
    return ctypes.cast(function, ctypes.c_void_p).value
