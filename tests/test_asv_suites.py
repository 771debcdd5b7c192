"""Smoke run of every asv benchmark in bench/, so that the suites cannot rot.

Each benchmark class runs its ``setup`` and every ``time_``/``peakmem_``/
``track_`` method once with the first value of each parameter (asv itself is
a benchmark extra, not needed here); ``timeraw_`` methods must return code
that compiles (their ``setup`` already ran it once in a fresh interpreter).
Nothing is timed or compared.
"""
import importlib
import inspect
import itertools
import pkgutil
from pathlib import Path

import pytest

import bench

PREFIXES = ("time_", "peakmem_", "track_", "timeraw_")


def _suites():
    for info in pkgutil.iter_modules([str(Path(bench.__file__).parent)]):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and any(
                    attr.startswith(PREFIXES) for attr in dir(cls)):
                yield pytest.param(cls, id=f"{info.name}.{name}")


@pytest.mark.parametrize("cls", list(_suites()))
def test_benchmark_runs_once(cls):
    params = getattr(cls, "params", [])
    if params and not isinstance(params[0], (list, tuple)):
        params = [params]  # a single parameter axis
    args = next(itertools.product(*params)) if params else ()
    suite = cls()
    try:
        if hasattr(suite, "setup"):
            suite.setup(*args)
    except NotImplementedError as exc:  # asv's way of skipping a combination
        pytest.skip(str(exc))
    try:
        for name in sorted(attr for attr in dir(cls) if attr.startswith(PREFIXES)):
            result = getattr(suite, name)(*args)
            if name.startswith("timeraw_"):
                for code in (result if isinstance(result, tuple) else (result,)):
                    compile(code, name, "exec")
            elif name.startswith("track_"):
                assert isinstance(result, (int, float)), (name, result)
    finally:
        if hasattr(suite, "teardown"):
            suite.teardown(*args)
