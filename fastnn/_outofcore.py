"""Data larger than memory: memory maps and other row-indexable arrays.

The estimators accept, besides in-memory arrays, any 2-D array that can be
read a block of rows at a time, and never load it whole:

* an ``np.memmap`` (or a view of one) of a file is read with ``os.pread``
  from the file, one segment of rows (a few megabytes of whole batches) at a
  time; shuffling permutes indices, and each segment's rows are read in
  file order;
* any other 2-D array-like with ``shape``, a NumPy ``dtype`` and
  ``X[start:stop]`` / ``X[increasing_int_array]`` row indexing (an h5py
  dataset, a copy-on-write memmap, ...) is read through that indexing.

Why not let the kernels gather batches from the mapping itself: every page
a process touches in a mapping counts in its resident set, and the kernel
maps far more than the touched row (fault-around and large folios: about
370 kB per random 512-byte row on the machine this was written on, so two
batches of 200 random rows mapped the whole of a 150 MB file).  A process
watched for its RSS (a Dask worker's nanny, a container limit) is then
killed for reading a file.  Reading through the file keeps the resident set
at one segment; the file stays in the page cache.

Validation keeps scikit-learn's semantics and messages (``check_array`` on
each block of rows: dtype, finiteness, shape) but streams.  Targets and
sample weights (one row each per sample) are held in memory.
"""
from __future__ import annotations

import mmap
import os

import numpy as np
from scipy import sparse
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils.validation import _check_y, validate_data as _sklearn_validate_data

from . import training
from ._validation import assert_all_finite
from .network import last_weighted_batch

# Bytes of rows read (and held) at a time: per validation/prediction block
# and per training segment.
CHUNK_BYTES = 8 << 20
WINDOW_BYTES = 16 << 20
# Reading file rows: rows at most _GAP_BYTES apart are read in one span of at
# most _SPAN_BYTES (one system call costs about as much as copying 16 kB).
_GAP_BYTES = 16 << 10
_SPAN_BYTES = 1 << 20


def _root_memmap(X):
    """The ``np.memmap`` that owns the mapping ``X`` views, or None."""
    while isinstance(X, np.ndarray):
        if isinstance(X, np.memmap) and isinstance(X.base, mmap.mmap):
            return X
        X = X.base
    return None


def _is_closed(data) -> bool:
    """Whether ``data`` is a closed h5py dataset (its ``id`` no longer valid)."""
    return not getattr(getattr(data, "id", None), "valid", True)


def check_open(data, error: BaseException | None = None) -> None:
    """A ValueError naming a closed h5py dataset (h5py's own errors do not: "Can't
    synchronously read data (identifier is not of specified type)").

    Parameters
    ----------
    data : object
        The array-like, or a RowSource of it.
    error : exception, optional
        The error a read of ``data`` raised, chained to the ValueError.
    """
    data = data.data if isinstance(data, RowSource) else data
    if _is_closed(data):
        raise ValueError("X is a closed h5py dataset: its file was closed before it was "
                         "read. Pass a dataset of an open file (h5py.File(...)[name]) and "
                         "keep the file open while the estimator reads it") from error


def is_out_of_core(X) -> bool:
    """Is ``X`` memory-mapped, or an indexable 2-D array that is not in memory?

    A closed h5py dataset counts, to be named by :func:`check_open`.
    """
    if isinstance(X, np.ndarray):
        return _root_memmap(X) is not None
    if sparse.issparse(X) or hasattr(X, "__dask_graph__") or hasattr(X, "iloc"):
        return False  # sparse, dask (computed as before) and pandas: scikit-learn's path
    if _is_closed(X):  # its shape may no longer be read
        return True
    shape, dtype = getattr(X, "shape", None), getattr(X, "dtype", None)
    if shape is None or dtype is None or not hasattr(X, "__getitem__"):
        return False
    try:
        np.dtype(dtype)
    except TypeError:  # e.g. a torch dtype
        return False
    return len(shape) == 2


class RowSource:
    """Rows of a 2-D array read on demand and converted to ``dtype``.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features)
        Anything with ``shape`` and ``data[start:stop]`` /
        ``data[increasing_int_array]`` row indexing.
    dtype : dtype, optional
        Dtype of the rows handed out (default: the data's).
    """

    ndim = 2

    def __init__(self, data, dtype=None):
        self.data = data
        self.shape = (int(data.shape[0]), int(data.shape[1]))
        self.dtype = np.dtype(data.dtype if dtype is None else dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def with_dtype(self, dtype) -> RowSource:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__, dtype=np.dtype(dtype))
        return clone

    # raw reads, in the data's own dtype
    def read(self, start: int, stop: int) -> np.ndarray:
        try:
            return np.asarray(self.data[start:stop])
        except Exception as error:  # the file was closed since the call began
            check_open(self.data, error)
            raise

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (increasing) in the data's dtype."""
        try:
            return np.asarray(self.data[rows])
        except Exception as error:
            check_open(self.data, error)
            raise

    def take(self, rows) -> np.ndarray:
        """``data[rows]`` as a C-contiguous array of ``dtype``; read in increasing row order."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        out = np.empty((rows.shape[0], self.shape[1]), self.dtype)
        out[order] = self.read_rows(rows[order])
        return out

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step == 1:
                return np.ascontiguousarray(self.read(start, max(start, stop)), dtype=self.dtype)
            key = np.arange(start, stop, step)
        return self.take(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.data).__name__} of shape {self.shape}, " \
               f"dtype={self.dtype})"


class FileRows(RowSource):
    """Rows of a C-ordered ``np.memmap`` read from its file with ``os.pread``.

    Nothing is faulted into the mapping, so the resident set holds only the
    rows read.  Only for shared mappings (modes "r", "r+", "w+"), whose
    writes the file (its page cache) sees.
    """

    def __init__(self, data, root: np.memmap, dtype=None):
        super().__init__(data, dtype)
        self.filename = root.filename
        self.file_dtype = data.dtype
        self.row_bytes = self.shape[1] * data.dtype.itemsize
        self.offset = int(root.offset) + (int(data.ctypes.data) - int(root.ctypes.data))

    def __getstate__(self):
        return {**self.__dict__, "data": None}  # the file is read by name

    def _pread(self, fd: int, buffers: list, offset: int) -> None:
        """Fill ``buffers`` (byte memoryviews) from the file at ``offset``."""
        while buffers:
            n = os.preadv(fd, buffers, offset)
            if n <= 0:
                raise OSError(f"{self.filename} ended before byte {offset}: was it truncated?")
            offset += n
            while buffers and n >= len(buffers[0]):  # drop what was filled
                n -= len(buffers[0])
                buffers.pop(0)
            if buffers and n:
                buffers[0] = buffers[0][n:]

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.shape[1]), self.file_dtype)
        if not out.size:
            return out
        fd = os.open(self.filename, os.O_RDONLY)
        try:
            self._pread(fd, [memoryview(out).cast("B")], self.offset + start * self.row_bytes)
        finally:
            os.close(fd)
        return out

    def take(self, rows) -> np.ndarray:
        """Rows ``rows`` in the given order, each read straight into its place."""
        if self.file_dtype != self.dtype:
            return super().take(rows)  # read in file order, then convert
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        out = np.empty((rows.shape[0], self.shape[1]), self.dtype)
        self._scatter(rows[order], order, out)
        return out

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.shape[0], self.shape[1]), self.file_dtype)
        self._scatter(rows, np.arange(rows.shape[0]), out)
        return out

    def _scatter(self, rows: np.ndarray, places: np.ndarray, out: np.ndarray) -> None:
        """``out[places[i]] = file row rows[i]`` for increasing ``rows``.

        Rows close together are read as one span (a gap of up to GAP_BYTES
        costs less to read than one more system call), spans are at most
        SPAN_BYTES long; a lone row is read straight into its place.
        """
        if not rows.shape[0]:
            return
        rb = self.row_bytes
        gap_rows = max(1, _GAP_BYTES // rb)
        span_rows = max(1, _SPAN_BYTES // rb)
        new = np.empty(rows.shape[0], bool)
        new[0], new[1:] = True, np.diff(rows) > gap_rows
        first = rows[np.maximum.accumulate(np.where(new, np.arange(rows.shape[0]), 0))]
        piece = (rows - first) // span_rows  # split spans longer than SPAN_BYTES
        new[1:] |= piece[1:] != piece[:-1]
        bounds = [*np.flatnonzero(new).tolist(), rows.shape[0]]
        flat = memoryview(out).cast("B")
        buffer = np.empty(span_rows * rb, np.uint8)
        fd = os.open(self.filename, os.O_RDONLY)
        try:
            for a, b in zip(bounds[:-1], bounds[1:]):
                lo, hi = int(rows[a]), int(rows[b - 1]) + 1
                if b - a == 1:
                    p = int(places[a])
                    self._pread(fd, [flat[p * rb:(p + 1) * rb]], self.offset + lo * rb)
                    continue
                span = buffer[:(hi - lo) * rb]
                self._pread(fd, [memoryview(span)], self.offset + lo * rb)
                out[places[a:b]] = span.view(out.dtype).reshape(hi - lo, -1)[rows[a:b] - lo]
        finally:
            os.close(fd)


def row_source(X) -> RowSource:
    """A :class:`RowSource` reading out-of-core ``X``: from the file where that is possible."""
    if isinstance(X, RowSource):
        return X
    root = _root_memmap(X) if isinstance(X, np.ndarray) else None
    if (root is not None and root.mode != "c" and root.filename and X.flags.c_contiguous
            and hasattr(os, "preadv") and os.path.isfile(root.filename)):
        return FileRows(X, root)
    return RowSource(X)


def _block_rows(n_features: int, itemsize: int, budget: int) -> int:
    return max(1, budget // max(1, n_features * itemsize))


def check_rows(X, dtype, estimator=None) -> RowSource:
    """Validate ``X`` block by block with ``check_array``; never loads it whole.

    Returns a :class:`RowSource` handing out rows in the dtype that
    ``check_array`` chose (float32/float64 kept, anything else float64).
    """
    if len(X.shape) != 2:  # scikit-learn's message for a 1-D or 3-D array
        check_array(X[:2], dtype=dtype, estimator=estimator, input_name="X")
    source = row_source(X)
    n = source.shape[0]
    step = _block_rows(source.shape[1], np.dtype(X.dtype).itemsize, CHUNK_BYTES)
    chosen = None
    for start in range(0, max(n, 1), step):  # an empty X still fails check_array
        with np.errstate(invalid="ignore", over="ignore"):  # +inf and -inf: named, no warning
            block = check_array(source.read(start, min(start + step, n)), dtype=dtype,
                                estimator=estimator, input_name="X")
        chosen = block.dtype if chosen is None else chosen
    return source.with_dtype(chosen)


def validate_data(estimator, X, y="no_validation", *, reset: bool, dtype, multi_output=False,
                  y_numeric=False, ensure_all_finite=True):
    """``sklearn.utils.validation.validate_data`` that streams out-of-core ``X``.

    In-memory data go to scikit-learn unchanged (``ensure_all_finite``
    False: X is not checked for NaN/inf, the caller sees to it).  For
    out-of-core ``X`` the same checks run block by block (see
    :func:`check_rows`; always for NaN/inf) and ``X`` comes back as a
    :class:`RowSource`; ``y`` is validated as scikit-learn does.
    """
    no_y = isinstance(y, str) and y == "no_validation"
    if not is_out_of_core(X):
        # (errstate: scikit-learn's finite check sums the array first, and +inf plus -inf
        # warned before its error named them)
        with np.errstate(invalid="ignore", over="ignore"):
            if no_y:
                return _sklearn_validate_data(estimator, X, reset=reset, dtype=dtype,
                                              ensure_all_finite=ensure_all_finite)
            return _sklearn_validate_data(estimator, X, y, reset=reset, dtype=dtype,
                                          multi_output=multi_output, y_numeric=y_numeric,
                                          ensure_all_finite=ensure_all_finite)
    check_open(X)
    # feature names, n_features_in_ (checked, or set anew: a fit may change them) and a
    # missing y, without converting X
    _sklearn_validate_data(estimator, X, y, reset=reset, skip_check_array=True)
    checked = check_rows(X, dtype, estimator)
    if no_y:
        return checked
    with np.errstate(invalid="ignore", over="ignore"):  # as above
        y = _check_y(y, multi_output=multi_output, y_numeric=y_numeric, estimator=estimator)
    check_consistent_length(checked, y)
    return checked, y


def as_dtype(X, dtype, estimator=None):
    """``X`` as a C-contiguous array of ``dtype``; out-of-core data stay out of core.

    Out-of-core rows narrowed to float32 are checked block by block: float64
    values beyond its range would be inf (scikit-learn's message names them).
    """
    if isinstance(X, RowSource):
        converted = X.with_dtype(dtype)
        if converted.dtype.itemsize < X.dtype.itemsize:
            name = None if estimator is None else type(estimator).__name__
            step = _block_rows(X.shape[1], X.dtype.itemsize, CHUNK_BYTES)
            with np.errstate(over="ignore"):  # the blocks' cast makes inf, named here
                for start in range(0, X.shape[0], step):
                    assert_all_finite(converted[start:start + step], input_name="X",
                                      estimator_name=name)
        return converted
    with np.errstate(over="ignore"):  # beyond float32's range: inf, which the caller names
        return np.ascontiguousarray(X, dtype=dtype)


def in_memory(X, what: str) -> np.ndarray:
    """An array the kernels can read whole: a mapped file in place, or a clear error.

    Any memory map in the training dtype is read through its mapping: a
    C-ordered one in place, a Fortran-ordered or strided one as an in-memory
    array of that layout is (the caller makes it C-contiguous).  A memory map
    of another dtype or byte order (big-endian float64, integers) is
    converted into memory block by block, as ``check_array`` converts the
    same array in memory.
    """
    if not isinstance(X, RowSource):
        return X
    if isinstance(X.data, np.ndarray):
        if X.data.dtype == X.dtype:
            return np.asarray(X.data)
        out = np.empty(X.shape, X.dtype)
        step = _block_rows(X.shape[1], X.data.dtype.itemsize, CHUNK_BYTES)
        for start in range(0, X.shape[0], step):
            out[start:start + step] = X.read(start, min(start + step, X.shape[0]))
        return out
    raise ValueError(f"{what} needs X as one array of float32/float64 it can read whole; X is "
                     f"read block by block ({X!r}). Load it with np.asarray(X, "
                     f"dtype=np.{X.dtype.name}), write it to a float32/float64 np.memmap, or "
                     f"use solver='adam' or 'sgd'")


def segment_rows(n_features: int, itemsize: int, batch_size: int) -> int:
    """Rows per training segment: whole batches, about WINDOW_BYTES of data."""
    return batch_size * max(1, WINDOW_BYTES // (max(1, n_features * itemsize) * batch_size))


def run_epoch(network, X, Y, weights, order, batch_size: int, optimizer, alpha: float = 0.0,
              loss_scale: float = 1.0, stepwise: bool = False) -> float:
    """:func:`fastnn.training.run_epoch` for in-memory and out-of-core ``X``.

    A :class:`RowSource` runs in segments of whole batches: each segment's
    rows are read into memory, in the shuffled order, and trained on in
    sequence.  The batches, the updates and the epoch's loss are those of one
    in-memory call, bit for bit (see ``kept_batch`` and ``loss_so_far``).
    """
    if not isinstance(X, RowSource):
        return training.run_epoch(network, X, Y, weights, order, batch_size, optimizer,
                                  alpha=alpha, loss_scale=loss_scale, stepwise=stepwise)
    n = X.shape[0] if order is None else order.shape[0]
    step = segment_rows(X.shape[1], X.dtype.itemsize, batch_size)
    kept = last_weighted_batch(weights, order, n, batch_size)  # the epoch's, whatever segment
    total = 0.0
    for start in range(0, n, step):
        stop = min(start + step, n)
        if order is None:
            Xs, Ys = X[start:stop], Y[start:stop]
            ws = None if weights is None else weights[start:stop]
        else:
            rows = order[start:stop]
            Xs, Ys = X.take(rows), Y[rows]
            ws = None if weights is None else weights[rows]
        total = training.run_epoch(network, Xs, Ys, ws, None, batch_size, optimizer,
                                   alpha=alpha, loss_scale=loss_scale, stepwise=stepwise,
                                   kept_batch=kept - start if start <= kept < stop else -1,
                                   loss_so_far=total)
        Xs = None  # one segment in memory at a time
        if not np.isfinite(total):
            return total
    return total


def forward(network, estimator, X) -> np.ndarray:
    """Network outputs for out-of-core ``X``, validated and computed block by block."""
    check_open(X)
    if len(X.shape) != 2:
        check_array(X[:2], dtype=(np.float64, np.float32), estimator=estimator, input_name="X")
    _sklearn_validate_data(estimator, X, reset=False, skip_check_array=True)
    source = row_source(X)
    n = source.shape[0]
    out = np.empty((n, network.layer_sizes[-1]), network.dtype)
    step = _block_rows(source.shape[1], np.dtype(X.dtype).itemsize, CHUNK_BYTES)
    for start in range(0, max(n, 1), step):
        with np.errstate(invalid="ignore", over="ignore"):  # +inf and -inf: named, no warning
            block = check_array(source.read(start, min(start + step, n)),
                                dtype=(np.float64, np.float32), estimator=estimator,
                                input_name="X")
        with np.errstate(over="ignore"):  # named just below
            converted = np.ascontiguousarray(block, dtype=network.dtype)
        if converted.dtype != block.dtype:  # float64 values beyond float32's range: inf
            assert_all_finite(converted, input_name="X", estimator_name=type(estimator).__name__)
        out[start:start + block.shape[0]] = network._forward(converted)
    return out
