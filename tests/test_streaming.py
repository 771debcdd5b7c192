"""fastnn.iter_batches / fastnn.fit_stream: files bigger than memory, a block at a time."""
import gzip
import re
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import streaming


@pytest.fixture
def table(rng):
    X = np.round(rng.standard_normal((230, 4)), 6)
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    return X, y


def write_csv(path, X, y, header=True, opener=open):
    with opener(path, "wt") as f:
        if header:
            f.write("a,b,c,d,label\n")
        for row, label in zip(X, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")


def collect(blocks):
    Xs, ys = zip(*blocks)
    return np.vstack(Xs), np.concatenate(ys), [len(b) for b in Xs]


@pytest.mark.parametrize("header", [True, False])
def test_csv_blocks_match_the_file(tmp_path, table, header):
    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y, header=header)
    target = "label" if header else -1
    got_X, got_y, sizes = collect(fastnn.iter_batches(path, 100, target=target))
    np.testing.assert_allclose(got_X, X, atol=1e-6)
    np.testing.assert_array_equal(got_y, y)
    assert sizes == [100, 100, 30]


def test_csv_without_pandas_reads_the_same(hide_pandas, tmp_path, table):
    X, y = table
    path = tmp_path / "t.csv.gz"
    write_csv(path, X, y, opener=gzip.open)
    hide_pandas()
    got_X, got_y, sizes = collect(fastnn.iter_batches(path, 64, target="label",
                                                      dtype=np.float32))
    assert got_X.dtype == np.float32 and sizes == [64, 64, 64, 38]
    np.testing.assert_allclose(got_X, X, atol=1e-6)
    np.testing.assert_array_equal(got_y, y)


def test_npy_and_arrays(tmp_path, table):
    X, y = table
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    got_X, got_y, sizes = collect(fastnn.iter_batches(tmp_path / "X.npy", 100,
                                                      y=tmp_path / "y.npy"))
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    both = np.column_stack([X, y])
    got_X, got_y, _ = collect(fastnn.iter_batches(both, 50, target=4, dtype=np.float32))
    np.testing.assert_array_equal(got_X, X.astype(np.float32))
    np.testing.assert_array_equal(got_y, y)
    blocks = list(fastnn.iter_batches(X, 100))  # no targets: X blocks alone
    assert [b.shape for b in blocks] == [(100, 4), (100, 4), (30, 4)]


def test_parquet(tmp_path, table):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X, y = table
    columns = {name: X[:, i] for i, name in enumerate("abcd")}
    pq.write_table(pa.table({**columns, "label": y}), tmp_path / "t.parquet")
    got_X, got_y, sizes = collect(fastnn.iter_batches(tmp_path / "t.parquet", 100,
                                                      target="label"))
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    assert sum(sizes) == 230


def test_bad_arguments(tmp_path, table):
    X, y = table
    with pytest.raises(ValueError, match="batch_size"):
        next(fastnn.iter_batches(X, 0))
    with pytest.raises(ValueError, match="cannot read"):
        next(fastnn.iter_batches(tmp_path / "t.xlsx"))
    with pytest.raises(ValueError, match="no column named"):
        path = tmp_path / "t.csv"
        write_csv(path, X, y)
        next(fastnn.iter_batches(path, target="nope"))
    with pytest.raises(ValueError, match="rows but y has"):
        next(fastnn.iter_batches(X, 10, y=y[:-1]))
    with pytest.raises(ValueError, match="needs targets"):
        fastnn.fit_stream(fastnn.MLPRegressor(), X)


def test_fit_stream_equals_partial_fit_over_the_blocks(tmp_path, table):
    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y)
    params = dict(hidden_layer_sizes=(5,), random_state=0, learning_rate_init=0.01)
    streamed = fastnn.fit_stream(fastnn.MLPClassifier(**params), path, target="label",
                                 batch_size=100, epochs=3)  # classes found by a first pass
    by_hand = fastnn.MLPClassifier(**params)
    Xr = np.loadtxt(path, delimiter=",", skiprows=1)
    for _ in range(3):
        for start in range(0, 230, 100):
            by_hand.partial_fit(Xr[start:start + 100, :4], Xr[start:start + 100, 4],
                                classes=[0.0, 1.0])
    np.testing.assert_array_equal(streamed.classes_, [0, 1])
    assert streamed.loss_curve_ == by_hand.loss_curve_
    assert len(streamed.loss_curve_) == 9


@pytest.mark.parametrize("reader", ["pandas", "csv module", "parquet"])
def test_fit_stream_keeps_integer_labels_of_a_file_integers(hide_pandas, tmp_path, table,
                                                            reader):
    """Integer labels next to float features: classes_ are integers, as scikit-learn's fit on
    the file read by pandas gives (reading the rows as one float array made them 0., 1.)."""
    from sklearn.neural_network import MLPClassifier

    pd = pytest.importorskip("pandas")
    X, y = table
    frame = pd.DataFrame(X, columns=list("abcd")).assign(label=y)
    if reader == "parquet":
        pytest.importorskip("pyarrow")
        path = tmp_path / "t.parquet"
        frame.to_parquet(path)
    else:
        path = tmp_path / "t.csv"
        write_csv(path, X, y)
    expected = MLPClassifier(hidden_layer_sizes=(2,), max_iter=1).fit(
        frame[list("abcd")], pd.read_csv(path)["label"] if reader != "parquet"
        else pd.read_parquet(path)["label"]).classes_
    if reader == "csv module":
        hide_pandas()
    for classes in (None, [0, 1]):  # found by the first pass, or given
        model = fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                                  target="label", batch_size=100, classes=classes)
        assert model.classes_.dtype.kind == expected.dtype.kind == "i"
        np.testing.assert_array_equal(model.classes_, expected)
        assert model.predict(X.astype(np.float32)).dtype.kind == "i"


def test_fit_stream_checks_classes_given_for_a_fitted_classifier(table):
    """classes= for a classifier fitted before goes to partial_fit, which checks it against
    classes_ (it was ignored without a word); the same classes train on."""
    X, y = table
    model = fastnn.MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    fastnn.fit_stream(model, X, y=y, batch_size=100)
    params, curve = model._network.params.copy(), list(model.loss_curve_)
    with pytest.raises(ValueError, match="block 1.*classes"):
        fastnn.fit_stream(model, X, y=y, batch_size=100, classes=[0, 1, 2])
    np.testing.assert_array_equal(model._network.params, params)  # refused before any update
    assert model.loss_curve_ == curve
    fastnn.fit_stream(model, X, y=y, batch_size=100, classes=model.classes_)
    assert len(model.loss_curve_) == len(curve) + 3


def test_fit_stream_progress_bar(table, capsys):
    pytest.importorskip("tqdm")
    X, y = table
    est = fastnn.fit_stream(fastnn.MLPRegressor(hidden_layer_sizes=(3,), random_state=0), X,
                            y=y.astype(float), batch_size=100, epochs=2, progress=True)
    assert len(est.loss_curve_) == 6  # one partial_fit per block (n_iter_ is 1, as scikit-learn)
    assert "rows" in capsys.readouterr().err


def test_progress_off_a_terminal_counts_whole_rows_and_keeps_each_pass(tmp_path, table,
                                                                       capsys):
    """Piped or logged, the bar showed "0.00rows" (tqdm's unit_scale formats counts under
    1000 as decimals) and each pass's last state was overwritten by spaces."""
    pytest.importorskip("tqdm")
    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y)
    model = fastnn.MLPClassifier(hidden_layer_sizes=(3,), random_state=0)
    fastnn.fit_stream(model, path, target="label", batch_size=100, epochs=2, progress=True)
    err = capsys.readouterr().err  # not a terminal
    lines = [line.split("\r")[-1] for line in err.split("\n") if line]
    assert "0.00" not in err and "rows" in err
    assert [line.split(" [")[0] for line in lines] == ["epoch 1/2: 230 rows",
                                                       "epoch 2/2: 230 rows"]
    list(fastnn.iter_batches(X, 100, y=y, progress=True, desc="array"))  # 230 rows known
    assert capsys.readouterr().err.split("\r")[-1].split(" [")[0].endswith(
        "| 230/230 rows")


def test_suffix_of_compressed_files():
    assert streaming._suffix("a/b.CSV.gz") == ".csv"
    assert streaming._suffix("x.parquet") == ".parquet"


def test_fastnn_train_chunk_size_streams_the_file(tmp_path, table, capsys):
    from fastnn import load
    from fastnn.__main__ import main

    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y)
    out = tmp_path / "m.model.npz"
    assert main(["train", str(path), "--chunk-size", "100", "--max-iter", "2",
                 "--hidden-layer-sizes", "4", "--random-state", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "classification" in printed and "2 passes" in printed
    model = load(out)
    assert len(model.loss_curve_) == 6  # 2 passes x 3 blocks (n_iter_ is the last call's)
    by_hand = fastnn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    Xr = np.loadtxt(path, delimiter=",", skiprows=1)
    for _ in range(2):
        for start in range(0, 230, 100):
            by_hand.partial_fit(Xr[start:start + 100, :4].astype(np.float32),
                                Xr[start:start + 100, 4].astype(np.int64), classes=[0, 1])
    np.testing.assert_allclose(model.loss_curve_, by_hand.loss_curve_, rtol=1e-6)


@pytest.mark.parametrize("make", [fastnn.MLPClassifier, fastnn.MLPRegressor])
def test_fit_stream_rejects_an_empty_source(make, tmp_path):
    with pytest.raises(ValueError, match=r"has no rows: found 0 sample\(s\)"):
        fastnn.fit_stream(make(hidden_layer_sizes=(4,)), np.empty((0, 3)), y=np.empty(0))
    header_only = tmp_path / "t.csv"
    header_only.write_text("a,b,label\n")
    assert list(fastnn.iter_batches(header_only, target="label")) == []  # no empty block
    with pytest.raises(ValueError, match="'.*t.csv' has no rows"):
        fastnn.fit_stream(make(hidden_layer_sizes=(4,)), header_only, target="label",
                          classes=[0, 1] if make is fastnn.MLPClassifier else None)


@pytest.mark.parametrize("kwargs, message", [
    (dict(source=np.ones(5)), "2-D"),
    (dict(source=np.ones((10, 3)), y=np.ones(9)), "10 rows but y has 9"),
    (dict(source=np.ones((10, 3)), target=5), "out of range"),
    (dict(source=np.ones((10, 3)), target="a"), "no column named 'a'"),
])
def test_iter_batches_checks_an_array_source_when_called(kwargs, message):
    with pytest.raises(ValueError, match=message):
        streaming.iter_batches(**kwargs)  # not at the first next(): the docstring's promise


def test_iter_batches_takes_a_list_of_rows():
    blocks = list(streaming.iter_batches([[1, 2], [3, 4], [5, 6]], batch_size=2))
    np.testing.assert_array_equal(np.vstack(blocks), [[1, 2], [3, 4], [5, 6]])


@pytest.mark.parametrize("dtype", [np.int32, bool, "U3", np.float16, "no such dtype"])
def test_iter_batches_rejects_non_float_dtypes(table, dtype):
    X, y = table
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        fastnn.iter_batches(X, 2, y=y, dtype=dtype)  # at the call, not at the first block


@pytest.mark.parametrize("target", [1.9, 1.0, True, np.bool_(True), [1]])
def test_iter_batches_rejects_non_integer_targets(table, target):
    X, _ = table
    with pytest.raises(TypeError, match="target must be a column name"):
        fastnn.iter_batches(X, 2, target=target)


def test_iter_batches_takes_numpy_integer_targets_and_dtype_names(table):
    X, _ = table
    got_X, got_y = next(fastnn.iter_batches(X, 2, target=np.int64(-1), dtype="float32"))
    assert got_X.dtype == np.float32
    np.testing.assert_array_equal(got_X, X[:2, :3].astype(np.float32))
    np.testing.assert_array_equal(got_y, X[:2, 3])


def test_fit_stream_error_names_the_block_and_keeps_earlier_updates(table):
    X, y = table
    X = X.copy()
    X[215, 2] = np.nan  # block 3 of blocks of 100 rows
    params = dict(hidden_layer_sizes=(5,), random_state=0)
    streamed = fastnn.MLPClassifier(**params)
    with pytest.raises(ValueError, match=r"^fit_stream: block 3 \(rows 200 to 229, counted "
                                         r"from 0\): feature column 2 is missing \(NaN\) on "
                                         r"row 215$") as caught:
        fastnn.fit_stream(streamed, X, y=y, batch_size=100, classes=[0, 1])
    assert type(caught.value.__cause__) is ValueError
    assert "block" not in str(caught.value.__cause__)
    by_hand = fastnn.MLPClassifier(**params)  # stream semantics: blocks 1 and 2 stay learnt
    for start in (0, 100):
        by_hand.partial_fit(X[start:start + 100], y[start:start + 100], classes=[0, 1])
    assert streamed.loss_curve_ == by_hand.loss_curve_ and len(streamed.loss_curve_) == 2
    with pytest.raises(ValueError, match=r"^fit_stream: pass 1/2, block 3 "):
        fastnn.fit_stream(fastnn.MLPRegressor(**params), X, y=y.astype(float), batch_size=100,
                          epochs=2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_stream_names_the_block_of_a_nonfinite_label_when_it_finds_the_classes(bad, table):
    """Without classes=, the pass that finds them took NaN for a class, and the first
    partial_fit failed on classes_ as 'block 1 (rows 0 to 99)': the label is in block 3."""
    X, y = table
    y = y.astype(float)
    y[215] = bad
    with pytest.raises(ValueError, match=r"^fit_stream: block 3 \(rows 200 to 229, counted "
                                         r"from 0\): the label on row 215 is (missing|infinite)"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(5,)), X, y=y,
                          batch_size=100)


@pytest.mark.parametrize("header", [True, False])
def test_csv_cell_that_is_not_a_number_is_named(tmp_path, table, header):
    """With pandas, a text cell in a feature column failed as numpy's 'could not convert
    string to float: 'x'', naming neither the file, the column nor the row."""
    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y, header=header)
    lines = path.read_text().splitlines()
    cells = lines[150 + header].split(",")
    cells[1] = "x"
    lines[150 + header] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    column = "'b'" if header else "1"
    after = " after the header" if header else ""
    with pytest.raises(ValueError, match=rf"t.csv: feature column {column} is not numeric: "
                                         rf"'x' on row 151 \(rows counted from 1{after}\)"):
        list(fastnn.iter_batches(path, 100, target=-1))


def test_parquet_cell_that_is_not_a_number_is_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": ["1", "2", "x"], "y": [0, 1, 0]}), path)
    with pytest.raises(ValueError, match=r"t.parquet: feature column 'b' is not numeric: 'x' "
                                         r"on row 3 \(rows counted from 1 after the header\)"):
        list(fastnn.iter_batches(path, 2, target="y"))


def test_fit_stream_keeps_an_exception_type_it_cannot_rebuild(table):
    class Picky(ValueError):
        def __init__(self, code, detail):
            super().__init__(f"{code}: {detail}")

    class Failing(fastnn.MLPRegressor):
        def partial_fit(self, X, y, **kwargs):
            raise Picky(7, "bad block")

    X, y = table
    with pytest.raises(Picky, match="bad block") as caught:
        fastnn.fit_stream(Failing(), X, y=y, batch_size=100)
    assert caught.value.__notes__ == ["fit_stream: block 1 (rows 0 to 99, counted from 0)"]


# ------------------------------------------- fastnn train --chunk-size: bad input
def _chunk_error(argv, capsys):
    from fastnn.__main__ import main

    assert main(["train", *argv, "--max-iter", "1", "--hidden-layer-sizes", "4"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn train: error:") and "Traceback" not in err
    return err


def test_chunked_training_rejects_lbfgs_and_bad_chunk_sizes(tmp_path, capsys):
    from fastnn.__main__ import main

    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    # two options that do not go together: a usage error (exit status 2) before any reading
    for argv in (["--chunk-size", "4", "--solver", "lbfgs"],
                 ["--solver", "lbfgs", "--chunk-size", "4"]):
        with pytest.raises(SystemExit) as exc:
            main(["train", str(tmp_path / "missing.csv"), *argv])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "fastnn train: error: argument --solver: --chunk-size trains" in err
        assert "solver 'lbfgs' cannot" in err
    # it failed as partial_fit's 'does not support early_stopping=True', after the pass
    # over the whole file that finds the classes
    with pytest.raises(SystemExit) as exc:
        main(["train", str(tmp_path / "missing.csv"), "--chunk-size", "4", "--early-stopping"])
    assert exc.value.code == 2
    assert "fastnn train: error: argument --early-stopping: --chunk-size trains with " \
           "partial_fit, which holds no rows out" in capsys.readouterr().err
    for size in ("0", "-5"):  # a usage error while parsing (exit status 2)
        with pytest.raises(SystemExit) as exc:
            main(["train", str(path), "--chunk-size", size])
        assert exc.value.code == 2
        assert "argument --chunk-size: expected an integer >= 1" in capsys.readouterr().err


def test_chunked_training_refuses_class_weight_for_a_regression_target(tmp_path, capsys):
    """MLPRegressor(class_weight=...) was a TypeError traceback; without --chunk-size it is
    this error line."""
    from fastnn.__main__ import main

    path = tmp_path / "r.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i * 0.37}\n" for i in range(10)))
    err = _chunk_error([str(path), "--chunk-size", "4", "--class-weight", "balanced"], capsys)
    assert "--class-weight applies to classification only" in err
    for chunk in ([], ["--chunk-size", "4"]):  # --task regression: known before reading
        with pytest.raises(SystemExit) as exc:
            main(["train", str(tmp_path / "missing.csv"), "--class-weight", "balanced",
                  "--task", "regression", *chunk])
        assert exc.value.code == 2
        assert "error: argument --class-weight: applies to classification only, not to " \
            "--task regression" in capsys.readouterr().err


@pytest.mark.parametrize("passes", ["0", "-2"])
def test_chunked_training_rejects_fewer_than_one_pass(passes, tmp_path, capsys):
    """--max-iter 0 trained nothing and crashed with UnboundLocalError scoring the last
    block, a traceback instead of an error line."""
    from fastnn.__main__ import main

    path = tmp_path / "d.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    with pytest.raises(SystemExit) as exc:  # a usage error while parsing (exit status 2)
        main(["train", str(path), "--chunk-size", "4", "--max-iter", passes])
    assert exc.value.code == 2
    assert "fastnn train: error: argument --max-iter: max_iter ==" in capsys.readouterr().err
    assert not (tmp_path / "d.model.npz").exists()


@pytest.mark.parametrize("name, weight", [("y.csv", []), ("w.csv", ["--sample-weight", "w"]),
                                          ("y.npy", [])])
def test_chunked_training_on_a_file_without_feature_columns(name, weight, tmp_path, capsys):
    """It was numpy's "at least one array or dtype is required" from partial_fit."""
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, np.array([[0.0], [1.0], [1.0]]))
    else:
        path.write_text(("w,y\n1,0\n1,1\n1,1\n" if weight else "y\n0\n1\n1\n"))
    err = _chunk_error([str(path), "--chunk-size", "2", *weight], capsys)
    assert f"{path} has no feature columns" in err


def test_chunked_training_on_empty_or_header_only_files(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b,y\n")
    assert "is empty" in _chunk_error([str(tmp_path / "empty.csv"), "--chunk-size", "4"],
                                      capsys)
    assert "has no data rows" in _chunk_error(
        [str(tmp_path / "header.csv"), "--chunk-size", "4"], capsys)


def test_chunked_training_rejects_missing_and_fractional_labels(tmp_path, capsys):
    rows = "".join(f"{i},{i % 2}\n" for i in range(8))
    (tmp_path / "late.csv").write_text("a,y\n" + rows + "8,0.5\n9,1.5\n")
    err = _chunk_error([str(tmp_path / "late.csv"), "--chunk-size", "4"], capsys)
    assert "non-integer values (e.g. 0.5 on row 9" in err  # the first block was integral
    (tmp_path / "gap.csv").write_text("a,y\n" + rows + "8,\n9,1\n")
    err = _chunk_error([str(tmp_path / "gap.csv"), "--chunk-size", "4"], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 9" in err
    (tmp_path / "nan.csv").write_text("a,y\n" + rows + "8,nan\n9,1\n")
    err = _chunk_error([str(tmp_path / "nan.csv"), "--chunk-size", "4"], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 9" in err


def test_chunked_training_parquet_null_string_target(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": [float(i) for i in range(6)],
                             "y": ["x", "z", "x", "z", None, "x"]}), tmp_path / "s.parquet")
    err = _chunk_error([str(tmp_path / "s.parquet"), "--chunk-size", "2"], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 5" in err


def test_chunked_model_predicts_its_own_csv_with_spaces_and_bom(tmp_path, capsys):
    from fastnn import load
    from fastnn.__main__ import main

    body = "".join(f"{i} , {i % 3} , {i % 2}\n" for i in range(12))
    path = tmp_path / "s.csv"
    path.write_bytes((" a , b c , y \n" + body).encode("utf-8-sig"))
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--chunk-size", "5", "--max-iter", "1",
                 "--hidden-layer-sizes", "4", "--target", "y", "--out", str(out)]) == 0
    assert list(load(out).feature_names_in_) == ["a", "b c"]
    capsys.readouterr()
    assert main(["predict", str(out), str(path)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 13


# ------------------------------------------- values beyond float32's range
@pytest.mark.parametrize("header", [True, False])
def test_a_csv_value_beyond_float32_is_named(csv_reader, tmp_path, capsys, header):
    """Read as float32, 1e39 became inf with NumPy's "overflow encountered in cast" warning,
    and the estimator's error named no file, row or column."""
    path = tmp_path / "t.csv"
    path.write_text(("a,b,label\n" if header else "") + "1,2,0\n3,4,1\n5,-1e39,0\n6,7,1\n")
    column = "'b'" if header else "1"
    after = " after the header" if header else ""
    message = (rf"t.csv: feature column {column} is beyond the range of float32: '-1e\+39' on "
               rf"row 3 \(rows counted from 1{after}\)")
    target = "label" if header else -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray RuntimeWarning either
        for batch_size in (2, 10):
            with pytest.raises(ValueError, match=message):
                list(fastnn.iter_batches(path, batch_size, target=target, dtype=np.float32))
        with pytest.raises(ValueError, match=message):
            fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                              target=target, dtype=np.float32, batch_size=2)
        # float64 reads it as it is
        X = np.vstack([b[0] for b in fastnn.iter_batches(path, 2, target=target)])
        assert X[2, 1] == -1e39
    if header and csv_reader == "pandas":
        err = _chunk_error([str(path), "--chunk-size", "2", "--dtype", "float32"], capsys)
        # as without --chunk-size; it gave the Python API's hint, dtype=np.float64
        assert err.endswith("t.csv: feature column 'b' is beyond the range of float32: -1e+39 "
                            "on row 3 (rows counted from 1 after the header); rescale it or use "
                            "--dtype float64\n")
        assert "Warning" not in err


def test_a_parquet_or_array_value_beyond_float32_is_named(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "y": [0, 1, 0], "b": [1.0, 2.0, 4e38]}), path)
    X = np.array([[1.0, 0.0, 1.0], [2.0, 1.0, 2.0], [3.0, 0.0, 4e38]])
    np.save(tmp_path / "t.npy", X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"t.parquet: feature column 'b' is beyond the "
                                             r"range of float32: '4e\+38' on row 3 \(rows "
                                             r"counted from 1 after the header\)"):
            list(fastnn.iter_batches(path, 2, target="y", dtype=np.float32))
        for source, prefix in ((X, "^"), (tmp_path / "t.npy", "t.npy: ")):
            with pytest.raises(ValueError, match=rf"{prefix}feature column 2 is beyond the "
                                                 rf"range of float32: '4e\+38' on row 2 "
                                                 rf"\(rows counted from 0\)"):
                list(fastnn.iter_batches(source, 2, target=1, dtype=np.float32))


def test_an_iterator_source_is_a_type_error(table):
    """A generator of blocks failed as "the source must be 2-D (n_samples, n_columns), got
    shape ()": np.asarray made a 0-d object array of it."""
    X, y = table

    def blocks():
        yield from np.array_split(np.column_stack([X, y]), 3)

    for call in (lambda: fastnn.iter_batches(blocks(), 10, target=-1),
                 lambda: fastnn.fit_stream(fastnn.MLPClassifier(), blocks(), target=-1,
                                           epochs=2),
                 lambda: fastnn.fit_stream(fastnn.MLPClassifier(), iter(X), y=y)):
        with pytest.raises(TypeError, match=r"the source must be a file name or a 2-D array "
                                            r"with row slicing, not an iterator \((generator|"
                                            r"iterator)\)"):
            call()


def test_a_parquet_time_column_is_named(tmp_path):
    """A timestamp or duration feature column failed in np.column_stack with NumPy's
    DTypePromotionError, naming neither the file nor the column."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    path = tmp_path / "t.parquet"
    when = np.array(["2020-01-01", "2021-01-01", "2022-01-01"], dtype="datetime64[ns]")
    for column, shown in ((when, r"datetime64\[ns\]"), (when - when[0], r"timedelta64\[ns\]")):
        pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "when": column, "y": [0, 1, 0]}), path)
        with pytest.raises(ValueError, match=rf"t.parquet: feature column 'when' is not "
                                             rf"numeric: it holds {shown} values"):
            list(fastnn.iter_batches(path, 2, target="y"))
        # a label column of timestamps is read as it is (the features are numbers)
        pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "y": column}), path)
        (X, y), = fastnn.iter_batches(path, 5, target="y")
        assert X.tolist() == [[1.0], [2.0], [3.0]] and y.dtype.kind in "mM"


@pytest.mark.parametrize("header", [True, False])
def test_a_row_of_another_width_mid_file_is_named_by_its_line(csv_reader, tmp_path, header):
    """pandas read a short row with NaN in its missing fields (the csv-module reader named
    its line), and named a long one as "Error tokenizing data. C error: Expected 3 fields
    in line 6, saw 4"; blank lines and a missing last value stay what they were."""
    path = tmp_path / "t.csv"
    first = "label,a,b\n" if header else ""
    whose = r" \(the header's\)" if header else ""
    for bad, fields in (("0,5", 2), ("0,5,6,7", 4)):
        short = "1,3," if csv_reader == "pandas" else "1,3,4"
        rows = ["0,1,2", "1,3,4", "", short, "   ", bad, "1,7,8"]
        path.write_text(first + "\n".join(rows) + "\n")
        line = 6 + header
        for batch_size in (2, 100):
            with pytest.raises(ValueError, match=rf"t.csv, line {line}: {fields} fields, "
                                                 rf"expected 3{whose}$"):
                list(fastnn.iter_batches(path, batch_size, target=0))
    if csv_reader != "pandas":  # which reads no missing value
        return
    path.write_text(first + "0,1,2\n\n1,3,\n  \n0,5,6\n")
    X, y, sizes = collect(fastnn.iter_batches(path, 2, target=0))
    np.testing.assert_array_equal(X, [[1, 2], [3, np.nan], [5, 6]])
    assert y.tolist() == [0, 1, 0] and sizes == [2, 1]


def test_a_dataframe_source_reads_its_columns_by_name(tmp_path):
    """A pandas DataFrame failed as "AttributeError: 'DataFrame' object has no attribute
    'dtype'"; it is read as a Parquet file is: columns by name, labels in their own dtype."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.0, 2, 3], "w": [1.0, 2, 0.5], "n": pd.array([1, None, 3]),
                          "label": ["x", "y", "x"]}, index=[10, 11, 12])
    blocks = list(fastnn.iter_batches(frame, 2, target="label", dtype=np.float32))
    np.testing.assert_array_equal(blocks[0][0], np.array([[1, 1, 1], [2, 2, np.nan]],
                                                         np.float32))
    assert [y.tolist() for _, y in blocks] == [["x", "y"], ["x"]]
    (X, y), = fastnn.iter_batches(frame[["a", "n"]], 5, y=frame["label"])
    assert X.shape == (3, 2) and y.tolist() == ["x", "y", "x"]
    model = fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)),
                              frame.drop(columns="n"), target="label", sample_weight="w",
                              batch_size=2)
    assert model.classes_.tolist() == ["x", "y"] and model.n_features_in_ == 1
    with pytest.raises(ValueError, match=r"^feature column 'a' is not numeric: 'b' on row 1 "
                                         r"\(rows counted from 0\)"):
        list(fastnn.iter_batches(frame.assign(a=["1", "b", "2"]), 2, target="label"))
    with pytest.raises(ValueError, match=r"no column named 'z'; columns: \['a', 'w'"):
        fastnn.iter_batches(frame, 2, target="z")  # at the call


def test_a_column_name_for_an_array_says_columns_are_numbered(tmp_path, table):
    """It said "no column named 'label'; columns: None"."""
    X, y = table
    path = tmp_path / "t.csv"
    write_csv(path, X, y, header=False)
    for source, options in ((X, {}), (path, dict(header=False))):
        with pytest.raises(ValueError, match=r"no column named 'label': the columns have no "
                                             r"names .*give the column's position"):
            list(fastnn.iter_batches(source, 100, target="label", **options))


def test_a_text_cell_of_an_array_is_named(table):
    """It failed as NumPy's "could not convert string to float: np.str_('x')"."""
    X, y = table
    text = np.column_stack([X, y]).astype(str)
    text[150, 2] = "x"
    with pytest.raises(ValueError, match=r"^feature column 2 is not numeric: 'x' on row 150 "
                                         r"\(rows counted from 0\)"):
        list(fastnn.iter_batches(text, 100, target=-1))


def test_fastnn_train_chunk_size_with_a_last_block_of_one_row(tmp_path, table, capsys):
    """A regression's last block of one row printed "R^2 nan on the last block" after
    scikit-learn's UndefinedMetricWarning."""
    from fastnn.__main__ import main

    X, _ = table
    path = tmp_path / "t.npy"
    np.save(path, X[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["train", str(path), "--chunk-size", "2", "--max-iter", "1",
                     "--hidden-layer-sizes", "2", "--out", str(tmp_path / "m.npz")]) == 0
    printed = capsys.readouterr().out
    assert "R^2 undefined on the last block's 1 row (training rows: --chunk-size holds none " \
           "out)" in printed and "nan" not in printed


def test_fastnn_train_chunk_size_names_a_target_beyond_float32(tmp_path, capsys):
    """A regression target of 1e39 with --dtype float32 gave NumPy's "overflow encountered
    in cast" warning, then "Input y contains infinity or a value too large for
    dtype('float32')", naming no file, column or row."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,0.5\n3,4,1.5\n5,6,-1e39\n7,8,2\n")
    from fastnn.__main__ import main

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["train", str(path), "--chunk-size", "2", "--dtype", "float32",
                     "--max-iter", "1", "--hidden-layer-sizes", "2"]) == 1
    err = capsys.readouterr().err  # after the progress bar of the pass that met it
    assert "fastnn train: error: " in err and "Warning" not in err
    assert ("t.csv: target column 'y' is beyond the range of float32: -1e+39 on row 3 (rows "
            "counted from 1 after the header); rescale it or use --dtype float64\n") in err


@pytest.mark.parametrize("missing, shown", [(np.nan, "nan"), ("NA", "<NA>")])
@pytest.mark.parametrize("classes", [None, ["x", "y"]])
def test_a_missing_label_of_a_dataframe_is_named_by_its_row(missing, shown, classes):
    """NaN in an object column failed as "'<' not supported between instances of 'str'
    and 'float'" (or, with classes=, "'float' object has no attribute 'tolist'"); pandas'
    NA as "boolean value of NA is ambiguous"."""
    pd = pytest.importorskip("pandas")
    labels = ["x", "y", missing, "x"]
    if missing == "NA":
        labels = pd.array(["x", "y", None, "x"], dtype="string")
    frame = pd.DataFrame({"a": [1.0, 2, 3, 4], "label": labels})
    with pytest.raises(ValueError, match=rf"^fit_stream: block 2 \(rows 2 to 3, counted from "
                                         rf"0\): the label on row 2 is missing \({shown}\)"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), frame,
                          target="label", batch_size=2, classes=classes)
    with pytest.raises(ValueError, match=r"the label 'z' on row 3 is not one of the classes"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)),
                          frame.assign(label=["x", "y", "x", "z"]), target="label",
                          batch_size=2, classes=["x", "y"])


@pytest.mark.parametrize("header", [True, False])
def test_the_csv_module_reads_missing_features_and_names_text_as_pandas(csv_reader, tmp_path,
                                                                       header):
    """Without pandas an empty or NA feature cell was "line 3: not a number in ['', '2']"
    (pandas reads NaN), and a text cell was named by its line, not its column and row.
    Each reader gives the same values (those pandas reads) and the same message."""
    path = tmp_path / "t.csv"
    first = "label,a,b\n" if header else ""
    path.write_text(first + "0,1,2\n1,,2\n0,NA,3\n1,4,nan\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(first + "0,1,2\n1,3,4\n0,5,x\n")
    after = " after the header" if header else ""
    column = "'b'" if header else "2"
    X, y = collect(fastnn.iter_batches(path, 2, target=0))[:2]
    with pytest.raises(ValueError, match=rf"bad.csv: feature column {column} is not "
                                         rf"numeric: 'x' on row 3 \(rows counted from "
                                         rf"1{after}\)$"):
        list(fastnn.iter_batches(bad, 2, target=0))
    np.testing.assert_array_equal(X, [[1, 2], [np.nan, 2], [np.nan, 3], [4, np.nan]])
    assert y.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("cell", ["", "NA"])
def test_a_missing_feature_on_the_first_line_of_a_headerless_file_is_data(csv_reader,
                                                                          tmp_path, cell):
    """header="infer" took the line for a header (a field that is not a number) and the row
    was dropped without a word."""
    path = tmp_path / "t.csv"
    path.write_text(f"0,{cell},2\n1,3,4\n0,5,6\n")
    X, y, sizes = collect(fastnn.iter_batches(path, 10, target=0))
    np.testing.assert_array_equal(X, [[np.nan, 2], [3, 4], [5, 6]])
    assert y.tolist() == [0, 1, 0]
    path.write_text("label,a,b\n0,,2\n")  # a header line still names the columns
    assert collect(fastnn.iter_batches(path, 10, target=0))[1].tolist() == [0]


@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("cell", ["", "NA", "nan"])
def test_fit_stream_names_a_missing_csv_feature_as_fastnn_train(csv_reader, tmp_path, cell,
                                                                header):
    """scikit-learn's "Input X contains NaN." named the block, not the file, the column or
    the row; the message is fastnn train's (the same wording with and without pandas)."""
    path = tmp_path / "t.csv"
    path.write_text(("label,a,w,b\n" if header else "") + f"0,1,1,2\n1,3,1,4\n0,5,1,{cell}\n")
    column = "'b'" if header else "3"
    with pytest.raises(ValueError, match=rf"^fit_stream: block 2 \(rows 3 to 3, counted from "
                                         rf"1.*\): {re.escape(str(path))}: feature column "
                                         rf"{column} is missing \(empty, NA or NaN\) on row 3$"):
        fastnn.fit_stream(fastnn.MLPClassifier(), path, target=0, sample_weight=2,
                          batch_size=2, classes=[0, 1], header=header)
    X = np.array([[1.0, 2], [3, np.inf]])  # an array's: rows from 0, column by index
    with pytest.raises(ValueError, match=r": feature column 1 is infinite \(inf\) on row 1$"):
        fastnn.fit_stream(fastnn.MLPRegressor(), X, y=[0.0, 1.0])


def test_fit_stream_refuses_an_estimator_without_partial_fit(table):
    """It failed at the first block as "AttributeError: 'LinearRegression' object has no
    attribute 'partial_fit'"."""
    from sklearn.linear_model import LinearRegression

    X, y = table
    with pytest.raises(TypeError, match="fit_stream trains by partial_fit, which "
                                        "LinearRegression does not have"):
        fastnn.fit_stream(LinearRegression(), X, y=y.astype(float))


def test_fit_stream_names_an_unknown_keyword_as_its_own(table):
    """It said "_stream() got an unexpected keyword argument 'sep'", a private function."""
    X, y = table
    with pytest.raises(TypeError, match=r"^fit_stream\(\) got an unexpected keyword argument "
                                        r"'sep' \(it reads with delimiter= and header=\)"):
        fastnn.fit_stream(fastnn.MLPRegressor(), X, y=y.astype(float), sep=";")


def test_fit_stream_reads_as_a_fitted_float32_network(tmp_path):
    """A fitted float32 model converted each float64 block itself: a value beyond float32's
    range was "Input X contains infinity or a value too large for dtype('float32')", named
    by its block alone."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n7,4e38,1\n")
    model = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    model.partial_fit(np.ones((2, 2), np.float32), [0, 1], classes=[0, 1])
    with pytest.raises(ValueError, match=r"t.csv: feature column 'b' is beyond the range of "
                                         r"float32: '4e\+38' on row 4"):
        fastnn.fit_stream(model, path, target="label", batch_size=2)
    # the same updates as before, where the values fit
    path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6.1,0\n7,4e30,1\n")
    streamed = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    streamed.partial_fit(np.ones((2, 2), np.float32), [0, 1], classes=[0, 1])
    fastnn.fit_stream(streamed, path, target="label", batch_size=2)
    by_hand = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    by_hand.partial_fit(np.ones((2, 2), np.float32), [0, 1], classes=[0, 1])
    for X, y in fastnn.iter_batches(path, 2, target="label"):  # float64, converted
        by_hand.partial_fit(X, y)
    np.testing.assert_array_equal(streamed.coefs_[0], by_hand.coefs_[0])
    assert streamed.coefs_[0].dtype == np.float32


@pytest.mark.parametrize("suffix", ["csv", "npy"])
def test_fastnn_train_chunk_size_names_a_nan_feature(tmp_path, capsys, suffix):
    """It said "Input X contains NaN." naming neither the file, the column nor the row."""
    from fastnn.__main__ import main

    table = np.array([[1, 2, 0, 1.0], [3, 4, 1, 1], [5, 6, 0, 1], [7, 8, 1, 1]])
    table[2, 3] = np.nan  # the last column: a feature after the target and the weights
    path = tmp_path / f"t.{suffix}"
    if suffix == "csv":
        np.savetxt(path, table, delimiter=",", header="a,w,label,b", comments="")
        column, row = "'b'", r"3 \(rows counted from 1 after the header\)"
        missing = r"\(empty, NA or NaN\)"
    else:
        np.save(path, table)
        column, row, missing = "3", r"2 \(rows counted from 0\)", r"\(NaN\)"
    assert main(["train", str(path), "--chunk-size", "2", "--max-iter", "1", "--target",
                 "label" if suffix == "csv" else "2", "--sample-weight",
                 "w" if suffix == "csv" else "1", "--hidden-layer-sizes", "2"]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"fastnn train: error: .*t.{suffix}: feature column {column} is missing "
                     rf"{missing} on row {row}", err), err
