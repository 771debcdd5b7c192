"""``fastnn train DATA --chunk-size N``: a model trained by ``partial_fit`` on blocks of a data
file that is never loaded whole (the streaming twin of :func:`fastnn.cli.train`)."""
from __future__ import annotations

import time

import numpy as np

from ._csv import NotOfKind, check_weights, csv_header, rows_note, text_as, text_kind
from ._datafiles import (check_finite_features, check_target, choose_task, class_labels,
                         column_name, distinct_columns, file_as_dtype,
                         file_regression_target, npy_features, row_base, text_labels)
from .streaming import _PARQUET, _stream, _suffix


def train_command(args) -> int:
    """``fastnn train DATA --chunk-size N``: train on a file a block of N rows at a time.

    The file is never loaded whole: each block is one ``partial_fit`` call and
    ``--max-iter`` (default 10 here) is the number of passes over the file.
    There is no validation split: the score printed is on the last block's rows, which it
    trained on.
    """
    from . import cli  # not at the top: cli imports this module when it runs
    suffix = _suffix(args.data)
    if suffix not in (".csv", ".tsv", ".txt", ".npy", *_PARQUET):
        raise ValueError(f"--chunk-size streams CSV, Parquet and .npy files, not {suffix!r}")
    params = cli.estimator_params(args)
    # --solver lbfgs: refused while parsing (cli.check_train_options)
    names = None
    # read as float64, cast below by file_as_dtype: a value beyond float32 named as without
    # --chunk-size (the readers' message gave the Python API's hint, dtype=np.float64)
    options = dict(batch_size=args.chunk_size, dtype=np.float64)
    weight = args.sample_weight  # a column of sample weights, or None
    if suffix == ".npy":  # checked as without --chunk-size, with the same messages
        target, weight, features = npy_features(args.data, args.target, weight)
        column = str(target)
    else:
        if suffix in _PARQUET:
            import pyarrow.parquet as pq
            columns = list(pq.ParquetFile(args.data).schema_arrow.names)
        else:
            columns = csv_header(args.data, "\t" if suffix == ".tsv" else ",")
            options["header"] = True  # the first line names the columns, as without chunks
        if not columns:
            raise ValueError(f"{args.data} is empty: expected a header line naming the columns")
        name = column_name(dict.fromkeys(columns),
                           columns[-1] if args.target is None else args.target, args.data)
        # by position: an index needs no agreement on how the readers spell the names
        target = columns.index(name)
        if weight is not None:
            weight = column_name(dict.fromkeys(columns), weight, args.data)
            distinct_columns(name, weight, args.data)
        names = features = [c for c in columns if c not in (name, weight)]
        column = repr(name)
        weight = None if weight is None else columns.index(weight)
    options.update(target=target, weight=weight)
    what = f"{args.data}: target column {column}"  # in messages
    shown = weight if names is None or weight is None else columns[weight]  # in messages
    base = row_base(args.data)  # rows: array indices, or data lines after the header
    epochs = params.pop("max_iter", 10)  # >= 1: checked while parsing (cli._checked)
    blocks, text = _stream(args.data, text=True, **options)  # a CSV file's labels as text
    first = next(iter(blocks), None)
    blocks.close()
    if first is None:
        raise ValueError(f"{args.data} has no data rows")

    def weights_of(block, start):
        """The checked sample weights of the block starting at row ``start`` (0-based)."""
        if weight is None:
            return {}
        return {"sample_weight": check_weights(block[2], shown, start + base, str(args.data),
                                               rows_note(base))}

    def typed(labels, start, kind=None):
        """The labels of the block starting at row ``start`` (0-based), none missing; text
        typed as ``kind`` (default: as the block's own column would be)."""
        if not text:
            check_target(labels, what, start, base)
            return labels
        try:  # "NA" is missing without pandas too; stripped (" cat" is "cat")
            return text_labels(labels, what, start, base, kind)
        except NotOfKind as exc:  # only "f", a regression target's: worded as without chunks
            raise ValueError(f"{args.data}: a regression target must be numeric, got "
                             f"{exc.text!r} on row {start + exc.index + base} "
                             f"({rows_note(base)})") from None

    X0, y0 = first[:2]
    if X0.shape[1] == 0:  # as without --chunk-size (numpy's message named nothing)
        raise ValueError(f"{args.data} has no feature columns")
    y0 = typed(y0, 0)
    task = choose_task(y0, args.task)
    model = cli.estimator_class(task, params)(**params)
    print(f"{args.data}: {X0.shape[1]} features; {task} (from the first {len(y0)} rows; "
          f"--task to override); {epochs} pass{'' if epochs == 1 else 'es'} of partial_fit "
          f"over blocks of {args.chunk_size} rows")
    started = time.perf_counter()
    kind = "f"  # of a regression target, or of the classes found below

    def convert(labels, start):
        """Checked targets of the block starting at row ``start`` (0-based)."""
        if task == "classification":
            return class_labels(typed(labels, start, kind), what, start, base)
        labels = file_regression_target(typed(labels, start, kind), args.data, start)
        return file_as_dtype(labels, args.dtype, args.data, f"target column {column}",
                             offset=start)

    def features_of(X, start):
        """The features of the block starting at row ``start`` (0-based) in --dtype."""
        return file_as_dtype(X, args.dtype, args.data, "feature", features, start)

    classes = None
    if task == "classification":  # all classes up front; every block's labels checked
        found, start = {}, 0  # text: the row each label first appears on
        for block in _stream(args.data, text=True, **options)[0]:
            labels = block[1]
            # all checked before any update (a regression has no such pass: its rows are
            # checked as the first training pass reads them)
            check_finite_features(features_of(block[0], start), args.data, features, start)
            weights_of(block, start)
            if text:  # typed below as the whole column is (never both 1 and "1")
                for i, label in enumerate(typed(labels, start, "U").tolist()):
                    found.setdefault(label, start + i)
            else:
                found.update(dict.fromkeys(np.unique(convert(labels, start)).tolist()))
            start += len(labels)
        if text:
            kind = text_kind(found)
            order = sorted(found, key=found.get)
            values = text_as(order, kind)
            if values.dtype.kind == "f":  # the first fractional label, named by its row
                bad = np.flatnonzero((values != np.round(values)) | (np.abs(values) >= 2 ** 53))
                if bad.size:
                    class_labels(values[bad[:1]], what, found[order[bad[0]]], base)
            classes = np.unique(class_labels(values))
        else:
            classes = np.array(sorted(found))
    for epoch in range(epochs):
        start, trained = 0, False
        for block in _stream(args.data, progress=True, desc=f"pass {epoch + 1}/{epochs}",
                             text=True, **options)[0]:
            labels = block[1]
            X = features_of(block[0], start)
            y = convert(labels, start)
            weights = weights_of(block, start)
            if weights and not weights["sample_weight"].any():  # as fit_stream: nothing to train
                start += len(labels)
                continue
            check_finite_features(X, args.data, features, start)
            model.partial_fit(cli._frame(X, names), y, **weights,
                              **({"classes": classes} if classes is not None else {}))
            start += len(labels)
            trained = True
        if not trained:
            raise ValueError(f"{args.data}: the sample_weight column {shown!r} is 0 on all "
                             f"{start} rows: there is nothing to train on")
    seconds = time.perf_counter() - started
    # rows trained on, which say little of the model: iris sorted by class, in 50-row blocks,
    # printed "accuracy 0.0000 on the last block", all of it one class
    where = (f"on the last block's {len(y)} row{'' if len(y) == 1 else 's'} (training rows: "
             f"--chunk-size holds none out")
    if classes is not None and len(np.unique(y)) < len(classes):
        where += f"; the block has {len(np.unique(y))} of the {len(classes)} classes"
    if task == "regression" and len(y) < 2:  # scikit-learn warned, and R^2 was nan
        score = f"R^2 undefined {where})"
    else:
        score = (f"{'accuracy' if task == 'classification' else 'R^2'} "
                 f"{model.score(cli._frame(X, names), y):.4f} {where})")
    print(f"trained in {seconds:.2f} s; {score}")
    cli._save_model(model, args)
    return 0
