"""fit_stream / iter_batches: a CSV file's labels read the same in every block, with or
without pandas."""

import numpy as np
import pytest

import fastnn


def write(path, labels, header=True):
    """A CSV file of one feature column (the row number) and ``labels``."""
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    path.write_text(("x,label\n" if header else "") + rows)
    return path


def expected_classes(path):
    """scikit-learn's classes_ for the target column as pandas reads the whole file."""
    pd = pytest.importorskip("pandas")
    return np.unique(pd.read_csv(path)["label"].to_numpy())


MIXED = ["0", "1", "0", "1", "0", "1", "1", "a", "0", "1"]  # integers, then text in block 2


@pytest.mark.parametrize("batch_size", [3, 4, 6, 100])
def test_labels_integer_in_one_block_and_text_in_another_are_one_type(tmp_path, batch_size):
    """pandas typed each chunk alone: 1 in block 1, "1" next to "a" in block 2, and finding
    the classes failed with "'<' not supported between instances of 'str' and 'int'"."""
    path = write(tmp_path / "t.csv", MIXED)
    model = fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0),
                              path, target="label", batch_size=batch_size)
    np.testing.assert_array_equal(model.classes_, ["0", "1", "a"])
    np.testing.assert_array_equal(model.classes_, expected_classes(path))


def test_given_text_classes_read_integer_looking_labels_as_text(tmp_path):
    """With classes=["0", "1", "a"] the block of 0s and 1s gave integer labels, "not in
    classes"; a model fitted on text labels goes on on such a file without classes=."""
    path = write(tmp_path / "t.csv", MIXED)
    model = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    fastnn.fit_stream(model, path, target="label", batch_size=4, classes=["0", "1", "a"])
    np.testing.assert_array_equal(model.classes_, ["0", "1", "a"])
    path = write(tmp_path / "ints.csv", ["0", "1"] * 5)
    fastnn.fit_stream(model, path, target="label", batch_size=4)
    assert len(model.loss_curve_) == 6


def test_given_integer_classes_name_a_text_label(tmp_path):
    path = write(tmp_path / "t.csv", MIXED)
    model = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    with pytest.raises(ValueError, match=r"^fit_stream: block 2 \(rows 5 to 8, counted from "
                                         r"1 after the header\): the label 'a' on row 8 is "
                                         r"not one of the "
                                         r"classes \[0, 1\]"):
        fastnn.fit_stream(model, path, target="label", batch_size=4, classes=[0, 1])
    path = write(tmp_path / "f.csv", ["0", "1", "0", "1", "0", "1.0"])  # 1.0 is class 1
    fastnn.fit_stream(model, path, target="label", batch_size=4, classes=[0, 1])
    assert model.classes_.dtype.kind == "i"


def test_a_target_named_in_a_header_with_a_byte_order_mark(tmp_path):
    """pandas drops the mark from the first column's name: the label column is found, and
    read as text like the others."""
    path = tmp_path / "t.csv"
    path.write_bytes("label,a\n0,1\n1,2\n".encode("utf-8-sig"))
    (_, y), = fastnn.iter_batches(path, 5, target="label")
    assert y.tolist() == [0, 1]


def test_a_target_named_with_spaces_around_it_in_the_header(tmp_path):
    """"a, label" names the column "label" (the names are stripped): pandas read it without
    the text converter, keyed by the unstripped name, and every label was "missing"."""
    path = tmp_path / "t.csv"
    path.write_text("a, label \n1,0\n2,1\n3,1\n")
    (_, y), = fastnn.iter_batches(path, 5, target="label")
    assert y.tolist() == [0, 1, 1]
    model = fastnn.fit_stream(fastnn.SGDClassifier(), path, target="label", batch_size=2)
    assert model.classes_.tolist() == [0, 1]


@pytest.mark.parametrize("missing, shown", [("", "an empty cell"), ("NA", "empty, NA or NaN"),
                                            ("nan", "empty, NA or NaN")])
@pytest.mark.parametrize("classes", [None, [0, 1]])
def test_a_missing_label_is_an_error_naming_its_row(tmp_path, missing, shown, classes):
    """An empty label in a later chunk made it a float chunk with NaN: a NaN class (or with
    text labels, the classes' sort failed comparing float and str)."""
    path = write(tmp_path / "t.csv", ["0", "1", "0", "1", "0", "1", missing, "1"])
    if missing == "":  # pandas cannot tell an empty cell from NA: a message for both
        shown = "empty, NA or NaN"
    with pytest.raises(ValueError, match=rf"^fit_stream: block 2 \(rows 5 to 8, counted from "
                                         rf"1 after the header\): the label on row 7 is "
                                         rf"missing \({shown}\)"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                          target="label", batch_size=4, classes=classes)


def test_a_missing_text_label_is_an_error(tmp_path):
    path = write(tmp_path / "t.csv", ["a", "b", "a", "b", "a", "b", "", "a"])
    with pytest.raises(ValueError, match=r"block 2 .*the label on row 7 is missing"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                          target="label", batch_size=4)


def test_iter_batches_types_the_labels_by_the_first_block(tmp_path):
    """The blocks agree on the labels' type: text after integers is an error naming the row,
    integers after text are text, and integers widen to floats."""
    path = write(tmp_path / "t.csv", MIXED)
    with pytest.raises(ValueError, match=r"t.csv: target column 'label', row 8 \(rows counted "
                                         r"from 1 after the header\): the label 'a' is not an "
                                         r"integer like those of the first block"):
        list(fastnn.iter_batches(path, 4, target="label"))
    labels = [y for _, y in fastnn.iter_batches(write(tmp_path / "u.csv", MIXED[::-1]), 4,
                                                target=-1)]
    assert [y.dtype.kind for y in labels] == ["U", "U", "U"]
    assert labels[2].tolist() == ["1", "0"]
    labels = [y for _, y in fastnn.iter_batches(write(tmp_path / "f.csv", ["1", "2", "2.5"]),
                                                2, target=-1)]
    assert labels[0].tolist() == [1, 2] and labels[1].tolist() == [2.5]
    with pytest.raises(ValueError, match=r"row 3 .*: the label is missing \(an empty cell\)"):
        list(fastnn.iter_batches(write(tmp_path / "m.csv", ["1", "2", " "]), 2, target=-1))


def test_regressor_names_a_text_target(tmp_path):
    path = write(tmp_path / "t.csv", ["0.5", "1", "2", "3", "1", "x"])
    with pytest.raises(ValueError, match=r"block 2 \(rows 5 to 6, counted from 1 after "
                                         r"the header\): the label 'x' on row 6 is not a "
                                         r"number"):
        fastnn.fit_stream(fastnn.MLPRegressor(hidden_layer_sizes=(2,)), path, target="label",
                          batch_size=4)


def test_fastnn_train_chunk_size_reads_mixed_labels_as_text(tmp_path, capsys):
    """It failed with a TypeError traceback sorting 1 and "a"."""
    from fastnn import load
    from fastnn.__main__ import main

    path = write(tmp_path / "t.csv", MIXED)
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--chunk-size", "4", "--max-iter", "1",
                 "--hidden-layer-sizes", "2", "--out", str(out)]) == 0
    np.testing.assert_array_equal(load(out).classes_, ["0", "1", "a"])


# ------------------------------------------------------- without pandas: the csv module
LABEL_SETS = [
    ["cat", "dog", "cat", "dog", "bird", "cat", "dog"],
    MIXED,
    ["1", "2", "1", "2", "1.0", "2"],
    [" 1", "+2", "1", "2", "0001", "-0"],
    ["1", "2", "1", "2", "1_0", "2"],  # Python's int() takes 1_0, pandas keeps it as text
    ["1", "2", "1", "2", "0x1", "2"],
    ["True", "false", "TRUE", "False", "true", "FALSE"],
    ["True", "false", "TRUE", "False", "true", "1"],
    ["1", "2", "1", "2", "1e3", "2"],
]


@pytest.mark.parametrize("labels", LABEL_SETS, ids=range(len(LABEL_SETS)))
def test_the_csv_module_reads_labels_as_pandas(hide_pandas, tmp_path, labels):
    """The csv-module reader could not read text labels at all ("not a number in [...]"), and
    took "1_0" or " 1" for integers by Python's int(); the same file now gives the same
    classes_ and training with or without pandas, those of pandas reading the whole file."""
    path = write(tmp_path / "t.csv", labels)
    params = dict(hidden_layer_sizes=(2,), random_state=0)
    with_pandas = fastnn.fit_stream(fastnn.MLPClassifier(**params), path, target="label",
                                    batch_size=4, epochs=2)
    expected = expected_classes(path)
    hide_pandas()
    without = fastnn.fit_stream(fastnn.MLPClassifier(**params), path, target="label",
                                batch_size=4, epochs=2)
    for model in (with_pandas, without):
        np.testing.assert_array_equal(model.classes_, expected)
        assert model.classes_.dtype.kind == expected.dtype.kind.replace("O", "U")
    assert with_pandas.loss_curve_ == without.loss_curve_


def test_the_csv_module_names_a_missing_text_label(hide_pandas, tmp_path):
    hide_pandas()
    path = write(tmp_path / "t.csv", ["a", "b", "a", "b", "a", "b", "NA", "a"])
    with pytest.raises(ValueError, match=r"block 2 .*the label on row 7 is missing \('NA'\)"):
        fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                          target="label", batch_size=4)
    blocks = list(fastnn.iter_batches(write(tmp_path / "u.csv", ["a", "b", "c"], header=False),
                                      2, target=1, header=False))
    assert [y.tolist() for _, y in blocks] == [["a", "b"], ["c"]]


def test_fastnn_train_chunk_size_without_pandas_reads_text_labels(hide_pandas, tmp_path,
                                                                  capsys):
    from fastnn import load
    from fastnn.__main__ import main

    hide_pandas()
    path = write(tmp_path / "t.csv", ["cat", "dog"] * 5)
    out = tmp_path / "m.npz"
    assert main(["train", str(path), "--chunk-size", "4", "--max-iter", "1",
                 "--hidden-layer-sizes", "2", "--out", str(out)]) == 0
    np.testing.assert_array_equal(load(out).classes_, ["cat", "dog"])


def test_the_csv_module_names_a_line_of_another_width(hide_pandas, tmp_path):
    """A short line made a ragged block: numpy's "inhomogeneous shape" error."""
    hide_pandas()
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n5,z\n")
    with pytest.raises(ValueError, match=r"t.csv, line 4: 2 fields, expected 3"):
        list(fastnn.iter_batches(path, 10, target="label"))


# ------------------------------------------------- header="infer" and text labels
def test_a_headerless_file_of_text_labels_keeps_its_first_row(csv_reader, tmp_path):
    """header="infer" took any first line with a field that is not a number for a header:
    a headerless file of text labels lost its first row without a word."""
    path = tmp_path / "t.csv"
    path.write_text("0.5,1.5,cat\n0.25,2,dog\n1,3,cat\n")
    X, y = zip(*fastnn.iter_batches(path, 2, target=-1))
    np.testing.assert_array_equal(np.vstack(X), [[0.5, 1.5], [0.25, 2], [1, 3]])
    assert np.concatenate(y).tolist() == ["cat", "dog", "cat"]
    # a header still is one: names that are not numbers, or only the target's name
    for text in ("a,b,label\n0.5,1.5,cat\n", "1,2,label\n0.5,1.5,3\n", "\na,b,label\n1,2,x\n"):
        path.write_text(text)
        X, y = next(iter(fastnn.iter_batches(path, 2, target=-1)))
        assert X.shape == (1, 2) and len(y) == 1


@pytest.mark.parametrize("classes", [None, ["x", "z"]])
def test_a_null_parquet_label_is_an_error_naming_its_row(tmp_path, classes):
    """With classes= given, a null text label failed in partial_fit as "'<' not supported
    between instances of 'str' and 'NoneType'"."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1.0, 2, 3, 4], "y": ["x", "z", None, "z"]}), path)
    model = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    with pytest.raises(ValueError, match=r"^fit_stream: block 2 \(rows 3 to 4, counted from "
                                         r"1 after the header\): the label on row 3 is "
                                         r"missing \(null\)"):
        fastnn.fit_stream(model, path, target="y", batch_size=2, classes=classes)


# ------------------------------------------------- the csv module's decoding and archives
def test_the_csv_module_drops_a_byte_order_mark(hide_pandas, tmp_path):
    """It kept the mark in the first column's name: "no column named 'label'; columns:
    ['\\ufefflabel', 'a']", where pandas found it."""
    hide_pandas()
    path = tmp_path / "t.csv"
    path.write_bytes("label,a\n0,1\n1,2\n".encode("utf-8-sig"))
    (_, y), = fastnn.iter_batches(path, 5, target="label")
    assert y.tolist() == [0, 1]


@pytest.mark.parametrize("target", ["label", -1])
def test_a_zipped_csv_file(csv_reader, tmp_path, target):
    """.zip is a suffix iter_batches takes, but the header sniffing and the csv-module reader
    read the archive's bytes as text: UnicodeDecodeError."""
    import zipfile

    path = tmp_path / "t.csv.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("t.csv", "a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    blocks = list(fastnn.iter_batches(path, 2, target=target))
    np.testing.assert_array_equal(np.vstack([X for X, _ in blocks]), [[1, 2], [3, 4], [5, 6]])
    assert [y.tolist() for _, y in blocks] == [["x", "y"], ["x"]]


def test_a_zstandard_csv_file(csv_reader, tmp_path):
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "t.csv.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"a,b,label\n1,2,x\n3,4,y\n"))
    for target in ("label", -1):
        (X, y), = fastnn.iter_batches(path, 5, target=target)
        assert X.tolist() == [[1, 2], [3, 4]] and y.tolist() == ["x", "y"]


def test_the_csv_module_reads_utf8_whatever_the_locale(tmp_path):
    """Without pandas, the file was decoded in the locale's encoding: under LANG=C a label
    "café" was a UnicodeDecodeError (pandas reads UTF-8)."""
    import os
    import subprocess
    import sys

    path = tmp_path / "t.csv"
    path.write_text("a,label\n1,café\n2,naïve\n", encoding="utf-8")
    code = ("import builtins\n"
            "real = builtins.__import__\n"
            "def no_pandas(name, *a, **k):\n"
            "    if name == 'pandas':\n"
            "        raise ImportError(name)\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = no_pandas\n"
            "from fastnn.streaming import iter_batches\n"
            f"(_, y), = iter_batches({str(path)!r}, 5, target='label')\n"
            "print(ascii(y.tolist()))\n")
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ascii(["café", "naïve"])


def test_a_first_data_line_longer_than_the_header_is_an_error(csv_reader, tmp_path):
    """pandas took its first field for the row index: the features moved one column left
    and the first column was dropped without a word."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,3,0\n4,5,6,1\n")
    with pytest.raises(ValueError, match=r"t.csv, line 2: 4 fields, expected 3 \(the "
                                         r"header's\)"):
        list(fastnn.iter_batches(path, 5, target="label"))
    path.write_text("a,b,label\n1,2,0\n4,5,6,1\n")  # a later line: pandas' error, and the file
    with pytest.raises(ValueError, match=r"t.csv(, line 3: 4 fields|: .*Expected 3 fields in "
                                         r"line 3, saw 4)"):
        list(fastnn.iter_batches(path, 5, target="label"))


@pytest.mark.parametrize("header", [0, 1, "yes"])
def test_header_must_be_infer_or_a_bool(tmp_path, header):
    """pandas' header=0 ("the first line") was taken for False: the header line became a
    data row, refused as 'not numeric'.  None is pandas' "no header", as it was."""
    path = write(tmp_path / "t.csv", ["0", "1"])
    with pytest.raises(TypeError, match=r"header must be 'infer', True or False, got"):
        fastnn.iter_batches(path, 5, target="label", header=header)
    (_, y), = fastnn.iter_batches(path, 5, target="label", header=np.bool_(True))
    assert y.tolist() == [0, 1]
    (X, y), = fastnn.iter_batches(write(tmp_path / "n.csv", ["a", "b"], header=False), 5,
                                  target=-1, header=None)
    assert X.tolist() == [[0], [1]] and y.tolist() == ["a", "b"]


def test_classes_for_a_regressor_is_an_error(tmp_path):
    """They were ignored without a word (scikit-learn's regressors' partial_fit takes none)."""
    path = write(tmp_path / "t.csv", ["0.5", "1.5"])
    with pytest.raises(TypeError, match="classes= is for classifiers; MLPRegressor is a "
                                        "regressor"):
        fastnn.fit_stream(fastnn.MLPRegressor(hidden_layer_sizes=(2,)), path, target="label",
                          classes=[0, 1])


def test_fastnn_train_chunk_size_strips_text_labels_as_without_chunks(csv_reader, tmp_path,
                                                                      capsys):
    """" cat" and "cat" were two classes with --chunk-size, one without."""
    from fastnn import load
    from fastnn.__main__ import main

    path = tmp_path / "t.csv"
    path.write_text("a,y\n1, cat\n2,dog\n3,cat\n4, dog \n")
    for chunks, out in ((["--chunk-size", "2"], tmp_path / "c.npz"),
                        (["--validation-split", "0"], tmp_path / "w.npz")):
        assert main(["train", str(path), *chunks, "--max-iter", "1", "--hidden-layer-sizes",
                     "2", "--out", str(out)]) == 0
        np.testing.assert_array_equal(load(out).classes_, ["cat", "dog"])


def test_a_target_name_is_found_among_header_names_with_spaces(csv_reader, tmp_path):
    """target="label" did not find the column " label" (the command line strips names)."""
    path = tmp_path / "spaced.csv"
    path.write_text("a, label ,b\n1,x,2\n3,y,4\n")
    (X, y), = list(fastnn.iter_batches(str(path), target="label"))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["x", "y"]


@pytest.mark.parametrize("make", [fastnn.MLPClassifier, fastnn.MLPRegressor])
@pytest.mark.parametrize("bad, shown", [(np.nan, r"is missing \(NaN\)"),
                                        (-np.inf, r"is infinite \(-inf\)")])
def test_a_nan_label_of_a_parquet_file_or_an_array_names_its_row(tmp_path, make, bad, shown):
    """A null float label of a Parquet file (or NaN in y) was "Input y contains NaN or
    infinity", naming the block but not the row."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    y = np.array([0.0, 1, 0, 1, bad, 1])
    pq.write_table(pa.table({"a": np.arange(6.0), "y": pa.array(y, from_pandas=True)}), path)
    sources = [(path, dict(target="y"), 5), (np.arange(6.0).reshape(-1, 1), dict(y=y), 4)]
    if make is fastnn.MLPRegressor:  # a multi-output y: the row of its first bad value
        sources.append((np.arange(6.0).reshape(-1, 1), dict(y=np.c_[np.ones(6), y]), 4))
    fit_params = {"classes": [0.0, 1.0]} if make is fastnn.MLPClassifier else {}
    for source, kw, row in sources:
        with pytest.raises(ValueError, match=rf"^fit_stream: block 2 .*: the label on row "
                                             rf"{row} {shown}"):
            fastnn.fit_stream(make(hidden_layer_sizes=(2,)), source, batch_size=3,
                              **fit_params, **kw)


@pytest.mark.parametrize("suffix", ["csv", "npy"])
def test_a_label_missing_from_the_classes_is_named_by_its_row(tmp_path, suffix):
    """classes= without a label of a later block: partial_fit said "y has classes not in
    classes_ [0 1]: [2]", naming the block but not the row; the blocks before it stay
    trained, as documented."""
    table = np.column_stack([np.arange(6.0), [0, 1, 0, 1, 2, 1]])
    path = tmp_path / f"t.{suffix}"
    if suffix == "csv":
        np.savetxt(path, table, fmt="%d", delimiter=",", header="a,label", comments="")
        row = "row 5"
    else:
        np.save(path, table)
        row = "row 4"
    model = fastnn.MLPClassifier(hidden_layer_sizes=(2,), random_state=0)
    with pytest.raises(ValueError, match=rf"^fit_stream: block 2 .*: the label 2(\.0)? on "
                                         rf"{row} is not one of the classes \[0, 1\]"):
        fastnn.fit_stream(model, path, target=-1, classes=[0, 1], batch_size=3)
    assert model.classes_.tolist() == [0, 1] and len(model.loss_curve_) == 1
