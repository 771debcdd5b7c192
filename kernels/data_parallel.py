"""A training epoch of mini-batch gradient descent shared among threads by rows, then by weights.

The fused epoch of ``trainer`` runs each matrix product on all threads
through OpenBLAS, which splits and joins every product (eight per batch for
three layers) and leaves its threads spinning while the elementwise work
runs on the calling thread.  Here each of ``n_workers`` threads runs one
``prange`` iteration for the whole epoch, with one-thread BLAS calls, and
two barriers per batch:

1. each worker gathers its share of the batch's rows, and runs their forward
   pass, loss, output delta and the deltas of every layer below (everything
   a row needs only its own row for, and the weights, which no one changes
   yet);
2. barrier; each worker computes its share of every weight matrix's rows of
   the gradient with the whole batch (``A[:, i0:i1].T @ delta``, one BLAS
   call: a block of columns of ``A`` is a strided matrix; plain SGD applies
   it inside that call, ``W[i0:i1] -= lr * ...``) and of every bias's
   entries, and steps them with the optimizer's update kernel (elementwise,
   so a slice of it is the whole's slice);
3. barrier, before the next batch's forward pass reads the weights.

A worker that reaches a barrier first gathers its share of the next batch's
rows while it waits (batches alternate between two row buffers), so the
time one worker is ahead of the other is not lost.

**The first layer by depth** (``k_split``, two workers): worker 0 multiplies
columns ``0:k_split`` of every row of the batch by the same rows of ``W``,
worker 1 the rest (``P_w = X[:, c0:c1] @ W[c0:c1]``); after a third barrier
each sums ``P_0 + P_1`` for its rows and goes on as above.  In step 2 each
worker updates exactly those rows of ``W``: the first layer's weights never
cross between the cores (W1's half, 400 kB a batch, did), and the product
has 128 rows of depth 400 instead of 64 of depth 784, which OpenBLAS runs
faster.  Every worker reads all rows of the batch first, so each gathers
its rows of the next batch before the barrier that ends a batch.  (Gathering
its columns of every row instead took twice as long: 22 against 12 ms an
epoch of W1 on two threads, as many scattered reads for half the bytes.)
OpenBLAS itself cuts a depth ``Q < k < 2 Q`` into two blocks and adds the
second block's product to the first's; where ``k_split`` is that cut,
``P_0 + P_1`` is the whole product to the bit (``depth_split_rounds_alike``
tells; ``network`` only splits there).  A depth ``2 Q <= k < 3 Q`` becomes
three blocks, ``Q`` and two halves of the rest (float64 W1 on the SkylakeX
kernels: 384, 208, 192): with ``k_split2``, the cut between the last two,
worker 1 multiplies them apart (``P_1``, ``P_2``) and the sum is
``(P_0 + P_1) + P_2``, OpenBLAS's order.  Worker 1 then has the second
product too, so in step 2 the first layer's rows of W are shared as the
others' are (half each; keeping each worker's own columns left worker 0
waiting 20-40 ms an epoch of float64 W1 at batch 128).

The products are the fused epoch's, in blocks; the loss, deltas and bias
gradients are computed by the same code in the same order
(``losses.loss_row``, ``dense.times_derivative_row``, column sums in row
order), so only OpenBLAS's rounding of a block against the whole product
can differ (tests/test_data_parallel.py: identical on W1's shapes, a few
units in the last place on small float64 ones with SkylakeX kernels).

The barriers spin: they assume every worker has a core.  A worker that is
not running when another starts (more workers than threads in the pool, or
a pool that runs iterations one after the other) would make them wait
forever, so the workers first check in; if one has not arrived after
``_CHECK_IN_SPINS`` tries, the epoch returns status 3 before touching
anything, and the caller runs it the usual way.
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._jit import _compile, _renamed_copy, helper, inline_helper
from .atomic import compare_exchange, fetch_add_sync
from .blas import gemm
from .clock import ticks
from .data import _GATHER_AHEAD, gather_rows
from .activations import IDENTITY, RELU, activate
from .dense import COLUMN_BLOCK, dense_forward, sum_column_block, times_derivative_row
from .fpenv import flush_subnormals, restore
from .losses import loss_row
from .prefetch import prefetch_row
from .trainer import ADAM, SGD, _view, serial_step, squared_norm

# Tries before a worker gives up waiting for the others to check in (about
# 20 ms of atomic reads at 4.8 ns each, measured; waking a sleeping OpenMP
# thread takes microseconds).
_CHECK_IN_SPINS = 1 << 22
_ABORTED = 1 << 40  # written into the check-in counter by a worker that gave up

_forward_s = dense_forward.serial
_gather_s = gather_rows.serial

# What a worker's time is spent on, in the order of the steps above (``clock``).
# Per layer: forward, backward (the delta of the layer below), weight gradient
# (with plain SGD's step, which happens inside the product) and update; the
# others are written to layer 0.  ``loss`` includes the L2 norm of the weights.
PHASES = ("gather", "forward", "loss", "backward", "wait for rows", "weight gradient", "update",
          "wait for weights")
GATHER, FORWARD, LOSS, BACKWARD, WAIT_ROWS, WEIGHT_GRADIENT, UPDATE, WAIT_WEIGHTS = range(8)


@helper
def _share(total, worker, n_workers):
    """(start, stop) of ``worker``'s share of ``range(total)``: equal shares, the last smaller."""
    size = (total + n_workers - 1) // n_workers
    start = min(total, worker * size)
    return start, min(total, start + size)


@helper
def _check_in(counter, n_workers):
    """Whether all ``n_workers`` workers are running at once (False: give up, all of them)."""
    seen = fetch_add_sync(counter, 1) + 1
    spins = 0
    while seen < n_workers:
        if spins >= _CHECK_IN_SPINS and compare_exchange(counter, seen, _ABORTED):
            return False
        spins += 1
        seen = fetch_add_sync(counter, 0)
    return seen < _ABORTED


@helper
def _barrier_gathering(counter, target, X, rows, out, done, n_bad, clock, worker, phase, since):
    """Wait until ``counter`` reaches ``target`` after adding this worker's arrival, gathering
    ``out[i] = X[rows[i]]`` for ``i = done, done + 1, ...`` meanwhile.

    The wait for the other workers is spent on the next batch's rows (one row
    a poll, so a release is noticed within one row's copy).  Returns how
    many of ``rows`` are gathered now, ``n_bad`` plus the NaN/inf values of
    those gathered here, and the ticks now; the ticks since ``since`` go to
    ``clock[worker, phase, 0]``, but those spent gathering to
    ``clock[worker, GATHER, 0]``.
    """
    fetch_add_sync(counter, 1)
    gathering = 0
    while fetch_add_sync(counter, 0) < target:
        if done < rows.shape[0]:
            begin = ticks()
            if done + _GATHER_AHEAD < rows.shape[0]:
                prefetch_row(X, rows[done + _GATHER_AHEAD])
            n_bad += _gather_s(X, rows[done:done + 1], out[done:done + 1])
            done += 1
            gathering += ticks() - begin
    now = ticks()
    clock[worker, GATHER, 0] += gathering
    clock[worker, phase, 0] += now - since - gathering
    return done, n_bad, now


@helper
def depth_split_rounds_alike(A, W, split, split2=0):
    """Whether ``A[:, :split] @ W[:split] + A[:, split:] @ W[split:]`` is ``A @ W`` to the bit.

    With ``split2``, whether ``(P_0 + P_1) + P_2`` is, the second product cut
    at ``split2``: ``P_1 = A[:, split:split2] @ W[split:split2]``, ``P_2`` the
    rest.  Each product by ``blas.gemm`` on the calling thread, as the epochs
    run them (BLAS held to one thread by the caller).

    Parameters
    ----------
    A : ndarray, shape (n, k), float32 or float64, C-contiguous
    W : ndarray, shape (k, m), same dtype, C-contiguous
    split : int, in ``(0, k)``
    split2 : int, 0 or in ``(split, k)``

    Returns
    -------
    alike : bool
    """
    n, m, k = A.shape[0], W.shape[1], A.shape[1]
    stop = split2 if split < split2 < k else k
    whole = np.empty((n, m), A.dtype)
    first = np.empty((n, m), A.dtype)
    second = np.empty((n, m), A.dtype)
    third = np.zeros((n, m), A.dtype)
    gemm(A, False, W, False, whole, 1.0, 0.0)
    gemm(np.ascontiguousarray(A[:, :split]), False, W[:split], False, first, 1.0, 0.0)
    gemm(np.ascontiguousarray(A[:, split:stop]), False, W[split:stop], False, second, 1.0, 0.0)
    if stop < k:
        gemm(np.ascontiguousarray(A[:, stop:]), False, W[stop:], False, third, 1.0, 0.0)
    for i in range(n):
        for j in range(m):
            total = first[i, j] + second[i, j]
            if stop < k:
                total += third[i, j]
            if total != whole[i, j]:
                return False
    return True


@helper
def _gather_rest(X, rows, out, done, n_bad):
    """Gather ``out[i] = X[rows[i]]`` for the ``i >= done`` not gathered yet; returns (all
    rows gathered, ``n_bad`` plus their NaN/inf count)."""
    if rows.shape[0] > done:
        n_bad += _gather_s(X, rows[done:], out[done:])
    return rows.shape[0], n_bad


@helper
def _step(optimizer, params, grads, state1, state2, start, stop, hyper, t, decay, decayed):
    """The optimizer's update of ``params[start:stop]`` (L2 ``decay`` on them if ``decayed``)."""
    serial_step(optimizer, params[start:stop], grads[start:stop], state1[start:stop],
                state2[start:stop], hyper, t, decay, stop - start if decayed else 0)


_rows_view = inline_helper(_view)  # trainer's (rows, cols) view of a flat buffer


@helper
def _sum_activate(partial, n_parts, block_rows, n_out, r0, r1, b, code, param, out):
    """``out = f(((P0 + P1) [+ P2])[r0:r1] + b)``, the first ``n_parts`` (2 or 3) partial
    products in ``partial`` (blocks of ``block_rows`` x ``n_out``), summed in OpenBLAS's
    order: ``dense_forward``'s expression."""
    p = out.dtype.type(param)
    zero = p - p
    first = _rows_view(partial, 0, r1, n_out)
    second = _rows_view(partial, block_rows * n_out, r1, n_out)
    third = _rows_view(partial, (n_parts - 1) * block_rows * n_out, r1, n_out)
    for i in range(r1 - r0):
        for j in range(n_out):
            z = first[r0 + i, j] + second[r0 + i, j]
            if n_parts == 3:
                z += third[r0 + i, j]
            z += b[j]
            if code == RELU:
                out[i, j] = z if z > zero else zero
            else:
                out[i, j] = activate(z, code, p)


@inline_helper
def _lap(clock, worker, phase, layer, since):
    """Add the ticks since ``since`` to ``clock[worker, phase, layer]``; return the ticks now."""
    now = ticks()
    clock[worker, phase, layer] += now - since
    return now


def train_epoch_data_parallel(X, Y, sample_weight, has_weights, order, batch_size, params, grads,
                              net, ws, loss_code, optimizer, hyper, state1, state2, t, n_weights,
                              n_workers, clock, k_split, k_split2):
    """One epoch of mini-batch gradient descent over ``X[order]``, shared by ``n_workers`` threads.

    Parameters are those of ``trainer.train_epoch_gathered``, plus
    ``optimizer`` (``trainer.SGD``, ``MOMENTUM`` or ``ADAM``) and
    ``n_workers``: the number of threads of Numba's pool (exactly; BLAS
    limited to one thread by the caller), and ``clock``: an int64 array of
    shape (n_workers, len(PHASES), n_layers) to which each worker adds the
    time-stamp-counter ticks (``clock.ticks``) it spent in each phase of
    ``PHASES`` (per layer where there is one, else in layer 0; the wait for
    the partial products of the first layer counts as waiting for rows),
    and ``k_split``: with 2 workers, the column of X in ``(0, n_features)``
    where the first layer's product is split by depth (see the module's
    docstring); 0 or any other value: not split; and ``k_split2``: a column
    in ``(k_split, n_features)`` where worker 1 cuts its product in two (a
    third block of OpenBLAS's: see the docstring), else 0.  The same batches and
    updates as that function, the same results up to OpenBLAS's rounding;
    after it ``grads`` holds the gradient of its last batch that stepped (with
    plain SGD: of the batch ``hyper[9]`` names, as in that function).

    Returns
    -------
    total : float
        ``hyper[10]`` plus the sum over batches of batch loss times batch size.
    t : int
        Adam's step count after the epoch.
    status : int
        0 done; 1 a batch loss was NaN/inf (stopped before its update); 2 a
        gathered batch of X held NaN/inf (stopped, no update); 3 the workers
        were not all running at once (nothing done; run the epoch otherwise).
    """
    sizes, w_off, b_off, codes, act_params = net
    acts, deltas, a_off, xbuf, ybuf, wbuf = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5]
    ones = ws[6]
    sample_loss = ws[7]
    n_layers = sizes.shape[0] - 1
    d, k = X.shape[1], Y.shape[1]
    n_total = order.shape[0]
    n_batches = (n_total + batch_size - 1) // batch_size
    lr, alpha, loss_scale = hyper[0], hyper[6], hyper[7]
    kept = int(hyper[9])  # the batch plain SGD does not fuse (see trainer)
    zero = params.dtype.type(0)
    check_in = np.zeros(1, np.int64)
    arrivals = np.zeros(1, np.int64)
    n_bad = np.zeros(n_workers, np.int64)
    outcome = np.zeros(3)  # total, status, t (written by worker 0)
    # Batches alternate between two row buffers, so that the next batch's rows
    # can be gathered while this batch's are still read (in the barriers' waits).
    xbuf_odd = np.empty_like(xbuf)
    # The first layer's product split by columns of X (k_split: see the docstring).
    # Blocks of it hold up to ``most`` rows: the row buffers are only that long.
    by_columns = 0 < k_split < d and n_workers == 2
    n_parts = 3 if by_columns and k_split < k_split2 < d else 2
    most = min(batch_size, n_total)
    partial = np.empty(n_parts * most * sizes[1] if by_columns else 0, params.dtype)
    w_sq0 = squared_norm(params, n_weights) if alpha > 0.0 else 0.0
    for worker in prange(n_workers):
        control_word = flush_subnormals()  # this thread's; given back below (see fpenv)
        if _check_in(check_in, n_workers):
            generation = 0
            step_count = t
            w_sq = w_sq0
            total = hyper[10]  # the loss of the epoch's calls before (see trainer)
            status = 0
            ahead = 0  # rows of my share of this batch gathered during the last one
            ahead_bad = 0  # their NaN/inf values
            tick = ticks()
            # My rows of the first layer's W, by depth (and columns of X).
            c0, c1 = 0, d
            if by_columns:
                c0, c1 = (0, k_split) if worker == 0 else (k_split, d)
                # Then every worker reads every row of a batch first: the first
                # batch's rows are gathered before a barrier, each next one's
                # before the barrier that ends the batch before.
                q0, q1 = _share(most, worker, n_workers)
                ahead = q1 - q0
                ahead_bad = _gather_s(X, order[q0:q1], _rows_view(xbuf, 0, most, d)[q0:q1])
                generation += n_workers
                _, _, tick = _barrier_gathering(arrivals, generation, X, order[:0],
                                                xbuf[:0].reshape((0, d)), 0, 0, clock, worker,
                                                GATHER, tick)
            for batch in range(n_batches):
                start = batch * batch_size
                n = min(batch_size, n_total - start)
                rows = order[start:start + n]
                # The batch's total weight, summed as the serial epoch does:
                # in float64 for the L2 term, in the dtype for the loss.
                scale = 0.0
                total_weight = zero
                for i in range(n):
                    w = sample_weight[rows[i]] if has_weights else ones[i]
                    scale += np.float64(w)
                    total_weight += w
                # All weights 0: no step, but X's rows are checked as in the serial
                # epoch, and both barriers kept (every worker decides alike).
                skip = scale == 0.0
                decay = hyper[8]
                if alpha > 0.0 and not skip:
                    decay += alpha / scale
                # 1. my rows: gather, forward, loss, deltas of every layer
                r0, r1 = _share(n, worker, n_workers)
                inputs = _rows_view(xbuf if batch % 2 == 0 else xbuf_odd, 0, n, d)
                _, n_bad[worker] = _gather_rest(X, rows[r0:r1], inputs[r0:r1], ahead, ahead_bad)
                # My share of the next batch, for the waits below to gather.
                n_next = max(0, min(batch_size, n_total - start - n))
                q0, q1 = _share(n_next, worker, n_workers)
                rows_next = order[start + n + q0:start + n + q1]
                inputs_next = _rows_view(xbuf_odd if batch % 2 == 0 else xbuf, 0, n_next,
                                         d)[q0:q1]
                ahead = 0
                ahead_bad = 0
                if r1 > r0 and not skip:
                    _gather_s(Y, rows[r0:r1], _rows_view(ybuf, 0, n, k)[r0:r1])
                    for i in range(r0, r1):
                        wbuf[i] = sample_weight[rows[i]] if has_weights else ones[i]
                tick = _lap(clock, worker, GATHER, 0, tick)
                if by_columns and not skip:
                    # The first layer's product from my columns of X and my rows of
                    # W (in two parts, rows this thread updated itself): a partial sum
                    # for every row; worker 1's in two products where OpenBLAS cuts them.
                    cut = k_split2 if worker == 1 and n_parts == 3 else c1
                    W = _rows_view(params, w_off[0] + c0 * sizes[1], cut - c0, sizes[1])
                    gemm(inputs[:, c0:cut], False, W, False,
                         _rows_view(partial, worker * most * sizes[1], n, sizes[1]),
                         1.0, 0.0)
                    if cut < c1:
                        W = _rows_view(params, w_off[0] + cut * sizes[1], c1 - cut, sizes[1])
                        gemm(inputs[:, cut:c1], False, W, False,
                             _rows_view(partial, 2 * most * sizes[1], n, sizes[1]), 1.0, 0.0)
                    tick = _lap(clock, worker, FORWARD, 0, tick)
                    generation += n_workers
                    ahead, ahead_bad, tick = _barrier_gathering(
                        arrivals, generation, X, rows_next, inputs_next, ahead, ahead_bad, clock,
                        worker, WAIT_ROWS, tick)
                if r1 > r0 and not skip:
                    for l in range(n_layers):
                        W = _rows_view(params, w_off[l], sizes[l], sizes[l + 1])
                        b = params[b_off[l]:b_off[l] + sizes[l + 1]]
                        out = _rows_view(acts, a_off[l], n, sizes[l + 1])[r0:r1]
                        last = l == n_layers - 1
                        code = IDENTITY if last else codes[l]
                        param = 0.0 if last else act_params[l]
                        if l == 0 and by_columns:
                            _sum_activate(partial, n_parts, most, sizes[1], r0, r1, b, code,
                                          param, out)
                        else:
                            below = (inputs[r0:r1] if l == 0
                                     else _rows_view(acts, a_off[l - 1], n, sizes[l])[r0:r1])
                            _forward_s(below, W, b, code, param, out)
                        tick = _lap(clock, worker, FORWARD, l, tick)
                    logits = _rows_view(acts, a_off[n_layers - 1], n, k)
                    delta = _rows_view(deltas, a_off[n_layers - 1], n, k)
                    targets = _rows_view(ybuf, 0, n, k)
                    for i in range(r0, r1):
                        sample_loss[i] = loss_row(loss_code, logits, targets,
                                                  wbuf[i] / total_weight, logits, delta, i)
                    tick = _lap(clock, worker, LOSS, 0, tick)
                    for l in range(n_layers - 1, 0, -1):
                        W = _rows_view(params, w_off[l], sizes[l], sizes[l + 1])
                        delta_l = _rows_view(deltas, a_off[l], n, sizes[l + 1])[r0:r1]
                        delta_below = _rows_view(deltas, a_off[l - 1], n, sizes[l])[r0:r1]
                        gemm(delta_l, False, W, True, delta_below, 1.0, 0.0)
                        A = _rows_view(acts, a_off[l - 1], n, sizes[l])[r0:r1]
                        for i in range(r1 - r0):
                            times_derivative_row(delta_below, A, i, codes[l - 1],
                                                 act_params[l - 1])
                        tick = _lap(clock, worker, BACKWARD, l, tick)
                generation += n_workers
                ahead, ahead_bad, tick = _barrier_gathering(
                    arrivals, generation, X, rows_next, inputs_next, ahead, ahead_bad, clock,
                    worker, WAIT_ROWS, tick)
                bad = 0
                for other in range(n_workers):
                    bad += n_bad[other]
                if bad:
                    status = 2
                    break
                if skip:
                    if by_columns:
                        ahead, ahead_bad = _gather_rest(X, rows_next, inputs_next, ahead,
                                                        ahead_bad)
                        tick = _lap(clock, worker, GATHER, 0, tick)
                    generation += n_workers
                    ahead, ahead_bad, tick = _barrier_gathering(
                        arrivals, generation, X, rows_next, inputs_next, ahead, ahead_bad, clock,
                        worker, WAIT_WEIGHTS, tick)
                    continue
                loss_sum = zero
                for i in range(n):
                    loss_sum += wbuf[i] / total_weight * sample_loss[i]  # as losses.py
                loss = loss_sum * loss_scale
                if alpha > 0.0:
                    loss += 0.5 * alpha * w_sq / scale
                if not math.isfinite(loss):
                    status = 1
                    break
                tick = _lap(clock, worker, LOSS, 0, tick)
                # 2. my rows of every W, my entries of every b; with the whole batch
                if optimizer == ADAM:
                    step_count += 1
                # Plain SGD steps inside the product, but for the epoch's last weighted
                # batch: then ``grads`` holds its gradient afterwards (as in the fused epoch).
                fuse = optimizer == SGD and lr > 0.0 and start != kept
                for l in range(n_layers):
                    fan_in, fan_out = sizes[l], sizes[l + 1]
                    delta = _rows_view(deltas, a_off[l], n, fan_out)
                    if l == 0 and by_columns and n_parts == 2:  # the rows of my product
                        i0, i1 = c0, c1
                    else:
                        i0, i1 = _share(fan_in, worker, n_workers)
                    below = (inputs if l == 0
                             else _rows_view(acts, a_off[l - 1], n, fan_in))[:, i0:i1]
                    if i1 > i0:
                        W = _rows_view(params, w_off[l] + i0 * fan_out, i1 - i0, fan_out)
                        if fuse:
                            gemm(below, True, delta, False, W, -lr, 1.0 - lr * decay)
                        else:
                            dW = _rows_view(grads, w_off[l] + i0 * fan_out, i1 - i0, fan_out)
                            gemm(below, True, delta, False, dW, 1.0, 0.0)
                            tick = _lap(clock, worker, WEIGHT_GRADIENT, l, tick)
                            _step(optimizer, params, grads, state1, state2,
                                  w_off[l] + i0 * fan_out, w_off[l] + i1 * fan_out, hyper,
                                  step_count, decay, True)
                            tick = _lap(clock, worker, UPDATE, l, tick)
                    # Bias gradient: my blocks of columns, summed as dense_backward does.
                    db = grads[b_off[l]:b_off[l] + fan_out]
                    k0, k1 = _share((fan_out + COLUMN_BLOCK - 1) // COLUMN_BLOCK, worker,
                                    n_workers)
                    for blk in range(k0, k1):
                        sum_column_block(delta, db, blk)
                    tick = _lap(clock, worker, WEIGHT_GRADIENT, l, tick)
                    _step(optimizer, params, grads, state1, state2,
                          b_off[l] + min(fan_out, k0 * COLUMN_BLOCK),
                          b_off[l] + min(fan_out, k1 * COLUMN_BLOCK), hyper, step_count, decay,
                          False)
                    tick = _lap(clock, worker, UPDATE, l, tick)
                if by_columns:
                    ahead, ahead_bad = _gather_rest(X, rows_next, inputs_next, ahead, ahead_bad)
                    tick = _lap(clock, worker, GATHER, 0, tick)
                generation += n_workers
                ahead, ahead_bad, tick = _barrier_gathering(
                    arrivals, generation, X, rows_next, inputs_next, ahead, ahead_bad, clock,
                    worker, WAIT_WEIGHTS, tick)
                if alpha > 0.0:  # every worker, in index order: the serial epoch's sum
                    w_sq = squared_norm(params, n_weights)
                    tick = _lap(clock, worker, LOSS, 0, tick)
                total += loss * n
            if worker == 0:
                outcome[0] = total
                outcome[1] = status
                outcome[2] = step_count
        elif worker == 0:
            outcome[1] = 3
            outcome[2] = t
        restore(control_word)
    return outcome[0], int(outcome[2]), int(outcome[1])


# Compiled as a parallel function (its prange holds the workers); there is no
# serial variant: one thread would wait at the first barrier for workers that
# never come.
train_epoch_data_parallel = _compile(_renamed_copy(train_epoch_data_parallel, "parallel"),
                                     parallel=True)
