"""Prove fastnn's threading choice (fastnn/_config.py) by measuring it.

    python bench/threads.py [--quick] [--rounds N] [--out bench/results/threads.md]

Every measurement runs in its own fresh interpreter, its environment set
before that interpreter starts (the OpenMP wait policy and Numba's threading
layer are read once, at load time).  Each child trains the MNIST-shaped
network 784-256-128-10 (ReLU hidden units, softmax output, float32) on
synthetic 20_000 x 784 data with ``fastnn.train(..., epochs=1)`` and plain
SGD, one call per epoch: the path a user's training takes (on several
threads, batches of 128 rows or more train by rows, ``kernels/data_parallel.py``).
A child runs one warm-up epoch (compilation or cache loading, buffers,
thread pool start-up), then one timed epoch (up to 3 if other processes
disturbed it, see below).

The machine is shared: other processes take a core now and then, and a
2-thread run loses far more from that than a 1-thread run.  So:

* the configurations run in interleaved rounds (3; 1 with --quick), a fresh
  process each time, in a rotated order, and each reports the median of its
  timed epochs (one per round; OMP_WAIT_POLICY=ACTIVE, 10-40 s an epoch,
  runs in the first round only);
* every timed epoch records how many cores *other* processes kept busy
  meanwhile (from /proc/stat minus the child's own CPU time, steal
  included); an epoch during which they used more than --max-foreign cores
  (0.15) is "disturbed": the child then times another epoch (at most 2
  more), and the median is taken over the calm epochs when there is at
  least one;
* before starting a child the parent waits (10 s at most, --wait-budget
  60 s in all) for a second during which other processes are quiet;
* after --budget seconds (150) the parent neither waits nor retries, it
  only finishes the rounds: about 2 minutes on a quiet machine, longer on a
  busy one (an epoch with 2 threads can then take 10 s);
* each round also times the same matrix products in plain NumPy, OpenBLAS on
  2 threads and on 1, to show what the second core was worth during the run
  independently of fastnn.

Configurations:

a   fastnn default: OpenMP layer, OMP_WAIT_POLICY=PASSIVE (set by fastnn)
b   OMP_WAIT_POLICY=ACTIVE (libgomp's spinning idle threads, which fastnn avoids)
c   NUMBA_THREADING_LAYER=workqueue (Numba's own pool)
d   fastnn.set_num_threads(1) (serial kernels, BLAS on one thread)
t   NUMBA_THREADING_LAYER=tbb (extra: fastnn's second choice; skipped when
    Numba cannot load TBB, ``pip install tbb``)
e1  fastnn default at batch size 512 (2 threads, adaptive)
e2  fastnn.set_num_threads(1) at batch size 512
e3  fastnn.set_num_threads(2) at batch size 512 (issue 4's threads target: e2 / e3)

Ratios are to the fastnn default at the same batch size (row a for batch
128, e1 for batch 512).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

N_SAMPLES = 20_000
LAYERS = [784, 256, 128, 10]
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "threads.md"

# Variables that would change what "default" means; the children start
# without them unless a configuration sets them.
_THREAD_VARIABLES = ["OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS",
                     "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "NUMBA_DISABLE_JIT"]

# key, label, extra environment, fastnn.set_num_threads argument or None, batch size
CONFIGS = [
    ("a", "fastnn default (OpenMP, OMP_WAIT_POLICY=PASSIVE)", {}, None, 128),
    ("b", "OMP_WAIT_POLICY=ACTIVE (libgomp default)", {"OMP_WAIT_POLICY": "ACTIVE"}, None, 128),
    ("c", "NUMBA_THREADING_LAYER=workqueue", {"NUMBA_THREADING_LAYER": "workqueue"}, None, 128),
    ("d", "fastnn.set_num_threads(1)", {}, 1, 128),
    ("t", "NUMBA_THREADING_LAYER=tbb (extra)", {"NUMBA_THREADING_LAYER": "tbb"}, None, 128),
    ("e1", "fastnn default, 2 threads", {}, None, 512),
    ("e2", "fastnn.set_num_threads(1)", {}, 1, 512),
    ("e3", "fastnn.set_num_threads(2)", {}, 2, 512),
]
#: Configurations skipped (reported as such) when their child cannot start,
#: e.g. Numba without TBB: "No threading layer could be loaded".
OPTIONAL = {"t"}
#: Run in the first round only, one timed epoch: an epoch takes 10-40 s on 2 cores.
SLOW = {"b"}
#: Extra epochs a child times when other processes disturbed its timed epoch.
RETRIES = 2


# ------------------------------------------------------------ CPU accounting
class ForeignLoad:
    """Average number of cores busy with *other* processes between start() and stop().

    Whole-machine busy time from /proc/stat (steal time included: the host
    running someone else on our core) minus this process's own CPU time.
    ``None`` where /proc/stat does not exist.
    """

    _TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    @staticmethod
    def _busy_seconds():
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except OSError:
            return None
        user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        return (user + nice + system + irq + softirq + steal) / ForeignLoad._TICK

    @staticmethod
    def _own_seconds():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def start(self):
        self._t0, self._busy0, self._own0 = (time.perf_counter(), self._busy_seconds(),
                                             self._own_seconds())

    def stop(self):
        wall = time.perf_counter() - self._t0
        busy = self._busy_seconds()
        if busy is None or self._busy0 is None or wall <= 0:
            return None
        foreign = (busy - self._busy0) - (self._own_seconds() - self._own0)
        return max(0.0, foreign / wall)


# --------------------------------------------------------------------- children
def child(batch_size: int, n_threads: int | None, max_epochs: int, max_foreign: float) -> dict:
    """Train in this process and return the timings (runs in the subprocess).

    One warm-up epoch, then timed epochs until one is calm (other processes
    kept at most ``max_foreign`` cores busy) or ``max_epochs`` were timed.
    """
    import numpy as np

    import fastnn

    if n_threads is not None:
        fastnn.set_num_threads(n_threads)
    rng = np.random.default_rng(1234)
    X = rng.random((N_SAMPLES, LAYERS[0]), dtype=np.float32)
    Y = np.zeros((N_SAMPLES, LAYERS[-1]), np.float32)
    Y[np.arange(N_SAMPLES), rng.integers(0, LAYERS[-1], N_SAMPLES)] = 1
    net = fastnn.Network(LAYERS, "relu", "softmax", dtype=np.float32, random_state=0)
    optimizer = fastnn.SGD(net, lr=1e-3)
    shuffle = np.random.default_rng(0)
    load = ForeignLoad()

    def epoch():
        load.start()
        start = time.perf_counter()
        losses = fastnn.train(net, X, Y, optimizer=optimizer, epochs=1, batch_size=batch_size,
                              random_state=shuffle)
        seconds = time.perf_counter() - start
        return seconds, load.stop(), float(losses[-1])

    warmup, _, _ = epoch()
    timed = []
    while len(timed) < max_epochs:
        timed.append(epoch())
        if timed[-1][1] is None or timed[-1][1] <= max_foreign:
            break
    return {"warmup": warmup, "times": [t for t, _, _ in timed],
            "foreign": [f for _, f, _ in timed], "loss": timed[-1][2],
            "info": fastnn.threading_info(), "fastnn": fastnn.__file__}


def gemm_child(batch_size: int = 128, repeats: int = 3) -> dict:
    """One epoch's matrix products in plain NumPy, OpenBLAS on 2 and on 1 thread.

    Forward, weight-gradient and error-signal products of 784-256-128-10 for
    20_000 rows in batches of ``batch_size``, float32.  The two thread counts
    alternate ``repeats`` times; the best time of each is kept.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    shapes = list(zip(LAYERS[:-1], LAYERS[1:]))
    Ws = [rng.random((a, b), dtype=np.float32) for a, b in shapes]
    As = [rng.random((batch_size, a), dtype=np.float32) for a, _ in shapes]
    Ds = [rng.random((batch_size, b), dtype=np.float32) for _, b in shapes]
    Zs = [np.empty((batch_size, b), np.float32) for _, b in shapes]
    dWs = [np.empty_like(W) for W in Ws]
    Ps = [np.empty_like(A) for A in As]
    n_batches = N_SAMPLES // batch_size
    load = ForeignLoad()

    def epoch():
        for _ in range(n_batches):
            for layer, (W, A, D) in enumerate(zip(Ws, As, Ds)):
                np.dot(A, W, Zs[layer])
                np.dot(A.T, D, dWs[layer])
                if layer:
                    np.dot(D, W.T, Ps[layer])

    best = {"2": float("inf"), "1": float("inf")}
    load.start()
    for _ in range(repeats):
        for n in (2, 1):
            with threadpool_limits(limits=n, user_api="blas"):
                epoch()  # wake the pool at this size
                start = time.perf_counter()
                epoch()
                best[str(n)] = min(best[str(n)], time.perf_counter() - start)
    best["foreign"] = load.stop()
    return best


# ----------------------------------------------------------------------- parent
def wait_for_calm(max_foreign: float, max_wait: float, window: float = 1.0) -> float:
    """Sleep until a ``window`` passes with at most ``max_foreign`` cores busy.

    Gives up after ``max_wait`` seconds; returns the seconds waited.
    """
    load = ForeignLoad()
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait:
        load.start()
        time.sleep(window)
        busy = load.stop()
        if busy is None or busy <= max_foreign:
            break
    return time.perf_counter() - start


def _clean_env(extra_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARIABLES}
    env.update(extra_env)
    return env


def run_child(args: list[str], extra_env: dict) -> dict:
    """Run this script with ``args`` in a fresh interpreter; its last stdout line is JSON."""
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    proc = subprocess.run(cmd, env=_clean_env(extra_env), capture_output=True, text=True,
                          timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(cmd)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_config(extra_env: dict, n_threads: int | None, batch_size: int, max_epochs: int,
               max_foreign: float) -> dict:
    args = ["--child", "--batch-size", str(batch_size), "--epochs", str(max_epochs),
            "--max-foreign", str(max_foreign)]
    if n_threads is not None:
        args += ["--threads", str(n_threads)]
    return run_child(args, extra_env)


def _error_line(text: str) -> str:
    """The last ``SomeError: message`` line of a child's traceback (else its last line)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    return (errors or lines or ["?"])[-1]


def _median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _fmt_load(value):
    return "n/a" if value is None else f"{value:.2f}"


def _versions() -> str:
    import numba
    import numpy
    import threadpoolctl

    blas = [f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer')})"
            for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
    return (f"Python {platform.python_version()}, NumPy {numpy.__version__} "
            f"(BLAS: {', '.join(blas) or 'unknown'}), Numba {numba.__version__}, "
            f"{os.cpu_count()} logical CPUs")


def measure(rounds: int, max_foreign: float, wait_budget: float, budget: float,
            log=sys.stderr) -> dict:
    """Run every configuration ``rounds`` times, interleaved; returns the raw results.

    Before each child, wait (at most 10 s, ``wait_budget`` s in all) for a
    second during which other processes are quiet.  Once ``budget`` seconds
    have passed, neither wait nor retry disturbed epochs any more: just
    finish the rounds.
    """
    runs = {key: [] for key, *_ in CONFIGS}
    skipped: dict[str, str] = {}  # optional configuration -> why its child failed
    gemm = []
    waited = 0.0
    started = time.perf_counter()

    def in_budget():
        return time.perf_counter() - started < budget

    def settle():
        nonlocal waited
        if waited < wait_budget and in_budget():
            waited += wait_for_calm(max_foreign, min(10.0, wait_budget - waited))
    for r in range(rounds):
        shift = r % len(CONFIGS)
        for key, label, extra_env, n_threads, batch_size in CONFIGS[shift:] + CONFIGS[:shift]:
            if key in SLOW and r > 0:
                continue
            if key in skipped:
                continue
            max_epochs = 1 if key in SLOW or not in_budget() else RETRIES + 1
            settle()
            try:
                result = run_config(extra_env, n_threads, batch_size, max_epochs, max_foreign)
            except RuntimeError as error:
                if key not in OPTIONAL:
                    raise
                skipped[key] = _error_line(str(error))
                print(f"  {key}: not run ({skipped[key]})", file=log, flush=True)
                continue
            runs[key].append(result)
            timed = ", ".join(f"{t:.3f} s ({_fmt_load(f)})"
                              for t, f in zip(result["times"], result["foreign"]))
            print(f"  round {r + 1}/{rounds} {key:3s} {label:50s} batch {batch_size:4d}: "
                  f"{timed} (warm-up {result['warmup']:.2f} s)", file=log, flush=True)
        settle()
        gemm.append(run_child(["--gemm"], {}))
        print(f"  round {r + 1}/{rounds} NumPy GEMMs only: OpenBLAS 2 threads "
              f"{gemm[-1]['2']:.3f} s, 1 thread {gemm[-1]['1']:.3f} s, other processes "
              f"{_fmt_load(gemm[-1]['foreign'])} cores", file=log, flush=True)
    return {"runs": runs, "gemm": gemm, "waited": waited, "skipped": skipped}


def summarise(runs: dict, max_foreign: float) -> dict:
    """Per configuration: all timed epochs, the undisturbed ones, and the median used."""
    summary = {}
    for key, results in runs.items():
        if not results:  # an optional configuration that could not run
            continue
        epochs = [(t, f) for result in results for t, f in zip(result["times"], result["foreign"])]
        calm = [t for t, f in epochs if f is None or f <= max_foreign]
        disturbed = [t for t, f in epochs if f is not None and f > max_foreign]
        used = calm or [t for t, _ in epochs]
        summary[key] = {"epochs": epochs, "n_calm": len(calm), "median": _median(used),
                        "all_disturbed": not calm, "disturbed": disturbed}
    return summary


def report(measured: dict, rounds: int, argv_text: str, max_foreign: float,
           seconds_total: float, note: str = "") -> str:
    runs, gemm = measured["runs"], measured["gemm"]
    fastnn_file = runs["a"][0].get("fastnn", "?")
    summary = summarise(runs, max_foreign)
    reference = {128: summary["a"]["median"], 512: summary["e1"]["median"]}
    lines = [
        "# fastnn threading: seconds per training epoch",
        "",
        f"Measured by `{argv_text}` on {time.strftime('%Y-%m-%d')}: {_versions()}; "
        f"fastnn imported from `{fastnn_file}`{'; ' + note if note else ''}.",
        "",
        "784-256-128-10 ReLU/softmax network, float32, synthetic 20,000 x 784 data; one epoch "
        "= `fastnn.train(..., epochs=1)` with plain SGD. Every timed epoch comes "
        "from a fresh process (environment set before it starts) after one warm-up epoch; "
        f"the configurations ran in {rounds} interleaved round(s), OMP_WAIT_POLICY=ACTIVE in "
        "the first only; a process whose timed epoch was disturbed (other processes kept more "
        f"than {max_foreign:g} cores busy meanwhile) timed up to {RETRIES} more. "
        "**s/epoch** = median of the calm timed epochs (of all of them, marked *, if none was "
        "calm); **ratio** = s/epoch / the fastnn default's s/epoch at the same "
        "batch size (row a for 128, e1 for 512): above 1 is slower than the default. "
        "**disturbed epochs** = median of the others: how the configuration copes when "
        "other processes take a core (-: none was disturbed).",
        "",
        "| | config | batch | s/epoch | ratio to default | timed epochs: calm/all (min-max s) "
        "| disturbed epochs: median s | threading layer (fastnn.threading_info) | n_threads "
        "| OMP_WAIT_POLICY |",
        "|---|---|---:|---:|---:|---|---:|---|---:|---|",
    ]
    skipped = measured.get("skipped", {})
    for key, label, _, _, batch_size in CONFIGS:
        if key in skipped:
            lines.append(f"| {key} | {label} | {batch_size} | - | - | not run: {skipped[key]} "
                         "| - | - | - | - |")
            continue
        s = summary[key]
        info = runs[key][0]["info"]
        times = [t for t, _ in s["epochs"]]
        star = "*" if s["all_disturbed"] else ""
        disturbed = f"{_median(s['disturbed']):.3f}" if s["disturbed"] else "-"
        lines.append(f"| {key} | {label} | {batch_size} | {s['median']:.3f}{star} | "
                     f"{s['median'] / reference[batch_size]:.2f}{star} | "
                     f"{s['n_calm']}/{len(times)} ({min(times):.3f}-{max(times):.3f}) | "
                     f"{disturbed} | "
                     f"{info['threading_layer']} | {info['n_threads']} | "
                     f"{info['omp_wait_policy']} |")
    two = _median([g["2"] for g in gemm])
    one = _median([g["1"] for g in gemm])
    lines += [
        "",
        f"Second thread at batch 512, both counts fixed: e2 / e3 = "
        f"{summary['e2']['median'] / summary['e3']['median']:.2f}x (issue 4's target: 1.7x).",
        "",
        "Machine check in the same rounds: the epoch's matrix products alone (plain NumPy, "
        f"batch 128, best of 3 per round), OpenBLAS on 2 threads {two:.3f} s, on 1 thread "
        f"{one:.3f} s: 2 threads / 1 thread = {two / one:.2f} (per round: "
        + ", ".join(f"{g['2'] / g['1']:.2f} with other processes on "
                    f"{_fmt_load(g['foreign'])} cores" for g in gemm)
        + "). Below 1: the second core was worth having for large matrix products.",
        "",
        f"Whole run: {seconds_total:.0f} s, of which {measured['waited']:.0f} s waiting for "
        "other processes to quiet down before starting a child. Every timed epoch, in round order, as seconds "
        "(cores busy with other processes meanwhile):",
        "",
    ]
    for key, label, _, _, batch_size in CONFIGS:
        if key in skipped:
            continue
        epochs = ", ".join(f"{t:.3f} ({_fmt_load(f)})" for t, f in summary[key]["epochs"])
        warmups = ", ".join(f"{result['warmup']:.2f}" for result in runs[key])
        lines.append(f"- {key} (batch {batch_size}): {epochs}; warm-up epochs {warmups} s")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="Markdown file to write (default: bench/results/threads.md)")
    parser.add_argument("--quick", action="store_true",
                        help="one round instead of 3")
    parser.add_argument("--rounds", type=int, default=None,
                        help="number of interleaved rounds (default 3, 1 with --quick)")
    parser.add_argument("--max-foreign", type=float, default=0.15,
                        help="an epoch during which other processes kept more cores than this "
                             "busy is left out of the median when calmer ones exist (0.15)")
    parser.add_argument("--wait-budget", type=float, default=60.0,
                        help="seconds in all the parent may wait for other processes to "
                             "quiet down before starting a child (60)")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="seconds after which the parent stops waiting and retrying and "
                             "only finishes the rounds (150)")
    parser.add_argument("--note", default="",
                        help="a remark for the report's header (e.g. which commit of fastnn)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gemm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=RETRIES + 1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.batch_size, args.threads, args.epochs, args.max_foreign)))
        return 0
    if args.gemm:
        print(json.dumps(gemm_child()))
        return 0

    rounds = args.rounds or (1 if args.quick else 3)
    argv_text = " ".join(["python bench/threads.py", *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    measured = measure(rounds, args.max_foreign, args.wait_budget, args.budget)
    text = report(measured, rounds, argv_text, args.max_foreign, time.perf_counter() - started,
                  args.note)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
