"""The ``fastnn`` command itself (fastnn/__main__.py): its help and its exits."""

import subprocess
import sys

import numpy as np
import pytest

from fastnn.__main__ import main


def test_help_names_every_subcommand_in_its_description(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    # the text between the usage line (which lists the choices anyway) and the arguments
    description = out.split("\n\n")[1]
    for command in ("digits", "demo", "train", "predict", "profile", "bench"):
        assert command in description, command


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(tmp_path):
    """``fastnn predict model data | head`` printed "fastnn predict: error: [Errno 32]
    Broken pipe": a reader that has what it wants is not a failure of the command."""
    import fastnn

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 2))  # more predictions than a pipe's buffer holds
    y = (X[:, 0] > 0).astype(int)
    fastnn.save(fastnn.Perceptron(random_state=0).fit(X[:100], y[:100]), tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", X)
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "predict", str(tmp_path / "m.npz"),
                             str(tmp_path / "X.npy")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"prediction"
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    proc.stderr.close()
    assert "error" not in err and "Exception" not in err, err


def test_digits_help_gives_every_option_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["digits", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for default in ("default: 30", "default: 32", "default: relu", "default: 0.05",
                    "default: float32", "default: 0)"):
        assert default in out, default


@pytest.mark.parametrize("argv, expected", [
    (["train", "d.csv", "--validation-split"], "a fraction in [0, 1)"),
    (["digits", "--lr"], "a positive finite number"),
    (["bench", "--max-foreign"], "a finite number of cores >= 0"),
])
@pytest.mark.parametrize("text", ["x", "nan", "inf", "-1"])
def test_number_options_name_their_rule_in_a_usage_error(argv, expected, text, capsys):
    """The three argparse number types (one factory, cli.float_in) keep each option's rule."""
    with pytest.raises(SystemExit) as exc:
        main([*argv, text])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(f"fastnn {argv[0]}: error: argument {argv[-1]}: expected {expected}, "
                        f"got {text!r}\n")


@pytest.mark.parametrize("argv, value", [
    (["train", "d.csv", "--validation-split", "0"], 0.0),
    (["digits", "--lr", "1e-3"], 1e-3),
    (["bench", "--max-foreign", "0"], 0.0),
])
def test_number_options_take_the_ends_of_their_range(argv, value, monkeypatch):
    from fastnn import __main__, benchmark, cli

    seen = {}
    for module, name in ((cli, "train"), (__main__, "_digits"), (benchmark, "command")):
        monkeypatch.setattr(module, name, lambda args: seen.update(vars(args)) or 0)
    assert main(argv) == 0
    option = argv[-2].lstrip("-").replace("-", "_")
    assert seen[option] == value
