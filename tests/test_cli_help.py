"""Every command's --help shows its options' words as written: Typer renders help as Rich markup,
where ``[space]`` or ``[default: all]`` read as style tags and vanished ("Study file (TOML)
without ." in ``hpbench train --help``). No Ray."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from hpbench.cli import app

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _bracketed(help_text: str) -> list[str]:
    """The opening words of the help's bracketed terms, as a reader should see them: "[space]", "[default:"."""
    return [f"[{m.group(1)}" for m in re.finditer(r"\\?\[([a-z]+(?:\]|:))", help_text)]


def test_the_commands_have_bracketed_help_to_check():
    group = typer.main.get_command(app)
    found = [t for name in COMMANDS for p in group.commands[name].params for t in _bracketed(getattr(p, "help", None) or "")]  # type: ignore[attr-defined]
    assert "[space]" in found and "[default:" in found and "[study]" in found


@pytest.mark.parametrize("name", COMMANDS)
def test_help_keeps_bracketed_words(name):
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "240", "NO_COLOR": "1"}, terminal_width=240)
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    for p in command.params:
        for term in _bracketed(getattr(p, "help", None) or ""):
            assert term in shown, f"{name} --help lost {term!r} of {p.name}'s help: {p.help!r}"
