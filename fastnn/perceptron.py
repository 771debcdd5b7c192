"""``fastnn.Perceptron``: scikit-learn's Perceptron API on the linear SGD epoch kernel.

Rosenblatt's rule is per-sample SGD with the perceptron loss and a constant
rate, so the estimator is :class:`fastnn.linear.LinearSGD` with that loss
(``kernels.sgd_epoch`` with loss code ``rosenblatt``).
"""
from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import Interval

from .kernels.perceptron import LOSS_CODES, SCHEDULE_CODES
from .linear import _CONSTRAINTS, LinearSGD


class Perceptron(LinearSGD):
    """Rosenblatt's perceptron, a drop-in for ``sklearn.linear_model.Perceptron``.

    For each sample ``x`` with target ``t`` in {0, 1} (one-vs-rest for more
    than two classes) the prediction is ``t_hat = step(w.x + b)``, 1 if
    ``w.x + b >= 0``, and the weights move by ``eta0 * s * (t - t_hat) * x``
    (``s``: sample weight times class weight).  Each epoch visits the samples
    in a fresh random order and runs in one Numba kernel call; the
    one-vs-rest problems are trained in parallel.

    Parameters
    ----------
    penalty : {None, 'l2'}, default=None
        ``'l2'`` multiplies the weights (not the intercept) by
        ``max(0, 1 - eta0 * alpha)`` at every visited sample, as scikit-learn
        does.  ``'l1'`` and ``'elasticnet'`` are not supported.
    alpha : float >= 0, default=1e-4
        L2 strength, used only with ``penalty='l2'``.
    l1_ratio : float in [0, 1], default=0.15
        Validated as in scikit-learn and unused: it only applies to the
        ``'elasticnet'`` penalty, which fastnn does not support.
    fit_intercept : bool, default=True
    max_iter : int >= 1, default=1000
        Maximum number of epochs in :meth:`fit` (:meth:`partial_fit` runs one).
    tol : float >= 0 or None, default=1e-3
        A problem stops after ``n_iter_no_change`` consecutive epochs whose mean
        training objective is not below the best so far minus ``tol`` (or,
        with ``early_stopping``, whose validation accuracy is not above the
        best so far plus ``tol``).  ``None`` runs ``max_iter`` epochs.
    shuffle : bool, default=True
        Visit the samples in a new random order every epoch (see ``shuffle_block``).
    verbose : int >= 0, default=0
        Print one line per epoch.
    eta0 : float > 0, default=1.0
        Learning rate.
    n_jobs : int or None, default=None
        Validated as in scikit-learn and unused: use ``n_threads``.
    random_state : int, RandomState instance or None, default=0
        Seeds the shuffles and the early-stopping split.  The same seed gives
        bit-identical results, whatever the number of threads.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data and
        stop each problem when its validation accuracy stops improving.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int >= 1, default=5
    class_weight : dict, 'balanced' or None, default=None
        Multiplies the weight of every sample of a class, in every
        one-vs-rest problem ('balanced': ``n_samples / (n_classes * count)``).
        A negative weight reverses the steps of the class's samples (training
        away from it), as in scikit-learn, and the stopping rule then uses the
        unweighted objective, as scikit-learn (see Notes).
    warm_start : bool, default=False
        Start :meth:`fit` from the previous ``coef_`` and ``intercept_``.
    shuffle_block : int >= 1 or "auto", default="auto"
        The shuffle visits blocks of this many consecutive rows in a random
        order, the rows of a few blocks at a time interleaved (see Notes);
        ``1`` gives a uniformly random permutation of the rows, as
        scikit-learn, at about 3 times the cost per epoch on data much
        larger than the CPU caches.  ``"auto"``: 64 when the training rows
        take more than 8 MiB, else 1.
    n_threads : int >= 1 or None, default=None
        Number of blocks of one-vs-rest problems trained in parallel (at
        most the number of problems and Numba's thread count); None uses
        :func:`fastnn.get_num_threads`.  With ``fastnn.set_num_threads(1)``
        everything runs serially.  It changes speed only, never the result.

    Values scikit-learn refuses raise its ``InvalidParameterError`` (a
    ValueError and a TypeError) at ``fit``/``partial_fit``; the 'l1' and
    'elasticnet' penalties, which it accepts, raise a ValueError that says
    fastnn does not support them.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    coef_ : ndarray, shape (1, n_features) for two classes, else (n_classes, n_features)
        In the dtype of the training data (float32 stays float32).
    intercept_ : ndarray, shape (1,) or (n_classes,)
    n_iter_ : int
        Epochs run by the last :meth:`fit` (the maximum over the one-vs-rest
        problems), 1 after :meth:`partial_fit`.
    t_ : float
        Number of weight updates performed, ``n_iter_ * n_samples + 1`` after
        :meth:`fit`, as in scikit-learn.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Only when fitted on a DataFrame with string column names.

    Notes
    -----
    Differences from scikit-learn, all deliberate: the update is Rosenblatt's
    (a sample with ``w.x + b == 0`` counts as class 1, so it is an error only
    for class 0, and ``predict`` uses the same ``>= 0``); in multiclass
    problems ``class_weight`` weighs a sample in every one-vs-rest problem
    (scikit-learn weighs only the positive class); samples of weight 0 are
    skipped entirely (the L2 decay included), so they are the same as
    removed samples; the stopping rule's training loss is weighted by the
    sample and class weights (unweighted, as scikit-learn's, when a sample
    or class weight is negative); with ``early_stopping`` and ``penalty='l2'``
    the validation accuracy is that of the model's weights (scikit-learn 1.9
    scores its stored weights without their pending L2 decay factor, so the
    stopping epoch can differ); unseen labels in :meth:`partial_fit` are an
    error; on data larger than 8 MiB the shuffle visits blocks of
    ``shuffle_block`` consecutive rows (64) in a random order, eight blocks at
    a time, round ``i`` the ``i``-th row of each block in a random order of
    the blocks (each block is read in file order, a few side by side: about
    3x faster than a uniformly random order of single rows, which
    ``shuffle_block=1`` and smaller data get); all one-vs-rest problems
    share one order; ``n_jobs`` is unused (``n_threads`` instead) and, with
    no ``'elasticnet'`` penalty, so is ``l1_ratio``.
    """

    _ZERO_IS_POSITIVE = True  # the step function: 1 if w.x + b >= 0
    #: Parameters added after the first pickles and model files, at their defaults.
    _ADDED_PARAMS = {"l1_ratio": 0.15, "n_jobs": None}
    _parameter_constraints: dict = {**_CONSTRAINTS,
                                    "l1_ratio": [Interval(Real, 0, 1, closed="both")]}

    def __init__(self, *, penalty=None, alpha=0.0001, l1_ratio=0.15, fit_intercept=True,
                 max_iter=1000, tol=1e-3, shuffle=True, verbose=0, eta0=1.0, n_jobs=None,
                 random_state=0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=5, class_weight=None, warm_start=False, shuffle_block="auto",
                 n_threads=None):
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.eta0 = eta0
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.shuffle_block = shuffle_block
        self.n_threads = n_threads

    def __setstate__(self, state):
        # a Perceptron pickled before it had l1_ratio and n_jobs: get_params (repr, clone,
        # fit) raised AttributeError on it
        state = {**self._ADDED_PARAMS, **state}
        super().__setstate__(state)

    def _check_rule(self) -> None:
        pass  # loss and rate are fixed; eta0 is checked by _parameter_constraints

    def _rule(self):
        return LOSS_CODES["rosenblatt"], SCHEDULE_CODES["constant"], float(self.eta0), 0.5, 1.0

    @staticmethod
    def _epoch_loss(loss_sum, objective, penalty_sum, weight_sum, n_train):
        """The stopping rule's loss: the weighted perceptron criterion (plus L2) per unit weight.

        ``weight_sum`` is the sum of the training weights, None if some are
        negative (a sample or class weight): the weighted objective then falls
        without bound, so the rule is scikit-learn's, the unweighted objective
        per training sample (``n_train``: those of nonzero weight, the samples
        visited).
        """
        if weight_sum is None:
            return (loss_sum + penalty_sum) / max(n_train, 1)
        return objective / weight_sum
