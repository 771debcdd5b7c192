"""fastnn.profile: phases and layers are all accounted for, FLOPs are exact."""
import numpy as np
import pytest

import fastnn
import reference as ref
from reference import DTYPES
from fastnn.kernels import clock, data_parallel
from fastnn.profile import profile


def test_profile_reports_every_phase_and_exact_flops():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6))
    Y = np.eye(3)[rng.integers(0, 3, 100)]
    net = fastnn.Network([6, 5, 4, 3], "tanh", dtype=np.float64, random_state=0)
    result = profile(net, X, Y, batch_size=32, roof=False)
    assert list(result.phases) == ["gather", "forward", "loss", "backward", "update"]
    assert all(seconds > 0 for seconds in result.phases.values())
    assert result.fused_seconds > 0 and result.products_seconds > 0 and len(result.layers) == 3
    # forward 2*n*sum(in*out); weight gradients the same; input gradients for layers 1 and 2
    expected = 2 * 100 * (6 * 5 + 5 * 4 + 4 * 3) * 2 + 2 * 100 * (5 * 4 + 4 * 3)
    assert abs(result.gflop * 1e9 - expected) < 1e-3
    assert "| backward |" in result.table() and "GFLOP/s" in result.table()
    assert "matrix products alone" in result.table()
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize("feature_major", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matrix_products_are_the_epochs_products_and_leave_params_alone(dtype, feature_major):
    """The profile's products-only pass: each batch's forward, input- and weight-gradient
    products of the workspace's contents, weight gradients into the given buffer; in the
    feature-major layout every (n, units) block but the gathered batch is stored (units, n)."""
    from fastnn.kernels import trainer

    def block(index, l, n, width):  # a layer's activations (0) or deltas (1), as (n, width)
        if feature_major:
            return workspace.layer(index, l, n, width).reshape(width, n).T
        return workspace.layer(index, l, n, width)

    rng = np.random.default_rng(1)
    sizes = [6, 5, 4, 3]
    net = fastnn.Network(sizes, dtype=dtype, random_state=0)
    n = 7
    workspace = net._workspace_for(n)
    for buffer in (workspace.buffers[0], workspace.buffers[1], workspace.buffers[3]):
        buffer[:] = rng.standard_normal(buffer.shape)
    params, scratch = net.params.copy(), np.zeros_like(net.grads)
    inputs = workspace.rows(3, n, sizes[0]).copy()
    output_delta = block(1, len(sizes) - 2, n, sizes[-1]).copy()
    products = trainer.family(False, trainer.SGD, feature_major).matrix_products
    assert products(net.params, scratch, net._net, workspace.buffers, n, 2) == 0
    np.testing.assert_array_equal(net.params, params)
    activations, weight_grads = ref.matrix_products(params, sizes, inputs, output_delta)
    atol = 0.0 if dtype == np.float64 else None  # float64: relative 1e-12 alone
    for l, want in enumerate(activations):
        ref.assert_close(block(0, l, n, sizes[l + 1]), want, dtype, atol=atol)
    shapes = list(zip(sizes[:-1], sizes[1:]))
    for got, want in zip(fastnn.network._layer_views(scratch, shapes)[0], weight_grads):
        ref.assert_close(got, want, dtype, atol=atol)


def test_profile_command(capsys):
    from fastnn.__main__ import main

    assert main(["profile", "--samples", "200", "--layers", "20,16,4", "--batch-size", "50",
                 "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "| forward |" in out and "of the measured roof" in out
    with pytest.raises(SystemExit) as exc:  # a softmax over one unit
        main(["profile", "--layers", "20,16,1"])
    assert exc.value.code == 2
    assert "the last size is the softmax output" in capsys.readouterr().err


def test_profile_that_diverges_raises_and_restores_the_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 100)]
    net = fastnn.Network([6, 5, 4, 3], "relu", dtype=np.float32, random_state=0)
    before = net.params.copy()
    with pytest.raises(fastnn.TrainingDiverged, match=r"profile: .* NaN or infinite .*"
                                                      r"lr=1e\+30.*restored"):
        profile(net, X, Y, lr=1e30, batch_size=8, roof=False)
    np.testing.assert_array_equal(net.params, before)
    assert np.shares_memory(net.coefs[0], net.params)  # restored in place, views intact


two_threads = pytest.mark.skipif(fastnn.threading_info()["max_threads"] < 2,
                                 reason="needs a Numba pool of 2 threads")
counts = pytest.mark.skipif(not clock.AVAILABLE, reason="no time-stamp counter to read")


def _by_rows_problem(dtype=np.float32):
    # 256 batches of 256 rows, an epoch of 50-120 ms: the few ms of the timed call outside
    # the kernel's clock (the call's Python, a thread kept off its core at the start) took
    # a thread's phases below half of a 2-15 ms epoch (16 batches, 64-32-16-4) in 3 of 8
    # runs.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((65536, 64)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 65536)]
    return fastnn.Network([64, 128, 64, 4], "relu", dtype=dtype, random_state=0), X, Y


@two_threads
@counts
@pytest.mark.parametrize("dtype", DTYPES)
def test_profile_by_rows_accounts_for_each_threads_time_by_phase_and_layer(dtype):
    from fastnn import _config

    net, X, Y = _by_rows_problem(dtype)
    with _config.using_threads(2):
        result = profile(net, X, Y, batch_size=256, roof=False)
    seconds = result.by_rows
    assert seconds.shape == (2, len(data_parallel.PHASES), 3) and (seconds >= 0).all()
    phase = {name: j for j, name in enumerate(data_parallel.PHASES)}
    for name in ("forward", "weight gradient"):
        assert (seconds[:, phase[name]] > 0).all(), name  # every layer
    assert (seconds[:, phase["backward"], 1:] > 0).all()
    assert (seconds[:, phase["backward"], 0] == 0).all()  # no input gradient for X
    for name in ("gather", "loss", "wait for rows", "wait for weights"):
        assert (seconds[:, phase[name], 1:] == 0).all(), name  # kept in layer 0
    assert (seconds[:, phase["gather"], 0] > 0).all() and (seconds[:, phase["loss"], 0] > 0).all()
    # The kernel runs inside the timed call: each thread's phases add up to its share of it.
    per_thread = seconds.sum(axis=(1, 2))
    assert (per_thread <= result.fused_seconds * 1.01).all()
    assert (per_thread >= result.fused_seconds * 0.5).all()
    table = result.table()
    assert "trained by rows on 2 threads" in table and "| wait for rows |" in table
    assert "matrix products by rows" in table


@two_threads
def test_profile_on_one_thread_or_small_batches_has_no_by_rows_part():
    from fastnn import _config

    net, X, Y = _by_rows_problem()
    with _config.using_threads(1):
        one_thread = profile(net, X, Y, batch_size=256, roof=False)
    with _config.using_threads(2):
        small = profile(net, X, Y, batch_size=64, roof=False)
    for result in (one_thread, small):
        assert result.by_rows is None and "trained by rows" not in result.table()


@counts
def test_clock_counts_forward_at_a_steady_rate():
    import time

    start, started = clock.now(), time.perf_counter()
    time.sleep(0.05)
    rate = (clock.now() - start) / (time.perf_counter() - started)
    assert 1e8 < rate < 1e11  # ticks per second: a time-stamp counter, not a constant


def test_a_rate_above_a_disturbed_roof_says_so():
    """A roof measured while other processes took the cores read 65 GFLOP/s against
    products at 189: '291% of the measured roof', without a word."""
    from fastnn.profile import Profile

    result = Profile(1000, 100, gflop=1.0, roof_gflops=50.0)
    result.phases = {"forward": 0.005, "backward": 0.005}  # 100 GFLOP/s
    result.layers = [{"forward": 0.005, "backward": 0.005, "gflop": 1.0}]
    assert "200% of the measured roof (50.0 GFLOP/s) (above the roof: other processes" \
        in result.table()
    result.roof_gflops = 400.0
    assert "25% of the measured roof (400.0 GFLOP/s)\n" in result.table() + "\n"
    assert "above the roof" not in result.table()


def _digits(n=300):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:n], y[:n]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_profile_of_a_fitted_estimator_leaves_it_as_it_was(kind, dtype):
    """A fitted MLP estimator is profiled on a copy of its network, with its own batch size,
    learning rate and target encoding; the estimator is untouched."""
    import copy
    import warnings

    X, y = _digits()
    est = (fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, batch_size=64,
                                random_state=0) if kind == "classifier" else
           fastnn.MLPRegressor(hidden_layer_sizes=(16,), max_iter=2, batch_size=64,
                               random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 2 epochs
        est.fit(X.astype(dtype), y)
    before = copy.deepcopy(est.__dict__)
    result = profile(est, X, y, roof=False)
    assert result.batch_size == 64 and result.n_samples == len(X)
    outputs = 10 if kind == "classifier" else 1
    flops = 2 * len(X) * (64 * 16 + 16 * outputs) * 2 + 2 * len(X) * 16 * outputs
    assert abs(result.gflop * 1e9 - flops) < 1e-3
    assert est.n_iter_ == before["n_iter_"] and est.loss_curve_ == before["loss_curve_"]
    for got, want in zip(est.coefs_ + est.intercepts_,
                         before["coefs_"] + before["intercepts_"]):
        np.testing.assert_array_equal(got, want)
    assert est.coefs_[0].dtype == dtype


def test_profile_of_an_estimator_refuses_what_its_partial_fit_refuses():
    from sklearn.exceptions import NotFittedError

    X, y = _digits()
    with pytest.warns(Warning):
        est = fastnn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match=r"classes not in classes_"):
        profile(est, X, y + 100, roof=False)
    with pytest.raises(ValueError, match=r"X has 10 features, but MLPClassifier is expecting 64"):
        profile(est, X[:, :10], y, roof=False)
    with pytest.raises(NotFittedError):
        profile(fastnn.MLPClassifier(), X, y, roof=False)
    with pytest.raises(TypeError, match=r"fastnn Network or a fitted fastnn MLPClassifier or "
                                        r"MLPRegressor, got Perceptron"):
        profile(fastnn.Perceptron().fit(X, y), X, y, roof=False)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_profile_command_on_a_model_file_and_its_data(tmp_path, capsys):
    from fastnn.__main__ import main

    X, y = _digits(200)
    data = tmp_path / "digits.npy"
    np.save(data, np.column_stack([X, y]))
    model = tmp_path / "digits.model.npz"
    assert main(["train", str(data), "--out", str(model), "--hidden-layer-sizes", "12",
                 "--max-iter", "2", "--batch-size", "40"]) == 0
    saved = model.read_bytes()
    capsys.readouterr()
    assert main(["profile", "--model", str(model), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    # the model's own batch size; the validation split is the train command's, not profile's
    assert "200 samples, batch 40, Adam (lr 0.001):" in out and "| forward |" in out
    assert model.read_bytes() == saved
    assert main(["profile", "--model", str(model), "--data", str(data),
                 "--batch-size", "50"]) == 0
    assert "200 samples, batch 50, Adam (lr 0.001):" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    (["--model", "m.npz"], "--model and --data go together"),
    (["--data", "d.npy"], "--model and --data go together"),
    (["--model", "m.npz", "--data", "d.npy", "--layers", "4,3"],
     "--layers describe synthetic data"),
    (["--target", "label"], "--target names a column of --data"),
])
def test_profile_command_options_that_do_not_go_together_are_usage_errors(options, message,
                                                                          capsys):
    from fastnn.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["profile", *options])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_profile_command_refuses_a_linear_model_file(tmp_path, capsys):
    from fastnn.__main__ import main

    X, y = _digits(100)
    model = tmp_path / "perceptron.npz"
    fastnn.save(fastnn.Perceptron().fit(X, y), model)
    data = tmp_path / "digits.npy"
    np.save(data, np.column_stack([X, y]))
    assert main(["profile", "--model", str(model), "--data", str(data)]) == 1
    assert "holds a Perceptron; fastnn profile profiles MLPClassifier and MLPRegressor" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("solver, described", [
    ("sgd", "SGD (lr 0.05, momentum 0.9, Nesterov)"), ("adam", "Adam (lr 0.05)"),
    ("lbfgs", "SGD (lr 0.05)")])
def test_profile_of_an_estimator_trains_with_its_solver(solver, described):
    import warnings

    X, y = _digits(200)
    est = fastnn.MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=2,
                               learning_rate_init=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    result = profile(est, X, y, roof=False)
    assert result.optimizer == described and f", {described}: " in result.table()
    assert profile(est, X, y, lr=0.5, roof=False).optimizer == described.replace("0.05", "0.5")
    with pytest.raises(ValueError, match=r"optimizer= is for a Network"):
        profile(est, X, y, optimizer=fastnn.SGD(est._network), roof=False)


def test_profile_of_a_network_with_its_optimizer_and_divergence_restores_its_state():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 6)).astype(np.float32)
    Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 100)]
    net = fastnn.Network([6, 5, 4, 3], "relu", dtype=np.float32, random_state=0)
    adam = fastnn.Adam(net, lr=0.01)
    result = profile(net, X, Y, optimizer=adam, batch_size=25, roof=False)
    assert result.optimizer == "Adam (lr 0.01)" and adam.t > 0  # trained with it, in place
    sgd = fastnn.SGD(net, lr=0.01, momentum=0.9)
    profile(net, X, Y, optimizer=sgd, batch_size=25, roof=False)
    state = [net.params.copy(), net.grads.copy(), sgd.velocity.copy()]
    sgd.lr = 1e30
    with pytest.raises(fastnn.TrainingDiverged, match=r"lr=1e\+30.*gradient and optimizer"):
        profile(net, X, Y, optimizer=sgd, batch_size=8, roof=False)
    for got, want in zip([net.params, net.grads, sgd.velocity], state):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"give lr or optimizer, not both"):
        profile(net, X, Y, lr=0.1, optimizer=adam, roof=False)
    other = fastnn.Network([6, 5, 3], dtype=np.float32)
    with pytest.raises(ValueError, match=r"bound to the network"):
        profile(net, X, Y, optimizer=fastnn.SGD(other), roof=False)
    with pytest.raises(ValueError, match=r"bound to the network"):
        profile(net, X, Y, optimizer="adam", roof=False)


@pytest.mark.parametrize("random_state", [-1, "x", 1.5, np.nan])
def test_a_bad_random_state_is_named(random_state):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    Y = np.eye(2)[rng.integers(0, 2, 20)]
    net = fastnn.Network([3, 4, 2], dtype=np.float64, random_state=0)
    before = net.params.copy()
    with pytest.raises((TypeError, ValueError), match="random_state"):
        profile(net, X, Y, random_state=random_state, roof=False)
    assert np.array_equal(net.params, before)
