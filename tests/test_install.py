"""Packaging: kernels install only as fastnn.kernels, and a read-only install imports and runs."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RUN_FROM_READ_ONLY = """
import sys, numpy as np, numba
import fastnn
assert fastnn.__file__.startswith(sys.argv[1]), fastnn.__file__
net = fastnn.Network([3, 4, 2], dtype=np.float64, random_state=0)
print(net.forward(np.ones((2, 3))).sum(), numba.config.CACHE_DIR)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w",
                    str(out)], check=True, timeout=600)
    return next(out.glob("fastnn-*.whl"))


def test_wheel_has_no_top_level_kernels(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert "kernels" not in top_level
    assert {"fastnn/kernels/__init__.py", "fastnn/kernels/dense.py"} <= set(names)
    assert any(name.endswith("entry_points.txt") for name in names)


def test_read_only_install_imports_and_runs(wheel, tmp_path):
    """No writable package dir and no writable home: Numba's cache moves to a temp dir."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, timeout=600)
    env = {key: value for key, value in os.environ.items()
           if key not in {"NUMBA_CACHE_DIR", "XDG_CACHE_HOME"}}
    env.update(HOME=str(target), PYTHONPATH=str(target))
    command = [sys.executable, "-c", RUN_FROM_READ_ONLY, str(target)]
    if os.geteuid() == 0:  # root ignores file modes: use a read-only bind mount instead
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare: cannot make the install read-only")
        script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
                  'touch "$0/probe" 2>/dev/null && exit 97; exec "$@"')
        command = ["unshare", "-m", "sh", "-c", script, str(target)] + command
    else:
        for path in [target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                            cwd=tmp_path)  # not the repository: its fastnn/ would shadow
    if result.returncode == 97:
        pytest.fail("the install directory was still writable")
    if "Operation not permitted" in result.stderr or "unshare failed" in result.stderr:
        pytest.skip(f"cannot create a mount namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    total, cache_dir = result.stdout.split()
    assert float(total) == pytest.approx(2.0)  # two rows of softmax probabilities
    assert "fastnn-numba-cache" in cache_dir
