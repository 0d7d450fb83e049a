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
    assert same.best_own and not other.best_own  # a live search weighs the study's own as its own trials
    # a trial that ran all its epochs (early stopping never fired): its fraction is kept at no rate (censored, not moved)
    done = TrialTimes(started_at=1.0, ended_at=2.0, train_s=1.0, epochs=80, max_epochs=80, stop_reason="completed", best_epoch=79,
                      params={"lr": 0.001})
    capped = search_record(run_id="c", study="lr-grid", trials=[done, trial(0.01, 20)], started_at=0.0, command=True, ray_started=True,
                           cpus=2, concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert capped["best_fractions"] == pytest.approx([79 / 80, 0.25], rel=REL) and capped["best_lrs"] == [0.0, 0.01]
    from hpbench.cost.figures import Figures
    from hpbench.cost.walltime import TrialPlan, drawn_epochs

    fast = TrialPlan(epoch_s=1.0, max_epochs=80, patience=8, lr=0.01)
    seen = Figures(best_fractions=(79 / 80,), best_lrs=(0.0,))
    assert drawn_epochs(fast, random.Random(0), seen) == 80  # unmoved: where the slower trial stood, plus patience, capped
    moved = Figures(best_fractions=(79 / 80,), best_lrs=(0.001,))
    assert drawn_epochs(fast, random.Random(0), moved) <= 40  # as an early stop at 0.001 it moves by (0.001 / 0.01) ** 0.4


def _grid_clock(tmp_path, write_study, monkeypatch, elasticity: float, stop: str = "early_stopped"):
    from hpbench.cost import ends
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    monkeypatch.setattr(ends, "LR_ELASTICITY", elasticity)
    study = load_study(write_study(GRID_STUDY))
    store = ResultsStore(out=tmp_path / f"out-{elasticity}-{stop}", metric=study.settings.metric, mode=study.settings.mode,
                         param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=9)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 9)
    sc.plan = plan
    # the grid's first points, its slowest rate: early stopped late (best at 70 of 80), or every epoch run (best at the last)
    best, run = (70, 78) if stop == "early_stopped" else (79, 80)
    for i, width in enumerate((16, 64, 256)):
        tid = f"tune_{i}"
        store.start(tid, {"lr": 0.001, "model.width": width})
        for e in range(run):
            store.epoch(tid, {"epoch": e + 1, "epoch_s": 0.01, "val_loss": 1.0 - min(e, best) / 100})
        store.annotate(tid, {"stop_reason": stop, "es_best_epoch": best, "predicted_epoch_s": 0.01, "predicted_spent_s": 0.01 * run,
                             "regime": "compute"})
        store.finish(tid)
        sc.trial_started(tid)
    assert sc.eta_s(store) is not None
    return sc


def test_a_grids_slow_first_rate_does_not_price_its_faster_rates_at_every_epoch(tmp_path, write_study, monkeypatch):
    """A grid's slow first rate early stopped late (at 70-78 of 80): the trials left (0.003 and 0.01)
    are priced shorter than with the rates ignored (elasticity 0). Where those first trials ran every
    epoch (diabetes' held-out grid: 80 of 80 at 0.001), their best is only a lower bound and is not
    moved (censored, since session 27: the temporal-order study's completed trials at 0.001 priced its
    faster ones at 8-9 of 15 epochs, which ran all 15); diabetes' faster ones ended at 13-70."""
    with_rates = _grid_clock(tmp_path, write_study, monkeypatch, 0.4).parts[0]
    without = _grid_clock(tmp_path, write_study, monkeypatch, 0.0).parts[0]
    assert with_rates < 0.85 * without
    capped = _grid_clock(tmp_path, write_study, monkeypatch, 0.4, stop="completed").parts[0]
    assert capped == pytest.approx(_grid_clock(tmp_path, write_study, monkeypatch, 0.0, stop="completed").parts[0], rel=REL)
