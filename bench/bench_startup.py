"""What a user waits for in a fresh process: ``import fastnn`` and the first fit step.

``timeraw_*`` benchmarks return code that asv times in a new interpreter.
Two Numba cache states:

* ``warm``: the default cache (next to the installed kernels, or fastnn's
  fallback directory); ``setup()`` runs the code once in a subprocess first,
  so the compiled kernels are on disk and are only loaded;
* ``cold``: the untimed set-up part of the code points ``NUMBA_CACHE_DIR`` at
  a fresh empty temporary directory before ``fastnn`` (hence Numba) is
  imported, so every kernel the first step needs is compiled.
"""
import subprocess
import sys
import textwrap

CACHE_STATES = ["warm", "cold"]

_COLD_SETUP = """
import atexit, os, shutil, tempfile
_cache_dir = tempfile.mkdtemp(prefix="fastnn-cold-numba-cache-")
atexit.register(shutil.rmtree, _cache_dir, True)
os.environ["NUMBA_CACHE_DIR"] = _cache_dir
"""

_IMPORT = "import fastnn\n"

# The first training step of a small network: 64 x 20 float32 inputs,
# 20-16-3 ReLU/softmax, a shuffled batch of 32 gathered by index (the
# training path: gather_rows, dense_forward, loss_forward_backward,
# dense_backward).
_FIRST_STEP = """
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((64, 20), dtype=np.float32)
Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
net = fastnn.Network([20, 16, 3], "relu", "softmax", dtype=np.float32, random_state=0)
loss, grads = net.loss_and_gradient(X, Y, indices=rng.permutation(64)[:32])
assert np.isfinite(loss)
"""

# The start-up target: import plus the first fit of a small network.
# Through the Network API (train(): shuffled mini-batches, SGD) and through
# the scikit-learn estimator (which also imports scikit-learn; Adam).
_FIRST_TRAIN = """
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((64, 20), dtype=np.float32)
Y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
net = fastnn.Network([20, 16, 3], "relu", "softmax", dtype=np.float32, random_state=0)
losses = fastnn.train(net, X, Y, epochs=2, batch_size=32, random_state=0)
assert np.isfinite(losses[-1])
"""

_FIRST_ESTIMATOR_FIT = """
import numpy as np
import fastnn
rng = np.random.default_rng(0)
X = rng.random((64, 20))
y = rng.integers(0, 3, 64)
fastnn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=2, random_state=0).fit(X, y)
"""


def _code(stmt, cache):
    return (stmt, _COLD_SETUP) if cache == "cold" else (stmt, "")


def _warm_up(stmt):
    """Run ``stmt`` in a fresh interpreter so the default Numba cache is populated."""
    subprocess.run([sys.executable, "-c", textwrap.dedent(stmt)], check=True,
                   stdout=subprocess.DEVNULL)


class Startup:
    params = [CACHE_STATES]
    param_names = ["numba_cache"]
    # Each sample is a new process (a cold one compiles for seconds): a few
    # samples, no warm-up round.
    repeat = (3, 5, 60.0)
    warmup_time = 0.0
    timeout = 300

    def setup(self, cache):
        if cache == "warm":
            for stmt in (_FIRST_STEP, _FIRST_TRAIN, _FIRST_ESTIMATOR_FIT):
                _warm_up(stmt)

    def timeraw_import(self, cache):
        return _code(_IMPORT, cache)

    def timeraw_first_loss_and_gradient(self, cache):
        return _code(_FIRST_STEP, cache)

    def timeraw_first_train(self, cache):
        return _code(_FIRST_TRAIN, cache)

    def timeraw_first_estimator_fit(self, cache):
        return _code(_FIRST_ESTIMATOR_FIT, cache)
