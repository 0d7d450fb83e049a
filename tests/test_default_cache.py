"""The default cache folder (``$XDG_CACHE_HOME/hpbench/devices``) that cannot be one is refused
before any work, as ``--cache-dir`` is; a search's helper builds a trial predictor that failed once
(bug hunt s50/h8, finding 2: ``hpbench devices`` calibrated for two minutes, then failed writing
the model; a search calibrated again and again, once per trial's prediction)."""

from __future__ import annotations

import pytest
from conftest import TINY_STUDY
from typer.testing import CliRunner

from hpbench.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["estimate", "STUDY"], ["devices", "--no-probe"], ["search", "STUDY", "--out", "OUT"]])
def test_an_unwritable_default_cache_is_refused_before_any_work(write_study, tmp_path, monkeypatch, command):
    import hpbench.cost.calibrate as calibrate
    import hpbench.preflight.run as preflight_run

    monkeypatch.setattr(calibrate, "device_model", lambda *a, **k: pytest.fail("calibrated"))
    monkeypatch.setattr(preflight_run, "start", lambda *a, **k: pytest.fail("pre-flight started"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    study, out = write_study(TINY_STUDY), tmp_path / "out"
    args = [str(study) if a == "STUDY" else str(out) if a == "OUT" else a for a in command]
    r = runner.invoke(app, args, env={"COLUMNS": "300"})
    flat = " ".join(r.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
    assert r.exit_code == 2, r.output
    assert f"the cache folder {blocker / 'hpbench' / 'devices'}: {blocker} is not a directory" in flat, flat
    assert "set XDG_CACHE_HOME to a writable folder" in flat
    assert ("--cache-dir" in flat) == (command[0] != "search")  # the search has no such flag
    assert not out.exists()


def test_a_trial_predictor_that_failed_is_not_built_again(write_study, monkeypatch):
    """Its calibration (minutes) ran again for each trial: the failure is kept, and each trial says why."""
    import hpbench.cost.predictor as predictor
    from hpbench.dispatch import predictions
    from hpbench.study.parse import load_study

    calls: list[str | None] = []

    def failing(study, *, device):
        calls.append(device)
        raise NotADirectoryError(20, "Not a directory", "/x/hpbench/devices")

    monkeypatch.setattr(predictor, "trial_predictor", failing)
    monkeypatch.setattr(predictions, "_predictors", {})
    study = load_study(write_study(TINY_STUDY))
    notes = [predictions.predict_columns(study, {"lr": 0.01}, None) for _ in range(3)]
    assert calls == [None]
    assert all("Not a directory" in n["cost_note"] for n in notes)
