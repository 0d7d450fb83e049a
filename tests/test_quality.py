"""Which configurations a search runs long (hpbench.cost.quality): the rank correlation of cost and
score, the copula the replay draws scores from, the searcher's lean, and where the figure is learned."""

from __future__ import annotations

import math
import random
import statistics
from concurrent.futures import Future
from dataclasses import replace

import pytest

from hpbench.cost import history, quality, record
from hpbench.cost.figures import Figures
from hpbench.cost.live import Running, remaining_trials_s
from hpbench.cost.simulate import Pruning
from hpbench.cost.walltime import SearchPlan, TrialPlan, predict, sim_trials

REL = 1e-5
BARE = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=0.0, exit_s=0.0, best_fractions=(1.0,),
               first_epoch_s=0.0, tail_s=0.0, replay_start_s=0.0, test_s=0.0)
ASHA = Pruning(kind="asha", max_t=27, grace_period=1, reduction_factor=3)


def test_spearman_on_hand_made_ranks():
    assert quality.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0, rel=REL)
    assert quality.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0, rel=REL)
    # ties share their mean rank: ranks (0.5, 0.5, 2, 3) against (0, 1, 2, 3): Pearson's of those
    assert quality.ranks([5.0, 5.0, 7.0, 9.0]) == [0.5, 0.5, 2.0, 3.0]
    assert quality.spearman([5, 5, 7, 9], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=REL)
    assert quality.spearman([1, 1, 1], [1, 2, 3]) is None and quality.spearman([1, 2], [1, 2]) is None


def test_measured_rho_needs_enough_trials_that_have_both():
    costs = [0.1, 1.0, 0.2, 2.0, 0.3, None]
    scores = [0.3, 0.8, 0.4, 0.9, None, 0.99]
    assert quality.measured_rho(costs, scores, least=5) is None  # 4 trials have both
    assert quality.measured_rho(costs, scores, least=4) == pytest.approx(1.0, rel=REL)
    assert quality.measured_rho([0.5] * 6, [1, 2, 3, 4, 5, 6]) is None  # costs that do not differ tell nothing


def test_cost_scores_and_the_latent_score():
    u = quality.cost_scores([3.0, 1.0, 2.0])
    assert u[1] < u[2] < u[0] and sum(u) == pytest.approx(0.0, abs=1e-9)
    assert quality.cost_scores([2.0, 2.0]) == [0.0, 0.0]
    draws = [0.9, 0.1, 0.5, 0.7]
    # at rho 0 the scores keep the draws' order (the replay's pruning is the same as with uniform scores)
    scores = [quality.latent_score(u=uu, draw=d, rho=0.0) for uu, d in zip([2.0, -2.0, 0.0, 1.0], draws, strict=True)]
    assert sorted(range(4), key=lambda i: scores[i]) == sorted(range(4), key=lambda i: draws[i])
    assert quality.latent_score(u=1.5, draw=0.5, rho=0.6) == pytest.approx(0.9, rel=REL)  # rho * u + sqrt(1 - rho^2) * 0
    assert quality.blended_rho(prior=0.0, measured=0.8, n=4) == pytest.approx(0.4, rel=REL)
    assert quality.blended_rho(prior=0.2, measured=None, n=9) == 0.2
    assert quality.later(quality.Focus(start=10, k=5), started=4) == quality.Focus(start=6, k=5)
    assert quality.later(quality.Focus(start=10, k=5), started=14).start == 0
    assert quality.searcher_focus("tpe").k > 1 and quality.searcher_focus("random") == quality.Focus()


def _mixed(n: int = 24) -> list[TrialPlan]:  # half cheap (0.1 s an epoch), half dear (1 s)
    return [TrialPlan(epoch_s=0.1 if i % 2 else 1.0, max_epochs=27) for i in range(n)]


def test_scores_follow_cost_at_rho_and_the_focus_picks_the_good_ones():
    plans = _mixed()
    dear = [i for i, p in enumerate(plans) if p.epoch_s == 1.0]
    gap = []
    for rho in (0.0, 0.9):
        figs = replace(BARE, quality_rho=rho)
        diffs = []
        for s in range(40):
            t = sim_trials(plans, random.Random(s), figures=figs, c=1.0)
            diffs.append(statistics.fmean(t[i].score for i in dear) - statistics.fmean(t[i].score for i in range(24) if i not in dear))
        gap.append(statistics.fmean(diffs))
    assert abs(gap[0]) < 0.35 and gap[1] > 1.2  # dear ones score ~1.6 standard deviations higher at rho 0.9
    figs = replace(BARE, quality_rho=0.9)
    dear_share = []
    for focus in (quality.Focus(), quality.Focus(start=8, k=5)):
        share = [sum(t.epoch_s == 1.0 for t in sim_trials(plans, random.Random(s), figures=figs, c=1.0, focus=focus)[8:]) / 16 for s in range(40)]
        dear_share.append(statistics.fmean(share))
    assert 0.35 < dear_share[0] < 0.65 and dear_share[1] > 0.85  # after its start the searcher runs mostly the (good) dear ones


def test_a_search_whose_good_configurations_are_dear_takes_longer_under_asha():
    """ASHA keeps the best trials: where they are the dear ones, the epochs it lets through are
    the dear epochs (signals' GRUs: 60-86 s priced, 254-320 s measured with scores drawn blind)."""
    plan = SearchPlan(trials=tuple(_mixed()), concurrency=2, pruning=ASHA, command=False, focus=quality.Focus(start=10, k=5))
    blind = predict(plan, figures=BARE, seeds=8).trials_s
    dear_good = predict(plan, figures=replace(BARE, quality_rho=0.8), seeds=8).trials_s
    dear_bad = predict(plan, figures=replace(BARE, quality_rho=-0.8), seeds=8).trials_s
    assert dear_good > 1.5 * blind and dear_bad < 0.8 * blind
    nothing_pruned = replace(plan, pruning=Pruning(), focus=quality.Focus())
    # without pruning nor a searcher's lean every trial runs to its end whatever its score
    assert predict(nothing_pruned, figures=replace(BARE, quality_rho=0.8), seeds=4).trials_s == pytest.approx(
        predict(nothing_pruned, figures=BARE, seeds=4).trials_s, rel=REL)


def test_the_live_replay_ranks_running_and_pending_trials_together():
    figs = replace(BARE, quality_rho=0.9)
    running = [Running(plan=TrialPlan(epoch_s=1.0, max_epochs=27), done=1, running_for_s=1.0),
               Running(plan=TrialPlan(epoch_s=0.1, max_epochs=27), done=1, running_for_s=0.1)]
    pending = _mixed(10)
    good = remaining_trials_s(running=running, pending=pending, concurrency=2, figures=figs, pruning=ASHA, seeds=8)
    blind = remaining_trials_s(running=running, pending=pending, concurrency=2, figures=BARE, pruning=ASHA, seeds=8)
    assert good > 1.3 * blind


def test_the_figure_is_the_studys_own_runs_and_the_record_keeps_it():
    rec = record.search_record(run_id="a", study="s", trials=[], started_at=0.0, command=False, ray_started=False, cpus=2, concurrency=2,
                               cpus_per_trial=1.0, contention=1.0, phases={}, quality_rho=0.7)
    assert rec["quality_rho"] == 0.7
    recs = [{"study": "s", "quality_rho": r} for r in (0.9, 0.1, 0.8, 0.7)] + [{"study": "other", "quality_rho": -0.5}]
    f = history.figures(recs, study="s")
    assert f.quality_rho == pytest.approx(0.7, rel=REL) and f.source("quality_rho") == "3 earlier runs of this study"  # the last 3
    assert history.figures(recs, study="new").quality_rho == quality.PRIOR_RHO  # another study's tells nothing of this one
    assert history.figures([], study="s").source("quality_rho") == "prior"


def test_the_live_clock_learns_the_correlation_from_its_own_trials(tmp_path, write_study):
    """At a quarter of a search, its ended trials already tell whether the dear ones are the good
    ones: the trials left are priced longer where they are."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.timings import quality_pairs
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 24").replace('scheduler = "none"', 'scheduler = "asha"')
                                   .replace("max_epochs = 3", "max_epochs = 27")))
    left = {}
    for sign in (1.0, -1.0):
        costs = [1.0 if i % 2 else 0.1 for i in range(6)]
        sc, store = _clock_with_ended(study, tmp_path / f"out{sign}", [(c, 0.5 + sign * 0.4 * (c - 0.5) + 0.01 * i) for i, c in enumerate(costs)])
        got, scores = quality_pairs(store, [f"tune_{i}" for i in range(6)])
        assert got == [0.1, 1.0] * 3 and len(scores) == 6
        left[sign] = sc.parts[0]
    assert left[1.0] > 1.2 * left[-1.0]


def test_the_score_line_is_least_squares_on_log_cost():
    costs = [0.01, 0.1, 1.0, 10.0]
    line = quality.fit_score_line(costs, [0.2 + 0.1 * math.log(c) for c in costs])
    assert line is not None and line.b == pytest.approx(0.1, rel=REL) and line.a == pytest.approx(0.2, rel=REL)
    assert line.at(1.0, draw=0.5) == pytest.approx(0.2, rel=REL)  # the residual's median is 0
    flat = quality.fit_score_line([0.5] * 4, [0.1, 0.2, 0.3, 0.4])
    assert flat is not None and flat.b == 0.0 and flat.a == pytest.approx(0.25, rel=REL) and flat.sigma > 0.1
    assert quality.fit_score_line([0.1, 1.0, 2.0], [0.1, 0.2, 0.3]) is None  # fewer than 4 trials


def test_on_the_metrics_scale_the_rungs_recorded_scores_prune_the_weak_trials_left():
    """The trials left are judged against what the ended ones recorded at each rung: where the
    line puts the cheap configurations below those scores, ASHA stops them at the first rung."""
    line = quality.ScoreLine(a=0.5, b=0.2, sigma=0.01)  # 1 s an epoch: 0.5; 0.01 s: ~-0.42
    asha = Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3)
    recorded = {1: [0.0] * 6, 3: [0.0] * 2, 9: []}
    cheap, dear = TrialPlan(epoch_s=0.01, max_epochs=9), TrialPlan(epoch_s=1.0, max_epochs=9)
    kw = dict(running=[], concurrency=1, figures=BARE, pruning=asha, seeds=4, line=line, recorded_scores=recorded,
              recorded={k: len(v) for k, v in recorded.items()})
    assert remaining_trials_s(pending=[cheap] * 4, **kw) == pytest.approx(4 * 0.01, rel=REL)  # one epoch each
    assert remaining_trials_s(pending=[dear] * 4, **kw) == pytest.approx(4 * 9 * 1.0, rel=REL)  # to their end


def test_the_live_rungs_scores_are_the_ones_recorded_there(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.dispatch.live_scores import reached_scores, running_scores
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric="val_loss", mode="min", param_keys=study.space.keys())
    store.start("a", {"optimizer": "adam", "lr": 0.01})
    for k, v in ((1, 0.9), (2, 0.7), (3, 0.6)):
        store.epoch("a", {"epoch": k, "epoch_s": 0.1, "val_loss": v})
    store.start("b", {"optimizer": "sgd", "lr": 0.01})
    got = reached_scores(store, ["a", "b"], Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3))
    assert got == {1: [pytest.approx(-0.9, rel=REL)], 3: [pytest.approx(-0.6, rel=REL)], 9: []}  # a min metric, negated
    assert running_scores(store, ["a", "b"]) == [pytest.approx(-0.6, rel=REL), None]


def test_the_live_pairs_take_a_running_trials_best_so_far_and_the_median_rules_epochs(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.dispatch.live_scores import reached_scores
    from hpbench.dispatch.timings import quality_pairs
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    for tid, cost, accs, ended in (("done", 0.5, (0.4, 0.6, 0.5), True), ("running", 2.0, (0.7, 0.9), False), ("fresh", 1.0, (), False)):
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        for k, v in enumerate(accs, start=1):
            store.epoch(tid, {"epoch": k, "epoch_s": 0.1, "val_accuracy": v})
        if ended:
            store.finish(tid)
        store.annotate(tid, {"predicted_epoch_s": cost})
    costs, scores = quality_pairs(store, iter(["done", "running", "fresh"]))  # any iterable, read once
    assert costs == [0.5, 2.0] and scores == [pytest.approx(0.6, rel=REL), pytest.approx(0.9, rel=REL)]
    median = Pruning(kind="median", max_t=3, grace_period=2, min_samples=3)
    assert reached_scores(store, ["done", "running", "fresh"], median) == {2: [pytest.approx(0.6, rel=REL), pytest.approx(0.9, rel=REL)],
                                                                           3: [pytest.approx(0.5, rel=REL)]}


def test_rung_scores_on_the_best_scale_move_by_the_median_gain_of_the_trials_that_went_on():
    recorded = {1: [0.5, 0.6, 0.2], 3: [0.7], 9: []}
    gains = {1: [0.2, 0.1, 0.4], 3: []}  # three went on past epoch 1, none past 3 yet
    got = quality.on_best_scale(recorded, gains)
    assert got[1] == [pytest.approx(v + 0.2, rel=REL) for v in (0.5, 0.6, 0.2)]
    assert got[3] == [pytest.approx(0.7, rel=REL)] and got[9] == []  # nothing to move by: as recorded
    assert quality.on_best_scale(recorded, {}) == recorded


def test_the_live_rungs_on_the_best_scale_compare_like_with_like_and_price_fewer_epochs(tmp_path, write_study):
    """A trial's best (the line's scale) against the others' best, not against their scores at the
    rung: a pending trial scored like the search's trials passes rung 1 as often as they did."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.live_scores import reached_scores, running_scores
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric="val_loss", mode="min", param_keys=study.space.keys())
    curves = {"a": (0.9, 0.7, 0.6), "b": (0.8, 0.6, 0.5, 0.45), "c": (1.2,)}  # c was pruned at epoch 1
    for tid, losses in curves.items():
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        for k, v in enumerate(losses, start=1):
            store.epoch(tid, {"epoch": k, "epoch_s": 0.1, "val_loss": v})
    asha = Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3)
    raw = reached_scores(store, list(curves), asha)
    lifted = reached_scores(store, list(curves), asha, best=dict(zip(curves, running_scores(store, list(curves)), strict=True)))
    assert raw[1] == [pytest.approx(-v, rel=REL) for v in (0.9, 0.8, 1.2)] and raw[3] == [pytest.approx(-0.6, rel=REL), pytest.approx(-0.5, rel=REL)]
    gain = statistics.median([0.9 - 0.6, 0.8 - 0.45])  # a and b went on past epoch 1 (best - score there, a min metric); c did not
    assert lifted[1] == [pytest.approx(v + gain, rel=REL) for v in raw[1]]
    assert lifted[3] == [pytest.approx(v + 0.05, rel=REL) for v in raw[3]]  # only b went on past 3: 0.5 -> 0.45
    # a pending trial scored at the search's best-score level: pruned at rung 1 against the lifted scores, not the raw ones
    line = quality.ScoreLine(a=-0.55, b=0.0, sigma=1e-6)
    pending = [TrialPlan(epoch_s=1.0, max_epochs=9)] * 3
    kw = dict(running=[], pending=pending, concurrency=1, figures=BARE, pruning=asha, seeds=2, line=line,
              recorded={k: len(v) for k, v in raw.items()})
    assert remaining_trials_s(recorded_scores=lifted, **kw) < remaining_trials_s(recorded_scores=raw, **kw)


def test_after_its_random_start_tpe_is_priced_near_its_best_trials_so_far():
    """Optuna's TPE fits l(x) to its best ceil(0.1 n) trials (at most 25) and draws its next trial
    near them: after its random start the trials left cost like those; before, like the pool."""
    assert [quality.tpe_good(n) for n in (0, 1, 10, 11, 20, 21, 250, 1000)] == [1, 1, 1, 2, 2, 3, 25, 25]
    pool = [0.1, 0.2, 0.3]
    scored = [(5.0, 0.9), (0.05, 0.2), (2.0, 0.95), (0.4, 0.5)]  # (cost, score): the best is the 2-s one
    tpe = quality.searcher_focus("tpe")
    assert tpe.start == quality.TPE_STARTUP == 10
    # 8 started: two more from the pool (trials 9 and 10), then every one at the best trial's cost
    got = quality.searcher_costs(pool, scored=scored, started=8, n_pending=5, focus=tpe)
    assert got == pytest.approx([0.1, 0.2, 2.0, 2.0, 2.0], rel=REL)
    # with 11 scored, the two best take turns
    many = scored + [(0.01 * i, 0.1) for i in range(1, 8)]
    assert quality.searcher_costs(pool, scored=many, started=12, n_pending=3, focus=tpe) == pytest.approx([2.0, 5.0, 2.0], rel=REL)
    # a searcher without a lean (random, the grid, the cost-aware TPE: priced as random) keeps the pool's order
    for name in ("random", "grid", "tpe-cost"):
        assert quality.searcher_costs(pool, scored=scored, started=12, n_pending=4, focus=quality.searcher_focus(name)) == pytest.approx(
            [0.1, 0.2, 0.3, 0.1], rel=REL)
    # nothing scored yet: the pool; nothing to price: nothing
    assert quality.searcher_costs(pool, scored=[], started=12, n_pending=2, focus=tpe) == pytest.approx([0.1, 0.2], rel=REL)
    assert quality.searcher_costs(pool, scored=scored, started=12, n_pending=0, focus=tpe) == []
    assert quality.searcher_costs([], scored=scored, started=12, n_pending=3, focus=tpe) == []


def test_the_live_clock_prices_tpes_later_trials_like_its_best_so_far(tmp_path, write_study):
    """12 of 24 trials ended, past TPE's random start of 10: the trials left cost like the best two
    (dear here, cheap there) under TPE; under random search like the pool, whichever are best."""
    from conftest import TINY_STUDY

    from hpbench.study.parse import load_study

    left = {}
    for searcher in ("tpe", "random"):
        study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 24").replace('searcher = "random"', f'searcher = "{searcher}"')
                                       .replace("max_epochs = 3", "max_epochs = 9")))
        for best in (1.0, 0.1):
            top = (3, 5) if best == 1.0 else (4, 6)  # TPE's good ones: the best 2 of 12
            trials = [(1.0 if i % 2 else 0.1, 0.99 - 0.01 * top.index(i) if i in top else 0.5 + 0.01 * (i % 3)) for i in range(12)]
            sc, _ = _clock_with_ended(study, tmp_path / f"out-{searcher}-{best}", trials)
            left[searcher, best] = sc.parts[0]
    assert left["tpe", 1.0] > 1.5 * left["random", 1.0]
    assert left["tpe", 0.1] < 0.5 * left["random", 0.1]


def _clock_with_ended(study, out, trials):
    """A live clock over a store whose trials ``tune_0`` ... ended after one epoch at (cost, score)
    each, the estimate's pool alternating 0.1 and 1.0 s per epoch; its ETA just computed."""
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=study.settings.trials)
    plan: Future[list[float]] = Future()
    plan.set_result([0.1, 1.0] * 12)
    sc.plan = plan
    for i, (cost, score) in enumerate(trials):
        tid = f"tune_{i}"
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        store.epoch(tid, {"epoch": 1, "epoch_s": cost, "val_accuracy": score})
        store.finish(tid)
        store.annotate(tid, {"predicted_epoch_s": cost, "predicted_spent_s": cost, "regime": "compute"})
        sc.trial_started(tid)
    sc._eta = (0.0, -2, None)  # recompute now
    assert sc.eta_s(store) is not None
    return sc, store


def test_the_live_search_draws_its_trials_stops_from_its_own_early_stopped_trials_too(tmp_path, write_study):
    """The figures' best-epoch fractions (other studies': digits' MLPs best at 0.1-0.4 of their
    epochs) blended with the search's own trials that ended by themselves, these weighing as
    their number against 1 for the figures' (4 until session 27); a completed trial's fraction
    (early stopping never fired) is kept at no rate or batch: it is not moved (censored)."""
    from conftest import TINY_STUDY

    from hpbench.cost.live import BEST_PRIOR_TRIALS, own_fractions
    from hpbench.dispatch import timings
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    prior = (0.1, 0.2)
    assert own_fractions(prior, []) == prior and own_fractions((), [0.8]) == (0.8,)
    mixed = own_fractions(prior, [0.8, 0.9])
    assert BEST_PRIOR_TRIALS == 1 and sorted(set(mixed)) == [0.1, 0.2, 0.8, 0.9]
    assert sum(f >= 0.8 for f in mixed) / len(mixed) == pytest.approx(2 / (2 + 1), rel=REL)  # k / (k + weight)
    assert sum(f >= 0.8 for f in own_fractions(prior, [0.8, 0.9], weight=4)) / 12 == pytest.approx(2 / (2 + 4), rel=REL)
    # a long search against a long history: bounded, in the same proportion, over the same range
    many = own_fractions([0.1 + 0.001 * i for i in range(300)], [0.8 + 0.0001 * i for i in range(1000)])
    assert len(many) <= 20 * 251 + 20 and min(many) >= 0.1 and max(many) < 0.9
    assert sum(f >= 0.8 for f in many) / len(many) >= 250 / 251  # 1000 / (1000 + 1), each side repeated at most 250 times
    # read from the store: early stopped and completed trials, not pruned or running ones
    study = load_study(write_study(TINY_STUDY.replace("max_epochs = 3", "max_epochs = 10")))
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    for tid, best, stop in (("a", 7, "early_stopped"), ("b", 9, "completed"), ("c", 2, "pruned"), ("d", 3, None)):
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        store.epoch(tid, {"epoch": 1, "epoch_s": 0.1, "val_accuracy": 0.5})
        store.annotate(tid, {"es_best_epoch": best, "batch_rows": 64})
        if stop is not None:
            store.annotate(tid, {"stop_reason": stop})
            store.finish(tid)
    read = timings.best_fractions(store, ["a", "b", "c", "d", "missing"], max_epochs=lambda t: 10)
    assert [f for f, _, _ in read] == pytest.approx([0.8, 1.0], rel=REL)
    assert [lr for _, lr, _ in read] == [0.0, 0.0]  # each with its learning rate: none here, where the optimizer is searched too
    assert [b for _, _, b in read] == [64, 0.0]  # and its rows per step; the completed trial's best is a lower bound: not moved (0)
