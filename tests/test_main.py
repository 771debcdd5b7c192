"""The ``fastnn`` command itself (fastnn/__main__.py): its help and its exits."""

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
