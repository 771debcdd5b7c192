"""Subnormal numbers flushed to zero inside fastnn's kernels, IEEE arithmetic outside."""
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit, prange

import fastnn
from fastnn import _config, training
from fastnn.kernels import data_parallel, fpenv, trainer

pytestmark = pytest.mark.skipif(not fpenv.AVAILABLE, reason="no MXCSR to set")

FLUSH = fpenv.FLUSH_TO_ZERO | fpenv.DENORMALS_ARE_ZERO
TINY32 = np.finfo(np.float32).tiny
STATUS_FLAGS = 0x3F  # MXCSR bits 0-5: sticky exception flags (an underflow sets one)


def _control(word):
    """The control bits of an MXCSR word (rounding, masks, flush), without its status flags."""
    return int(word) & ~STATUS_FLAGS


@njit(parallel=True)
def _worker_control_words(n):
    words = np.zeros(n, np.int64)
    for i in prange(n):
        words[i] = fpenv.control_word()
    return words


def _subnormal_product():
    return np.float32(1e-30) * np.float32(1e-10)  # 1e-40: subnormal in IEEE arithmetic


def test_flush_subnormals_sets_the_bits_and_restore_gives_the_word_back():
    before = _control(fpenv.control_word())
    assert before & FLUSH == 0 and _subnormal_product() > 0
    previous = fpenv.flush_subnormals()
    try:
        assert _control(previous) == before
        assert _control(fpenv.control_word()) == before | FLUSH
        assert _subnormal_product() == 0  # NumPy on this thread flushes too
    finally:
        fpenv.restore(previous)
    assert _control(fpenv.control_word()) == before
    assert _subnormal_product() > 0


def test_context_manager_restores_after_an_error():
    before = _control(fpenv.control_word())
    with pytest.raises(RuntimeError):
        with fpenv.subnormals_flushed():
            raise RuntimeError("inside")
    assert _control(fpenv.control_word()) == before


def _linear_network(dtype):
    """1 -> 1 identity network whose output for x = 1e-20 is 1e-40: subnormal in float32."""
    net = fastnn.Network([1, 1], output="identity", dtype=dtype)
    net.coefs[0][...] = 1e-20
    net.intercepts[0][...] = 0
    return net


@pytest.mark.parametrize("threads", [1, 2])
def test_forward_flushes_inside_and_leaves_every_thread_ieee(threads):
    net = _linear_network(np.float32)
    X = np.full((trainer._PARALLEL_MIN, 1), 1e-20, np.float32)  # blocks on the pool's workers
    caller = _control(fpenv.control_word())
    with _config.using_threads(threads):
        out = net.forward(X)
        words = _worker_control_words(2 * threads)
    np.testing.assert_array_equal(out, 0)
    assert _control(fpenv.control_word()) == caller
    assert not (words & FLUSH).any()  # Numba's pool threads are given back IEEE
    # float64 has no subnormal here: the same network keeps 1e-40
    np.testing.assert_allclose(_linear_network(np.float64).forward(np.full((8, 1), 1e-20)),
                               1e-40, rtol=1e-12)


def _two_input_problem(n=1024):
    """[2, 1] identity network whose outputs (1e-40), output deltas and second weight's
    gradient (1e-40 with plain SGD at lr 1) are subnormal in IEEE float32 arithmetic."""
    net = fastnn.Network([2, 1], output="identity", dtype=np.float32)
    net.coefs[0][...] = [[1e-20], [0.0]]
    net.intercepts[0][...] = 0
    X = np.tile(np.float32([1e-20, 1.0]), (n, 1))
    return net, X, np.zeros((n, 1), np.float32)


@pytest.mark.parametrize("threads", [1, 2])
def test_an_epoch_flushes_on_every_thread(threads):
    net, X, Y = _two_input_problem()
    clock = np.zeros((threads, len(data_parallel.PHASES), 1), np.int64)
    caller = _control(fpenv.control_word())
    with _config.using_threads(threads):
        net._train_epoch(X, Y, None, np.arange(X.shape[0]), 256, fastnn.SGD(net, lr=1.0), 0.0,
                         1.0, clock=clock)
        words = _worker_control_words(2 * threads)
    assert _control(fpenv.control_word()) == caller
    assert not (words & FLUSH).any()  # Numba's pool threads are given back IEEE
    if threads > 1:
        assert clock.any()  # by rows: the second weight's row is the second worker's
    assert net.coefs[0][1, 0] == 0 and net.intercepts[0][0] == 0
    assert net.coefs[0][0, 0] == np.float32(1e-20)
    assert not net.grads.any()  # the last batch's gradient (1e-40 in IEEE arithmetic)


@pytest.mark.parametrize("batch_size, epochs", [(16, 1), (1, 1), (1, 4096)])
def test_small_network_training_flushes(batch_size, epochs):
    """train()'s BLAS-free path for tiny networks (``kernels.small``: per batch, per sample,
    and the per-sample kernel compiled for the layer sizes, for many updates) flushes as the
    BLAS path does.  In IEEE arithmetic the first step (lr 0.5) takes the second weight and
    the bias to -5e-41, which makes the outputs 0: they stay there."""
    net, X, Y = _two_input_problem(64)
    assert training._is_small(net, X.shape[0], batch_size)
    fixed = training._fixed_units(net, batch_size, training.SGD_CODE, epochs * X.shape[0])
    assert (fixed is not None) == (epochs > 1)
    caller = _control(fpenv.control_word())
    fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=0.5), epochs=epochs,
                 batch_size=batch_size, shuffle=False)
    assert _control(fpenv.control_word()) == caller
    assert net.coefs[0][1, 0] == 0 and net.intercepts[0][0] == 0
    assert net.coefs[0][0, 0] == np.float32(1e-20)


def test_loss_and_gradient_flushes():
    net, X, Y = _two_input_problem(64)
    loss, grads = net.loss_and_gradient(X, Y[:, 0])
    assert loss == 0 and not grads.any()  # IEEE: 1e-40 for the second weight and the bias


@pytest.mark.parametrize("n_classes, threads", [(2, 1), (4, 2)])
def test_linear_models_read_subnormal_inputs_as_zero(n_classes, threads):
    """The first feature is +-1e-39 (subnormal in float32): in IEEE arithmetic its weights
    grow to about 1e-38 in 3 epochs; flushed, they stay 0, on the caller's thread (binary)
    and on every worker of the kernel's blocks of classes."""
    X = np.array([[1e-39, 1.0], [-1e-39, 1.0], [1e-39, -1.0], [-1e-39, -1.0]] * 8, np.float32)
    y = np.arange(X.shape[0]) % n_classes
    caller = _control(fpenv.control_word())
    with _config.using_threads(threads):
        clf = fastnn.SGDClassifier(loss="log_loss", learning_rate="constant", eta0=1.0,
                                   penalty=None, fit_intercept=False, shuffle=False, max_iter=3,
                                   tol=None).fit(X, y)
        words = _worker_control_words(2 * threads)
    assert _control(fpenv.control_word()) == caller
    assert not (words & FLUSH).any()
    assert clf.coef_.dtype == np.float32
    np.testing.assert_array_equal(clf.coef_[:, 0], 0)
    assert (clf.coef_[:, 1] != 0).all()


def _subnormal_step_problem(dtype, optimizer):
    """A [1, 1] identity network at 0 whose first step is subnormal in IEEE arithmetic: the
    gradient is 8x the dtype's smallest normal number, so lr * g (0.01) is subnormal (and
    Nesterov's step with it); Adam's first moment starts in the band where b1 * m is subnormal
    (float32 only: its moments are stored as 0 below float32's smallest normal number, far
    above float64's subnormals, and its step is kept out of the band, see
    ``kernels.optimizers``)."""
    tiny = np.finfo(dtype).tiny
    net = fastnn.Network([1, 1], output="identity", dtype=dtype)
    net.params[...] = 0
    X, Y = np.ones((4, 1), dtype), np.full((4, 1), -8 * tiny, dtype)
    if optimizer == "adam":
        opt = fastnn.Adam(net)
        opt.m[...], opt.v[...] = 1.05 * tiny, 1.0
        Y[...] = -1000 * tiny
    else:
        opt = fastnn.SGD(net, lr=0.01, momentum=0.9 if optimizer == "nesterov" else 0.0,
                         nesterov=optimizer == "nesterov")
    return net, opt, X, Y


@pytest.mark.parametrize("dtype, optimizer", [(np.float32, "sgd"), (np.float32, "nesterov"),
                                              (np.float32, "adam"), (np.float64, "sgd"),
                                              (np.float64, "nesterov")])
def test_optimizer_step_flushes_as_the_fused_epoch_does(dtype, optimizer):
    """Optimizer.step() after loss_and_gradient gives the bits of train() on the same batch
    (in IEEE arithmetic the weight and bias became -9.4e-40 in float32, and Adam's m
    1.1866e-36 instead of 1.1755e-36), and gives the caller its control word back."""
    results = []
    for fused in (False, True):
        net, opt, X, Y = _subnormal_step_problem(dtype, optimizer)
        caller = _control(fpenv.control_word())
        if fused:
            fastnn.train(net, X, Y, optimizer=opt, epochs=1, batch_size="full", shuffle=False)
        else:
            net.loss_and_gradient(X, Y)
            opt.step()
        assert _control(fpenv.control_word()) == caller
        results.append([net.params.copy(), *(a.copy() for a in opt._state_arrays())])
    for stepped, trained in zip(*results):
        np.testing.assert_array_equal(stepped.view(np.uint8), trained.view(np.uint8))
    if optimizer != "adam":
        assert not results[0][0].any()  # the step of -1e-39 (float32) is 0


@pytest.mark.parametrize("threads", [1, 2])
def test_update_kernels_flush_on_every_thread(threads):
    """The update kernels' blocks on the pool's workers flush too: a step of 1e-39 leaves
    every weight at 0, and every worker gets its control word back."""
    n = 8 * 1024
    params, grads = np.zeros(n, np.float32), np.full(n, 1e-37, np.float32)
    velocity, m, v = np.zeros(n, np.float32), np.zeros(n, np.float32), np.ones(n, np.float32)
    caller = _control(fpenv.control_word())
    with _config.using_threads(threads):
        _config.run(fastnn.kernels.sgd_update, params, grads, 0.01, 0.0, n)
        _config.run(fastnn.kernels.momentum_update, params, grads, velocity, 0.01, 0.9, True,
                    0.0, n)
        words = _worker_control_words(2 * threads)
    assert not params.any() and not velocity.any()
    m[...], grads[...] = 1.05 * TINY32, 1e-35  # b1 * m is subnormal: m becomes (1 - b1) g
    with _config.using_threads(threads):
        _config.run(fastnn.kernels.adam_update, params, grads, m, v, 0.001, 0.9, 0.999, 1e-8,
                    1, 0.0, n)
    np.testing.assert_array_equal(m, (1 - np.float32(0.9)) * grads)
    assert _control(fpenv.control_word()) == caller
    assert not (words & FLUSH).any()


_FIRST_FIT_THEN_POOL_WORDS = """
import threading
import numpy as np
import fastnn
from fastnn.kernels import fpenv

def first_fit_then_words(out):
    X = np.random.default_rng(0).normal(size=(2048, 64))  # trained by rows on 2 threads
    net = fastnn.Network([64, 256, 10], dtype=np.float64, random_state=0)
    # run_epoch runs no validation first, whose kernels would start the pool unflushed
    fastnn.training.run_epoch(net, X, np.eye(10)[(X[:, 0] > 0).astype(int)], None, None, 256,
                              fastnn.SGD(net))
    out.extend(fpenv.pool_control_words(8).tolist())

words = []
{how}
print(max(w & (fpenv.FLUSH_TO_ZERO | fpenv.DENORMALS_ARE_ZERO) for w in words))
"""


@pytest.mark.parametrize("how", ["first_fit_then_words(words)",
                                 "t = threading.Thread(target=first_fit_then_words, "
                                 "args=(words,)); t.start(); t.join()"])
def test_a_first_fit_in_a_fresh_process_leaves_the_pool_threads_ieee(how):
    """Pool threads inherit their creator's control word: created inside the first fit's
    flushed block, they flushed subnormals for the rest of the process (own Numba code too)."""
    done = subprocess.run([sys.executable, "-c", _FIRST_FIT_THEN_POOL_WORDS.format(how=how)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NUMBA_NUM_THREADS": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "0"
