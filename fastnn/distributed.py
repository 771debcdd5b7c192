"""Data-parallel training on a Dask cluster: synchronous model averaging.

Needs the ``dask`` extra (``pip install "fastnn[dask]"``).  The data are cut
into one shard per worker, kept in the workers' memory.  Each
synchronisation round sends the current parameters (the flat
``Network.params`` vector) and optimizer state to every worker; each trains
``sync_every`` mini-batches (or a whole pass over its shard) with fastnn's
kernels, and the driver averages the returned vectors, weighted by the rows
each worker trained on.

A round is a pure function of (shard, parameters, state, seed, epoch, batch
range): when a worker dies, Dask recomputes its shard from the data's
lineage and reruns the round elsewhere, and the fit continues with exactly
the result it would have had.  When that is impossible (a task kept killing
workers, the cluster lost every worker, a round timed out), ``fit`` raises
:class:`WorkerLostError` and leaves the estimator as it was before the fit
(unfitted if it was): never a model trained on part of the data without
saying so.  Any other failed fit (bad data) leaves it as it was, too.
"""
from __future__ import annotations

import contextlib
import copy
import numbers
import os
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from . import _config
from ._mlp_fit import _loss_scale, end_epoch, initialize_network, restore_if_diverged
from ._mlp_params import check_hyperparameters
from ._mlp_state import Undo
from ._mlp_weights import adopt_assigned_weights, drop_views
from .mlp import MLPClassifier, MLPRegressor
from .network import Network
from .optimizers import SGD, Adam
from .training import run_epoch

if TYPE_CHECKING:  # dask is an optional extra
    from dask.array import Array as DaskArray

__all__ = ["DaskMLPClassifier", "DaskMLPRegressor", "WorkerLostError"]


class WorkerLostError(RuntimeError):
    """A Dask fit could not finish because workers or their data were lost."""


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("fastnn.distributed needs Dask: pip install 'fastnn[dask]' "
                          "(dask[array], distributed)") from None
    return distributed


def _is_dask(value) -> bool:
    return hasattr(value, "__dask_graph__")


def _column_names(X):
    """A dask or pandas DataFrame's column names when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or not all(isinstance(name, str) for name in columns):
        return None
    return np.asarray(list(columns), dtype=object)


def _as_dask_array(value):
    """A dask DataFrame or Series as a dask array with known row blocks (others unchanged)."""
    if _is_dask(value) and hasattr(value, "to_dask_array"):
        return value.to_dask_array(lengths=True)
    return value


# ---------------------------------------------------------------- worker side
def _make_shard(spec: dict, *parts):
    """Concatenate, validate and encode one worker's blocks: ``parts`` = X, y, w, X, y, w, ..."""
    Xs, ys, ws = parts[0::3], parts[1::3], parts[2::3]
    dtype = np.dtype(spec["dtype"])
    X = np.concatenate([check_array(x, dtype=dtype, input_name="X") for x in Xs])
    if X.shape[1] != spec["n_features"]:
        raise ValueError(f"X has {X.shape[1]} features, expected {spec['n_features']}")
    y = np.concatenate([np.asarray(part) for part in ys])
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if spec["classes"] is not None:
        unknown = np.setdiff1d(np.unique(y), spec["classes"])
        if unknown.size:
            raise ValueError(f"y has classes not in classes_ {spec['classes']}: {unknown}")
        Y = LabelBinarizer().fit(spec["classes"]).transform(y).astype(dtype)
    else:
        Y = check_array(y.reshape(y.shape[0], -1), dtype=dtype, input_name="y")
    Y = np.ascontiguousarray(Y)
    w = None
    if any(part is not None for part in ws):
        w = np.concatenate([np.ones(x.shape[0]) if part is None else np.asarray(part, float)
                            for x, part in zip(Xs, ws)])
    if spec["class_weight"] is not None:
        lookup = spec["class_weight"]
        cw = np.array([lookup.get(label, 1.0) for label in y.tolist()], dtype=float)
        w = cw if w is None else w * cw
    if w is not None:
        w = np.ascontiguousarray(_check_sample_weight(w, X, dtype=dtype,
                                                      ensure_non_negative=True))
    return {"X": X, "Y": Y, "w": w, "n": X.shape[0]}


def _shard_rows(shard: dict) -> int:
    return shard["n"]


def _new_optimizer(network, spec: dict, lr: float, state: dict):
    if spec["solver"] == "sgd":
        optimizer = SGD(network, lr=lr, momentum=spec["momentum"],
                        nesterov=spec["nesterovs_momentum"])
        if optimizer.velocity is not None:
            optimizer.velocity[...] = state["velocity"]
    else:
        optimizer = Adam(network, lr=lr, beta1=spec["beta_1"], beta2=spec["beta_2"],
                         eps=spec["epsilon"])
        optimizer.m[...], optimizer.v[...], optimizer.t = state["m"], state["v"], state["t"]
    return optimizer


def _optimizer_state(optimizer) -> dict:
    if isinstance(optimizer, Adam):
        return {"m": optimizer.m, "v": optimizer.v, "t": optimizer.t}
    return {"velocity": optimizer.velocity}


def _train_round(shard: dict, spec: dict, params: np.ndarray, state: dict, lr: float,
                 seed: int, index: int, epoch: int, first_batch: int, n_batches: int):
    """``n_batches`` mini-batches of this epoch's pass over one shard, from given weights.

    Returns (params, optimizer state, sum of batch losses x batch sizes, rows).
    """
    network = Network(spec["layer_units"], spec["activations"], spec["output"],
                      dtype=spec["dtype"], params=params, sigmoid_a=spec["sigmoid_a"],
                      leaky_slope=spec["leaky_slope"])
    optimizer = _new_optimizer(network, spec, lr, state)
    n, batch_size = shard["n"], min(spec["batch_size"], shard["n"])
    rows = (np.random.default_rng([seed, index, epoch]).permutation(n) if spec["shuffle"]
            else np.arange(n))[first_batch * batch_size:(first_batch + n_batches) * batch_size]
    n_threads = _config.capped(spec["n_threads"])  # a worker may have fewer cores
    if n_threads is None:
        n_threads = min(_distributed().get_worker().state.nthreads, _config._MAX_THREADS)
    if os.getpid() == spec["driver_pid"]:
        # A worker in the driver's process (Client(processes=False)) shares the user's
        # thread setting: set for the round only.
        threads = _config.using_threads(n_threads)
    else:
        if _config.thread_setting() != n_threads:  # the worker keeps it: threadpoolctl is slow
            _config.set_num_threads(n_threads)
        threads = contextlib.nullcontext()
    with threads:
        total = run_epoch(network, shard["X"], shard["Y"], shard["w"], rows.astype(np.int64),
                          batch_size, optimizer, alpha=spec["alpha"],
                          loss_scale=spec["loss_scale"])
    return network.params, _optimizer_state(optimizer), float(total), int(rows.shape[0])


# ---------------------------------------------------------------- driver side
class _DaskFit:
    """The fit of :class:`DaskMLPClassifier` and :class:`DaskMLPRegressor`."""

    @property
    def partial_fit(self):
        name = type(self).__name__
        raise AttributeError(f"{name} trains with fit; for partial_fit over dask chunks wrap "
                             f"an {name.replace('Dask', '')} in dask_ml.wrappers.Incremental")

    def _client(self):
        distributed = _distributed()
        if self.client is None:
            try:
                return distributed.get_client()
            except ValueError:
                raise ValueError("no Dask client: pass client= (a distributed.Client or a "
                                 "scheduler address such as 'tcp://host:8786'), or create a "
                                 "Client first") from None
        if isinstance(self.client, str):
            return distributed.Client(self.client, set_as_default=False)
        return self.client

    def _check_dask_params(self):
        if self.solver == "lbfgs":
            raise ValueError(f"{type(self).__name__} trains with solver='sgd' or 'adam'; "
                             f"'lbfgs' needs full-batch gradients (use {type(self).__name__[4:]})")
        if self.early_stopping:
            raise ValueError(f"{type(self).__name__} does not support early_stopping=True yet; "
                             f"stop on the training loss (tol, n_iter_no_change) or a callback")
        sync = self.sync_every
        if not (sync == "epoch" or (isinstance(sync, numbers.Integral)
                                    and not isinstance(sync, bool) and sync >= 1)):
            raise ValueError(f"sync_every must be 'epoch' or a positive integer, got {sync!r}")
        if self.timeout is not None and not (isinstance(self.timeout, numbers.Real)
                                             and self.timeout > 0):
            raise ValueError(f"timeout must be None or a positive number, got {self.timeout!r}")

    def fit(self, X, y, sample_weight=None):
        """Train on the cluster by synchronous model averaging.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            A dask array's row blocks are trained where they are; other data
            are shuffled (seeded by ``random_state``) and cut into one shard
            per worker.
        y : dask array or array-like of shape (n_samples,)
        sample_weight : dask array or array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        hidden, activations = check_hyperparameters(self)
        self._check_dask_params()
        # What a failed fit puts back (training changes the weights and a warm start's
        # curves in place), as for the in-memory estimators.
        undo = Undo(self)
        client = self._client()
        try:
            workers = self._workers(client)
            first_pass = not (self.warm_start and hasattr(self, "_network"))
            assigned = {name: self.__dict__.get(name) for name in ("coefs_", "intercepts_")}
            self._random_state = check_random_state(self.random_state)
            shards, dtype, n_outputs = self._shards(client, workers, X, y, sample_weight,
                                                    first_pass)
            layer_units = [self.n_features_in_, *hidden, n_outputs]
            if first_pass:
                initialize_network(self, layer_units, activations, dtype)
            elif (self._network.layer_sizes != layer_units
                  or self._network.activations != activations):
                raise ValueError("the fitted network does not match the data and parameters; "
                                 "refit without warm_start")
            if self.warm_start:  # start from coefs_/intercepts_ the user assigned, as MLP*
                adopt_assigned_weights(self, assigned)
            self._train(client, shards)
        except BaseException:
            # As it was (unfitted if it was): never a half-trained model that looks fitted,
            # nor a fitted one lost to bad data or a lost worker.
            undo.restore()
            raise
        finally:
            if isinstance(self.client, str):
                client.close()
        return self

    def _workers(self, client) -> list:
        """Addresses of the cluster's workers, waiting a little for one (a nanny restarting)."""
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            try:
                client.wait_for_workers(1, timeout=self.timeout or 60)
            except TimeoutError:
                raise WorkerLostError("the Dask cluster has no workers") from None
            workers = sorted(client.scheduler_info()["workers"])
        return workers

    # -------------------------------------------------------------- data
    def _shards(self, client, workers, X, y, sample_weight, first_pass):
        """One future per worker holding that worker's validated shard."""
        if _is_dask(X) or _is_dask(y):
            return self._dask_shards(client, workers, X, y, sample_weight, first_pass)
        X, Y = self._validate_input(X, y, incremental=False, reset=first_pass)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                                 ensure_non_negative=True)
        sample_weight = self._combine_weights(y, sample_weight, False, X.dtype)
        n = X.shape[0]
        rows = self._random_state.permutation(n)
        spec = self._shard_spec(X.dtype, None, None)  # Y is already encoded
        shards = []
        for i, part in enumerate(np.array_split(rows, min(len(workers), n))):
            w = None if sample_weight is None else sample_weight[part]
            # the data travel inside the task, so a lost shard can be rebuilt
            shards.append(client.submit(_make_shard, spec, X[part], Y[part], w,
                                        workers=[workers[i % len(workers)]],
                                        allow_other_workers=True, pure=False))
        return shards, X.dtype, Y.shape[1]

    def _shard_spec(self, dtype, classes, class_weight):
        return {"dtype": np.dtype(dtype).str, "n_features": self.n_features_in_,
                "classes": classes, "class_weight": class_weight}

    def _dask_shards(self, client, workers, X, y, sample_weight, first_pass):
        import dask.array as da

        # A dask DataFrame trains as its array (it had no rechunk: an AttributeError).
        names = _column_names(X) if _is_dask(X) else None
        X, y, sample_weight = (_as_dask_array(v) for v in (X, y, sample_weight))
        X = X if _is_dask(X) else da.from_array(np.asarray(X), chunks=(-1, -1))
        if X.ndim != 2 or any(np.isnan(size) for size in X.shape):
            raise ValueError(f"X must be a 2-D dask array of known shape, got shape {X.shape}")
        X = X.rechunk({1: -1})
        y = y if _is_dask(y) else da.from_array(np.asarray(y), chunks=-1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y have different numbers of samples: {X.shape[0]} and "
                             f"{y.shape[0]}")
        y = y.rechunk({0: X.chunks[0], **({1: -1} if y.ndim == 2 else {})})
        if sample_weight is not None:
            sample_weight = (sample_weight if _is_dask(sample_weight)
                             else da.from_array(np.asarray(sample_weight), chunks=-1))
            if sample_weight.shape != (X.shape[0],):  # rechunk said "Chunks do not add up"
                raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected "
                                 f"{(X.shape[0],)}!")
            sample_weight = sample_weight.rechunk({0: X.chunks[0]})
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        if X.shape[0] == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of "
                             f"1 is required by {type(self).__name__}.")
        if first_pass:
            self.n_features_in_ = int(X.shape[1])
            self.__dict__.pop("feature_names_in_", None)
            if names is not None:
                self.feature_names_in_ = names
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        classes = class_weight = None
        if is_classifier(self):
            labels, counts = client.compute(da.unique(y, return_counts=True), sync=True)
            if y.ndim != 1 or type_of_target(labels).startswith("multilabel"):
                raise ValueError(f"{type(self).__name__} needs 1-D class labels")
            if first_pass:
                if labels.shape[0] < 2:
                    raise ValueError(f"{type(self).__name__} needs samples of at least 2 "
                                     f"classes in the data; got 1 class: {labels}")
                self._label_binarizer = LabelBinarizer().fit(labels)
                self.classes_ = self._label_binarizer.classes_
            classes = self.classes_
            if self.class_weight == "balanced":  # n / (n_classes * count), from the counts
                weights = counts.sum() / (labels.shape[0] * counts)
                class_weight = dict(zip(labels.tolist(), weights.tolist()))
            elif self.class_weight is not None:
                weights = compute_class_weight(self.class_weight, classes=labels, y=labels)
                class_weight = dict(zip(labels.tolist(), weights.tolist()))
            n_outputs = 1 if classes.shape[0] == 2 else classes.shape[0]
        else:
            n_outputs = 1 if y.ndim == 1 else int(y.shape[1])
        blocks = [X.to_delayed().ravel(), y.to_delayed().ravel(),
                  (sample_weight.to_delayed().ravel() if sample_weight is not None
                   else [None] * X.numblocks[0])]
        futures = client.compute([b for b in blocks[0]] + [b for b in blocks[1]]
                                 + [b for b in blocks[2] if b is not None])
        n_blocks = X.numblocks[0]
        Xf, yf = futures[:n_blocks], futures[n_blocks:2 * n_blocks]
        wf = futures[2 * n_blocks:] if sample_weight is not None else [None] * n_blocks
        # contiguous runs of blocks, balanced by rows, one per worker; blocks without rows
        # (a filtered array's) are left out, as check_array refuses them and a shard of
        # none has no batches
        starts = np.cumsum([0, *X.chunks[0][:-1]])
        owner = np.minimum(starts * len(workers) // max(1, X.shape[0]), len(workers) - 1)
        has_rows = np.asarray(X.chunks[0]) > 0
        groups = [np.flatnonzero((owner == i) & has_rows) for i in range(len(workers))]
        spec = self._shard_spec(dtype, classes, class_weight)
        shards = []
        for i, group in enumerate(g for g in groups if g.size):
            parts = [f for b in group.tolist() for f in (Xf[b], yf[b], wf[b])]
            shards.append(client.submit(_make_shard, spec, *parts,
                                        workers=[workers[i % len(workers)]],
                                        allow_other_workers=True, pure=False))
        self._block_futures = futures  # the lineage of the shards, kept for the fit
        return shards, dtype, n_outputs

    # ---------------------------------------------------------- training
    def _train(self, client, shards):
        network = self._network
        distributed = _distributed()
        sizes = self._gather(client, distributed,
                             [client.submit(_shard_rows, s, pure=False) for s in shards], 0)
        n_total = int(sum(sizes))
        batch_size = (min(200, n_total) if self.batch_size == "auto" else
                      n_total if self.batch_size == "full" else int(self.batch_size))
        if batch_size > min(sizes) and self.batch_size not in ("auto", "full"):
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                          "It is going to be clipped")
        batch_counts = [-(-size // min(batch_size, size)) for size in sizes]
        spec = {"layer_units": network.layer_sizes, "activations": network.activations,
                "output": network.output, "dtype": network.dtype.str,
                "sigmoid_a": self.sigmoid_a, "leaky_slope": self.leaky_slope,
                "solver": self.solver, "momentum": self.momentum,
                "nesterovs_momentum": self.nesterovs_momentum, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon, "batch_size": batch_size,
                "shuffle": self.shuffle, "alpha": self.alpha, "loss_scale": _loss_scale(self),
                "n_threads": self.n_threads, "driver_pid": os.getpid()}
        if not hasattr(self, "_opt_state") or not (self.warm_start and self.n_iter_):
            self._opt_state = _optimizer_state(_new_optimizer(
                Network(network.layer_sizes, network.activations, network.output,
                        dtype=network.dtype), spec, self.learning_rate_init,
                {"velocity": 0.0, "m": 0.0, "v": 0.0, "t": 0}))
            self._lr = self.learning_rate_init
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        callbacks = ([] if self.callbacks is None else
                     [self.callbacks] if callable(self.callbacks) else list(self.callbacks))
        lr_holder = _LearningRate(self._lr)
        # The last good epoch's weights and optimizer state (_average replaces, never mutates, it).
        good_params, good_state = network.params.copy(), self._opt_state
        for epoch in range(self.max_iter):
            started = time.perf_counter()
            total, done = 0.0, [0] * len(shards)
            while any(d < c for d, c in zip(done, batch_counts)):
                step = max(batch_counts) if self.sync_every == "epoch" else self.sync_every
                todo = [(i, min(step, c - d)) for i, (d, c) in enumerate(zip(done, batch_counts))
                        if d < c]
                futures = [client.submit(_train_round, shards[i], spec, network.params,
                                         self._opt_state, lr_holder.lr, seed, i, self.n_iter_,
                                         done[i], k, pure=False) for i, k in todo]
                results = self._gather(client, distributed, futures, epoch)
                total += self._average(results)
                for i, k in todo:
                    done[i] += k
                if not np.isfinite(total):
                    break
            loss = total / n_total
            if restore_if_diverged(self, loss, network.params,
                                   lambda: self._restore(good_params, good_state), good_params):
                break
            good_params[...] = network.params
            good_state = self._opt_state
            metrics = {"validation_loss": None, "validation_score": None,
                       "gradient_norms": None}
            if end_epoch(self, loss, n_total, lr_holder, metrics, callbacks, started):
                break
        self._lr = lr_holder.lr
        self.__dict__.pop("_block_futures", None)

    def _gather(self, client, distributed, futures, epoch):
        lost = (distributed.scheduler.KilledWorker, distributed.client.FutureCancelledError,
                distributed.comm.core.CommClosedError, TimeoutError, OSError)
        try:
            with client.as_current():  # wait() uses the current client, not necessarily this one
                distributed.wait(futures, timeout=self.timeout)
            return client.gather(futures)
        except lost as exc:
            client.cancel(futures)
            raise WorkerLostError(
                f"the Dask fit failed in epoch {epoch + 1}: {type(exc).__name__}: {exc}. Workers "
                f"or the data they held were lost and could not be recovered; the estimator was "
                f"left unfitted") from exc

    def _restore(self, params: np.ndarray, optimizer_state: dict) -> None:
        self._network.params[...] = params
        self._opt_state = optimizer_state

    def _average(self, results) -> float:
        """Average parameters and optimizer state, weighted by rows trained; the loss sum."""
        rows = np.array([r[3] for r in results], dtype=np.float64)
        share = rows / rows.sum()
        network = self._network
        network.params[...] = sum(s * r[0].astype(np.float64) for s, r in zip(share, results))
        state = {}
        for key, value in results[0][1].items():
            if key == "t":
                state[key] = max(r[1]["t"] for r in results)
            elif value is None:
                state[key] = None
            else:
                state[key] = sum(s * r[1][key].astype(np.float64)
                                 for s, r in zip(share, results)).astype(network.dtype)
        self._opt_state = state
        return float(sum(r[2] for r in results))

    # ----------------------------------------------------------- helpers
    def to_local(self):
        """The fitted model as a plain fastnn estimator (no client), to save or serve."""
        check_is_fitted(self)
        local_type = MLPClassifier if is_classifier(self) else MLPRegressor
        params = {k: v for k, v in self.get_params().items() if k in
                  local_type._get_param_names()}
        local = local_type(**params)
        # _no_improvement_count: the stopping rule's record, which fastnn.save stores
        kept = ("_network", "_label_binarizer", "_no_improvement_count")
        state = {name: value for name, value in vars(self).items()
                 if name.endswith("_") or name in kept}
        drop_views(self, state)  # rebuilt as views of the copy's network, as on unpickling
        # A copy: sharing the network and lists would let the local model's training
        # (partial_fit, a warm start) change this one's weights and loss_curve_ too.
        local.__setstate__({**vars(local), **copy.deepcopy(state)})
        return local

    def _map_blocks(self, method: str, X, n_columns):
        names = _column_names(X)
        X = _as_dask_array(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D dask array, got shape {X.shape}")
        X = X.rechunk({1: -1})  # blocks of rows with all the features, as fit takes them
        local = getattr(self.to_local(), method)
        dtype = self._prediction_dtype() if n_columns is None else self._network.dtype

        def block(part):
            if part.shape[0] == 0:  # a block without rows (scikit-learn refuses 0 samples)
                return np.empty((0,) if n_columns is None else (0, n_columns), dtype)
            if names is not None:  # a dask DataFrame's blocks, checked by name as pandas'
                import pandas as pd

                part = pd.DataFrame(part, columns=names)
            return local(part)

        if n_columns is None:
            return X.map_blocks(block, drop_axis=1, dtype=dtype)
        return X.map_blocks(block, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)

    def __getstate__(self):
        state = super().__getstate__()
        if not isinstance(state.get("client"), (str, type(None))):
            state["client"] = None  # a live Client does not travel
        state.pop("_block_futures", None)
        return state


class _LearningRate:
    """The ``optimizer.lr`` that the stopping rules of ``_mlp_fit`` read and divide."""

    def __init__(self, lr):
        self.lr = lr


_MLP_DOC = """
    Parameters
    ----------
    (all of {local}'s parameters), and:

    client : distributed.Client, str or None, default=None
        The cluster: a Client, a scheduler address ("tcp://host:8786"), or
        None for the current default Client.
    sync_every : "epoch" or int, default="epoch"
        Average the workers' models after every ``sync_every`` mini-batches
        of each worker, or once per pass over the data ("epoch").
    timeout : float or None, default=None
        Seconds to wait for one synchronisation round before giving up with
        :class:`WorkerLostError`.

    ``n_threads`` is per worker (None: each worker's thread count).
    ``solver="lbfgs"`` and ``early_stopping=True`` are not supported.
    ``gradient_norms_`` stays empty: the workers send back their parameters
    and optimizer state, not their gradients.
"""


class DaskMLPClassifier(_DaskFit, MLPClassifier):
    __doc__ = ("Multi-layer perceptron classifier trained data-parallel on a Dask cluster.\n"
               + _MLP_DOC.format(local="MLPClassifier"))

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 sigmoid_a=1.0, leaky_slope=0.01, class_weight=None, callbacks=None,
                 n_threads=None, client=None, sync_every="epoch", timeout=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            sigmoid_a=sigmoid_a, leaky_slope=leaky_slope, class_weight=class_weight,
            callbacks=callbacks, n_threads=n_threads)
        self.client = client
        self.sync_every = sync_every
        self.timeout = timeout

    def _prediction_dtype(self):
        return self.classes_.dtype

    def predict(self, X: ArrayLike | DaskArray) -> np.ndarray | DaskArray:
        """Predicted classes; a dask array in, a dask array out (computed by block)."""
        if _is_dask(X):
            return self._map_blocks("predict", X, None)
        return super().predict(X)

    def predict_proba(self, X: ArrayLike | DaskArray) -> np.ndarray | DaskArray:
        """Class probabilities; a dask array in, a dask array out."""
        if _is_dask(X):
            return self._map_blocks("predict_proba", X, len(self.classes_))
        return super().predict_proba(X)


class DaskMLPRegressor(_DaskFit, MLPRegressor):
    __doc__ = ("Multi-layer perceptron regressor trained data-parallel on a Dask cluster.\n"
               + _MLP_DOC.format(local="MLPRegressor"))

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 sigmoid_a=1.0, leaky_slope=0.01, callbacks=None, n_threads=None,
                 client=None, sync_every="epoch", timeout=None):
        super().__init__(
            loss, hidden_layer_sizes, activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, sigmoid_a=sigmoid_a, leaky_slope=leaky_slope, callbacks=callbacks,
            n_threads=n_threads)
        self.client = client
        self.sync_every = sync_every
        self.timeout = timeout

    def _prediction_dtype(self):
        return self._network.dtype

    def predict(self, X: ArrayLike | DaskArray) -> np.ndarray | DaskArray:
        """Predicted values; a dask array in, a dask array out."""
        if _is_dask(X):
            return self._map_blocks("predict", X, None if self.n_outputs_ == 1
                                    else self.n_outputs_)
        return super().predict(X)
