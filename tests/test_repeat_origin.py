"""``hpbench best --trial <repeat>`` and its ``--study-out`` header say whether the repeat trained
fused (``fused_members``, :mod:`hpbench.api.repeat_origin`): a fused member equals its seed's run
alone only to float rounding, which training amplifies (bug hunt s52/h3: a transformer's fused
repeat was 2-4 points of val_accuracy off its exported study's ``hpbench train`` by epoch 3), while
an unfused repeat retrains exactly. The header said "the repeat's own" seed for both."""

from __future__ import annotations

import tomllib

import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from tests.helpers.report_tables import write_tiny

runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("fused_members", [None, 1, 3])
def test_best_of_a_repeat_says_whether_it_trained_fused(tmp_path, fused_members):
    results = write_tiny(tmp_path, fused_members=fused_members)
    written = tmp_path / "best.toml"
    r = runner.invoke(app, ["best", str(results), "--trial", "2", "--study-out", str(written)])
    assert r.exit_code == 0, r.output
    text = written.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "repeat 1 of trial 1: seed = 1" in header[0] and tomllib.loads(text)["study"]["seed"] == 1
    if fused_members == 3:  # trained fused: retraining it reproduces it to float rounding only
        assert len(header) == 2 and "trained fused (3 seeds as one stacked model" in header[1]
        assert "float rounding" in header[1] and "not exactly" in header[1]
    else:  # trained alone (NA, or a group of one): retrained exactly, nothing said of rounding
        assert len(header) == 1 and "fused" not in text
    shown = _flat(r.output)  # what `hpbench best` prints says the same
    assert "repeat 1 of trial 1: seed = 1, the repeat's own" in shown
    assert ("trained fused (3 seeds as one stacked model" in shown and "float rounding" in shown) == (fused_members == 3)
    assert ("fused" in shown) == (fused_members == 3)
    origin = hpbench.Results(results).repeat_origin(2)
    assert origin is not None and (origin.repeat, origin.of, origin.seed) == (1, 1, 1)
    assert origin.fused == (fused_members == 3)

def test_a_search_trial_has_no_repeat_origin(tmp_path):
    results = write_tiny(tmp_path, fused_members=2)
    r = runner.invoke(app, ["best", str(results), "--trial", "1"])
    assert r.exit_code == 0, r.output
    assert "repeat" not in r.output and "fused" not in r.output
    assert hpbench.Results(results).repeat_origin(1) is None
