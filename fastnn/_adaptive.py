"""Adaptive thread count for training: all threads, or one while that is faster.

On a quiet 2-core machine a second thread makes a W1 epoch about 1.7x
faster (training by rows, batches of 128 rows or more; 1.2-1.5x below);
when another process keeps a core busy, the threads wait for their
descheduled partner at every barrier or multi-threaded matrix product, and
the epoch gets 1.2-1.5x (by rows) to 3-5x (OpenBLAS's threads) *slower*
than with one thread.  Neither choice is right all the time,
so a fused epoch runs in segments of whole batches and :class:`ThreadTuner`
picks the thread count of each segment from measured time per row.

The choice changes results at most in the last bits, and only through
OpenBLAS: fastnn's parallel and serial kernels give bit-identical results
(tests/test_threads.py), but OpenBLAS rounds some products differently on
one thread and on two (measured: a 784-256-128-10 float32 network after one
epoch of 6,000 rows differs by up to 4.5e-8 in 71,176 of 235,146 parameters
at batch 32, 6,434 at batch 512; the small networks of the tests match bit
for bit).
"""
from __future__ import annotations

import math
import os
import threading
import time
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController, threadpool_limits

from . import _config

# Segments per epoch: enough to notice a change of machine load within an
# epoch, few enough that each holds several batches (one kernel call each).
SEGMENTS_PER_EPOCH = 16
_MIN_BATCHES_PER_SEGMENT = 4
# Epochs that train by rows (``kernels.data_parallel``) lose 1.2-1.5x under
# load, not 3-5x, and every segment on all threads is one more launch of the
# pool: while all threads are the choice, their segments are a quarter of an
# epoch.  Probes, and everything while one thread is the choice, keep the
# short ones (so the way back to all threads after a load is as quick).  One
# call for a W1 epoch (batch 128, 2 threads) took 0.348 s, 4 segments
# 0.362 s, 15 segments 0.366 s (medians of 7).
SEGMENTS_PER_EPOCH_BY_ROWS = 4
# A losing option is retried after this many segments, doubling up to the
# maximum each time it loses again (a probe with the wrong choice under load
# costs a 3-5x slower segment).
_FIRST_PROBE_INTERVAL = 4
_MAX_PROBE_INTERVAL = 64
# While all threads are the choice, a losing one-thread probe is retried 4x
# later each time, up to this many segments: a load that makes one thread
# faster slows all threads first, and the current option getting slower
# than the other's last measurement triggers a probe at once.  Each probe
# costs a segment at about half speed: with doubling up to 64, 5 of the
# first 9 W1 epochs (batch 512, 2 threads, 15 segments an epoch) held one,
# and the adaptive epochs were 4-6 % slower than fixed 2 threads.
_MAX_PROBE_INTERVAL_ALL_THREADS = 1024
# Exponential average of the current option's seconds per row.
_SMOOTHING = 0.5
# Segments last at least this long at the faster option's measured speed:
# each costs a threadpoolctl limit (about 50 us) and, on all threads, a launch
# of the pool.  A digits fit (1,797 x 64, 64-100-10, batch 200, MLPClassifier
# defaults: 9 batches, 1.5 ms an epoch) took 0.28 s adaptive in 3 segments
# an epoch (threadpoolctl 0.04 s of it), 0.22 s in one; 0.20-0.22 s on one
# thread (medians of 7, alternating in one process).
MIN_SEGMENT_SECONDS = 0.005

# Segments a tuner remembers in ``history``: tuners live as long as the process (one per
# workload, see tuner_for), and a long-lived one runs about 16 segments an epoch.
HISTORY_LENGTH = 4096

_blas = None  # threadpoolctl controller, created on first use (scans loaded libraries)


def _blas_controller() -> ThreadpoolController:
    global _blas
    if _blas is None:
        _blas = ThreadpoolController()
    return _blas


class ThreadTuner:
    """Chooses between ``n_threads`` and 1 thread per segment, by seconds per row.

    Parameters
    ----------
    n_threads : int
        The multi-threaded option (``fastnn.get_num_threads()``).

    Attributes
    ----------
    per_row : dict of int to float
        Smoothed seconds per row of each option measured so far.
    history : list of int
        Thread count of each segment run, in order (for tests and profiling): the
        last ``HISTORY_LENGTH`` to ``2 * HISTORY_LENGTH`` of them.
    """

    def __init__(self, n_threads: int):
        self.options = (n_threads, 1)
        self.per_row: dict[int, float] = {}
        self._seen: set[int] = set()
        self.current = n_threads
        self._interval = _FIRST_PROBE_INTERVAL
        self._since_probe = 0
        self.history: list[int] = []

    def min_segment_rows(self) -> int:
        """Rows that take ``MIN_SEGMENT_SECONDS`` at the faster option's measured seconds per
        row (0 before any measurement)."""
        if not self.per_row:
            return 0
        return math.ceil(MIN_SEGMENT_SECONDS / max(min(self.per_row.values()), 1e-12))

    def all_threads_next(self) -> bool:
        """Whether the next segment runs all threads as the current choice (not a probe)."""
        return self.choose() == self.current == self.options[0]

    def _other(self) -> int:
        """The option that is not the current choice."""
        return self.options[1] if self.current == self.options[0] else self.options[0]

    def choose(self) -> int:
        """Thread count for the next segment."""
        other = self._other()
        if other not in self.per_row and self.current in self.per_row:
            return other  # measure each option once the current one is known
        if self._since_probe >= self._interval:
            return other
        return self.current

    def record(self, n_threads: int, seconds: float, rows: int) -> None:
        """Account a segment of ``rows`` rows run with ``n_threads`` in ``seconds``."""
        self.history.append(n_threads)
        if len(self.history) >= 2 * HISTORY_LENGTH:  # a half at a time: O(1) a segment on average
            del self.history[:-HISTORY_LENGTH]
        if n_threads not in self._seen:
            # The first segment of an option may include compiling its
            # kernels (each option has its own compiled family).
            self._seen.add(n_threads)
            return
        rate = seconds / max(rows, 1)
        if n_threads == self.current:
            old = self.per_row.get(n_threads)
            self.per_row[n_threads] = rate if old is None else _SMOOTHING * rate + (1 - _SMOOTHING) * old
            self._since_probe += 1
            if self.per_row[n_threads] > self.per_row.get(self._other(), float("inf")):
                self._since_probe = self._interval  # slower than the other was: probe it next
            return
        # A probe of the other option: its last value is many segments old.
        self.per_row[n_threads] = rate
        self._since_probe = 0
        if self.per_row[n_threads] < self.per_row.get(self.current, float("inf")):
            self.current, self._interval = n_threads, _FIRST_PROBE_INTERVAL
        elif self.current == self.options[0]:
            self._interval = min(4 * self._interval, _MAX_PROBE_INTERVAL_ALL_THREADS)
        else:
            self._interval = min(2 * self._interval, _MAX_PROBE_INTERVAL)


_tuners: dict[tuple, ThreadTuner] = {}


def tuner_for(workload: tuple, n_threads: int) -> ThreadTuner:
    """The process-wide tuner of a workload (e.g. layer sizes, dtype, batch size).

    Shared by every network of that shape, so that repeated fits (a grid
    search, an estimator refitted) do not measure both options again.
    """
    key = (workload, n_threads)
    if key not in _tuners:
        _tuners[key] = ThreadTuner(n_threads)
    return _tuners[key]


def segment_rows(n_rows: int, batch_size: int, segments: int | None = None,
                 min_rows: int = 0) -> int:
    """Rows per segment: whole batches, about ``segments`` (``SEGMENTS_PER_EPOCH``) of them,
    at least ``min_rows`` (:meth:`ThreadTuner.min_segment_rows`)."""
    n_batches = -(-n_rows // batch_size)
    per_segment = max(_MIN_BATCHES_PER_SEGMENT,
                      -(-n_batches // (segments or SEGMENTS_PER_EPOCH)),
                      -(-min_rows // batch_size))
    return per_segment * batch_size


# Python threads inside blas_limited_to_one, and the limit the first of them set: OpenBLAS's
# count is process-wide, so only the last one out restores what was there before the first
# one came in (each restoring what it saw would leave 1 when two blocks overlap).  A count
# set_num_threads asked for meanwhile is the one the last block leaves instead.
_one_thread_lock = threading.Lock()
_one_thread_holders = 0
_one_thread_limit = None
_one_thread_requested = None


def _after_fork_in_child() -> None:
    # The parent's other threads, and their blocks (or a held lock), are not in the child.
    global _one_thread_lock, _one_thread_holders, _one_thread_limit, _one_thread_requested
    _one_thread_lock, _one_thread_holders = threading.Lock(), 0
    _one_thread_limit = _one_thread_requested = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_blas_threads(n: int) -> None:
    """Set OpenBLAS's thread count to ``n`` (``fastnn.set_num_threads``), from any Python thread.

    While a :func:`blas_limited_to_one` block is open, BLAS stays on one thread and the
    last block to end sets ``n`` (it would otherwise put back the count from before the
    first block, undoing this setting).
    """
    global _one_thread_requested
    with _one_thread_lock:
        if _one_thread_holders:
            _one_thread_requested = n
        else:
            _config.blas_call(lambda: threadpool_limits(limits=n, user_api="blas"))


@contextmanager
def blas_limited_to_one():
    """BLAS runs on the calling thread only inside this block (restored after).

    Yields whether it does.  OpenBLAS's thread count is process-wide, and
    threadpoolctl (3.8) lets one Python thread at a time change it: while
    another thread holds a limit (a ``threadpool_limits`` block), this one
    changes nothing.  Kernels that call BLAS from every worker of the pool
    must then not run, or each of their products would start OpenBLAS's
    threads too (measured: a W1 epoch of 20,000 rows by rows took 0.65 s
    instead of 0.11 s).  Blocks of several Python threads at once share one
    limit, lifted when the last of them ends (to the count of a
    ``set_num_threads`` call made meanwhile, if any).
    """
    global _one_thread_holders, _one_thread_limit, _one_thread_requested
    controller = _blas_controller()
    with _one_thread_lock:
        if _one_thread_holders == 0:
            _one_thread_limit = _config.blas_call(
                lambda: controller.limit(limits=1, user_api="blas"))
        _one_thread_holders += 1
        one_thread = all(lib.get_num_threads() in (None, 1) for lib in controller.lib_controllers
                         if lib.user_api == "blas")
    try:
        yield one_thread
    finally:
        with _one_thread_lock:
            _one_thread_holders -= 1
            if _one_thread_holders == 0:
                requested = _one_thread_requested
                _config.blas_call(_one_thread_limit.restore_original_limits if requested is None
                                  else lambda: controller.limit(limits=requested, user_api="blas"))
                _one_thread_limit = _one_thread_requested = None


@contextmanager
def tuned_slot(tuner: ThreadTuner | None, rows: int):
    """Like :func:`fastnn._config.parallel_slot`, with the thread count from ``tuner``.

    Yields whether the pool may be used.  With ``tuner`` None (thread count
    fixed by the user) this is ``parallel_slot()``.
    """
    if tuner is None:
        with _config.parallel_slot() as parallel:
            yield parallel
        return
    n_threads = tuner.choose()
    started = time.perf_counter()
    if n_threads == 1:
        with blas_limited_to_one():
            yield False
    else:
        with _config.parallel_slot() as parallel:
            yield parallel
        if not parallel:  # another Python thread held the pool: not a measurement
            return
    tuner.record(n_threads, time.perf_counter() - started, rows)
