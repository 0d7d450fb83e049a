"""A study's large counts cost bounded work: the estimate and the live ETA of a search of 10**6 or
10**9 trials replay a bounded number of them, and a trial of a million epochs is replayed by its
decisions, not epoch by epoch (bug hunt s49/h2: 100,000 trials did not estimate in minutes, and a
search of 10**9 trials stalled at its first trial's end). No Ray, no training; the work is counted,
never timed."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from hpbench.cost import simulate
from hpbench.cost.simulate import Pruning, SimTrial, Slots, replay

BOUND = 5_000  # trials a replay, or the live ETA's list of the trials left, may hold here


def _counting(monkeypatch) -> list[int]:
    """Count the replay's events (each one pushed on its heap)."""
    pushed = [0]
    real = simulate.heapq.heappush

    def push(heap, item):
        pushed[0] += 1
        real(heap, item)

    monkeypatch.setattr(simulate.heapq, "heappush", push)
    return pushed


@pytest.mark.parametrize("kind", ["none", "asha", "hyperband", "median"])
def test_a_long_trial_is_replayed_by_its_decisions_not_its_epochs(monkeypatch, kind):
    epochs = 100_000
    pushed = _counting(monkeypatch)
    trials = [SimTrial(epoch_s=0.5, epochs=epochs, score=float(i)) for i in range(3)]
    r = replay(trials, slots=Slots(concurrency=1), pruning=Pruning(kind=kind, max_t=epochs, grace_period=1, reduction_factor=3))
    assert pushed[0] <= 1_000  # 300,000 epochs: one event each before (bug hunt s49/h2)
    assert all(1 <= e <= epochs for e in r.epochs)
    if kind == "none":  # one after another, each to its end
        assert r.epochs == (epochs,) * 3 and r.makespan_s == pytest.approx(3 * epochs * 0.5, rel=1e-9)


def test_the_median_rule_judges_every_epoch_of_a_short_run():
    """Up to MAX_JUDGED epochs from the grace period on, every one is judged, as Ray's rule does:
    the fourth trial, the worst, stops at its first judged epoch, 3."""
    trials = [SimTrial(epoch_s=1.0, epochs=10, score=s) for s in (3.0, 2.0, 1.0, 0.0)]
    r = replay(trials, slots=Slots(concurrency=4), pruning=Pruning(kind="median", max_t=10, grace_period=3))
    assert r.epochs[3] == 3 and r.pruned[3]


def test_an_extended_span_prices_the_trials_past_the_replay_at_their_pace():
    trials = [SimTrial(epoch_s=1.0, epochs=2) for _ in range(10)]
    r = replay(trials, slots=Slots(concurrency=2))
    assert r.makespan_s == pytest.approx(10.0, rel=1e-9)  # 5 waves of 2 s
    assert simulate.extended_span(r, 10) == r.makespan_s
    assert simulate.extended_span(r, 1_000_010) == pytest.approx(10.0 + 1_000_000 * 1.0, rel=1e-9)  # 2 trials per 2 s


@pytest.mark.timeout(300)
def test_the_estimate_of_a_million_trials_replays_a_bounded_sample(monkeypatch, write_study):
    from conftest import TINY_STUDY

    from hpbench.cost import walltime
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.estimate import configurations, estimate_study
    from hpbench.study.parse import load_study

    sizes: list[int] = []
    real = walltime.replay

    def bounded(trials, **kw):
        sizes.append(len(trials))
        assert len(trials) <= BOUND, f"a replay of {len(trials)} trials"
        return real(trials, **kw)

    monkeypatch.setattr(walltime, "replay", bounded)
    study = load_study(write_study(TINY_STUDY))
    dev = DeviceModel.hypothetical_device(flops_per_s=1e10)
    configs = configurations(study, n=4)
    small = estimate_study(study, device_model=dev, configs=configs, n_trials=1_000).summary
    large = estimate_study(study, device_model=dev, configs=configs, n_trials=1_000_000).summary
    assert large["n_trials"] == 1_000_000 and sizes and max(sizes) <= BOUND
    # the trials past the replay at its pace: a thousand times the trials, about a thousand times their span
    ratio = large["wall_time"]["parts"]["trials_s"] / small["wall_time"]["parts"]["trials_s"]
    assert 900 < ratio < 1_100
    assert large["total_s"] == pytest.approx(1_000 * small["total_s"], rel=1e-5)


def test_the_live_eta_of_a_billion_trials_lists_a_bounded_number_left(monkeypatch, tmp_path, write_study):
    """``--trials 1000000000 --budget-s 30``: the ETA priced at a trial's end listed the 10**9 trials
    left (and stalled the search, so that --budget-s was never read)."""
    from conftest import TINY_STUDY

    from hpbench.cost import live
    from hpbench.dispatch import eta
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    real_costs, real_replay = eta.searcher_costs, live.replay

    def costs(*args, n_pending, **kw):
        assert n_pending <= BOUND, f"{n_pending} trials left listed"
        return real_costs(*args, n_pending=n_pending, **kw)

    def bounded(trials, **kw):
        assert len(trials) <= BOUND, f"a replay of {len(trials)} trials"
        return real_replay(trials, **kw)

    monkeypatch.setattr(eta, "searcher_costs", costs)
    monkeypatch.setattr(live, "replay", bounded)
    n = 1_000_000_000
    study = load_study(write_study(TINY_STUDY.replace("trials = 4", f"trials = {n}")))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=n)
    plan: Future[list[float]] = Future()
    plan.set_result([1.0] * 16)
    sc.plan = plan
    store.start("t0", {"optimizer": "adam", "lr": 0.01})
    store.epoch("t0", {"epoch": 1, "epoch_s": 1.0, "val_accuracy": 0.5})
    store.finish("t0")
    store.annotate("t0", {"predicted_epoch_s": 1.0, "predicted_spent_s": 1.0, "regime": "compute"})
    sc.trial_started("t0")
    left = sc.eta_s(store)
    assert left is not None and left > 1e8  # the trials past the replay are priced: about 10**9 trials of >= 1 s on 2 slots
