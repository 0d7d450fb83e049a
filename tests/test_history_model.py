"""Each history record names the device model its predictions came from; the figures read as a
ratio to a prediction (the speed ratio, the first epoch's extra) come from the current model's
records only (hpbench.cost.history), falling back to the prior."""

from __future__ import annotations

import json

import pytest

from hpbench.cost import history
from hpbench.cost.figures import Figures
from tests.helpers.devices import device_cache

REL = 1e-5
OLD = history.ModelTag(schema=6, measured_at=1_000.0)
NEW = history.tag_of(2_000.0)  # this version's schema: a cached model of it is one model_tag reads


def _rec(model: history.ModelTag | None, *, speed: float, startup_s: float, started_at: float, study: str = "s") -> dict:
    r = {"schema": history.SCHEMA, "study": study, "command": True, "ray_started": True, "contention": 1.0, "speed": speed,
         "first_epoch_s": speed / 10, "startup_s": startup_s, "started_at": started_at, "at": started_at + 30.0}
    if model is not None:
        r["model"] = model.to_dict()
    return r


def test_speed_figures_read_only_the_current_models_records():
    """Two models in one history: against the old model the trials ran 2x their predictions,
    against the new one 0.5x; each model's figures are its own records', the start-up (seconds,
    not a ratio) every record's."""
    records = [_rec(OLD, speed=2.0, startup_s=4.0, started_at=1_100.0 + i) for i in range(3)]
    records += [_rec(NEW, speed=0.5, startup_s=8.0, started_at=2_100.0 + i) for i in range(2)]
    new = history.figures(records, study="s", model=NEW)
    old = history.figures(records, study="s", model=OLD)
    assert new.speed == pytest.approx(0.5, rel=REL) and old.speed == pytest.approx(2.0, rel=REL)
    assert new.first_epoch_s == pytest.approx(0.05, rel=REL) and old.first_epoch_s == pytest.approx(0.2, rel=REL)
    assert new.startup_s == old.startup_s == pytest.approx(4.0, rel=REL)  # the median of 4, 4, 4, 8, 8
    assert history.figures(records, study="other", model=NEW).speed == pytest.approx(0.5, rel=REL)  # every study's, this model's
    # a third model, never run: the prior for the ratios, the machine's seconds still measured
    third = history.figures(records, study="s", model=history.ModelTag(schema=7, measured_at=3_000.0))
    assert third.speed == Figures().speed and third.first_epoch_s == Figures().first_epoch_s and third.source("speed") == "prior"
    assert third.startup_s == pytest.approx(4.0, rel=REL)
    # a hypothetical device (measured_at 0) matches no record
    assert history.figures(records, study="s", model=history.tag_of(0.0)).speed == Figures().speed


def test_records_from_before_the_tag_count_for_the_model_calibrated_before_they_started():
    """A record without a model counts for the current model when its search started after that
    model was calibrated (none newer existed then), not when it started before: under the first
    counting rules, which were the only ones then."""
    first_old, first_new = (history.ModelTag(schema=6, measured_at=m, rules=1) for m in (1_000.0, 2_000.0))
    before = _rec(None, speed=3.0, startup_s=5.0, started_at=1_500.0)
    after = _rec(None, speed=0.8, startup_s=5.0, started_at=2_500.0)
    assert not first_new.measured(before) and first_new.measured(after) and first_old.measured(before)
    assert not first_new.measured(_rec(first_old, speed=1.0, startup_s=1.0, started_at=2_500.0))  # named another: never
    assert history.figures([before, after], study="s", model=first_new).speed == pytest.approx(0.8, rel=REL)
    assert not NEW.measured(after)  # counted by other rules than today's


def test_records_priced_under_other_counting_rules_are_not_this_models(tmp_path):
    """The same calibration, other counting rules: its records' speeds were ratios to other prices
    (hpbench.cost.ops.COUNT_RULES), so they are re-priced, not read."""
    from hpbench.cost.ops import COUNT_RULES

    assert NEW.rules == COUNT_RULES and NEW.to_dict()["rules"] == COUNT_RULES
    earlier = history.ModelTag(schema=NEW.schema, measured_at=NEW.measured_at, rules=COUNT_RULES - 1)
    old_rules = _rec(earlier, speed=0.5, startup_s=5.0, started_at=2_500.0)
    unnamed = dict(_rec(NEW, speed=0.5, startup_s=5.0, started_at=2_500.0), model={"schema": NEW.schema, "measured_at": NEW.measured_at})
    assert earlier.measured(old_rules) and not NEW.measured(old_rules) and not NEW.measured(unnamed)
    assert NEW.measured(_rec(NEW, speed=0.5, startup_s=5.0, started_at=2_500.0))
    assert history.figures([old_rules], study="s", model=NEW).speed == Figures().speed  # the prior, until re-priced
    from hpbench.cost import prices, reprice

    reprice.save_cache(tmp_path, earlier, {"r": 2.0})  # speeds re-priced under the old rules are not today's
    assert reprice.load_cache(tmp_path, earlier) == {"r": 2.0} and reprice.load_cache(tmp_path, NEW) == {}
    prices.save(tmp_path, model=earlier, columns={"k": {"predicted_epoch_s": 1.0}})  # nor are prices
    assert prices.load(tmp_path, model=earlier) == {"k": {"predicted_epoch_s": 1.0}} and prices.load(tmp_path, model=NEW) == {}


def test_the_model_tag_is_read_from_the_device_cache_without_torch(tmp_path):
    assert history.model_tag(tmp_path, device="cpu", threads=1) is None
    device_cache(tmp_path, 2_000.0)
    assert history.model_tag(tmp_path, device="cpu", threads=1) == NEW
    assert history.model_tag(tmp_path, device="auto", threads=1) == NEW  # no CUDA model cached: the CPU's
    assert history.model_tag(tmp_path, device="cpu", threads=2) is None
    history.device_cache_file(tmp_path, "cpu", 2).write_text("not json")
    assert history.model_tag(tmp_path, device="cpu", threads=2) is None


def test_the_search_clock_reads_and_records_its_model(tmp_path, write_study):
    """The live ETA's figures come from the cached model's records, and its record names that model."""
    from conftest import TINY_STUDY

    from hpbench.dispatch import clock_record
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    device_cache(tmp_path, 2_000.0)
    records = [_rec(OLD, speed=2.0, startup_s=4.0, started_at=1_100.0 + i) for i in range(3)]
    records += [_rec(NEW, speed=0.5, startup_s=4.0, started_at=2_100.0 + i, study=study.name) for i in range(3)]
    for r in records:
        history.append(tmp_path, {**r, "nice": history.niceness(), "probe_nice": history.PROBE_NICE})
    sc = SearchClock(study=study, n_trials=4, history_dir=tmp_path)
    assert sc.model == NEW and sc.figures.speed == pytest.approx(0.5, rel=REL)
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    rec = clock_record.record(sc, store, out=tmp_path / "out")
    assert rec is not None and rec["model"] == {"schema": NEW.schema, "measured_at": 2_000.0, "rules": NEW.rules}
    assert history.load(tmp_path)[-1]["model"] == NEW.to_dict()


def test_the_final_tables_seconds_are_the_studys_own():
    """The final table loads and prints the study's results: its seconds are read from the same
    study's last 3 commands (2.0 here) when it has any, not the machine's last 10 (40 s: a
    benchmark's large tables just before); a new study reads the machine's; the exit stays the machine's."""
    big = [{**_rec(NEW, speed=1.0, startup_s=5.0, started_at=2_100.0 + i, study="big"), "report_s": 40.0, "exit_s": 1.0} for i in range(10)]
    mine = [{**_rec(NEW, speed=1.0, startup_s=5.0, started_at=2_000.0 + i), "report_s": s, "exit_s": 3.0} for i, s in enumerate((9.0, 2.0, 1.8, 2.2))]
    f = history.figures(mine + big, study="s", model=NEW)
    assert f.report_s == pytest.approx(2.0, rel=REL) and f.source("report_s") == "3 earlier runs of this study"
    assert f.exit_s == pytest.approx(1.0, rel=REL)
    assert history.figures(mine + big, study="new", model=NEW).report_s == pytest.approx(40.0, rel=REL)


def test_the_test_splits_seconds_are_the_studys_own():
    """The test split is the study's data and network: eta-repeats' 0.05-s split read the machine's
    last searches' (signals' 1.6 s); now the same study's last 3 (0.05 here), the machine's for a
    study that never measured one."""
    big = [{**_rec(NEW, speed=1.0, startup_s=5.0, started_at=2_100.0 + i, study="big"), "test_s": 1.6} for i in range(10)]
    mine = [{**_rec(NEW, speed=1.0, startup_s=5.0, started_at=2_000.0 + i), "test_s": s} for i, s in enumerate((2.0, 0.05, 0.04, 0.06))]
    f = history.figures(mine + big, study="s", model=NEW)
    assert f.test_s == pytest.approx(0.05, rel=REL) and f.source("test_s") == "3 earlier runs of this study"
    assert history.figures(mine + big, study="new", model=NEW).test_s == pytest.approx(1.6, rel=REL)


def test_a_figure_is_read_from_the_records_that_measure_it_over_their_contention():
    """``history.measured`` (what the figures and benchmarks/priors.py read): the start-up of the
    commands that started Ray with early trials only (not a solo search's, not a joined cluster's),
    each over its search's contention, oldest first; the figure is the median of the last 10."""
    recs = [{**_rec(NEW, speed=1.0, startup_s=float(10 + i), started_at=2_000.0 + i), "contention": 1.0 + (i == 0)} for i in range(12)]
    recs.append({**_rec(NEW, speed=1.0, startup_s=99.0, started_at=3_000.0), "early_trials": False})  # solo: startup_solo_s
    recs.append({**_rec(NEW, speed=1.0, startup_s=77.0, started_at=3_001.0), "ray_started": False})  # joined a cluster
    got = history.measured(recs, "startup_s")
    assert got == pytest.approx([5.0] + [float(10 + i) for i in range(1, 12)], rel=REL)
    assert history.measured(recs, "startup_solo_s") == pytest.approx([99.0], rel=REL)
    assert history.figures(recs).startup_s == pytest.approx(16.5, rel=REL)  # median of 12..21
    assert history.figures([]).startup_s == Figures().startup_s  # no history: the prior


def test_the_priors_benchmark_compares_each_prior_with_the_records_median():
    """benchmarks/priors.py: a derived prior (Ray's start: the start-up over STARTUP_PER_RAY) is
    shown as the ETA prices it, and a figure measured by fewer than 3 records has no median."""
    from benchmarks.priors import compare
    from hpbench.cost.figures import STARTUP_PER_RAY

    recs = [{**_rec(NEW, speed=1.0, startup_s=12.0, started_at=2_000.0 + i), "ray_s": 9.0, "exit_s": 1.0} for i in range(4)]
    rows = {r["figure"]: r for r in compare(recs, Figures(startup_s=10.0))}
    assert rows["startup_s"]["median"] == pytest.approx(12.0, rel=REL) and rows["startup_s"]["prior_error"] == pytest.approx(-1 / 6, rel=REL)
    assert rows["ray_s"]["prior"] == pytest.approx(10.0 / STARTUP_PER_RAY, rel=REL) and rows["ray_s"]["median"] == pytest.approx(9.0, rel=REL)
    assert rows["test_cold_s"]["n"] == 0 and rows["test_cold_s"]["median"] is None


def test_the_priors_are_the_stored_searches_medians():
    """The wall-time model's priors (hpbench.cost.figures) re-derived from the searches they were
    measured on (results/benchmarks/priors-searches.json): each figure the median, rounded as set,
    and the best-epoch fractions the five studies' quantiles, each study alike."""
    import statistics
    from pathlib import Path

    from benchmarks.priors import best_fractions, quantiles
    from hpbench.cost.figures import PRIOR_BEST

    root = Path(__file__).resolve().parents[1]
    records = json.loads((root / "results" / "benchmarks" / "priors-searches.json").read_text())["searches"]
    prior = Figures()
    for name, digits in (("startup_s", 1), ("setup_s", 3), ("replay_start_s", 1), ("fused_start_s", 1), ("report_s", 1), ("exit_s", 2)):
        assert round(statistics.median(history.measured(records, name)), digits) == pytest.approx(getattr(prior, name), rel=REL), name
    eager = [r for r in records if r["started_at"] >= 1_796_349_300]  # 2026-12-04 01:55 UTC: workers without TorchDynamo's import
    assert round(statistics.median(history.measured(eager, "fresh_worker_s")), 1) == pytest.approx(prior.fresh_worker_s, rel=REL)
    assert [round(q, 2) for q in quantiles(list(best_fractions(records)))] == pytest.approx(list(PRIOR_BEST), abs=1e-9)
    assert prior.best_fractions == PRIOR_BEST


def test_the_start_up_takes_the_studys_own_data_seconds_in_place_of_the_figures():
    """Ray starts after the pre-flight has loaded and checked the data: a study whose data takes
    2 s more than the searches the start-up figure came from starts 2 s later (at contention 1;
    the figure's own data seconds scale with contention, the study's are measured at it), and a
    figure learned from large data is not cut below half for small data."""
    f = Figures(startup_s=10.0, data_s=0.5)
    assert f.startup(early=True, contention=1.0) == pytest.approx(10.0, rel=REL)
    assert f.startup(early=True, contention=1.0, data_s=2.5) == pytest.approx(12.0, rel=REL)
    assert f.startup(early=True, contention=2.0, data_s=2.5) == pytest.approx(20.0 + 2.5 - 1.0, rel=REL)
    assert f.startup(early=True, contention=1.0, data_s=0.0) == pytest.approx(9.5, rel=REL)
    assert Figures(startup_s=10.0, data_s=8.0).startup(early=True, contention=1.0, data_s=0.0) == pytest.approx(5.0, rel=REL)
    recs = [{**_rec(NEW, speed=1.0, startup_s=10.0, started_at=2_000.0 + i), "data_s": 0.1 * i} for i in range(5)]
    assert history.figures(recs).data_s == pytest.approx(0.2, rel=REL)  # the median of the searches' own
    assert history.figures([]).data_s == Figures().data_s  # the prior
    # the same searches as the start-up's: those recorded before searches kept it count at the prior's
    older = [_rec(NEW, speed=1.0, startup_s=10.0, started_at=1_000.0 + i) for i in range(8)]
    assert history.figures(older + recs[-2:]).data_s == pytest.approx(Figures().data_s, rel=REL)
    assert history.figures(older[:3] + recs).data_s == pytest.approx(0.075, rel=REL)  # 3 at the prior's 0.05, then 0.0-0.4


def test_the_wall_time_prices_the_plans_data_seconds():
    from hpbench.cost.walltime import SearchPlan, TrialPlan, predict

    plans = tuple(TrialPlan(epoch_s=0.1, max_epochs=2) for _ in range(2))
    figs = Figures(startup_s=10.0, data_s=0.5)
    base = predict(SearchPlan(trials=plans, concurrency=1), figures=figs, seeds=2)
    slow = predict(SearchPlan(trials=plans, concurrency=1, data_s=3.5), figures=figs, seeds=2)
    assert slow.startup_s - base.startup_s == pytest.approx(3.0, rel=REL) and slow.total_s - base.total_s == pytest.approx(3.0, rel=REL)


def test_a_model_the_calibration_refuses_has_no_tag(tmp_path):
    """Bug hunt s52h4 #1: model_tag read any JSON with a schema and a time as the cached model, where
    the calibration's load refuses an older hpbench's schema or another identity's model and measures
    it again. One rule now: each file below is refused by both."""
    from hpbench.cost import calibrate

    path = history.device_cache_file(tmp_path, "cpu", 1)
    current = device_cache(tmp_path, 2_000.0).to_dict()
    old = {**current, "schema": 6, "versions": {**current["versions"], "schema": "6"}}
    for refused in ({"schema": 6, "measured_at": 2_000.0, "device": "cpu"}, old, {**current, "schema": history.MODEL_SCHEMA + 1},
                    {**current, "versions": {**current["versions"], "torch": "0.0.1"}}, {**current, "versions": {**current["versions"], "cpus": "999"}}):
        path.write_text(json.dumps(refused))
        assert history.model_tag(tmp_path, device="cpu", threads=1) is None, refused
        assert history.model_tag(tmp_path, device="auto", threads=1) is None
        assert calibrate.load_cached(path, "cpu") is None
    path.write_text(json.dumps(current))
    assert history.model_tag(tmp_path, device="cpu", threads=1) == NEW and calibrate.load_cached(path, "cpu") is not None


def test_a_final_table_that_may_hold_a_calibration_wait_is_not_read():
    """Bug hunt s52h4 #2: records from before the calibration wait was timed apart (no model tag, no
    calibration_wait_s) cannot tell a final table from a first calibration's wait (25.5 s where the
    machine's others took 2-5 s: an upgraded machine's estimate said "final table 19.7 min"); nor can
    a tagged one whose search calibrated its model (measured after the search started) without
    timing the wait apart. Their report_s is not read; a record that timed it apart, or ran on a model
    cached before it started, is."""
    def rec(report_s: float, *, model: history.ModelTag | None, started_at: float, **more: float) -> dict:
        return {**_rec(model, speed=1.0, startup_s=5.0, started_at=started_at), "report_s": report_s, "n_search": 20, **more}

    untagged = rec(25.5, model=None, started_at=2_500.0)
    calibrated = rec(116.7, model=NEW, started_at=1_900.0)  # its model measured 100 s into it
    for polluted in (untagged, calibrated):
        f = history.figures([polluted], study="s", model=NEW)
        assert f.report_s == pytest.approx(Figures().report_s, rel=REL) and f.sources.get("report_s") == Figures().sources.get("report_s")
    split = rec(2.2, model=NEW, started_at=1_900.0, calibration_wait_s=77.4)
    on_cached = rec(2.0, model=NEW, started_at=2_100.0)
    assert history.figures([untagged, calibrated, split], study="s", model=NEW).report_s == pytest.approx(2.2, rel=REL)
    assert history.figures([untagged, calibrated, on_cached], study="s", model=NEW).report_s == pytest.approx(2.0, rel=REL)
    assert history.figures([untagged, calibrated, on_cached], study="other", model=NEW).report_s == pytest.approx(2.0, rel=REL)  # the machine's
    small = {**untagged, "n_search": 2}  # a final table without importances: the same rule
    assert history.figures([small], study="s", model=NEW).report_small_s == pytest.approx(Figures().report_small_s, rel=REL)
