"""Bad input reaches the user as ValueError/TypeError naming the problem, before any change."""
import warnings

import numpy as np
import pytest

import fastnn

X_OK = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_OK = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])


@pytest.fixture
def net():
    return fastnn.Network([2, 3, 2], "relu", dtype=np.float64, random_state=0)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("stepwise", [True, False])
def test_nonfinite_X_found_while_training_restores_weights_and_optimizer(
        n_threads, shuffle, stepwise, monkeypatch):
    """A shuffled train() finds NaN/inf as its epochs gather the rows (no separate pass
    over X; stepwise, fused, by rows on 2 threads), some batches after the first updates:
    the weights and Adam's state come back to their values before the call, and the error
    counts every bad value."""
    if not stepwise:
        monkeypatch.setattr("fastnn.training.STEPWISE_MAX_BATCHES", 0)
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    rng = np.random.default_rng(6)
    X = rng.standard_normal((4096, 64)).astype(np.float32)
    X[[4000, 4001], [3, 60]] = [np.nan, -np.inf]
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4096)]
    net = fastnn.Network([64, 300, 10], "relu", dtype=np.float32, random_state=0)
    optimizer = fastnn.Adam(net, lr=0.01)
    fastnn.train(net, X[:1024], Y[:1024], optimizer=optimizer, epochs=1, batch_size=128)
    before = [net.params.copy(), *(state.copy() for state in optimizer._state_arrays())]
    with fastnn._config.using_threads(n_threads):
        with pytest.raises(ValueError, match="X contains 2 NaN or infinite value"):
            fastnn.train(net, X, Y, optimizer=optimizer, epochs=2, batch_size=128,
                         shuffle=shuffle, random_state=0)
    after = [net.params, *optimizer._state_arrays()]
    for got, want in zip(after, before):
        np.testing.assert_array_equal(got, want)


def test_nonfinite_X_is_named_even_when_training_diverges_first():
    """A rate that diverges before the epoch reaches X's bad row: the error still names X
    (its rows were not checked before training), and the network is unchanged."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((4096, 64)).astype(np.float32) * 100
    X[-1, 0] = np.nan
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4096)]
    net = fastnn.Network([64, 300, 10], "relu", dtype=np.float32, random_state=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite value"):
        fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=1e6), epochs=1, batch_size=128,
                     random_state=0)
    np.testing.assert_array_equal(net.params, before)
    X[-1, 0] = 0.0
    with pytest.raises(fastnn.TrainingDiverged):
        fastnn.train(net, X, Y, optimizer=fastnn.SGD(net, lr=1e6), epochs=1, batch_size=128,
                     random_state=0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(layer_sizes=[2]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[2, 0, 1]), ValueError, "layer_sizes"),
    (dict(layer_sizes=[2, 2.5, 1]), TypeError, "layer_sizes"),
    (dict(layer_sizes="21"), TypeError, "layer_sizes"),
    (dict(layer_sizes=[2, 3, 1], activations="swish"), ValueError, "unknown activation 'swish'"),
    (dict(layer_sizes=[2, 3, 3, 1], activations=["relu"]), ValueError, "activations"),
    (dict(layer_sizes=[2, 3, 1], activations=None), TypeError, "activations must be a name"),
    (dict(layer_sizes=[2, 3, 1], activations=[["relu"]]), ValueError, "unknown activation"),
    (dict(layer_sizes=[2, 1], output="tanh"), ValueError, "unknown output 'tanh'"),
    # a softmax over one unit is always 1: nothing would train, silently
    (dict(layer_sizes=[2, 3, 1]), ValueError, "output 'softmax' needs at least 2 output units"),
    (dict(layer_sizes=[2, 1], dtype=np.int32), TypeError, "dtype"),
    (dict(layer_sizes=[2, 3, 1], sigmoid_a=float("nan")), ValueError, "sigmoid_a"),
    (dict(layer_sizes=[2, 3, 1], leaky_slope=-0.1), ValueError, "leaky_slope"),
    # a = 0: every sigmoid unit outputs 0.5 whatever its input (nothing below it trains)
    (dict(layer_sizes=[2, 3, 2], activations="sigmoid", sigmoid_a=0), ValueError,
     "sigmoid_a must not be 0"),
    (dict(layer_sizes=[2, 3, 2], random_state=-1), ValueError, "random_state: expected"),
    (dict(layer_sizes=np.array([[2, 3, 2]])), TypeError, "layer_sizes"),
])
def test_bad_network_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        fastnn.Network(**kwargs)


def test_layer_sizes_may_be_a_numpy_array():
    """np.array([2, 3, 2]) is not a Sequence: it was refused as 'not a sequence of ints'."""
    net = fastnn.Network(np.array([2, 3, 2]), random_state=0)
    assert net.layer_sizes == [2, 3, 2] and all(type(size) is int for size in net.layer_sizes)
    np.testing.assert_array_equal(net.params, fastnn.Network([2, 3, 2], random_state=0).params)


def test_estimators_refuse_a_sigmoid_shape_of_0():
    with pytest.raises(ValueError, match="sigmoid_a must not be 0"):
        fastnn.MLPClassifier(activation="logistic", sigmoid_a=0.0).fit(X_OK, [0, 1, 0])


BAD_X = [
    (np.array([[0, 1], [1, 0], [1, 1]]), TypeError, "X must be a floating-point array"),
    (np.array([["a", "b"]] * 3, dtype=object), TypeError, "X must contain numbers"),
    (X_OK.astype(np.float32), TypeError, "X has dtype float32"),
    (X_OK[:, 0], ValueError, "X must be 2-D"),
    (np.empty((0, 2)), ValueError, "X is empty"),
    (np.ones((3, 5)), ValueError, "X has 5 features"),
    (np.where(X_OK == 1, np.nan, X_OK), ValueError, "X contains 4 NaN"),
    (np.where(X_OK == 1, np.inf, X_OK), ValueError, "X contains 4 NaN or infinite"),
    ([[0.0, 1.0], [1.0]], TypeError, "X must be array-like"),
]


@pytest.mark.parametrize("X, error, match", BAD_X)
def test_bad_X_in_forward_and_gradient(net, X, error, match):
    with pytest.raises(error, match=match):
        net.forward(X)
    with pytest.raises(error, match=match):
        net.loss_and_gradient(X, Y_OK)


@pytest.mark.parametrize("y, error, match", [
    (Y_OK[:2], ValueError, "different numbers of samples: 3 and 2"),
    (Y_OK[:, :1], ValueError, r"y must have shape \(n_samples, 2\)"),
    (np.where(Y_OK == 1, np.nan, Y_OK), ValueError, "y contains NaN"),
    (Y_OK * 3, ValueError, r"y must lie in \[0, 1\]"),
    (np.array([["a", "b"]] * 3), TypeError, "y must contain numbers"),
])
def test_bad_targets(net, y, error, match):
    with pytest.raises(error, match=match):
        net.loss_and_gradient(X_OK, y)


def test_targets_beyond_the_networks_dtype_are_named_as_such():
    """Finite float64 targets of 1e39 become inf in a float32 network: the error said
    "y contains NaN or infinite value(s)", which y did not."""
    net = fastnn.Network([2, 3, 1], "relu", "identity", dtype=np.float32, random_state=0)
    X = X_OK.astype(np.float32)
    y = np.array([1.0, -1e39, 2.0])
    for call in (lambda: net.loss_and_gradient(X, y), lambda: fastnn.train(net, X, y)):
        with pytest.raises(ValueError, match=r"y has values beyond the range of float32 "
                                             r"\(largest in magnitude 1e\+39\)"):
            call()
    with pytest.raises(ValueError, match="y contains NaN"):
        net.loss_and_gradient(X, np.array([1.0, np.inf, 2.0]))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sample_weight=[1.0, 2.0]), ValueError, r"sample_weight must have shape \(3,\)"),
    (dict(sample_weight=[1.0, -1.0, 1.0]), ValueError, "sample_weight must be non-negative"),
    (dict(sample_weight=[1.0, np.nan, 1.0]), ValueError, "sample_weight contains NaN"),
    (dict(sample_weight=[0.0, 0.0, 0.0]), ValueError, "positive sum"),
    (dict(indices=[0, 3]), ValueError, r"indices must lie in \[0, 3\)"),
    (dict(indices=[-1]), ValueError, "indices must lie in"),
    (dict(indices=[0.5]), TypeError, "indices must be integers"),
    (dict(indices=[]), ValueError, "non-empty"),
    (dict(indices=np.array([], dtype=int)), ValueError, "non-empty"),
])
def test_bad_weights_and_indices(net, kwargs, error, match):
    with pytest.raises(error, match=match):
        net.loss_and_gradient(X_OK, Y_OK, **kwargs)


def test_weights_all_below_the_smallest_normal_number_are_refused():
    """The kernels flush subnormal numbers to 0: train() with float32 weights of 1e-40
    (their sum, 3e-40 here, is positive) skipped every batch as weightless and returned
    zero losses with the network untouched, without an error."""
    net = fastnn.Network([2, 3, 2], "relu", dtype=np.float32, random_state=0)
    X, Y = X_OK.astype(np.float32), Y_OK.astype(np.float32)
    weights = np.full(3, 1e-40, np.float32)
    match = r"sample_weight values are all below 1.18e-38, the smallest normal float32"
    for call in (lambda: fastnn.train(net, X, Y, sample_weight=weights, batch_size=2),
                 lambda: net.loss_and_gradient(X, Y, weights)):
        with pytest.raises(ValueError, match=match):
            call()
    weights[0] = 1.0  # one normal weight: the others count as 0, as documented
    assert np.isfinite(fastnn.train(net, X, Y, sample_weight=weights)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_floor_for_weights_read_as_zero(dtype):
    """The input check and last_weighted_batch share fpenv's floor: a weight at the
    floor counts in both, the next smaller number counts in neither."""
    floor = dtype(fastnn.kernels.fpenv.smallest_weight_read(dtype))
    below = np.nextafter(floor, dtype(0))
    if fastnn.kernels.fpenv.AVAILABLE:
        assert floor == np.finfo(dtype).tiny
    weights = np.array([floor, 0, 0, 0], dtype)
    fastnn._validation.check_sample_weight(weights, 4, np.dtype(dtype))
    assert fastnn.network.last_weighted_batch(weights, None, 4, 2) == 0
    weights[0] = below
    if below > 0:
        with pytest.raises(ValueError, match="which training reads as 0"):
            fastnn._validation.check_sample_weight(weights, 4, np.dtype(dtype))
    assert fastnn.network.last_weighted_batch(weights, None, 4, 2) == -1


def test_nan_in_a_gathered_batch_is_reported(net):
    X = X_OK.copy()
    X[2, 0] = np.nan
    net.loss_and_gradient(X[:2], Y_OK[:2])  # the clean rows alone are fine
    with pytest.raises(ValueError, match="X contains 1 NaN"):
        net.loss_and_gradient(X, Y_OK, indices=[0, 2])


def test_with_indices_only_the_batch_targets_are_validated(net):
    """Like X, y and sample_weight are checked on the batch's rows: O(batch) per call."""
    Y = Y_OK.copy()
    Y[1] = np.nan
    loss, _ = net.loss_and_gradient(X_OK, Y, indices=[0, 2])
    assert np.isfinite(loss)
    with pytest.raises(ValueError, match="y contains NaN"):
        net.loss_and_gradient(X_OK, Y, indices=[1, 2])
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        net.loss_and_gradient(X_OK, Y_OK, [1.0, np.nan, 1.0], indices=[1])
    with pytest.raises(ValueError, match="X and y have different numbers of samples: 3 and 2"):
        net.loss_and_gradient(X_OK, Y_OK[:2], indices=[0, 1])
    with pytest.raises(ValueError, match="X and sample_weight have different numbers of samples"):
        net.loss_and_gradient(X_OK, Y_OK, [1.0, 1.0], indices=[0, 1])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=0), ValueError, "epochs must be >= 1"),
    (dict(epochs=2.0), TypeError, "epochs must be an integer"),
    (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    (dict(batch_size="all"), TypeError, "batch_size must be an integer"),
    # a string is truthy: shuffle="False" shuffled, silently
    (dict(shuffle="False"), TypeError, "shuffle must be True or False"),
])
def test_bad_training_arguments_leave_the_network_untouched(net, kwargs, error, match):
    before = net.params.copy()
    with pytest.raises(error, match=match):
        fastnn.train(net, X_OK, Y_OK, **kwargs)
    np.testing.assert_array_equal(net.params, before)


def test_bad_data_to_train_leaves_the_network_untouched(net):
    before = net.params.copy()
    X = X_OK.copy()
    X[1, 1] = np.inf
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        fastnn.train(net, X, Y_OK)
    with pytest.raises(ValueError, match="optimizer must be bound"):
        other = fastnn.Network([2, 3, 2], dtype=np.float64)
        fastnn.train(net, X_OK, Y_OK, optimizer=fastnn.SGD(other))
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("make, error, match", [
    (lambda n: fastnn.SGD(n, lr=-1.0), ValueError, "lr must be >= 0"),
    (lambda n: fastnn.SGD(n, lr="fast"), TypeError, "lr must be a real number"),
    (lambda n: fastnn.SGD(n, momentum=1.5), ValueError, "momentum must be <= 1"),
    (lambda n: fastnn.SGD(n, weight_decay=float("nan")), ValueError, "weight_decay must be finite"),
    (lambda n: fastnn.Adam(n, beta1=1.0), ValueError, "beta1"),
    (lambda n: fastnn.Adam(n, eps=0.0), ValueError, "eps"),
])
def test_bad_optimizer_hyperparameters(net, make, error, match):
    with pytest.raises(error, match=match):
        make(net)


@pytest.mark.parametrize("n, error", [(0, ValueError), (1000, ValueError), (1.5, TypeError),
                                      (True, TypeError), ("fast", TypeError)])
def test_bad_thread_counts(n, error):
    with pytest.raises(error, match="n_threads"):
        fastnn.set_num_threads(n)


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_X_in_forward_by_blocks(value, n_threads):
    """From 2,048 rows, forward counts NaN/inf block by block inside the pass (one thread
    or two) and raises with the count; the network is unchanged."""
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    net = fastnn.Network([4, 5, 3], "relu", dtype=np.float32, random_state=0)
    before = net.params.copy()
    X = np.ones((fastnn.network._BLOCKS_MIN_ROWS + 5, 4), np.float32)
    X[[0, 1500, -1], [3, 0, 2]] = value  # first block, second half, last (short) block
    with fastnn._config.using_threads(n_threads):
        with pytest.raises(ValueError, match="X contains 3 NaN or infinite value"):
            net.forward(X)
    np.testing.assert_array_equal(net.params, before)
    X[[0, 1500, -1], [3, 0, 2]] = 0.0
    assert np.isfinite(net.forward(X)).all()


@pytest.mark.parametrize("n_threads", [1, 2])
def test_forward_by_blocks_counts_X_only_where_the_first_layer_is_not_finite(n_threads):
    """A block is counted only when its first products hold NaN/inf; finite X whose
    products overflow is counted too and finds nothing: the error names the overflow, not
    NaN/inf in X."""
    n_threads = min(n_threads, fastnn.threading_info()["max_threads"])
    net = fastnn.Network([4, 5, 3], "relu", dtype=np.float32, random_state=0)
    net.coefs[0][:, 2] = 0  # inf * 0 = NaN: a zero column does not hide a bad row
    X = np.ones((fastnn.network._BLOCKS_MIN_ROWS + 5, 4), np.float32)
    X[700] = np.finfo(np.float32).max
    with fastnn._config.using_threads(n_threads), np.errstate(all="ignore"):
        with pytest.raises(ValueError, match=r"outputs of 1 row\(s\) of X .* overflow"):
            net.forward(X)  # overflow inside the network: X holds no NaN/inf
        X[[3, 1999], [1, 3]] = np.inf, -np.inf
        with pytest.raises(ValueError, match="X contains 2 NaN or infinite value"):
            net.forward(X)


@pytest.mark.parametrize("weights, match", [
    (np.full(50, 3e38, np.float32), "sample_weight sums to inf in float32; rescale"),
    (np.full(50, 1e39), r"sample_weight has values beyond the range of float32"),
    (np.r_[np.full(49, 3e38), -1.0], "sample_weight must be non-negative"),
    (np.r_[np.ones(49), np.inf], "sample_weight contains NaN or infinite"),
])
def test_sample_weight_whose_float32_sum_overflows_is_rejected(weights, match):
    """Each weight is finite but the float32 sum is not: the loss would be NaN."""
    net = fastnn.Network([2, 3, 2], dtype=np.float32, random_state=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2)).astype(np.float32)
    Y = np.eye(2, dtype=np.float32)[np.arange(50) % 2]
    params = net.params.copy()
    with pytest.raises(ValueError, match=match):
        net.loss_and_gradient(X, Y, sample_weight=weights)
    with pytest.raises(ValueError, match=match):
        fastnn.train(net, X, Y, sample_weight=weights, epochs=1)
    np.testing.assert_array_equal(net.params, params)


def test_huge_weights_with_a_finite_float64_sum_are_accepted():
    """50 x 3e38 sums to 1.5e40, finite in float64: a weighted mean like any other."""
    net = fastnn.Network([2, 3, 2], dtype=np.float64, random_state=0)
    X = np.random.default_rng(0).standard_normal((50, 2))
    Y = np.eye(2)[np.arange(50) % 2]
    huge = net.loss_and_gradient(X, Y, sample_weight=np.full(50, 3e38))[0]
    assert huge == pytest.approx(net.loss_and_gradient(X, Y)[0], rel=1e-12)


def _float32_classifier():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    with np.errstate(all="ignore"), pytest.warns(Warning):  # 5 epochs: not converged
        return fastnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5,
                                    random_state=0).fit(X, y), X, y


@pytest.mark.parametrize("call", ["partial_fit", "fit sample_weight",
                                  "partial_fit sample_weight"])
def test_float64_values_beyond_float32_range_raise_without_a_cast_warning(call):
    """A float32 model given float64 values beyond float32's range: NumPy's "overflow
    encountered in cast" RuntimeWarning came before the clear error; now the error alone,
    and the model is unchanged.  (predict computes float64 X in float64, as scikit-learn:
    tests/test_mlp_inputs.py.)"""
    clf, X, y = _float32_classifier()
    before = clf._network.params.copy()
    big = X.astype(np.float64)
    big[1, 2] = 1e300
    weights = np.r_[1e300, np.ones(39)]
    calls = {
        "partial_fit": lambda: clf.partial_fit(big, y),
        "fit sample_weight": lambda: fastnn.MLPClassifier(max_iter=2).fit(
            X, y, sample_weight=weights),
        "partial_fit sample_weight": lambda: clf.partial_fit(X, y, sample_weight=weights),
    }
    name = "sample_weight" if "sample_weight" in call else "X"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"{name} contains infinity or a value too large "
                                             f"for dtype\\('float32'\\)"):
            calls[call]()
    np.testing.assert_array_equal(clf._network.params, before)


@pytest.mark.parametrize("call", ["train y", "train sample_weight", "loss_and_gradient y",
                                  "loss sample_weight"])
def test_network_paths_name_float64_values_beyond_float32_range_without_a_warning(call):
    """The Network API refuses float64 X for a float32 network (no cast); its float64 targets
    and weights are cast under np.errstate and named: no stray RuntimeWarning either."""
    net = fastnn.Network([2, 3, 1], "relu", "identity", dtype=np.float32, random_state=0)
    X = np.ones((4, 2), np.float32)
    big = np.array([1e300, 1.0, 1.0, 1.0])
    calls = {
        "train y": lambda: fastnn.train(net, X, big, epochs=1),
        "train sample_weight": lambda: fastnn.train(net, X, np.ones(4), epochs=1,
                                                    sample_weight=big),
        "loss_and_gradient y": lambda: net.loss_and_gradient(X, big),
        "loss sample_weight": lambda: net.loss(X, np.ones(4), big),
    }
    name = call.split()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=f"{name} has values beyond the range of float32"):
            calls[call]()


@pytest.mark.parametrize("weights, match", [
    (np.r_[1e300, np.ones(39)], "sample_weight has values beyond the range of float32"),
    (np.full(40, 1e37), "sample_weight sums to inf in float32"),
])
def test_float64_partial_fit_checks_sample_weight_in_the_models_dtype(weights, match):
    """partial_fit of float64 X on a float32 model checked the weights in float64, then cast
    them to float32: 1e300 became inf, and the fit stopped with a DivergenceWarning that
    blamed the weights training started from, instead of an error naming sample_weight."""
    clf, X, y = _float32_classifier()
    before = clf._network.params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            clf.partial_fit(X.astype(np.float64), y, sample_weight=weights)
    np.testing.assert_array_equal(clf._network.params, before)


def test_out_of_core_float64_beyond_float32_range_raises_without_a_cast_warning(tmp_path):
    """A float64 memmap given to a float32 model's partial_fit: its blocks are checked as
    they are cast, and NumPy's "overflow encountered in cast" came before the error."""
    clf, X, y = _float32_classifier()
    before = clf._network.params.copy()
    path = tmp_path / "X.dat"
    mapped = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mapped[...] = X
    mapped[1, 2] = 1e300
    mapped.flush()
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X contains infinity or a value too large "
                                             r"for dtype\('float32'\)"):
            clf.partial_fit(mapped, y)
    np.testing.assert_array_equal(clf._network.params, before)
