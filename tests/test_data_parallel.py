"""``kernels.data_parallel``: the epoch shared by rows then by weights equals the serial epoch.

Equal up to OpenBLAS's rounding: the loss, deltas, bias sums and L2 norm are
computed by the same code in the same order, but a block of rows of a product
may round differently from the whole (OpenBLAS's SkylakeX kernels take other
code paths for small products; on the W1 shapes the results were identical).
"""
import numpy as np
import pytest
from numba import njit, prange

import fastnn
from fastnn import network
from fastnn._adaptive import blas_limited_to_one
from fastnn.kernels import data_parallel, trainer
from fastnn.kernels.blas import gemm
from fastnn.kernels.clock import AVAILABLE as COUNTER_AVAILABLE, ticks

two_threads = pytest.mark.skipif(fastnn.threading_info()["max_threads"] < 2,
                                 reason="needs a Numba pool of 2 threads")


def _problem(layers, dtype, n, loss, weighted, nan_row=None, zero_weight_rows=None):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, layers[0])).astype(dtype)
    if nan_row is not None:
        X[nan_row, 0] = np.nan
    k = layers[-1]
    Y = (rng.standard_normal((n, k)) if loss == "identity"
         else np.eye(k)[rng.integers(0, k, n)]).astype(dtype)
    w = rng.random(n).astype(dtype) if weighted else None
    if zero_weight_rows is not None:
        w[zero_weight_rows] = 0
    return X, Y, w, rng.permutation(n).astype(np.int64)


OPTIMIZERS = {"sgd": lambda net, lr: fastnn.SGD(net, lr=lr),
              "nesterov": lambda net, lr: fastnn.SGD(net, lr=lr, momentum=0.9),
              "adam": lambda net, lr: fastnn.Adam(net, lr=lr / 10, weight_decay=1e-3)}


def _epoch(problem, layers, dtype, batch_size, alpha, loss, activation, lr, data_parallel_workers,
           optimizer_name="sgd", epochs=1, k_split=(0, 0)):
    """(total, status, params, grads, state) after ``epochs`` epochs, by rows on
    ``data_parallel_workers`` threads (the first layer split by depth at ``k_split``, the
    kernel's ``(k_split, k_split2)``), or (0) the serial fused epoch; one-thread BLAS in
    both."""
    X, Y, w, order = problem
    net = fastnn.Network(layers, activation, loss, dtype=dtype, random_state=1)
    optimizer = OPTIMIZERS[optimizer_name](net, lr)
    with net._training_workspace(min(batch_size, X.shape[0])) as ws, blas_limited_to_one():
        for _ in range(epochs):
            code, state1, state2, t, hyper = optimizer._fused_state()
            hyper[6:8] = alpha, 1.0
            # The epoch's last weighted batch keeps its gradient (plain SGD does not fuse it).
            hyper[9] = network.last_weighted_batch(w, order, order.shape[0], batch_size)
            weights = ws.buffers[6] if w is None else w
            if data_parallel_workers:
                total, t, status = data_parallel.train_epoch_data_parallel(
                    X, Y, weights, w is not None, order, batch_size, net.params, net.grads,
                    net._net, ws.buffers, net.loss_code, code, hyper, state1, state2, t,
                    net.n_weights, data_parallel_workers,
                    np.zeros((data_parallel_workers, len(data_parallel.PHASES), len(layers) - 1),
                             np.int64), *k_split)
            else:
                total, t, status = trainer.family(False, code).train_epoch_gathered(
                    X, Y, weights, w is not None, order, batch_size, net.params, net.grads,
                    net._net, ws.buffers, net.loss_code, hyper, state1, state2, t, net.n_weights)
            optimizer._fused_done(t)
    state = [a.copy() for a in optimizer._state_arrays()] + [getattr(optimizer, "t", 0)]
    return total, status, net.params.copy(), net.grads.copy(), state


def _assert_close(by_rows, serial, dtype):
    """(total, status, params, grads) of two epochs agree to a few units of rounding."""
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-13)
    assert by_rows[0] == pytest.approx(serial[0], rel=rtol)
    np.testing.assert_allclose(by_rows[2], serial[2], rtol=rtol, atol=atol)
    np.testing.assert_allclose(by_rows[3], serial[3], rtol=rtol, atol=atol)  # last gradient
    for ours, theirs in zip(by_rows[4], serial[4]):  # velocity; Adam's m, v and step count
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


CASES = [  # layers, dtype, batch size, rows, weighted, alpha, output, hidden activation
    ([20, 16, 8, 3], np.float64, 32, 200, False, 0.0, "softmax", "relu"),
    ([20, 16, 8, 3], np.float32, 33, 201, True, 1e-3, "softmax", "tanh"),
    ([20, 7, 1], np.float64, 16, 100, True, 0.0, "logistic", "logistic"),
    ([5, 9, 2], np.float64, 10, 95, False, 0.01, "identity", "relu"),
    ([64, 40, 10], np.float32, 128, 700, False, 1e-4, "softmax", "relu"),
    ([3, 2], np.float64, 1, 7, False, 0.0, "softmax", "relu"),  # 1 row: one worker idle
    ([3, 1, 2], np.float64, 3, 7, False, 0.0, "softmax", "relu"),  # 1 unit: one worker idle
    ([20, 16, 3], np.float64, 64, 40, True, 0.0, "softmax", "relu"),  # fewer rows than a batch
]


def _split(layers, parts):
    """``(k_split, k_split2)`` for the first layer: by rows (``parts`` 1), by depth in two
    products (half its inputs), or in three (worker 1's columns cut again).  Any cut is
    right; only OpenBLAS's own cuts round exactly as the whole product."""
    d = layers[0]
    if parts == 3:
        first = max(1, d // 3)
        return first, first + max(1, (d - first) // 2)
    return ((d + 1) // 2 if parts == 2 else 0), 0


@two_threads
@pytest.mark.parametrize("by_depth", [1, 2, 3])
@pytest.mark.parametrize("layers, dtype, batch_size, n, weighted, alpha, loss, activation", CASES)
def test_epoch_by_rows_equals_the_serial_epoch(layers, dtype, batch_size, n, weighted, alpha, loss,
                                              activation, by_depth):
    problem = _problem(layers, dtype, n, loss, weighted)
    args = (problem, layers, dtype, batch_size, alpha, loss, activation, 0.05)
    by_rows, serial = _epoch(*args, 2, k_split=_split(layers, by_depth)), _epoch(*args, 0)
    assert by_rows[1] == serial[1] == 0
    _assert_close(by_rows, serial, dtype)


@two_threads
@pytest.mark.parametrize("by_depth", [1, 2, 3])
@pytest.mark.parametrize("optimizer", ["nesterov", "adam"])
@pytest.mark.parametrize("layers, dtype, batch_size, n, weighted, alpha, loss, activation",
                         CASES[:2] + CASES[4:5])
def test_momentum_and_adam_by_rows_equal_the_serial_epochs(layers, dtype, batch_size, n, weighted,
                                                           alpha, loss, activation, optimizer,
                                                           by_depth):
    """Two epochs: the optimizer's state and Adam's step count carry over alike."""
    problem = _problem(layers, dtype, n, loss, weighted)
    args = (problem, layers, dtype, batch_size, alpha, loss, activation, 0.05)
    by_rows = _epoch(*args, 2, optimizer, epochs=2, k_split=_split(layers, by_depth))
    serial = _epoch(*args, 0, optimizer, epochs=2)
    assert by_rows[1] == serial[1] == 0
    _assert_close(by_rows, serial, dtype)


@two_threads
@pytest.mark.parametrize("by_depth", [1, 2, 3])
@pytest.mark.parametrize("case, status", [("nan_row", 2), ("diverging", 1), ("zero_weights", 0),
                                          ("zero_weights_nan_row", 2), ("nan_last_column", 2)])
def test_bad_batches_stop_or_skip_as_in_the_serial_epoch(case, status, by_depth):
    """A NaN row stops before its batch's update (status 2), a non-finite loss too (1), and
    a batch whose weights are all 0 is skipped, unless it holds a NaN row; the batches
    before are applied alike."""
    layers, n, batch_size = [20, 16, 3], 200, 32
    zero_weights = case.startswith("zero_weights")
    problem = _problem(layers, np.float64, n, "softmax", zero_weights)
    X, Y, w, order = problem
    if zero_weights:
        w[order[64:96]] = 0  # the third batch
    if case.endswith("nan_row"):
        X[order[70], 0] = np.nan  # in the third batch
    if case == "nan_last_column":  # the second worker's columns, by depth
        X[order[90], -1] = np.nan
    lr = 1e30 if case == "diverging" else 0.05
    by_rows = _epoch(problem, layers, np.float64, batch_size, 0.0, "softmax", "relu", lr, 2,
                     k_split=_split(layers, by_depth))
    serial = _epoch(problem, layers, np.float64, batch_size, 0.0, "softmax", "relu", lr, 0)
    assert by_rows[1] == serial[1] == status
    _assert_close(by_rows, serial, np.float64)


@pytest.mark.parametrize("dtype, big", [(np.float32, 1e8), (np.float64, 1e17)])
def test_depth_split_rounds_alike_tells_exact_sums_from_rounded_ones(dtype, big):
    """Integers sum exactly in any order; ``1 + big - big`` is 0 summed left to right (as a
    product's depth is: ``1 + big`` rounds to ``big``) but 1 when the cut isolates the 1."""
    rng = np.random.default_rng(0)
    A = rng.integers(-8, 8, (5, 9)).astype(dtype)
    W = rng.integers(-8, 8, (9, 4)).astype(dtype)
    assert all(data_parallel.depth_split_rounds_alike(A, W, split) for split in range(1, 9))
    assert all(data_parallel.depth_split_rounds_alike(A, W, split, split2)
               for split in range(1, 8) for split2 in range(split + 1, 9))
    A = np.array([[1.0, big, -big]], dtype)
    W = np.ones((3, 1), dtype)
    assert not data_parallel.depth_split_rounds_alike(A, W, 1)
    assert data_parallel.depth_split_rounds_alike(A, W, 2)
    # Three products, summed in order: (1 + big) - big is 0, as the whole; 1 + (big - big) not.
    A = np.array([[1.0, big, -big, 0.0]], dtype)
    W = np.ones((4, 1), dtype)
    assert data_parallel.depth_split_rounds_alike(A, W, 1, 2)
    assert not data_parallel.depth_split_rounds_alike(A, W, 1, 3)


def test_the_first_layer_is_split_only_where_the_bits_stay(monkeypatch):
    """``_first_layer_split`` returns cuts that the probe holds for every row count, or
    (0, 0); it probes once per shape."""
    monkeypatch.setattr(network, "_depth_splits", {})
    with blas_limited_to_one():
        for dtype in (np.float32, np.float64):
            split = network._first_layer_split(dtype, 784, 256, {128, 96})
            rng = np.random.default_rng(5)
            W = rng.standard_normal((784, 256)).astype(dtype)
            for n in (128, 96):
                A = rng.standard_normal((n, 784)).astype(dtype)
                assert split == (0, 0) or data_parallel.depth_split_rounds_alike(A, W, *split)
        assert network._first_layer_split(np.float32, 1, 8, {128}) == (0, 0)  # nothing to cut
        monkeypatch.setattr(data_parallel, "depth_split_rounds_alike",
                            lambda *args: pytest.fail("probed again"))
        assert network._first_layer_split(np.float64, 784, 256, {96, 128}) == split


def test_depth_cut_candidates_hold_openblas_cuts_in_order():
    """Two blocks first (float32's 400 of 784 on SkylakeX), then three (float64's 384 | 208
    | 192); every pair a valid cut."""
    candidates = network._depth_cut_candidates(784)
    assert candidates.index((400, 0)) < candidates.index((384, 592))
    assert all(0 < a < 784 and (b == 0 or a < b < 784) for a, b in candidates)
    assert network._depth_cut_candidates(1) == []


@two_threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_w1_shaped_epochs_split_by_depth_equal_the_serial_epoch_to_the_bit(dtype):
    """Where OpenBLAS cuts the first layer's depth itself (784 inputs on its SkylakeX
    kernels: float32 at 400, float64 at 384 and 592), training with the first layer by depth
    changes no bit."""
    layers = [784, 64, 10]
    with blas_limited_to_one():
        split = network._first_layer_split(dtype, 784, 64, {128, 104})
    if split == (0, 0):
        pytest.skip("this BLAS has no exact depth split for 784 inputs")
    problem = _problem(layers, dtype, 1000, "softmax", False)
    args = (problem, layers, dtype, 128, 0.0, "softmax", "relu", 0.05)
    by_depth, serial = _epoch(*args, 2, k_split=split), _epoch(*args, 0)
    assert by_depth[0] == serial[0] and by_depth[1] == serial[1] == 0
    for got, want in zip(by_depth[2:4], serial[2:4]):
        np.testing.assert_array_equal(got, want)


@two_threads
@pytest.mark.parametrize("k_split", [(20, 0), (25, 0), (-1, 0), (-1, 10), (10, 10), (10, 5),
                                     (10, 20), (10, 25)])
def test_a_cut_outside_the_inputs_leaves_the_first_layer_by_rows(k_split):
    """A first cut outside ``(0, 20)``: by rows; a second one outside ``(k_split, 20)``: two
    products."""
    layers = [20, 16, 3]
    problem = _problem(layers, np.float64, 200, "softmax", False)
    args = (problem, layers, np.float64, 32, 0.0, "softmax", "relu", 0.05)
    by_rows, serial = _epoch(*args, 2, k_split=k_split), _epoch(*args, 0)
    assert by_rows[1] == serial[1] == 0
    _assert_close(by_rows, serial, np.float64)


@two_threads
@pytest.mark.parametrize("batch_size, cuts, expected", [
    (128, (17, 0), (17, 0)), (511, (17, 0), (17, 0)), (512, (17, 0), (0, 0)),
    (128, (17, 23), (17, 23)), (129, (17, 23), (0, 0))])
def test_train_splits_the_first_layer_by_depth_on_two_threads_below_512_rows(
        batch_size, cuts, expected, monkeypatch):
    """Two blocks below 512 rows, three up to 128 (``THREE_BLOCKS_MAX_ROWS``)."""
    calls = []
    original = data_parallel.train_epoch_data_parallel
    monkeypatch.setattr(data_parallel, "train_epoch_data_parallel",
                        lambda *args: calls.append(args[-2:]) or original(*args))
    monkeypatch.setattr(network, "_first_layer_split", lambda *args: cuts)
    monkeypatch.setattr(network, "SMALL_BATCH_MIN_FIRST_LAYER_WEIGHTS", 0)  # 240 of 264 here
    monkeypatch.setattr(fastnn.training, "STEPWISE_MAX_BATCHES", 0)  # the fused epoch
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3 * batch_size, 30)).astype(np.float32)
    net = fastnn.Network([30, 8, 3], "relu", dtype=np.float32, random_state=0)
    with fastnn._config.using_threads(2):
        fastnn.train(net, X, np.eye(3, dtype=np.float32)[rng.integers(0, 3, X.shape[0])],
                     optimizer=fastnn.SGD(net, lr=0.1), epochs=1, batch_size=batch_size,
                     random_state=0)
    assert calls and set(calls) == {expected}


@two_threads
def test_workers_that_cannot_all_run_at_once_give_up_before_touching_anything():
    """Three workers on a pool of two: one thread would run two of them one after the other
    and wait forever at the first barrier; instead all give up (status 3)."""
    layers = [20, 16, 3]
    problem = _problem(layers, np.float64, 200, "softmax", False)
    untouched = fastnn.Network(layers, "relu", "softmax", dtype=np.float64, random_state=1).params
    total, status, params, _, _ = _epoch(problem, layers, np.float64, 32, 0.0, "softmax", "relu",
                                         0.05, 3)
    assert (total, status) == (0.0, 3)
    np.testing.assert_array_equal(params, untouched)


@njit(parallel=True)
def _wait_while_gathering(X, rows, out, late_spins, clock, result):
    """Two workers meet at a barrier; worker 1 arrives after ``late_spins`` spins, worker 0
    gathers ``X[rows]`` meanwhile; ``result``: worker 0's (rows gathered, NaN/inf count,
    ticks from before the barrier to after it)."""
    counter = np.zeros(1, np.int64)
    wait = data_parallel.WAIT_ROWS
    for worker in prange(2):
        if worker == 0:
            since = ticks()
            result[0], result[1], now = data_parallel._barrier_gathering(
                counter, 2, X, rows, out, 0, 0, clock, 0, wait, since)
            result[2] = now - since
        else:
            spins = 0.0
            for _ in range(late_spins):
                spins += 1.0
            data_parallel._barrier_gathering(counter, 2 + (spins < 0), X, rows[:0], out[:0], 0,
                                             0, clock, 1, wait, ticks())


@two_threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_worker_waiting_at_a_barrier_gathers_the_next_rows(dtype, rng):
    """What the first worker at a barrier does while it waits: the next batch's rows, with
    their NaN/inf count, the ticks of it booked as gathering; the barrier still holds."""
    X = rng.standard_normal((50, 13)).astype(dtype)
    X[7, 3], X[9, 0], X[9, 12] = np.nan, np.inf, -np.inf
    rows = np.array([4, 9, 7, 7, 0, 49, 21], np.int64)
    out = np.zeros((rows.shape[0], 13), dtype)
    clock = np.zeros((2, len(data_parallel.PHASES), 1), np.int64)
    result = np.zeros(3, np.int64)
    _wait_while_gathering(X, rows, out, 200_000_000, clock, result)
    assert tuple(result[:2]) == (7, 4)
    np.testing.assert_array_equal(out, X[rows])
    gathering, waiting = clock[0, data_parallel.GATHER, 0], clock[0, data_parallel.WAIT_ROWS, 0]
    assert gathering + waiting == result[2] and gathering >= 0 and waiting >= 0
    assert gathering > 0 or not COUNTER_AVAILABLE
    assert clock[1, data_parallel.GATHER, 0] == 0  # worker 1 had nothing to gather
    assert clock.sum() == result[2] + clock[1, data_parallel.WAIT_ROWS, 0]


def _train(n_threads, batch_size=128, weighted=False, momentum=0.0):
    """Enough batches (3 x 100) for the fused epoch rather than the stepwise one."""
    n = 100 * batch_size
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 30)).astype(np.float32)
    y = rng.integers(0, 4, n)
    w = rng.random(n) if weighted else None
    net = fastnn.Network([30, 48, 24, 4], "relu", dtype=np.float32, random_state=0)
    with fastnn._config.using_threads(n_threads):
        losses = fastnn.train(net, X, np.eye(4, dtype=np.float32)[y],
                              optimizer=fastnn.SGD(net, lr=0.1, momentum=momentum), epochs=3,
                              batch_size=batch_size, random_state=0, sample_weight=w)
    return losses, net.params


@two_threads
@pytest.mark.parametrize("weighted, momentum", [(False, 0.0), (True, 0.0), (False, 0.9)])
def test_train_on_two_threads_runs_by_rows_and_equals_one_thread(weighted, momentum, monkeypatch):
    calls = []
    original = data_parallel.train_epoch_data_parallel
    monkeypatch.setattr(data_parallel, "train_epoch_data_parallel",
                        lambda *args: calls.append(args[5]) or original(*args))
    two = _train(2, weighted=weighted, momentum=momentum)
    assert calls and set(calls) == {128}
    one = _train(1, weighted=weighted, momentum=momentum)
    np.testing.assert_allclose(two[0], one[0], rtol=1e-5)
    np.testing.assert_allclose(two[1], one[1], rtol=1e-4, atol=1e-6)


@two_threads
def test_failed_check_ins_fall_back_and_in_a_row_stop_the_tries(monkeypatch):
    """Each failed segment runs the usual way; after DATA_PARALLEL_MAX_FAILURES in a row
    (3 epochs of one segment each here) no more tries."""
    monkeypatch.setattr(network, "DATA_PARALLEL", True)
    monkeypatch.setattr(network, "_check_in_failures", 0)
    calls = []
    monkeypatch.setattr(data_parallel, "train_epoch_data_parallel",
                        lambda *args: calls.append(1) or (0.0, 0, 3))
    fell_back = _train(2)
    assert len(calls) == network.DATA_PARALLEL_MAX_FAILURES and network.DATA_PARALLEL is False
    np.testing.assert_allclose(fell_back[1], _train(1)[1], rtol=1e-4, atol=1e-6)


def test_a_check_in_that_succeeds_resets_the_count(monkeypatch):
    monkeypatch.setattr(network, "DATA_PARALLEL", True)
    monkeypatch.setattr(network, "_check_in_failures", 0)
    for ok in (False, False, True, False, False):
        network._data_parallel_checked_in(ok)
    assert network.DATA_PARALLEL is True and network._check_in_failures == 2


def test_small_batches_of_a_small_first_layer_keep_the_fused_epoch(monkeypatch):
    monkeypatch.setattr(data_parallel, "train_epoch_data_parallel",
                        lambda *args: pytest.fail("ran by rows"))
    _train(2, batch_size=network.DATA_PARALLEL_MIN_ROWS - 1)  # 1,440 first-layer weights


@pytest.mark.parametrize("layers, batch_size, n_threads, expected", [
    ([784, 64, 4], 32, 2, True),  # 99 % of the weights in the first layer
    ([784, 256, 128, 10], 8, 2, True),  # 85 %
    ([784, 512, 512, 10], 32, 2, False),  # 60 %
    ([784, 512, 512, 10], network.DATA_PARALLEL_MIN_ROWS, 2, True),
    ([96, 100, 10], 32, 2, False),  # 9,600 first-layer weights
    ([784, 64, 4], 32, 3, False),  # no depth split on three threads
    ([784, 64, 4], network.DATA_PARALLEL_MIN_ROWS, 3, True),
    ([784, 64, 4], network.DATA_PARALLEL_MIN_ROWS, 1, False),
    ([800, 64, 4], 32, 2, False),  # no exact cut (as the probe says below)
])
def test_which_batches_train_by_rows(layers, batch_size, n_threads, expected, monkeypatch):
    monkeypatch.setattr(network._config, "get_num_threads", lambda: n_threads)
    monkeypatch.setattr(network, "_first_layer_split",
                        lambda dtype, fan_in, fan_out, rows: (0, 0) if fan_in == 800
                        else (fan_in // 2, 0))
    net = fastnn.Network(layers, "relu", dtype=np.float32)
    assert net._trains_by_rows(batch_size) is expected


@two_threads
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_batches_train_by_rows_where_the_first_layer_splits_and_equal_one_thread(
        dtype, monkeypatch):
    """Float32 in two blocks, float64 in three (OpenBLAS's SkylakeX cuts of 784)."""
    split = network._first_layer_split(dtype, 784, 64, {32})
    if split[0] == 0:
        pytest.skip("this BLAS has no exact cut of a 784-64 product of 32 rows")
    calls = []
    original = data_parallel.train_epoch_data_parallel
    monkeypatch.setattr(data_parallel, "train_epoch_data_parallel",
                        lambda *args: calls.append((args[5], *args[-2:])) or original(*args))
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100 * 32, 784)).astype(dtype)  # 3 x 100 batches: fused
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, X.shape[0])]
    results = []
    for n_threads in (2, 1):
        net = fastnn.Network([784, 64, 4], "relu", dtype=dtype, random_state=0)
        with fastnn._config.using_threads(n_threads):
            losses = fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.05), epochs=3,
                                  batch_size=32, random_state=0)
        results.append((losses, net.params))
    assert calls and set(calls) == {(32, *split)}
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-13)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=rtol)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=10 * rtol, atol=atol)


@njit
def _step_rows(A, i0, i1, delta, W, lr):
    return gemm(A[:, i0:i1], True, delta, False, W[i0:i1], -lr, 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_takes_a_block_of_columns_as_a_strided_matrix(dtype, rng):
    """The weight step of one worker: its rows of W from a block of columns of A."""
    A = rng.standard_normal((9, 7)).astype(dtype)
    delta = rng.standard_normal((9, 4)).astype(dtype)
    W = rng.standard_normal((7, 4)).astype(dtype)
    expected = W.copy()
    expected[2:5] -= 0.5 * A[:, 2:5].T @ delta
    assert _step_rows(A, 2, 5, delta, W, 0.5) == 0
    np.testing.assert_allclose(W, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
