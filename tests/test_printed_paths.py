"""Paths and values are printed as they are, not read as Rich markup (bug hunt s51/h3 #2): a ``[v2]``
in a folder's name vanished from the report's header and from the ``hpbench train`` command
``best --study-out`` printed (which then failed), a ``[/b]`` raised MarkupError, after a whole
search had run. The commands printed to copy are quoted for a shell."""

from __future__ import annotations

import shlex
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.cli.search import results_line
from hpbench.console_text import literal, shell_command
from hpbench.report.data import load_report
from hpbench.report.sections import print_report
from tests.helpers.report_tables import _write, write_tiny

# a folder name Rich reads as a tag, one that closes a tag never opened, and spaces (one argument in a shell)
NAMES = ["res[v2]", "brk[/b]", "my res [v2]"]
runner = CliRunner()


def _results(tmp_path: Path, name: str) -> Path:
    parent, _, leaf = name.rpartition("/")  # "brk[/b]": a folder "brk[" holding "b]"
    return write_tiny(tmp_path / parent if parent else tmp_path, leaf)


def _printed(renderable: str, **kwargs: object) -> str:
    con = Console(file=StringIO(), width=300, emoji=False)
    con.print(renderable, highlight=False, soft_wrap=True, **kwargs)
    return con.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", NAMES)
def test_the_report_header_shows_the_path_as_it_is(tmp_path, name):
    out = _results(tmp_path, name)
    con = Console(file=StringIO(), width=300, emoji=False)
    print_report(con, load_report(out), sections=["leaderboard"])
    header = con.file.getvalue().splitlines()[0]
    assert header == f"tiny: 2 trials, val_accuracy (max), {out}"


def test_the_data_line_shows_a_data_file_in_a_bracketed_folder(tmp_path):
    out = _results(tmp_path, "res[v2]")
    data = load_report(out)
    data = type(data)(**{**data.__dict__, "data": {"dataset": "/d/[v2]/x[/b].csv", "kind": "tabular", "input_shape": [4], "n": 10}})
    con = Console(file=StringIO(), width=300, emoji=False)
    print_report(con, data, sections=["leaderboard"])
    assert con.file.getvalue().splitlines()[1].startswith("data: /d/[v2]/x[/b].csv: tabular 4, 10 rows")


@pytest.mark.parametrize("name", NAMES)
def test_the_search_s_last_line_names_the_results_and_a_command_that_runs(tmp_path, name):
    path = tmp_path / name
    line = _printed(results_line(path)).strip()
    assert line.startswith(f"results: {path}  (")
    command = line[line.index("(") + 1: line.index(";")]
    assert shlex.split(command) == ["hpbench", "report", str(path)]  # pasted into a shell: one argument
    assert f"hpbench.load({str(path)!r})" in line


def test_helpers_escape_and_quote():
    assert _printed(literal("a[/b]c [v2]")).strip() == "a[/b]c [v2]"
    assert _printed(shell_command("hpbench", "train", "my dir/best[v2].toml")).strip() == "hpbench train 'my dir/best[v2].toml'"


@pytest.mark.parametrize("name", NAMES)
def test_report_cli_prints_the_path_and_does_not_crash(tmp_path, name):
    out = _results(tmp_path, name)
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert f"tiny: 2 trials, val_accuracy (max), {out}" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("name", NAMES)
def test_best_study_out_prints_the_file_written_and_a_train_command_that_finds_it(tmp_path, name):
    out = _results(tmp_path, name)
    target = tmp_path / f"best {name.replace('/', '_')}.toml"
    r = runner.invoke(app, ["best", str(out), "--study-out", str(target)], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert target.is_file()
    line = next(ln for ln in r.output.splitlines() if ln.startswith("study: "))
    assert line.startswith(f"study: {target}  (")
    command = shlex.split(line[line.index("(") + 1: line.rindex(")")])
    assert command == ["hpbench", "train", str(target)] and Path(command[2]).is_file()


def test_string_values_are_shown_as_they_are_in_every_section(tmp_path):
    """A searched choice (a user model's own parameter) whose text Rich would read as markup."""
    record = {"name": "v", "settings": {"metric": "val_loss", "mode": "min"}, "space": {"model.tag": "choice ['[v2]', 'x[/b]']"},
              "config": {"train": {"max_epochs": 2}}}
    rows = [{"trial": i, "trial_id": f"v{i}", "status": "finished", "stop_reason": "completed", "model.tag": tag, "epochs": 2,
             "best_epoch": 2, "best_val_loss": loss, "val_loss": loss, "train_s": 1.0}
            for i, (tag, loss) in enumerate([("[v2]", 0.5), ("x[/b]", 0.4), ("[v2]", 0.45)])]
    out = _write(tmp_path / "r", record, rows, [])
    r = runner.invoke(app, ["report", str(out)], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert "model.tag=x[/b]" in r.output and "model.tag=[v2]" in r.output  # the leaderboard
    assert any(ln.split("│")[2].strip() == "x[/b]" for ln in r.output.splitlines() if ln.count("│") > 3 and "x[/b]" in ln)  # what matters
    r = runner.invoke(app, ["best", str(out)], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and "x[/b]" in r.output, r.output
