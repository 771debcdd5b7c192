"""The command line (train, predict, demo) end to end, and every claim the demo makes."""
import csv
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

import fastnn
from fastnn import _datafiles, cli, demo
from fastnn.__main__ import main

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
ROOT = Path(__file__).resolve().parents[1]
FAST = ["--hidden-layer-sizes", "8", "--max-iter", "60", "--learning-rate-init", "0.1",
        "--random-state", "0"]


# --------------------------------------------------------------- demo claims
def test_perceptron_learns_and_or_not_xor_and_a_hidden_layer_learns_xor(capsys):
    results = demo.logic_gates(out=None)
    assert results["AND"]["accuracy"] == 1.0 and results["OR"]["accuracy"] == 1.0
    assert results["XOR"]["accuracy"] <= 0.75
    assert results["MLP XOR"]["accuracy"] == 1.0
    assert results["MLP XOR"]["predictions"] == [0, 1, 1, 0]
    w1, w2 = results["AND"]["weights"]  # the printed line separates AND's points
    scores = demo.LOGIC_X @ [w1, w2] + results["AND"]["bias"]
    np.testing.assert_array_equal(scores >= 0, np.array(demo.GATES["AND"]) == 1)
    assert "separating line" in capsys.readouterr().out


def test_vanishing_gradients_sigmoid_vs_relu():
    ratios = demo.vanishing_gradients(out=None)["first_to_last"]
    assert ratios["sigmoid"] < 1e-4  # orders of magnitude below the last layer
    assert ratios["relu"] > 1e-2 and ratios["tanh"] > 1e-2
    assert ratios["relu"] > 1e3 * ratios["sigmoid"]


def test_gradient_descent_variants_and_activations(capsys):
    results = demo.gradient_descent_variants(out=None, epochs=5)
    assert [r["batch_size"] for r in results.values()] == [400, 1, 32]
    for result in results.values():
        assert len(result["loss_curve"]) == len(result["seconds"]) == 5
        assert result["loss_curve"][-1] < result["loss_curve"][0]
        assert np.all(np.diff(result["seconds"]) > 0)
    table = demo.activations(out=None)
    assert max(table["sigmoid a=1"]["df"]) == 0.25 and max(table["sigmoid a=2"]["df"]) == 0.5
    assert table["relu"]["df"] == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_digits_step_compares_with_scikit_learn():
    results = demo.digits(out=None, max_iter=10)
    assert results["fastnn"]["epochs"] == results["scikit-learn"]["epochs"] == 10
    assert results["fastnn"]["accuracy"] > 0.9
    assert abs(results["fastnn"]["accuracy"] - results["scikit-learn"]["accuracy"]) < 0.02


@pytest.fixture
def fit_jobs(monkeypatch):
    """The (rows, batch size, stepwise) of each stochastic fit: which kernels it runs."""
    jobs = []

    def runs_stepwise(n_samples, batch_size, epochs, n_weights):
        jobs.append((n_samples, batch_size, runs_stepwise_before(n_samples, batch_size, epochs,
                                                                 n_weights)))
        return jobs[-1][2]

    runs_stepwise_before = fastnn.training.runs_stepwise
    monkeypatch.setattr(fastnn.training, "runs_stepwise", runs_stepwise)
    return jobs


def test_demo_times_fits_whose_kernels_were_warmed_up(fit_jobs):
    # the untimed warm-up runs the timed fit's job (a fit of 50 rows for 1 epoch ran
    # stepwise, so a first run timed the compilation of the fused epoch: 51 s against
    # scikit-learn's 2 s)
    demo.digits(out=None, max_iter=40)
    assert len(fit_jobs) == 2 and fit_jobs[0] == fit_jobs[1] and not fit_jobs[1][2]
    fit_jobs.clear()
    demo.gradient_descent_variants(out=None)
    assert fit_jobs[0::2] == fit_jobs[1::2] and len(fit_jobs) == 6
    assert not all(stepwise for _, _, stepwise in fit_jobs)


def test_demo_command_writes_pngs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--steps", "1,3", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1_logic_gates.png",
                                                            "3_activations.png"]
    assert all(p.stat().st_size > 10_000 for p in tmp_path.iterdir())
    out = capsys.readouterr().out
    assert "Step 1" in out and "Step 3" in out and "Step 2" not in out


def test_demo_without_matplotlib_prints_text_and_a_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["demo", "--steps", "3", "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out
    assert 'pip install "fastnn[plot]"' in out and "sigmoid a=0.5" in out
    assert not (tmp_path / "plots").exists()


def test_demo_rejects_bad_steps(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--steps", "1,9"])
    assert "steps are numbers from 1 to 5" in capsys.readouterr().err


def test_demo_runs_a_step_given_twice_once(monkeypatch):
    from fastnn import demo

    ran = []
    monkeypatch.setattr(demo, "run", lambda steps, out: ran.append(steps) or {})
    assert main(["demo", "--steps", "3,1,3", "--out", "unused"]) == 0
    assert ran == [(3, 1)]


def test_demo_names_an_out_that_is_not_a_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    taken = tmp_path / "taken"
    taken.write_text("a file")
    assert main(["demo", "--steps", "3", "--out", str(taken)]) == 1  # was a traceback
    err = capsys.readouterr().err
    assert err.startswith("fastnn demo: error:") and str(taken) in err


# ------------------------------------------------------------ train / predict
@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    X, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("data") / "iris.csv"
    names = np.array(["setosa", "versicolor", "virginica"])
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sepal length", "sepal width", "petal length", "petal width", "species"])
        for row, label in zip(X, y):
            writer.writerow([*row, names[label]])
    return path


def _read_csv(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_train_and_predict_csv(iris_csv, tmp_path, capsys):
    model_path = tmp_path / "iris.model.npz"
    assert main(["train", str(iris_csv), "--target", "species", "--out", str(model_path),
                 *FAST]) == 0
    out = capsys.readouterr().out
    assert "classification (3 classes" in out and "validation accuracy" in out
    assert "on 30 held-out rows" in out and f"model saved to {model_path}" in out
    model = fastnn.load(model_path)
    assert isinstance(model, fastnn.MLPClassifier) and model.hidden_layer_sizes == (8,)
    assert list(model.feature_names_in_) == ["sepal length", "sepal width", "petal length",
                                             "petal width"]
    assert model.coefs_[0].dtype == np.float32 and model.callbacks is None
    # the data file still has the target column: predict matches the columns by name
    predictions = tmp_path / "pred.csv"
    assert main(["predict", str(model_path), str(iris_csv), "--out", str(predictions)]) == 0
    rows = _read_csv(predictions)
    assert rows[0] == ["prediction"] and len(rows) == 151
    truth = [row[-1] for row in _read_csv(iris_csv)[1:]]
    assert np.mean([r[0] == t for r, t in zip(rows[1:], truth)]) > 0.9
    assert main(["predict", str(model_path), str(iris_csv), "--proba",
                 "--out", str(tmp_path / "proba.npy")]) == 0
    proba = np.load(tmp_path / "proba.npy")
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


def test_train_regression_npy_and_predict_to_stdout(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    data = np.column_stack([X, X @ [1.0, -2.0, 0.5] + 0.01 * rng.standard_normal(200)])
    np.save(tmp_path / "data.npy", data)
    assert main(["train", str(tmp_path / "data.npy"), "--dtype", "float64",
                 "--solver", "lbfgs", "--max-iter", "200", "--random-state", "0"]) == 0
    out = capsys.readouterr().out
    assert "regression" in out and "validation R^2 0.9" in out
    model = fastnn.load(tmp_path / "data.model.npz")  # default name beside the data
    assert isinstance(model, fastnn.MLPRegressor) and model.coefs_[0].dtype == np.float64
    np.save(tmp_path / "X.npy", X[:5])
    assert main(["predict", str(tmp_path / "data.model.npz"), str(tmp_path / "X.npy")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 6
    np.testing.assert_allclose([float(v) for v in lines[1:]], model.predict(X[:5]), rtol=1e-12)


def test_train_npz_classification_with_task_override(tmp_path, capsys):
    X, y = load_iris(return_X_y=True)
    np.savez(tmp_path / "iris.npz", X=X, y=y.astype(float))
    assert main(["train", str(tmp_path / "iris.npz"), "--validation-split", "0",
                 "--early-stopping", *FAST]) == 0
    assert "on the training rows" in capsys.readouterr().out
    model = fastnn.load(tmp_path / "iris.model.npz")
    assert model.early_stopping and model.classes_.dtype.kind == "i"
    assert main(["train", str(tmp_path / "iris.npz"), "--task", "regression",
                 "--out", str(tmp_path / "r.npz"), *FAST]) == 0
    assert isinstance(fastnn.load(tmp_path / "r.npz"), fastnn.MLPRegressor)


def test_train_picks_classification_for_several_label_columns(tmp_path, capsys):
    """A 2-D target of 0s and 1s (labels a row has or not) trains a classifier under the
    default --task auto, as the help says; 2-D numbers are still a regression."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 6))
    np.savez(tmp_path / "labels.npz", X=X, y=(X[:, :3] > 0.5).astype(int))
    assert main(["train", str(tmp_path / "labels.npz"), *FAST]) == 0
    assert "classification" in capsys.readouterr().out
    model = fastnn.load(tmp_path / "labels.model.npz")
    assert isinstance(model, fastnn.MLPClassifier) and model.predict(X[:4]).shape == (4, 3)
    np.savez(tmp_path / "values.npz", X=X, y=X[:, :2] * 3)
    assert main(["train", str(tmp_path / "values.npz"), *FAST]) == 0
    assert isinstance(fastnn.load(tmp_path / "values.model.npz"), fastnn.MLPRegressor)


def test_parquet(iris_csv, tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    rows = _read_csv(iris_csv)
    table = pa.table({name: [row[i] if name == "species" else float(row[i]) for row in rows[1:]]
                      for i, name in enumerate(rows[0])})
    pq.write_table(table, tmp_path / "iris.parquet")
    assert main(["train", str(tmp_path / "iris.parquet"), *FAST]) == 0  # target: last column
    assert "3 classes" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "iris.model.npz"), str(tmp_path / "iris.parquet"),
                 "--out", str(tmp_path / "p.npy")]) == 0
    assert set(np.load(tmp_path / "p.npy")) <= {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize("argv, message", [
    (["train", "{data}", "--target", "colour"], "has no column 'colour'"),
    (["train", "{data}", "--target", "species", "--task", "regression"], "must be numeric"),
    (["train", "{tmp}/missing.csv"], "No such file"),
    (["train", "{tmp}/data.json"], "unsupported data file type '.json'; use .csv"),
    (["train", "{tmp}/data.json.gz"], "unsupported data file type '.gz'; use .csv"),
    (["predict", "{tmp}/bad_model.npz", "{data}"], "not a fastnn model file"),
    (["predict", "{tmp}/model.npz", "{tmp}/narrow.npy"], "has 2 feature columns, the model "
                                                        "expects 4"),
    (["predict", "{tmp}/model.npz", "{data}", "--out", "{tmp}/p.json"], ".csv or .npy"),
    (["predict", "{tmp}/model.npz", "{data}"], "feature column 'species' is not numeric"),
])
def test_errors_are_one_clear_line(argv, message, iris_csv, tmp_path, capsys):
    (tmp_path / "bad_model.npz").write_bytes(b"not a model")
    (tmp_path / "data.json").write_text("a,b\n1,2\n")
    (tmp_path / "data.json.gz").write_text("a,b\n1,2\n")
    np.save(tmp_path / "narrow.npy", np.ones((3, 2)))
    X, y = load_iris(return_X_y=True)
    fastnn.save(fastnn.Perceptron().fit(X, y), tmp_path / "model.npz")
    argv = [a.format(data=iris_csv, tmp=tmp_path) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fastnn {argv[0]}: error:") and message in err


@pytest.mark.parametrize("name, content, extra, message", [
    ("x.csv", "a,b,y\n1,2,0\n3,1e39,1\n4,5,0\n6,7,1\n", [],
     "x.csv: feature column 'b' is beyond the range of float32: 1e+39 on row 2 (rows counted "
     "from 1 after the header)"),
    ("t.csv", "a,b,y\n1,2,0.5\n3,1,-1e39\n4,5,0\n6,7,1\n", ["--task", "regression"],
     "t.csv: the target is beyond the range of float32: -1e+39 on row 2"),
    ("x.npy", None, [], "x.npy: feature column 1 is beyond the range of float32: 1e+39 on row 1 "
     "(rows counted from 0)"),
])
def test_train_names_a_value_beyond_float32(name, content, extra, message, tmp_path, capsys):
    """Without --chunk-size a finite value beyond float32 became inf in the cast, with
    NumPy's 'overflow encountered in cast' warning, and the error named no file, column or
    row ('Input X contains infinity or a value too large for dtype('float32')')."""
    path = tmp_path / name
    if content is None:
        np.save(path, np.array([[1, 2, 0], [3, 1e39, 1], [4, 5, 0], [6, 7, 1.0]]))
    else:
        path.write_text(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from the cast
        assert main(["train", str(path), "--out", str(tmp_path / "m.npz"), *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and "--dtype float64" in err
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor scikit-learn's R^2 of one held-out row
        warnings.simplefilter("ignore", ConvergenceWarning)  # 60 epochs of -1e39 targets
        assert main(["train", str(path), "--dtype", "float64", "--out", str(tmp_path / "m.npz"),
                     *extra, *FAST]) == 0
    if extra:
        assert "validation R^2 undefined on 1 held-out row\n" in capsys.readouterr().out


@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "2"]])
@pytest.mark.parametrize("value, problem", [
    (1e39, "is beyond the range of float32: 1e+39 on row 2 (rows counted from 0); rescale it "
           "or use --dtype float64"),
    (np.nan, "is missing (NaN) on row 2 (rows counted from 0)"),
    (-np.inf, "is infinite (-inf) on row 2 (rows counted from 0)")])
def test_train_names_a_bad_npy_feature_by_its_column_in_the_file(value, problem, chunk,
                                                                tmp_path, capsys):
    """Without --chunk-size, a value beyond float32 in column 2 of a file whose target is
    column 0 was 'feature column 1' (its column among the features), and NaN or inf was
    scikit-learn's 'Input X contains NaN.', naming no file, column or row."""
    data = np.array([[0, 1, 2], [1, 3, 4], [0, 5, value], [1, 7, 8.0]] * 3)
    np.save(tmp_path / "d.npy", data)
    assert main(["train", str(tmp_path / "d.npy"), "--target", "0", "--out",
                 str(tmp_path / "m.npz"), *FAST, *chunk]) == 1
    # the last line: after --chunk-size's progress bar
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fastnn train: error: {tmp_path / 'd.npy'}: feature column 2 {problem}")


@pytest.mark.parametrize("cell", ["nan", "", "NA"])
@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "2"]])
def test_train_names_a_missing_csv_feature_by_its_column_and_row(chunk, cell, csv_reader,
                                                                 tmp_path, capsys):
    """An empty or NA cell was "not numeric: an empty cell" ("'NA'") without --chunk-size
    and "missing (NaN)" with it: the readers make all three NaN, one message for them."""
    (tmp_path / "d.csv").write_text(f"a,b,y\n1,2,0\n2,{cell},1\n3,4,0\n4,5,1\n")
    assert main(["train", str(tmp_path / "d.csv"), "--out", str(tmp_path / "m.npz"), *FAST,
                 *chunk]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"fastnn train: error: {tmp_path / 'd.csv'}: feature column 'b' is missing (empty, "
        f"NA or NaN) on row 2 (rows counted from 1 after the header)")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("cell", ["nan", ""])
def test_predict_names_a_missing_feature_by_its_column_and_row(cell, iris_csv, tmp_path,
                                                                capsys):
    """predict passed NaN on to the model, whose message ("Input X contains NaN.") named no
    file, column or row."""
    model = tmp_path / "m.npz"
    assert main(["train", str(iris_csv), "--out", str(model), *FAST]) == 0
    capsys.readouterr()
    lines = iris_csv.read_text().splitlines()
    fields = lines[3].split(",")
    fields[1] = cell
    lines[3] = ",".join(fields)
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    name = lines[0].split(",")[1]
    err = _train_error(["predict", str(model), str(tmp_path / "p.csv")], capsys)
    assert err.splitlines()[-1] == (
        f"fastnn predict: error: {tmp_path / 'p.csv'}: feature column {name!r} is missing "
        f"(empty, NA or NaN) on row 3 (rows counted from 1 after the header)")
    np.save(tmp_path / "p.npy", np.array([[0, 1.0, 2, 3, 4], [1, 1, 2, np.nan, 4]]))
    model = tmp_path / "n.npz"
    np.save(tmp_path / "t.npy", np.array([[0, 1.0, 2, 3, 4], [1, 1, 2, 3, 5]] * 5))
    assert main(["train", str(tmp_path / "t.npy"), "--target", "0", "--out", str(model),
                 *FAST]) == 0
    capsys.readouterr()
    err = _train_error(["predict", str(model), str(tmp_path / "p.npy"), "--target", "0"],
                       capsys)
    assert err.splitlines()[-1] == (  # named by its column in the file, not among features
        f"fastnn predict: error: {tmp_path / 'p.npy'}: feature column 3 is missing (NaN) on "
        f"row 1 (rows counted from 0)")


@pytest.mark.parametrize("values, shown, chunk", [
    (["1.5", "x", "2", "3"], "'x' on row 2", []),
    (["1.5", "x", "2", "3"], "'x' on row 2", ["--chunk-size", "2"]),
    (["1.5", "2", "x", "3"], "'x' on row 3", []),
    # the first block: all numbers, but text (a Parquet column is text in every block)
    (["1.5", "2", "x", "3"], "the text '1.5' on row 1", ["--chunk-size", "2"]),
    (["1.5", "2", "3", "4"], "the text '1.5' on row 1", [])])
def test_train_names_a_text_regression_target_by_file_and_row(values, shown, chunk, tmp_path,
                                                               capsys):
    """--chunk-size said "target column 'y': a regression target must be numeric", naming
    no row; a text column of numbers was "got dtype <U3", naming none."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"a": [1.0, 2, 3, 4], "y": values}), path)
    assert main(["train", str(path), "--task", "regression", "--out", str(tmp_path / "m.npz"),
                 *FAST, *chunk]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (  # after --chunk-size's progress bar
        f"fastnn train: error: {path}: a regression target must be numeric, got {shown} "
        f"(rows counted from 1 after the header)")


def test_train_chunk_size_checks_features_before_training_a_classifier(tmp_path, capsys,
                                                                       monkeypatch):
    """A NaN feature in a later block was found in the training pass, after the blocks
    before it trained; the first pass, which reads every block for the classes, checks
    it."""
    (tmp_path / "d.csv").write_text("a,b,y\n1,2,0\n2,3,1\n3,4,0\n4,nan,1\n")
    calls = []
    monkeypatch.setattr(fastnn.MLPClassifier, "partial_fit",
                        lambda self, *a, **k: calls.append(a) or self)
    err = _train_error(["train", str(tmp_path / "d.csv"), "--out", str(tmp_path / "m.npz"),
                        "--chunk-size", "2", *FAST], capsys)
    assert "feature column 'b' is missing (empty, NA or NaN) on row 4" in err
    assert calls == []


def test_train_reads_a_npy_file_once(tmp_path, monkeypatch):
    """The features' column numbers in the file (for messages) came from a second read of
    its header (a memory map), though reading the data had them."""
    np.save(tmp_path / "d.npy", np.array([[0, 1.0, 2], [1, 3, 4]] * 6))
    reads = []
    load = _datafiles.load_npy
    monkeypatch.setattr(_datafiles, "load_npy", lambda *a, **k: reads.append(a) or load(*a, **k))
    assert main(["train", str(tmp_path / "d.npy"), "--target", "0", "--out",
                 str(tmp_path / "m.npz"), *FAST]) == 0
    assert len(reads) == 1


@pytest.mark.parametrize("name", ["d.tsv", "d.txt", "d.csv.gz", "d.csv.zip"])
def test_train_and_predict_read_the_files_train_chunk_size_reads(name, tmp_path, capsys):
    """--chunk-size read .tsv/.txt and compressed CSV files; without it, train and predict
    refused them ("unsupported data file type '.tsv'"): a model trained on such a file with
    --chunk-size could not predict it."""
    import gzip
    import zipfile

    sep = "\t" if name.endswith(".tsv") else ","
    text = sep.join(["a", "b", "label"]) + "\n" + "".join(
        sep.join([f"{i}", f"{i % 3}", "cat" if i % 2 else " dog"]) + "\n" for i in range(20))
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("d.csv", text)
    else:
        path.write_text(text)
    for chunk in ([], ["--chunk-size", "5"]):
        out = tmp_path / "m.npz"
        assert main(["train", str(path), "--out", str(out), *FAST, *chunk]) == 0
        model = fastnn.load(out)
        assert list(model.feature_names_in_) == ["a", "b"]
        assert model.classes_.tolist() == ["cat", "dog"]
        capsys.readouterr()
        assert main(["predict", str(out), str(path), "--target", "label"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 21


@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "2"]])
def test_a_text_regression_target_is_named_by_its_file_and_row(chunk, iris_csv, tmp_path,
                                                               capsys):
    """Without --chunk-size it was 'a regression target must be numeric', naming nothing;
    with it, the message had "target column 'species': " in the middle: one wording."""
    assert main(["train", str(iris_csv), "--task", "regression", *chunk]) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after --chunk-size's progress bar
    assert err == (f"fastnn train: error: {iris_csv}: a regression target must be numeric, got "
                   f"'setosa' on row 1 (rows counted from 1 after the header)")
    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.array(["1.5", "cat", "2"]))
    if not chunk:
        assert main(["train", str(tmp_path / "d.npz"), "--task", "regression"]) == 1
        assert capsys.readouterr().err == (
            f"fastnn train: error: {tmp_path / 'd.npz'}: a regression target must be numeric, "
            f"got 'cat' on row 1 (rows counted from 0)\n")


def test_bad_csv_rows(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b,y\n1,2,0\n3,4\n")
    with pytest.raises(ValueError, match="line 3: 2 fields"):
        _datafiles.read_data(tmp_path / "ragged.csv", "y", train=True)
    (tmp_path / "text.csv").write_text("a,b,y\n1,x,0\n3,4,1\n")
    with pytest.raises(ValueError, match="feature column 'b' is not numeric"):
        _datafiles.read_data(tmp_path / "text.csv", "y", train=True)


def test_console_script_end_to_end(iris_csv, tmp_path):
    """A fresh process, as a user runs it: python -m fastnn train, then predict."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = [sys.executable, "-m", "fastnn"]
    done = subprocess.run([*run, "train", str(iris_csv), "--out", str(tmp_path / "m.npz"),
                           *FAST], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "validation accuracy" in done.stdout
    done = subprocess.run([*run, "predict", str(tmp_path / "m.npz"), str(iris_csv), "--out",
                           str(tmp_path / "p.csv")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert len(_read_csv(tmp_path / "p.csv")) == 151
    done = subprocess.run([*run, "predict", str(iris_csv), str(iris_csv)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 1 and "not a fastnn model file" in done.stderr


# ------------------------------------------------------- bad input, clear errors
def _train_error(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"fastnn {argv[0]}: error:") and "Traceback" not in err
    return err


def test_missing_csv_target_is_an_error_naming_column_and_row(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n0,0,0\n1,1,1\n2,2,\n3,3,1\n")
    err = _train_error(["train", str(tmp_path / "d.csv"), *FAST], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 3" in err
    (tmp_path / "t.csv").write_text("a,y\n0,cat\n1,\n2,dog\n3,cat\n")
    err = _train_error(["train", str(tmp_path / "t.csv"), *FAST], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 2" in err


def test_missing_parquet_target_is_an_error(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": [0.0, 1.0, 2.0, 3.0], "y": ["x", None, "z", "x"]}),
                   tmp_path / "s.parquet")
    err = _train_error(["train", str(tmp_path / "s.parquet"), *FAST], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 2" in err
    pq.write_table(pa.table({"a": [0.0, 1.0, 2.0, 3.0], "y": [0, 1, None, 1]}),
                   tmp_path / "i.parquet")
    err = _train_error(["train", str(tmp_path / "i.parquet"), *FAST], capsys)
    assert "target column 'y' has 1 missing" in err and "row(s) 3" in err


def test_nan_target_is_an_error(tmp_path, capsys):
    (tmp_path / "n.csv").write_text("a,y\n0,0\n1,nan\n2,1\n3,1\n")
    err = _train_error(["train", str(tmp_path / "n.csv"), "--task", "classification", *FAST],
                       capsys)
    assert "target column 'y' has 1 missing" in err
    np.savez(tmp_path / "n.npz", X=np.ones((4, 2)), y=np.array([0.0, np.nan, 1.0, 1.0]))
    err = _train_error(["train", str(tmp_path / "n.npz"), "--task", "classification", *FAST],
                       capsys)
    assert "target array has 1 missing" in err


def test_float_class_labels_are_an_error_not_truncated(tmp_path, capsys):
    rows = "".join(f"{i},{i % 2},{0.5 + i % 2}\n" for i in range(20))
    (tmp_path / "f.csv").write_text("a,b,y\n" + rows)
    out = tmp_path / "m.npz"
    err = _train_error(["train", str(tmp_path / "f.csv"), "--task", "classification", "--out",
                        str(out), *FAST], capsys)
    assert "non-integer values (e.g. 0.5 on row 1," in err and not out.exists()
    (tmp_path / "i.csv").write_text("a,b,y\n" + rows.replace(".5\n", ".0\n"))
    assert main(["train", str(tmp_path / "i.csv"), "--out", str(out), *FAST]) == 0
    classes = fastnn.load(out).classes_
    assert classes.dtype.kind == "i" and list(classes) == [0, 1]


def test_corrupt_npz_and_npy_data_files(tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    X, y = load_iris(return_X_y=True)
    fastnn.save(fastnn.Perceptron().fit(X, y), tmp_path / "model.npz")
    for argv in (["train", str(tmp_path / "bad.npz")],
                 ["predict", str(tmp_path / "model.npz"), str(tmp_path / "bad.npz")],
                 ["train", str(tmp_path / "bad.npy")]):
        err = _train_error(argv, capsys)
        assert str(argv[-1]) in err and "not a readable" in err


def test_npz_target_cannot_be_the_feature_array(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", X=np.ones((10, 2)), y=np.arange(10) % 2)
    err = _train_error(["train", str(tmp_path / "d.npz"), "--target", "X", *FAST], capsys)
    assert "names the feature array" in err


def test_non_numeric_feature_error_shows_the_offending_cell(tmp_path):
    (tmp_path / "e.csv").write_text("a,b,y\n1,2,0\n3,,1\n")
    with pytest.raises(ValueError, match="feature column 'b' is missing \\(empty, NA or NaN\\) "
                                         "on row 2 \\(rows counted from 1"):
        _datafiles.read_data(tmp_path / "e.csv", "y", train=True)
    (tmp_path / "x.csv").write_text("a,b,y\n1,2,0\n3,,1\n5,x,1\n")
    # the text, not the empty cell before it (missing, not text), as --chunk-size names it
    with pytest.raises(ValueError, match="feature column 'b' is not numeric: 'x' on row 3"):
        _datafiles.read_data(tmp_path / "x.csv", "y", train=True)


def test_csv_with_a_byte_order_mark(tmp_path):
    (tmp_path / "b.csv").write_bytes("a,b,y\n1,2,0\n3,4,1\n".encode("utf-8-sig"))
    _, _, names, _ = _datafiles.read_data(tmp_path / "b.csv", None, train=True)
    assert names == ["a", "b"]


@pytest.mark.parametrize("option", [
    ["--hidden", "abc"], ["--hidden", "0"], ["--hidden", ""], ["--activation", "bogus"],
    ["--epochs", "0"], ["--batch-size", "0"], ["--lr", "nan"], ["--lr", "-1"],
    ["--threads", "99"], ["--threads", "-1"], ["--seed", "-1"]])
def test_digits_bad_options_are_one_clear_line(option, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse: usage and the error, exit code 2
        main(["digits", *option])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option[0]}:" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    # an empty item was dropped: 3,,2 trained (or profiled) a 3-2 network
    ["profile", "--layers", "3,,2"], ["profile", "--layers", "3,2,"],
    ["profile", "--layers", "3,0,2"], ["profile", "--layers", "3,x"],
    ["profile", "--layers", "20,16,1"], ["profile", "--layers", "5"],
    ["profile", "--samples", "0"], ["profile", "--batch-size", "-1"],
    ["profile", "--threads", "-1"], ["profile", "--threads", "99"],
    ["digits", "--hidden", "3,,2"], ["digits", "--hidden", "3,"],
    ["demo", "--steps", "1,,3"], ["demo", "--steps", "1,"],
    ["train", "d.csv", "--hidden-layer-sizes", "3,,2"],
    ["train", "d.csv", "--hidden-layer-sizes", "3,0"],
    ["train", "d.csv", "--hidden-layer-sizes", ""],
    ["train", "d.csv", "--activation", "swish"],
    ["train", "d.csv", "--activation", "relu,,tanh"],
    ["train", "d.csv", "--alpha", "-1"], ["train", "d.csv", "--alpha", "nan"],
    ["train", "d.csv", "--batch-size", "0"], ["train", "d.csv", "--batch-size", "x"],
    ["train", "d.csv", "--beta-1", "2"], ["train", "d.csv", "--epsilon", "0"],
    ["train", "d.csv", "--learning-rate", "optimal"],
    ["train", "d.csv", "--learning-rate-init", "0"],
    ["train", "d.csv", "--max-iter", "0"], ["train", "d.csv", "--momentum", "2"],
    ["train", "d.csv", "--n-iter-no-change", "0"], ["train", "d.csv", "--n-threads", "0"],
    ["train", "d.csv", "--n-iter-no-change", "nan"],
    ["train", "d.csv", "--n-iter-no-change", "2.5"],
    ["train", "d.csv", "--random-state", "-1"], ["train", "d.csv", "--sigmoid-a", "0"],
    ["train", "d.csv", "--solver", "lbgfs"], ["train", "d.csv", "--tol", "-1"],
    ["train", "d.csv", "--validation-fraction", "1"],
    ["train", "d.csv", "--validation-split", "1"],
    ["train", "d.csv", "--validation-split", "nan"],
    ["train", "d.csv", "--chunk-size", "0"],
])
def test_malformed_option_values_are_usage_errors_naming_the_option(argv, capsys):
    """Checked while parsing, before any data are read or any kernel compiled."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    option = next(a for a in argv if a.startswith("--"))
    assert f"fastnn {argv[0]}: error: argument {option}:" in err and "Traceback" not in err


def test_option_lists_allow_spaces_around_items(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "train", lambda args: seen.update(vars(args)) or 0)
    assert main(["train", "d.csv", "--hidden-layer-sizes", " 8, 4 ", "--activation",
                 "relu, tanh"]) == 0
    assert seen["param_hidden_layer_sizes"] == (8, 4)
    assert seen["param_activation"] == ["relu", "tanh"]


@pytest.mark.parametrize("options", [
    ["--activation", "relu,tanh", "--hidden-layer-sizes", "8"],
    ["--hidden-layer-sizes", "8,4,2", "--activation", "relu,tanh"],
    ["--activation", "relu,tanh"],  # the default: one hidden layer of 100
    ["--activation", "relu,tanh", "--chunk-size", "10"],
])
def test_activations_for_another_number_of_layers_are_a_usage_error(options, monkeypatch,
                                                                    capsys):
    """A list of activations that does not match the hidden layers depends on two options:
    a usage error naming both (exit status 2) before any data are read; it was an exit-1
    error after reading the data."""
    monkeypatch.setattr(cli, "read_data", lambda *a, **k: pytest.fail("data were read"))
    with pytest.raises(SystemExit) as exc:
        main(["train", "missing.csv", *options])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "fastnn train: error: argument --activation: 2 activations" in err
    assert "--hidden-layer-sizes" in err and "Traceback" not in err


def test_one_activation_per_hidden_layer_is_accepted(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "train", lambda args: seen.update(vars(args)) or 0)
    assert main(["train", "d.csv", "--activation", "relu,tanh", "--hidden-layer-sizes",
                 "8,4"]) == 0
    assert seen["param_activation"] == ["relu", "tanh"]
    assert main(["train", "d.csv", "--activation", "tanh", "--hidden-layer-sizes", "8,4"]) == 0


@pytest.mark.parametrize("text", ["inf", "Infinity", " inf "])
def test_train_takes_n_iter_no_change_inf_as_the_estimators_do(text, monkeypatch):
    """The estimators (and scikit-learn) take n_iter_no_change=np.inf; the option refused it
    as not an integer."""
    seen = {}
    monkeypatch.setattr(cli, "train", lambda args: seen.update(vars(args)) or 0)
    assert main(["train", "d.csv", "--n-iter-no-change", text]) == 0
    assert seen["param_n_iter_no_change"] == np.inf
    assert main(["train", "d.csv", "--n-iter-no-change", "7"]) == 0
    assert seen["param_n_iter_no_change"] == 7 and isinstance(seen["param_n_iter_no_change"], int)
    fastnn.MLPClassifier(n_iter_no_change=np.inf, max_iter=2).fit(
        np.eye(4, dtype=np.float32), [0, 1, 0, 1])


def test_digits_that_diverge_are_one_clear_line(capsys):
    """train() raises TrainingDiverged (an ArithmeticError), which main let through as a
    traceback."""
    assert main(["digits", "--epochs", "2", "--lr", "1e10"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastnn digits: error: the loss or the weights became NaN or "
                          "infinite") and "Traceback" not in err


@pytest.mark.parametrize("layers", ["", "5", "a,b", "4,0,2"])
def test_profile_bad_layers(layers, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["profile", "--layers", layers, "--samples", "10"])
    assert exc.value.code == 2
    assert "argument --layers:" in capsys.readouterr().err


def test_invalid_parameter_error_is_one_clear_line(tmp_path, capsys, monkeypatch):
    from sklearn.utils._param_validation import InvalidParameterError

    def fails(args):
        raise InvalidParameterError("The 'x' parameter must be positive")
    monkeypatch.setattr(cli, "train", fails)
    assert main(["train", "data.csv"]) == 1
    assert capsys.readouterr().err == "fastnn train: error: The 'x' parameter must be positive\n"


def test_digits_that_learn_nothing_say_so(capsys):
    """--lr 1e6 silences every ReLU unit with a finite loss (no TrainingDiverged): the
    network answered one digit for every image, 10 % accuracy, without a word."""
    assert main(["digits", "--epochs", "2", "--lr", "1e6"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("fastnn digits: warning: the network learned nothing: training "
                          "accuracy") and "for every image" in err and "--lr" in err


def test_digits_that_learn_give_no_warning(capsys):
    assert main(["digits", "--epochs", "3"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("chunked", [False, True])
def test_train_names_an_out_it_cannot_write_before_training(chunked, iris_csv, tmp_path,
                                                            capsys):
    """The model was trained, then lost: save's error came after the training."""
    (tmp_path / "folder").mkdir()
    for out, problem in ((tmp_path / "missing" / "m.npz", "does not exist"),
                         (tmp_path / "folder", "is a folder")):
        argv = ["train", str(iris_csv), "--target", "species", "--out", str(out), *FAST]
        assert main(argv + (["--chunk-size", "50"] if chunked else [])) == 1
        captured = capsys.readouterr()
        assert captured.err.startswith(f"fastnn train: error: cannot write the model to {out}")
        assert problem in captured.err and "trained in" not in captured.out


@pytest.mark.parametrize("steps", [[6], "13", [1.5], None, [True], [1, 0]])
def test_demo_run_refuses_bad_steps_before_running_any(steps, tmp_path, capsys):
    """A KeyError (6, '1' of '13') after making the folder and running the steps before."""
    with pytest.raises(ValueError, match="steps must be step numbers from 1 to 5"):
        demo.run(steps, tmp_path / "out")
    assert not (tmp_path / "out").exists() and capsys.readouterr().out == ""


def test_demo_run_takes_numpy_step_numbers(capsys):
    assert set(demo.run(np.array([3]), None)) == {3}


@pytest.mark.parametrize("chunked", [False, True])
def test_train_reads_csv_labels_alike_with_and_without_chunk_size(tmp_path, capsys, chunked):
    """Without --chunk-size, "NA" (pandas' missing value) was a class and "true"/"false"
    text, while --chunk-size refused the first and read the second as booleans."""
    chunk = ["--chunk-size", "2"] if chunked else []
    path = tmp_path / "na.csv"
    path.write_text("a,y\n1,a\n2,b\n3,NA\n4,a\n")
    assert main(["train", str(path), "--out", str(tmp_path / "m.npz"), *FAST, *chunk]) == 1
    assert "target column 'y' has 1 missing" in capsys.readouterr().err
    for labels, classes in [(["true", "false", "true", "false"], [False, True]),
                            (["cat", "dog", "cat", "dog"], ["cat", "dog"]),
                            (["2", "1", "2", "1"], [1, 2])]:
        path.write_text("a,y\n" + "".join(f"{i},{y}\n" for i, y in enumerate(labels)))
        model_path = tmp_path / "m.npz"
        assert main(["train", str(path), "--out", str(model_path), *FAST, *chunk]) == 0
        loaded = fastnn.load(model_path).classes_
        assert loaded.tolist() == classes and loaded.dtype.kind == np.asarray(classes).dtype.kind


@pytest.mark.parametrize("order, note", [
    ("sorted", "; the block has 1 of the 3 classes"), ("shuffled", "")])
def test_train_chunk_size_says_its_score_is_on_training_rows(iris_csv, tmp_path, capsys,
                                                            order, note):
    """Iris (sorted by class) in 50-row chunks printed "accuracy 0.0000 on the last block",
    read as the model's accuracy: it is on the last block's rows, trained on, all one class."""
    path = iris_csv
    if order == "shuffled":
        lines = iris_csv.read_text().splitlines()
        rows = [lines[1:][i] for i in np.random.default_rng(0).permutation(150)]
        path = tmp_path / "shuffled.csv"
        path.write_text("\n".join([lines[0], *rows]) + "\n")
    assert main(["train", str(path), "--chunk-size", "50", "--max-iter", "1",
                 "--hidden-layer-sizes", "2", "--out", str(tmp_path / "m.npz")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("; 1 pass of partial_fit over blocks of 50 rows")  # not "passes"
    last = printed[-2]
    assert re.fullmatch(rf"trained in [0-9.]+ s; accuracy [0-9.]+ on the last block's 50 rows "
                        rf"\(training rows: --chunk-size holds none out{note}\)", last), last


# ------------------------------------------------------ train --sample-weight
@pytest.fixture
def weighted(tmp_path):
    """A CSV file with a weight column between the features, and its contents."""
    rng = np.random.default_rng(3)
    X = np.round(rng.standard_normal((120, 3)), 6)
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    w = np.round(rng.uniform(0, 3, 120), 3)
    path = tmp_path / "w.csv"
    with open(path, "w") as f:
        f.write("a,w,b,c,label\n")
        for row, weight, label in zip(X, w, y):
            f.write(f"{row[0]},{weight},{row[1]},{row[2]},{label}\n")
    return path, X, y, w


WEIGHTED = ["--hidden-layer-sizes", "4", "--max-iter", "5", "--random-state", "0",
            "--sample-weight", "w"]


def test_train_sample_weight_column_weights_the_fit(weighted, tmp_path, capsys):
    from sklearn.model_selection import train_test_split

    path, X, y, w = weighted
    out = tmp_path / "m.npz"
    assert main(["train", str(path), *WEIGHTED, "--out", str(out)]) == 0
    model = fastnn.load(out)
    assert list(model.feature_names_in_) == ["a", "b", "c"]  # the weights are no feature
    X_train, _, y_train, _, w_train, _ = train_test_split(
        X.astype(np.float32), y, w, test_size=0.2, random_state=0, stratify=y)
    import pandas as pd

    expected = fastnn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(
        pd.DataFrame(X_train, columns=list("abc")), y_train, sample_weight=w_train)
    assert model.loss_curve_ == expected.loss_curve_
    unweighted = tmp_path / "u.npz"
    assert main(["train", str(path), *WEIGHTED[:-2], "--target", "label", "--out",
                 str(unweighted)]) == 0
    assert fastnn.load(unweighted).n_features_in_ == 4  # w is a feature when not named


def test_train_chunk_size_sample_weight_equals_weighted_partial_fit(weighted, tmp_path):
    path, X, y, w = weighted
    out = tmp_path / "m.npz"
    assert main(["train", str(path), *WEIGHTED, "--chunk-size", "50", "--out", str(out)]) == 0
    model = fastnn.load(out)
    assert model.n_features_in_ == 3
    expected = fastnn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    for _ in range(5):
        for start in range(0, 120, 50):
            rows = slice(start, start + 50)
            expected.partial_fit(X[rows].astype(np.float32), y[rows], sample_weight=w[rows],
                                 classes=[0, 1])
    assert model.loss_curve_ == expected.loss_curve_


@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "50"]])
@pytest.mark.parametrize("cell, message", [
    ("-1.5", "the sample_weight column 'w' is negative (-1.5) on row 61 (rows counted from 1 "
             "after the header)"),
    ("inf", "the sample_weight column 'w' is infinite (inf) on row 61"),
    ("", "the sample_weight column 'w' is missing or NaN on row 61"),
    ("NA", "the sample_weight column 'w' is missing or NaN on row 61"),
    ("heavy", "sample_weight column 'w' is not numeric: 'heavy' on row 61 (rows counted from "
              "1 after the header)"),
])
def test_train_bad_sample_weights_are_one_clear_line(weighted, cell, message, chunk, capsys):
    path, X, y, w = weighted
    lines = path.read_text().splitlines()
    fields = lines[61].split(",")
    fields[1] = cell
    lines[61] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    assert main(["train", str(path), *WEIGHTED, *chunk]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"fastnn train: error: {path}") and message in captured.err
    assert "trained in" not in captured.out  # found before any training


@pytest.mark.parametrize("chunk", [[], ["--chunk-size", "50"]])
def test_train_sample_weight_names_a_missing_column_or_the_target(weighted, chunk, capsys):
    path = weighted[0]
    assert main(["train", str(path), *WEIGHTED[:-1], "weight", *chunk]) == 1
    assert "has no column 'weight'" in capsys.readouterr().err
    assert main(["train", str(path), *WEIGHTED[:-1], "label", *chunk]) == 1
    assert "--sample-weight and --target name the same column 'label'" in \
        capsys.readouterr().err


def test_train_sample_weight_of_npy_and_npz_files(weighted, tmp_path, capsys):
    _, X, y, w = weighted
    np.save(tmp_path / "d.npy", np.column_stack([X, w, y]))
    np.savez(tmp_path / "d.npz", X=X, y=y, w=w)
    for data, column in (("d.npy", "-2"), ("d.npz", "w")):
        assert main(["train", str(tmp_path / data), *WEIGHTED[:-1], column]) == 0
        assert fastnn.load(tmp_path / "d.model.npz").n_features_in_ == 3
    assert main(["train", str(tmp_path / "d.npy"), *WEIGHTED[:-1], "-2", "--chunk-size",
                 "50"]) == 0
    assert fastnn.load(tmp_path / "d.model.npz").n_features_in_ == 3
    for data, column, message in (("d.npy", "7", "--sample-weight must be a column index in "
                                   "[-5, 5), got '7'"),
                                  ("d.npz", "v", "has no sample weight array 'v'"),
                                  ("d.npz", "y", "--sample-weight names the target array")):
        assert main(["train", str(tmp_path / data), *WEIGHTED[:-1], column]) == 1
        assert message in capsys.readouterr().err
    np.save(tmp_path / "empty.npy", np.zeros((3, 0)))
    assert main(["train", str(tmp_path / "empty.npy")]) == 1
    assert "--target must be a column index in [-0, 0)" in capsys.readouterr().err


def test_predict_leaves_out_the_sample_weight_column(weighted, tmp_path, capsys):
    # the file trained on could not be predicted: its weight column was taken for a feature
    _, X, y, w = weighted
    np.save(tmp_path / "d.npy", np.column_stack([X, w, y]))
    assert main(["train", str(tmp_path / "d.npy"), *WEIGHTED[:-1], "-2"]) == 0
    model = fastnn.load(tmp_path / "d.model.npz")
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "d.model.npz"), str(tmp_path / "d.npy")]) == 1
    assert "the model expects 3 (--target and --sample-weight drop a column each)" in \
        capsys.readouterr().err
    np.save(tmp_path / "test.npy", np.column_stack([X, np.full(len(X), np.nan), y]))
    for data, target in (("d.npy", ["--target", "-1"]), ("test.npy", ["--target", "4"])):
        assert main(["predict", str(tmp_path / "d.model.npz"), str(tmp_path / data),
                     "--sample-weight", "3", *target]) == 0  # its values are not read
        lines = capsys.readouterr().out.splitlines()
        assert lines[1:] == [str(v) for v in model.predict(X.astype(np.float32))]


def test_train_chunk_size_npy_column_errors_name_the_file_and_the_option(weighted, tmp_path,
                                                                          capsys):
    # they were the Python API's ("sample_weight and target name the same column (4)")
    _, X, y, w = weighted
    np.save(tmp_path / "d.npy", np.column_stack([X, w, y]))
    for args, message in ((["--sample-weight", "-1"], "--sample-weight and --target name the "
                                                      "same column 4"),
                          (["--sample-weight", "7"], "--sample-weight must be a column index "
                                                     "in [-5, 5), got '7'"),
                          (["--target", "5"], "--target must be a column index in [-5, 5), "
                                              "got '5'"),
                          # with --chunk-size these named neither the file nor the range
                          (["--target", "x"], "--target must be a column index in [-5, 5), "
                                              "got 'x'"),
                          (["--sample-weight", "w"], "--sample-weight must be a column index "
                                                     "in [-5, 5), got 'w'")):
        for chunk in ([], ["--chunk-size", "50"]):
            assert main(["train", str(tmp_path / "d.npy"), *args, *chunk]) == 1
            assert capsys.readouterr().err == f"fastnn train: error: {tmp_path / 'd.npy'}: " \
                                              f"{message}\n"


@pytest.mark.parametrize("array", [np.zeros((4, 2, 2)), np.zeros(4), np.array([["a", "b"]])])
@pytest.mark.parametrize("target", [[], ["--target", "x"]])
def test_train_chunk_size_refuses_an_npy_array_as_without_it(array, target, tmp_path, capsys):
    # with --chunk-size: "the source must be 2-D (n_samples, n_columns)", naming no file;
    # "--target must be a column index for a .npy file"; text read as features
    np.save(tmp_path / "d.npy", array)
    errors = []
    for chunk in ([], ["--chunk-size", "2"]):
        assert main(["train", str(tmp_path / "d.npy"), *target, *chunk]) == 1
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1] == (f"fastnn train: error: {tmp_path / 'd.npy'}: expected a "
                                      f"2-D numeric array, got {array.ndim}-D {array.dtype}\n")


def test_train_chunk_size_skips_a_chunk_of_zero_weights(weighted, tmp_path, capsys):
    # partial_fit refused the chunk after the chunks before it had trained
    path, X, y, w = weighted
    lines = path.read_text().splitlines()
    for i in range(51, 101):  # rows 50..99: the second chunk of 50
        fields = lines[i].split(",")
        fields[1] = "0"
        lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "m.npz"
    assert main(["train", str(path), *WEIGHTED, "--chunk-size", "50", "--out", str(out)]) == 0
    expected = fastnn.MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    for _ in range(5):
        for rows in (slice(0, 50), slice(100, 120)):
            expected.partial_fit(X[rows].astype(np.float32), y[rows], sample_weight=w[rows],
                                 classes=[0, 1])
    assert fastnn.load(out).loss_curve_ == expected.loss_curve_
    path.write_text("\n".join(lines[:1] + [",".join([f[0], "0", *f[2:]]) for f in
                                           (line.split(",") for line in lines[1:])]) + "\n")
    assert main(["train", str(path), *WEIGHTED, "--chunk-size", "50", "--out", str(out)]) == 1
    assert "the sample_weight column 'w' is 0 on all 120 rows" in capsys.readouterr().err


def test_train_names_a_non_integer_label_of_an_array_file_on_its_array_row(tmp_path, capsys):
    """.npy/.npz files have no header line: their rows count from 0 (the error said "row 1,
    rows counted from 1 after the header" for the value on row 0)."""
    data = np.column_stack([np.arange(20) + 0.5, np.arange(20.0)])
    np.save(tmp_path / "bin.npy", data)
    assert main(["train", str(tmp_path / "bin.npy"), "--target", "0", "--task",
                 "classification"]) == 1
    err = capsys.readouterr().err
    assert "0.5 on row 0" in err and "after the header" not in err
