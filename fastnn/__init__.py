"""fastnn: train neural networks fast on the CPU with Numba-compiled kernels."""
import importlib

from ._config import get_num_threads, set_num_threads, threading_info  # first: sets thread policy
from .network import Network
from .optimizers import SGD, Adam
from .training import TrainingDiverged, train

__version__ = "0.1.0"

# The estimators and model files need scikit-learn, whose import (with SciPy
# and pandas) takes seconds: they are imported on first use, so that the
# Network API starts fast.
_LAZY = {"MLPClassifier": "mlp", "MLPRegressor": "mlp", "DivergenceWarning": "_mlp_fit",
         "Perceptron": "perceptron", "SGDClassifier": "sgd_classifier", "save": "model_io",
         "load": "model_io",
         "iter_batches": "streaming", "fit_stream": "streaming"}

__all__ = ["MLPClassifier", "MLPRegressor", "DivergenceWarning", "Network", "SGD", "Adam",
           "train", "TrainingDiverged", "set_num_threads", "get_num_threads", "threading_info",
           "Perceptron", "SGDClassifier", "save", "load", "iter_batches", "fit_stream",
           "__version__"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'fastnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
