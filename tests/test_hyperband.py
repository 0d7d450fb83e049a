"""Asynchronous Hyperband (hpbench.hyperband): Ray's ASHA over Hyperband's brackets, driven
in memory with stand-in trials (no Ray runtime): the brackets' sizes, their shares, the bracket
draws reproducible, and each bracket judging its trials first at its own rung."""

from __future__ import annotations

import math

import pytest

from hpbench.cost.simulate import Pruning
from hpbench.hyperband import hyperband, hyperband_bracket, hyperband_shares, n_brackets

bracket_shares = hyperband_shares


class Trial:
    def __init__(self, tid: str) -> None:
        self.trial_id, self.config = tid, {}


def build(max_t: int = 30):
    return hyperband(time_attr="epoch", metric="objective", mode="max", max_t=max_t, grace_period=1, reduction_factor=3)


def test_as_many_brackets_as_asha_has_rungs_in_hyperbands_proportions():
    assert n_brackets(grace_period=1, reduction_factor=3, max_t=30) == 4  # rungs 1, 3, 9, 27
    assert n_brackets(grace_period=1, reduction_factor=3, max_t=27) == 4
    assert n_brackets(grace_period=1, reduction_factor=3, max_t=20) == 3  # rungs 1, 3, 9
    assert n_brackets(grace_period=2, reduction_factor=3, max_t=2) == 1
    assert Pruning(kind="asha", max_t=30).n_brackets() == 1
    assert Pruning(kind="hyperband", max_t=30).n_brackets() == 4  # the estimate's replay counts them alike
    shares = bracket_shares(4, 3)  # Hyperband's n_s = ceil(B / (s + 1) * rf**s): 27, 12, 6, 4 trials of 49
    assert shares == pytest.approx([27 / 49, 12 / 49, 6 / 49, 4 / 49], rel=1e-5)
    assert math.fsum(bracket_shares(3, 2)) == pytest.approx(1.0, rel=1e-5)


def test_trials_are_drawn_into_the_brackets_reproducibly_and_in_proportion():
    pytest.importorskip("ray")

    def draws(sched) -> list[int]:
        for k in range(2000):
            sched.on_trial_add(None, Trial(f"t{k}"))
        return [sched._brackets.index(sched._trial_info[f"t{k}"]) for k in range(2000)]

    first, again = draws(build()), draws(build())
    assert first == again  # seeded: the same order of trials, the same brackets
    counts = [first.count(b) for b in range(4)]
    for n, share in zip(counts, bracket_shares(4, 3), strict=True):
        assert abs(n / 2000 - share) < 0.04, counts


def test_each_bracket_judges_first_at_its_own_rung():
    pytest.importorskip("ray")
    sched = build()
    first = [b._rungs[-1][0] for b in sched._brackets]  # Ray keeps each bracket's rungs from the last (largest) down
    assert first == [1, 3, 9, 27]
    by_bracket: dict[int, list[Trial]] = {}
    k = 0
    while any(len(by_bracket.get(b, [])) < 2 for b in range(4)):
        t = Trial(f"t{k}")
        k += 1
        sched.on_trial_add(None, t)
        by_bracket.setdefault(sched._brackets.index(sched._trial_info[t.trial_id]), []).append(t)
    for b, rung in enumerate(first):  # a good trial sets the rung, a bad one is stopped there, not before
        good, bad = by_bracket[b][:2]
        for epoch in range(1, rung):
            assert sched.on_trial_result(None, bad, {"epoch": epoch, "objective": 0.1}) == "CONTINUE"
        assert sched.on_trial_result(None, good, {"epoch": rung, "objective": 0.9}) == "CONTINUE"
        assert sched.on_trial_result(None, bad, {"epoch": rung, "objective": 0.1}) == "STOP", b


def test_the_estimate_replays_the_same_brackets():
    """The wall-time replay (hpbench.cost.simulate) spreads the brackets' shares over the trials,
    and a trial of bracket b is judged from rung b on, against its own bracket's scores."""
    from hpbench.cost.estimate import asha_epoch_fraction, pruned_epoch_fraction
    from hpbench.cost.simulate import SimTrial, Slots, replay

    shares = hyperband_shares(4, 3)
    drawn = [hyperband_bracket(i, shares) for i in range(490)]
    assert [drawn.count(b) for b in range(4)] == pytest.approx([270, 120, 60, 40], abs=3)
    hb = Pruning(kind="hyperband", max_t=30, grace_period=1, reduction_factor=3)
    falling = [SimTrial(epoch_s=1.0, epochs=30, score=1.0 - i / 1000) for i in range(60)]  # each worse than every one before
    r = replay(falling, slots=Slots(concurrency=1), pruning=hb)
    first = {}
    for i, epochs in enumerate(r.epochs):
        first.setdefault(hyperband_bracket(i, shares), []).append(epochs)
    assert [sorted(set(first[b][1:])) for b in range(4)] == [[1], [3], [9], [27]]  # the first of each bracket goes on
    asha = Pruning(kind="asha", max_t=30, grace_period=1, reduction_factor=3)
    assert replay(falling, slots=Slots(concurrency=1), pruning=asha).epochs[1:] == (1,) * 59
    expected = sum(s * asha_epoch_fraction(max_epochs=30, grace_period=g, reduction_factor=3) for s, g in zip(shares, (1, 3, 9, 27), strict=True))
    assert pruned_epoch_fraction(hb) == pytest.approx(expected, rel=1e-5)
    assert pruned_epoch_fraction(asha) == pytest.approx(asha_epoch_fraction(max_epochs=30, grace_period=1, reduction_factor=3), rel=1e-5)
    assert pruned_epoch_fraction(Pruning(kind="median", max_t=30)) == 1.0


def test_asha_is_the_default_and_hyperband_is_chosen_by_name(write_study):
    """A study that names no scheduler prunes with ASHA (the quiet race of session 8, docs/benchmarks.md "The
    race": faster to the target than hyperband on tabular and signals on the same code); hyperband,
    named, has 4 brackets at 30 epochs whose trials report at ASHA's rungs at once."""
    pytest.importorskip("ray")
    from hpbench.dispatch.schedulers import decision_epochs, make_scheduler
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    study = load_study(write_study(TINY_STUDY.replace('scheduler = "none"\n', "")))
    assert study.settings.scheduler == "asha-rank"
    named = load_study(write_study(TINY_STUDY.replace('scheduler = "none"', 'scheduler = "hyperband"')))
    assert named.settings.scheduler == "hyperband"
    sched = make_scheduler(named, max_t=30)
    assert [b._rungs[-1][0] for b in sched._brackets] == [1, 3, 9, 27]
    assert decision_epochs(named, max_t=30) == {1, 3, 9, 27}
