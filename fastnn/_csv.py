"""Reading CSV text a block of rows at a time, for :mod:`fastnn.streaming`.

The label column is read as text and typed by one rule, the one pandas
applies to a whole column (integers, floats, true/false, text), so that
every block of a file types its labels alike: pandas, reading a chunk at a
time, typed each chunk alone.  With pandas installed it parses the
features; without it, the ``csv`` module does, with the same results.
"""
from __future__ import annotations

import csv
import itertools
import os
import re

import numpy as np

# pandas' default missing-value markers (pandas._libs.parsers.STR_NA_VALUES): a label
# that reads as one of them is missing, with or without pandas
_NA_TEXT = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                      "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                      "nan", "null"})

# What pandas reads as an integer, a float or a bool (Python's int() also takes "1_0" and
# non-ASCII digits, which pandas keeps as text).
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")

_NUMBER = re.compile(r"\s*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity)"
                     r"\s*", re.IGNORECASE)

_BOOLEAN = {"True": True, "TRUE": True, "true": True,
            "False": False, "FALSE": False, "false": False}

_KIND_NAMES = {"i": "an integer", "f": "a number", "b": "true or false"}


def column_index(target, names, n_columns: int, what: str = "target") -> int:
    if isinstance(target, str):
        prefix = "" if what == "target" else f"{what}: "
        if names is None:  # "columns: None" said nothing
            raise ValueError(f"{prefix}no column named {target!r}: the columns have no names "
                             f"(an array, or a CSV file without a header line); give the "
                             f"column's position (an integer)")
        if target not in names:
            raise ValueError(f"{prefix}no column named {target!r}; columns: {names}")
        return list(names).index(target)
    if not -n_columns <= int(target) < n_columns:
        raise ValueError(f"{what} column {target} is out of range for {n_columns} columns")
    return int(target) % n_columns


def weight_index(weight, target, names, n_columns: int) -> int | None:
    """The column of the sample weights (None for none); ValueError if it is the target's."""
    if weight is None:
        return None
    column = column_index(weight, names, n_columns, "sample_weight")
    if target is not None and column == column_index(target, names, n_columns):
        shown = repr(names[column]) if names is not None else column
        raise ValueError(f"sample_weight and target name the same column ({shown})")
    return column


def as_weights(values, column, first_row: int, rows_note: str) -> np.ndarray:
    """A block's sample-weight cells as float64, NaN where one is missing (empty, NA, ...;
    reported by the caller with the other bad weights); ValueError naming the column and
    the row (``first_row`` + its place, counted as ``rows_note`` says) of the first that is
    not a number."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    out = np.empty(len(values), np.float64)
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, str) and missing_label(value)):
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"sample_weight column {column!r} is not numeric: "
                             f"{str(value)!r} on row {first_row + i} ({rows_note})") from None
    return out


def check_weights(weights: np.ndarray, column, first_row: int, where: str,
                  rows_note: str | None = None) -> np.ndarray:
    """``weights``; ValueError naming ``column`` and the row (``first_row`` + its place) of
    the first that is missing, NaN, infinite or negative (the estimators refuse the first
    three, the MLPs negative ones too, without saying where; a file's weights follow one
    rule for every estimator, though the linear models take negative weights in memory)."""
    bad = np.flatnonzero(~(weights >= 0) | np.isinf(weights))  # NaN is not >= 0
    if bad.size:
        value = weights[bad[0]]
        problem = ("is missing or NaN" if np.isnan(value) else
                   f"is infinite ({value})" if np.isinf(value) else f"is negative ({value})")
        note = f" ({rows_note})" if rows_note else ""
        raise ValueError(f"{where}: the sample_weight column {column!r} {problem} on row "
                         f"{first_row + bad[0]}{note}; sample weights must be finite and "
                         f"non-negative")
    return weights


def csv_blocks(path, batch_size, target, dtype, delimiter, header, text=False, weight=None):
    dtype = np.dtype(dtype or np.float64)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    yield None  # unknown number of rows
    header = has_header(path, delimiter, header, target, weight)
    labels_of = _LabelTyper(path, target, header, text)
    if pd is None:
        yield from _csv_blocks_plain(path, batch_size, target, dtype, delimiter, header,
                                     labels_of, weight)
        return
    # The target column as text, typed by _LabelTyper as the csv-module reader's: pandas
    # guesses each chunk's dtypes on its own (1 in one chunk, "1" next to "a" in another).
    column = _target_position(path, delimiter, target, header)
    # The weights as text too, read by as_weights as without pandas: pandas read True/False
    # as 1/0 in a chunk of only booleans, and refused them next to numbers.
    weights_at = _target_position(path, delimiter, weight, header)
    converters = {at: str for at in (column, weights_at) if at is not None}
    if header:
        _check_header_width(path, delimiter)
    try:
        reader = pd.read_csv(path, sep=delimiter, header=0 if header else None,
                             chunksize=batch_size, converters=converters or None)
    except pd.errors.EmptyDataError:  # an empty file: no rows, as without pandas
        return
    widths = _FieldCounts(path, delimiter, header)
    with reader, widths:
        row = 1  # data rows before this block, plus 1
        frames = iter(reader)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                break
            except pd.errors.ParserError as exc:  # "Expected 3 fields in line 9, saw 4"
                widths.check(None)  # the line, as the csv-module reader names it
                raise ValueError(f"{os.fspath(path)}: {exc}".strip()) from None
            # stripped, as the command line's readers do: target="label" finds " label"
            names = [str(c).strip() for c in frame.columns] if header else None
            width = frame.shape[1]
            if frame.iloc[:, -1].isna().any():  # pandas fills a short row's fields with NaN
                widths.check(row - 1 + len(frame))
            at = None if target is None else column_index(target, names, width)
            wat = weight_index(weight, target, names, width)
            # the features alone: with the text column, to_numpy() would be an object array
            features = frame if at is None and wat is None else \
                frame.iloc[:, [j for j in range(width) if j not in (at, wat)]]
            try:
                X = as_features(features.to_numpy(), dtype)
            except BeyondRange as exc:
                kept = [j for j in range(width) if j not in (at, wat)]
                raise ValueError(f"{os.fspath(path)}: "
                                 f"{_beyond(exc, names, kept[exc.column], row, header)}"
                                 ) from None
            except ValueError as exc:  # numpy's message names neither file nor column
                values = frame.to_numpy()
                raise ValueError(f"{os.fspath(path)}: "
                                 f"{not_a_number(values, target, names, row, header, exc, wat)}"
                                 ) from None
            labels = None if at is None else frame.iloc[:, at].to_numpy(dtype=object)
            block = X, None if at is None else labels_of(labels, row, names)
            if wat is not None:
                block += (_block_weights(frame.iloc[:, wat].to_numpy(), path, names, wat, row,
                                         header),)
            yield block
            row += len(frame)


def counted_from(base: int, header: bool = True) -> str:
    """How messages count rows: from 0 (arrays), or from 1 (a file's data lines), after the
    header line if the file has one."""
    return "counted from 0" if base == 0 else \
        f"counted from 1{' after the header' if header else ''}"


def rows_note(base: int, header: bool = True) -> str:
    """``"rows "`` and :func:`counted_from`, as messages put it after a row number."""
    return f"rows {counted_from(base, header)}"


def _beyond(exc: BeyondRange, names, column: int, first_row: int, header) -> str:
    """:meth:`BeyondRange.where` in a CSV file's terms: ``column`` is the file's."""
    shown = names[column] if names else column
    return exc.where(shown, first_row, rows_note(1, header))


def _block_weights(values, path, names, column, first_row, header) -> np.ndarray:
    """:func:`as_weights` of a CSV block, its errors prefixed with the file."""
    name = names[column] if names else column
    try:
        return as_weights(values, name, first_row, rows_note(1, header))
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from None


def _blank(row: list) -> bool:
    """Whether a line read by the csv module is blank, which pandas skips (spaces alone too)."""
    return not row or (len(row) == 1 and not row[0].strip())


def _wrong_width(path, line: int, fields: int, width: int, header) -> ValueError:
    whose = " (the header's)" if header else ""
    return ValueError(f"{os.fspath(path)}, line {line}: {fields} fields, expected {width}{whose}")


class _FieldCounts:
    """The field counts of a CSV file's data rows, read with the csv module as far as asked
    (a context manager): pandas read a row with fewer fields than the others, the missing
    ones NaN, where the csv-module reader reports its line."""

    def __init__(self, path, delimiter, header):
        self.path, self.delimiter, self.header = path, delimiter, header
        self.file, self.rows, self.done, self.width = None, None, 0, None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.file is not None:
            self.file.close()

    def check(self, stop) -> None:
        """ValueError naming the first data row before row ``stop`` (counted from 0; None:
        all) with another number of fields than the header (or the first row)."""
        if self.rows is None:
            self.file = open_text(self.path)
            reader = csv.reader(self.file, delimiter=self.delimiter)
            self.rows = ((reader.line_num, len(row)) for row in reader if not _blank(row))
            self.width = next(self.rows, (0, None))[1] if self.header else None
        todo = None if stop is None else max(0, stop - self.done)
        for line, fields in itertools.islice(self.rows, todo):
            self.width = self.width or fields
            if fields != self.width:
                raise _wrong_width(self.path, line, fields, self.width, self.header)
            self.done += 1


def _check_header_width(path, delimiter) -> None:
    """ValueError if the first data line has another number of fields than the header: pandas
    took a longer one's first field for the row's index, and the features moved one column
    left without a word (``index_col=False`` drops the last field instead)."""
    with open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        rows = ((reader.line_num, row) for row in reader if row)
        (_, first), (line, second) = next(rows, (0, [])), next(rows, (0, None))
    if second is not None and len(second) != len(first):
        raise _wrong_width(path, line, len(second), len(first), True)


def _target_position(path, delimiter, target, header):
    """The target's (or the weights') column for pandas: its name, or its index (>= 0) by the
    file's first line; None if there is none."""
    if target is None:
        return None
    with open_text(path) as f:
        first = next((row for row in csv.reader(f, delimiter=delimiter) if row), None)
    if isinstance(target, str):
        # its index when the stripped names have it: pandas matches a converter's name
        # unstripped, and " label" took none (its labels came as numbers, read as missing)
        names = [] if first is None or not header else [name.strip() for name in first]
        return names.index(target) if target in names else target
    if first is None:
        return None
    try:
        return column_index(target, None, len(first))
    except ValueError:  # reported with the first block, as before
        return None


def missing_label(value) -> bool:
    """Whether a label read as text (NaN where pandas found a missing value) is missing."""
    return not isinstance(value, str) or value.strip() == "" or value in _NA_TEXT


def _is_integer(text: str) -> bool:
    return _INTEGER.fullmatch(text) is not None and -2 ** 63 <= int(text) < 2 ** 63


def text_kind(texts) -> str:
    """The kind of array pandas makes of a column of ``texts`` (none missing): 'i', 'f', 'b'
    or 'U' (text)."""
    texts = set(texts)
    if all(_is_integer(t) for t in texts):
        return "i"
    if all(_NUMBER.fullmatch(t) for t in texts):
        return "f"
    if all(t in _BOOLEAN for t in texts):
        return "b"
    return "U"


class NotOfKind(ValueError):
    """A label that cannot be read as the kind asked for; ``index`` is its place in the block."""

    def __init__(self, index: int, text: str, kind: str):
        super().__init__(f"{text!r} is not {_KIND_NAMES[kind]}")
        self.index, self.text = index, text


def text_as(texts, kind: str) -> np.ndarray:
    """Labels read as text (none missing) as an array of ``kind``: 'i' gives int64 (float64
    where some are numbers but not integers, which a classifier then refuses as not among
    its classes), 'f' float64, 'b' bool, 'U' str; NotOfKind for the first that is not."""
    if kind == "U":
        return np.array([str(t) for t in texts], dtype=str)
    if kind == "b":
        for i, t in enumerate(texts):
            if t not in _BOOLEAN:
                raise NotOfKind(i, t, kind)
        return np.array([_BOOLEAN[t] for t in texts], dtype=bool)
    for i, t in enumerate(texts):
        if not _NUMBER.fullmatch(t):
            raise NotOfKind(i, t, kind)
    if kind == "i" and all(_is_integer(t) for t in texts):
        return np.array([int(t) for t in texts], dtype=np.int64)
    return np.array([float(t) for t in texts], dtype=np.float64)


class _LabelTyper:
    """Types the target column of a CSV file, read as text, block by block: integers, floats,
    booleans or text, as pandas reads the column alone, decided by the first block (so the
    blocks agree: "1" is not a second class of 1); a later block's integers widen to floats,
    other labels that do not fit are an error naming them.  A missing label is an error.
    With ``text`` the labels stay text (NaN for missing), for :func:`fit_stream` to type."""

    def __init__(self, path, target, header, text):
        self.path, self.target, self.header, self.text = path, target, header, text
        self.kind = None

    def where(self, row: int, names) -> str:
        column = repr(self.target) if isinstance(self.target, str) else self.target
        after = " after the header" if self.header else ""
        return (f"{os.fspath(self.path)}: target column {column}, row {row} (rows counted "
                f"from 1{after})")

    def __call__(self, labels, first_row: int, names) -> np.ndarray:
        if self.text:
            return labels
        missing = [i for i, label in enumerate(labels) if missing_label(label)]
        if missing:
            label = labels[missing[0]]
            shown = "an empty cell" if isinstance(label, str) or label is None else "NaN"
            shown = repr(label) if isinstance(label, str) and label.strip() else shown
            raise ValueError(f"{self.where(first_row + missing[0], names)}: the label is "
                             f"missing ({shown}); remove the row or fill it in")
        if self.kind is None:
            self.kind = text_kind(labels)
        try:
            return text_as(labels, self.kind)
        except NotOfKind as exc:
            raise ValueError(f"{self.where(first_row + exc.index, names)}: the label "
                             f"{exc.text!r} is not {_KIND_NAMES[self.kind]} like those of the "
                             f"first block, so the blocks would disagree on the type of the "
                             f"labels; fit_stream reads all labels to choose it") from None


class BeyondRange(ValueError):
    """A finite feature value beyond the range of the dtype asked for; ``row`` and ``column``
    are its place in the block's values."""

    def __init__(self, row: int, column: int, value, dtype):
        super().__init__(f"{value} is beyond the range of {np.dtype(dtype).name}")
        self.row, self.column, self.value, self.dtype = row, column, value, np.dtype(dtype)

    def where(self, column, first_row: int, rows_note: str) -> str:
        """The message, the value on row ``first_row`` + its row, counted as ``rows_note``
        says, in the feature column named (or numbered) ``column``."""
        return (f"feature column {column!r} is beyond the range of {self.dtype.name}: "
                f"{str(self.value)!r} on row {first_row + self.row} ({rows_note}); read it as "
                f"float64 (dtype=np.float64) or rescale the column")


def as_features(values, dtype) -> np.ndarray:
    """``values`` (2-D) as a C-contiguous array of ``dtype``; :class:`BeyondRange` for the
    first finite value (in row order) beyond the range of ``dtype``: the cast made it
    infinite, with NumPy's "overflow encountered in cast" warning, and the estimator then
    reported "infinity" on no row or column."""
    with np.errstate(over="ignore"):  # the values made infinite are reported below
        X = np.ascontiguousarray(values, dtype=dtype)
    if X.dtype.itemsize < 8 and not np.isfinite(X).all():
        values = np.asarray(values)
        for i, j in zip(*np.nonzero(np.isinf(X))):
            if np.isfinite(float(values[i, j])):
                raise BeyondRange(int(i), int(j), values[i, j], dtype)
    return X


def non_finite_feature(X: np.ndarray, columns, first_row: int, note: str | None,
                       table: bool) -> str | None:
    """Where features ``X`` hold their first NaN or infinite value (None if nowhere): its
    column (``columns[j]``, default ``j``) and row (``X[0]`` is row ``first_row``, counted as
    ``note`` says, if given).  ``table``: read from a CSV or Parquet file, whose empty cells,
    NA texts and nulls the readers make NaN; one wording for all of them."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return None
    i, j = (int(k[0]) for k in np.nonzero(bad))
    problem = (f"infinite ({X[i, j]})" if np.isinf(X[i, j]) else
               "missing (empty, NA or NaN)" if table else "missing (NaN)")
    shown = f" ({note})" if note else ""
    return (f"feature column {j if columns is None else columns[j]!r} is {problem} on row "
            f"{first_row + i}{shown}")


def not_a_number(values, target, names, first_row: int, header, error, weight=None,
                 note: str | None = None) -> str:
    """Where the feature columns of a CSV block ``values`` hold a value that is not a number,
    as ``fastnn train`` reports it without ``--chunk-size`` (``weight``: the index of the
    sample-weight column, not a feature either; ``note``: how the rows are counted,
    by default as a CSV file's data lines)."""
    skip = None if target is None else column_index(target, names, values.shape[1])
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if j in (skip, weight):
                continue
            try:
                float(value)
            except (TypeError, ValueError):
                column = repr(names[j]) if names else j
                return (f"feature column {column} is not numeric: {str(value)!r} on row "
                        f"{first_row + i} ({note or rows_note(1, header)})")
    return f"rows {first_row} to {first_row + len(values) - 1}: {error}"


def open_text(path):
    """A CSV file as text, decompressed by its suffix and decoded as pandas reads it: UTF-8,
    without a byte order mark (the locale's encoding failed on "é" under LANG=C, and the
    mark stuck to the first column's name)."""
    text = dict(encoding="utf-8-sig", newline="")
    suffix = os.fspath(path).lower()
    if suffix.endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", **text)
    if suffix.endswith(".bz2"):
        import bz2
        return bz2.open(path, "rt", **text)
    if suffix.endswith(".xz"):
        import lzma
        return lzma.open(path, "rt", **text)
    if suffix.endswith(".zip"):  # one file inside, as pandas reads it
        import io
        import zipfile
        with zipfile.ZipFile(path) as archive:
            files = [name for name in archive.namelist() if not name.endswith("/")]
            if len(files) != 1:
                raise ValueError(f"{os.fspath(path)}: a .zip file must hold one CSV file, "
                                 f"not {len(files)}")
            member = archive.open(files[0])  # stays readable after the archive's close
        return io.TextIOWrapper(member, **text)
    if suffix.endswith(".zst"):
        try:
            import zstandard
        except ImportError:  # as pandas needs it
            raise ImportError("reading .zst files needs zstandard: pip install zstandard"
                              ) from None
        return zstandard.open(path, "rt", **text)
    return open(path, **text)


def has_header(path, delimiter, header, target=None, weight=None) -> bool:
    """Whether the first line of the CSV file ``path`` names its columns: ``header``, or
    with "infer" as :func:`_has_header` tells (a column name needs a header line)."""
    if isinstance(header, str) and header == "infer":
        return isinstance(weight, str) or _has_header(path, delimiter, target, weight)
    return bool(header)


def _has_header(path, delimiter, target=None, weight=None) -> bool:
    """Whether a CSV file's first non-empty line names the columns: a feature field that is
    not a number, or a target field that is not while the next line's is.  A text label
    alone is data: a headerless file of text labels lost its first row as a header.  A
    missing feature or sample weight (empty, NA, ...; the weights in column ``weight``) is
    data too: the row was dropped as a header instead of being read or reported."""
    if isinstance(target, str):  # a column name needs a header line to be found in
        return True
    with open_text(path) as f:
        rows = (row for row in csv.reader(f, delimiter=delimiter) if row)
        first, second = next(rows, []), next(rows, None)
    column = None
    if target is not None and -len(first) <= target < len(first):
        column = int(target) % len(first)
    at = None
    if weight is not None and -len(first) <= weight < len(first):
        at = int(weight) % len(first)
    if not all(_is_number(field) or field in _NA_TEXT or (j == at and missing_label(field))
               for j, field in enumerate(first) if j != column):
        return True
    if column is None or _is_number(first[column]):
        return False
    return second is not None and len(second) > column and _is_number(second[column])


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _csv_blocks_plain(path, batch_size, target, dtype, delimiter, header, labels_of,
                      weight=None):
    """CSV without pandas: the ``csv`` module, ``batch_size`` lines at a time."""
    with open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        names = next((row for row in reader if row), None) if header else None
        names = None if names is None else [name.strip() for name in names]
        rows, labels, weights, width, column, wat = [], [], [], None, None, None
        first = 1  # data rows before this block, plus 1
        for row in reader:
            if _blank(row):
                continue
            line_number = reader.line_num
            if width is None:
                width = len(names) if names else len(row)
                if target is not None:
                    column = column_index(target, names, width)
                wat = weight_index(weight, target, names, width)
                kept = [j for j in range(width) if j not in (column, wat)]  # the features
            if len(row) != width:  # else a ragged block numpy cannot stack
                raise _wrong_width(path, line_number, len(row), width, names)
            if column is not None:
                labels.append(row[column])
            if wat is not None:
                weights.append(row[wat])
            row = [field for j, field in enumerate(row) if j not in (column, wat)]
            try:  # pandas' missing values (empty, NA, ...) are NaN
                rows.append([np.nan if field in _NA_TEXT else float(field) for field in row])
            except ValueError:  # named as pandas' reader names it
                j = next(j for j, field in enumerate(row)
                         if field not in _NA_TEXT and not _is_number(field))
                raise ValueError(f"{os.fspath(path)}: feature column "
                                 f"{repr(names[kept[j]]) if names else kept[j]} is not "
                                 f"numeric: {row[j]!r} on row {first + len(rows)} "
                                 f"({rows_note(1, header)})") from None
            if len(rows) == batch_size:
                yield _plain_block(rows, labels, first, names, dtype, labels_of, weights, wat,
                                   path, kept)
                first += len(rows)
                rows, labels, weights = [], [], []
        if rows:
            yield _plain_block(rows, labels, first, names, dtype, labels_of, weights, wat, path,
                               kept)


def _plain_block(rows, labels, first_row, names, dtype, labels_of, weights=(), weight=None,
                 path=None, kept=None):
    """A block of parsed CSV feature ``rows`` (the file's columns ``kept``), the text of their
    ``labels`` and their sample ``weights`` (column ``weight``, when there is one)."""
    try:
        X = as_features(np.array(rows, dtype=np.float64), dtype)
    except BeyondRange as exc:
        raise ValueError(f"{os.fspath(path)}: "
                         f"{_beyond(exc, names, kept[exc.column], first_row, labels_of.header)}"
                         ) from None
    y = None if labels_of.target is None else labels_of(np.array(labels, dtype=object),
                                                        first_row, names)
    block = X, y
    if weight is not None:
        block += (_block_weights(np.array(weights, dtype=object), path, names, weight,
                                 first_row, labels_of.header),)
    return block


def csv_header(path, delimiter) -> list[str]:
    """The column names of a CSV file's first non-empty line, as ``fastnn train`` reads them
    without ``--chunk-size`` (stripped, no byte order mark); [] for an empty file."""
    from ._datafiles import header_names  # not at the top: it imports this module

    with open_text(path) as f:
        row = next((row for row in csv.reader(f, delimiter=delimiter) if row), [])
    return header_names(row, path)
