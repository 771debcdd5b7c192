"""Shared data and helpers of the asv suites (no benchmarks here).

Data sets are built once per benchmark process and memoised: asv re-runs a
benchmark's ``setup()`` before every timed call, so ``setup()`` must stay
cheap (fetch the cached arrays, build the small per-call state, call the
kernel once so that compilation or cache loading is never timed).
"""
from __future__ import annotations

import functools
import time

import numpy as np

import fastnn

DTYPES = ["float32", "float64"]

#: The MNIST-shaped problem of the network benchmarks and of bench/threads.py.
N_SAMPLES = 20_000
LAYERS = [784, 256, 128, 10]
N_PARAMS = sum(a * b + b for a, b in zip(LAYERS[:-1], LAYERS[1:]))  # 235_146


def check_pool_usable() -> None:
    """Fail loudly if this process may only run serial kernels.

    asv forks every benchmark from a server process.  fastnn refuses Numba's
    thread pool in a child forked after its parent used it, so a benchmark
    module that ran a kernel at import time would silently measure the
    serial variants.  Benchmark modules therefore run no kernel at import.
    """
    if fastnn.threading_info()["pool_forbidden_after_fork"]:
        raise RuntimeError("this benchmark process was forked after its parent used Numba's "
                           "thread pool: fastnn would run serial kernels only")


@functools.lru_cache(maxsize=None)
def mnist_like(dtype: str, n_samples: int = N_SAMPLES, n_features: int = LAYERS[0],
               n_classes: int = LAYERS[-1]):
    """Synthetic MNIST-shaped data: ``X`` in [0, 1), one-hot ``Y`` (seeded).

    The returned arrays are shared between calls: treat them as read-only
    (not flagged so: Numba would compile separate read-only specialisations).
    """
    rng = np.random.default_rng(1234)
    X = rng.random((n_samples, n_features), dtype=np.dtype(dtype).type)
    labels = rng.integers(0, n_classes, n_samples)
    Y = np.zeros((n_samples, n_classes), dtype)
    Y[np.arange(n_samples), labels] = 1
    return X, Y


def best_time(func, repeats: int = 5) -> float:
    """Shortest wall time of ``repeats`` calls of ``func()`` (for track_* rates)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def forward_flops(layer_sizes, n_samples: int) -> int:
    """FLOPs of the forward pass of ``n_samples`` rows: ``2 n n_in n_out`` per layer."""
    return n_samples * sum(2 * a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def training_flops(layer_sizes, n_samples: int) -> int:
    """FLOPs of forward + backward for ``n_samples`` rows (matrix products only).

    Per layer with ``n_in`` inputs and ``n_out`` outputs: forward
    ``2 n n_in n_out``, weight gradient the same, and the error signal for
    the layer below ``2 n n_in n_out`` for every layer but the first.
    """
    shapes = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    per_sample = forward_flops(layer_sizes, 1)
    per_sample += sum(2 * a * b for a, b in shapes)  # dW
    per_sample += sum(2 * a * b for a, b in shapes[1:])  # delta_prev
    return per_sample * n_samples
