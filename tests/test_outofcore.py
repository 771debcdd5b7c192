"""Out-of-core training: memory maps and row-indexable arrays are read, never loaded."""
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from fastnn import MLPClassifier, MLPRegressor, _outofcore

KW = dict(hidden_layer_sizes=(6,), max_iter=3, batch_size=50, random_state=0)


@pytest.fixture
def data(rng):
    X = rng.standard_normal((1000, 8))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


@pytest.fixture(autouse=True)
def small_window(monkeypatch):
    """Segments of 2 batches and validation blocks of 40 rows: every path runs many times."""
    monkeypatch.setattr(_outofcore, "WINDOW_BYTES", 4096)
    monkeypatch.setattr(_outofcore, "CHUNK_BYTES", 40 * 8 * 8)


def memmap_of(tmp_path, X, mode="r+", name="X.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode=mode)


class Rows:
    """A minimal on-disk-like array: slices and increasing integer arrays only.

    Records the largest number of rows handed out at once, to show the data
    are never read whole.
    """

    def __init__(self, data):
        self._data = data
        self.shape, self.dtype = data.shape, data.dtype
        self.most_rows = 0

    def __getitem__(self, key):
        if not isinstance(key, slice):
            key = np.asarray(key)
            if key.dtype.kind not in "iu" or (np.diff(key) <= 0).any():
                raise TypeError("only slices and increasing integer arrays")
        out = self._data[key]
        self.most_rows = max(self.most_rows, out.shape[0])
        return out.copy()


def fit_quietly(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning after max_iter=3
        return est.fit(X, y, **kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", [dict(), dict(shuffle=False), dict(solver="sgd"),
                                    dict(early_stopping=True, max_iter=4)])
def test_memmap_fit_equals_in_memory_fit(tmp_path, data, dtype, params):
    X, y = data
    X = X.astype(dtype)
    M = memmap_of(tmp_path, X)
    expected = fit_quietly(MLPClassifier(**{**KW, **params}), X, y)
    got = fit_quietly(MLPClassifier(**{**KW, **params}), M, y)
    # the same batches, updates and epoch losses, to the bit (the loss was summed per segment)
    np.testing.assert_array_equal(got.loss_curve_, expected.loss_curve_)
    assert got.coefs_[0].dtype == dtype
    np.testing.assert_array_equal(got._network.params, expected._network.params)
    np.testing.assert_array_equal(got.predict_proba(M), expected.predict_proba(X))


def test_memmap_regressor_sample_weight_and_partial_fit(tmp_path, data, rng):
    X, _ = data
    target = X @ rng.standard_normal(8)
    weights = rng.uniform(0.5, 2.0, X.shape[0])
    M = memmap_of(tmp_path, X)
    expected = fit_quietly(MLPRegressor(**KW), X, target, sample_weight=weights)
    got = fit_quietly(MLPRegressor(**KW), M, target, sample_weight=weights)
    np.testing.assert_array_equal(got.loss_curve_, expected.loss_curve_)
    np.testing.assert_array_equal(got._network.params, expected._network.params)
    np.testing.assert_array_equal(got.predict(M), expected.predict(X))
    a, b = MLPRegressor(**KW), MLPRegressor(**KW)
    for start in range(0, 1000, 250):
        a.partial_fit(X[start:start + 250], target[start:start + 250])
        b.partial_fit(M[start:start + 250], target[start:start + 250])
    np.testing.assert_array_equal(a.loss_curve_, b.loss_curve_)
    np.testing.assert_array_equal(a._network.params, b._network.params)


def test_memmap_of_other_dtype_is_converted_block_by_block(tmp_path, data):
    X, y = data
    X16 = X.astype(np.float16)
    M = memmap_of(tmp_path, X16)
    est = fit_quietly(MLPClassifier(**KW), M, y)
    assert est.coefs_[0].dtype == np.float64  # as scikit-learn: float16 trains in float64
    np.testing.assert_array_equal(est.loss_curve_,
                                  fit_quietly(MLPClassifier(**KW), X16, y).loss_curve_)


def test_indexable_array_is_read_in_blocks(data):
    X, y = data
    rows = Rows(X)
    est = fit_quietly(MLPClassifier(**KW), rows, y)
    np.testing.assert_array_equal(est.loss_curve_,
                                  fit_quietly(MLPClassifier(**KW), X, y).loss_curve_)
    assert 0 < rows.most_rows < X.shape[0] // 4
    assert est.n_features_in_ == 8
    np.testing.assert_allclose(est.predict_proba(rows),
                               fit_quietly(MLPClassifier(**KW), X, y).predict_proba(X),
                               rtol=1e-12)


def test_warm_start_with_another_dtype_does_not_load_the_map(tmp_path, data):
    X, y = data
    M32 = memmap_of(tmp_path, X.astype(np.float32))
    est = fit_quietly(MLPClassifier(**KW, warm_start=True), X, y)  # a float64 network
    fit_quietly(est, M32, y)
    expected = fit_quietly(MLPClassifier(**KW, warm_start=True), X, y)
    fit_quietly(expected, X.astype(np.float32).astype(np.float64), y)
    np.testing.assert_array_equal(est.loss_curve_, expected.loss_curve_)


def test_lbfgs_reads_a_memmap_and_refuses_a_row_source(tmp_path, data):
    X, y = data
    M = memmap_of(tmp_path, X)
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    np.testing.assert_array_equal(fit_quietly(MLPClassifier(**params), M, y).coefs_[0],
                                  fit_quietly(MLPClassifier(**params), X, y).coefs_[0])
    with pytest.raises(ValueError, match="solver='lbfgs' needs X as one array"):
        MLPClassifier(**params).fit(Rows(X), y)


@pytest.mark.parametrize("layout", ["fortran", "strided", "copy-on-write"])
def test_lbfgs_reads_a_memmap_of_any_layout(tmp_path, data, layout):
    X, y = data
    M = {"fortran": lambda: memmap_of(tmp_path, np.asfortranarray(X)),
         "strided": lambda: memmap_of(tmp_path, np.repeat(X, 2, axis=0))[::2],
         "copy-on-write": lambda: memmap_of(tmp_path, X, mode="c")}[layout]()
    assert type(_outofcore.row_source(M)) is _outofcore.RowSource
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    # a float64 memmap, as the README and the error's advice say (it was refused)
    np.testing.assert_array_equal(fit_quietly(MLPClassifier(**params), M, y).coefs_[0],
                                  fit_quietly(MLPClassifier(**params), X, y).coefs_[0])


@pytest.mark.parametrize("dtype", [">f8", ">f4", "<i4"])
def test_lbfgs_reads_a_memmap_of_any_dtype_as_in_memory(tmp_path, data, dtype):
    """A big-endian or integer memmap trains as the same array in memory (it was refused)."""
    X, y = data
    X = (X * 10).astype(dtype)
    M = memmap_of(tmp_path, X, mode="r")
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    est, expected = (fit_quietly(MLPClassifier(**params), source, y) for source in (M, X))
    assert est._network.dtype == expected._network.dtype
    np.testing.assert_array_equal(est._network.params, expected._network.params)
    np.testing.assert_array_equal(est.predict_proba(M), expected.predict_proba(X))


def test_lbfgs_warm_start_of_a_float32_model_on_a_float64_memmap(tmp_path, data):
    X, y = data
    M = memmap_of(tmp_path, X, mode="r")
    params = dict(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=5, random_state=0,
                  warm_start=True)
    est, expected = (fit_quietly(MLPClassifier(**params), X.astype(np.float32), y)
                     for _ in range(2))
    fit_quietly(est, M, y)
    fit_quietly(expected, X, y)
    assert est._network.dtype == np.float32
    np.testing.assert_array_equal(est._network.params, expected._network.params)


@pytest.mark.parametrize("row", [0, 999])  # first and last validation block
def test_nonfinite_memmap_fails_with_scikit_learns_message(tmp_path, data, row):
    X, y = data
    X = X.copy()
    X[row, 3] = np.nan
    M = memmap_of(tmp_path, X)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier(**KW).fit(M, y)
    X[row, 3] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        MLPClassifier(**KW).fit(memmap_of(tmp_path, X, name="inf.npy"), y)
    with pytest.raises(ValueError, match="Input X contains infinity"):
        fit_quietly(MLPClassifier(**KW), data[0], y).predict(Rows(X))


def test_float32_model_predicts_float64_rows_beyond_its_range_in_float64(tmp_path, data):
    X, y = data
    est = fit_quietly(MLPClassifier(**KW), X.astype(np.float32), y)
    X = X.copy()
    X[999, 0] = 1e39  # finite in float64, inf in float32: computed in float64, as in memory
    expected = est.predict_proba(X)
    assert expected.dtype == np.float64 and np.isfinite(expected).all()
    np.testing.assert_array_equal(est.predict_proba(memmap_of(tmp_path, X)), expected)


@pytest.mark.parametrize("call", ["warm_start", "partial_fit"])
def test_float32_model_refuses_to_train_on_float64_rows_beyond_its_range(tmp_path, data, call):
    X, y = data
    X32 = X.astype(np.float32)
    est = fit_quietly(MLPClassifier(**KW, warm_start=True), X32, y)
    before = (est._network.params.copy(), list(est.loss_curve_), est.n_iter_, est.t_)
    X = X.copy()
    X[999, 0] = 1e39  # finite in float64, inf in float32: as in memory, scikit-learn's error
    M = memmap_of(tmp_path, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # it warned of divergence, blaming the rate
        with pytest.raises(ValueError, match=r"infinity .*float32"):
            est.fit(M, y) if call == "warm_start" else est.partial_fit(M, y)
    np.testing.assert_array_equal(est._network.params, before[0])
    assert (list(est.loss_curve_), est.n_iter_, est.t_) == before[1:]


class FailingRows(Rows):
    """Rows whose reads fail after the first ``reads_left`` gathers (a disk gone)."""

    reads_left = None

    def __getitem__(self, key):
        if self.reads_left is not None and not isinstance(key, slice):
            if self.reads_left == 0:
                raise OSError("Input/output error")
            self.reads_left -= 1
        return super().__getitem__(key)


@pytest.mark.parametrize("call", ["warm_start", "partial_fit"])
def test_a_failed_read_mid_epoch_leaves_the_model_as_it_was(data, call):
    X, y = data
    rows = FailingRows(X)
    est = fit_quietly(MLPClassifier(**KW, warm_start=True), rows, y)
    adam = est._optimizer
    params, m, steps = est._network.params.copy(), adam.m.copy(), adam.t
    t, losses = est.t_, list(est.loss_curve_)
    rows.reads_left = 3  # a few segments train, then a read fails
    with pytest.raises(OSError, match="Input/output error"):
        est.fit(rows, y) if call == "warm_start" else est.partial_fit(rows, y)
    # the segments trained before the failure are taken back (and the optimizer's moments)
    np.testing.assert_array_equal(est._network.params, params)
    np.testing.assert_array_equal(adam.m, m)
    assert adam.t == steps
    assert (est.t_, est.loss_curve_) == (t, losses)


@pytest.fixture
def h5_dataset(tmp_path, data):
    """A function opening an h5py dataset of ``data``'s X (the file closed at teardown)."""
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "X.h5"
    with h5py.File(path, "w") as f:
        f["X"] = data[0]
    files = []

    def open_dataset():
        files.append(h5py.File(path, "r"))
        return files[-1]["X"]
    yield open_dataset
    for f in files:
        f.close()


@pytest.mark.parametrize("shape_read", [False, True])  # h5py caches it once read
@pytest.mark.parametrize("call", ["fit", "partial_fit", "warm_start", "predict", "score"])
def test_a_closed_h5py_dataset_is_named(h5_dataset, data, call, shape_read):
    X, y = data
    est = fit_quietly(MLPClassifier(**KW), X, y)
    before = est._network.params.copy(), list(est.loss_curve_)
    dataset = h5_dataset()
    if shape_read:
        assert dataset.shape == X.shape
    dataset.file.close()
    with pytest.raises(ValueError, match="X is a closed h5py dataset"):
        {"fit": lambda: MLPClassifier(**KW).fit(dataset, y),
         "partial_fit": lambda: est.partial_fit(dataset, y),
         "warm_start": lambda: est.set_params(warm_start=True).fit(dataset, y),
         "predict": lambda: est.predict(dataset),
         "score": lambda: est.score(dataset, y)}[call]()
    np.testing.assert_array_equal(est._network.params, before[0])
    assert est.loss_curve_ == before[1]


def test_an_h5py_dataset_closed_while_training_is_named(h5_dataset, data):
    X, y = data
    est = fit_quietly(MLPClassifier(**KW, warm_start=True), X, y)
    before = est._network.params.copy(), list(est.loss_curve_)
    dataset = h5_dataset()
    est.set_params(callbacks=lambda est, metrics: dataset.file.close())  # after epoch 1
    with pytest.raises(ValueError, match="X is a closed h5py dataset"):
        est.fit(dataset, y)
    np.testing.assert_array_equal(est._network.params, before[0])
    assert est.loss_curve_ == before[1]


def test_bad_shapes_fail_clearly(tmp_path, data):
    X, y = data
    with pytest.raises(ValueError, match="Expected 2D array"):
        MLPClassifier(**KW).fit(memmap_of(tmp_path, X[:, 0]), y)
    with pytest.raises(ValueError, match="0 sample"):
        MLPClassifier(**KW).fit(memmap_of(tmp_path, X[:0], name="empty.npy"), y[:0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MLPClassifier(**KW).fit(memmap_of(tmp_path, X), y[:-1])
    est = fit_quietly(MLPClassifier(**KW), X, y)
    with pytest.raises(ValueError, match="7 features"):
        est.predict(memmap_of(tmp_path, X[:, :7], name="narrow.npy"))


def test_refit_on_a_memmap_with_other_features(tmp_path, data):
    X, y = data
    est = fit_quietly(MLPClassifier(**KW), memmap_of(tmp_path, X), y)
    narrow = memmap_of(tmp_path, X[:, :5], name="narrow.npy")
    fit_quietly(est, narrow, y)  # a new fit, as in memory (it failed: "expecting 8 features")
    assert est.n_features_in_ == 5 and est.coefs_[0].shape == (5, 6)
    np.testing.assert_array_equal(est.predict_proba(narrow),
                                  fit_quietly(MLPClassifier(**KW), X[:, :5], y).predict_proba(
                                      X[:, :5]))
    with pytest.raises(ValueError, match="X has 8 features, but MLPClassifier is expecting 5"):
        est.partial_fit(memmap_of(tmp_path, X), y)


def test_copy_on_write_map_is_read_through_its_mapping(tmp_path, data):
    X, y = data
    private = memmap_of(tmp_path, X, mode="c", name="c.npy")
    private[:500] *= -1.0  # private changes, not in the file
    assert type(_outofcore.row_source(private)) is _outofcore.RowSource
    expected = fit_quietly(MLPClassifier(**KW), np.array(private), y)
    np.testing.assert_array_equal(fit_quietly(MLPClassifier(**KW), private, y).loss_curve_,
                                  expected.loss_curve_)


def test_file_rows_reads_views_and_unsorted_rows(tmp_path, data):
    X, _ = data
    M = memmap_of(tmp_path, X)
    view = M[100:900]
    source = _outofcore.row_source(view)
    assert type(source) is _outofcore.FileRows
    rows = np.array([5, 6, 7, 799, 0, 400, 3])
    np.testing.assert_array_equal(source.take(rows), X[100:900][rows])
    np.testing.assert_array_equal(source[10:20], X[110:120])
    np.testing.assert_array_equal(source.with_dtype(np.float32)[0:3], X[100:103].astype(np.float32))


def test_what_counts_as_out_of_core(tmp_path, data):
    X, _ = data
    pd = pytest.importorskip("pandas")
    assert _outofcore.is_out_of_core(memmap_of(tmp_path, X))
    assert _outofcore.is_out_of_core(np.asarray(memmap_of(tmp_path, X))[::2])
    assert type(_outofcore.row_source(memmap_of(tmp_path, X)[:, ::2])) is _outofcore.RowSource
    assert _outofcore.is_out_of_core(Rows(X))
    assert not _outofcore.is_out_of_core(X)
    assert not _outofcore.is_out_of_core(X.tolist())
    assert not _outofcore.is_out_of_core(pd.DataFrame(X))


# ----------------------------------------------------------------- memory budget
_MEASURE = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import fastnn

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    warnings.simplefilter("ignore")
    params = dict(hidden_layer_sizes=(16,), batch_size=200, max_iter=2, random_state=0,
                  n_threads=1)
    warm = np.random.default_rng(0).standard_normal((300, 128)).astype(np.float32)
    fastnn.MLPClassifier(**params).fit(warm, warm[:, 0] > 0)  # load the kernels first
    X = np.load(sys.argv[1], mmap_mode="r")
    y = np.load(sys.argv[2])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set (VmHWM) to the current one
    base = status("VmRSS")
    if sys.argv[3] == "memory":
        X = np.array(X)
    est = fastnn.MLPClassifier(**params).fit(X, y)
    print(json.dumps({"base": base, "peak": status("VmHWM"), "loss": est.loss_curve_}))
""")


def _measure(X_path, y_path, mode):
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(X_path), str(y_path), mode],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memmap_larger_than_the_memory_budget(tmp_path):
    """A 150 MB file trains within a budget of half its size, to the in-memory loss.

    The peak resident set counts the pages of a mapping a process touches:
    reading the file (not the mapping) keeps it at one segment of rows.
    """
    n, m = 300_000, 128
    X_path, y_path = tmp_path / "X.npy", tmp_path / "y.npy"
    X = np.lib.format.open_memmap(X_path, mode="w+", dtype=np.float32, shape=(n, m))
    rng = np.random.default_rng(1)
    w = rng.standard_normal(m).astype(np.float32)
    y = np.empty(n, np.int64)
    for start in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - start), m), dtype=np.float32)
        X[start:start + block.shape[0]] = block
        y[start:start + block.shape[0]] = block @ w > 0
    X.flush()
    del X
    np.save(y_path, y)
    file_size = n * m * 4
    budget = file_size // 2

    mapped = _measure(X_path, y_path, "memmap")
    loaded = _measure(X_path, y_path, "memory")
    assert mapped["peak"] - mapped["base"] < budget, mapped
    assert loaded["peak"] - loaded["base"] > file_size, loaded  # the budget does bite
    np.testing.assert_allclose(mapped["loss"], loaded["loss"], rtol=1e-12)
    assert mapped["loss"][-1] < 0.3


@pytest.mark.parametrize("call", ["fit", "predict"])
def test_memmap_with_infinities_of_both_signs_raises_without_a_stray_warning(tmp_path, call):
    """scikit-learn's finite check of each block sums it first: +inf plus -inf warned
    "invalid value encountered in reduce" before the error naming them."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 3)), rng.standard_normal(40)
    model = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 2 epochs
        model.fit(X, y)
    X[0, 0], X[1, 1] = np.inf, -np.inf
    M = memmap_of(tmp_path, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(ValueError, match=r"contains infinity"):
            model.fit(M, y) if call == "fit" else model.predict(M)
