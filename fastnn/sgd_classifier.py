"""``fastnn.SGDClassifier``: scikit-learn's SGDClassifier API on one Numba epoch kernel.

The loss, the learning rate and its 'optimal' start are this module's; the
rest (validation, one-vs-rest problems, stopping rule, early stopping,
publishing the model) is :class:`fastnn.linear.LinearSGD`, which
``fastnn.Perceptron`` shares.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import expit
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval, StrOptions

from .kernels.perceptron import LOSS_CODES, SCHEDULE_CODES, loss_dloss
from .linear import _CONSTRAINTS, LinearSGD

_PROBA_LOSSES = ("log_loss", "modified_huber")


class SGDClassifier(LinearSGD):
    """Linear classifier trained by per-sample SGD (drop-in for scikit-learn's SGDClassifier).

    At the ``t``-th visited sample ``x`` (weight ``s``: sample weight times
    class weight, target ``y`` in {-1, +1}; one-vs-rest for more than two
    classes), with score ``p = w.x + b`` and rate ``eta_t``::

        w <- max(0, 1 - eta_t alpha) w - eta_t s dL(p, y)/dp x      (L2 decay only with 'l2')
        b <- b - eta_t s dL(p, y)/dp

    Each epoch runs in one Numba kernel call; the one-vs-rest problems are
    trained in parallel.

    Parameters
    ----------
    loss : {'hinge', 'log_loss', 'perceptron', 'modified_huber', 'squared_hinge'}, default='hinge'
        ``L(p, y)`` with ``z = p y``: ``max(0, 1 - z)``; ``log(1 + exp(-z))``;
        ``max(0, -z)``; ``max(0, 1 - z)^2`` for ``z >= -1``, else ``-4 z``;
        ``max(0, 1 - z)^2``.
    penalty : {None, 'l2'}, default='l2'
        ``'l1'`` and ``'elasticnet'`` are not supported (ValueError).
    alpha : float >= 0, default=1e-4
        L2 strength; also sets the 'optimal' learning rate (then it must be > 0).
    fit_intercept : bool, default=True
    max_iter : int >= 1, default=1000
        Maximum number of epochs in :meth:`fit` (:meth:`partial_fit` runs one).
    tol : float >= 0 or None, default=1e-3
        A problem stops after ``n_iter_no_change`` consecutive epochs whose mean
        training objective (the loss, plus ``alpha / 2 ||w||^2`` with
        ``penalty='l2'``, at each sample) is not below the best so far minus
        ``tol``, as in scikit-learn 1.9 (with
        ``early_stopping``: whose validation accuracy is not above the best
        so far plus ``tol``).  ``None`` runs ``max_iter`` epochs.
    shuffle : bool, default=True
        Visit the samples in a new random order every epoch.
    verbose : int >= 0, default=0
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffles and the early-stopping split.  A given seed gives
        bit-identical results, whatever the number of threads.
    learning_rate : {'constant', 'optimal', 'invscaling'}, default='optimal'
        ``eta0``; ``1 / (alpha (t0 + t - 1))`` with scikit-learn's ``t0``;
        ``eta0 / t^power_t``.  ``'adaptive'`` is not supported.
    eta0 : float > 0, default=0.01
    power_t : float, default=0.5
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` and stop each problem
        when its validation accuracy stops improving.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int >= 1, default=5
    class_weight : dict, 'balanced' or None, default=None
        Multiplies the weight of every sample of a class (see Notes).  A
        negative weight reverses the steps of the class's samples (training
        away from it), as in scikit-learn.
    warm_start : bool, default=False
        Start :meth:`fit` from the previous ``coef_`` and ``intercept_``.
    shuffle_block : int >= 1 or "auto", default="auto"
        The shuffle visits blocks of this many consecutive rows in a random
        order, the rows of a few blocks at a time interleaved (see Notes).
        ``1`` gives a uniformly random permutation of the rows, as
        scikit-learn, at about 3 times the cost per epoch on data much
        larger than the CPU caches.  ``"auto"``: 64 when the training rows
        take more than 8 MiB, else 1.
    n_threads : int >= 1 or None, default=None
        Number of blocks of one-vs-rest problems trained in parallel; None
        uses :func:`fastnn.get_num_threads`.  Changes speed only.
    l1_ratio : float in [0, 1] or None, default=0.15
        Validated as in scikit-learn and unused: it only applies to the
        ``'elasticnet'`` penalty, which fastnn does not support.
    epsilon : float >= 0, default=0.1
        Validated as in scikit-learn and unused: it only applies to the
        regression losses ('huber', 'epsilon_insensitive', ...), which fastnn
        does not support.
    n_jobs : int or None, default=None
        Validated as in scikit-learn and unused: use ``n_threads``.
    average : bool or int >= 1, default=False
        Only ``False`` is supported: averaged SGD (``True`` or an int) raises
        ValueError.

    Values scikit-learn refuses raise its ``InvalidParameterError`` (a
    ValueError and a TypeError) at ``fit``/``partial_fit``; values it
    accepts that fastnn does not support ('l1'/'elasticnet' penalty, the
    regression losses, the 'adaptive'/'pa1'/'pa2' rates, ``average``)
    raise a ValueError that says so.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    coef_ : ndarray, shape (1, n_features) for two classes, else (n_classes, n_features)
        In the dtype of the training data (float32 stays float32).
    intercept_ : ndarray, shape (1,) or (n_classes,)
    n_iter_ : int
        Epochs run by the last :meth:`fit` (the maximum over the problems).
    t_ : float
        ``n_iter_ * n_samples + 1`` after :meth:`fit`, as in scikit-learn.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)

    Notes
    -----
    Differences from scikit-learn, all deliberate:

    - the shuffle on data larger than 8 MiB (``shuffle_block`` 64 rows by
      default): an epoch visits blocks of ``shuffle_block`` consecutive rows
      in a random order, eight blocks at a time (at least 512 rows); round
      ``i`` of such a window visits the ``i``-th row of each of its blocks,
      the blocks in a random order.  Each block is thus read in file order,
      a few blocks side by side, which the CPU streams from memory: about 3x
      faster than random single rows, which are memory misses.  Rows far
      apart in ``X`` are not visited close together unless their blocks
      meet; shuffle ``X`` once beforehand if its rows are sorted, or set
      ``shuffle_block=1``;
    - all one-vs-rest problems visit the samples in the same order (one
      pass over ``X`` per epoch for all of them); scikit-learn shuffles each
      problem with its own seed;
    - ``class_weight`` weighs a sample in every one-vs-rest problem
      (scikit-learn weighs only the positive class of each problem);
    - samples of weight 0 are skipped entirely (no L2 decay, the rate's
      ``t`` does not advance), so they are the same as removed samples;
    - the rows held out by ``early_stopping`` do not advance the rate's ``t``
      either: a :meth:`partial_fit` after such a fit goes on from the rate
      of the rows trained on (scikit-learn's from ``t_``, which counts the
      held-out rows too);
    - with ``early_stopping`` and ``penalty='l2'`` the validation accuracy is
      that of the model's weights; scikit-learn 1.9 scores its stored weights
      without their pending L2 decay factor (``weights.base`` in
      ``_plain_sgd``), so the epochs at which the two stop can differ;
    - with ``loss='log_loss'`` and ``early_stopping``, scikit-learn 1.9 scores
      its validation rows against targets coded 0/1 with classes (-1, 1), so
      its "accuracy" counts only the positive rows predicted positive (on
      breast_cancer 0.61 where the true accuracy is 0.95), and it stops at
      other epochs; fastnn scores the validation accuracy;
    - unseen labels in :meth:`partial_fit` are an error;
    - no ``l1``/``elasticnet`` penalty, no ``average``, no 'adaptive' rate.
    """

    _parameter_constraints: dict = {
        **_CONSTRAINTS,
        "loss": [StrOptions({"hinge", "log_loss", "perceptron", "modified_huber",
                             "squared_hinge", "squared_error", "huber", "epsilon_insensitive",
                             "squared_epsilon_insensitive"})],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "optimal", "invscaling", "adaptive", "pa1",
                                      "pa2"})],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "average": [Interval(Integral, 0, None, closed="neither"), "boolean"],
    }

    def __init__(self, loss="hinge", *, penalty="l2", alpha=0.0001, l1_ratio=0.15,
                 fit_intercept=True, max_iter=1000, tol=1e-3, shuffle=True, verbose=0,
                 epsilon=0.1, n_jobs=None, random_state=None, learning_rate="optimal", eta0=0.01,
                 power_t=0.5, early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 class_weight=None, warm_start=False, average=False, shuffle_block="auto",
                 n_threads=None):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.shuffle_block = shuffle_block
        self.n_threads = n_threads

    def _check_rule(self) -> None:
        # l1_ratio (elasticnet only), epsilon (regression losses only) and n_jobs are
        # validated by _validate_params and, as in scikit-learn, unused where they do not apply
        unsupported = "is not supported by fastnn.SGDClassifier; use sklearn.linear_model." \
                      "SGDClassifier for it"
        if self.loss not in LOSS_CODES:  # a regression loss
            raise ValueError(f"loss={self.loss!r} {unsupported} (fastnn has 'hinge', "
                             "'log_loss', 'perceptron', 'modified_huber', 'squared_hinge')")
        if self.learning_rate not in SCHEDULE_CODES:
            raise ValueError(f"learning_rate={self.learning_rate!r} {unsupported} (fastnn has "
                             "'constant', 'optimal', 'invscaling')")
        if self.average:  # True or an int >= 1 (scikit-learn refuses 0)
            raise ValueError(f"average={self.average!r} {unsupported} (averaged SGD); "
                             "average=False trains without averaging")
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError("alpha must be > 0 with learning_rate='optimal' (it sets the "
                             "rate); use another learning_rate or a positive alpha")

    def _rule(self):
        schedule = self.learning_rate
        optimal_init = 1.0
        alpha = float(self.alpha)  # in float64, whatever type alpha is given as
        if schedule == "optimal":  # scikit-learn's initial t for the 'optimal' rate
            typw = np.sqrt(1.0 / np.sqrt(alpha))
            dloss = loss_dloss(LOSS_CODES[self.loss], -typw, 1.0, False)[1]
            optimal_init = 1.0 / (typw / max(1.0, dloss) * alpha)
        return (LOSS_CODES[self.loss], SCHEDULE_CODES[schedule], float(self.eta0),
                float(self.power_t), optimal_init)

    @staticmethod
    def _epoch_loss(loss_sum, objective, penalty_sum, weight_sum, n_train):
        """scikit-learn's stopping criterion: the epoch's mean unweighted objective.

        scikit-learn 1.9 sums, at every training sample, its loss plus
        ``alpha / 2 ||w||^2`` (before the sample's step), unweighted, and divides
        by the number of training samples (``_plain_sgd`` in
        ``sklearn/linear_model/_sgd_fast.pyx``): the penalty counts, not the loss alone.
        ``n_train`` counts the samples of nonzero weight: those of weight 0 are
        skipped (not summed), as removed samples.
        """
        return (loss_sum + penalty_sum) / max(n_train, 1)

    @available_if(lambda self: self.loss in _PROBA_LOSSES)
    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (``loss='log_loss'`` or ``'modified_huber'`` only).

        log_loss: ``expit(score)``; modified_huber: ``(clip(score, -1, 1) + 1) / 2``;
        with more than two classes the one-vs-rest values are normalised to sum
        to 1 (rows that are all 0 become uniform), as scikit-learn does.
        In the dtype of :meth:`decision_function`'s scores.

        Returns
        -------
        ndarray, shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if self.loss == "log_loss":
            prob = expit(scores)
        else:
            prob = (np.clip(scores, -1, 1) + 1) / 2
        if prob.ndim == 1:
            return np.column_stack([1 - prob, prob])
        total = prob.sum(axis=1, keepdims=True)
        uniform = total[:, 0] == 0
        prob[uniform] = 1.0
        total[uniform] = prob.shape[1]
        return prob / total

    @available_if(lambda self: self.loss in _PROBA_LOSSES)
    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """``log(predict_proba(X))``, shape (n_samples, n_classes)."""
        return np.log(self.predict_proba(X))
