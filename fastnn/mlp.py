"""scikit-learn compatible multi-layer perceptrons: MLPClassifier and MLPRegressor.

Same parameters, defaults, attributes and training trajectory as
``sklearn.neural_network``; the arithmetic runs in fastnn's kernels.  The
hyperparameter checks are in ``_mlp_params.py``, the training loops in
``_mlp_fit.py``, ``coefs_``/``intercepts_`` as views of the network's weights in
``_mlp_weights.py``, the targets in ``_mlp_targets.py`` and the undo of a failed call
in ``_mlp_state.py``.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                      unique_labels)
from sklearn.utils.validation import (_check_sample_weight, check_is_fitted, column_or_1d,
                                      validate_data)

from . import _config, _outofcore
from ._validation import assert_all_finite, check_sample_weight, raise_if_nonfinite
from ._mlp_fit import fit_lbfgs, fit_stochastic, initialize_network
from ._mlp_params import (check_hyperparameters, check_n_threads, network_mismatch,
                          unit_parameter_mismatch)
from ._mlp_state import Undo, make_writeable, restore_attributes
from ._mlp_targets import binarized, check_target_kind, finite_targets, numeric_targets
from ._mlp_weights import adopt_assigned_weights, drop_views, network_for, weight_views
from .network import NonFiniteRows


class _BaseMLP(BaseEstimator):
    """Shared machinery; see :class:`MLPClassifier` for the parameters."""

    _output_names = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 sigmoid_a=1.0, leaky_slope=0.01, callbacks=None, n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.sigmoid_a = sigmoid_a
        self.leaky_slope = leaky_slope
        self.callbacks = callbacks
        self.n_threads = n_threads

    def _threads(self):
        """Context manager: fit and predict run on ``n_threads`` (at most this machine's)."""
        check_n_threads(self.n_threads)  # predict does not check the other parameters
        return _config.using_threads(_config.capped(self.n_threads))

    # ----------------------------------------------------------------- fitting
    def _fit(self, X, y, sample_weight, incremental: bool):
        # Validation replaces classes_, n_features_in_ ... before it can fail, and a warm
        # start or partial_fit trains the network in place: a failed call puts it all back.
        undo = Undo(self)
        try:
            hidden, activations = check_hyperparameters(self)
            first_pass = not hasattr(self, "_network") or (not self.warm_start and not incremental)
            assigned = {name: self.__dict__.get(name) for name in ("coefs_", "intercepts_")}
            X, Y, sample_weight, layer_units = self._prepare_data(
                X, y, sample_weight, incremental, first_pass, hidden, activations)
            self._random_state = check_random_state(self.random_state)
            with self._threads():
                if first_pass:
                    initialize_network(self, layer_units, activations, X.dtype)
                else:  # trained in place
                    make_writeable(self._network, self.__dict__.get("_optimizer"))
                if self.warm_start or incremental:
                    adopt_assigned_weights(self, assigned)
                if self.solver == "lbfgs":
                    fit_lbfgs(self, X, Y, sample_weight)
                else:
                    fit_stochastic(self, X, Y, y, sample_weight, incremental)
                weight_views(self)  # cached now: predict leaves __dict__ as it is
        except NonFiniteRows:
            # Found in this call's first epoch (each epoch visits every row X
            # trains on, see _epochs_check_rows), whose updates fit_stochastic
            # took back: every attribute goes back, and scikit-learn names it.
            undo.restore()
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
            raise
        except BaseException:
            undo.restore()
            raise
        return self

    def _epochs_check_rows(self) -> bool:
        """Whether training finds NaN/inf in X itself, so validation need not pass over X.

        Shuffled stochastic epochs gather every training row and check it
        inside the kernels before its batch is used (``Network._train_epoch``);
        L-BFGS and unshuffled epochs read X in place, and early stopping
        keeps validation rows out of training.  Saves a pass over X (W1:
        scikit-learn's one-thread check took 13 ms of a 0.29 s fit).
        """
        return self.solver != "lbfgs" and self.shuffle and not self.early_stopping

    def _prepare_data(self, X, y, sample_weight, incremental, first_pass, hidden, activations):
        """Validated ``X``, targets ``Y``, sample weights and the layer sizes."""
        checked_later = self._epochs_check_rows()
        X, Y = self._validate_input(X, y, incremental, reset=first_pass,
                                    ensure_all_finite=not checked_later)
        if sample_weight is not None:
            with np.errstate(over="ignore"):  # beyond float32's range: scikit-learn names it
                sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                                     ensure_non_negative=True)
        sample_weight = self._combine_weights(y, sample_weight, incremental, X.dtype)
        if sample_weight is not None:
            # fastnn's own check on top of scikit-learn's: a sum that overflows the dtype
            # (50 weights of 3e38 in float32) would make every batch's mean loss NaN.
            sample_weight = check_sample_weight(sample_weight, X.shape[0], X.dtype)
        layer_units = [X.shape[1], *hidden, Y.shape[1]]
        if not first_pass:
            network = self._network
            if network.layer_sizes != layer_units or network.activations != activations:
                raise ValueError(
                    f"the fitted network has layers {network.layer_sizes} and activations "
                    f"{network.activations}, but the parameters and data ask for {layer_units} "
                    f"and {activations}; refit without warm_start to change them")
            mismatch = unit_parameter_mismatch(self, network)
            if mismatch:  # the network's value is the one training uses: a new one was ignored
                raise ValueError(f"{mismatch}; set it back, or refit without warm_start to "
                                 f"change it")
            converted = _outofcore.as_dtype(X, network.dtype, self)
            if converted is not X and not checked_later and not _outofcore.is_out_of_core(X):
                # float64 values beyond float32's range are finite until converted
                assert_all_finite(converted, input_name="X", estimator_name=type(self).__name__)
            X = converted
            Y = finite_targets(Y, network.dtype, type(self).__name__)
            if sample_weight is not None:  # checked in X's dtype above, now in the model's
                sample_weight = check_sample_weight(sample_weight, X.shape[0], network.dtype)
        return X, Y, sample_weight, layer_units

    def _combine_weights(self, y, sample_weight, incremental, dtype):
        return sample_weight

    def fit(self, X: ArrayLike, y: ArrayLike,
            sample_weight: ArrayLike | None = None) -> _BaseMLP:
        """Fit the model to data matrix X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 input trains in float32, anything else in float64.  The model's
            outputs are float32 only for float32 X (see :meth:`predict`).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_stochastic(self) -> bool:
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers; "
                                 f"{self.solver!r} is not stochastic")
        return True

    # --------------------------------------------------------------- predicting
    def _forward(self, X) -> np.ndarray:
        """The network's outputs for ``X``: float32 when both ``X`` and the model are
        float32, else float64, computed from the float64 rows (as scikit-learn's and
        fastnn's linear models: a float32 model does not round float64 rows)."""
        # coefs_ assigned for a warm start make the default check pass before any fit
        check_is_fitted(self, "_network")
        adopt_assigned_weights(self)
        mismatch = network_mismatch(self, self._network)
        if mismatch:
            raise ValueError(f"{mismatch} (set_params after fitting): predict would use the "
                             f"network's; set it back, or refit")
        if _outofcore.is_out_of_core(X):
            network = network_for(self._network, getattr(X, "dtype", np.float64))
            with self._threads():
                out = _outofcore.forward(network, self, X)
            network._check_outputs(out)
            return out
        # NaN/inf are counted by the forward pass itself, on the rows as it
        # reads them (not in a separate pass over X); scikit-learn's check
        # then names them.
        # dtype "numeric", as scikit-learn's predict: strings are refused (fit converts them)
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=False)
        network = network_for(self._network, X.dtype)
        with np.errstate(over="ignore"):  # e.g. longdouble beyond float64's range: named below
            X = np.ascontiguousarray(X, dtype=network.dtype)
        with self._threads():
            out, n_nonfinite = network._outputs(X, count_nonfinite=True)
        if n_nonfinite:
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
            raise_if_nonfinite(n_nonfinite)  # not reached: scikit-learn raised
        network._check_outputs(out)  # finite X that overflows: not a silent class 0
        return out

    # ----------------------------------------------------------------- pickling
    def __getstate__(self):
        # For a class outside scikit-learn, BaseEstimator.__getstate__ returns
        # the instance's own __dict__: deleting from it would unfit this model.
        state = dict(super().__getstate__())
        state.pop("_weight_views_cache", None)
        if state.get("_network") is not None:
            drop_views(self, state)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        network = self.__dict__.get("_network")
        if network is not None:
            self.__dict__.setdefault("coefs_", list(network.coefs))
            self.__dict__.setdefault("intercepts_", list(network.intercepts))
            weight_views(self)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier, a drop-in for scikit-learn's.

    Trains on the log-loss (softmax cross-entropy for several classes,
    binary cross-entropy for two classes and for multilabel targets).

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden layer.  ``()`` gives no hidden layer (logistic
        regression).
    activation : str or list of str, default="relu"
        "identity", "logistic" (alias "sigmoid"), "tanh", "relu",
        "leaky_relu", "softplus" or "step"; a list gives one per hidden layer.
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
    alpha : float, default=1e-4
        L2 penalty (weights only, not biases), scaled by the batch size.
    batch_size : int, "auto" or "full", default="auto"
        The gradient-descent variant: ``1`` is stochastic gradient descent,
        ``"full"`` (or ``n_samples``) batch gradient descent, which uses the
        mean of all samples' gradients, anything between is mini-batch
        gradient descent.  "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Schedule of the "sgd" solver.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
        Exponent of the "invscaling" schedule.
    max_iter : int, default=200
        Epochs for the stochastic solvers, iterations for "lbfgs".
    shuffle : bool, default=True
        Reshuffle the sample order (indices only) every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initial weights, shuffles and the validation split.  With the
        same seed and the same integer ``n_threads`` results are bit-identical
        (with the adaptive default the last bits can depend on which parts of
        an epoch ran on one thread, see ``fastnn.set_num_threads``), and the
        draws equal scikit-learn's for the same seed.
    tol : float, default=1e-4
    verbose : bool, default=False
        Show a progress bar (tqdm, when installed) or print each epoch's loss.
    warm_start : bool, default=False
        Continue from the current weights; set ``coefs_`` and
        ``intercepts_`` before ``fit`` to start from given weights.
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when its accuracy
        stops improving, and keep the best weights.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters.
    n_iter_no_change : int or np.inf, default=10
        Epochs without improvement by ``tol`` before stopping; ``np.inf`` never stops early.
    max_fun : int, default=15000
        Maximum loss evaluations of "lbfgs".
    sigmoid_a : float, default=1.0
        Shape ``a`` of hidden sigmoid units, ``1 / (1 + exp(-a x))``.
    leaky_slope : float, default=0.01
        Negative-side slope of "leaky_relu" units.
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by its class's weight.
    callbacks : callable or list of callables, default=None
        Each is called after every epoch as ``callback(estimator, metrics)``
        with a dict of the epoch's metrics (epoch, loss, validation_loss,
        validation_score, learning_rate, gradient_norms, seconds); returning
        True stops training.
    n_threads : int, "auto" or None, default=None
        Threads for kernels and BLAS during fit/predict (None: the current
        ``fastnn.get_num_threads()``; more than this machine runs: all it runs;
        "auto": as ``fastnn.set_num_threads("auto")``, all of them, with
        training falling back to one thread while that measures faster).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray, the i-th of shape (layer_units[i], layer_units[i+1])
    intercepts_ : list of ndarray, the i-th of shape (layer_units[i+1],)
        Views of the network's parameters: in-place writes change the model.
        Arrays assigned to these lists (or new lists) are checked and copied
        into the network by the next predict, partial_fit or warm-start fit.
    loss_, best_loss_ : float
    loss_curve_ : list of float
        Training loss (with the L2 term) per epoch.
    validation_scores_, best_validation_score_ : list of float, float
        With early stopping.
    validation_loss_curve_ : list of float
        With early stopping: the validation loss (no L2 term) per epoch.
    gradient_norms_ : list of list of float
        Per epoch, the L2 norm of each layer's weight gradient on the epoch's
        last mini-batch that stepped (its last one whose sample weights are
        not all 0; an epoch in which none has weight repeats the norms of the
        gradient before it): watch it shrink towards the input layer to see
        gradients vanish.  The data loss's gradient: the ``alpha`` penalty's
        ``alpha W / n`` is not in it (scikit-learn's ``coef_grads`` hold it).
    n_iter_, t_, n_features_in_, feature_names_in_, n_layers_, n_outputs_,
    out_activation_ : as scikit-learn's.

    ``best_loss_``, ``loss_curve_``, the validation records and
    ``gradient_norms_`` are the stochastic solvers' (an lbfgs fit keeps none,
    as scikit-learn's; a warm start with "sgd" or "adam" starts them).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 sigmoid_a=1.0, leaky_slope=0.01, class_weight=None, callbacks=None,
                 n_threads=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            sigmoid_a=sigmoid_a, leaky_slope=leaky_slope, callbacks=callbacks,
            n_threads=n_threads)
        self.class_weight = class_weight

    def _validate_input(self, X, y, incremental, reset, ensure_all_finite=True):
        X, y = _outofcore.validate_data(self, X, y, multi_output=True,
                                        dtype=(np.float64, np.float32), reset=reset,
                                        ensure_all_finite=ensure_all_finite)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            binarizer = LabelBinarizer().fit(y)
            if len(binarizer.classes_) < 2 and not binarizer.y_type_.startswith("multilabel"):
                raise ValueError(f"MLPClassifier needs samples of at least 2 classes in the "
                                 f"data; got 1 class: {binarizer.classes_}")
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        else:
            check_target_kind(self._label_binarizer, y)
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where y has the same classes "
                                     f"as in the previous call to fit: previously "
                                     f"{self.classes_}, now {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"y has classes not in classes_ {self.classes_}: "
                                 f"{np.setdiff1d(classes, self.classes_)}")
        return X, binarized(self._label_binarizer, y, X.dtype)

    def _combine_weights(self, y, sample_weight, incremental, dtype):
        if self.class_weight is None:
            return sample_weight
        if isinstance(self.class_weight, str) and incremental:
            raise ValueError("class_weight='balanced' is not supported by partial_fit: it "
                             "needs the class frequencies of all the data; pass a dict")
        class_weight = compute_sample_weight(self.class_weight, np.asarray(y)).astype(dtype)
        weights = class_weight if sample_weight is None else sample_weight * class_weight
        if not weights.sum() > 0:  # nothing to learn from: the loss would be 0/0
            raise ValueError("the weights of the training samples (sample_weight times "
                             "class_weight) are all zero; check class_weight")
        return weights

    @available_if(lambda est: est._check_stochastic())
    def partial_fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None,
                    classes: ArrayLike | None = None) -> MLPClassifier:
        """One epoch over (X, y), keeping the optimizer state between calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,)
            All classes; required on the first call.

        Returns
        -------
        self
        """
        saved = dict(self.__dict__)
        if classes is not None and not hasattr(self, "classes_") and np.ndim(classes) != 1:
            # a 2-D classes made a multilabel binarizer for 1-D labels
            raise ValueError(f"classes must be a 1-D array of the classes (for multilabel "
                             f"y: its column indices), got shape {np.shape(classes)}")
        first_call = _check_partial_fit_first_call(self, classes)
        try:
            if first_call:
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                    labels = self._label_binarizer.classes_
                    if not np.array_equal(labels, self.classes_):
                        # classes_ would not match the outputs (nor predict_proba's
                        # columns), and such a model cannot be saved
                        raise ValueError(f"y is a multilabel indicator matrix of "
                                         f"{len(labels)} columns: classes must be their "
                                         f"indices {labels.tolist()}, got {classes}")
                else:
                    self._label_binarizer.fit(classes)
                if len(self._label_binarizer.classes_) < 2:
                    raise ValueError(f"classes must hold at least 2 classes, got {classes}")
            return self._fit(X, y, sample_weight, incremental=True)
        except BaseException:
            if first_call:  # no network yet: the model goes back to unfitted
                restore_attributes(self, saved)
            raise

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted classes, shape (n_samples,) (or (n_samples, n_classes) for multilabel)."""
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns ordered as classes_.

        float32 when both ``X`` and the model are float32, else float64 computed
        from the rows as given (as scikit-learn's: a float32 model does not round
        float64 rows to float32).
        """
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def _validation_score(self, X, y, sample_weight):
        from sklearn.metrics import accuracy_score
        out = self._network._forward(X)
        y_pred = self._label_binarizer.inverse_transform(out.ravel() if self.n_outputs_ == 1
                                                         else out)
        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor, a drop-in for scikit-learn's.

    Trains on the squared error (half the mean squared error, averaged over
    outputs as scikit-learn reports it).  Parameters and attributes are those
    of :class:`MLPClassifier`, without ``class_weight`` and with:

    Parameters
    ----------
    loss : {"squared_error"}, default="squared_error"
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 sigmoid_a=1.0, leaky_slope=0.01, callbacks=None, n_threads=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            sigmoid_a=sigmoid_a, leaky_slope=leaky_slope, callbacks=callbacks,
            n_threads=n_threads)
        self.loss = loss

    def _validate_input(self, X, y, incremental, reset, ensure_all_finite=True):
        if self.loss != "squared_error":
            raise ValueError(f"loss must be 'squared_error', got {self.loss!r}")
        X, y = _outofcore.validate_data(self, X, y, multi_output=True, y_numeric=True,
                                        dtype=(np.float64, np.float32), reset=reset,
                                        ensure_all_finite=ensure_all_finite)
        y = numeric_targets(y, type(self).__name__)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        return X, finite_targets(Y, X.dtype, type(self).__name__)

    @available_if(lambda est: est._check_stochastic())
    def partial_fit(self, X: ArrayLike, y: ArrayLike,
                    sample_weight: ArrayLike | None = None) -> MLPRegressor:
        """One epoch over (X, y), keeping the optimizer state between calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs).

        float32 when both ``X`` and the model are float32, else float64 computed
        from the rows as given (as scikit-learn's: a float32 model does not round
        float64 rows to float32).
        """
        y_pred = self._forward(X)
        return y_pred.ravel() if self.n_outputs_ == 1 else y_pred

    def _validation_score(self, X, y, sample_weight):
        from sklearn.metrics import r2_score
        y_pred = self._network._forward(X)
        return r2_score(y, y_pred.ravel() if self.n_outputs_ == 1 else y_pred,
                        sample_weight=sample_weight)
