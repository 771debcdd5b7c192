"""fastnn: train neural networks fast on the CPU with Numba-compiled kernels."""
from ._config import get_num_threads, set_num_threads, threading_info  # first: sets thread policy
from ._mlp_fit import DivergenceWarning
from .mlp import MLPClassifier, MLPRegressor
from .model_io import load, save
from .network import Network
from .optimizers import SGD, Adam
from .perceptron import Perceptron
from .streaming import fit_stream, iter_batches
from .training import TrainingDiverged, train

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "DivergenceWarning", "Network", "SGD", "Adam",
           "train", "TrainingDiverged", "set_num_threads", "get_num_threads", "threading_info",
           "Perceptron", "save", "load", "iter_batches", "fit_stream", "__version__"]
