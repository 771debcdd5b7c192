"""Side-by-side benchmark: fastnn against its peers on the same data, in one run.

    fastnn bench [--quick] [--peers fastnn,numpy,torch,sklearn,jax] [--workloads W1,W3]
                 [--rounds N] [--out DIR] [--no-plot]
    python bench/compare.py ...        (the same, writing to bench/results/ by default)

Workloads (issue 4):

W1   MNIST-shaped MLP: 60,000 x 784 float32, 784-256-128-10 ReLU, softmax
     cross-entropy, plain mini-batch SGD (lr 0.01), one epoch; batch 32, 128, 512
     (at 512 also fastnn on fixed 2 and 1 threads: the target for the second thread)
W2   XOR 2-4-1 sigmoid, per-sample SGD (batch 1, lr 0.5), 4 shuffled samples an
     epoch, many epochs: sample-updates per second
W3   1,000,000 x 100 float64, 5 epochs of per-sample updates: the perceptron, and
     logistic regression by SGD (lr 0.001); test accuracy on 100,000 more rows
W4   inference: class probabilities of the W1 network for 60,000 rows
W5   W1 at batch 128 in float64

Peers, each when installed: a plain NumPy implementation (OpenBLAS products;
``fastnn._benchmark_peers.NumpyNet``), PyTorch eager on 2 threads (nn.Linear,
F.cross_entropy, optim.SGD), scikit-learn (MLPClassifier, Perceptron,
SGDClassifier) and JAX (``jax.jit`` of the whole step).  Every
implementation starts from the same weights and does the same work.

How it measures:

* each peer runs in its own worker process (the peer's libraries and thread
  pools never meet another's), all started before the first workload; every
  worker has fastnn's OpenMP wait policy (``OMP_WAIT_POLICY=PASSIVE`` unless
  set): PyTorch's OpenMP pool spinning by libgomp's default made it 10-20
  times slower on the loaded 2-core machine, and peers are measured at their
  best;
* per workload every worker builds the seeded data and warms up (JIT
  compilation, caches) untimed; then the implementations run in interleaved
  rounds, A B C A B C ..., so that machine drift hits all alike;
* before each round the parent waits (a few seconds at most, within a budget)
  for a moment when other processes are quiet, and records the load average;
  each timed run records the cores that *other* processes kept busy meanwhile
  (/proc/stat minus the benchmark's own processes); a run during which they
  used more than ``--max-foreign`` cores is *disturbed*;
* W3's fits take the round's seed for their shuffle (round r: ``random_state``
  r - 1, the same for every implementation; the data stay the same seeded
  data), set untimed before the run, and report the test accuracy of every
  round (disturbed or not: the load changes no fit); the table shows their
  mean and range, and the equal-accuracy targets compare the means (over
  the seeds both implementations ran): the last-iterate perceptron's
  accuracy moves by about 1.5 points with the shuffle order alone, so one
  seed cannot tell whether two implementations reach the same accuracy.
  The warm-up fit is not a round;
* median seconds over the calm runs (over all of them, marked ``*``, if none
  was calm); samples/s, GFLOP/s from exact FLOP counts (forward
  ``2 n sum(in*out)``, weight gradients the same, input gradients for every
  layer but the first), % of the measured roof (the best large float32 and
  float64 GEMM through NumPy, timed in the parent at the start and the end),
  and the ratio to the fastest peer (samples/s over the best non-fastnn
  samples/s of the workload: above 1 is faster than every peer).

Outputs: the Markdown table on stdout and ``compare.md``, ``compare.json``,
``compare.png`` (``compare-quick.*`` with ``--quick``) in ``--out``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ._benchmark_host import (PEER_NAMES, PEERS, WORKER_FAILURES, Load, Worker, error_text,
                              loadavg)
from ._benchmark_report import derive, issue_targets, markdown, mean_extras, write

#: Sizes of a full run (issue 4) and of the ``--quick`` smoke run.
FULL = {"n": 60_000, "layers": [784, 256, 128, 10], "batch_sizes": [32, 128, 512], "lr": 0.01,
        "xor_seconds": 0.5, "xor_lr": 0.5, "w3_n": 1_000_000, "w3_d": 100, "w3_test": 100_000,
        "w3_epochs": 5, "w3_lr": 0.001, "roof_n": 4096, "rounds": 3, "light_rounds": 5,
        "wait_budget": 60.0, "slow_run": 20.0}
QUICK = {**FULL, "n": 6_000, "xor_seconds": 0.05, "w3_n": 50_000, "w3_test": 10_000,
         "roof_n": 2048, "rounds": 2, "light_rounds": 3, "wait_budget": 10.0, "slow_run": 5.0}

MAX_FOREIGN = 0.2  # cores other processes may use during a run that counts as calm


# ------------------------------------------------------------------------ FLOP counts


def forward_flops(layer_sizes, n_samples: int) -> int:
    """Matrix-product FLOPs of a forward pass of ``n_samples`` rows: ``2 n sum(in * out)``."""
    return 2 * n_samples * sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def training_flops(layer_sizes, n_samples: int) -> int:
    """Matrix-product FLOPs of forward + backward for ``n_samples`` rows.

    Forward ``2 n in out`` per layer, the weight gradient the same, and the
    error signal for the layer below another ``2 n in out`` for every layer
    but the first (the input needs no gradient).
    """
    first = 2 * n_samples * layer_sizes[0] * layer_sizes[1]
    return 3 * forward_flops(layer_sizes, n_samples) - first


# -------------------------------------------------------------------------- workloads


def workloads(sizes: dict) -> list[dict]:
    """The workloads of a run: id, title, kind, dtype, spec (what the workers build), rounds."""
    layers, n, lr = list(sizes["layers"]), sizes["n"], sizes["lr"]
    heavy, light = sizes["rounds"], sizes["light_rounds"]
    shape = "-".join(map(str, layers))
    out = []
    for bs in sizes["batch_sizes"]:
        out.append({"id": f"W1 bs{bs}", "kind": "mlp", "dtype": "float32", "rounds": heavy,
                    "title": f"{n:,} x {layers[0]} float32, {shape} ReLU/softmax, one epoch of "
                             f"SGD, batch {bs}",
                    "spec": {"n": n, "layers": layers, "dtype": "float32", "batch_size": bs,
                             "lr": lr, "seed": 0,
                             "one_thread_row": bs == max(sizes["batch_sizes"])}})
    out.append({"id": "W2", "kind": "xor", "dtype": "float64", "rounds": light,
                "title": "XOR 2-4-1 sigmoid, per-sample SGD (batch 1), 4 samples an epoch: "
                         "each implementation runs its own number of updates (~"
                         f"{sizes['xor_seconds']:g} s)",
                "spec": {"lr": sizes["xor_lr"], "seed": 0, "target_seconds": sizes["xor_seconds"]}})
    linear = {"n": sizes["w3_n"], "d": sizes["w3_d"], "n_test": sizes["w3_test"],
              "epochs": sizes["w3_epochs"], "seed": 0}
    w3 = f"{sizes['w3_n']:,} x {sizes['w3_d']} float64, {sizes['w3_epochs']} epochs"
    # One seed cannot judge equal accuracy: the last-iterate perceptron's test
    # accuracy moves by about 1.5 points with the shuffle order alone.
    seeds = ("each round a fresh fit shuffled with that round's seed (random_state 0, 1, ... in "
             "rounds 1, 2, ..., the same for every implementation; the data stay the same); "
             "accuracy: the mean over the rounds (their range in parentheses)")
    out.append({"id": "W3 perceptron", "kind": "perceptron", "dtype": "float64", "rounds": heavy,
                "title": f"{w3} of the perceptron rule", "note": seeds, "spec": linear,
                "seed_per_round": True})
    out.append({"id": "W3 logistic", "kind": "logreg", "dtype": "float64", "rounds": heavy,
                "title": f"{w3} of logistic regression by per-sample SGD", "note": seeds,
                "spec": {**linear, "lr": sizes["w3_lr"]}, "seed_per_round": True})
    out.append({"id": "W4", "kind": "forward", "dtype": "float32", "rounds": light,
                "title": f"inference: class probabilities of the W1 network for {n:,} rows",
                "spec": {"n": n, "layers": layers, "dtype": "float32", "seed": 0}})
    out.append({"id": "W5", "kind": "mlp", "dtype": "float64", "rounds": heavy,
                "title": "W1 at batch 128 in float64",
                "spec": {"n": n, "layers": layers, "dtype": "float64", "batch_size": 128,
                         "lr": lr, "seed": 0}})
    return out


def round_seed(number: int) -> int:
    """The estimator seed of round ``number`` (1, 2, ...) of a ``seed_per_round`` workload.

    Every implementation's round ``number`` uses it, so the implementations
    fit with the same seeds; any run of that round would use it again.
    """
    return number - 1


def _flops(workload: dict, samples: int) -> int:
    """Exact matrix-product FLOPs of one run that processed ``samples`` rows or updates."""
    kind, spec = workload["kind"], workload["spec"]
    if kind == "mlp":
        return training_flops(spec["layers"], samples)
    if kind == "forward":
        return forward_flops(spec["layers"], samples)
    if kind == "xor":
        from ._benchmark_common import XOR_LAYERS

        return training_flops(XOR_LAYERS, samples)
    if kind == "logreg":
        return training_flops([spec["d"], 1], samples)
    return forward_flops([spec["d"], 1], samples)  # perceptron: updates happen on mistakes only


# ------------------------------------------------------------------------- the roof


def gemm_gflops(n: int, dtype, repeats: int, load=None) -> list[tuple[float, float | None]]:
    """GFLOP/s of ``repeats`` n x n matrix products through NumPy (after one warm-up).

    Each with the cores other processes kept busy meanwhile (None without ``load``).
    """
    rng = np.random.default_rng(0)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype)
    np.matmul(A, B, out=C)
    rates = []
    for _ in range(repeats):
        mark = load.mark() if load is not None else None
        started = time.perf_counter()
        np.matmul(A, B, out=C)
        rate = 2.0 * n ** 3 / (time.perf_counter() - started) / 1e9
        rates.append((rate, load.foreign_cores(mark) if load is not None else None))
    return rates


# -------------------------------------------------------------------------- running


def run(*, quick: bool = False, peers=None, only=None, rounds: int | None = None,
        sizes: dict | None = None, inline: bool = False, max_foreign: float = MAX_FOREIGN,
        log=print) -> dict:
    """Run the comparison and return the result (the content of compare.json).

    Parameters
    ----------
    quick : bool
        Smaller data, fewer rounds (a smoke run, about a minute).
    peers : sequence of str, optional
        Subset of ``PEERS``; default all (those not installed are reported).
    only : sequence of str, optional
        Workload id prefixes to run, e.g. ``["W1", "W4"]``; default all.
    rounds : int, optional
        Rounds per workload (default 3, 5 for the short W2 and W4).
    sizes : dict, optional
        Overrides of ``FULL`` / ``QUICK`` (the tests run tiny networks).
    inline : bool
        Run every peer in this process instead of one worker process each.
    """
    began = time.perf_counter()
    sizes = {**(QUICK if quick else FULL), **(sizes or {})}
    if rounds is not None:
        # 0 rounds ran nothing and wrote an empty report without a word
        if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {rounds!r}")
        sizes["rounds"] = sizes["light_rounds"] = rounds
    if not max_foreign >= 0:  # negative: every run would count as disturbed
        raise ValueError(f"max_foreign must be >= 0 (cores), got {max_foreign!r}")
    peers = list(PEERS if peers is None else peers)
    if not peers:
        raise ValueError(f"no peers chosen; choose from {PEERS}")
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise ValueError(f"unknown peers {sorted(unknown)}; choose from {PEERS}")
    chosen = [w for w in workloads(sizes)
              if only is None or any(w["id"].lower().startswith(p.lower()) for p in only)]
    if not chosen:
        raise ValueError(f"no workload matches {only}")

    workers = {peer: Worker(peer, inline) for peer in peers}
    try:
        infos = {peer: w.call(("info",)) for peer, w in workers.items()}
        for peer, info in infos.items():
            if not info.get("available"):
                log(f"{PEER_NAMES[peer]}: not installed ({info.get('reason')}); skipped")
        active = {p: w for p, w in workers.items() if infos[p].get("available")}
        load = Load([os.getpid()] + [w.pid for w in workers.values()])
        budget = [sizes["wait_budget"]]
        result = {"meta": _meta(quick, sizes, infos, max_foreign, load.available),
                  "roof": {}, "workloads": []}
        log(f"load average {loadavg()}; measuring the roof ...")
        roof = _measure_roof(sizes["roof_n"], 3, {}, load, max_foreign)
        for workload in chosen:
            result["workloads"].append(_run_workload(workload, active, load, budget, max_foreign,
                                                     sizes["slow_run"], log))
        _measure_roof(sizes["roof_n"], 2, roof, load, max_foreign)
        for peer, w in active.items():  # thread pools as they ran (started on first use)
            try:
                result["meta"]["peers"][peer] = w.call(("info",))
            except WORKER_FAILURES:
                pass
    finally:
        for w in workers.values():
            w.stop()
    result["roof"] = {dt: _roof(r, sizes["roof_n"]) for dt, r in roof.items()}
    derive(result)
    result["targets"] = issue_targets(result)
    result["meta"]["seconds"] = round(time.perf_counter() - began, 1)
    result["meta"]["loadavg_end"] = loadavg()
    return result


def _measure_roof(n: int, repeats: int, into: dict, load, max_foreign) -> dict:
    """Append GEMM rates and their disturbance to ``into[dtype]`` (after a wait for quiet)."""
    for dtype in ("float32", "float64"):
        load.wait_for_quiet(5.0, max_foreign)
        for rate, foreign in gemm_gflops(n, dtype, repeats, load):
            into.setdefault(dtype, []).append(
                (round(rate, 2), foreign is not None and foreign > max_foreign))
    return into


def _roof(measurements: list, n: int) -> dict:
    """The roof: the best calm GEMM rate (the best of all, ``of: all``, if none was calm)."""
    calm = [rate for rate, disturbed in measurements if not disturbed]
    return {"gflops": max(calm or [rate for rate, _ in measurements]), "n": n,
            "of": "calm" if calm else "all",
            "measurements": [rate for rate, _ in measurements],
            "disturbed": [disturbed for _, disturbed in measurements]}


def _run_workload(workload, workers, load, budget, max_foreign, slow_run, log) -> dict:
    """Prepare every peer's implementations, then time them in interleaved rounds.

    An implementation whose calm run took longer than ``slow_run`` seconds, or
    two of whose runs did, runs in no further round (on a loaded machine a
    2-thread OpenBLAS can stall for minutes an epoch; this keeps a run within
    its time).
    """
    wid = workload["id"]
    log(f"{wid}: {workload['title']}: building data and warming up ...")
    for w in workers.values():  # workers build data and compile concurrently
        w.send(("prepare", wid, workload["kind"], workload["spec"]))
    rows = []
    for peer, w in list(workers.items()):
        try:
            prepared = w.receive()
        except WORKER_FAILURES as exc:
            prepared = [{"label": PEER_NAMES[peer], "samples": 0, "error": error_text(exc)}]
            _retire(workers, peer, log)
        if isinstance(prepared, dict):  # the host itself failed
            prepared = [{"label": PEER_NAMES[peer], "samples": 0, "error": prepared["error"]}]
        for index, row in enumerate(prepared):
            rows.append({**row, "peer": peer, "index": index,
                         "flops": _flops(workload, row["samples"]), "seconds": [],
                         "foreign_cores": [], "disturbed": [], "slow": False,
                         "slow_runs": 0, "round_extras": []})
    runnable = [r for r in rows if r["error"] is None]
    per_round = workload.get("seed_per_round", False)
    rounds = []
    for number in range(1, workload["rounds"] + 1):
        limit = min(5.0, budget[0])
        waited = load.wait_for_quiet(limit, max_foreign) if limit > 0 else 0.0
        budget[0] -= waited
        seed = round_seed(number) if per_round else None
        record = {"round": number, "seed": seed, "loadavg": loadavg(),
                  "waited_s": round(waited, 1), "disturbed_runs": 0}
        timed = []
        for row in runnable:
            if row["error"] is not None or row["peer"] not in workers or row["slow"]:
                continue
            if _time_run(row, wid, seed, workers, load, max_foreign, slow_run, log):
                record["disturbed_runs"] += row["disturbed"][-1]
                timed.append(f"{row['label']} {row['seconds'][-1]:.3g} s"
                             + (" (disturbed)" if row["disturbed"][-1] else ""))
        rounds.append(record)
        log(f"  round {number}" + ("" if seed is None else f" (seed {seed})")
            + f": load average {record['loadavg']}: " + ", ".join(timed))
    for row in rows:
        row["extras"] = {}
        if per_round:
            row["extras"] = mean_extras(row["round_extras"])
        elif row["error"] is None and row["seconds"] and row["peer"] in workers:
            reply = _call(workers, row["peer"], ("extras", wid, row["index"]), log)
            row["error"] = reply.pop("error")
            if row["error"] is None:
                row["extras"] = reply
    for peer in list(workers):
        _call(workers, peer, ("drop", wid), log)
    kept = ("id", "title", "note", "kind", "dtype", "spec", "seed_per_round")
    return {k: workload[k] for k in kept if k in workload} | {"rounds": rounds, "rows": rows}


def _time_run(row, wid, seed, workers, load, max_foreign, slow_run, log) -> bool:
    """One timed run of ``row``'s implementation, recorded in ``row``; False if it failed.

    With a ``seed`` (a ``seed_per_round`` workload) the worker reseeds the
    implementation before the timer starts, and this round's fit is judged
    (``extras``) after it stops.
    """
    mark = load.mark()
    reply = _call(workers, row["peer"], ("run", wid, row["index"], seed), log)
    foreign = load.foreign_cores(mark)
    if reply["error"] is None and seed is not None:
        extras = _call(workers, row["peer"], ("extras", wid, row["index"]), log)
        reply["error"] = extras.pop("error")
        row["round_extras"].append({"seed": seed, **extras})
    if reply["error"] is not None:
        row["error"] = reply["error"]
        return False
    disturbed = foreign is not None and foreign > max_foreign
    row["seconds"].append(reply["seconds"])
    row["foreign_cores"].append(None if foreign is None else round(foreign, 2))
    row["disturbed"].append(disturbed)
    if reply["seconds"] > slow_run:  # not repeated once calm, or slow twice
        row["slow_runs"] += 1
        row["slow"] = not disturbed or row["slow_runs"] >= 2
    return True


def _call(workers: dict, peer: str, message, log) -> dict:
    """A worker's reply to ``message`` (a dict; ``drop`` replies None, taken as empty)
    with ``"error": None``, or ``{"error": ...}`` (and the worker retired)."""
    try:
        reply = workers[peer].call(message)
    except WORKER_FAILURES as exc:
        _retire(workers, peer, log)
        return {"error": error_text(exc)}
    return {"error": None, **(reply or {})}


def _retire(workers: dict, peer: str, log) -> None:
    """Stop using a worker that died or hung; its rows report the error."""
    log(f"the {PEER_NAMES[peer]} worker failed; it is left out from now on")
    workers.pop(peer).stop()


def _meta(quick, sizes, infos, max_foreign, tracked) -> dict:
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["fastnn"] + sys.argv[1:]) if Path(sys.argv[0]).name == "fastnn"
        else " ".join(["python"] + sys.argv),
        "quick": quick, "sizes": sizes, "python": platform.python_version(),
        "platform": platform.platform(), "cpu": _cpu_name(), "n_cpus": os.cpu_count(),
        "peers": infos, "max_foreign_cores": max_foreign, "load_tracked": tracked,
        "loadavg_start": loadavg(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# ----------------------------------------------------------------------- command line


def _names(text: str) -> list[str] | None:
    """An argparse type: comma-separated names (spaces around them allowed); "" is None (all).

    An empty item ("numpy,,torch") is an error that shows it, as for the
    other commands' lists, instead of being dropped.
    """
    if not text.strip():
        return None
    items = [item.strip() for item in text.split(",")]
    if "" in items:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r} "
                                         f"(item {items.index('') + 1} is empty)")
    return items


def add_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    from .cli import float_in, int_at_least

    parser.add_argument("--quick", action="store_true",
                        help="small data and few rounds: a smoke run of about a minute")
    parser.add_argument("--peers", type=_names, default=",".join(PEERS),
                        help=f"comma-separated subset of {','.join(PEERS)} (default: all "
                             "installed)")
    parser.add_argument("--workloads", type=_names, default="",
                        help="comma-separated workload id prefixes, e.g. W1,W4 (default: all)")
    parser.add_argument("--rounds", type=int_at_least(1), default=None,
                        help="rounds per workload (default 3; 5 for W2 and W4; 2/3 with --quick)")
    parser.add_argument("--out", default=default_out,
                        help=f"folder for compare.md/.json/.png (default: {default_out})")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument("--inline", action="store_true",
                        help="run every peer in this process (debugging; thread pools then share "
                             "the process)")
    cores = float_in(0, float("inf"), "a finite number of cores >= 0")
    parser.add_argument("--max-foreign", type=cores, default=MAX_FOREIGN,
                        help=f"cores other processes may use during a calm run ({MAX_FOREIGN})")


def add_parser(sub) -> None:
    """``fastnn bench``: the subcommand's parser (``sub`` from ``add_subparsers``)."""
    parser = sub.add_parser("bench", help="fastnn side by side with NumPy, PyTorch, "
                            "scikit-learn and JAX (issue 4's workloads)",
                            description=__doc__.split("\n\n")[0],
                            epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, "fastnn-bench")


def _epilog() -> str:
    return __doc__.split("\n\n", 2)[2].split("\n\nHow it measures")[0]


def _unwritable(out) -> str | None:
    """Why :func:`write` could not create or write the folder ``out``, or None (no side effect)."""
    path = Path(out).absolute()
    while not path.exists():
        path = path.parent
    if not path.is_dir():
        return f"{path} is not a folder"
    if not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def command(args: argparse.Namespace) -> int:
    """Run the comparison described by parsed ``args`` (see :func:`add_arguments`)."""
    peers, only = args.peers, args.workloads
    if peers is None:  # --peers ""
        print(f"fastnn bench: error: no peers chosen; choose from {PEERS}", file=sys.stderr)
        return 2
    problem = _unwritable(args.out)  # before the run: found after it, it lost the run
    if problem:
        print(f"fastnn bench: error: cannot write the results to --out {args.out!r}: "
              f"{problem}", file=sys.stderr)
        return 2
    try:
        result = run(quick=args.quick, peers=peers, only=only, rounds=args.rounds,
                     inline=args.inline, max_foreign=args.max_foreign)
    except ValueError as exc:
        print(f"fastnn bench: error: {exc}", file=sys.stderr)
        return 2
    print()
    print(markdown(result))
    paths = write(result, args.out, "compare-quick" if args.quick else "compare",
                  png=not args.no_plot)
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0


def main(argv=None, default_out: str = "fastnn-bench") -> int:
    parser = argparse.ArgumentParser(
        prog="fastnn bench", description=__doc__.split("\n\n")[0], epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, default_out)
    return command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
