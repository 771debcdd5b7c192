"""fastnn.distributed: time per epoch against the number of Dask workers (one machine).

A LocalCluster of 1 or 2 worker processes (1 thread each) is started in
``setup`` and closed in ``teardown``; data: 20_000 x 64 float32, 10 classes,
a 64-128-10 network trained by Adam with batches of 200 and one model
averaging per epoch.  ``track_seconds_per_epoch`` is the median of the
epochs' wall time (shards already in the workers' memory);
``track_seconds_per_epoch_single_process`` is the same model trained by
``fastnn.MLPClassifier`` in this process with one thread, for reference.
Needs the ``dask`` extra; skipped without it.
"""
import warnings

import numpy as np

import fastnn

N_SAMPLES, N_FEATURES, N_CLASSES = 20_000, 64, 10
EPOCHS = 3
PARAMS = dict(hidden_layer_sizes=(128,), batch_size=200, max_iter=EPOCHS, random_state=0,
              tol=0.0, n_iter_no_change=10 ** 6, learning_rate_init=1e-3)


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES)).astype(np.float32)
    y = (X[:, :N_CLASSES] + 0.5 * rng.standard_normal((N_SAMPLES, N_CLASSES))).argmax(axis=1)
    return X, y


def _epoch_seconds(est, X, y) -> float:
    seconds = []
    est.set_params(callbacks=lambda _, metrics: seconds.append(metrics["seconds"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    return float(np.median(seconds))


class DistributedEpoch:
    params = [1, 2]
    param_names = ["n_workers"]
    number = 1
    repeat = 2
    rounds = 1
    warmup_time = 0.0
    timeout = 600

    def setup(self, n_workers):
        try:
            import distributed
        except ImportError:
            raise NotImplementedError("needs the dask extra") from None
        self.cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                                processes=True, dashboard_address=None)
        self.client = distributed.Client(self.cluster)
        self.client.wait_for_workers(n_workers, timeout=120)
        self.X, self.y = _data()
        from fastnn.distributed import DaskMLPClassifier

        self.estimator = DaskMLPClassifier(**PARAMS, client=self.client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # loads the kernels in every worker, outside the timings
            DaskMLPClassifier(**dict(PARAMS, max_iter=1), client=self.client).fit(self.X, self.y)

    def teardown(self, n_workers):
        self.client.close()
        self.cluster.close()

    def time_fit(self, n_workers):
        """Shard the data into the workers, then EPOCHS epochs."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.estimator.fit(self.X, self.y)

    def track_seconds_per_epoch(self, n_workers):
        return _epoch_seconds(self.estimator, self.X, self.y)

    track_seconds_per_epoch.unit = "seconds"


class SingleProcessEpoch:
    number = 1
    repeat = 2
    rounds = 1
    warmup_time = 0.0

    def setup(self):
        self.X, self.y = _data()
        fastnn.MLPClassifier(**dict(PARAMS, max_iter=1, n_threads=1)).fit(self.X[:500],
                                                                         self.y[:500])

    def track_seconds_per_epoch_single_process(self):
        return _epoch_seconds(fastnn.MLPClassifier(**PARAMS, n_threads=1), self.X, self.y)

    track_seconds_per_epoch_single_process.unit = "seconds"
