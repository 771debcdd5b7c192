"""Training on files bigger than memory, a block of rows at a time.

:func:`iter_batches` reads an ``.npy`` file (memory-mapped, read through
the file), a CSV file (with pandas when installed, else the ``csv`` module),
a Parquet file (pyarrow) or any 2-D array with row slicing, and yields
blocks of ``(X, y)`` rows; :func:`fit_stream` calls an estimator's
``partial_fit`` on each block, for a number of passes, with a progress bar.
Only one block is in memory at a time.

>>> import fastnn
>>> clf = fastnn.MLPClassifier(hidden_layer_sizes=(64,), random_state=0)
>>> fastnn.fit_stream(clf, "train.csv", target="label", epochs=3,
...                   batch_size=50_000, progress=True)              # doctest: +SKIP
"""
from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator

import numpy as np
from sklearn.base import is_classifier, is_regressor

from ._csv import (BeyondRange, NotOfKind, as_features, as_weights, check_weights, column_index,
                   counted_from, csv_blocks, csv_header, has_header, missing_label,
                   non_finite_feature, not_a_number, rows_note, text_as, text_kind,
                   weight_index)
from ._outofcore import row_source

_TABULAR = (".csv", ".tsv", ".txt")
_PARQUET = (".parquet", ".pq")


def _suffix(path: str) -> str:
    name = os.fspath(path).lower()
    for packed in (".gz", ".bz2", ".xz", ".zip", ".zst"):
        if name.endswith(packed):
            name = name[:-len(packed)]
    return os.path.splitext(name)[1]


def _progress(progress, total, desc):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    # Rows as integers ("1,234 rows"; unit_scale showed "0.00rows", "5.00rows"), the rate
    # scaled ("1.2M rows/s").  Off a terminal (a pipe, a log file) each pass's last line
    # stays: else it was overwritten by spaces, leaving no trace of the pass.
    rows = "{n:,} rows" if total is None else "{n:,}/{total:,} rows"
    bar = "{desc}: " if total is None else "{l_bar}{bar}| "
    times = "[{elapsed}, " if total is None else "[{elapsed}<{remaining}, "
    return tqdm(total=total, desc=desc, unit=" rows", unit_scale=True,
                bar_format=bar + rows + " " + times + "{rate_fmt}{postfix}]",
                leave=not _is_terminal(sys.stderr))


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def iter_batches(source, batch_size: int = 10_000, *, y=None, target=None, dtype=None,
                 delimiter: str | None = None, header="infer", progress: bool = False,
                 desc: str | None = None) -> Iterator:
    """Yield consecutive blocks of rows of data that need not fit in memory.

    Parameters
    ----------
    source : str, path or array-like of shape (n_samples, n_columns)
        ``.npy`` (memory-mapped), ``.csv``/``.tsv``/``.txt`` (optionally
        compressed), ``.parquet``, an array with row slicing (ndarray,
        ``np.memmap``, h5py dataset, ...) or a pandas DataFrame (read as a
        Parquet file is: columns by name, the target in its own dtype).
    batch_size : int, default=10_000
        Rows per block (the last block may be shorter).
    y : array-like or path of ``.npy``, optional
        Targets of an array or ``.npy`` source, row-aligned with it.
    target : int or str, optional
        The column of ``source`` holding the targets (a name for CSV files
        with a header and Parquet files, or an integer position, negative
        from the end); the other columns are the features.
    dtype : float32 or float64, optional
        Dtype of the feature blocks: default the array's for float arrays,
        else float64.
    delimiter : str, optional
        CSV field separator (default: tab for ``.tsv``, else comma).
    header : "infer", bool, default="infer"
        Whether the CSV file's first line names the columns ("infer": when
        it does not parse as numbers).
    progress : bool, default=False
        Show a tqdm progress bar of the rows read (when tqdm is installed); off a
        terminal (piped, logged) its last state stays on a line of its own.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    iterator of (X, y) : ndarray of shape (b, n_features), ndarray of shape (b,)
        Or of ``X`` alone when there are no targets.  Every block has at least
        one row; an empty source gives no blocks.  A target column of a file
        keeps its own dtype (integers, floats, booleans, text), as pandas reads
        it alone; in a CSV file the first block decides it for all (a later
        block's integers become floats; text after numbers, or a missing
        label, is a ValueError naming the row).

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64, ``target`` is neither a
        string nor an integer (``1.9`` or ``True`` are not positions), or
        ``header`` is not "infer", True or False (None is False, as in
        pandas; pandas' 0 is refused), or ``source`` is an iterator (a
        generator of blocks, a file object).
    ValueError
        If ``batch_size`` is not a positive integer, or the source cannot
        be read (a feature that is not a number, or with ``dtype=float32``
        beyond its range, is named by its row and column); arguments are
        checked when this is called, the data as the blocks are read.
    """
    return _stream(source, batch_size, y=y, target=target, dtype=dtype, delimiter=delimiter,
                   header=header, progress=progress, desc=desc)[0]


def _stream(source, batch_size=10_000, *, y=None, target=None, dtype=None, delimiter=None,
            header="infer", progress=False, desc=None, text=False, weight=None):
    """:func:`iter_batches`, and whether its labels are text (see :func:`_open_blocks`).

    ``weight``: a column of sample weights, split off the features; each block is then
    ``(X, y, weights)``, the weights float64 (NaN where a CSV cell is missing)."""
    # Checked here, not at the first next(): a generator would defer the errors.
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if y is not None and target is not None:
        raise ValueError("give the targets either as y (an array) or as target (a column), "
                         "not both")
    dtype = _check_dtype(dtype)
    _check_target(target)
    _check_target(weight, "sample_weight")
    # pandas' header=0 means "the first line names the columns": it was taken for False
    if header is None:  # pandas' "no header"
        header = False
    if not (isinstance(header, (bool, np.bool_)) or (isinstance(header, str)
                                                     and header == "infer")):
        raise TypeError(f"header must be 'infer', True or False, got {header!r}")
    blocks, name, text = _open_blocks(source, batch_size, y, target, dtype, delimiter, header,
                                      text, weight)
    return _with_progress(blocks, progress, desc or name), text


def _open_blocks(source, batch_size, y, target, dtype, delimiter, header, text=False,
                 weight=None):
    """The blocks of ``source`` (after its row count), its name, and whether their labels are
    the text of a CSV file's target column (``text=True``: str, or NaN where pandas found a
    missing value; else a CSV file's labels are typed by its first block)."""
    if isinstance(source, (str, os.PathLike)):
        suffix = _suffix(source)
        if suffix == ".npy":
            blocks = _array_blocks(np.load(source, mmap_mode="r"), batch_size, y, target, dtype,
                                   weight, source)
        elif suffix in _TABULAR:
            if y is not None:
                raise ValueError("for a CSV file, name the target column with target=")
            delimiter = delimiter or ("\t" if suffix == ".tsv" else ",")
            blocks = csv_blocks(source, batch_size, target, dtype, delimiter, header, text,
                                weight)
        elif suffix in _PARQUET:
            if y is not None:
                raise ValueError("for a Parquet file, name the target column with target=")
            blocks = _parquet_blocks(source, batch_size, target, dtype, weight)
        else:
            raise ValueError(f"cannot read {os.fspath(source)!r}: iter_batches reads .npy, "
                             f".csv/.tsv/.txt and .parquet files")
        return (blocks, os.path.basename(os.fspath(source)),
                suffix in _TABULAR and target is not None)
    return (_array_blocks(source, batch_size, y, target, dtype, weight),
            type(source).__name__, False)


def _with_progress(blocks, progress, desc):
    """Yield the non-empty blocks of ``blocks`` (after its row count), updating a progress bar."""
    total = next(blocks)  # rows, when known up front
    bar = _progress(progress, total, desc)
    try:
        for block in blocks:
            if block[0].shape[0] == 0:  # a header-only CSV file gives pandas one empty frame
                continue
            if bar is not None:
                bar.update(block[0].shape[0])
            yield block if block[1] is not None else block[0]
    finally:
        if bar is not None:
            bar.close()


def _check_dtype(dtype):
    """``dtype`` as float32/float64 (None stays None); TypeError naming dtype otherwise."""
    if dtype is None:
        return None
    try:
        checked = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    # Any other dtype would convert silently: int truncates 0.7 to 0, bool maps it to True.
    if checked not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {checked}")
    return checked


def _check_target(target, what: str = "target") -> None:
    """TypeError unless ``target`` is None, a column name or an integer position."""
    # int(1.9) or int(True) would silently select column 1; bool is no position here.
    if target is None or isinstance(target, str):
        return
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"{what} must be a column name (str) or an integer position, "
                        f"got {target!r}")


def _split_target(X: np.ndarray, target, names, dtype, weight=None):
    """The features of a block (all columns but the target's and the weights'), its targets
    and, with ``weight``, its weights' column (as it is)."""
    column = None if target is None else column_index(target, names, X.shape[1])
    at = weight_index(weight, target, names, X.shape[1])
    features = np.delete(np.arange(X.shape[1]), [c for c in (column, at) if c is not None])
    try:
        values = as_features(X if len(features) == X.shape[1] else X[:, features], dtype)
    except BeyondRange as exc:  # its column in X
        exc.column = int(features[exc.column])
        raise
    split = values, None if column is None else X[:, column]
    return split if at is None else (*split, X[:, at])


def _array_blocks(X, batch_size, y, target, dtype, weight=None, path=None):
    """The blocks of an array source (read from the .npy file ``path``), its shape, ``y`` and
    ``target`` checked now (at the call of :func:`iter_batches`, as documented), not at the
    first block."""
    if isinstance(y, (str, os.PathLike)):
        y = np.load(y, mmap_mode="r")
    if isinstance(X, Iterator):  # np.asarray made a 0-d array of it: "got shape ()"
        raise TypeError(f"the source must be a file name or a 2-D array with row slicing, not "
                        f"an iterator ({type(X).__name__}): its rows are read again on each "
                        f"pass, which an iterator cannot do; write the blocks to a .npy file "
                        f"or call partial_fit on each")
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # columns of their own dtypes and names
        if y is not None and len(y) != len(X):
            raise ValueError(f"the source has {len(X)} rows but y has {len(y)}")
        return _frame_blocks(X, batch_size, y, target, dtype, weight)
    if not hasattr(X, "shape"):  # a list of rows is array-like too
        X = np.asarray(X)
    if len(X.shape) != 2:
        raise ValueError(f"the source must be 2-D (n_samples, n_columns), got shape {X.shape}")
    n = int(X.shape[0])
    if y is not None and len(y) != n:
        raise ValueError(f"the source has {n} rows but y has {len(y)}")
    if target is not None:
        column_index(target, None, X.shape[1])
    weight_index(weight, target, None, X.shape[1])
    return _array_block_iterator(X, n, batch_size, y, target, dtype, weight, path)


def _array_block_iterator(X, n, batch_size, y, target, dtype, weight=None, path=None):
    prefix = "" if path is None else f"{os.fspath(path)}: "  # of messages
    source = row_source(X)
    dtype = np.dtype(dtype or (source.dtype if source.dtype.kind == "f" else np.float64))
    yield n
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        values = source.read(start, stop)
        try:
            split = _split_target(values, target, None, dtype, weight)
        except BeyondRange as exc:
            raise ValueError(f"{prefix}{exc.where(exc.column, start, rows_note(0))}"
                             ) from None
        except ValueError as exc:  # text: NumPy's "could not convert string to float: 'x'"
            at = weight_index(weight, target, None, values.shape[1])
            where = not_a_number(values, target, None, start, False, exc, at, rows_note(0))
            raise ValueError(f"{prefix}{where}") from None
        if target is None:  # the targets of y
            split = (split[0], None if y is None else np.asarray(y[start:stop]), *split[2:])
        if weight is not None:
            split = (*split[:2], as_weights(split[2], weight, start, rows_note(0)))
        yield split


def _parquet_blocks(path, batch_size, target, dtype, weight=None):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install pyarrow") from None
    dtype = np.dtype(dtype or np.float64)
    parquet = pq.ParquetFile(path)
    yield parquet.metadata.num_rows
    row = 1
    for batch in parquet.iter_batches(batch_size=batch_size):
        columns = [np.asarray(column.to_numpy(zero_copy_only=False)) for column in batch.columns]
        yield _table_block(columns, batch.schema.names, target, dtype, weight, row,
                           f"{os.fspath(path)}: ", rows_note(1))  # as a CSV file's
        row += batch.num_rows


def _frame_blocks(frame, batch_size, y, target, dtype, weight=None):
    """The blocks of a pandas DataFrame, after its row count: columns named by the frame's,
    the labels in their column's dtype, rows counted from 0; ``target`` and ``weight``
    checked now."""
    names = [str(c).strip() for c in frame.columns]
    if target is not None:
        column_index(target, names, len(names))
    weight_index(weight, target, names, len(names))
    y = y.to_numpy() if hasattr(y, "iloc") else y  # by position, whatever its index
    return _frame_block_iterator(frame, names, batch_size, y, target,
                                 np.dtype(dtype or np.float64), weight)


def _frame_block_iterator(frame, names, batch_size, y, target, dtype, weight):
    from pandas.api.types import is_numeric_dtype  # a DataFrame: pandas is there

    label = _label_of(target, names)
    yield frame.shape[0]
    for start in range(0, frame.shape[0], batch_size):
        part = frame.iloc[start:start + batch_size]
        # numeric columns with pandas' missing values (NA) as floats with NaN
        columns = [part.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
                   if is_numeric_dtype(part.dtypes.iloc[j]) and j != label
                   else part.iloc[:, j].to_numpy() for j in range(part.shape[1])]
        block = _table_block(columns, names, target, dtype, weight, start, "", rows_note(0))
        if target is None:  # the targets of y
            block = (block[0], None if y is None else np.asarray(y[start:start + len(part)]),
                     *block[2:])
        yield block


def _label_of(target, names):
    return None if target is None else column_index(target, names, len(names))


def _table_block(columns, names, target, dtype, weight, first_row, prefix, rows_note):
    """A block ``(X, y[, weights])`` of a table read a column at a time (Parquet, a pandas
    DataFrame): the features as ``dtype``, the labels in their own column's dtype; errors
    name the column and the row (``first_row`` + its place, counted as ``rows_note``
    says), prefixed with ``prefix``."""
    at = weight_index(weight, target, names, len(columns))
    label = _label_of(target, names)
    for j, column in enumerate(columns):  # np.column_stack failed naming neither
        if j not in (label, at) and column.dtype.kind in "mM":
            raise ValueError(f"{prefix}feature column {names[j]!r} is not numeric: it holds "
                             f"{column.dtype} values")
    # the labels and the weights are taken from their own columns below: zeros here
    values = np.column_stack([np.zeros(len(column)) if j in (label, at) else column
                              for j, column in enumerate(columns)])
    try:
        block = _split_target(values, target, names, dtype, weight)
    except BeyondRange as exc:
        raise ValueError(f"{prefix}{exc.where(names[exc.column], first_row, rows_note)}"
                         ) from None
    except ValueError as exc:  # as in csv_blocks
        where = not_a_number(values, target, names, first_row, True, exc, at, rows_note)
        raise ValueError(f"{prefix}{where}") from None
    if target is not None:  # in its own dtype: column_stack made ints float
        block = (block[0], columns[label], *block[2:])
    if at is not None:  # its own column: column_stack made numbers text next to text
        try:
            weights = as_weights(columns[at], names[at], first_row, rows_note)
        except ValueError as exc:
            raise ValueError(f"{prefix}{exc}") from None
        block = (*block[:2], weights)
    return block


def fit_stream(estimator, source, *, epochs: int = 1, classes=None, batch_size: int = 10_000,
               y=None, target=None, sample_weight: int | str | None = None, dtype=None,
               progress: bool = False, **read_options):
    """Train ``estimator`` by ``partial_fit`` on each block of :func:`iter_batches`.

    Parameters
    ----------
    estimator : an estimator with ``partial_fit`` (MLPClassifier, MLPRegressor, ...)
    source, batch_size, y, target, dtype, progress, read_options
        As for :func:`iter_batches` (``read_options``: ``delimiter``, ``header``);
        ``dtype`` defaults to that of a fitted fastnn network (which converts
        each block to it).
    epochs : int, default=1
        Passes over the whole source; each block is one ``partial_fit`` call
        (one pass of mini-batches over the block, shuffled within it).
    classes : array-like, optional
        All classes, for a classifier's first ``partial_fit``; if omitted,
        one extra pass reads the targets to find them.  For a classifier
        fitted before, they must be its ``classes_`` (``partial_fit`` checks).
        A regressor takes none (TypeError).
        A CSV file's labels are read in every block as the type of these
        classes (given, fitted, or found as pandas types the whole column:
        1 and "1" are never two classes), a regressor's as numbers.  A label
        that is not one of them is a ValueError naming its row, in the block
        that holds it (the blocks before it stay trained).
    sample_weight : int or str, optional
        The column of ``source`` holding each row's weight, named as ``target``
        names the label column (a name, or an integer position, negative from
        the end); it is not a feature.  Each block's weights go to
        ``partial_fit(X, y, sample_weight=...)``; a block whose weights are all
        0 is skipped (the estimators refuse one; rows of weight 0 train
        nothing).  A weight that is missing, NaN, infinite or negative is a
        ValueError naming the column and the row.

    Returns
    -------
    estimator

    Raises
    ------
    ValueError
        If the source has no rows, or a label of a CSV file is missing (empty,
        NA, NaN, ...) or not of the type of the classes (text for integer
        classes, or for a regressor), or a label of another source is NaN,
        infinite, null or not one of the classes (each named by its row), or
        there is no ``sample_weight`` column of that name or position (checked
        before any update), or a weight is bad, or a block cannot be read (see
        :func:`iter_batches`), or all weights are 0.  A bad weight, label
        or cell is found before any update when a first pass finds the
        classes; else in the block that holds it, after the updates of the
        blocks before it.
    TypeError
        If ``estimator`` has no ``partial_fit``, or ``sample_weight`` is given
        and ``estimator.partial_fit`` takes no ``sample_weight``.
    ValueError, TypeError, ArithmeticError
        What ``partial_fit`` raises on a block (NaN in the data, a diverged
        loss, ...), as the same type with the pass, the block and its rows
        prefixed to the message (a NaN or infinite feature as a ValueError
        naming its file, column and row, as ``fastnn train`` does); the
        original is its ``__cause__``.  As with
        ``partial_fit`` called in a loop, the updates of the blocks before
        the failing one stay in ``estimator``: it is neither rolled back nor
        reset.

    Notes
    -----
    Messages count the rows of a CSV or Parquet file as its reader's do, from
    1 (after the header line), and those of an array or ``.npy`` file from 0.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    unknown = sorted(read_options.keys() - {"delimiter", "header"})
    if unknown:  # else _stream() named itself
        raise TypeError(f"fit_stream() got an unexpected keyword argument {unknown[0]!r} (it "
                        f"reads with delimiter= and header=)")
    network = estimator.__dict__.get("_network") if dtype is None else None
    if network is not None:  # a fitted fastnn network converts each block to its dtype:
        dtype = network.dtype  # read so, a value beyond float32's is named by row and column
    options = dict(batch_size=batch_size, y=y, target=target, dtype=dtype, weight=sample_weight,
                   **read_options)
    if y is None and target is None:
        raise ValueError("fit_stream needs targets: give y= (arrays, .npy) or target= (a column)")
    fit = getattr(estimator, "partial_fit", None)
    if not callable(fit):  # else an AttributeError at the first block
        raise TypeError(f"fit_stream trains by partial_fit, which {type(estimator).__name__} "
                        f"does not have; fit it on data in memory instead")
    if sample_weight is not None and "sample_weight" not in inspect.signature(fit).parameters:
        raise TypeError(f"sample_weight: {type(estimator).__name__}.partial_fit takes no "
                        f"sample_weight")
    if classes is not None and is_regressor(estimator):  # else ignored without a word
        raise TypeError(f"classes= is for classifiers; {type(estimator).__name__} is a "
                        f"regressor")
    classifier, fit_params = is_classifier(estimator), {}
    # A CSV file's labels come as text, typed here once for all blocks: by the classes
    # (given, fitted or found by the first pass), or as numbers for a regressor.
    kind = "f" if is_regressor(estimator) else None
    if classifier and not hasattr(estimator, "classes_") and classes is None:
        classes = _find_classes(source, options)
    if classifier and classes is None and hasattr(estimator, "classes_"):
        classes = estimator.classes_
    if classifier and classes is not None:
        # a fitted classifier's partial_fit checks them against classes_ (else a different
        # classes= was ignored without a word)
        fit_params["classes"] = classes = np.asarray(classes)
        kind = {"b": "b", "i": "i", "u": "i", "f": "f"}.get(classes.dtype.kind, "U")
    for epoch in range(epochs):
        desc = f"epoch {epoch + 1}/{epochs}"
        start, trained = 0, False
        blocks, text = _stream(source, progress=progress, desc=desc, text=kind is not None,
                               **options)
        numbering = _row_numbering(source, options)
        base = numbering[0]
        for block, (X, labels, *weights) in enumerate(blocks, start=1):
            stop = start + X.shape[0]
            where = _where(numbering, block, start, stop,
                           f"pass {epoch + 1}/{epochs}, " if epochs > 1 else "")
            if text:
                labels = _typed_labels(labels, kind, start + base, where, classes)
            else:
                _check_typed_labels(labels, start + base, where)
            if classifier and classes is not None:
                _check_known_labels(labels, classes, start + base, where)
            if weights:
                fit_params["sample_weight"] = check_weights(weights[0], sample_weight,
                                                            start + base, where)
                if not fit_params["sample_weight"].any():
                    # rows of weight 0 train nothing, yet partial_fit refuses a block of only
                    # them: whether they fill a block depended on batch_size alone
                    start = stop
                    continue
            try:
                estimator.partial_fit(X, labels, **fit_params)
            except (ValueError, TypeError, ArithmeticError) as exc:
                missing = _non_finite_feature(X, source, options, start + base)
                if missing is not None:  # scikit-learn's message named no column or row
                    raise ValueError(f"{where}: {missing}") from exc
                located = _prefixed(exc, where)
                if located is None:
                    if hasattr(exc, "add_note"):  # Python 3.11+
                        exc.add_note(where)
                    raise
                raise located from exc
            start, trained = stop, True
        if start == 0:  # else a silently unfitted estimator
            raise ValueError(_no_rows(source))
        if not trained:
            raise ValueError(f"fit_stream: the sample_weight column {sample_weight!r} is 0 on "
                             f"all {start} rows: there is nothing to train on")
    return estimator


def _find_classes(source, options) -> np.ndarray:
    """The classes of all targets of ``source``, sorted; a CSV file's typed as pandas reads
    the whole column (integers, floats, booleans or text: never both 1 and "1")."""
    found, n_rows = set(), 0
    blocks, text = _stream(source, text=True, **options)
    numbering = _row_numbering(source, options)
    base = numbering[0]
    for block, (_, labels, *weights) in enumerate(blocks, start=1):
        where = _where(numbering, block, n_rows, n_rows + len(labels))
        if weights:  # checked before any update
            check_weights(weights[0], options["weight"], n_rows + base, where)
        if text:
            _check_text_labels(labels, n_rows + base, where)
            found.update(labels.tolist())
        else:
            _check_typed_labels(labels, n_rows + base, where)
            found.update(np.unique(labels).tolist())
        n_rows += len(labels)
    if n_rows == 0:
        raise ValueError(_no_rows(source))
    if text:
        return np.unique(text_as(sorted(found), text_kind(found)))
    return np.array(sorted(found))


def _non_finite_feature(X, source, options, first_row: int) -> str | None:
    """Where a block's features ``X`` (its first row ``first_row``) hold their first NaN or
    infinite value, named by the file (if any), the column and the row, as ``fastnn train``
    names it; None if all are finite."""
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f" or np.isfinite(X).all():
        return None
    names, prefix, table = None, "", False
    if isinstance(source, (str, os.PathLike)):
        suffix, prefix = _suffix(source), f"{os.fspath(source)}: "
        table = suffix in _PARQUET + _TABULAR
        if suffix in _PARQUET:
            import pyarrow.parquet as pq
            names = list(pq.ParquetFile(source).schema_arrow.names)
        elif suffix in _TABULAR:
            delimiter = options.get("delimiter") or ("\t" if suffix == ".tsv" else ",")
            if has_header(source, delimiter, options.get("header", "infer"), options["target"],
                          options["weight"]):
                names = csv_header(source, delimiter)
    elif hasattr(source, "iloc") and hasattr(source, "columns"):
        names = [str(c).strip() for c in source.columns]
    target, weight = options["target"], options["weight"]
    width = X.shape[1] + (target is not None) + (weight is not None)
    skip = (None if target is None else column_index(target, names, width),
            weight_index(weight, target, names, width))
    columns = [names[j] if names else j for j in range(width) if j not in skip]
    return prefix + non_finite_feature(X, columns, first_row, None, table)


def _row_numbering(source, options) -> tuple[int, str]:
    """How :func:`fit_stream`'s messages count the rows of ``source``: the number of the first
    and how it is counted; a CSV or Parquet file's as its reader counts them (from 1, after a
    header line), an array's from 0."""
    if isinstance(source, (str, os.PathLike)):
        suffix = _suffix(source)
        if suffix in _PARQUET:
            return 1, counted_from(1)
        if suffix in _TABULAR:
            delimiter = options.get("delimiter") or ("\t" if suffix == ".tsv" else ",")
            header = has_header(source, delimiter, options.get("header", "infer"),
                                options["target"], options["weight"])
            return 1, counted_from(1, header)
    return 0, counted_from(0)


def _where(numbering, block: int, start: int, stop: int, epoch: str = "") -> str:
    """Where in the source a block of rows ``start`` to ``stop`` - 1 (0-based) is, numbered as
    :func:`_row_numbering` says."""
    base, note = numbering
    return f"fit_stream: {epoch}block {block} (rows {start + base} to {stop - 1 + base}, {note})"


def _check_typed_labels(labels, first_row: int, where: str) -> None:
    """ValueError naming the first label that is NaN, infinite or a null (Parquet's, as None):
    else NaN became a class and the first partial_fit blamed block 1, None failed as "'<' not
    supported between instances of 'str' and 'NoneType'", and NaN or infinity was named by
    its block alone."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
        flat = labels.reshape(len(labels), -1)  # a row of a multi-output y is one label
        i, j = (int(k[0]) for k in np.nonzero(~np.isfinite(flat)))
        value = flat[i, j]
        problem = "is missing (NaN)" if np.isnan(value) else f"is infinite ({value})"
        raise ValueError(f"{where}: the label on row {first_row + i} {problem}")
    if labels.dtype == object and labels.ndim == 1:
        for i, label in enumerate(labels):
            if _is_missing(label):
                raise ValueError(f"{where}: the label on row {first_row + i} is missing "
                                 f"({'null' if label is None else label}); remove the row or "
                                 f"fill it in")


def _is_missing(label) -> bool:
    """Whether a label of an object array is None, NaN, NaT or pandas' NA."""
    if label is None:
        return True
    try:
        return bool(label != label)  # NaN and NaT differ from themselves
    except TypeError:  # pandas' NA, whose truth is ambiguous
        return True


def _check_known_labels(labels, classes: np.ndarray, first_row: int, where: str) -> None:
    """ValueError naming the first label that is not one of ``classes`` (partial_fit named
    the block's unknown classes, not their rows)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:  # multilabel indicators: partial_fit checks them
        return
    try:
        unknown = np.flatnonzero(~np.isin(labels, classes))
    except TypeError:  # labels and classes that do not compare: partial_fit says so
        return
    if unknown.size:
        label = labels[unknown[0]]
        label = label.tolist() if isinstance(label, np.generic) else label
        raise ValueError(f"{where}: the label {label!r} on row "
                         f"{first_row + unknown[0]} is not one of the classes "
                         f"{classes.tolist()}")


def _check_text_labels(labels, first_row: int, where: str) -> None:
    """ValueError naming the first missing label (empty, NA, NaN, ...) of a block."""
    for i, label in enumerate(labels):
        if missing_label(label):
            shown = repr(label) if isinstance(label, str) and label.strip() else (
                "an empty cell" if isinstance(label, str) else "empty, NA or NaN")
            raise ValueError(f"{where}: the label on row {first_row + i} is missing ({shown}); "
                             f"remove the row or fill it in")


def _typed_labels(labels, kind: str, first_row: int, where: str, classes) -> np.ndarray:
    """A CSV block's labels, read as text, as an array of ``kind``; ValueError naming the
    first one that is missing or cannot be (not a number for a regressor, or of another type
    than ``classes``)."""
    _check_text_labels(labels, first_row, where)
    try:
        return text_as(labels, kind)
    except NotOfKind as exc:
        what = ("is not a number" if classes is None
                else f"is not one of the classes {classes.tolist()}")
        raise ValueError(f"{where}: the label {exc.text!r} on row {first_row + exc.index} "
                         f"{what}") from None


def _prefixed(exc: BaseException, prefix: str):
    """A new exception of ``exc``'s type, its message prefixed; None if the type will not
    take one."""
    try:
        return type(exc)(f"{prefix}: {exc}")
    except Exception:  # e.g. UnicodeDecodeError, whose constructor takes five arguments
        return None


def _no_rows(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        name = repr(os.fspath(source))
    else:
        name = f"{type(source).__name__} of shape {getattr(source, 'shape', None)}"
    return (f"fit_stream: the source {name} has no rows: found 0 sample(s) while a minimum "
            f"of 1 is required")
