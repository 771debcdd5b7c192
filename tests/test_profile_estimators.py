"""fastnn.profile on fitted estimators and saved models (``fastnn profile --model``)."""
import pickle

import numpy as np
import pytest

import fastnn
from fastnn.profile import profile
from reference import DTYPES


def _binary(n=60, dtype=np.float64):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4)).astype(dtype)
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_memory_mapped_X_is_profiled_as_fit_takes_it(tmp_path, dtype):
    """fit trains on a memory map block by block; profile read it as a (0,)-shaped array
    and failed with "X must be 2-D ... got shape (0,)"."""
    X, y = _binary(dtype=dtype)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    model = fastnn.MLPClassifier((5,), max_iter=3, random_state=0).fit(mapped, y)
    before = pickle.dumps(model)
    result = profile(model, mapped, y, roof=False)
    assert result.n_samples == X.shape[0]
    assert abs(result.gflop * 1e9 - 2 * X.shape[0] * (4 * 5 + 5 * 1) * 2
               - 2 * X.shape[0] * 5) < 1e-3
    assert pickle.dumps(model) == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("target", [None, "a", "0"])
def test_profile_command_refuses_a_feature_column_as_the_target(tmp_path, capsys, target):
    """A model trained with --target price on a CSV whose last column is a feature: the
    default target (the last column), or --target naming a feature, profiled the regressor
    with that feature as both input and target, silently."""
    from fastnn.__main__ import main

    rng = np.random.default_rng(0)
    data = tmp_path / "houses.csv"
    rows = rng.standard_normal((40, 4))
    data.write_text("a,price,b,c\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n"
                                              for row in rows))
    model = tmp_path / "houses.model.npz"
    assert main(["train", str(data), "--target", "price", "--task", "regression",
                 "--max-iter", "2", "--out", str(model)]) == 0
    capsys.readouterr()
    extra = [] if target is None else ["--target", target]
    assert main(["profile", "--model", str(model), "--data", str(data), *extra]) == 1
    column = "c" if target is None else "a"
    assert (f"the target column {column!r} is one of the model's features"
            in capsys.readouterr().err)
    assert main(["profile", "--model", str(model), "--data", str(data), "--target",
                 "price"]) == 0
    assert "| forward |" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_profile_command_counts_rows_of_an_array_file_from_0(tmp_path, capsys):
    """A non-integer class label in a .npy file was reported on "row 1, rows counted from 1
    after the header": the file has no header, and its row 0 held the value."""
    from fastnn.__main__ import main

    X, y = _binary(20)
    model = fastnn.MLPClassifier((3,), max_iter=2, random_state=0).fit(X, y)
    fastnn.save(model, tmp_path / "m.model.npz")
    data = tmp_path / "d.npy"
    np.save(data, np.c_[X, np.r_[0.5, y[1:]]])
    assert main(["profile", "--model", str(tmp_path / "m.model.npz"), "--data",
                 str(data)]) == 1
    assert "(e.g. 0.5 on row 0, rows counted from 0)" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", DTYPES)
def test_assigned_coefs_are_profiled_and_the_estimator_is_left_as_it_was(dtype, monkeypatch):
    """Weights assigned to ``coefs_`` were written into the estimator's own network (as
    predict does), so profile changed the model it promised to leave as it was; now they
    are written into the profiled copy only."""
    import fastnn.profile as profiling

    X, y = _binary(dtype=dtype)
    model = fastnn.MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
    assigned = [np.full_like(w, 0.25) for w in model.coefs_]
    model.coefs_ = assigned
    stale = model._network.params.copy()
    before = pickle.dumps(model)
    seen = []
    run_epoch = profiling.run_epoch

    def recording(network, *args, **kwargs):
        seen.append([w.copy() for w in network.coefs])
        return run_epoch(network, *args, **kwargs)

    monkeypatch.setattr(profiling, "run_epoch", recording)
    profile(model, X, y, roof=False)
    for got, want in zip(seen[0], assigned):  # the first batch started from them
        np.testing.assert_array_equal(got, want)
    assert pickle.dumps(model) == before and model.coefs_ is assigned
    np.testing.assert_array_equal(model._network.params, stale)
    model.coefs_ = [assigned[0][:2], assigned[1]]
    with pytest.raises(ValueError, match=r"coefs_\[0\] must have shape"):
        profile(model, X, y, roof=False)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_float64_values_beyond_a_float32_models_range_are_named():
    """X or y in float64 beyond float32's range became inf in the model's dtype and was
    reported as "X contains 1 NaN or infinite value(s)", of an X that has none; the
    message now says the value is too large for float32, as fit's does."""
    X, y = _binary(dtype=np.float32)
    classifier = fastnn.MLPClassifier((3,), max_iter=2, random_state=0).fit(X, y)
    regressor = fastnn.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2,
                                    random_state=0).fit(X, X[:, 0])
    big = X.astype(np.float64)
    big[1, 2] = 1e300
    with pytest.raises(ValueError, match=r"X contains infinity or a value too large for "
                                         r"dtype\('float32'\)"):
        profile(classifier, big, y, roof=False)
    target = X[:, 0].astype(np.float64)
    target[3] = -1e300
    with pytest.raises(ValueError, match=r"y contains infinity or a value too large for "
                                         r"dtype\('float32'\)"):
        profile(regressor, X, target, roof=False)


@pytest.mark.skipif(fastnn.threading_info()["max_threads"] < 2,
                    reason="needs a Numba pool of 2 threads")
def test_profile_of_an_estimator_runs_on_its_n_threads(tmp_path, capsys):
    """A model fitted with n_threads=1 trains on one thread: its profile did on the current
    setting (2 threads, by rows, an epoch it never runs); --threads overrides it."""
    import warnings

    from fastnn.__main__ import main

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 20))
    y = rng.integers(0, 3, 600)
    est = fastnn.MLPClassifier((16,), n_threads=1, batch_size=256, max_iter=1,
                               random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    fastnn.set_num_threads(2)
    try:
        assert profile(est, X, y, roof=False).by_rows is None  # one thread: not by rows
        assert profile(est.set_params(n_threads=None), X, y, roof=False).by_rows.shape[0] == 2
        est.set_params(n_threads=1)
        model, data = tmp_path / "m.npz", tmp_path / "d.npy"
        fastnn.save(est, model)
        np.save(data, np.column_stack([X, y]))
        assert main(["profile", "--model", str(model), "--data", str(data)]) == 0
        assert "trained by rows" not in capsys.readouterr().out
        assert main(["profile", "--model", str(model), "--data", str(data),
                     "--threads", "2"]) == 0
        assert "trained by rows on 2 threads" in capsys.readouterr().out
    finally:
        fastnn.set_num_threads("auto")
