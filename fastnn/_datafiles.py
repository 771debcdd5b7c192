"""The data files of ``fastnn train``, ``predict`` and ``profile``: features, target and
sample weights read from CSV, Parquet, ``.npy`` and ``.npz`` files, the target typed as
class labels or numbers, and predictions written as CSV or ``.npy``.

CSV files (``.csv``, ``.txt``, tab-separated ``.tsv``; compressed too, ``.csv.gz`` ...,
as ``--chunk-size`` reads them) and Parquet files name their columns on their first line
(the header); ``.npy`` files hold a 2-D numeric array whose columns are named by index;
``.npz`` files hold a feature array ``X`` (or the only other array) and a target array
``y`` (or ``--target``).  Errors are ValueErrors naming the file, the column and the row.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from ._csv import (BeyondRange, as_features, as_weights, check_weights, missing_label,
                   non_finite_feature, open_text, rows_note, text_as, text_kind)

_SUFFIXES = (".csv", ".npy", ".npz", ".parquet", ".pq")
# read as CSV (.tsv: tab-separated), compressed too (.csv.gz ...), as --chunk-size reads them
_TEXT = (".csv", ".tsv", ".txt")
_PACKED = (".gz", ".bz2", ".xz", ".zip", ".zst")


def read_data(path, target=None, *, train: bool, feature_names=None, weight=None,
              dtype=np.float64):
    """Features, target, feature names and sample weights from a data file.

    ``weight`` names the column of sample weights (CSV/Parquet: a name; .npy: an index;
    .npz: an array), which is not a feature.  ``feature_names`` (a model's) picks the
    feature columns by name; with ``train``, a target among them is a ValueError.
    A feature that is missing (NaN; in CSV files also empty or NA, as pandas reads them),
    infinite or beyond the range of ``dtype`` is a ValueError naming its column (a .npy
    file's by its index in the file) and row.

    Returns
    -------
    X : ndarray of ``dtype``, shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) (or (n_samples, n_outputs) from .npz), None unless train
    names : list of str or None
        Feature column names (CSV/Parquet).
    weights : ndarray of float64, shape (n_samples,), or None without ``weight`` or ``train``
        Finite and non-negative (else a ValueError naming the column and the row).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _PACKED and Path(path.stem).suffix.lower() in _TEXT:
        suffix = Path(path.stem).suffix.lower()
    if suffix not in _SUFFIXES + _TEXT:
        raise ValueError(f"{path}: unsupported data file type {suffix!r}; use "
                         f"{', '.join(_SUFFIXES)}, .tsv or .txt (CSV files also compressed: "
                         f".csv.gz, {', '.join(_PACKED[1:])})")
    if suffix == ".npy":
        X, y, weights, columns = _split_array(load_npy(path), target, train, path, weight)
        if y is not None:
            check_target(y, f"{path}: the target column", base=0)
        weights = _weights(weights if train else None, path, weight, base=0)
        return _features(X, dtype, path, columns), y, None, weights
    if suffix == ".npz":
        X, y, names, weights = _from_npz(path, target, train, weight)
        if y is not None:
            check_target(y, f"{path}: the target array", base=0)
        weights = _weights(weights if train else None, path, weight, base=0)
        return _features(X, dtype, path), y, names, weights
    columns = _read_csv(path, "\t" if suffix == ".tsv" else ",") if suffix in _TEXT \
        else _read_parquet(path)
    if train:
        target = column_name(columns, target if target is not None else list(columns)[-1], path)
    elif target is not None:
        target = column_name(columns, target, path)
    weights = None
    if weight is not None:
        weight = column_name(columns, weight, path)
        distinct_columns(target, weight, path)
        if train:  # predict only leaves the column out
            weights = _weights(columns[weight], path, weight)
    if feature_names is not None:
        missing = [name for name in feature_names if name not in columns]
        if missing:
            raise ValueError(f"{path} lacks the model's feature columns {missing}")
        names = list(feature_names)
        if train and target in names:  # it would be a feature and the target
            raise ValueError(f"{path}: the target column {target!r} is one of the model's "
                             f"features; name the target column with --target (default: the "
                             f"last column)")
    else:
        names = [name for name in columns if name not in (target, weight)]
    for name in names:
        if columns[name].dtype.kind not in "biuf":
            raise ValueError(f"{path}: feature column {name!r} is not numeric: "
                             f"{_not_a_number(columns[name])}")
    if not names:
        raise ValueError(f"{path} has no feature columns")
    X = np.column_stack([columns[name] for name in names]).astype(np.float64)
    if not train:
        return _features(X, dtype, path, names), None, names, weights
    y, what = columns[target], f"{path}: target column {target!r}"
    if suffix in _TEXT and y.dtype.kind == "U":  # not all numbers: typed as --chunk-size
        y = text_labels(y, what)
    else:
        check_target(y, what)
    return _features(X, dtype, path, names), y, names, weights


def _features(X: np.ndarray, dtype, path, columns=None) -> np.ndarray:
    """The features ``X`` (float64) read from data file ``path`` as ``dtype``, checked by
    :func:`file_as_dtype` and :func:`check_finite_features` (``columns``: their names, or
    a .npy file's column indices)."""
    X = file_as_dtype(X, dtype, path, "feature", columns)
    check_finite_features(X, path, columns)
    return X


def _weights(values, path, column, offset: int = 0, base: int = 1):
    """Sample weights as float64 (None for None): numbers, none missing, infinite or
    negative, else a ValueError naming the file, the column and the row (``values[0]`` is
    row ``offset + base``)."""
    if values is None:
        return None
    try:
        weights = as_weights(values, column, offset + base, rows_note(base))
    except ValueError as exc:  # text that is not a number
        raise ValueError(f"{path}: {exc}") from None
    return check_weights(weights, column, offset + base, str(path), rows_note(base))


def text_labels(values, what: str, offset: int = 0, base: int = 1, kind: str | None = None):
    """Target values read as CSV text, typed as ``fastnn._csv`` types a column (as pandas
    does), with and without --chunk-size alike: pandas' missing-value texts ("NA", "null",
    ...) are missing (:func:`check_target` names their rows), the others are stripped and
    read as ``kind`` ('i', 'f', 'b' or 'U'; default: the values' own, so "true"/"false" are
    booleans).  ``_csv.NotOfKind`` for a value that is not of ``kind``.  Read apart, "NA"
    was a class without --chunk-size and a missing label with it.
    """
    labels = np.array([None if missing_label(v) else v.strip() for v in values], dtype=object)
    check_target(labels, what, offset, base)
    return text_as(labels, kind or text_kind(labels))


def _not_a_number(values, base: int = 1, offset: int = 0) -> str:
    """The first entry of ``values`` that is not a number, else the first text (a Parquet
    column of numbers written as text), and its row (``values[0]`` is row ``offset + base``;
    ``base``: 1, a data line after a header, or 0, an array's first row)."""
    for row, value in enumerate(values, start=offset + base):
        if isinstance(value, str) and missing_label(value):
            continue  # missing, not text: a feature's is reported as missing, not here
        try:
            float(value)
        except (TypeError, ValueError):
            return f"{str(value)!r} on row {row} ({rows_note(base)})"
    for row, value in enumerate(values, start=offset + base):
        if isinstance(value, str):
            return f"the text {str(value)!r} on row {row} ({rows_note(base)})"
    return f"dtype {values.dtype}"


def file_regression_target(y: np.ndarray, path, offset: int = 0) -> np.ndarray:
    """``y`` read from data file ``path`` (``y[0]`` is its row ``offset``, counted from 0 as
    ``row_base`` adds to it), which a regression needs numeric: else a ValueError naming the
    file and the first value that is not a number, by its row."""
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{path}: a regression target must be numeric, got "
                         f"{_not_a_number(y, row_base(path), offset)}")
    return y


def load_npy(path, mmap_mode=None) -> np.ndarray:
    """The array of .npy file ``path`` (``mmap_mode``: as ``np.load``); ValueError naming the
    file if it is not a readable one."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except OSError:
        raise
    except Exception as exc:  # corrupt header, pickled objects, truncated data...
        raise ValueError(f"{path} is not a readable .npy file: {type(exc).__name__}: {exc}"
                         ) from None


def column_name(columns, target, path) -> str:
    """The column of ``columns`` (CSV/Parquet) that ``target`` names, by name or by index;
    ValueError listing the columns if none."""
    if target in columns:
        return target
    try:
        return list(columns)[int(target)]
    except (ValueError, IndexError):
        raise ValueError(f"{path} has no column {target!r}; columns: {list(columns)}") from None


def _split_array(array, target, train, path, weight=None):
    """Features (float64), target (None unless ``train``), weights and the features' column
    indices in the file, of a .npy file's ``array``."""
    column, at = array_columns(array, -1 if train and target is None else target, weight, path)
    columns = [c for c in range(array.shape[1]) if c not in (column, at)]
    X = np.asarray(array[:, columns], dtype=np.float64)  # one copy
    y = array[:, column] if train and column is not None else None
    return X, y, None if at is None else array[:, at], columns


def array_columns(array: np.ndarray, target, weight, path) -> tuple[int | None, int | None]:
    """The columns (>= 0, None for None) of a .npy file's ``array`` that ``target`` and
    ``weight`` (--target and --sample-weight: indices, as text or int) name; ValueError naming
    the file if the array is not 2-D numeric, or the option and the range for a bad index."""
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a 2-D numeric array, got {array.ndim}-D {array.dtype}")
    width = array.shape[1]
    if weight is not None:
        weight = array_column(weight, width, path, "--sample-weight")
    if target is not None:
        target = array_column(target, width, path, "--target")
    distinct_columns(target, weight, path)
    return target, weight


def npy_features(path, target, weight) -> tuple[int, int | None, list[int]]:
    """The --target column (default -1) and --sample-weight column (or None) of .npy file
    ``path``, checked by :func:`array_columns`, and its other columns, the features', by
    which messages name them (not by their place among the features)."""
    array = load_npy(path, mmap_mode="r")
    target, weight = array_columns(array, -1 if target is None else target, weight, path)
    return target, weight, [c for c in range(array.shape[1]) if c not in (target, weight)]


def distinct_columns(target, weight, path) -> None:
    """ValueError if --sample-weight names the --target column (by name or index)."""
    if weight is not None and weight == target:
        raise ValueError(f"{path}: --sample-weight and --target name the same column "
                         f"{weight!r}")


def array_column(text, width: int, path, option: str) -> int:
    """The index (>= 0) of the column of a 2-D array that ``option`` names by ``text``."""
    try:
        column = int(text)
        if not -width <= column < width:
            raise ValueError
    except ValueError:
        raise ValueError(f"{path}: {option} must be a column index in [-{width}, {width}), "
                         f"got {text!r}") from None
    return column % width


def _from_npz(path, target, train, weight=None):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # BadZipFile, a damaged member, pickled objects...
        raise ValueError(f"{path} is not a readable .npz file (damaged, truncated or not an "
                         f"npz archive): {type(exc).__name__}: {exc}") from None
    if train and target is not None and target == "X" and "X" in arrays:
        raise ValueError(f"{path}: --target 'X' names the feature array; the target must be "
                         f"another array (arrays: {list(arrays)})")
    target = target if target is not None else "y"
    if weight is not None and weight not in arrays:
        raise ValueError(f"{path} has no sample weight array {weight!r} (arrays: "
                         f"{list(arrays)})")
    if weight is not None and weight in (target, "X"):
        what = "target" if weight == target else "feature"
        raise ValueError(f"{path}: --sample-weight names the {what} array {weight!r}")
    features = [name for name in arrays if name not in (target, weight)]
    name = "X" if "X" in arrays else features[0] if len(features) == 1 else None
    if name is None:
        raise ValueError(f"{path}: expected a feature array 'X' (arrays: {list(arrays)})")
    X = arrays[name]
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: array {name!r} must be 2-D numeric, got {X.ndim}-D {X.dtype}")
    y = None
    if train:
        if target not in arrays:
            raise ValueError(f"{path} has no target array {target!r} (arrays: {list(arrays)})")
        y = arrays[target]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
    weights = None if weight is None else arrays[weight]
    if weights is not None and (weights.ndim != 1 or len(weights) != len(X)):
        raise ValueError(f"{path}: the sample weight array {weight!r} must have shape "
                         f"({len(X)},), got {weights.shape}")
    return X.astype(np.float64), y, None, weights


def _read_csv(path, delimiter: str = ",") -> dict:
    with open_text(path) as file:  # UTF-8 without a byte order mark, as pandas reads
        rows = [row for row in csv.reader(file, delimiter=delimiter) if row]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header line and at least one data row")
    header = header_names(rows[0], path)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {number}: {len(row)} fields, the header has "
                             f"{len(header)}")
    columns = {}
    for index, name in enumerate(header):
        values = [row[index].strip() for row in rows[1:]]
        try:  # pandas' missing values (empty, NA ...) are NaN, as the streaming readers read
            columns[name] = np.array(["nan" if missing_label(v) else v for v in values],
                                     dtype=np.float64)
        except ValueError:
            columns[name] = np.array(values)
    return columns


def header_names(row, path) -> list[str]:
    """Column names from a CSV header row: stripped of spaces (and of a byte order mark);
    ValueError if two are equal.  Used by all CSV readers of the command line."""
    header = [name.strip() for name in row]
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:].strip()
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: duplicate column names in {header}")
    return header


def _read_parquet(path) -> dict:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install pyarrow") from None
    table = pq.read_table(path)
    columns = {}
    for name, column in zip(table.column_names, table.columns):
        values = column.to_numpy(zero_copy_only=False)
        if values.dtype == object:  # text: a null becomes an empty cell, as in CSV
            values = np.array(["" if v is None else str(v) for v in values])
        columns[name] = values
    return columns


# ------------------------------------------------------------------- labels
def class_labels(y: np.ndarray, what: str = "the target", offset: int = 0,
                 base: int = 1) -> np.ndarray:
    """Classification labels: integral floats become integers (0, 1, ... rather than 0.0,
    1.0); other floats (0.5) are a ValueError, as scikit-learn's classifiers reject such
    "continuous" targets (it does not round them)."""
    check_target(y, what, offset, base)
    if y.dtype.kind != "f":
        return y
    fractional = np.flatnonzero((y != np.round(y)) | (np.abs(y) >= 2.0 ** 53))
    if fractional.size:
        row = fractional[0]
        raise ValueError(f"{what} has non-integer values (e.g. {float(y.flat[row])!r} on "
                         f"row {row + offset + base}, {rows_note(base)}), which are not "
                         f"class labels: use --task regression, or write the classes as "
                         f"integers or text")
    return y.astype(np.int64)


def row_base(path) -> int:
    """The number messages give the first row of data file ``path``: 0 in .npy/.npz arrays,
    1 (the first data line after the header) in CSV and Parquet files."""
    return 0 if Path(path).suffix.lower() in (".npy", ".npz") else 1


def file_class_labels(y: np.ndarray, path) -> np.ndarray:
    """:func:`class_labels` of the target read from data file ``path``, its rows counted as
    the file counts them (from 1 after the header line of CSV/Parquet, from 0 in .npy/.npz
    arrays, which have no header)."""
    return class_labels(y, f"{path}: the target", base=row_base(path))


def file_as_dtype(values: np.ndarray, dtype, path, what: str, names=None,
                  offset: int = 0) -> np.ndarray:
    """``values`` read from data file ``path`` (the features, 2-D, named by ``names``, or the
    target) as ``dtype`` (not ``_outofcore.as_dtype``, an estimator's X in its training dtype).

    A ValueError names the first finite value beyond the range of ``dtype`` by column and
    row (``values[0]`` is the file's row ``offset``, counted as the file counts): the cast
    made it infinite, with NumPy's "overflow encountered in cast" warning, and the estimator
    then reported "infinity" on no row or column.
    """
    base = row_base(path)
    try:  # the target as a column of one
        return as_features(values if values.ndim == 2 else values[:, None], dtype
                           ).reshape(values.shape)
    except BeyondRange as exc:
        column = "" if values.ndim == 1 else \
            f" column {names[exc.column] if names else exc.column!r}"
        raise ValueError(f"{path}: {what}{column} is beyond the range of {exc.dtype.name}: "
                         f"{float(exc.value)!r} on row {exc.row + offset + base} "
                         f"({rows_note(base)}); rescale it or use --dtype float64") from None


def check_finite_features(X: np.ndarray, path, columns=None, offset: int = 0) -> None:
    """ValueError naming the first NaN or infinite value of features ``X`` read from data
    file ``path``: its column (``columns[j]``, default ``j``) and its row (``X[0]`` is the
    file's row ``offset``, counted as the file counts).  The estimator's message ("Input X
    contains NaN.") named neither."""
    base = row_base(path)
    where = non_finite_feature(X, columns, offset + base, rows_note(base), table=base == 1)
    if where:
        raise ValueError(f"{path}: {where}")


def missing_rows(values: np.ndarray) -> np.ndarray:
    """Indices of the missing entries of a column: NaN, infinite, empty text or None."""
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        bad = ~np.isfinite(values)
    elif values.dtype.kind in "US":
        bad = np.char.strip(values) == ""
    elif values.dtype == object:
        bad = np.array([v is None or v == "" or (isinstance(v, float) and not np.isfinite(v))
                        for v in values.ravel()], dtype=bool).reshape(values.shape)
    else:
        return np.empty(0, dtype=np.int64)
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    return np.flatnonzero(bad)


def check_target(y: np.ndarray, what: str, offset: int = 0, base: int = 1) -> None:
    """ValueError naming ``what`` (e.g. "target column 'y'") if ``y`` has missing values
    (empty cells, nulls, NaN) or infinite ones; ``y[0]`` is reported as row
    ``offset + base`` (base 1: data rows after a header; 0: array indices)."""
    rows = missing_rows(y)
    if rows.size:
        shown = ", ".join(str(r + offset + base) for r in rows[:10])
        more = f" and {rows.size - 10} more" if rows.size > 10 else ""
        raise ValueError(f"{what} has {rows.size} missing or non-finite value(s) (empty, null, "
                         f"NaN or infinite) on row(s) {shown}{more} ({rows_note(base)}); "
                         f"remove those rows or fill them in")


def choose_task(y: np.ndarray, task: str = "auto") -> str:
    """'classification' or 'regression' for target ``y`` (``task`` other than auto wins)."""
    if task != "auto":
        return task
    if y.dtype.kind not in "iuf":
        return "classification"
    if y.ndim == 1 and np.all(np.isfinite(y)) and np.all(y == np.round(y)) \
            and len(np.unique(y)) <= 20:
        return "classification"
    if y.ndim == 2 and y.size and np.isin(y, (0, 1)).all():
        return "classification"  # several labels a row (scikit-learn's multilabel indicator)
    return "regression"


# -------------------------------------------------------------- predictions
def write_predictions(values: np.ndarray, columns: list[str], out) -> None:
    """``values`` as .npy, or as CSV with ``columns`` (to stdout when ``out`` is None)."""
    if out is not None and Path(out).suffix.lower() == ".npy":
        np.save(out, values.astype(str) if values.dtype == object else values,
                allow_pickle=False)
        return
    if out is not None and Path(out).suffix.lower() != ".csv":
        raise ValueError(f"--out must end in .csv or .npy, got {out}")
    rows = values.reshape(len(values), -1)
    file = open(out, "w", newline="", encoding="utf-8") if out else sys.stdout
    try:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows.tolist())
    finally:
        if out:
            file.close()
