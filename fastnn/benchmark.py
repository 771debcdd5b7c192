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
import json
import os
import pickle
import platform
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

PEERS = ("fastnn", "numpy", "torch", "sklearn", "jax")
PEER_NAMES = {"fastnn": "fastnn", "numpy": "NumPy", "torch": "PyTorch",
              "sklearn": "scikit-learn", "jax": "JAX"}
_PEER_MODULES = {"fastnn": "fastnn", "numpy": "numpy", "torch": "torch", "sklearn": "sklearn",
                 "jax": "jax"}

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
        from ._benchmark_peers import XOR_LAYERS

        return training_flops(XOR_LAYERS, samples)
    if kind == "logreg":
        return training_flops([spec["d"], 1], samples)
    return forward_flops([spec["d"], 1], samples)  # perceptron: updates happen on mistakes only


# ---------------------------------------------------------------- worker processes


class _Host:
    """Builds and runs the implementations of one peer (in a worker process or inline)."""

    def __init__(self, peer: str):
        self.peer = peer
        self.built: dict[str, list] = {}

    def handle(self, message):
        op = message[0]
        if op == "info":
            return _peer_info(self.peer)
        if op == "prepare":
            _, wid, kind, spec = message
            from ._benchmark_peers import IMPLEMENTATIONS

            built = self.built[wid] = []
            rows = []
            for cls in IMPLEMENTATIONS[self.peer].get(kind, []):
                if not cls.applies(spec):
                    continue
                try:
                    impl = cls(spec)
                    built.append(impl)
                    rows.append({"label": cls.label, "samples": int(impl.samples), "error": None})
                except Exception as exc:  # a broken peer is reported, not fatal
                    built.append(None)
                    rows.append({"label": cls.label, "samples": 0, "error": _error(exc)})
            return rows
        if op == "run":
            _, wid, index, seed = message
            impl = self.built[wid][index]
            try:
                if seed is not None:  # not timed
                    impl.reseed(seed)
                started = time.perf_counter()
                impl.run()
                return {"seconds": time.perf_counter() - started, "error": None}
            except Exception as exc:
                return {"seconds": None, "error": _error(exc)}
        if op == "extras":
            _, wid, index = message
            try:
                return self.built[wid][index].extras()
            except Exception as exc:
                return {"error": _error(exc)}
        if op == "drop":
            self.built.pop(message[1], None)
            return None
        raise ValueError(f"unknown message {op!r}")


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _peer_info(peer: str) -> dict:
    """Version and threads of a peer, or why it is unavailable."""
    try:
        module = __import__(_PEER_MODULES[peer])
    except Exception as exc:
        return {"available": False, "reason": _error(exc)}
    info = {"available": True, "version": getattr(module, "__version__", "?"),
            "numba_loaded": "numba" in sys.modules}
    if peer == "fastnn":
        info["threads"] = module.threading_info()
    elif peer == "numpy":
        info["blas"] = _blas_info()
    elif peer == "torch":
        module.set_num_threads(2)
        info["threads"] = module.get_num_threads()
        info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    elif peer == "jax":
        info["devices"] = [str(d) for d in module.devices()]
    return info


def _worker_main() -> None:
    """Entry point of a worker process: answer the parent's messages until "stop".

    Started as ``python -c _BOOTSTRAP PEER FASTNN_DIR``: this module and
    ``_benchmark_peers`` are loaded from FASTNN_DIR as the package
    ``_fastnn_bench``, so a peer's worker never imports fastnn (whose import
    starts Numba's thread pool); only the fastnn worker does.  Pickled
    messages come on stdin, pickled replies go to the original stdout;
    anything the libraries print goes to stderr.

    Every worker inherits the parent's environment, so PyTorch's OpenMP pool
    waits as fastnn's does (``OMP_WAIT_POLICY=PASSIVE`` unless the user set
    it): with libgomp's spinning default, PyTorch ran 10-20 times slower on
    the loaded 2-core machine (an epoch of 20,000 MNIST-shaped rows at batch
    128: 34-47 s against 1.9-2.2 s), and the benchmark compares against
    peers at their best.
    """
    peer = sys.argv[1]
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    host = _Host(peer)
    while True:
        try:
            message = pickle.load(requests)
        except EOFError:
            break
        if message[0] == "stop":
            break
        try:
            reply = host.handle(message)
        except Exception as exc:
            reply = {"error": _error(exc), "traceback": traceback.format_exc()}
        pickle.dump(reply, replies)
        replies.flush()


_BOOTSTRAP = ("import sys, types; package = types.ModuleType('_fastnn_bench'); "
              "package.__path__ = [sys.argv[2]]; sys.modules['_fastnn_bench'] = package; "
              "from _fastnn_bench.benchmark import _worker_main; _worker_main()")


class _Worker:
    """A peer's worker process, or (``inline``) a host in this process."""

    def __init__(self, peer: str, inline: bool):
        self.peer = peer
        if inline:
            self.host, self.process, self.pid = _Host(peer), None, os.getpid()
            return
        import fastnn

        env = dict(os.environ)
        root = str(Path(fastnn.__file__).resolve().parents[1])  # the same fastnn in the worker
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, peer, str(Path(__file__).resolve().parent)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pid = self.process.pid

    def send(self, message):
        if self.process is None:
            self._reply = self.host.handle(message)
        else:
            pickle.dump(message, self.process.stdin)
            self.process.stdin.flush()

    def receive(self, timeout: float = 1800.0):
        if self.process is None:
            return self._reply
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the {self.peer} worker did not answer within {timeout:.0f} s")
        try:
            return pickle.load(self.process.stdout)
        except EOFError:
            raise RuntimeError(f"the {self.peer} worker died (exit code "
                               f"{self.process.wait()})") from None

    def call(self, message, timeout: float = 1800.0):
        self.send(message)
        return self.receive(timeout)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.send(("stop",))
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ----------------------------------------------------------- machine load tracking


class _Load:
    """Cores kept busy by processes other than the benchmark's own (Linux /proc)."""

    def __init__(self, pids):
        self.pids = list(pids)
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = self._busy() is not None

    @staticmethod
    def _busy():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return user + nice + system + irq + softirq + steal

    def _own(self):
        total = 0
        for pid in set(self.pids):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
            except (OSError, IndexError, ValueError):
                pass
        return total

    def mark(self):
        return (time.perf_counter(), self._busy(), self._own()) if self.available else None

    def foreign_cores(self, mark) -> float | None:
        """Cores other processes used on average since ``mark``."""
        if mark is None:
            return None
        wall = time.perf_counter() - mark[0]
        busy, own = self._busy(), self._own()
        return max(0.0, (busy - mark[1] - (own - mark[2])) / self.hz / max(wall, 1e-3))

    def wait_for_quiet(self, limit: float, max_foreign: float) -> float:
        """Wait (at most ``limit`` s) for half a second of quiet; returns the seconds waited."""
        began = time.perf_counter()
        while self.available and time.perf_counter() - began < limit:
            mark = self.mark()
            time.sleep(0.5)
            if self.foreign_cores(mark) <= max_foreign:
                break
        return time.perf_counter() - began


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


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

    workers = {peer: _Worker(peer, inline) for peer in peers}
    try:
        infos = {peer: w.call(("info",)) for peer, w in workers.items()}
        for peer, info in infos.items():
            if not info.get("available"):
                log(f"{PEER_NAMES[peer]}: not installed ({info.get('reason')}); skipped")
        active = {p: w for p, w in workers.items() if infos[p].get("available")}
        load = _Load([os.getpid()] + [w.pid for w in workers.values()])
        budget = [sizes["wait_budget"]]
        result = {"meta": _meta(quick, sizes, infos, max_foreign, load.available),
                  "roof": {}, "workloads": []}
        log(f"load average {_loadavg()}; measuring the roof ...")
        roof = _measure_roof(sizes["roof_n"], 3, {}, load, max_foreign)
        for workload in chosen:
            result["workloads"].append(_run_workload(workload, active, load, budget, max_foreign,
                                                     sizes["slow_run"], log))
        _measure_roof(sizes["roof_n"], 2, roof, load, max_foreign)
        for peer, w in active.items():  # thread pools as they ran (started on first use)
            try:
                result["meta"]["peers"][peer] = w.call(("info",))
            except _WORKER_FAILURES:
                pass
    finally:
        for w in workers.values():
            w.stop()
    result["roof"] = {dt: _roof(r, sizes["roof_n"]) for dt, r in roof.items()}
    _derive(result)
    result["targets"] = _targets(result)
    result["meta"]["seconds"] = round(time.perf_counter() - began, 1)
    result["meta"]["loadavg_end"] = _loadavg()
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
        except _WORKER_FAILURES as exc:
            prepared = [{"label": PEER_NAMES[peer], "samples": 0, "error": _error(exc)}]
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
        record = {"round": number, "seed": seed, "loadavg": _loadavg(),
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
            row["extras"] = _mean_extras(row["round_extras"])
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


_WORKER_FAILURES = (OSError, EOFError, RuntimeError, TimeoutError, pickle.UnpicklingError)


def _call(workers: dict, peer: str, message, log) -> dict:
    """A worker's reply to ``message`` (a dict; ``drop`` replies None, taken as empty)
    with ``"error": None``, or ``{"error": ...}`` (and the worker retired)."""
    try:
        reply = workers[peer].call(message)
    except _WORKER_FAILURES as exc:
        _retire(workers, peer, log)
        return {"error": _error(exc)}
    return {"error": None, **(reply or {})}


def _mean_extras(round_extras: list[dict]) -> dict:
    """The accuracy of a row's per-round fits: mean, lowest and highest, and their seeds."""
    pairs = [(e["seed"], e["accuracy"]) for e in round_extras if e.get("accuracy") is not None]
    if not pairs:
        return {}
    seeds, values = zip(*pairs)
    return {"accuracy": float(np.mean(values)), "accuracy_min": min(values),
            "accuracy_max": max(values), "seeds": list(seeds)}


def _retire(workers: dict, peer: str, log) -> None:
    """Stop using a worker that died or hung; its rows report the error."""
    log(f"the {PEER_NAMES[peer]} worker failed; it is left out from now on")
    workers.pop(peer).stop()


def _derive(result: dict) -> None:
    """Median seconds, samples/s, GFLOP/s, % of roof, ratio to the fastest peer, per row."""
    for workload in result["workloads"]:
        roof = result["roof"].get(workload["dtype"], {}).get("gflops")
        for row in workload["rows"]:
            times = row["seconds"]
            calm = [t for t, d in zip(times, row["disturbed"]) if not d]
            if not times or row["error"]:
                row.update(median_s=None, median_of=None, samples_per_s=None, gflops=None,
                           roof_pct=None)
                continue
            row["median_of"] = "calm" if calm else "all"
            row["median_s"] = float(np.median(calm or times))
            row["samples_per_s"] = row["samples"] / row["median_s"]
            row["gflops"] = row["flops"] / row["median_s"] / 1e9
            row["roof_pct"] = 100 * row["gflops"] / roof if roof else None
        rates = [r["samples_per_s"] for r in workload["rows"]
                 if r["peer"] != "fastnn" and r["samples_per_s"]]
        best = max(rates) if rates else None
        workload["fastest_peer"] = next((r["label"] for r in workload["rows"]
                                         if r["peer"] != "fastnn" and r["samples_per_s"] == best),
                                        None)
        for row in workload["rows"]:
            row["x_fastest_peer"] = (row["samples_per_s"] / best
                                     if best and row["samples_per_s"] else None)


def _targets(result: dict) -> list[dict]:
    """Issue 4's targets against the best fastnn row of each workload."""
    from ._benchmark_peers import FastnnTrainOneThread, FastnnTrainTwoThreads

    by_id = {w["id"]: w for w in result["workloads"]}
    targets = []

    def best_fastnn(workload, key="samples_per_s"):
        rows = [r for r in workload["rows"] if r["peer"] == "fastnn" and r.get(key)]
        return max(rows, key=lambda r: r[key]) if rows else None

    def add(target, measured, met):
        targets.append({"target": target, "measured": measured, "met": met})

    for wid, factor in (("W1 bs32", 1.5), ("W1 bs128", 1.5), ("W1 bs512", 1.2)):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        if row and row["x_fastest_peer"]:
            add(f"{wid}: fastnn >= {factor}x the fastest peer",
                f"{row['x_fastest_peer']:.2f}x {w['fastest_peer']} ({row['label']}, "
                f"{row['roof_pct']:.0f} % of roof)", row["x_fastest_peer"] >= factor)
    for w in (w for w in result["workloads"] if w.get("spec", {}).get("one_thread_row")):
        rows = {r["label"]: r for r in w["rows"] if r["peer"] == "fastnn" and r["median_s"]}
        double, single = (rows.get(FastnnTrainTwoThreads.label),
                          rows.get(FastnnTrainOneThread.label))
        if double and single:
            speedup = single["median_s"] / double["median_s"]
            add(f"{w['id']}: fastnn on 2 threads >= 1.7x 1 thread",
                f"{speedup:.2f}x (train(): {double['median_s']:.3f} s on 2 threads, "
                f"{single['median_s']:.3f} s on 1)", speedup >= 1.7)
    w = by_id.get("W2")
    row = w and best_fastnn(w)
    if row:
        others = ", ".join(f"{r['label']} {_si(r['samples_per_s'])}/s" for r in w["rows"]
                           if r["peer"] == "fastnn" and r is not row and r["samples_per_s"])
        add("W2: fastnn >= 10 million sample-updates/s",
            f"{_si(row['samples_per_s'])}/s ({row['label']}" + (f"; {others}" if others else "")
            + ")", row["samples_per_s"] >= 1e7)
    for wid, peer_label in (("W3 perceptron", "scikit-learn Perceptron"),
                            ("W3 logistic", "scikit-learn SGDClassifier")):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        peer = w and next((r for r in w["rows"] if r["label"] == peer_label and r["samples_per_s"]),
                          None)
        if row and peer:
            speedup = row["samples_per_s"] / peer["samples_per_s"]
            acc, peer_acc, seeds = _mean_accuracies(row, peer)
            gap = None if acc is None or peer_acc is None else 100 * (acc - peer_acc)
            others = "".join(
                f"; {r['label']} {r['samples_per_s'] / peer['samples_per_s']:.2f}x, accuracy "
                f"{_pct(_mean_accuracies(r, peer)[0])}" for r in w["rows"]
                if r["peer"] == "fastnn" and r is not row and r["samples_per_s"])
            add(f"{wid}: fastnn >= 5x {peer_label} at equal accuracy (within 0.5 points)",
                f"{speedup:.2f}x ({row['label']}); mean accuracy {_pct(acc)} vs "
                f"{_pct(peer_acc)} over seeds {_seeds(seeds)}" + others,
                speedup >= 5 and gap is not None and abs(gap) <= 0.5)
    for wid, dtype in (("W4", "float32"), ("W5", "float64")):
        w = by_id.get(wid)
        row = w and best_fastnn(w)
        if row and row["x_fastest_peer"] and row["roof_pct"]:
            add(f"{wid}: fastnn at least as fast as the fastest peer and >= 90 % of the "
                f"{dtype} roof",
                f"{row['x_fastest_peer']:.2f}x {w['fastest_peer']}, {row['roof_pct']:.0f} % of "
                f"roof ({row['label']})",
                row["x_fastest_peer"] >= 1.0 and row["roof_pct"] >= 90)
    return targets


def _mean_accuracies(row: dict, peer: dict):
    """Mean accuracies of two rows over the seeds both fitted with, and those seeds.

    Normally every implementation fits with every round's seed; one that
    stopped early (slow, failed) is compared on its seeds only, so the two
    means always cover the same shuffles.
    """
    common = set(row["extras"].get("seeds", [])) & set(peer["extras"].get("seeds", []))

    def mean(r):
        return _mean_extras([e for e in r["round_extras"] if e["seed"] in common]).get("accuracy")

    return mean(row), mean(peer), sorted(common)


def _seeds(seeds) -> str:
    """``0-2`` for consecutive seeds, else ``0, 2``; ``-`` for none."""
    if not seeds:
        return "-"
    if len(seeds) > 1 and list(seeds) == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _meta(quick, sizes, infos, max_foreign, tracked) -> dict:
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(["fastnn"] + sys.argv[1:]) if Path(sys.argv[0]).name == "fastnn"
        else " ".join(["python"] + sys.argv),
        "quick": quick, "sizes": sizes, "python": platform.python_version(),
        "platform": platform.platform(), "cpu": _cpu_name(), "n_cpus": os.cpu_count(),
        "peers": infos, "max_foreign_cores": max_foreign, "load_tracked": tracked,
        "loadavg_start": _loadavg(),
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


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
                return f"{pool['internal_api']} {pool['version']} ({pool['num_threads']} threads)"
    except Exception:
        pass
    return "unknown BLAS"


# -------------------------------------------------------------------------- reports


def _si(value) -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _accuracy(extras: dict) -> str:
    """``85.40 % (84.80-86.20)``: a mean over seeds with its range, or one accuracy."""
    if extras.get("accuracy_min") is None or len(extras.get("seeds", [])) < 2:
        return _pct(extras.get("accuracy"))
    return (f"{_pct(extras['accuracy'])} ({100 * extras['accuracy_min']:.2f}-"
            f"{100 * extras['accuracy_max']:.2f})")


def _num(value, fmt) -> str:
    return "-" if value is None else format(value, fmt)


def markdown(result: dict) -> str:
    """The report: conditions, the table, the issue's targets, the rounds."""
    meta, roof = result["meta"], result["roof"]
    versions = ", ".join(
        f"{PEER_NAMES[p]} {i['version']}" for p, i in meta["peers"].items() if i.get("available"))
    missing = ", ".join(PEER_NAMES[p] for p, i in meta["peers"].items() if not i.get("available"))
    numpy_info = meta["peers"].get("numpy", {}).get("blas", "")
    fastnn_threads = meta["peers"].get("fastnn", {}).get("threads", {})
    lines = [
        "# fastnn side by side with its peers" + (" (quick smoke run)" if meta["quick"] else ""),
        "",
        f"Measured by `{meta['command']}` on {meta['date']} in {meta.get('seconds', 0):.0f} s: "
        f"{meta['cpu']}, {meta['n_cpus']} logical CPUs, Python {meta['python']}; {versions}"
        + (f" (NumPy BLAS: {numpy_info})" if numpy_info else "")
        + (f"; not installed: {missing}" if missing else "") + ".",
        "",
        f"Threads: fastnn {fastnn_threads.get('n_threads', '?')}"
        + (" adaptive (its default: each segment of an epoch with all threads or one, "
           "whichever measures faster)" if fastnn_threads.get("adaptive") else "")
        + f" (threading layer {fastnn_threads.get('threading_layer', '?')}, OMP_WAIT_POLICY "
        f"{fastnn_threads.get('omp_wait_policy', '?')}), PyTorch 2, NumPy/scikit-learn OpenBLAS "
        "default, JAX (XLA) default; one worker process per peer, so no two thread pools share "
        "a process; every worker has OMP_WAIT_POLICY "
        f"{fastnn_threads.get('omp_wait_policy', os.environ.get('OMP_WAIT_POLICY'))}"
        " (libgomp's spinning default made PyTorch 10-20x slower on this loaded machine).",
        "",
        "Roof (best calm n x n GEMM through NumPy, at the start and the end of the run; "
        "* disturbed): " + ", ".join(
            f"{dt} {r['gflops']:.1f} GFLOP/s (n = {r['n']}; all: " + ", ".join(
                f"{v:.0f}" + ("*" if d else "") for v, d in zip(
                    r["measurements"], r.get("disturbed") or [False] * len(r["measurements"])))
            + ")" for dt, r in roof.items()) + ".",
        "",
        f"Load average (1, 5, 15 min) at the start {meta['loadavg_start']}, at the end "
        f"{meta.get('loadavg_end')}. A run is *disturbed* when other processes kept more than "
        f"{meta['max_foreign_cores']} cores busy during it; **median s** is over the calm runs "
        "(over all runs, marked *, when none was calm); an implementation is not run again "
        f"after a calm run longer than {meta['sizes']['slow_run']:g} s, or two such runs. "
        "**× fastest peer** = samples/s over the "
        "best non-fastnn samples/s of the workload (above 1: faster than every peer). "
        "GFLOP/s counts matrix products only: forward 2·n·Σ in·out, weight gradients the same, "
        "input gradients for every layer but the first (W3 perceptron: the forward dot products; "
        "its updates happen on mistakes only). **accuracy**: W2 on the 4 XOR points after the "
        "last run; W3 the mean test accuracy over the rounds, round r's fit shuffled with "
        "random_state r - 1 by every implementation (the range over the rounds in parentheses); "
        "the W3 targets compare these means.",
        "",
        "| workload | implementation | work per run | median s | samples/s | GFLOP/s | % of roof "
        "| × fastest peer | accuracy | calm/all runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in result["workloads"]:
        for row in w["rows"]:
            label = f"**{row['label']}**" if row["peer"] == "fastnn" else row["label"]
            if row["error"]:
                lines.append(f"| {w['id']} | {label} | | failed: {row['error']} | | | | | | |")
                continue
            unit = " updates" if w["kind"] == "xor" else ""
            star = "*" if row["median_of"] == "all" else ""
            calm = sum(not d for d in row["disturbed"])
            x = row["x_fastest_peer"]
            lines.append(
                f"| {w['id']} | {label} | {_si(row['samples'])}{unit} | "
                f"{_num(row['median_s'], '.3f')}{star} | {_si(row['samples_per_s'])} | "
                f"{_num(row['gflops'], '.1f')} | {_num(row['roof_pct'], '.0f')} | "
                f"{'-' if x is None else f'{x:.2f}'} | {_accuracy(row['extras'])} | "
                f"{calm}/{len(row['seconds'])} |")
    lines += ["", "Workloads:", ""]
    lines += [f"- **{w['id']}**: {w['title']}" + (f"; {w['note']}" if w.get("note") else "")
              + "." for w in result["workloads"]]
    if result.get("targets"):
        lines += ["", "## Targets of issue 4", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |"
                  for t in result["targets"]]
    lines += ["", "## Rounds", "",
              "Load average (1 min) at the start of each round, seconds waited for a quiet "
              "moment before it, and runs disturbed by other processes:", ""]
    for w in result["workloads"]:
        lines.append(f"- {w['id']}: " + "; ".join(
            f"round {r['round']}" + ("" if r.get("seed") is None else f" (seed {r['seed']})")
            + f": load {r['loadavg'][0] if r['loadavg'] else '?'}, waited "
            f"{r['waited_s']} s, {r['disturbed_runs']} disturbed" for r in w["rounds"]))
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> bool:
    """Bar chart of × fastest peer per workload; False (and no file) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [w for w in result["workloads"] if any(r["x_fastest_peer"] for r in w["rows"])]
    if not shown:
        return False
    heights = [max(1, len(w["rows"])) * 0.32 + 0.7 for w in shown]
    fig, axes = plt.subplots(len(shown), 1, figsize=(9, sum(heights)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, w in zip(axes[:, 0], shown):
        rows = [r for r in w["rows"] if r["x_fastest_peer"]][::-1]
        values = [r["x_fastest_peer"] for r in rows]
        colors = ["tab:red" if r["peer"] == "fastnn" else "tab:gray" for r in rows]
        ax.barh(range(len(rows)), values, color=colors)
        ax.set_yticks(range(len(rows)), [r["label"] for r in rows], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlim(min(values + [1.0]) / 1.5, max(values + [1.0]) * 1.8)
        ax.axvline(1.0, color="black", linewidth=0.8)
        for i, (v, r) in enumerate(zip(values, rows)):
            roof = (f", {r['roof_pct']:.0f} % of roof"
                    if w["kind"] in ("mlp", "forward") and r["roof_pct"] is not None else "")
            ax.text(v, i, f" {v:.2f}{roof}", va="center", fontsize=7)
        title = w["title"].split(":")[0] if w["kind"] == "xor" else w["title"]
        ax.set_title(f"{w['id']}: {title}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("samples/s relative to the fastest peer (log scale; right of 1 = "
                           "faster than every peer)", fontsize=8)
    fig.suptitle("fastnn (red) vs peers, " + result["meta"]["date"][:10], fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(result: dict, out_dir, stem: str = "compare", png: bool = True, log=print) -> dict:
    """Write ``<stem>.md``, ``.json`` and (matplotlib) ``.png`` in ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / f"{stem}.md", "json": out / f"{stem}.json"}
    paths["md"].write_text(markdown(result))
    paths["json"].write_text(json.dumps(result, indent=1, default=_json_default) + "\n")
    if png:
        if plot(result, out / f"{stem}.png"):
            paths["png"] = out / f"{stem}.png"
        else:
            log("matplotlib is not installed (pip install matplotlib): no bar chart written")
    return paths


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


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


def _cores(text: str) -> float:
    """An argparse type for --max-foreign: a finite number of cores >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of cores >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    from .cli import int_at_least

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
    parser.add_argument("--max-foreign", type=_cores, default=MAX_FOREIGN,
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
