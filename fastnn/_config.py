"""Threading policy: which thread pool runs the kernels, how many threads, and when.

What we measured (bench/threads.py, 784-256-128-10 MLP on 2 cores): Numba's
OpenMP layer with libgomp's default *active* wait policy makes its idle
threads spin between kernels and starve the BLAS threads that run the matrix
products, about 35x slower per epoch than the same code with OpenMP told to
sleep (``OMP_WAIT_POLICY=PASSIVE``).  Numba's own ``workqueue`` layer sleeps
too but wakes slowly (2x slower than passive OpenMP).  Since training by
rows (batches of 128 rows or more on several threads, one-thread BLAS) the
wait policy hardly matters for those epochs on a quiet machine (0.136 s
passive, 0.138 s active, bench/results/threads.md of 2026-11-30); passive
still keeps idle threads off the cores where OpenBLAS's own threads work
(smaller batches, ``loss_and_gradient``).  So:

* threading layer: OpenMP with a passive wait policy, then TBB, then
  workqueue where OpenMP is missing.  ``OMP_WAIT_POLICY`` is only set if the
  user has not set it, and it must be set before Numba loads libgomp, which
  is why ``fastnn`` imports this module first;
* BLAS (OpenBLAS through NumPy/SciPy, used by the dense kernels) gets the
  same thread count as the kernels, set through threadpoolctl;
* at most one Python thread at a time launches Numba's pool; a kernel called
  while another thread holds the pool runs its compiled serial variant (same
  result, no oversubscription, and safe under the workqueue layer, which
  aborts on concurrent launches);
* a forked process never launches the pool (GNU OpenMP is not fork-safe and
  Numba kills such children; the parent launched the pool when it imported
  fastnn): it runs the serial variants.  Spawned processes start clean and
  run in parallel.
"""
from __future__ import annotations

import numbers
import os
import threading
from contextlib import contextmanager

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402  (after the OpenMP policy is in the environment)
# Numba's np.dot calls the BLAS bundled with SciPy, a different OpenBLAS than
# NumPy's.  Load it now, so that set_num_threads limits it too: threadpoolctl
# only sees libraries already loaded, and a BLAS loaded later would start with
# one thread per core whatever was asked.
import scipy.linalg.cython_blas  # noqa: E402,F401
import threadpoolctl  # noqa: E402

if os.environ.get("NUMBA_THREADING_LAYER", "default") == "default":
    numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]

_MAX_THREADS = int(numba.config.NUMBA_NUM_THREADS)
_n_threads = _MAX_THREADS
_adaptive = True
_launch_lock = threading.Lock()
_thread_local = threading.local()
_pool_forbidden = False  # True in a forked child: the parent launched the pool at import

# Start Numba's threading layer now (get_num_threads launches it).  The fused
# kernels contain calls to parallel kernels; code loaded from Numba's cache
# into a process whose layer was never launched crashed with SIGSEGV even on
# the serial path (seen with set_num_threads(1) before the first kernel).
numba.get_num_threads()


def _after_fork_in_child() -> None:
    global _pool_forbidden, _launch_lock, _using_lock, _using_blocks
    _pool_forbidden = True
    _launch_lock = threading.Lock()  # the parent's may have been held at fork time
    # The parent's other threads, and their using_threads blocks, are not in the child.
    _using_lock, _using_blocks = threading.Lock(), []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# Blocks of using_threads open in any Python thread, in the order they began (each the
# setting it restores), and the setting before the first of them: the count is
# process-wide, so blocks of several threads (estimators with n_threads fitted in a thread
# pool) overlap.  The latest block's count is in force: one that began inside another's
# restores that other's count, not the one before both, and one that ends while a later
# one is open leaves that later one's count alone.  A set_num_threads call while blocks
# are open replaces the setting before them: the last block to end would otherwise undo it.
_using_lock = threading.Lock()
_using_blocks: list[list] = []
_before_using = None


def set_num_threads(n: int | str) -> None:
    """Set the number of threads used by fastnn's kernels and by BLAS.

    Parameters
    ----------
    n : int or "auto"
        Between 1 and the number of threads Numba started with
        (``numba.config.NUMBA_NUM_THREADS``, by default the number of cores).
        With 1, kernels run their serial compiled variant.  ``"auto"`` (the
        default at import) uses all of them but lets training fall back to
        one thread while that measures faster: when other processes keep
        the cores busy, every multi-threaded matrix product waits for its
        slowest thread (measured here: 3-5x slower epochs with 2 threads
        than with 1 under load, 1.2x faster on a quiet machine).  Results do
        not depend on the choice (see ``fastnn._adaptive``).
    """
    global _before_using
    with _using_lock:
        _set(n)
        if _using_blocks:  # the last using_threads block to end leaves this setting
            _before_using = n


def _set(n: int | str) -> None:
    """:func:`set_num_threads` without the bookkeeping of :func:`using_threads` blocks."""
    global _n_threads, _adaptive
    if isinstance(n, str) and n == "auto":
        adaptive, n = True, _MAX_THREADS
    elif isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n_threads must be an integer or 'auto', got {n!r}")
    else:
        adaptive = False
    n = int(n)
    if not 1 <= n <= _MAX_THREADS:
        raise ValueError(f"n_threads must be between 1 and {_MAX_THREADS}, got {n}")
    # Only a valid request changes anything: a refused one keeps the adaptive mode.
    _n_threads, _adaptive = n, adaptive
    from ._adaptive import set_blas_threads  # that module imports this one

    set_blas_threads(n)


def blas_call(func):
    """``func()``, a threadpoolctl call that sets BLAS limits, from any Python thread.

    threadpoolctl 3.8 lets one Python thread at a time set OpenBLAS's count,
    and a plain call (not a ``with`` block) keeps that thread in control for
    as long as it lives: every later call from another thread would be
    silently ignored.  Control is held as a ``with`` block holds it, so it is
    handed back after the call (a block the caller is in keeps it).
    """
    ownership = getattr(threadpoolctl, "CONTROLLING_THREAD_OWNERSHIP", None)
    if ownership is None:  # threadpoolctl < 3.8: any thread sets the count
        return func()
    ownership.increment()
    try:
        return func()
    finally:
        ownership.decrement()


def adaptive() -> bool:
    """Whether training may fall back to one thread (``set_num_threads("auto")``)."""
    return _adaptive and _n_threads > 1


@contextmanager
def using_threads(n: int | str | None):
    """Context manager: :func:`set_num_threads` ``n`` inside, the previous count after.

    ``None`` leaves the thread count alone.  When blocks of several Python
    threads overlap, the count of the latest one still open is in force, and
    the setting before the first of them is back once the last one ends, or the
    latest :func:`set_num_threads` made while they were open.
    """
    global _using_blocks, _before_using
    if n is None:
        yield
        return
    with _using_lock:
        previous = thread_setting()
        _set(n)
        if not _using_blocks:
            _before_using = previous
        block = [previous]  # a list: a block ending before this one hands its setting on
        _using_blocks.append(block)
    try:
        yield
    finally:
        with _using_lock:
            at = next((i for i, open_block in enumerate(_using_blocks) if open_block is block),
                      None)
            if at is None:  # the parent's block, ending in a forked child (which has none)
                _set(block[0])
            elif at < len(_using_blocks) - 1:
                # A later block (another Python thread's) is open: its count stays in force,
                # and it restores what this one would have.
                del _using_blocks[at]
                _using_blocks[at][0] = block[0]
            else:
                del _using_blocks[at]
                _set(block[0] if _using_blocks else _before_using)


def capped(n: int | str | None) -> int | str | None:
    """An estimator's ``n_threads`` for this machine: at most the threads Numba may use
    (a model from a machine with more cores runs on all of these), None and "auto" left
    alone."""
    if n is None or (isinstance(n, str) and n == "auto"):
        return n
    return min(int(n), _MAX_THREADS)


def get_num_threads() -> int:
    """Number of threads fastnn's kernels and BLAS use (see :func:`set_num_threads`)."""
    return _n_threads


def thread_setting() -> int | str:
    """What :func:`set_num_threads` was last given, as it takes it: "auto" (the adaptive
    count) or the number of threads."""
    return "auto" if _adaptive else _n_threads


@contextmanager
def parallel_slot():
    """Context manager yielding whether this call may launch Numba's thread pool.

    True at most for one Python thread at a time, never with one thread
    configured, never in a child forked after its parent used the pool.
    """
    if _n_threads > 1 and not _pool_forbidden and _launch_lock.acquire(blocking=False):
        try:
            if getattr(_thread_local, "n_threads", None) != _n_threads:
                if not hasattr(_thread_local, "n_threads"):  # this thread's first parallel kernel
                    from .kernels import fpenv  # its pool's threads inherit the caller's flush

                    fpenv.start_pool_in_ieee_arithmetic()
                numba.set_num_threads(_n_threads)  # thread-local in Numba
                _thread_local.n_threads = _n_threads
            yield True
        finally:
            _launch_lock.release()
    else:
        yield False


def run(kernel, *args):
    """Run a :class:`fastnn.kernels.Kernel`, choosing its parallel or serial variant."""
    with parallel_slot() as parallel:
        return (kernel.parallel if parallel else kernel.serial)(*args)


def threading_info() -> dict:
    """The threading choices in force and the BLAS library, for bug reports and benchmarks."""
    from .kernels import blas
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = "not yet loaded (priority: " + ", ".join(numba.config.THREADING_LAYER_PRIORITY) + ")"
    return {
        "n_threads": _n_threads,
        "adaptive": _adaptive,
        "max_threads": _MAX_THREADS,
        "threading_layer": layer,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "blas": blas.BLAS_LIBRARY,
        "pool_forbidden_after_fork": _pool_forbidden,
    }
