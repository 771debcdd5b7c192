"""Worker processes of the side-by-side benchmark (:mod:`fastnn.benchmark`), and the load
other processes put on the machine while they run.

Each peer runs in a worker process of its own (see :func:`worker_main`); the
parent talks to it through a :class:`Worker` and watches the machine through
:class:`Load`.  A peer's worker loads this module outside the fastnn package
(``_BOOTSTRAP``), so it must import nothing of fastnn but its siblings here.
"""
from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path

PEERS = ("fastnn", "numpy", "torch", "sklearn", "jax")
PEER_NAMES = {"fastnn": "fastnn", "numpy": "NumPy", "torch": "PyTorch",
              "sklearn": "scikit-learn", "jax": "JAX"}
_PEER_MODULES = {"fastnn": "fastnn", "numpy": "numpy", "torch": "torch", "sklearn": "sklearn",
                 "jax": "jax"}


#: What a worker that died or hung raises in the parent.
WORKER_FAILURES = (OSError, EOFError, RuntimeError, TimeoutError, pickle.UnpicklingError)


# ---------------------------------------------------------------- worker processes


class Host:
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
                    rows.append({"label": cls.label, "samples": 0, "error": error_text(exc)})
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
                return {"seconds": None, "error": error_text(exc)}
        if op == "extras":
            _, wid, index = message
            try:
                return self.built[wid][index].extras()
            except Exception as exc:
                return {"error": error_text(exc)}
        if op == "drop":
            self.built.pop(message[1], None)
            return None
        raise ValueError(f"unknown message {op!r}")


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _peer_info(peer: str) -> dict:
    """Version and threads of a peer, or why it is unavailable."""
    try:
        module = __import__(_PEER_MODULES[peer])
    except Exception as exc:
        return {"available": False, "reason": error_text(exc)}
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


def worker_main() -> None:
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
    host = Host(peer)
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
            reply = {"error": error_text(exc), "traceback": traceback.format_exc()}
        pickle.dump(reply, replies)
        replies.flush()


_BOOTSTRAP = ("import sys, types; package = types.ModuleType('_fastnn_bench'); "
              "package.__path__ = [sys.argv[2]]; sys.modules['_fastnn_bench'] = package; "
              "from _fastnn_bench._benchmark_host import worker_main; worker_main()")


class Worker:
    """A peer's worker process, or (``inline``) a host in this process."""

    def __init__(self, peer: str, inline: bool):
        self.peer = peer
        if inline:
            self.host, self.process, self.pid = Host(peer), None, os.getpid()
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


def _blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
                return f"{pool['internal_api']} {pool['version']} ({pool['num_threads']} threads)"
    except Exception:
        pass
    return "unknown BLAS"


# ----------------------------------------------------------- machine load tracking


class Load:
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


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
