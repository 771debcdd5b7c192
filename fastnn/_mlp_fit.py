"""Training loops of the MLP estimators, step for step as scikit-learn's.

Same random draws in the same order (initial weights, validation split,
shuffles), same per-batch L2 term, same learning-rate schedules and stopping
rules, so that a seeded fastnn estimator follows scikit-learn's trajectory.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np
import scipy.optimize
import sklearn
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .network import Network
from .optimizers import SGD, Adam, Checkpoint
from . import _adaptive, training
from ._outofcore import in_memory, run_epoch
from .kernels.fpenv import smallest_weight_read


def shuffled(indices: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
    """``sklearn.utils.shuffle(indices, random_state=random_state)``: the same draw, the same
    result (a permutation of ``arange(n)`` by ``random_state.shuffle``, then taken), without
    its parameter validation and indexing dispatch (0.66 ms a call, 19 % of fitting the
    digits; tests/test_mlp_parity.py checks the two agree)."""
    permutation = np.arange(indices.shape[0])
    random_state.shuffle(permutation)
    return indices[permutation]


class DivergenceWarning(UserWarning):
    """Training stopped because the loss became NaN or infinite."""


def initialize_network(est, layer_units: list[int], activations: list[str], dtype) -> None:
    """Create ``est._network`` with scikit-learn's initial weights and reset the history."""
    if not is_classifier(est):
        output = "identity"
    elif est._label_binarizer.y_type_ == "multiclass":
        output = "softmax"
    else:
        output = "sigmoid"
    # scikit-learn: uniform in +-sqrt(factor / (fan_in + fan_out)) for weights and
    # biases, layer by layer, factor 2 for logistic units and 6 otherwise.  Drawn in its
    # order (W then b of each layer) and laid out as Network.params (all weights, then all
    # biases): params= draws nothing itself.
    weights, biases = [], []
    for i, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
        unit = activations[min(i, len(activations) - 1)] if activations else est.activation
        factor = 2.0 if unit in ("sigmoid", "logistic") else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(est._random_state.uniform(-bound, bound, (fan_in, fan_out)).ravel())
        biases.append(est._random_state.uniform(-bound, bound, fan_out))
    network = Network(layer_units, activations, output, dtype=dtype,
                      params=np.concatenate(weights + biases), sigmoid_a=est.sigmoid_a,
                      leaky_slope=est.leaky_slope)
    est._network = network
    est.coefs_, est.intercepts_ = network.coefs, network.intercepts
    est.n_iter_ = 0
    est.t_ = 0
    est.n_outputs_ = layer_units[-1]
    est.n_layers_ = len(layer_units)
    est.out_activation_ = est._output_names[output]
    est._best_params = network.params.copy()
    for stale in ("_optimizer", "loss_", "_no_improvement_count") + _STOCHASTIC_RECORDS:
        est.__dict__.pop(stale, None)
    if est.solver != "lbfgs":  # as scikit-learn's lbfgs fits, which keep none
        start_records(est)


# What the stochastic solvers record epoch by epoch
_STOCHASTIC_RECORDS = ("loss_curve_", "gradient_norms_", "validation_scores_",
                       "validation_loss_curve_", "best_validation_score_", "best_loss_")


def start_records(est) -> None:
    """Empty records of the stochastic solvers (``loss_curve_``, ``gradient_norms_`` and
    the stopping rule's)."""
    est.loss_curve_ = []
    est.gradient_norms_ = []
    _start_stopping_record(est)


def _start_stopping_record(est) -> None:
    """Empty records of the stopping rule that ``est.early_stopping`` selects, as scikit-learn
    sets them: validation scores with early stopping, the best training loss without."""
    est._no_improvement_count = 0
    if est.early_stopping:
        est.validation_scores_ = []
        est.validation_loss_curve_ = []
        est.best_validation_score_ = -np.inf
        est.best_loss_ = None
    else:
        est.validation_scores_ = None
        est.validation_loss_curve_ = None
        est.best_validation_score_ = None
        est.best_loss_ = np.inf


def _loss_scale(est) -> float:
    # scikit-learn reports the squared error averaged over outputs (its
    # gradient is not: we keep both conventions for identical trajectories).
    return 1.0 / est.n_outputs_ if not is_classifier(est) else 1.0


def fit_lbfgs(est, X, Y, sample_weight) -> None:
    """Full-batch L-BFGS-B through scipy.optimize, on the flat parameter vector."""
    network = est._network
    # The full-batch products need rows in C order: a DataFrame's values are in Fortran order.
    X = np.ascontiguousarray(in_memory(X, "solver='lbfgs'"))
    total_weight = X.shape[0] if sample_weight is None else float(sample_weight.sum())
    scale = _loss_scale(est)

    def loss_and_gradient(theta):
        network.params[...] = theta
        loss = network._batch_loss_and_gradient(X, Y, sample_weight, None) * scale
        weights = network.params[:network.n_weights]
        loss += 0.5 * est.alpha * float(np.dot(weights, weights)) / total_weight
        grad = network.grads.astype(np.float64)
        grad[:network.n_weights] += est.alpha * weights / total_weight
        return loss, grad

    start = network.params.copy()  # the search writes each trial point into params
    try:
        result = scipy.optimize.minimize(
            loss_and_gradient, start.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol})
        if not np.isfinite(result.fun) or not np.isfinite(result.x).all():
            raise ValueError("L-BFGS produced a non-finite loss or weights; scale the input "
                             "data. The weights were left as they were before this fit")
    except BaseException:  # also Ctrl-C: never leave a trial point (maybe NaN) behind
        network.params[...] = start
        raise
    if result.status != 0:
        warnings.warn(f"lbfgs failed to converge after {result.nit} iterations "
                      f"({result.message}); increase max_iter or scale the data",
                      ConvergenceWarning)
    est.n_iter_ = result.nit
    est.loss_ = float(result.fun)
    network.params[...] = result.x


def _make_optimizer(est, network=None, lr: float | None = None):
    """The optimizer of ``est``'s stochastic solver ("sgd": SGD with its momentum, else
    Adam) on ``network`` (default its own) at ``lr`` (default ``learning_rate_init``)."""
    network = est._network if network is None else network
    # float(): scikit-learn takes a bool for these (True is 1), fastnn's optimizers do not
    lr = float(est.learning_rate_init if lr is None else lr)
    if est.solver == "sgd":
        return SGD(network, lr=lr, momentum=float(est.momentum),
                   nesterov=est.nesterovs_momentum)
    return Adam(network, lr=lr, beta1=float(est.beta_1), beta2=float(est.beta_2),
                eps=float(est.epsilon))


def _split_validation(est, y_raw, n_samples):
    """scikit-learn's validation split, as row indices (the data are not copied)."""
    stratify = y_raw if is_classifier(est) and est.n_outputs_ == 1 else None
    # Without train_test_split's own parameter checks, as scikit-learn's fit calls it: they
    # refuse a NumPy float32 validation_fraction, which scikit-learn's MLPs take (and
    # float() of it would round the split's size differently).
    with sklearn.config_context(skip_parameter_validation=True):
        train, val = train_test_split(np.arange(n_samples), random_state=est._random_state,
                                      test_size=est.validation_fraction, stratify=stratify)
    if val.shape[0] < 2:
        raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                         "or the size of your dataset.")
    return train.astype(np.int64), val.astype(np.int64)


def _check_split_weights(est, sample_weight, train_rows, val_rows) -> None:
    """Refuse a validation split that leaves one side without weight (before any change).

    The weights' positive sum is checked over all the rows; a split can still
    put every weighted row on one side.  Training rows without weight then
    trained nothing (loss 0 every epoch, until the stopping rule ended the fit
    without a word), and validation rows without weight failed while scoring,
    after the first epoch's updates.
    """
    if sample_weight is None:
        return
    floor = smallest_weight_read(sample_weight.dtype)  # the kernels read less as 0
    for rows, side in ((train_rows, "training"), (val_rows, "validation")):
        if not (sample_weight[rows] >= floor).any():
            raise ValueError(f"sample_weight is 0 on every {side} row of early_stopping's "
                             f"split (validation_fraction={est.validation_fraction}, "
                             f"{rows.shape[0]} rows): give those rows weight, or change "
                             f"random_state or validation_fraction")


def _batch_size(est, n_samples: int) -> int:
    if est.batch_size == "auto":
        return min(200, n_samples)
    if est.batch_size == "full":
        return n_samples
    if est.batch_size > n_samples:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                      "It is going to be clipped")
    return int(np.clip(est.batch_size, 1, n_samples))


def _progress(est):
    if not est.verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=est.max_iter, desc=type(est).__name__, unit="epoch", leave=False)


def fit_stochastic(est, X, Y, y_raw, sample_weight, incremental: bool) -> None:
    """Epochs of mini-batch SGD or Adam with scikit-learn's schedules and stopping."""
    network = est._network
    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    # What can fail comes before any change: a warm start trains the fitted model in place,
    # which a failed split (too few rows) must leave as it was, optimizer state included.
    if est.early_stopping:
        train_rows, val_rows = _split_validation(est, y_raw, X.shape[0])
        X_val, Y_val = X[val_rows], Y[val_rows]
        y_val = np.asarray(y_raw)[val_rows]
        sw_val = None if sample_weight is None else sample_weight[val_rows]
        _check_split_weights(est, sample_weight, train_rows, val_rows)
    else:
        train_rows = None
    if not incremental or not hasattr(est, "_optimizer"):
        est._optimizer = _make_optimizer(est)
    optimizer = est._optimizer
    if not hasattr(est, "loss_curve_"):  # fitted by lbfgs, warm-started by sgd or adam
        start_records(est)
    if est.early_stopping != (est.validation_scores_ is not None):
        # early_stopping was switched since the network was fitted (e.g. off, to go on with
        # partial_fit): the other rule's record is of no use, and scikit-learn's crash
        # (None + tol) would come after the first epoch's updates.
        _start_stopping_record(est)
    n_train = X.shape[0] if train_rows is None else train_rows.shape[0]
    batch_size = _batch_size(est, n_train)
    sample_idx = np.arange(n_train, dtype=np.int64)
    callbacks = ([] if est.callbacks is None else
                 [est.callbacks] if callable(est.callbacks) else list(est.callbacks))
    scale = _loss_scale(est)
    stepwise = training.runs_stepwise(n_train, batch_size, est.max_iter, network.n_weights)
    bar = _progress(est)
    # weights, last gradient and optimizer state of the last good epoch
    last_good = Checkpoint(optimizer)
    # As scikit-learn (1.9): n_iter_ counts this call's epochs (t_ and loss_curve_ go on), so
    # a warm-started fit that runs max_iter epochs warns that it did not converge.
    est.n_iter_ = 0
    try:
        for _ in range(est.max_iter):
            started = time.perf_counter()
            if est.shuffle:
                sample_idx = shuffled(sample_idx, est._random_state)
                order = sample_idx if train_rows is None else train_rows[sample_idx]
            else:
                order = train_rows  # None: consecutive zero-copy slices
            try:
                total = run_epoch(network, X, Y, sample_weight, order, batch_size, optimizer,
                                  alpha=est.alpha, loss_scale=scale, stepwise=stepwise)
            except BaseException:  # NaN/inf in a batch, a failed read of out-of-core rows:
                last_good.restore()  # the batches before it were applied
                raise
            if restore_if_diverged(est, total / n_train, network.params, last_good.restore,
                                   last_good.params):
                break
            # The epoch's records are appended after the checkpoint is saved: Ctrl-C while
            # they are computed (validating takes a while) leaves the last epoch's weights
            # and records, not this epoch's weights with part of its records.
            metrics = {"validation_loss": None, "validation_score": None,
                       "gradient_norms": [float(np.linalg.norm(g))
                                          for g in network.coef_grads]}
            if est.early_stopping:
                # On one BLAS thread: OpenBLAS's threads keep spinning for a while
                # after a product and took a core from the next epoch's training
                # by rows, whose segments then measured slower than one thread
                # (10,000 x 784 rows, 256-128 ReLU, batch 256: 112-122 ms epochs
                # against 73-80 without early stopping).
                with _adaptive.blas_limited_to_one():
                    metrics["validation_loss"] = network._batch_loss_and_gradient(
                        X_val, Y_val, sw_val, None, gradient=False) * scale
                    # finite weights whose validation outputs overflow: the scores failed
                    # ("Input contains NaN.") or counted NaN outputs as a class
                    if restore_if_diverged(est, metrics["validation_loss"], network.params,
                                           last_good.restore, last_good.params,
                                           what="validation loss"):
                        break
                    metrics["validation_score"] = est._validation_score(X_val, y_val, sw_val)
            last_good.save()
            est.gradient_norms_.append(metrics["gradient_norms"])
            if est.early_stopping:
                est.validation_loss_curve_.append(metrics["validation_loss"])
            if end_epoch(est, total / n_train, n_train, optimizer, metrics, callbacks, started,
                         bar, incremental):
                break
    except KeyboardInterrupt:
        last_good.restore()
        warnings.warn(f"Training interrupted by user; the model keeps the weights of epoch "
                      f"{est.n_iter_}.")
    finally:
        if bar is not None:
            bar.close()
    if est.early_stopping and est.validation_scores_:
        network.params[...] = est._best_params


# A loss this many times the first epoch's means the steps are too large: no
# run that is learning gets there, and stopping early keeps finite weights.
_DIVERGENCE_FACTOR = 1e6


def _diverged(est, loss: float, params: np.ndarray) -> bool:
    """NaN/inf loss or weights, or a loss a million times the first epoch's."""
    if not (np.isfinite(loss) and np.isfinite(params).all()):
        return True
    return bool(est.loss_curve_) and loss > _DIVERGENCE_FACTOR * max(est.loss_curve_[0], 1e-12)


def restore_if_diverged(est, loss: float, params: np.ndarray,
                        restore: Callable[[], None], start_params: np.ndarray | None = None,
                        what: str = "loss") -> bool:
    """If the epoch diverged (see :func:`_diverged`): call ``restore``, warn, return True.

    ``restore`` puts back the weights *and* the optimizer state of the last
    good epoch: a later ``partial_fit`` or warm start would otherwise step
    with the diverged velocity or moments.  ``start_params``: the weights
    the epoch started from; when the call's first epoch diverged without
    changing them, its first batch overflowed before any update, which no
    learning rate would have helped, and the warning says so.  ``what``: the
    loss that ``loss`` is ("validation loss"), as the warning names it.
    """
    if not _diverged(est, loss, params):
        return False
    before_any_update = training.untouched(est.n_iter_, params, start_params)
    restore()
    if before_any_update:
        warnings.warn(f"Training diverged in epoch {est.n_iter_ + 1} before any update: the "
                      f"{what} became {loss:.3g} at the weights training started from. The "
                      f"values of X, y or sample_weight (or those weights) overflow "
                      f"{params.dtype.name}; rescale the data.", DivergenceWarning)
        return True
    warnings.warn(f"Training diverged in epoch {est.n_iter_ + 1}: the {what} became {loss:.3g}. "
                  f"Stopped with the weights of epoch {est.n_iter_}; lower learning_rate_init "
                  f"(now {est.learning_rate_init}).", DivergenceWarning)
    return True


def end_epoch(est, loss: float, n_samples: int, optimizer, metrics: dict, callbacks,
              started: float, bar=None, incremental: bool = False) -> bool:
    """Everything after a finite epoch, as scikit-learn does it; returns True to stop.

    Records ``n_iter_``, ``loss_``, ``t_`` and ``loss_curve_``; completes
    ``metrics`` (validation entries and gradient norms are the caller's) and
    passes it to the callbacks; updates the no-improvement count, the
    invscaling rate (``optimizer.lr``) and the adaptive rule; reports progress;
    warns when ``max_iter`` is reached without stopping (not in ``partial_fit``:
    ``incremental`` stops after one epoch).  Shared by the in-process fit and
    the Dask one.
    """
    est.n_iter_ += 1
    est.loss_ = loss
    est.t_ += n_samples
    est.loss_curve_.append(loss)
    metrics.update(epoch=est.n_iter_, loss=loss, learning_rate=optimizer.lr)
    _update_no_improvement_count(est, metrics["validation_score"])
    if est.solver == "sgd" and est.learning_rate == "invscaling":
        # in NumPy: a power beyond float64 is inf (the rate 0), Python's raised OverflowError
        with np.errstate(over="ignore"):
            optimizer.lr = float(est.learning_rate_init / np.float64(est.t_ + 1) ** est.power_t)
    metrics["seconds"] = time.perf_counter() - started
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{est.loss_:.5f}")
    elif est.verbose:
        print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
    stop = any(bool(callback(est, metrics)) for callback in callbacks)
    if est._no_improvement_count > est.n_iter_no_change:
        if _trigger_stopping(est, optimizer):
            return True
        est._no_improvement_count = 0
    if stop or incremental:
        return True
    if est.n_iter_ == est.max_iter:
        warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) "
                      f"reached and the optimization hasn't converged yet.", ConvergenceWarning)
    return False


def _update_no_improvement_count(est, validation_score) -> None:
    if est.early_stopping:
        est.validation_scores_.append(validation_score)
        if validation_score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if validation_score > est.best_validation_score_:
            est.best_validation_score_ = validation_score
            est._best_params = est._network.params.copy()
    else:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.loss_curve_[-1] < est.best_loss_:
            est.best_loss_ = est.loss_curve_[-1]


def _trigger_stopping(est, optimizer) -> bool:
    """scikit-learn's rule: stop, or with the adaptive schedule divide the rate by 5."""
    what = "Validation score" if est.early_stopping else "Training loss"
    message = (f"{what} did not improve more than tol={est.tol:f} for "
               f"{est.n_iter_no_change} consecutive epochs.")
    if est.solver != "sgd" or est.learning_rate != "adaptive":
        if est.verbose:
            print(message + " Stopping.")
        return True
    if optimizer.lr <= 1e-6:
        if est.verbose:
            print(message + " Learning rate too small. Stopping.")
        return True
    optimizer.lr /= 5.0
    if est.verbose:
        print(message + f" Setting learning rate to {optimizer.lr:f}")
    return False
