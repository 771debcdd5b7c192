"""fastnn.fit_stream(..., sample_weight=COLUMN): each row's weight read from a column."""
import numpy as np
import pytest

import fastnn

PARAMS = dict(hidden_layer_sizes=(5,), random_state=0, learning_rate_init=0.01)


@pytest.fixture
def data(rng):
    X = np.round(rng.standard_normal((230, 4)), 6)
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    w = np.round(rng.uniform(0, 3, 230), 3)
    return X, y, w


def write_csv(path, X, y, w, weights=None):
    """Columns a, w, b, c, d, label: the weights between two features."""
    weights = [f"{v}" for v in w] if weights is None else weights
    with open(path, "w") as f:
        f.write("a,w,b,c,d,label\n")
        for row, label, weight in zip(X, y, weights):
            f.write(f"{row[0]:.6f},{weight}," + ",".join(f"{v:.6f}" for v in row[1:])
                    + f",{label}\n")


def by_hand(make, X, y, w, dtype, epochs=2, **fit):
    model = make(**PARAMS)
    for _ in range(epochs):
        for start in range(0, len(X), 100):
            model.partial_fit(X[start:start + 100].astype(dtype), y[start:start + 100],
                              sample_weight=w[start:start + 100], **fit)
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reader", ["pandas", "csv module", "parquet", "npy", "array"])
def test_fit_stream_with_a_weight_column_equals_weighted_partial_fit(hide_pandas, tmp_path, data,
                                                                     reader, dtype):
    X, y, w = data
    table = np.column_stack([X[:, :1], w, X[:, 1:], y])
    source, target, weight = table, -1, 1
    if reader == "npy":
        source = tmp_path / "t.npy"
        np.save(source, table)
    elif reader == "parquet":
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        source = tmp_path / "t.parquet"
        pd.DataFrame(table[:, :5], columns=list("awbcd")).assign(label=y).to_parquet(source)
        target, weight = "label", "w"
    elif reader != "array":
        source = tmp_path / "t.csv"
        write_csv(source, X, y, w)
        target, weight = "label", "w"
        if reader == "csv module":
            hide_pandas()
    streamed = fastnn.fit_stream(fastnn.MLPClassifier(**PARAMS), source, target=target,
                                 sample_weight=weight, batch_size=100, epochs=2, dtype=dtype)
    expected = by_hand(fastnn.MLPClassifier, X, y, w, dtype, classes=[0, 1])
    assert streamed.n_features_in_ == 4  # the weights are no feature
    assert streamed.loss_curve_ == expected.loss_curve_
    np.testing.assert_array_equal(streamed._network.params, expected._network.params)
    unweighted = fastnn.fit_stream(fastnn.MLPClassifier(**PARAMS), X, y=y, batch_size=100,
                                   epochs=2, dtype=dtype)
    assert unweighted.loss_curve_ != streamed.loss_curve_


def test_regressor_and_a_weight_column_by_position_from_the_end(tmp_path, data):
    X, y, w = data
    target = X @ [1.0, -2.0, 0.5, 0.0]
    path = tmp_path / "r.npy"
    np.save(path, np.column_stack([X, target, w]))
    streamed = fastnn.fit_stream(fastnn.MLPRegressor(**PARAMS), path, target=-2,
                                 sample_weight=-1, batch_size=100, epochs=2)
    expected = by_hand(fastnn.MLPRegressor, X, target, w, np.float64)
    assert streamed.loss_curve_ == expected.loss_curve_


@pytest.mark.parametrize("cell, problem, row", [
    ("nan", "is missing or NaN", 150), ("", "is missing or NaN", 150),
    ("inf", r"is infinite \(inf\)", 150), ("-0.5", r"is negative \(-0.5\)", 150),
])
@pytest.mark.parametrize("make", [fastnn.MLPClassifier, fastnn.MLPRegressor])
def test_bad_weights_are_errors_naming_the_column_and_the_row(csv_reader, tmp_path, data,
                                                              cell, problem, row, make):
    X, y, w = data
    weights = [f"{v}" for v in w]
    weights[row] = cell
    path = tmp_path / "t.csv"
    write_csv(path, X, y, w, weights)
    model = make(**PARAMS)
    with pytest.raises(ValueError, match=rf"block 2 \(rows 101 to 200, counted from 1 "
                       rf"after the header\): the sample_weight column 'w' {problem} on "
                       rf"row {row + 1}"):
        fastnn.fit_stream(model, path, target="label", sample_weight="w", batch_size=100)
    if make is fastnn.MLPClassifier:  # found by the first pass, before any update
        assert not hasattr(model, "coefs_")


def test_bad_weights_of_an_array_are_named_by_position(data):
    X, y, w = data
    w = w.copy()
    w[7] = -1.0
    table = np.column_stack([X, w])
    with pytest.raises(ValueError, match=r"block 1 .*the sample_weight column 4 is negative "
                                         r"\(-1.0\) on row 7"):
        fastnn.fit_stream(fastnn.MLPRegressor(), table, y=y.astype(float), sample_weight=4,
                          batch_size=100)


def test_a_weight_that_is_not_a_number_is_named(csv_reader, tmp_path, data):
    X, y, w = data
    weights = [f"{v}" for v in w]
    weights[5] = "heavy"
    path = tmp_path / "t.csv"
    write_csv(path, X, y, w, weights)
    with pytest.raises(ValueError, match=r"t.csv: sample_weight column 'w' is not numeric: "
                                         r"'heavy' on row 6 \(rows counted from 1 after "
                                         r"the header\)"):
        fastnn.fit_stream(fastnn.MLPRegressor(), path, target="label", sample_weight="w")


@pytest.mark.parametrize("source", ["csv", "array"])
def test_a_missing_weight_column_is_an_error_before_any_update(tmp_path, data, source):
    X, y, w = data
    if source == "csv":
        path = tmp_path / "t.csv"
        write_csv(path, X, y, w)
        args, missing, message = (path,), "weight", r"sample_weight: no column named 'weight'"
    else:
        args, missing, message = (X,), 9, r"sample_weight column 9 is out of range for 4"
    model = fastnn.MLPRegressor()
    with pytest.raises(ValueError, match=message):
        fastnn.fit_stream(model, *args, **({"target": "label"} if source == "csv" else
                                           {"y": y.astype(float)}),
                          sample_weight=missing)
    assert not hasattr(model, "coefs_")


def test_weight_column_arguments_are_checked(tmp_path, data):
    X, y, w = data
    path = tmp_path / "t.csv"
    write_csv(path, X, y, w)
    with pytest.raises(ValueError, match="sample_weight and target name the same column "
                                         r"\('label'\)"):
        fastnn.fit_stream(fastnn.MLPRegressor(), path, target="label", sample_weight="label")
    with pytest.raises(ValueError, match=r"the same column \(3\)"):
        fastnn.fit_stream(fastnn.MLPRegressor(), X, target=3, sample_weight=-1)
    with pytest.raises(TypeError, match="sample_weight must be a column name"):
        fastnn.fit_stream(fastnn.MLPRegressor(), X, y=y, sample_weight=w)

    class NoWeights(fastnn.MLPRegressor):
        def partial_fit(self, X, y):
            return super().partial_fit(X, y)

    with pytest.raises(TypeError, match="NoWeights.partial_fit takes no sample_weight"):
        fastnn.fit_stream(NoWeights(), path, target="label", sample_weight="w")


@pytest.mark.parametrize("cell", ["", "NA"])
def test_a_missing_weight_on_the_first_line_of_a_headerless_file_is_reported(csv_reader,
                                                                             tmp_path, cell):
    # the line was taken for a header (a field that is not a number) and dropped silently
    path = tmp_path / "t.csv"
    path.write_text(f"1.0,2.0,{cell},0\n3.0,4.0,1.5,1\n5.0,6.0,2.0,0\n")
    with pytest.raises(ValueError, match=r"block 1 \(rows 1 to 3, counted from 1\): the "
                                         r"sample_weight column 2 is missing or NaN on row "
                                         r"1"):
        fastnn.fit_stream(fastnn.SGDClassifier(), path, target=3, sample_weight=2,
                          classes=[0, 1])
    first = next(fastnn.streaming._stream(path, target=3, weight=-2)[0])
    assert first[0].tolist()[0] == [1.0, 2.0] and np.isnan(first[2][0])


@pytest.mark.parametrize("make", [fastnn.MLPClassifier, fastnn.SGDClassifier])
def test_a_block_of_zero_weights_is_skipped_as_its_rows_train_nothing(tmp_path, data, make):
    # partial_fit refused the block ("Sample weights must contain at least one non-zero
    # number") after the blocks before it had trained: whether zero weights fill a block
    # depends on batch_size alone
    X, y, w = data
    w = w.copy()
    w[100:200] = 0.0
    path = tmp_path / "t.csv"
    write_csv(path, X, y, w)
    params = PARAMS if make is fastnn.MLPClassifier else dict(random_state=0)
    streamed = fastnn.fit_stream(make(**params), path, target="label", sample_weight="w",
                                 batch_size=100, epochs=2)
    expected = make(**params)
    for _ in range(2):
        for rows in (slice(0, 100), slice(200, 230)):
            expected.partial_fit(X[rows], y[rows], sample_weight=w[rows], classes=[0, 1])
    if make is fastnn.MLPClassifier:
        assert streamed.loss_curve_ == expected.loss_curve_
    else:
        np.testing.assert_array_equal(streamed.coef_, expected.coef_)
    write_csv(path, X, y, np.zeros_like(w))
    model = make(**params)
    with pytest.raises(ValueError, match=r"fit_stream: the sample_weight column 'w' is 0 on all "
                                         r"230 rows: there is nothing to train on"):
        fastnn.fit_stream(model, path, target="label", sample_weight="w", classes=[0, 1])
    assert not hasattr(model, "classes_")


def test_boolean_weights_are_not_numbers_with_or_without_pandas(csv_reader, tmp_path, data):
    # pandas read a chunk of only True/False as 1/0, the csv module (and fastnn train without
    # --chunk-size) refused them: the result depended on the reader and on the chunking
    X, y, w = data
    path = tmp_path / "t.csv"
    write_csv(path, X, y, w, ["True" if v > 1 else "False" for v in w])
    with pytest.raises(ValueError, match=r"sample_weight column 'w' is not numeric: "
                                         r"'(True|False)' on row 1 "):
        fastnn.fit_stream(fastnn.SGDClassifier(), path, target="label", sample_weight="w",
                          batch_size=100)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_file_numbers_its_rows_alike_in_every_message(tmp_path, suffix):
    """A weight that is not a number was on "row 3 (rows counted from 1)" and a negative one
    in the same place on "row 2" of "rows ... counted from 0"; a missing label too."""
    if suffix == "parquet":
        pytest.importorskip("pyarrow")
    import pandas as pd

    def error(**changed):
        frame = pd.DataFrame({"a": [1.0, 2, 3, 4], "w": ["1", "1", "1", "1"],
                              "label": ["0", "1", "0", "1"]}).assign(**changed)
        path = tmp_path / f"t.{suffix}"
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path)
        with pytest.raises(ValueError) as caught:
            fastnn.fit_stream(fastnn.MLPClassifier(hidden_layer_sizes=(2,)), path,
                              target="label", sample_weight="w", batch_size=2)
        return str(caught.value)

    note = "counted from 1 after the header"
    assert f"'x' on row 3 (rows {note})" in error(w=["1", "1", "x", "1"])
    assert error(w=["1", "1", "-1", "1"]).startswith(
        f"fit_stream: block 2 (rows 3 to 4, {note}): the sample_weight column 'w' is negative "
        f"(-1.0) on row 3")
    assert error(label=["0", "1", None, "1"]).startswith(
        f"fit_stream: block 2 (rows 3 to 4, {note}): the label on row 3 is missing")
