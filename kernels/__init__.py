"""Numba kernels of fastnn (installed as ``fastnn.kernels``).

Low-level: arguments are trusted (shapes, dtypes and contiguity are the
caller's contract, stated in each docstring); the validated entry points are
in the ``fastnn`` API.  Each kernel is a :class:`Kernel` with a ``parallel``
and a ``serial`` compiled variant; calling it runs the parallel one.

Modules: ``activations``, ``dense`` (and ``dense_feature_major``, its
transposed layout), ``losses``, ``optimizers``, ``data``,
``perceptron`` (per-sample linear SGD), ``trainer`` (fused passes), ``data_parallel`` (a
plain-SGD epoch shared among threads by rows), ``small`` (tiny networks);
``blas``, ``prefetch``, ``atomic``, ``clock`` and ``fpenv`` (subnormals flushed to zero) are
the intrinsics they build on.
"""
from ._jit import FASTMATH, Kernel
from .activations import (ACTIVATION_CODES, activation_backward_inplace, activation_derivative,
                          activation_forward, bias_activation_forward_inplace)
from .data import count_nonfinite, gather_rows
from .dense import column_sum, dense_backward, dense_forward
from .dense_feature_major import dense_backward_feature_major, dense_forward_feature_major
from .losses import LOSS_CODES, OUTPUT_ACTIVATION, loss_forward_backward, output_forward_inplace
from .optimizers import adam_update, momentum_update, sgd_update
from .perceptron import sgd_epoch

__all__ = [
    "FASTMATH", "Kernel", "ACTIVATION_CODES", "LOSS_CODES", "OUTPUT_ACTIVATION",
    "activation_forward", "bias_activation_forward_inplace", "activation_derivative",
    "activation_backward_inplace", "dense_forward", "dense_backward", "column_sum",
    "dense_forward_feature_major", "dense_backward_feature_major",
    "loss_forward_backward", "output_forward_inplace", "sgd_update", "momentum_update", "adam_update",
    "gather_rows", "count_nonfinite", "sgd_epoch",
]
