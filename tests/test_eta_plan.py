"""The live ETA's prior for the trials not started yet comes from the study's last estimate when it
priced the same configurations with the same device model (hpbench.cost.priced): the search no
longer waits for its helper to predict them (the recurrent claim's grid, priced as its first
RNNs until the helper's plan came back, jumped 21.1 -> 33.7 s within one trial end)."""

from __future__ import annotations

import pytest

from hpbench.cost import history, priced
from hpbench.cost.annotate import predict_trial
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.predictions import SAMPLED, sampled_configurations
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config
from tests.helpers.devices import device_cache
from tests.helpers.studies import TINY_STUDY

REL = 1e-5
GRID = (TINY_STUDY.replace('searcher = "random"', 'searcher = "grid"').replace("trials = 4", "trials = 6")
        .replace('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { grid = [0.001, 0.01, 0.1] }')
        .replace('optimizer = { choice = ["adam", "sgd"] }', '"model.width" = { grid = [16, 256] }'))


@pytest.mark.parametrize("text,n", [(TINY_STUDY.replace("trials = 4", "trials = 40"), SAMPLED), (GRID, 6)])
def test_the_search_takes_its_plan_from_the_estimate(tmp_path, write_study, text, n):
    """``hpbench estimate`` leaves its predictions; the search's clock takes the first ones it
    would have had its helper predict (a random searcher's first 16 of the estimate's 40
    samples; a grid's points in order) at once, each the model's own prediction of that
    configuration; nothing for another model or another seed."""
    from hpbench.api.estimate import study_estimate

    study = load_study(write_study(text))
    dev = device_cache(tmp_path, 1_000.0)
    est = study_estimate(study, preflight=False, cache_dir=tmp_path)
    assert len(est.rows) == (40 if n == SAMPLED else 6)
    clock = SearchClock(study=study, n_trials=study.settings.trials, history_dir=tmp_path)
    plan = clock.priced_plan()
    assert plan is not None and plan.done()
    want = [predict_trial(trial_config(study, p), device_model=dev, max_concurrent=2)["predicted_epoch_s"] for p in sampled_configurations(study)]
    assert len(want) == n and plan.result() == pytest.approx(want, rel=REL)
    if n == 6:  # the grid's widths differ in cost: the plan is the grid in its order, not one price
        assert plan.result()[3] > plan.result()[0] and len(set(plan.result())) == 2
    flops = clock.priced_flops()  # and the median of its configurations' FLOPs per step (how the repeats fuse)
    counted = sorted(float(r["flops_per_step"]) for r in est.rows)
    assert flops is not None and flops.done() and flops.result() == pytest.approx(counted[len(counted) // 2], rel=REL)
    device_cache(tmp_path, 2_000.0)  # recalibrated: the estimate's predictions were another model's
    assert SearchClock(study=study, n_trials=study.settings.trials, history_dir=tmp_path).priced_plan() is None
    assert SearchClock(study=study, n_trials=study.settings.trials, history_dir=tmp_path).priced_flops() is None
    other = load_study(write_study(text.replace("seed = 0", "seed = 5"), name="other.toml"))
    assert priced.load(tmp_path, model=history.tag_of(1_000.0), study=other, n=1) is None
    assert priced.load(tmp_path, model=history.tag_of(1_000.0), study=study, n=len(est.rows) + 1) is None  # fewer priced than asked


@pytest.mark.parametrize("text,grid", [(TINY_STUDY.replace("trials = 4", "trials = 40"), False), (GRID, True)])
def test_the_prior_stops_sampling_once_its_pricing_spent_its_cpu_budget(tmp_path, write_study, monkeypatch, text, grid):
    """The helper prices the live ETA's prior (16 sampled configurations) at every search's start;
    a recurrent configuration costs 1.4-7.9 CPU s to price here, so the prior stops once it spent
    ``cpu_budget_s`` of CPU, after at least one configuration; a grid's points are all priced (the
    ETA reads them in order)."""
    from hpbench.dispatch import predictions

    study = load_study(write_study(text))
    dev = device_cache(tmp_path, 1_000.0)

    def price(study, params, device):  # the model's own prediction, on a fixed device model (no calibration)
        return {"predicted_epoch_s": predict_trial(trial_config(study, params), device_model=dev, max_concurrent=2)["predicted_epoch_s"]}

    monkeypatch.setattr(predictions, "predict_columns", price)
    whole = predictions.sampled_epoch_seconds(study, cpu_budget_s=float("inf"))
    assert len(whole) == len(sampled_configurations(study)) == (6 if grid else SAMPLED)
    first = predictions.sampled_epoch_seconds(study, cpu_budget_s=0.0)
    assert first == pytest.approx(whole if grid else whole[:1], rel=REL)


def test_the_helper_counts_the_first_sampled_configurations_flops(tmp_path, write_study, monkeypatch):
    """Without an estimate kept, the repeats' fusion before any trial is counted comes from the
    helper: the first sampled configuration's FLOPs per step, its predicted column; None where the
    configuration could not be counted."""
    from hpbench.dispatch import predictions

    study = load_study(write_study(TINY_STUDY))
    dev = device_cache(tmp_path, 1_000.0)

    def price(study, params, device):
        return predict_trial(trial_config(study, params), device_model=dev, max_concurrent=2)

    monkeypatch.setattr(predictions, "predict_columns", price)
    want = price(study, sampled_configurations(study)[0], None)["flops_per_step"]
    assert want > 0 and predictions.sampled_step_flops(study) == pytest.approx(want, rel=REL)
    monkeypatch.setattr(predictions, "predict_columns", lambda study, params, device: {"cost_note": "not counted"})
    assert predictions.sampled_step_flops(study) is None
