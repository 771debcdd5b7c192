"""The README's Python examples, run as written so that they cannot rot.

Rule: every ```python block of README.md runs, in the README's order and in one
namespace (a user's session: a later block may use an earlier block's names), in a
scratch directory, except a block that names a network address (``://``: a Dask
cluster, S3), which needs a service the tests do not start. A block that reads a
data file gets a small one from ``_DATA_FILES`` below. Every block that runs is small
(the slowest trains digits for a second or two once the kernels are compiled).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _write_train_csv(path: Path) -> None:
    """The ``train.csv`` that the streaming example reads: features and a ``label``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    rows = [",".join(f"{v:.6f}" for v in x) + f",{c}" for x, c in zip(X, y)]
    path.write_text("a,b,c,d,label\n" + "\n".join(rows) + "\n")


_DATA_FILES = {"train.csv": _write_train_csv}


def _blocks() -> list[str]:
    return _BLOCK.findall(README.read_text())


def test_readme_has_python_blocks():
    """The rule above skips only what needs a network: the rest is most of them."""
    blocks = _blocks()
    assert len(blocks) >= 4
    assert sum("://" not in b for b in blocks) >= 4


def test_readme_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = "\n".join(_blocks())
    for name, write in _DATA_FILES.items():
        if name in text:
            write(tmp_path / name)
    namespace: dict = {"__name__": "__readme__"}
    ran = 0
    for i, block in enumerate(_blocks()):
        if "://" in block:
            continue
        with warnings.catch_warnings():
            # the examples train for the README's number of epochs: not converging is fine
            warnings.simplefilter("ignore")
            try:
                exec(compile(block, f"README.md python block {i}", "exec"), namespace)
            except Exception as exc:  # say which block broke, with its text
                pytest.fail(f"README python block {i} raised {exc!r}:\n{block}")
        ran += 1
    assert ran >= 4
    # what the Quickstart's comment promises
    assert "[0 1 1 0]" in capsys.readouterr().out


def test_readme_command_options_exist(capsys):
    """Every ``--option`` the README gives a ``fastnn`` subcommand (in a shell block or
    inline) is one that subcommand's ``--help`` lists: a renamed option cannot leave the
    README behind."""
    from fastnn.__main__ import main

    commands = re.findall(r"fastnn (digits|demo|train|predict|profile|bench)\b([^`\n]*)",
                          README.read_text())
    assert len(commands) >= 8
    helps: dict[str, str] = {}
    for command, rest in commands:
        if command not in helps:
            with pytest.raises(SystemExit):
                main([command, "--help"])
            helps[command] = capsys.readouterr().out
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", rest):
            assert re.search(rf"{option}\b", helps[command]), f"fastnn {command} {option}"
