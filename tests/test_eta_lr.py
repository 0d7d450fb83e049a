"""Where early stopping ends a trial, against its learning rate (hpbench.cost.ends.lr_fraction):
the live ETA and the estimate draw best epochs seen at one rate for trials at another. Without Ray."""

from __future__ import annotations

import random
from concurrent.futures import Future

import pytest

REL = 1e-5

GRID_STUDY = """
[study]
name = "lr-grid"
seed = 0
metric = "val_loss"
searcher = "grid"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "diabetes"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 1
width = 16

[optimizer]
name = "adam"

[train]
max_epochs = 80
batch_size = 32
early_stopping = { monitor = "val_loss", patience = 8 }

[space]
lr = { grid = [0.001, 0.003, 0.01] }
"model.width" = { grid = [16, 64, 256] }
"""


def test_a_best_epoch_seen_at_one_rate_moves_to_another_by_the_elasticity():
    from hpbench.cost.ends import LR_ELASTICITY, lr_fraction

    assert lr_fraction(0.5, at=0.001, to=0.01) == pytest.approx(0.5 * 0.1 ** LR_ELASTICITY, rel=REL)
    assert lr_fraction(0.5, at=0.01, to=0.001) == 1.0  # at most every epoch
    assert lr_fraction(0.2, at=0.01, to=0.001) == pytest.approx(0.2 * 10 ** LR_ELASTICITY, rel=REL)
    for at, to in ((None, 0.01), (0.0, 0.01), (0.01, None)):  # a rate not known: unchanged
        assert lr_fraction(0.3, at=at, to=to) == 0.3
    assert lr_fraction(0.4, at=0.001, to=0.004, elasticity=0.5) == pytest.approx(0.2, rel=REL)


def test_the_learning_rate_is_read_only_where_one_optimizer_is_searched():
    """The rates of different optimizers (SGD's 0.05, Adam's 0.001) do not say which trial converges sooner."""
    from hpbench.cost.ends import searched_lr

    assert searched_lr({"lr": 0.003, "model.width": 16}) == 0.003
    assert searched_lr({"lr": 0.003, "optimizer": "adam"}) is None
    assert searched_lr({"model.width": 16}) is None
    assert searched_lr({"lr": True}) is None and searched_lr({"lr": 0.0}) is None


def test_a_drawn_end_follows_the_trials_rate_and_is_unchanged_without_one():
    from hpbench.cost.ends import lr_fraction
    from hpbench.cost.figures import Figures
    from hpbench.cost.walltime import TrialPlan, drawn_epochs, natural_epochs

    seen = Figures(best_fractions=(1.0, 0.5), best_lrs=(0.001, 0.001))
    fast = TrialPlan(epoch_s=0.01, max_epochs=80, patience=8, lr=0.01)
    ends = {drawn_epochs(fast, random.Random(s), seen) for s in range(40)}
    assert ends == {natural_epochs(fast, lr_fraction(f, at=0.001, to=0.01)) for f in (1.0, 0.5)}
    assert max(ends) < 80
    unknown = TrialPlan(epoch_s=0.01, max_epochs=80, patience=8)  # no rate: as before, the same draws
    for s in range(10):
        assert drawn_epochs(unknown, random.Random(s), seen) == natural_epochs(unknown, random.Random(s).choice((1.0, 0.5)))
    no_rates = Figures(best_fractions=(1.0, 0.5))  # fractions without rates (the prior, other studies'): as before
    assert {drawn_epochs(fast, random.Random(s), no_rates) for s in range(40)} == {80, natural_epochs(fast, 0.5)}
    # a running trial past its 20th epoch: only the ends after it
    assert all(drawn_epochs(fast, random.Random(s), seen, done=20) > 20 for s in range(10))


def test_the_trials_left_stand_at_the_rate_of_the_configurations_left():
    from hpbench.cost.live import pending_mean

    grid = [0.001] * 3 + [0.003] * 3 + [0.01] * 3
    assert pending_mean(grid, started=6, in_order=True) == pytest.approx(0.01, rel=REL)
    assert pending_mean(grid, started=3, in_order=True) == pytest.approx((0.003 * 0.01) ** 0.5, rel=REL)
    assert pending_mean(grid, started=3, in_order=False) == pytest.approx((0.001 * 0.003 * 0.01) ** (1 / 3), rel=REL)  # of them all
    assert pending_mean([None, None], started=0, in_order=False) is None


def test_the_record_and_the_studys_figures_keep_the_rates(tmp_path):
    from hpbench.cost import history
    from hpbench.cost.record import TrialTimes, search_record

    def trial(lr: float, best: int, optimizer: str | None = None) -> TrialTimes:
        params = {"lr": lr, **({"optimizer": optimizer} if optimizer else {})}
        return TrialTimes(started_at=1.0, ended_at=2.0, train_s=1.0, epochs=best + 8, max_epochs=80, stop_reason="early_stopped",
                          best_epoch=best, params=params)

    rec = search_record(run_id="a", study="lr-grid", trials=[trial(0.001, 72), trial(0.01, 20)], started_at=0.0, command=True,
                        ray_started=True, cpus=2, concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert rec["best_fractions"] == pytest.approx([0.9, 0.25], rel=REL) and rec["best_lrs"] == [0.001, 0.01]
    mixed = search_record(run_id="b", study="opt", trials=[trial(0.001, 72, "adam"), trial(0.05, 20, "sgd")], started_at=0.0,
                          command=True, ray_started=True, cpus=2, concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert "best_lrs" not in mixed  # optimizers searched: their rates are not compared
    same = history.figures([rec], study="lr-grid")
    assert same.best_fractions == pytest.approx((0.9, 0.25), rel=REL) and same.best_lrs == (0.001, 0.01)
    other = history.figures([rec], study="another")  # another study's fractions, without its rates
    assert other.best_fractions == pytest.approx((0.9, 0.25), rel=REL) and other.best_lrs == ()


def _grid_clock(tmp_path, write_study, monkeypatch, elasticity: float):
    from hpbench.cost import ends
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    monkeypatch.setattr(ends, "LR_ELASTICITY", elasticity)
    study = load_study(write_study(GRID_STUDY))
    store = ResultsStore(out=tmp_path / f"out-{elasticity}", metric=study.settings.metric, mode=study.settings.mode,
                         param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=9)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 9)
    sc.plan = plan
    for i, width in enumerate((16, 64, 256)):  # the grid's first points, its slowest rate: every epoch, best at the last
        tid = f"tune_{i}"
        store.start(tid, {"lr": 0.001, "model.width": width})
        for e in range(80):
            store.epoch(tid, {"epoch": e + 1, "epoch_s": 0.01, "val_loss": 1.0 - e / 100})
        store.annotate(tid, {"stop_reason": "completed", "es_best_epoch": 79, "predicted_epoch_s": 0.01, "predicted_spent_s": 0.8,
                             "regime": "compute"})
        store.finish(tid)
        sc.trial_started(tid)
    assert sc.eta_s(store) is not None
    return sc


def test_a_grids_slow_first_rate_does_not_price_its_faster_rates_at_every_epoch(tmp_path, write_study, monkeypatch):
    """diabetes' held-out grid: its 0.001 trials ran all 80 epochs, its 0.003 and 0.01 ones ended
    at 13-70; priced at the first ones' ends, its live ETA at 25% read +17 to +53%. The trials left
    (0.003 and 0.01) are priced shorter than with the rates ignored (elasticity 0)."""
    with_rates = _grid_clock(tmp_path, write_study, monkeypatch, 0.4).parts[0]
    without = _grid_clock(tmp_path, write_study, monkeypatch, 0.0).parts[0]
    assert with_rates < 0.85 * without
