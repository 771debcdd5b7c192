"""Thread policy: parallel equals serial, and training from threads and processes is safe.

Every concurrent test waits with a timeout, so a deadlock fails the test
instead of hanging CI.
"""
import multiprocessing
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from joblib import Parallel, delayed
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn
import reference as ref
from fastnn import network
from fastnn.kernels import trainer

TIMEOUT = 300  # seconds; generous for cold Numba compilation in a child


def _data(dtype=np.float64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 20)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 600)]
    return X, Y


def train_once(seed: int = 0, dtype=np.float64, optimizer="sgd"):
    """Train a small network and return its final parameters and threading info."""
    X, Y = _data(dtype)
    net = fastnn.Network([20, 32, 16, 4], ["relu", "tanh"], dtype=dtype, random_state=seed)
    opt = (fastnn.SGD(net, lr=0.05, momentum=0.9) if optimizer == "sgd"
           else fastnn.Adam(net, lr=0.01))
    fastnn.train(net, X, Y, optimizer=opt, epochs=3, batch_size=50, random_state=seed)
    return net.params.copy(), fastnn.threading_info()


@pytest.fixture
def all_threads():
    fastnn.set_num_threads(2 if fastnn.threading_info()["max_threads"] >= 2 else 1)
    yield fastnn.get_num_threads()
    fastnn.set_num_threads("auto")  # the default


@pytest.fixture(scope="module")
def reference():
    return train_once()[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_parallel_equals_serial(all_threads, optimizer):
    results = []
    for n_threads in (all_threads, 1):
        fastnn.set_num_threads(n_threads)
        results.append(train_once(optimizer=optimizer)[0])
    fastnn.set_num_threads(all_threads)
    np.testing.assert_array_equal(results[0], results[1])


def _blas_threads() -> list:
    """Thread count of every loaded BLAS library, as threadpoolctl reads it now."""
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def _big_network_epoch(n_threads, optimizer, one_blas_thread=False):
    """One fused epoch of a network big enough for the parallel kernels, and a forward pass.

    ``one_blas_thread``: BLAS limited to one thread whatever ``n_threads`` (OpenBLAS's
    SkylakeX kernels round some products differently on one thread and on two).
    """
    from fastnn.training import run_epoch

    fastnn.set_num_threads(n_threads)
    with threadpool_limits(1 if one_blas_thread else None, "blas"):
        return _epoch_of(optimizer, run_epoch)


def _epoch_of(optimizer, run_epoch):
    rng = np.random.default_rng(1)
    # 1000 rows in batches of 128: up to 8 segments with the adaptive thread count
    X = rng.standard_normal((1000, 64))
    Y = np.eye(10)[rng.integers(0, 10, 1000)]
    net = fastnn.Network([64, 300, 10], "relu", dtype=np.float64, random_state=0)
    opt = {"sgd": fastnn.SGD(net, lr=0.05), "nesterov": fastnn.SGD(net, lr=0.05, momentum=0.9),
           "adam": fastnn.Adam(net, lr=0.01)}[optimizer]
    loss = run_epoch(net, X, Y, None, rng.permutation(1000), 128, opt, alpha=1e-3)
    return loss, net.params.copy(), net.forward(X)


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_parallel_kernels_equal_serial_kernels(all_threads, optimizer, monkeypatch):
    """128 x 300 activations: the parallel family runs prange kernels, the serial one none
    (not by rows: ``tests/test_data_parallel.py``).  The same one-thread BLAS in both:
    fastnn's own parallel code must not change a bit."""
    from fastnn import network
    from fastnn.kernels import trainer

    assert 128 * 300 >= trainer._PARALLEL_MIN
    monkeypatch.setattr(network, "PARALLEL_ELEMENTWISE", True)
    monkeypatch.setattr(network, "DATA_PARALLEL", False)
    parallel = _big_network_epoch(all_threads, optimizer, one_blas_thread=True)
    serial = _big_network_epoch(1, optimizer)
    fastnn.set_num_threads(all_threads)
    assert parallel[0] == serial[0]
    np.testing.assert_array_equal(parallel[1], serial[1])
    # BLAS may split a product differently with another thread count.
    np.testing.assert_allclose(parallel[2], serial[2], rtol=1e-12, atol=1e-15)


def test_set_num_threads_limits_blas_too(all_threads):
    fastnn.set_num_threads(1)
    assert fastnn.get_num_threads() == 1
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    # NumPy's OpenBLAS and SciPy's (which Numba's np.dot calls) are both loaded and limited.
    assert len({pool["filepath"] for pool in blas}) >= 2
    assert all(pool["num_threads"] == 1 for pool in blas)


@pytest.mark.parametrize("bad", [0, 10_000])
def test_a_refused_thread_count_leaves_the_setting_alone(bad):
    fastnn.set_num_threads("auto")
    with pytest.raises(ValueError, match="between 1 and"):
        fastnn.set_num_threads(bad)
    info = fastnn.threading_info()
    assert info["adaptive"] and info["n_threads"] == info["max_threads"]


def test_set_num_threads_limits_blas_from_any_python_thread(all_threads):
    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    fastnn.set_num_threads(1)  # the main thread first: it must not keep OpenBLAS to itself
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fastnn.set_num_threads, all_threads).result(timeout=TIMEOUT)
        assert blas_threads() == {all_threads}
        fastnn.set_num_threads(1)  # and the worker, still alive, not either
        assert blas_threads() == {1}
        assert pool.submit(blas_threads).result(timeout=TIMEOUT) == {1}


def test_overlapping_thread_count_blocks_of_two_python_threads_restore_the_setting():
    """Two estimators with n_threads=1 fitted at once in two threads: the second block saw
    the first one's count; the default is back once both end."""
    from fastnn._config import using_threads

    fastnn.set_num_threads("auto")
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with using_threads(1):
            first_in.set()
            second_in.wait(TIMEOUT)
        first_out.set()

    def second():
        first_in.wait(TIMEOUT)
        with using_threads(1):
            second_in.set()
            first_out.wait(TIMEOUT)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(first), pool.submit(second)]:
            future.result(timeout=TIMEOUT)
    info = fastnn.threading_info()
    assert info["adaptive"] and info["n_threads"] == info["max_threads"]
    with using_threads(1):  # nested in one thread: each block gets its own count back
        with using_threads("auto"):
            assert fastnn.threading_info()["adaptive"]
        assert fastnn.get_num_threads() == 1 and not fastnn.threading_info()["adaptive"]
    assert fastnn.threading_info()["adaptive"]


def test_set_num_threads_during_another_threads_thread_count_block_wins():
    """An estimator with n_threads fits in a worker thread while the main thread sets the
    count: that setting is the one left when the block ends, not the one from before it."""
    from fastnn._config import using_threads

    fastnn.set_num_threads("auto")
    asked = fastnn.threading_info()["max_threads"]  # fixed, where the block began adaptive
    inside, done = threading.Event(), threading.Event()

    def fit():
        with using_threads(1):
            inside.set()
            done.wait(TIMEOUT)

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(fit)
            assert inside.wait(TIMEOUT)
            fastnn.set_num_threads(asked)
            done.set()
            future.result(timeout=TIMEOUT)
        info = fastnn.threading_info()
        assert not info["adaptive"] and info["n_threads"] == asked
        assert set(_blas_threads()) == {asked}
    finally:
        fastnn.set_num_threads("auto")


def test_thread_limit_set_before_the_first_kernel_reaches_numbas_blas():
    code = ("import fastnn, numpy as np; from threadpoolctl import threadpool_info; "
            "fastnn.set_num_threads(1); "
            "fastnn.Network([3, 2], dtype=np.float64).forward(np.ones((2, 3))); "
            "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=TIMEOUT).stdout
    assert out.strip() == "[1]"


def test_training_from_several_python_threads(all_threads, reference):
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(train_once) for _ in range(4)]
        results = [future.result(timeout=TIMEOUT)[0] for future in futures]
    for params in results:
        np.testing.assert_array_equal(params, reference)


def test_joblib_threading_backend(all_threads, reference):
    results = Parallel(n_jobs=2, backend="threading", timeout=TIMEOUT)(
        delayed(train_once)() for _ in range(3))
    for params, _ in results:
        np.testing.assert_array_equal(params, reference)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_training_in_worker_processes(all_threads, reference, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available on this platform")
    train_once()  # make sure this parent has launched the thread pool before forking
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        results = pool.map_async(train_once, [0, 0]).get(timeout=TIMEOUT)
    for params, info in results:
        np.testing.assert_array_equal(params, reference)
        # A forked child of a parent that used OpenMP must not launch the pool.
        assert info["pool_forbidden_after_fork"] == (method == "fork")


def test_joblib_loky_processes(reference):
    results = Parallel(n_jobs=2, backend="loky", timeout=TIMEOUT)(
        delayed(train_once)() for _ in range(2))
    for params, _ in results:
        np.testing.assert_array_equal(params, reference)


def test_threading_info_reports_the_choice():
    train_once()
    info = fastnn.threading_info()
    assert info["threading_layer"] in {"omp", "tbb", "workqueue"}
    assert info["n_threads"] >= 1


def test_thread_tuner_follows_the_faster_option_and_backs_off():
    from fastnn._adaptive import ThreadTuner

    tuner = ThreadTuner(2)
    seconds = {2: 4.0, 1: 1.0}  # under load: one thread is 4x faster
    for _ in range(40):
        n = tuner.choose()
        tuner.record(n, seconds[n], rows=100)
    assert tuner.current == 1
    probes = [i for i, n in enumerate(tuner.history) if n == 2]
    gaps = np.diff(probes[2:])  # after the first measurements, probes thin out
    assert (np.diff(gaps) >= 0).all() and gaps[-1] > gaps[0]
    seconds = {2: 0.5, 1: 1.0}  # the load went away
    for _ in range(40):
        n = tuner.choose()
        tuner.record(n, seconds[n], rows=100)
    assert tuner.current == 2


def test_thread_tuner_history_keeps_the_recent_segments_only(monkeypatch):
    """A tuner lives as long as the process: its history of segments must not grow without
    bound, and keeps the most recent ones in order."""
    from fastnn import _adaptive

    monkeypatch.setattr(_adaptive, "HISTORY_LENGTH", 8)
    tuner = _adaptive.ThreadTuner(2)
    run = []
    for i in range(100):
        n = tuner.choose()
        tuner.record(n, 1.0 if n == 1 else 0.5 + i % 3, rows=100)
        run.append(n)
        assert len(tuner.history) < 16
    assert len(tuner.history) >= 8 and tuner.history == run[-len(tuner.history):]


def test_thread_tuner_probes_rarely_while_all_threads_win_and_at_once_when_they_slow():
    """While all threads are faster, one-thread probes come 4x later each time (up to
    1024 segments); once the current option measures slower than the other did, the
    next segment probes it."""
    from fastnn._adaptive import ThreadTuner

    tuner = ThreadTuner(2)
    seconds = {2: 0.5, 1: 1.0}  # quiet machine
    for _ in range(400):
        n = tuner.choose()
        tuner.record(n, seconds[n], rows=100)
    assert tuner.current == 2
    probes = [i for i, n in enumerate(tuner.history) if n == 1]
    assert probes[:2] == [2, 3]  # its first segment (compiling?) and its first measurement
    assert list(np.diff(probes[1:])) == [17, 65, 257]  # 16, 64, 256 segments in between
    seconds = {2: 3.0, 1: 1.2}  # another process took a core
    start = len(tuner.history)
    for _ in range(4):
        n = tuner.choose()
        tuner.record(n, seconds[n], rows=100)
    assert 1 in tuner.history[start:start + 2]  # probed within two segments
    assert tuner.current == 1


def _segments_of_adaptive_epochs(all_threads, monkeypatch, n_batches):
    """Three adaptive fused epochs of ``n_batches`` batches of 128 rows (64-300-10 float32):
    per epoch, the ``(n_threads, rows, the tuner's choice)`` of each segment it recorded."""
    from fastnn import _adaptive
    from fastnn.training import run_epoch

    monkeypatch.setattr(_adaptive, "_tuners", {})
    segments = []
    record = _adaptive.ThreadTuner.record
    monkeypatch.setattr(_adaptive.ThreadTuner, "record", lambda self, n_threads, seconds, rows: (
        segments[-1].append((n_threads, rows, self.current)),
        record(self, n_threads, seconds, rows)))
    rng = np.random.default_rng(2)
    X = rng.standard_normal((128 * n_batches, 64)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, X.shape[0])]
    net = fastnn.Network([64, 300, 10], "relu", dtype=np.float32, random_state=0)
    optimizer = fastnn.SGD(net, lr=0.05)
    fastnn.set_num_threads("auto")
    try:
        for _ in range(3):  # the fused epoch (train() would run so small a job stepwise)
            segments.append([])
            run_epoch(net, X, Y, None, rng.permutation(X.shape[0]), 128, optimizer)
    finally:
        fastnn.set_num_threads(all_threads)
    return segments


def test_training_by_rows_runs_long_segments_and_short_probes(all_threads, monkeypatch):
    """Adaptive epochs that train by rows run a quarter of the epoch per segment while all
    threads are the choice (each segment is one more launch of the pool); probes, and
    segments while one thread is the choice, keep the short ones (a sixteenth, at least 4
    batches)."""
    from fastnn import _adaptive

    if all_threads < 2:
        pytest.skip("one core")
    monkeypatch.setattr(_adaptive, "MIN_SEGMENT_SECONDS", 0.0)  # 0.1-1 ms segments here
    monkeypatch.setattr(network, "DATA_PARALLEL", True)
    long, short = 16 * 128, 4 * 128  # 64 batches: 4 segments of 16, or 16 of 4
    segments = [segment for epoch in _segments_of_adaptive_epochs(all_threads, monkeypatch, 64)
                for segment in epoch]
    assert sum(rows for _, rows, _ in segments) == 3 * 64 * 128
    assert {n_threads for n_threads, _, _ in segments} == {1, all_threads}
    done = 0
    for n_threads, rows, current in segments:  # current: the choice when the segment ran
        done += rows
        expected = long if n_threads == current == all_threads else short
        assert rows == expected or (rows < expected and done % (64 * 128) == 0)  # epoch's end


def test_one_thread_blas_says_whether_it_holds(all_threads):
    """In a thread of its own, while the main thread holds a threadpoolctl limit, the block
    may not get BLAS to one thread (threadpoolctl 3.8 lets one Python thread at a time set
    OpenBLAS's process-wide count): what it yields says whether it did."""
    from fastnn._adaptive import blas_limited_to_one

    with blas_limited_to_one() as one_thread:
        assert one_thread and set(_blas_threads()) <= {1}
    seen = {}

    def other():
        with blas_limited_to_one() as one_thread:
            seen["yielded"], seen["threads"] = one_thread, _blas_threads()

    with threadpool_limits(limits=2, user_api="blas"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(20)
    assert seen["yielded"] == (set(seen["threads"]) <= {1})


def test_one_thread_blas_blocks_that_overlap_restore_the_thread_count(all_threads):
    """Two Python threads (concurrent predicts or fits) in overlapping blocks: BLAS gets its
    thread count back when the last one ends, not the 1 the second one saw on entering."""
    from fastnn._adaptive import blas_limited_to_one

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with blas_limited_to_one():
            first_in.set()
            second_in.wait(TIMEOUT)
        first_out.set()

    def second():
        first_in.wait(TIMEOUT)
        with blas_limited_to_one() as one_thread:
            second_in.set()
            first_out.wait(TIMEOUT)
            assert one_thread and set(_blas_threads()) <= {1}  # still held for this one

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(first), pool.submit(second)]
        for future in futures:
            future.result(timeout=TIMEOUT)
    assert set(_blas_threads()) == {all_threads}


def test_set_num_threads_during_another_threads_one_thread_blas_block_wins(all_threads):
    """A count set while another Python thread is in a one-thread BLAS block (a segment of
    an epoch, a predict) is BLAS's count once the block ends, not the one from before it;
    during the block BLAS stays on one thread."""
    from fastnn._adaptive import blas_limited_to_one

    if all_threads == 1:
        pytest.skip("needs 2 threads")
    for asked in (1, all_threads):
        fastnn.set_num_threads(all_threads if asked == 1 else 1)
        inside, done = threading.Event(), threading.Event()

        def block():
            with blas_limited_to_one():
                inside.set()
                done.wait(TIMEOUT)
                return set(_blas_threads())

        with ThreadPoolExecutor(max_workers=1) as pool:
            during = pool.submit(block)
            assert inside.wait(TIMEOUT)
            fastnn.set_num_threads(asked)
            done.set()
            assert during.result(timeout=TIMEOUT) == {1}
        assert fastnn.get_num_threads() == asked and set(_blas_threads()) == {asked}


def test_pool_kernels_calling_blas_stay_off_when_blas_is_not_on_one_thread(all_threads,
                                                                          monkeypatch):
    """Training by rows and forward's blocks on several workers call BLAS from every
    worker: where BLAS cannot be held to one thread they are not run (each product would
    start OpenBLAS's threads too); the epoch and the forward pass run the other way, with
    the same results up to OpenBLAS's rounding."""
    from contextlib import contextmanager

    from fastnn import _adaptive
    from fastnn.training import run_epoch

    if all_threads < 2:
        pytest.skip("one core")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 64)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 3000)]
    order = rng.permutation(3000)

    def trained():
        net = fastnn.Network([64, 300, 10], "relu", dtype=np.float32, random_state=0)
        run_epoch(net, X, Y, None, order, 128, fastnn.SGD(net, lr=0.05))
        return net.params.copy(), net.forward(X)

    fastnn.set_num_threads(all_threads)
    expected = trained()

    @contextmanager
    def not_held():
        yield False

    calls = {"by rows": 0, "workers": []}
    by_rows = network.data_parallel.train_epoch_data_parallel
    monkeypatch.setattr(network.data_parallel, "train_epoch_data_parallel",
                        lambda *args: (calls.__setitem__("by rows", calls["by rows"] + 1),
                                       by_rows(*args))[1])
    in_blocks = network.Network._forward_in_blocks
    monkeypatch.setattr(network.Network, "_forward_in_blocks",
                        lambda self, kernel, n_workers, *args: (
                            calls["workers"].append(n_workers),
                            in_blocks(self, kernel, n_workers, *args))[1])
    monkeypatch.setattr(_adaptive, "blas_limited_to_one", not_held)
    params, outputs = trained()
    assert calls["by rows"] == 0 and calls["workers"] == [1]
    np.testing.assert_allclose(params, expected[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(outputs, expected[1], rtol=1e-4, atol=1e-6)


def test_segments_last_at_least_the_minimum_at_the_faster_measured_speed(monkeypatch):
    """Short epochs run fewer, longer segments once the tuner has measured: each segment
    costs a threadpoolctl limit and maybe a launch of the pool."""
    from fastnn import _adaptive
    monkeypatch.setattr(_adaptive, "MIN_SEGMENT_SECONDS", 0.005)
    tuner = _adaptive.ThreadTuner(2)
    assert tuner.min_segment_rows() == 0  # nothing measured yet
    tuner.per_row = {2: 2e-6, 1: 1e-6}  # the faster: 1 us a row
    assert tuner.min_segment_rows() == 5000
    assert _adaptive.segment_rows(1797, 200) == 4 * 200  # at least 4 batches
    assert _adaptive.segment_rows(1797, 200, None, 5000) == 25 * 200  # the whole epoch
    assert _adaptive.segment_rows(60000, 128, None, 3000) == 30 * 128  # a sixteenth is longer
    assert _adaptive.segment_rows(60000, 128, None, 5000) == 40 * 128


def test_epochs_shorter_than_the_minimum_segment_run_as_one(all_threads, monkeypatch):
    from fastnn import _adaptive

    if all_threads < 2:
        pytest.skip("one core")
    monkeypatch.setattr(_adaptive, "MIN_SEGMENT_SECONDS", 60.0)
    epochs = _segments_of_adaptive_epochs(all_threads, monkeypatch, 16)
    rows = [[rows for _, rows, _ in epoch] for epoch in epochs]
    assert rows[0] == [512] * 4  # nothing measured yet: segments of 4 batches
    assert rows[1] == rows[2] == [16 * 128]


def test_first_segment_of_each_option_is_not_a_measurement():
    """It may include compiling that option's kernels."""
    from fastnn._adaptive import ThreadTuner

    tuner = ThreadTuner(2)
    tuner.record(tuner.choose(), 100.0, rows=10)  # compile-sized first segment
    assert tuner.per_row == {}


@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_adaptive_thread_count_gives_the_same_training(all_threads, optimizer, monkeypatch):
    """Segments alternating between 1 and 2 threads train exactly as one thread does.

    Plain SGD too: only the epoch's last batch leaves its gradient unfused, not each
    segment's (until 2026-11-30 the bits depended on where the tuner cut the epoch).

    OpenBLAS may round a product differently on two threads, or a block of rows of it
    differently from the whole (its SkylakeX kernels do): BLAS is held to one thread and
    training by rows is off, so that fastnn's own switching must not change a bit.
    """
    from fastnn import _adaptive

    if all_threads < 2:
        pytest.skip("one core")
    monkeypatch.setattr(network, "DATA_PARALLEL", False)
    monkeypatch.setattr(_adaptive, "_FIRST_PROBE_INTERVAL", 1)
    monkeypatch.setattr(_adaptive, "SEGMENTS_PER_EPOCH", 8)
    monkeypatch.setattr(_adaptive, "_MIN_BATCHES_PER_SEGMENT", 1)
    monkeypatch.setattr(_adaptive, "_tuners", {})
    fastnn.set_num_threads("auto")
    assert fastnn.threading_info()["adaptive"]
    try:
        adaptive = _big_network_epoch("auto", optimizer, one_blas_thread=True)
    finally:
        fastnn.set_num_threads(all_threads)
    (tuner,) = _adaptive._tuners.values()
    assert set(tuner.history) == {1, all_threads}  # both options ran segments
    fixed = _big_network_epoch(1, optimizer)
    assert adaptive[0] == fixed[0]
    np.testing.assert_array_equal(adaptive[1], fixed[1])




def test_adaptive_segments_sum_the_epoch_loss_as_one_call(all_threads, monkeypatch):
    """train()'s loss history under "auto" equals one thread's to the bit.

    Each segment summed its batches' losses from 0 and the epoch added the segments'
    sums: the history changed in the last bit with where the tuner cut the epoch
    (timing), and so could a stopping rule comparing losses (scikit-learn's tol).
    """
    from fastnn import _adaptive

    if all_threads < 2:
        pytest.skip("one core")
    monkeypatch.setattr(network, "DATA_PARALLEL", False)  # bits through fastnn alone
    monkeypatch.setattr(_adaptive, "_FIRST_PROBE_INTERVAL", 1)
    monkeypatch.setattr(_adaptive, "SEGMENTS_PER_EPOCH", 8)
    monkeypatch.setattr(_adaptive, "_MIN_BATCHES_PER_SEGMENT", 1)
    monkeypatch.setattr(_adaptive, "MIN_SEGMENT_SECONDS", 0.0)  # cuts every 4 batches
    monkeypatch.setattr(_adaptive, "_tuners", {})
    monkeypatch.setattr(fastnn.training, "STEPWISE_MAX_BATCHES", 0)  # the fused epoch
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((512, 64)), rng.standard_normal((512, 3))
    results = []
    for n_threads in ("auto", 1):
        net = fastnn.Network([64, 300, 3], "tanh", "identity", dtype=np.float64,
                             random_state=0)
        with fastnn._config.using_threads(n_threads), threadpool_limits(1, "blas"):
            losses = fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.01), epochs=4,
                                  batch_size=16, random_state=0)
        results.append((losses, net.params))
    (tuner,) = _adaptive._tuners.values()
    assert set(tuner.history) == {1, all_threads} and len(tuner.history) == 4 * 8
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[0][0], results[1][0])


@pytest.mark.parametrize("by_rows", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "nesterov", "adam"])
def test_an_epoch_cut_into_calls_gives_the_same_bits(all_threads, optimizer, by_rows):
    """run_epoch(kept_batch=-1) then the rest: the parameters, optimizer state and last
    gradient of one call (how the tuner's segments and out-of-core blocks cut an epoch)."""
    from fastnn.training import run_epoch

    if by_rows and all_threads < 2:
        pytest.skip("one core")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((1000, 64)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 1000)]
    order = rng.permutation(1000).astype(np.int64)
    results = []
    for cuts in ([1000], [384, 1000], [128, 640, 1000]):
        net = fastnn.Network([64, 300, 10], "relu", dtype=np.float32, random_state=0)
        opt = {"sgd": fastnn.SGD(net, lr=0.05, weight_decay=1e-3),
               "nesterov": fastnn.SGD(net, lr=0.05, momentum=0.9),
               "adam": fastnn.Adam(net, lr=0.01)}[optimizer]
        start = 0
        with fastnn._config.using_threads(all_threads if by_rows else 1):
            for stop in cuts:
                run_epoch(net, X, Y, None, order[start:stop], 128, opt, alpha=1e-3,
                          kept_batch=896 - start if start <= 896 < stop else -1)
                start = stop
        results.append([net.params.copy(), net.grads.copy(),
                        *[a.copy() for a in opt._state_arrays()]])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_rows", [1, 70, 300, 1500, network._BLOCKS_MIN_ROWS, 8195])
def test_forward_by_blocks_does_not_depend_on_the_thread_count(all_threads, dtype, n_rows):
    """forward runs blocks of rows (of _BLOCK_ROWS rows from _BLOCKS_MIN_ROWS on, smaller
    below), each with one-thread BLAS: the same blocks on one thread and on two, so the
    same bits, and BLAS's thread limit restored afterwards."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n_rows, 40)).astype(dtype)
    net = fastnn.Network([40, 48, 24, 5], ["relu", "tanh"], "softmax", dtype=dtype,
                         random_state=0)
    blas_before = _blas_threads()
    two = net.forward(X)
    np.testing.assert_array_equal(net.forward(X), two)
    assert _blas_threads() == blas_before
    with fastnn._config.using_threads(1):
        one = net.forward(X)
    np.testing.assert_array_equal(one, two)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(two, ref.network_forward(X, net), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(two.sum(axis=1), 1.0, rtol=rtol)


@pytest.mark.parametrize("count", [False, True])
def test_forward_in_blocks_kernel_equals_its_serial_variant(count):
    """Any number of workers, blocks of any size (the last one short): the same bits, and
    the NumPy twin's values; NaN/inf counted when asked."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1001, 12))
    X[[3, 700, 1000], [0, 5, 11]] = [np.nan, np.inf, -np.inf]
    net = fastnn.Network([12, 16, 3], "relu", "softmax", dtype=np.float64, random_state=0)
    block_rows = 96
    a_off = np.array([0, block_rows * 16], np.int64)
    outs = []
    for variant, n_workers in [(trainer.forward_in_blocks.parallel, 2),
                               (trainer.forward_in_blocks.parallel, 5),
                               (trainer.forward_in_blocks.serial, 1),
                               (trainer.forward_in_blocks.serial, 3)]:
        acts = np.empty((n_workers, block_rows * (16 + 3)))
        out = np.full((1001, 3), -1.0)
        n_bad = variant(X, net.params, net._net, acts, a_off, True, net.loss_code, out,
                        block_rows, count, np.zeros(1, np.int64))
        assert n_bad == (3 if count else 0)
        outs.append(out)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    good = np.isfinite(X).all(axis=1)
    np.testing.assert_allclose(outs[0][good], ref.network_forward(X[good], net), rtol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n_rows", [500, network._BLOCKS_MIN_ROWS + 1])
def test_concurrent_forward_on_one_network_gives_the_sequential_results(n_threads, n_rows):
    """Python threads sharing a model (a web server, a threaded Dask scheduler): each
    forward call gets its own scratch memory while another holds the network's.  When they
    shared it, 28-144 of 160 outputs were wrong.  A call that finds Numba's pool taken runs
    without it, so its BLAS calls may round differently in the last bits."""
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    rng = np.random.default_rng(5)
    net = fastnn.Network([20, 64, 3], "relu", "softmax", dtype=np.float64, random_state=0)
    Xs = [rng.standard_normal((n_rows, 20)) for _ in range(8)]
    with fastnn._config.using_threads(n_threads):
        expected = [net.forward(X) for X in Xs]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(5):
                for got, want in zip(pool.map(net.forward, Xs), expected):
                    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def _classifier(n_features: int) -> fastnn.Network:
    return fastnn.Network([n_features, 64, 3], "relu", "softmax", dtype=np.float64,
                          random_state=0)


def _while_fitting(net, X, Y, call, callback=None):
    """Fit ``net`` while another thread repeats ``call()``; returns the calls' results."""
    done, results = threading.Event(), []

    def repeat():
        while not done.is_set():
            results.append(call())

    other = threading.Thread(target=repeat)
    other.start()
    try:
        fastnn.train(net, X, Y, epochs=12, batch_size=64, random_state=0, callback=callback)
    finally:
        done.set()
        other.join(TIMEOUT)
    assert not other.is_alive()
    return results


@pytest.mark.parametrize("n_threads", [1, 2])
def test_loss_and_forward_from_another_thread_during_a_fit_leave_the_fit_unchanged(n_threads):
    """A thread watching a fit through loss() (a progress display, a web endpoint) gets a
    workspace of its own while the fit holds the network's.  When they shared it, the
    fitted parameters came out wrong by 0.004-1.2, with no error.  forward() has scratch
    memory of its own (by rows, and by blocks from 2,048 rows)."""
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 30))
    Y = np.eye(3)[rng.integers(0, 3, 4000)]
    with fastnn._config.using_threads(n_threads):
        alone = _classifier(30)
        fastnn.train(alone, X, Y, epochs=12, batch_size=64, random_state=0)
        watched = _classifier(30)
        seen = _while_fitting(watched, X, Y, lambda: (watched.loss(X[:500], Y[:500]),
                                                     watched.forward(X[:300]).sum(),
                                                     watched.forward(X[:2100]).sum()))
    assert len(seen) > 0 and np.isfinite(seen).all()
    np.testing.assert_allclose(watched.params, alone.params, rtol=1e-12, atol=1e-14)


def test_a_gradient_asked_for_during_a_fit_waits_for_the_epoch():
    """loss_and_gradient writes ``grads``, so it waits for the training workspace and
    runs between two epochs: on the parameters of an epoch's end, never on a half-trained
    batch's, and the fit itself is unchanged.  (The returned ``grads`` is the network's
    own array, which the fit's next epoch overwrites, so only the loss is compared.)"""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((2000, 30))
    Y = np.eye(3)[rng.integers(0, 3, 2000)]
    expected = _classifier(30)
    fastnn.train(expected, X, Y, epochs=12, batch_size=64, random_state=0)
    net = _classifier(30)
    ends = [net.params.copy()]  # the parameters between epochs
    seen = _while_fitting(net, X, Y, lambda: net.loss_and_gradient(X[:300], Y[:300])[0],
                          lambda epoch, loss: ends.append(net.params.copy()))
    np.testing.assert_allclose(net.params, expected.params, rtol=1e-12, atol=1e-14)
    assert len(seen) > 0
    probe = _classifier(30)
    at_ends = []
    for params in ends:
        probe.params[:] = params
        at_ends.append(probe.loss(X[:300], Y[:300]))
    for loss in seen:
        assert any(loss == pytest.approx(end, rel=1e-12) for end in at_ends), \
            f"loss {loss} is the loss of no epoch's end"


@pytest.mark.parametrize("n_threads", [1, 2])
def test_concurrent_loss_on_one_network_gives_the_sequential_results(n_threads):
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    rng = np.random.default_rng(2)
    net = _classifier(20)
    batches = [(rng.standard_normal((400, 20)), np.eye(3)[rng.integers(0, 3, 400)])
               for _ in range(8)]
    with fastnn._config.using_threads(n_threads):
        expected = [net.loss(X, Y) for X, Y in batches]
        with ThreadPoolExecutor(4) as pool:
            for _ in range(5):
                futures = [pool.submit(net.loss, X, Y) for X, Y in batches]
                got = [f.result(timeout=TIMEOUT) for f in futures]
                np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_a_gradient_asked_for_during_a_small_network_fit_waits_for_it():
    """The BLAS-free path of small networks (kernels/small.py) trained without taking the
    network's lock, so a loss_and_gradient from another thread mixed its gradient with the
    fit's (both write ``grads``): about one in eight came out wrong."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    Y = np.eye(2)[rng.integers(0, 2, 200)]
    net = fastnn.Network([3, 4, 2], dtype=np.float64, random_state=0)
    assert fastnn.training._is_small(net, 200, 4)
    expected = net.loss_and_gradient(X, Y)[1].copy()
    fitted = threading.Event()

    def fit():  # lr 0: the parameters, so the right gradient, never change
        try:
            fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.0), epochs=20000,
                         batch_size=4)
        finally:
            fitted.set()

    thread = threading.Thread(target=fit)
    thread.start()
    wrong = []
    while True:
        wrong.append(not np.array_equal(net.loss_and_gradient(X, Y)[1], expected))
        if fitted.is_set():
            break
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert not any(wrong), f"{sum(wrong)} of {len(wrong)} gradients were wrong"


def test_train_command_takes_n_threads_auto(tmp_path, capsys):
    """``fastnn train --n-threads auto`` was refused ("expected an integer"), although the
    estimators take n_threads="auto" (and --n-threads 0's error lists it)."""
    from fastnn.__main__ import main

    rng = np.random.default_rng(0)
    data = tmp_path / "d.csv"
    data.write_text("a,b,y\n" + "".join(f"{a:.4f},{b:.4f},{int(a > 0)}\n"
                                        for a, b in rng.standard_normal((30, 2))))
    out = tmp_path / "d.model.npz"
    assert main(["train", str(data), "--n-threads", "auto", "--max-iter", "2",
                 "--out", str(out)]) == 0
    assert fastnn.load(out).n_threads == "auto"
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exc:
            main(["train", str(data), "--n-threads", bad])
        assert exc.value.code == 2
        assert "--n-threads" in capsys.readouterr().err


def test_a_block_ending_first_leaves_a_later_threads_count_in_force():
    """Thread A enters using_threads(2), thread B using_threads(1), A's block ends: B's fit
    went on with A's previous setting ("auto", all threads) instead of its one thread."""
    from fastnn import _config

    def setting():
        return "auto" if _config._adaptive else _config.get_num_threads()

    n = min(2, _config._MAX_THREADS)
    fastnn.set_num_threads("auto")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def a():
        with _config.using_threads(n):
            a_in.set()
            b_in.wait(TIMEOUT)
        a_out.set()

    def b():
        a_in.wait(TIMEOUT)
        with _config.using_threads(1):
            b_in.set()
            a_out.wait(TIMEOUT)
            seen.append(setting())
            with _config.using_threads(n):  # nested in B's own block: B's count after it
                pass
            seen.append(setting())

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert seen == [1, 1]
    assert setting() == "auto" and not _config._using_blocks
