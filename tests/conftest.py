"""Fixtures shared by the kernel tests (NumPy twins live in ``reference.py``)."""
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
