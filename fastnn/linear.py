"""The shared linear estimator of ``fastnn.Perceptron`` and ``fastnn.SGDClassifier``.

Linear classifiers trained by per-sample stochastic gradient descent.  The
shared machinery (validation, one-vs-rest problems, stopping rule, early
stopping, publishing the model) is :class:`LinearSGD`; ``fastnn.Perceptron``
and ``fastnn.SGDClassifier`` differ only in the loss and the learning rate.
Python decides *what* to do; one call of ``kernels.sgd_epoch`` per epoch does
the arithmetic for every one-vs-rest problem at once.
"""
from __future__ import annotations

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._base import SparseCoefMixin
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _config
from .kernels.fpenv import smallest_weight_read, subnormals_flushed
from .kernels.perceptron import sgd_epoch

_META = ("n_features_in_", "feature_names_in_")  # set by validate_data(reset=True)
# Shuffle windows (see kernels/perceptron.py): an epoch visits the blocks in a random order,
# a window of them at a time, the rows of a window's blocks interleaved.  Eight blocks is
# eight sequential streams through memory, which the CPU's prefetchers follow (1,000,000 x
# 100 float64, blocks of 64 rows: ~100 ns a row; 16 blocks ~110, the earlier random order
# inside windows of 1024 rows ~170); small blocks get windows of at least 512 rows.
_WINDOW_BLOCKS = 8
_WINDOW_MIN_ROWS = 512
# shuffle_block="auto": blocks of 64 rows once the training rows take more than this many
# bytes, else single rows (scikit-learn's uniform shuffle).  Blocks only pay where rows come
# from memory rather than the caches; on a few blocks the interleaved order is far from
# uniform (iris, sorted by class, is 3 blocks).
_AUTO_BLOCK = 64
_AUTO_UNIFORM_BYTES = 8 * 2**20


# scikit-learn 1.9's constraints on the parameters both estimators share (BaseSGD and
# BaseSGDClassifier in sklearn/linear_model/_stochastic_gradient.py): a value scikit-learn
# refuses gets its InvalidParameterError (a ValueError and a TypeError), one it accepts but
# fastnn does not support gets a ValueError that says so (see ``_check_params``).
_CONSTRAINTS = {
    "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "fit_intercept": ["boolean"],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left"), None],
    "shuffle": ["boolean"],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
    "eta0": [Interval(Real, 0, None, closed="neither")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "warm_start": ["boolean"],
    "n_jobs": [Integral, None],
    # fastnn's own
    "shuffle_block": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "n_threads": [Interval(Integral, 1, None, closed="left"), None],
}


def _encode_labels(y):
    """``(classes, codes)``: ``np.unique(y)`` and int32 ``codes`` with ``classes[codes] == y``.

    Integer labels spanning a range not much wider than their number are
    counted (``bincount``, one pass) instead of sorted or hashed: about 3x
    faster than ``np.unique`` plus ``searchsorted`` on a million labels.
    """
    if y.dtype.kind in "iu" and y.size:
        lo, hi = int(y.min()), int(y.max())
        if -2**62 < lo and hi < 2**62 and hi - lo < max(1024, 2 * y.size):
            shifted = np.subtract(y, lo, dtype=np.intp)
            present = np.bincount(shifted) > 0
            classes = (np.flatnonzero(present) + lo).astype(y.dtype)
            lookup = (np.cumsum(present) - 1).astype(np.int32)
            return classes, lookup[shifted]
    classes = np.unique(y)
    return classes, np.searchsorted(classes, y).astype(np.int32)


def _class_labels(labels):
    """``unique_labels(labels)``, as scikit-learn's ``classes_``: str labels give a str array.

    Except where a label ends in NUL characters, which a NumPy str array drops
    ('a' and 'a\\x00' became ['a', 'a']): those stay an object array, as given.
    """
    classes = unique_labels(labels)
    if classes.dtype.kind == "U":
        given = set(np.asarray(labels, dtype=object).ravel().tolist())
        if set(classes.tolist()) != given:
            classes = np.array(sorted(given), dtype=object)
    return classes


def _with_unique(y, classes):
    """A view of ``y`` that carries its unique values, as ``sklearn.utils._unique.attach_unique``.

    scikit-learn's target checks then reuse ``classes`` instead of computing
    them again (an unknown metadata key is ignored by older versions).
    """
    return y.view(np.dtype(y.dtype, metadata={"unique": classes}))


class LinearSGD(ClassifierMixin, SparseCoefMixin, BaseEstimator):
    """Shared machinery of the per-sample SGD linear classifiers (not public).

    ``sparsify()``/``densify()`` are scikit-learn's: a sparse ``coef_`` scores
    as the dense one, and training (``partial_fit``, a warm start) goes on from
    its dense copy and leaves ``coef_`` dense.

    Subclasses define ``_rule()`` (loss code, schedule code, eta0, power_t,
    optimal_init), ``_check_rule()`` and ``_epoch_loss()`` (the stopping
    rule's training objective).
    """

    #: Whether a score of exactly 0 is the positive class (Rosenblatt's step function);
    #: scikit-learn's linear classifiers call it negative.
    _ZERO_IS_POSITIVE = False

    # ------------------------------------------------------------------ API

    def fit(self, X: ArrayLike, y: ArrayLike, coef_init: ArrayLike | None = None,
            intercept_init: ArrayLike | None = None,
            sample_weight: ArrayLike | None = None) -> LinearSGD:
        """Train from scratch (or from ``coef_`` with ``warm_start``) for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            float32 trains in float32, float64 in float64, other numbers become float64.
        y : array-like, shape (n_samples,), at least two distinct labels
        coef_init : array-like, shape (n_classes or 1, n_features), optional
        intercept_init : array-like, shape (n_classes or 1,), optional
            With ``warm_start``, each of the two not given is taken from the
            previous fit, as in scikit-learn.
        sample_weight : array-like, shape (n_samples,), optional
            A negative weight reverses the sample's steps, as in scikit-learn.

        Returns
        -------
        self
        """
        self._check_params()
        problem = self._prepare(X, y, sample_weight, partial=False, first=True, classes=None,
                                coef_init=coef_init, intercept_init=intercept_init)
        n_iter = self._train(problem, self.max_iter, t_start=1.0, stopping=True)
        if self.tol is not None and n_iter == self.max_iter:
            warnings.warn("Maximum number of iteration reached before convergence. "
                          "Consider increasing max_iter to improve the fit.", ConvergenceWarning)
        return self

    def partial_fit(self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None,
                    sample_weight: ArrayLike | None = None) -> LinearSGD:
        """One epoch on ``(X, y)``, continuing from the current weights.

        As in scikit-learn, ``early_stopping=True`` is refused on the first call;
        on later calls (after :meth:`fit`, say) the epoch trains on the stratified
        training split of ``(X, y)`` only, the ``validation_fraction`` held out.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : array-like, shape (n_samples,), labels among ``classes``
        classes : array-like, shape (n_classes,)
            All labels of the problem; required on the first call.
        sample_weight : array-like, shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._check_params()
        first = not self._fitted()
        if first and self.early_stopping:
            # as scikit-learn, which checks only the first call: later calls hold out a
            # validation_fraction of the batch, untrained on (one epoch cannot stop early)
            raise ValueError("early_stopping should be False with partial_fit (on its first "
                             "call; after it, each call trains on all of its batch but the "
                             "held-out validation_fraction, as in scikit-learn)")
        if first and isinstance(self.class_weight, str):
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: "
                             "compute the weights once with sklearn.utils.class_weight."
                             "compute_class_weight('balanced', classes=classes, y=y) on the "
                             "full training targets and pass them as a dict")
        problem = self._prepare(X, y, sample_weight, partial=True, first=first, classes=classes)
        t_start = float(getattr(self, "t_", 1.0)) if not first else 1.0
        # the rate goes on from the samples visited so far (t_ also counts those of weight 0)
        rate_start = float(self.__dict__.get("_rate_t", t_start))
        self._train(problem, 1, t_start=t_start, stopping=False, rate_start=rate_start)
        return self

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Signed scores ``X @ coef_.T + intercept_``.

        The scores are float32 when both ``X`` and the model are float32, else
        float64 (NumPy's promotion of the two dtypes, as scikit-learn's; other
        numbers become float64): float64 rows are not rounded to a float32
        model's precision.

        Returns
        -------
        ndarray, shape (n_samples,) for two classes, else (n_samples, n_classes)
        """
        check_is_fitted(self)
        dtype = [np.float64, np.float32] if self.coef_.dtype == np.float32 else np.float64
        X = validate_data(self, X, reset=False, dtype=dtype, order="C")
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class labels: ``classes_[1]`` where the score is > 0 (two classes), else the argmax.

        The Perceptron's step function also gives ``classes_[1]`` at a score of exactly 0.

        Returns
        -------
        ndarray, shape (n_samples,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[self._positive(scores).astype(np.intp)]
        return self.classes_[np.argmax(scores, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    # ------------------------------------------------------------ checking

    def _fitted(self) -> bool:
        return "coef_" in self.__dict__

    def _check_params(self) -> None:
        """Raise an error naming the first invalid hyperparameter, as scikit-learn would.

        Values scikit-learn refuses get its ``InvalidParameterError`` (a
        ValueError and a TypeError); values it accepts that fastnn does not
        support get a ValueError that says so (``_check_rule``).
        """
        self._validate_params()
        if self.penalty in ("l1", "elasticnet"):
            raise ValueError(f"penalty={self.penalty!r} is not supported by fastnn."
                             f"{type(self).__name__}; use penalty=None or 'l2'")
        self._check_rule()

    def _prepare(self, X, y, sample_weight, partial, first, classes, coef_init=None,
                 intercept_init=None):
        """Validate everything and build the training problem; ``self`` is left unchanged.

        ``validate_data(reset=True)`` records ``n_features_in_`` and
        ``feature_names_in_`` on the estimator; they are taken back off here and
        published with the weights, so a failed check leaves the model as it was.
        """
        saved = dict(self.__dict__)
        try:
            return self._prepare_unsafe(X, y, sample_weight, partial, first, classes, coef_init,
                                        intercept_init)
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)

    def _prepare_unsafe(self, X, y, sample_weight, partial, first, classes, coef_init,
                        intercept_init):
        dtype = [np.float64, np.float32] if first else self.coef_.dtype
        # X's NaN/inf check rides on the first epoch (see _check_unvisited_rows)
        X, y = validate_data(self, X, y, dtype=dtype, order="C", reset=first,
                             ensure_all_finite=False)
        meta = {name: self.__dict__[name] for name in _META if name in self.__dict__}
        n_samples, n_features = X.shape
        if y.dtype.kind in "iuf":
            # one pass for the labels and codes, shared with sklearn's target check
            y_classes, y_codes = _encode_labels(y)
            check_classification_targets(_with_unique(y, y_classes))
        else:
            check_classification_targets(y)
            y_classes, y_codes = _encode_labels(y)

        if partial:
            if first:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit")
                classes = _class_labels(classes)
            else:
                if classes is not None and not np.array_equal(_class_labels(classes),
                                                              self.classes_):
                    raise ValueError(f"classes={_class_labels(classes)!r} differs from the classes "
                                     f"of the first call to partial_fit, {self.classes_!r}")
                classes = self.classes_
            unseen = np.setdiff1d(y_classes, classes)
            if unseen.size:
                raise ValueError(f"y contains labels not in classes: {unseen.tolist()!r} "
                                 f"(classes are {classes.tolist()!r})")
            codes = np.searchsorted(classes, y_classes).astype(np.int32)[y_codes]
        else:
            classes, codes = y_classes, y_codes
            if classes.dtype == object:  # str labels: a str classes_, as partial_fit's
                classes = _class_labels(classes)  # (the same sorted order, so the same codes)
        n_classes = classes.shape[0]
        if n_classes < 2:
            raise ValueError("The number of classes has to be greater than one; got "
                             f"{n_classes} class")

        weights = sample_weights = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if self.class_weight is not None:  # (None: all ones, nothing to multiply)
            # a negative class weight reverses its samples' steps (trains away from the
            # class), as in scikit-learn: the kernel's step is linear in the weight
            class_weight = compute_class_weight(self.class_weight, classes=classes, y=y)
            if not np.all(np.isfinite(class_weight)):
                raise ValueError(f"class weights must be finite, got {class_weight}")
            with np.errstate(over="ignore"):  # checked below
                weights = weights * class_weight[codes]
            if np.any(np.abs(weights) > np.finfo(X.dtype).max):
                # else the weights became infinite in training, blamed on the data's scale
                raise ValueError(f"sample_weight times class_weight overflows {X.dtype}: "
                                 "rescale the class weights")
        weights = np.ascontiguousarray(weights, dtype=X.dtype)

        n_rows = 1 if n_classes == 2 else n_classes
        W, b = self._initial_weights(n_rows, n_features, X.dtype, first, coef_init, intercept_init)

        train = np.arange(n_samples, dtype=np.int64)
        validation = None
        if self.early_stopping:
            train, validation = self._split(
                X, y, codes, None if sample_weight is None else sample_weights)
        train_weights = weights if validation is None else weights[train]
        if not np.any(train_weights):
            raise ValueError("the weights of the training samples (sample_weight times "
                             "class_weight) are all zero")
        # The kernel runs with subnormal numbers flushed to 0 (kernels/fpenv.py): weights all
        # below the smallest normal number trained nothing and left coef_ at 0, without a word
        floor = smallest_weight_read(X.dtype)
        if np.abs(train_weights).max() < floor:
            raise ValueError(f"the weights of the training samples (sample_weight times "
                             f"class_weight) are all below {floor:.3g}, the smallest normal "
                             f"{X.dtype.name}, which training reads as 0; rescale them (e.g. "
                             "divide them by their mean)")
        self._check_unvisited_rows(X, weights, None if validation is None else train)
        return dict(X=X, codes=codes, weights=weights, classes=classes, W=W, b=b, train=train,
                    validation=validation, n_samples=n_samples, meta=meta,
                    rng_state=np.array([check_random_state(self.random_state).randint(
                        0, 2**63 - 1, dtype=np.int64)], dtype=np.uint64))

    def _check_unvisited_rows(self, X, weights, train):
        """scikit-learn's NaN/inf check of ``X`` for the rows the first epoch does not visit.

        Checking all of ``X`` is a pass over it as long as a fast epoch
        (1,000,000 x 100 float64: 0.06 s); the epoch kernel counts the visited
        rows whose score is not finite instead (a NaN or an infinity in a row
        always makes its score NaN or infinite while the weights are finite)
        and ``_train`` then checks ``X``.  Left here: rows of weight 0 and the
        rows not in ``train`` (the training rows; None: all rows).
        """
        unvisited = weights == 0
        if train is not None:
            unvisited = np.ones(X.shape[0], np.bool_)
            unvisited[train] = weights[train] == 0
        if unvisited.any():
            assert_all_finite(X[unvisited], input_name="X", estimator_name=type(self).__name__)

    def _initial_weights(self, n_rows, n_features, dtype, first, coef_init, intercept_init):
        coef = self.coef_.toarray() if sp.issparse(self.__dict__.get("coef_")) else None
        if not first:
            return (np.array(self.coef_ if coef is None else coef, dtype=dtype, order="C"),
                    np.array(self.intercept_, dtype=dtype))
        if self.warm_start and self._fitted():
            # as scikit-learn: each of coef_init, intercept_init not given comes from the
            # previous fit (a given intercept_init was dropped unless coef_init was given too)
            if coef_init is None:
                if self.coef_.shape != (n_rows, n_features):
                    raise ValueError(f"warm_start: the previous coef_ has shape "
                                     f"{self.coef_.shape}, this problem needs "
                                     f"{(n_rows, n_features)}")
                coef_init = self.coef_ if coef is None else coef  # (after sparsify())
            if intercept_init is None:
                if self.intercept_.shape != (n_rows,):
                    raise ValueError(f"warm_start: the previous intercept_ has shape "
                                     f"{self.intercept_.shape}, this problem needs ({n_rows},)")
                intercept_init = self.intercept_
        W = np.zeros((n_rows, n_features), dtype)
        b = np.zeros(n_rows, dtype)
        if coef_init is not None:
            with np.errstate(over="ignore"):  # values beyond float32's range: named below
                coef = np.asarray(coef_init, dtype=dtype)
            # as scikit-learn: two classes take any shape of n_features values, more classes
            # exactly (n_classes, n_features) (a transposed matrix was reshaped, scrambled)
            if coef.shape != W.shape and (n_rows != 1 or coef.size != W.size):
                raise ValueError(f"coef_init must have shape {(n_rows, n_features)}, "
                                 f"got {coef.shape}")
            W[:] = coef.reshape(W.shape)
        if intercept_init is not None:
            with np.errstate(over="ignore"):
                intercept = np.asarray(intercept_init, dtype=dtype)
            if intercept.size != n_rows or intercept.ndim > 1:
                raise ValueError(f"intercept_init must have shape ({n_rows},), "
                                 f"got {intercept.shape}")
            b[:] = intercept.reshape(n_rows)
        initial = (("coef_init", coef_init, W), ("intercept_init", intercept_init, b))
        for name, given, array in initial:
            if given is not None and not np.isfinite(array).all():
                # finite float64 values that a float32 model cannot hold are not NaN/inf
                original = np.asarray(given)
                if original.dtype.kind in "biuf" and np.isfinite(original).all():
                    raise ValueError(f"{name} has values beyond the range of {dtype.name} "
                                     f"(largest in magnitude {np.abs(original).max():.3g}), the "
                                     "dtype of the training data; rescale it")
                raise ValueError(f"{name} contains NaN or infinity")
        return W, b

    def _split(self, X, y, codes, sample_weight):
        """Stratified (train, validation) row indices for early stopping.

        ``sample_weight``: the checked sample weights, one per row, in ``X``'s
        dtype (as scikit-learn's validation score has them), or None.
        """
        splitter = StratifiedShuffleSplit(test_size=self.validation_fraction,
                                          random_state=self.random_state)
        train, validation = next(splitter.split(np.zeros((len(y), 1)), y))
        if train.size == 0 or validation.size == 0:
            raise ValueError(f"validation_fraction={self.validation_fraction} splits {len(y)} "
                             "samples into an empty training or validation set; change "
                             "validation_fraction or disable early_stopping")
        # the sample weights alone (no class weights), as scikit-learn's validation score
        validation_weight = None if sample_weight is None else sample_weight[validation]
        if validation_weight is not None and not np.any(validation_weight > 0):
            # scikit-learn's rule: the validation rows need a positive sample weight
            raise ValueError("The sample weights for the validation set are all zero or "
                             "negative; use another random_state")
        return (np.sort(train).astype(np.int64),
                (X[validation], codes[validation], validation_weight))

    # ------------------------------------------------------------ training

    def _shuffle_block(self, n_bytes: int) -> int:
        """Rows per shuffle block for training rows of ``n_bytes`` bytes in all."""
        if isinstance(self.shuffle_block, str):  # "auto", checked by _check_params
            return _AUTO_BLOCK if n_bytes > _AUTO_UNIFORM_BYTES else 1
        return int(self.shuffle_block)

    def _train(self, problem, max_iter, t_start, stopping, rate_start=None):
        """Run up to ``max_iter`` epochs, publishing the model after each one.

        ``t_start`` is ``t_`` before the first epoch (it counts every sample, as
        scikit-learn's); ``rate_start`` (default ``t_start``) the learning rate's
        ``t``, which counts only the visited samples (weight > 0), published as
        ``_rate_t`` for the next :meth:`partial_fit`.

        A problem (row of ``W``) whose epoch made no update and has no L2
        decay is at a fixed point: further epochs cannot change it, so the
        kernel skips it while the stopping rule keeps counting (its loss stays
        what it was and its validation score constant), which gives the same
        result as running it.  Returns the number of epochs run.
        """
        X, codes, weights, W, b = (problem[k] for k in ("X", "codes", "weights", "W", "b"))
        rate_start = t_start if rate_start is None else rate_start
        rows = problem["train"]
        n_rows = W.shape[0]
        binary = n_rows == 1 and problem["classes"].shape[0] == 2
        alpha = float(self.alpha) if self.penalty == "l2" else 0.0
        loss_code, schedule, eta0, power_t, optimal_init = self._rule()
        n_threads = _config.get_num_threads() if self.n_threads is None else int(self.n_threads)
        n_blocks = max(1, min(n_rows, n_threads, _config.threading_info()["max_threads"]))
        # A block longer than the training rows is the same single block (the same order, bit
        # for bit); clipped, shuffle_block=2**40 sizes no workspace of 2**43 rows.
        block = min(self._shuffle_block(rows.shape[0] * X.shape[1] * X.itemsize),
                    max(1, rows.shape[0]))
        blocks = np.empty(-(-rows.shape[0] // block), np.int64)
        local = np.empty(max(_WINDOW_BLOCKS, -(-_WINDOW_MIN_ROWS // block)) * block, np.int64)
        train_weights = weights if rows.shape[0] == weights.shape[0] else weights[rows]
        # None with a negative class weight: the weighted objective then falls without bound
        weight_sum = (None if (train_weights < 0).any()
                      else float(train_weights.sum(dtype=np.float64)))
        n_visits = int(np.count_nonzero(train_weights))
        tol = -np.inf if self.tol is None else float(self.tol)

        running = np.ones(n_rows, np.bool_)   # not yet stopped by the rule
        trained = np.ones(n_rows, np.bool_)   # running and not at a fixed point
        best = np.full(n_rows, np.inf if problem["validation"] is None else -np.inf)
        no_improvement = np.zeros(n_rows, np.int64)
        last_score = np.zeros(n_rows)
        n_updates = np.zeros(n_rows, np.int64)
        loss_sum = np.zeros(n_rows)
        objective = np.zeros(n_rows)
        penalty_sum = np.zeros(n_rows)
        nonfinite = np.zeros(n_rows, np.int64)
        # the losses feed only the stopping rule on the training objective and verbose output
        track_loss = bool(self.verbose) or (stopping and self.tol is not None
                                            and problem["validation"] is None)
        start = time.perf_counter()
        epoch = 0
        for epoch in range(1, max_iter + 1):
            if trained.any():
                t0 = int(round(rate_start)) - 1 + (epoch - 1) * n_visits
                with subnormals_flushed():  # on this thread; the kernel's workers set theirs
                    _config.run(sgd_epoch, X, rows, codes, weights, W, b, loss_code,
                                schedule, eta0, power_t, alpha, float(self.alpha), optimal_init,
                                t0, bool(self.fit_intercept), int(binary), trained, n_blocks,
                                bool(self.shuffle), block, problem["rng_state"], blocks, local,
                                track_loss, n_updates, loss_sum, objective, penalty_sum,
                                nonfinite)
                if epoch == 1 and nonfinite.any():  # NaN/inf in X, or an overflowed score
                    assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
                if not (np.isfinite(W).all() and np.isfinite(b).all()):
                    raise ValueError(f"Floating-point overflow at epoch {epoch}: the weights "
                                     "became infinite. Scale the input data (StandardScaler or "
                                     "MinMaxScaler) or lower the learning rate. The model "
                                     "keeps the weights of the last finite epoch.")
            n_updates[~trained] = 0
            if stopping:
                if problem["validation"] is not None:
                    score = self._validation_scores(W, b, problem["validation"], binary, trained,
                                                    last_score)
                    worse = score < best + tol
                    best = np.maximum(best, score)
                else:
                    # per visited row: rows of weight 0 are skipped, their loss not summed
                    # (dividing by all rows stopped elsewhere than a fit without them)
                    score = self._epoch_loss(loss_sum, objective, penalty_sum, weight_sum,
                                             n_visits)
                    worse = score > best - tol
                    best = np.minimum(best, score)
                no_improvement = np.where(worse, no_improvement + 1, 0)
                running &= no_improvement < self.n_iter_no_change
            trained &= running
            if alpha == 0.0:
                trained &= n_updates > 0
            t = t_start + epoch * problem["n_samples"]
            self._publish(problem, W, b, epoch, t, rate_start + epoch * n_visits,
                          final=not running.any() or epoch == max_iter)
            elapsed = time.perf_counter() - start
            if self.verbose:
                print(f"-- Epoch {epoch}: updates {int(n_updates.sum())}, avg. loss "
                      f"{loss_sum.sum() / max(n_visits, 1) / n_rows:.6f}, T {t:.0f}, "
                      f"{elapsed:.2f} s")
            if not running.any():
                if self.verbose:
                    print(f"Convergence after {epoch} epochs took {elapsed:.2f} s")
                break
        return epoch

    def _positive(self, scores):
        """Where ``scores`` predict the positive class (see ``_ZERO_IS_POSITIVE``)."""
        return scores >= 0 if self._ZERO_IS_POSITIVE else scores > 0

    def _validation_scores(self, W, b, validation, binary, trained, last_score):
        """Weighted accuracy of each one-vs-rest problem on the validation rows (in place)."""
        X_val, codes_val, weight_val = validation
        scores = X_val @ W.T + b
        for k in np.flatnonzero(trained):
            right = self._positive(scores[:, k]) == (codes_val == k + int(binary))
            last_score[k] = np.average(right, weights=weight_val)
        return last_score.copy()

    def _publish(self, problem, W, b, n_iter, t, rate_t, final):
        """Set every fitted attribute at once (one dict swap), from copies unless ``final``."""
        state = dict(self.__dict__)
        for name in _META:
            state.pop(name, None)
        state.update(problem["meta"])
        state.update(classes_=problem["classes"], coef_=W if final else W.copy(),
                     intercept_=b if final else b.copy(), n_iter_=n_iter, t_=float(t),
                     _rate_t=float(rate_t))
        self.__dict__ = state
