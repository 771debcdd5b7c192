"""Fixtures shared by the kernel tests (NumPy twins live in ``reference.py``)."""
import builtins
import warnings

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A freshly seeded generator per test, so every test is reproducible alone."""
    return np.random.default_rng(20240611)


@pytest.fixture
def strict():
    """Turn every floating-point error and every warning into an exception."""
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.fixture
def hide_pandas(monkeypatch):
    """Call it to make ``import pandas`` fail for the rest of the test (the streaming readers
    then fall back to the csv module)."""
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    return lambda: monkeypatch.setattr(builtins, "__import__", no_pandas)


@pytest.fixture(params=["pandas", "csv module"])
def csv_reader(request, hide_pandas):
    """Each of the streaming readers of CSV files in turn, as its own test case: pandas, then
    the csv module (pandas hidden, as without it installed).  The value is the reader's name."""
    if request.param == "pandas":
        pytest.importorskip("pandas")
    else:
        hide_pandas()
    return request.param
