"""A study's own earlier runs move its estimate's search part toward what they measured
(hpbench.cost.own_runs); other studies' runs and an edited study's do not."""

from __future__ import annotations

import math

import pytest

from hpbench.cost import history, learned
from hpbench.cost.figures import Figures
from hpbench.cost.own_runs import MODEL_RUNS, SCALE_BOUNDS, span_scale, toward_runs
from hpbench.cost.walltime import SearchPlan, TrialPlan, predict

REL = 1e-5


def test_toward_runs_is_the_geometric_mean_with_the_price_as_one_run():
    assert MODEL_RUNS == 1.0
    assert toward_runs(50.0, [30.0]) == pytest.approx(math.sqrt(50.0 * 30.0), rel=REL)
    assert toward_runs(50.0, [30.0, 30.0, 30.0]) == pytest.approx(math.exp((3 * math.log(30.0) + math.log(50.0)) / 4), rel=REL)
    assert toward_runs(50.0, [30.0], model_runs=0.0) == pytest.approx(30.0, rel=REL)
    assert toward_runs(50.0, []) == 50.0 and toward_runs(50.0, [0.0, -1.0]) == 50.0  # nothing measured: the price


def test_the_span_is_moved_within_bounds():
    assert span_scale(span_s=12.0, measured=[3.0]) * 12.0 == pytest.approx(6.0, rel=REL)  # sqrt(12 * 3)
    assert span_scale(span_s=12.0, measured=[]) == 1.0 and span_scale(span_s=0.0, measured=[3.0]) == 1.0
    assert span_scale(span_s=12.0, measured=[1e-3]) == SCALE_BOUNDS[0]
    assert span_scale(span_s=12.0, measured=[1e6]) == SCALE_BOUNDS[1]


def _record(key: str | None, search_s: float, *, command: bool = True, contention: float = 1.0, study: str = "s") -> dict:
    r = {"study": study, "command": command, "search_s": search_s, "contention": contention}
    return {**r, "study_key": key} if key is not None else r


def test_the_figures_read_the_same_studys_last_runs_over_their_contention():
    records = [_record("k", 9.0), _record("k", 10.0), _record("k", 20.0, contention=2.0), _record("k", 11.0),
               _record("other", 99.0), _record(None, 99.0), _record("k", 99.0, command=False), _record("k", 0.0)]
    figs = learned.figures(records, study="s", study_key="k")
    assert figs.study_search_s == pytest.approx((10.0, 10.0, 11.0), rel=REL)  # the last 3, the loaded one at its contention
    assert figs.source("study_search_s") == "3 earlier runs of this study"
    assert learned.figures(records, study="s").study_search_s == ()  # no key: none (the live ETA's figures)
    assert learned.figures(records, study="s", study_key="edited").study_search_s == ()


def _plan(n: int = 8) -> SearchPlan:
    return SearchPlan(trials=[TrialPlan(epoch_s=0.5, max_epochs=4) for _ in range(n)], concurrency=2)


def test_the_estimate_moves_its_span_toward_the_studys_runs_and_says_by_how_much():
    figs = Figures()
    tail = figs.at("tail_s", 1.0)
    model = predict(_plan(), figures=figs)
    assert model.span_scale == 1.0 and model.model_span_s is None
    span = model.trials_s + model.turnover_s - tail
    ran = 0.5 * span  # the study's two runs took half the model's price
    moved = predict(_plan(), figures=Figures(study_search_s=(ran, ran)))
    assert moved.model_span_s == pytest.approx(span, rel=REL)
    assert moved.trials_s + moved.turnover_s - tail == pytest.approx(toward_runs(span, [ran, ran]), rel=REL)
    assert moved.span_scale == pytest.approx(toward_runs(span, [ran, ran]) / span, rel=REL) and moved.span_scale < 1.0
    assert moved.trials_s == pytest.approx(model.trials_s * moved.span_scale, rel=REL)  # both parts in proportion
    assert moved.turnover_s - tail == pytest.approx((model.turnover_s - tail) * moved.span_scale, rel=REL)
    assert moved.startup_s == model.startup_s and moved.exit_s == model.exit_s  # the rest is the machine's
    assert moved.low_s < model.low_s and moved.high_s < model.high_s and moved.low_s <= moved.total_s <= moved.high_s
    # measured at contention 1 and priced at 2: the runs count at 2
    loaded = predict(_plan(), figures=Figures(study_search_s=(ran, ran)), contention=2.0)
    at2 = predict(_plan(), figures=figs, contention=2.0)
    span2 = at2.trials_s + at2.turnover_s - figs.at("tail_s", 2.0)
    assert loaded.trials_s + loaded.turnover_s - figs.at("tail_s", 2.0) == pytest.approx(toward_runs(span2, [2 * ran, 2 * ran]), rel=REL)


def test_an_estimate_reads_its_own_studys_runs_from_the_history_and_shows_them(write_study, tmp_path, monkeypatch):
    from conftest import TINY_STUDY
    from rich.console import Console

    from hpbench.api.estimate import study_estimate
    from hpbench.cost import clock
    from hpbench.report.cost import summary_table
    from hpbench.study.parse import load_study
    from tests.helpers.devices import device_cache

    # the machine's load of the moment prices both estimates alike (a busier first probe read 0.52 s
    # of trials against 0.30 s for the second with its x4 span, in a parallel test run: not the rule)
    monkeypatch.setattr(clock, "probe_contention", lambda seconds: 1.0)
    device_cache(tmp_path, 1_000.0)  # this machine's model, cached (a hypothetical --device-flops device reads no runs)
    study = load_study(write_study(TINY_STUDY))
    first = study_estimate(study, preflight=False, cache_dir=tmp_path).summary["wall_time"]
    assert first["span_scale"] == 1.0 and first["model_span_s"] is None
    span = first["parts"]["trials_s"] + first["parts"]["turnover_s"]
    history.append(tmp_path, {**_record(study.fingerprint(), 4.0 * span, study="tiny"), "schema": history.SCHEMA, "run_id": "a"})
    edited = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 5"), name="edited.toml"))
    assert edited.fingerprint() != study.fingerprint() and load_study(write_study(TINY_STUDY)).fingerprint() == study.fingerprint()
    assert study_estimate(edited, preflight=False, cache_dir=tmp_path).summary["wall_time"]["model_span_s"] is None
    again = study_estimate(study, preflight=False, cache_dir=tmp_path).summary
    w = again["wall_time"]
    assert w["span_scale"] > 1.0 and w["parts"]["trials_s"] > first["parts"]["trials_s"]
    assert w["sources"]["study_search_s"] == "1 earlier run of this study"
    console = Console(width=200, record=True)
    console.print(summary_table(again))
    assert f"x{w['span_scale']:.2f} toward the spans of 1 earlier run of this study" in console.export_text()
