"""Edges of the low-level Network API: overflow at the outputs, argument types, checkpoints."""
import warnings

import numpy as np
import pytest

import fastnn
from fastnn.optimizers import Checkpoint
from fastnn.training import TrainingDiverged

OVERFLOW = r"outputs of 1 row\(s\) of X .* overflow"


def _overflowing_net(output, dtype, hidden):
    """A network whose logits for a row of finite ``finfo.max`` values are -inf in the first
    output and finite in the others: softmax gives that row finite probabilities, sigmoid
    an exact 0, where the other rows' outputs are ordinary."""
    k = 3 if output == "softmax" else 2
    net = fastnn.Network([2, 2, k] if hidden else [2, k], "relu", output, dtype=dtype,
                         random_state=0)
    for W in net.coefs[:-1]:
        W[...] = np.eye(2)
    W = net.coefs[-1]
    W[...] = 0
    W[:, 0] = -1
    W[0, 1] = 1e-3
    return net


@pytest.mark.parametrize("n", [3, fastnn.network._BLOCKS_MIN_ROWS + 5])  # one block, several
@pytest.mark.parametrize("hidden", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
def test_forward_reports_logits_that_overflow_behind_a_finite_output(output, dtype, hidden, n):
    """-inf logits gave a softmax with one class certain and a sigmoid of exactly 0, finite:
    the row's overflow went unreported.  Rows whose logits are NaN/inf are now outputs
    that are NaN, and forward raises as for any other overflow."""
    net = _overflowing_net(output, dtype, hidden)
    X = np.ones((n, 2), dtype)
    X[n // 2] = np.finfo(dtype).max
    with np.errstate(all="ignore"):
        for call in (net.forward, net.predict):
            with pytest.raises(ValueError, match=OVERFLOW):
                call(X)
        good = np.delete(X, n // 2, axis=0)
        np.testing.assert_array_equal(net.forward(good), net.forward(good[:1]).repeat(n - 1, 0))
        assert np.isfinite(net.forward(good)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimator_predict_proba_reports_logits_that_overflow(dtype):
    """MLPClassifier.predict_proba of finite X whose logits overflow to -inf: an error, not
    a probability of 0 for that class."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)).astype(dtype)
    y = rng.integers(0, 3, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = fastnn.MLPClassifier(hidden_layer_sizes=(2,), max_iter=2, random_state=0).fit(X, y)
    clf.coefs_[0][...] = np.eye(2)
    clf.intercepts_[0][...] = 0
    clf.coefs_[1][...] = 0
    clf.coefs_[1][:, 0] = -1
    X_big = np.abs(X[:4])
    X_big[2] = np.finfo(dtype).max
    with np.errstate(all="ignore"):
        for call in (clf.predict_proba, clf.predict):
            with pytest.raises(ValueError, match=OVERFLOW):
                call(X_big)


@pytest.mark.parametrize("activations", [np.array(["relu", "tanh"]), ("relu", "tanh"),
                                         [np.str_("relu"), np.str_("tanh")]])
def test_network_takes_activations_as_an_array_of_names(activations):
    """layer_sizes took an array, activations refused one ("must be a name or a sequence of
    names"); names come back as plain str, as from a list."""
    net = fastnn.Network(np.array([3, 4, 5, 2]), activations, np.str_("softmax"),
                         random_state=0)
    assert net.activations == ["relu", "tanh"]
    assert all(type(name) is str for name in net.activations) and type(net.output) is str
    assert repr(net) == ("Network(layer_sizes=[3, 4, 5, 2], activations=['relu', 'tanh'], "
                         "output='softmax', dtype=float32)")
    expected = fastnn.Network([3, 4, 5, 2], ["relu", "tanh"], random_state=0)
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(X), expected.forward(X))
    assert fastnn.Network([3, 4, 2], np.array("tanh")).activations == ["tanh"]


@pytest.mark.parametrize("activations, error, match", [
    (np.array([["relu", "tanh"]]), TypeError, "activations must be a name or a sequence"),
    (np.array(["relu"]), ValueError, "activations must be one name or 2 names"),
    (np.array(["relu", "cube"]), ValueError, "unknown activation 'cube'"),
    (np.array([1, 2]), ValueError, "unknown activation 1"),
])
def test_network_names_a_bad_array_of_activations(activations, error, match):
    with pytest.raises(error, match=match):
        fastnn.Network([3, 4, 5, 2], activations)


@pytest.mark.parametrize("dtype, match", [
    (None, r"dtype must be float32 or float64 \(the default is float32\), got None"),
    ("banana", "dtype must be float32 or float64, got 'banana'"),
    (np.float16, "dtype must be float32 or float64, got float16"),
    (np.int32, "dtype must be float32 or float64, got int32"),
])
def test_network_refuses_a_dtype_other_than_float32_or_float64(dtype, match):
    """dtype=None gave a float64 network (np.dtype(None)), where the documented default is
    float32; an unknown name raised NumPy's error, which did not name dtype."""
    with pytest.raises(TypeError, match=match):
        fastnn.Network([3, 2], dtype=dtype)


@pytest.mark.parametrize("dtype, expected", [("float32", np.float32), ("f8", np.float64),
                                             (float, np.float64), (np.dtype("f4"), np.float32)])
def test_network_takes_any_spelling_of_float32_or_float64(dtype, expected):
    net = fastnn.Network([3, 2], dtype=dtype)
    assert net.dtype == expected and net.params.dtype == expected


def test_checkpoint_holds_a_velocity_started_after_it_was_made():
    """A Checkpoint made before momentum was turned on saved and restored nothing of the
    velocity (zip() over the arrays it had at construction)."""
    net = fastnn.Network([3, 4, 2], dtype=np.float64, random_state=0)
    opt = fastnn.SGD(net, lr=0.1)
    checkpoint = Checkpoint(opt)
    opt.momentum = 0.9
    opt.velocity[...] = 5.0
    checkpoint.save()
    opt.velocity[...] = 7.0
    net.params[...] = 1.0
    checkpoint.restore()
    np.testing.assert_array_equal(opt.velocity, 5.0)
    np.testing.assert_array_equal(net.params, checkpoint.params)
    opt.momentum = 0.0  # no velocity to restore: nothing to do, no error
    checkpoint.restore()
    assert opt.velocity is None
    opt.momentum = 0.5  # a new velocity, started after the save: back to its start, 0
    opt.velocity[...] = 3.0
    checkpoint.restore()
    np.testing.assert_array_equal(opt.velocity, 0.0)
    checkpoint.save()  # and saved from now on
    opt.velocity[...] = 2.0
    checkpoint.restore()
    np.testing.assert_array_equal(opt.velocity, 0.0)


@pytest.mark.parametrize("small", [False, True])  # the BLAS path, kernels.small
def test_divergence_after_a_callback_turns_momentum_on_restores_the_velocity(small):
    """A callback turned momentum on (and the rate up) after epoch 1; epoch 2 diverged.  The
    weights went back to the end of epoch 1, but the velocity kept the diverged epoch's
    values (up to 2e87): the next step would have thrown the weights away.  It is now the
    velocity the epoch started from, zero."""
    rng = np.random.default_rng(0)
    n_in, n, batch_size = (2, 16, 1) if small else (20, 200, 10)
    X = rng.normal(size=(n, n_in))
    y = X.sum(axis=1) * 10
    net = fastnn.Network([n_in, 3 if small else 30, 1], "identity" if small else "relu",
                         "identity", dtype=np.float64, random_state=0)
    assert fastnn.training._is_small(net, n, batch_size) == small
    opt = fastnn.SGD(net, lr=1e-4)
    after_first = []

    def callback(epoch, loss):
        if epoch == 0:
            after_first.append((net.params.copy(), net.grads.copy()))
            opt.momentum, opt.lr = 0.9, 10.0

    with pytest.raises(TrainingDiverged, match="restored to the end of epoch 1"):
        fastnn.train(net, X, y, optimizer=opt, epochs=5, batch_size=batch_size,
                     random_state=0, callback=callback)
    np.testing.assert_array_equal(net.params, after_first[0][0])
    np.testing.assert_array_equal(net.grads, after_first[0][1])
    np.testing.assert_array_equal(opt.velocity, 0.0)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_small_networks_follow_the_optimizer_a_callback_changes(batch_size):
    """train() of tiny networks (kernels.small) read the optimizer's rate, momentum and
    state once per call: a callback that set opt.lr = 0 or turned momentum on changed
    nothing there, while the BLAS path's epochs followed it.  A callback's change now acts
    from the next epoch on, as two train() calls around it do."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 2))
    y = X.sum(axis=1, keepdims=True)

    def network():
        return fastnn.Network([2, 3, 1], "tanh", "identity", dtype=np.float64, random_state=0)

    net = network()
    assert fastnn.training._is_small(net, 16, batch_size)
    opt = fastnn.SGD(net, lr=0.05)

    def callback(epoch, loss):
        if epoch == 0:
            opt.momentum, opt.lr = 0.9, 0.02

    losses = fastnn.train(net, X, y, optimizer=opt, epochs=3, batch_size=batch_size,
                          shuffle=False, callback=callback)
    expected = network()
    expected_opt = fastnn.SGD(expected, lr=0.05)
    first = fastnn.train(expected, X, y, optimizer=expected_opt, epochs=1,
                         batch_size=batch_size, shuffle=False)
    expected_opt.momentum, expected_opt.lr = 0.9, 0.02
    rest = fastnn.train(expected, X, y, optimizer=expected_opt, epochs=2,
                        batch_size=batch_size, shuffle=False)
    np.testing.assert_array_equal(losses, np.r_[first, rest])
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(opt.velocity, expected_opt.velocity)

    frozen = []

    def stop_learning(epoch, loss):
        frozen.append(net.params.copy())
        opt.lr = 0.0

    opt.momentum = 0.0
    fastnn.train(net, X, y, optimizer=opt, epochs=3, batch_size=batch_size,
                 callback=stop_learning)
    np.testing.assert_array_equal(net.params, frozen[0])


class _Stop(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
@pytest.mark.parametrize("small", [False, True])  # the BLAS path, kernels.small
def test_a_callback_that_raises_keeps_the_epochs_completed_before_it(small, optimizer):
    """As train()'s docstring says: the exception propagates, and the network and the
    optimizer are as after the epoch the callback was called for (weights, gradient,
    velocity or Adam's moments and step count): the same as a run of that many epochs."""
    rng = np.random.default_rng(0)
    n_in, n = (2, 16) if small else (20, 200)
    X = rng.normal(size=(n, n_in))
    y = X.sum(axis=1)

    def run(callback, epochs):
        net = fastnn.Network([n_in, 3 if small else 30, 1], "tanh", "identity",
                             dtype=np.float64, random_state=0)
        opt = (fastnn.SGD(net, lr=0.01, momentum=0.9) if optimizer == "momentum"
               else fastnn.Adam(net, lr=0.01))
        assert fastnn.training._is_small(net, n, 4) == small
        try:
            fastnn.train(net, X, y, optimizer=opt, epochs=epochs, batch_size=4,
                         random_state=0, callback=callback)
        except _Stop:
            pass
        return net, opt

    def stop_after_second(epoch, loss):
        if epoch == 1:
            raise _Stop

    net, opt = run(stop_after_second, 5)
    expected, expected_opt = run(None, 2)
    np.testing.assert_array_equal(net.params, expected.params)
    np.testing.assert_array_equal(net.grads, expected.grads)
    for state, expected_state in zip(opt._state_arrays(), expected_opt._state_arrays()):
        np.testing.assert_array_equal(state, expected_state)
    assert getattr(opt, "t", None) == getattr(expected_opt, "t", None)
    with pytest.raises(_Stop):
        fastnn.train(net, X, y, optimizer=opt, epochs=2, batch_size=4, callback=stop_after_second)
