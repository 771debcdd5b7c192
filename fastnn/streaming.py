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

import csv
import os
from collections.abc import Iterator

import numpy as np
from sklearn.base import is_classifier

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
    return tqdm(total=total, desc=desc, unit="rows", unit_scale=True, leave=False)


def iter_batches(source, batch_size: int = 10_000, *, y=None, target=None, dtype=None,
                 delimiter: str | None = None, header="infer", progress: bool = False,
                 desc: str | None = None) -> Iterator:
    """Yield consecutive blocks of rows of data that need not fit in memory.

    Parameters
    ----------
    source : str, path or array-like of shape (n_samples, n_columns)
        ``.npy`` (memory-mapped), ``.csv``/``.tsv``/``.txt`` (optionally
        compressed), ``.parquet``, or an array with row slicing (ndarray,
        ``np.memmap``, h5py dataset, ...).
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
        Show a tqdm progress bar of the rows read (when tqdm is installed).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    iterator of (X, y) : ndarray of shape (b, n_features), ndarray of shape (b,)
        Or of ``X`` alone when there are no targets.  Every block has at least
        one row; an empty source gives no blocks.  A target column of a file
        keeps its own dtype (integers, text), as pandas reads it alone.

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64, or ``target`` is neither a
        string nor an integer (``1.9`` or ``True`` are not positions).
    ValueError
        If ``batch_size`` is not a positive integer, or the source cannot
        be read; arguments are checked when this is called, the data as the
        blocks are read.
    """
    # Checked here, not at the first next(): a generator would defer the errors.
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if y is not None and target is not None:
        raise ValueError("give the targets either as y (an array) or as target (a column), not both")
    dtype = _check_dtype(dtype)
    _check_target(target)
    if isinstance(source, (str, os.PathLike)):
        suffix = _suffix(source)
        if suffix == ".npy":
            blocks = _array_blocks(np.load(source, mmap_mode="r"), batch_size, y, target, dtype)
        elif suffix in _TABULAR:
            if y is not None:
                raise ValueError("for a CSV file, name the target column with target=")
            delimiter = delimiter or ("\t" if suffix == ".tsv" else ",")
            blocks = _csv_blocks(source, batch_size, target, dtype, delimiter, header)
        elif suffix in _PARQUET:
            if y is not None:
                raise ValueError("for a Parquet file, name the target column with target=")
            blocks = _parquet_blocks(source, batch_size, target, dtype)
        else:
            raise ValueError(f"cannot read {os.fspath(source)!r}: iter_batches reads .npy, "
                             f".csv/.tsv/.txt and .parquet files")
        name = os.path.basename(os.fspath(source))
    else:
        blocks = _array_blocks(source, batch_size, y, target, dtype)
        name = type(source).__name__
    return _with_progress(blocks, progress, desc or name)


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


def _check_target(target) -> None:
    """TypeError unless ``target`` is None, a column name or an integer position."""
    # int(1.9) or int(True) would silently select column 1; bool is no position here.
    if target is None or isinstance(target, str):
        return
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"target must be a column name (str) or an integer position, "
                        f"got {target!r}")


def _split_target(X: np.ndarray, target, names, dtype):
    if target is None:
        return np.ascontiguousarray(X, dtype=dtype), None
    column = _column_index(target, names, X.shape[1])
    features = np.delete(np.arange(X.shape[1]), column)
    return np.ascontiguousarray(X[:, features], dtype=dtype), X[:, column]


def _column_index(target, names, n_columns: int) -> int:
    if isinstance(target, str):
        if names is None or target not in names:
            raise ValueError(f"no column named {target!r}; columns: {names}")
        return list(names).index(target)
    if not -n_columns <= int(target) < n_columns:
        raise ValueError(f"target column {target} is out of range for {n_columns} columns")
    return int(target) % n_columns


def _array_blocks(X, batch_size, y, target, dtype):
    """The blocks of an array source, its shape, ``y`` and ``target`` checked now (at the
    call of :func:`iter_batches`, as documented), not at the first block."""
    if isinstance(y, (str, os.PathLike)):
        y = np.load(y, mmap_mode="r")
    if not hasattr(X, "shape"):  # a list of rows is array-like too
        X = np.asarray(X)
    if len(X.shape) != 2:
        raise ValueError(f"the source must be 2-D (n_samples, n_columns), got shape {X.shape}")
    n = int(X.shape[0])
    if y is not None and len(y) != n:
        raise ValueError(f"the source has {n} rows but y has {len(y)}")
    if target is not None:
        _column_index(target, None, X.shape[1])
    return _array_block_iterator(X, n, batch_size, y, target, dtype)


def _array_block_iterator(X, n, batch_size, y, target, dtype):
    source = row_source(X)
    dtype = np.dtype(dtype or (source.dtype if source.dtype.kind == "f" else np.float64))
    yield n
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        block = source.read(start, stop)
        if target is not None:
            yield _split_target(block, target, None, dtype)
        else:
            yield (np.ascontiguousarray(block, dtype=dtype),
                   None if y is None else np.asarray(y[start:stop]))


def _csv_blocks(path, batch_size, target, dtype, delimiter, header):
    dtype = np.dtype(dtype or np.float64)
    try:
        import pandas as pd
    except ImportError:
        pd = None
    yield None  # unknown number of rows
    if pd is not None:
        if header == "infer":
            header = _has_header(path, delimiter)
        try:
            reader = pd.read_csv(path, sep=delimiter, header=0 if header else None,
                                 chunksize=batch_size)
        except pd.errors.EmptyDataError:  # an empty file: no rows, as without pandas
            return
        with reader:
            row = 1  # data rows before this block, plus 1
            for frame in reader:
                names = [str(c) for c in frame.columns] if header else None
                values = frame.to_numpy()
                try:
                    block = _split_target(values, target, names, dtype)
                except ValueError as exc:  # numpy's message names neither file nor column
                    raise ValueError(f"{os.fspath(path)}: "
                                     f"{_not_a_number(values, target, names, row, header, exc)}"
                                     ) from None
                if target is not None:  # in its own dtype: to_numpy() made ints float
                    labels = frame.iloc[:, _column_index(target, names, values.shape[1])]
                    block = block[0], labels.to_numpy()
                row += len(frame)
                yield block
        return
    yield from _csv_blocks_plain(path, batch_size, target, dtype, delimiter, header)


def _not_a_number(values, target, names, first_row: int, header, error) -> str:
    """Where the feature columns of a CSV block ``values`` hold a value that is not a number,
    as ``fastnn train`` reports it without ``--chunk-size``."""
    skip = None if target is None else _column_index(target, names, values.shape[1])
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if j == skip:
                continue
            try:
                float(value)
            except (TypeError, ValueError):
                column = repr(names[j]) if names else j
                after = " after the header" if header else ""
                return (f"feature column {column} is not numeric: {str(value)!r} on row "
                        f"{first_row + i} (rows counted from 1{after})")
    return f"rows {first_row} to {first_row + len(values) - 1}: {error}"


def _open_text(path):
    suffix = os.fspath(path).lower()
    if suffix.endswith(".gz"):
        import gzip
        return gzip.open(path, "rt", newline="")
    if suffix.endswith(".bz2"):
        import bz2
        return bz2.open(path, "rt", newline="")
    if suffix.endswith(".xz"):
        import lzma
        return lzma.open(path, "rt", newline="")
    return open(path, newline="")


def _has_header(path, delimiter) -> bool:
    with _open_text(path) as f:
        first = next(csv.reader(f, delimiter=delimiter), [])
    try:
        [float(field) for field in first]
    except ValueError:
        return True
    return False


def _csv_blocks_plain(path, batch_size, target, dtype, delimiter, header):
    """CSV without pandas: the ``csv`` module, ``batch_size`` lines at a time."""
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        names = None
        if header == "infer":
            header = _has_header(path, delimiter)
        if header:
            names = next(reader, None)
        rows, labels = [], []
        for line_number, row in enumerate(reader, start=2 if header else 1):
            if not row:
                continue
            try:
                rows.append([float(field) for field in row])
            except ValueError:
                raise ValueError(f"{os.fspath(path)}, line {line_number}: not a number in "
                                 f"{row!r}") from None
            if target is not None:
                labels.append(row[_column_index(target, names, len(row))])
            if len(rows) == batch_size:
                yield _plain_block(rows, labels, target, names, dtype)
                rows, labels = [], []
        if rows:
            yield _plain_block(rows, labels, target, names, dtype)


def _plain_block(rows, labels, target, names, dtype):
    """A block of parsed CSV ``rows``; its targets integers where all of their text
    ``labels`` are, as pandas reads such a column (not float like the features)."""
    X, y = _split_target(np.array(rows), target, names, dtype)
    if y is not None:
        try:
            y = np.array([int(label) for label in labels], dtype=np.int64)
        except (ValueError, OverflowError):
            pass
    return X, y


def _parquet_blocks(path, batch_size, target, dtype):
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
        values, names = np.column_stack(columns), batch.schema.names
        try:
            block = _split_target(values, target, names, dtype)
        except ValueError as exc:  # as in _csv_blocks
            raise ValueError(f"{os.fspath(path)}: "
                             f"{_not_a_number(values, target, names, row, True, exc)}") from None
        if target is not None:  # in its own dtype: column_stack made ints float
            block = block[0], columns[_column_index(target, names, len(columns))]
        row += len(values)
        yield block


def fit_stream(estimator, source, *, epochs: int = 1, classes=None, batch_size: int = 10_000,
               y=None, target=None, dtype=None, progress: bool = False, **read_options):
    """Train ``estimator`` by ``partial_fit`` on each block of :func:`iter_batches`.

    Parameters
    ----------
    estimator : an estimator with ``partial_fit`` (MLPClassifier, MLPRegressor, ...)
    source, batch_size, y, target, dtype, progress, read_options
        As for :func:`iter_batches` (``read_options``: ``delimiter``, ``header``).
    epochs : int, default=1
        Passes over the whole source; each block is one ``partial_fit`` call
        (one pass of mini-batches over the block, shuffled within it).
    classes : array-like, optional
        All classes, for a classifier's first ``partial_fit``; if omitted,
        one extra pass reads the targets to find them.  For a classifier
        fitted before, they must be its ``classes_`` (``partial_fit`` checks).

    Returns
    -------
    estimator

    Raises
    ------
    ValueError
        If the source has no rows.
    ValueError, TypeError, ArithmeticError
        What ``partial_fit`` raises on a block (NaN in the data, a diverged
        loss, ...), as the same type with the pass, the block and its rows
        prefixed to the message; the original is its ``__cause__``.  As with
        ``partial_fit`` called in a loop, the updates of the blocks before
        the failing one stay in ``estimator``: it is neither rolled back nor
        reset.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    options = dict(batch_size=batch_size, y=y, target=target, dtype=dtype, **read_options)
    if y is None and target is None:
        raise ValueError("fit_stream needs targets: give y= (arrays, .npy) or target= (a column)")
    fit_params = {}
    if is_classifier(estimator) and not hasattr(estimator, "classes_") and classes is None:
        found, n_rows = set(), 0
        for block, (_, labels) in enumerate(iter_batches(source, **options), start=1):
            if np.asarray(labels).dtype.kind in "fc" and not np.isfinite(labels).all():
                # else NaN became a class, and the first partial_fit blamed block 1
                raise ValueError(f"fit_stream: block {block} (rows {n_rows} to "
                                 f"{n_rows + len(labels) - 1}, counted from 0): Input y "
                                 f"contains NaN or infinity")
            found.update(np.unique(labels).tolist())
            n_rows += len(labels)
        if n_rows == 0:
            raise ValueError(_no_rows(source))
        classes = np.array(sorted(found))
    if is_classifier(estimator) and classes is not None:
        # a fitted classifier's partial_fit checks them against classes_ (else a different
        # classes= was ignored without a word)
        fit_params["classes"] = np.asarray(classes)
    for epoch in range(epochs):
        desc = f"epoch {epoch + 1}/{epochs}"
        start = 0
        for block, (X, labels) in enumerate(
                iter_batches(source, progress=progress, desc=desc, **options), start=1):
            stop = start + X.shape[0]
            try:
                estimator.partial_fit(X, labels, **fit_params)
            except (ValueError, TypeError, ArithmeticError) as exc:
                where = (f"fit_stream: {f'pass {epoch + 1}/{epochs}, ' if epochs > 1 else ''}"
                         f"block {block} (rows {start} to {stop - 1}, counted from 0)")
                located = _prefixed(exc, where)
                if located is None:
                    if hasattr(exc, "add_note"):  # Python 3.11+
                        exc.add_note(where)
                    raise
                raise located from exc
            start = stop
        if start == 0:  # else a silently unfitted estimator
            raise ValueError(_no_rows(source))
    return estimator


def _prefixed(exc: BaseException, prefix: str):
    """A new exception of ``exc``'s type, its message prefixed; None if the type will not take one."""
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


def train_command(args) -> int:
    """``fastnn train DATA --chunk-size N``: train on a file a block of N rows at a time.

    The file is never loaded whole: each block is one ``partial_fit`` call and
    ``--max-iter`` (default 10 here) is the number of passes over the file.
    There is no validation split: the score printed is on the last block.
    """
    import time

    from . import cli
    from .mlp import MLPClassifier, MLPRegressor

    suffix = _suffix(args.data)
    if suffix not in (".csv", ".tsv", ".txt", ".npy", *_PARQUET):
        raise ValueError(f"--chunk-size streams CSV, Parquet and .npy files, not {suffix!r}")
    params = {name[6:]: value for name, value in vars(args).items()
              if name.startswith("param_") and value is not None}
    if params.get("solver") == "lbfgs":
        raise ValueError("--chunk-size trains with partial_fit, a block of rows at a time, "
                         "which solver 'lbfgs' cannot do (it needs all rows at once): use "
                         "--solver adam or sgd, or train without --chunk-size")
    names = None
    options = dict(batch_size=args.chunk_size, dtype=args.dtype)
    if suffix == ".npy":
        try:
            target = -1 if args.target is None else int(args.target)
        except ValueError:
            raise ValueError(f"--target must be a column index for a .npy file, got "
                             f"{args.target!r}") from None
        what = f"{args.data}: target column {target}"
    else:
        if suffix in _PARQUET:
            import pyarrow.parquet as pq
            columns = list(pq.ParquetFile(args.data).schema_arrow.names)
        else:
            columns = _csv_header(args.data, "\t" if suffix == ".tsv" else ",")
            options["header"] = True  # the first line names the columns, as without chunks
        if not columns:
            raise ValueError(f"{args.data} is empty: expected a header line naming the columns")
        name = cli._column_name(dict.fromkeys(columns),
                                columns[-1] if args.target is None else args.target, args.data)
        # by position: the block readers see the names unstripped (pandas, csv module)
        target = columns.index(name)
        names = [c for c in columns if c != name]
        what = f"{args.data}: target column {name!r}"
    options["target"] = target
    base = 0 if suffix == ".npy" else 1  # rows: array indices, or data lines after the header
    epochs = params.pop("max_iter", 10)
    if epochs < 1:  # else nothing trained, and the score of the last block had no block
        raise ValueError(f"--max-iter must be a positive number of passes over the file, "
                         f"got {epochs}")
    first = next(iter(iter_batches(args.data, **options)), None)
    if first is None:
        raise ValueError(f"{args.data} has no data rows")
    X0, y0 = first
    cli.check_target(y0, what, 0, base)
    task = cli.choose_task(y0, args.task)
    model = (MLPClassifier if task == "classification" else MLPRegressor)(**params)
    print(f"{args.data}: {X0.shape[1]} features; {task} (from the first {len(y0)} rows; "
          f"--task to override); {epochs} passes of partial_fit over blocks of "
          f"{args.chunk_size} rows")
    started = time.perf_counter()

    def convert(labels, start):
        """Checked targets of the block starting at row ``start`` (0-based)."""
        if task == "classification":
            return cli.class_labels(labels, what, start, base)
        cli.check_target(labels, what, start, base)
        if labels.dtype.kind not in "biuf":
            raise ValueError(f"{what}: a regression target must be numeric")
        return labels.astype(args.dtype)

    classes = None
    if task == "classification":  # all classes up front; every block's labels checked
        found, start = set(), 0
        for _, labels in iter_batches(args.data, **options):
            found.update(np.unique(convert(labels, start)).tolist())
            start += len(labels)
        classes = np.array(sorted(found))
    for epoch in range(epochs):
        start = 0
        for X, labels in iter_batches(args.data, progress=True,
                                      desc=f"pass {epoch + 1}/{epochs}", **options):
            y = convert(labels, start)
            model.partial_fit(cli._frame(X, names), y,
                              **({"classes": classes} if classes is not None else {}))
            start += len(labels)
    seconds = time.perf_counter() - started
    score = model.score(cli._frame(X, names), y)
    print(f"trained in {seconds:.2f} s; {'accuracy' if task == 'classification' else 'R^2'} "
          f"{score:.4f} on the last block")
    cli._save_model(model, args)
    return 0


def _csv_header(path, delimiter) -> list[str]:
    """The column names of a CSV file's first non-empty line, as ``fastnn train`` reads them
    without ``--chunk-size`` (stripped, no byte order mark); [] for an empty file."""
    from . import cli

    with _open_text(path) as f:
        row = next((row for row in csv.reader(f, delimiter=delimiter) if row), [])
    return cli.header_names(row, path)
