"""The search's clock, shared by its live ETA, its ``--budget-s`` and this machine's history.

It starts when the command started (the CLI passes its process's start; ``hpbench.search``
starts it when called). The ETA is the wall-time model of :mod:`hpbench.cost.walltime` applied to
what is left: the trials running (where early stopping or the scheduler may end them, given the
epochs they ran) and the trials not started yet, then the phases after the search. Their
seconds are the cost model's at the search's pace so far (:mod:`hpbench.cost.pace`: this
machine's speed figure at the contention probed, moved toward the early trials' pace unless it
is the study's own, then toward that of the epochs Tune's trials reported, running or ended,
from the first); the set-up and fresh workers' figures move toward what the finished trials
measured. The
command's own start-up, measured against its figure as far as it has gone (Ray's start, then
Tune's first trial), moves the start-up still ahead and every part the cost model does not price
(:func:`hpbench.cost.live.startup_drift`). ``--budget-s`` compares the same clock,
plus the predicted after-search work, with the budget. At the end the search's measurements go
into the history (:mod:`hpbench.cost.history`) for the next estimate.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from hpbench.cost.correct import POOLED, Correction
from hpbench.cost.ends import searched_lr
from hpbench.cost.estimate import config_rows, search_plan, trial_plan
from hpbench.cost.estimate import pruning as search_pruning
from hpbench.cost.figures import Figures
from hpbench.cost.history import bound_trace
from hpbench.cost.live import Running, drifted, overheads, pending_mean, remaining_trials_s, repeat_choices, startup_drift, startup_left_s
from hpbench.cost.pace import helper_moved, pace_factors
from hpbench.cost.quality import Focus, ScoreLine, blended_rho, fit_score_line, measured_rho, searcher_costs, searcher_focus
from hpbench.cost.simulate import MAX_REPLAYED, Pruning
from hpbench.cost.walltime import Factors, TrialPlan, predict, slowness
from hpbench.dispatch import timings
from hpbench.dispatch.command_clock import SEARCH, CommandClock
from hpbench.dispatch.epoch_pace import EpochPace
from hpbench.dispatch.live_scores import passing_rungs, reached, reached_scores, running_scores
from hpbench.dispatch.timings import finished_trials, measured_contention, tune_trials
from hpbench.results.status import TrialStatus
from hpbench.results.store import ResultsStore
from hpbench.strategies import scheduler_traits
from hpbench.study.metrics import best_score
from hpbench.study.schema import Study

ETA_EVERY_S = 1.0  # the ETA is recomputed at most this often (and whenever a trial ends)
# ... but a trial's end reprices it only once the last pricing's cost is at most this share of
# the time since (a study of 2,000 trials spent ~99% of the driver's callbacks there: issue 20 §4)
ETA_DUTY = 0.1
# ... and at least this long after the last pricing: the ETA shown counts down in between. Without
# it, trials ending every few ms kept the pricing at its duty cap on Tune's loop: at 200 one-epoch
# trials ~7 ms more per Tune trial than with no ETA at all (benchmarks/dispatch.py, issue 20 §4)
ETA_MIN_GAP_S = 0.5
LIVE_SEEDS = 16  # replays the live ETA averages (a few ms in all) ...
LIVE_DRAWS = 1_024  # ... fewer where they would draw more trials than this: many trials left average out by themselves


def live_seeds(n_trials: int) -> int:
    """How many replays the live ETA averages over ``n_trials`` trials running and left: :data:`LIVE_SEEDS`
    up to 64 of them, then fewer (at least 2), as many as :data:`LIVE_DRAWS` trials drawn allow."""
    return max(2, min(LIVE_SEEDS, math.ceil(LIVE_DRAWS / max(1, n_trials))))


class SearchClock(CommandClock):
    """The command's clock (:class:`~hpbench.dispatch.command_clock.CommandClock`) and the ETA it
    shows: what the last pricing was made of, the pace it read, the trials' plans it keeps."""

    def __init__(self, *, study: Study, n_trials: int, started_at: float | None = None, history_dir: Path | None = None,
                 repeats: int = 0, early: bool = True, warm: bool = False) -> None:
        super().__init__(study=study, n_trials=n_trials, started_at=started_at, history_dir=history_dir, repeats=repeats, early=early, warm=warm)
        self._eta: tuple[float, int, float | None] = (0.0, -1, None)
        self._eta_cost_s = 0.0  # what the last pricing took (it simulates every trial left: ~0.15 s each at 2,000 trials)
        self._behind = False  # a trial's end found the last pricing too recent: the ETA shown counts fewer ended trials (catch_up)
        self._plans: dict[str, TrialPlan] = {}
        self._paces: tuple[list[float | None], list[float | None]] | None = None
        self._fuse = 1  # repeats trained at once (hpbench.cost.fusion), from the search trials' FLOPs per step
        self.factors: Factors = {}  # the pace of Tune's trials the ETA last used (hpbench.cost.pace)
        self._pace = EpochPace()  # ... kept from the epochs reported, not a pass over them all
        self._ended = timings.EndedTrials()  # per phase, counted from the trials not seen ended yet
        self._fuses: dict[str, int] = {}  # an ended search trial's repeats trained at once (hpbench.cost.fusion), by trial id
        self._rank_pairs: dict[str, tuple[dict[int, float], float] | None] = {}  # asha-rank's evidence, by ended trial id
        self.parts: list[float] = []  # what the last ETA was made of (note's trace)

    # -- the ETA ---------------------------------------------------------------------------------
    def plan_of(self, store: ResultsStore, trial_id: str, epoch_s: float) -> TrialPlan:
        row = store.row(trial_id)
        regime = str(row["regime"]) if isinstance(row.get("regime"), str) else None
        if trial_id not in self._plans or (self._plans[trial_id].epoch_s, self._plans[trial_id].regime) != (epoch_s, regime):
            params = {k: row.get(k) for k in store.param_keys if row.get(k) is not None}
            self._plans[trial_id] = replace(trial_plan(self.study, params, epoch_s=epoch_s), regime=regime)
        return self._plans[trial_id]

    def _max_epochs(self, store: ResultsStore, trial_id: str) -> int:
        """A trial's max_epochs (its plan's; its seconds per epoch do not change it, so a plan kept at other seconds serves)."""
        plan = self._plans.get(trial_id) or self.plan_of(store, trial_id, float(store.row(trial_id).get("predicted_epoch_s") or 1.0))
        return plan.max_epochs

    @property
    def correction(self) -> Correction | None:  # the pooled pace of Tune's trials the ETA last used (None: none yet)
        return self.factors.get(POOLED)

    def _sampled_epoch_s(self) -> list[float]:  # the predicted s/epoch of the configurations the estimate samples
        if self.plan is not None and self.plan.done() and self.plan.exception() is None:
            return [s for s in self.plan.result() if s and s > 0]
        return []

    def eta_s(self, store: ResultsStore) -> float | None:
        """Seconds until the command ends, or None before anything is known of the trials' cost."""
        now = time.monotonic()
        if self._priced_recently(now) and not self._phase_ended(store):
            return self._counted_down(now)  # checked before counting
        done = sum(self._ended.count(store, phase, self.trials[phase]) for phase in self.trials)
        self._behind = False
        if done == self._eta[1] and now - self._eta[0] < ETA_EVERY_S:
            return self._counted_down(now)
        try:
            eta = self._eta_now(store)
        except Exception:  # the ETA is a help: a row it cannot read must not stop the search (the progress shows none)
            eta = None
        self._eta_cost_s = time.monotonic() - now
        self._eta = (now, done, eta)
        return eta

    def _eta_now(self, store: ResultsStore) -> float | None:
        if self.repricing.take():
            self.figures = self.repricing.figures()
        ids = [t for t in self.trials[self.phase] if t in store]
        c = self.contention()
        # the ended trials the helper has not priced yet, at what they measured (timings.stand_in_costs)
        stand_in = timings.stand_in_costs(store, ids, speed=self.figures.speed_of(None, c))
        known = [float(store.row(t)["predicted_epoch_s"]) for t in ids if isinstance(store.row(t).get("predicted_epoch_s"), (int, float))]
        known += list(stand_in.values())
        # The trials not started yet cost like the configurations the estimate sampled at first,
        # then like the ones the searcher chose (TPE chose models three times cheaper than a
        # uniform sample's in the quickstart): each started trial's prediction replaces two samples.
        sampled = self._sampled_epoch_s()
        pool = known + sampled[: max(0, len(sampled) - 2 * len(known))]
        if not pool:
            return None
        fallback = statistics.fmean(pool)
        tune_pace, helper_pace = self._pace.read(store, self.trials[SEARCH])  # the search's epochs so far (hpbench.cost.pace)
        self.factors = pace_factors(tune_pace)
        drift = self._drift(store, c)  # this command's start-up against its figure: the parts the cost model does not price follow it
        figs = replace(overheads(drifted(self.figures, drift), finished=finished_trials(store, self.trials.values(), concurrency=self.concurrency), contention=c),
                       trials_contention=measured_contention(store, self.trials[self.phase], threads=self.threads, n_trials=2 * self.concurrency)
                       or self.figures.trials_contention)  # the study's earlier runs' until its trials measured theirs
        if not figs.own("speed"):  # the early trials' pace moves the speed figure, unless the study's own earlier runs set it
            figs = helper_moved(figs, helper_pace, contention=c)
        if self.phase == SEARCH:  # where its trials end: their own so far, with the figures'
            figs = timings.with_own_ends(figs, store, ids, max_epochs=lambda t: self._max_epochs(store, t))
        now = time.time()
        running = []
        tune = tune_trials(ids)
        fresh = set(tune[: self.concurrency])  # the first trial of each slot starts its worker
        # Tune's running trials only: an early one trains in the helper while Ray starts, in no slot (replayed in
        # Tune's slots, 5 running early trials took both as warm workers: the quickstart's trials left read 3.0 s, 5.7 s ended)
        run_ids = []
        for t in tune:
            row = store.row(t)
            if row.get("status") == TrialStatus.RUNNING:
                run_ids.append(t)
                running.append(Running(plan=self.plan_of(store, t, float(row.get("predicted_epoch_s") or fallback)), done=int(row.get("epochs") or 0),
                                       running_for_s=now - float(row.get("started_at") or now), fresh=t in fresh))
        n_pending = max(0, self.sizes[self.phase] - len(ids))
        so_far = dict(zip(ids, running_scores(store, ids), strict=True))  # each trial's best score yet, read once
        costs, scores = timings.quality_pairs(store, ids, list(so_far.values()), stand_in=stand_in)
        order = pool
        if self.phase == SEARCH and self.study.settings.searcher == "grid" and len(sampled) == len(ids) + n_pending:
            order = sampled[len(ids):]  # a grid runs in the order the estimate enumerates it: the trials left are known
        # after its random start, TPE's next trials are drawn near its best ones so far: they cost like them
        focus = searcher_focus(self.study.settings.searcher) if self.phase == SEARCH else Focus()
        lr, batch = (pending_mean(v, started=len(ids), in_order=order is not pool) for v in self._sampled_paces()) if self.phase == SEARCH \
            else (None, None)
        # the first trials left, at most MAX_REPLAYED, are replayed; the rest at their pace (a search of 10**9 trials listed them all at each end)
        n_replayed = min(n_pending, max(0, MAX_REPLAYED - len(running)))
        left_costs = searcher_costs(order, scored=list(zip(costs, scores, strict=True)), started=len(ids), n_pending=n_replayed, focus=focus)
        plans = {s: replace(self._plan_of_params(s), lr=lr, batch=batch) for s in set(left_costs)}  # one per cost: 2,000 left, ~50 costs
        pending = [plans[s] for s in left_costs]
        pruning = search_pruning(self.study) if self.phase == SEARCH else Pruning()
        if self.phase == SEARCH and scheduler_traits(self.study.settings.scheduler).evidence:  # the rungs its finished trials say pass
            pruning = replace(pruning, passing=passing_rungs(store, ids, pruning, cache=self._rank_pairs))
        # Which trials run long: the good ones. Once 4 of this search's trials have scores, the trials left are scored
        # on the metric's own scale by the line of its scores against cost, the running ones by what they reached and
        # the rungs by what was recorded there, moved to the scale of a trial's best score as the line's are
        # (hpbench.cost.quality.fit_score_line, on_best_scale); before, by the copula at the
        # study's correlation. No lean toward dear configurations as such: replayed on the kept quiet runs (trials
        # left at 25/50/75%, in predicted seconds), picking the best of 5 configurations by that line put the
        # quickstart at +518% and digits_cnn at +222% (+158% and +41% without it), and helped signals only (40% -> 6%).
        line = fit_score_line(costs, scores) if self.phase == SEARCH else None
        if line is None:
            figs = replace(figs, quality_rho=blended_rho(prior=self.figures.quality_rho, measured=measured_rho(costs, scores, least=4), n=len(costs)))
        left = remaining_trials_s(running=running, pending=pending, concurrency=self.concurrency, figures=figs, contention=c,
                                  pruning=pruning, recorded=reached(store, ids, pruning),
                                  n_fresh=max(0, self.concurrency - len(tune)), seeds=live_seeds(len(running) + len(pending)), factors=self.factors,
                                  line=line, running_scores=[so_far[t] for t in run_ids] if line else None,
                                  recorded_scores=reached_scores(store, ids, pruning, best=so_far) if line else None, n_more=n_pending - n_replayed)
        if self.phase == SEARCH and self.command and not tune:
            # Tune's first trial has not started (the early trials end while Ray starts): the rest of the start-up is ahead
            left += startup_left_s(startup_s=self.figures.startup(early=self.early, contention=c, data_s=self.measured.get("data_s"), warm=self.warm),
                                   elapsed_s=self.elapsed(), drift=drift)
        flops = [float(store.row(t)["flops_per_step"]) for t in self.trials[SEARCH]
                 if t in store and isinstance(store.row(t).get("flops_per_step"), (int, float))]
        first = next((t for t in self.trials[SEARCH] if t in store), None)  # the configurations not ended yet: the first one's settings
        # before any trial's FLOPs are counted (the helper prices them behind the early trials), the sampled configurations':
        # priced unfused, the repeats of eta-repeats read 4.5 s at 25% of the trials where they took 8.1 s fused (session 17)
        step = statistics.median(flops) if flops else self._sampled_flops()
        self._fuse = timings.repeat_fuse(self.study, store, first, n_repeats=self.repeats, flops_per_step=step) if first and step else 1
        after = figs.at("tail_s", c) + self._after_s(figs, c, pool, store, pending=pending, line=line, so_far=so_far)
        pooled = slowness(self._plan_of_params(fallback), figures=figs, c=c, factors=self.factors)  # the pooled factor, as blended
        self.parts = [round(left, 3), round(after, 3), round(pooled, 3), self.correction.n_trials if self.correction else 0,
                      round(figs.trials_contention or 0.0, 3)]
        return left + after

    def _drift(self, store: ResultsStore, c: float) -> float:
        """This command's start-up, measured over its figure (:func:`~hpbench.cost.live.startup_drift`):
        to Tune's first trial once it started (as the history measures the start-up; not the early
        trials'), Ray's start before that, and at least the seconds spent past the figure. 1 for a
        search that is not a whole command or joined a running Ray (another start-up)."""
        if not (self.command and self.ray_started):
            return 1.0
        starts = [float(store.row(t).get("started_at") or 0.0) for t in tune_trials(self.trials[SEARCH]) if t in store]
        first = min(starts) - self.started_at if starts and min(starts) > 0 else None
        ray = self.figures.ray_up(contention=c)  # before this machine measured one: the start-up figure's share
        return startup_drift(startup_s=self.figures.startup(early=self.early, contention=c, data_s=self.measured.get("data_s")), elapsed_s=self.elapsed(), first_trial_s=first, ray_s=ray,
                             ray_at_s=self.measured.get("ray_s"))

    def _sampled_paces(self) -> tuple[list[float | None], list[float | None]]:
        """The sampled configurations' searched learning rates and their rows per step (a grid's in order)."""
        if self._paces is None:
            from hpbench.dispatch.predictions import sampled_configurations

            sampled = sampled_configurations(self.study)
            lrs = [searched_lr(p) for p in sampled] if any(d.key == "lr" for d in self.study.space) else []
            self._paces = (lrs, [config_rows(self.study, p) for p in sampled])
        return self._paces

    def _plan_of_params(self, epoch_s: float) -> TrialPlan:
        """A trial not started yet: the study's own epochs and early stopping."""
        if "" not in self._plans:
            self._plans[""] = trial_plan(self.study, {}, epoch_s=0.0)
        return replace(self._plans[""], epoch_s=epoch_s)

    def _after_s(self, figs: Figures, c: float, pool: list[float], store: ResultsStore | None = None,
                 pending: Sequence[TrialPlan] = (), line: ScoreLine | None = None, so_far: Mapping[str, float | None] | None = None) -> float:
        """The predicted seconds of the phases after the current one. The repeats re-run the search's
        best trials, not known until it ends: each draw takes the best of the trials so far (by
        their scores; an ended one at the seconds per epoch it measured) and of the ``pending`` ones
        (scored by the search's ``line``), :func:`~hpbench.cost.live.repeat_choices`; ``so_far``: the
        search trials' best scores yet (:func:`~hpbench.dispatch.live_scores.running_scores`)."""
        devices = list(self.study.config["train"].get("devices", []))[1:]
        if not devices and not self.repeats:  # the parts after depend on no trial: simulating every one grew with the study
            pool = pool[:1]
        plans = [replace(self._plan_of_params(s), fuse=self._fuse) for s in pool]
        plan = search_plan(self.study, plans, cpus=self.cpus, repeats=self.repeats,
                           device_plans=[plans[: self.sizes[SEARCH]] for _ in devices], command=self.command, n_search=self.sizes[SEARCH])
        if store is not None and self.phase == SEARCH and self.repeats:
            fallback = statistics.fmean(pool) if pool else 1.0
            choices = repeat_choices(known=self._known_plans(store, figs, c, fallback, so_far), pending=[replace(p, fuse=self._fuse) for p in pending],
                                     top=self.study.settings.repeats_top, line=line, ceiling=best_score(self.study.settings.metric, self.study.settings.mode))
            plan = replace(plan, repeats=replace(plan.repeats, choices=choices))
        w = predict(plan, figures=figs, contention=c, seeds=4, factors=self.factors)
        later = {SEARCH: w.repeats_s + w.devices_s}.get(self.phase, w.devices_s if self.phase == "repeats" else 0.0)
        return later + w.test_s + w.report_s + w.exit_s

    def _known_plans(self, store: ResultsStore, figs: Figures, c: float, fallback: float,
                     so_far: Mapping[str, float | None] | None = None) -> list[tuple[TrialPlan, float | None]]:
        """The search's trials so far as the repeats may re-run them, with their best score yet
        (:func:`~hpbench.dispatch.timings.repeat_candidates`; ``so_far``: read here where not given)."""
        ids = [t for t in self.trials[SEARCH] if t in store]
        return timings.repeat_candidates(store, ids, so_far=so_far, fallback=fallback,
                                         plan_of=lambda t, s: replace(self.plan_of(store, t, s), fuse=self._repeat_fuse(store, t)),
                                         speed=lambda p: slowness(p, figures=figs, c=c, factors=self.factors))

    def _repeat_fuse(self, store: ResultsStore, trial_id: str) -> int:  # an ended trial's, as the runner will group its repeats
        if trial_id in self._fuses:
            return self._fuses[trial_id]
        if not isinstance(store.row(trial_id).get("flops_per_step"), (int, float)):  # not counted yet: the sampled configurations', not kept
            return timings.repeat_fuse(self.study, store, trial_id, n_repeats=self.repeats, flops_per_step=self._sampled_flops())
        self._fuses[trial_id] = timings.repeat_fuse(self.study, store, trial_id, n_repeats=self.repeats)
        return self._fuses[trial_id]

    def budget_s(self) -> float:
        """``--budget-s``'s clock: the command's elapsed seconds plus the predicted after-search
        parts, priced as the ETA last priced them (its in-run correction included)."""
        pool = self._sampled_epoch_s()
        return self.elapsed() + (self._after_s(self.figures, self.contention(), pool) if pool else 0.0)

    def note(self, store: ResultsStore) -> None:
        """A trial ended: the ETA shown now goes into the history's trace: ``[s since the command
        started, phase (0: the search), trials of the phase ended, ETA s, of which the trials left s,
        the after-search parts s, the trials' slowness (the pooled pace of Tune's trials with the
        speed figure, :func:`~hpbench.cost.walltime.slowness`), the Tune trials that pace was read from,
        the contention the trials measured (0: none yet)]``."""
        eta = self.eta_s(store)
        if eta is not None:
            ended = {p: self._ended.count(store, p, self.trials[p]) for p in self.trials}
            # priced before this end (the duty's cap): shown until the next pricing, which catch_up makes once the cap allows
            self._behind = self._eta[1] != sum(ended.values())
            self.trace.append([round(self.elapsed(), 3), list(self.trials).index(self.phase), ended[self.phase], round(eta, 3), *self.parts])
            bound_trace(self.trace)  # a long search's: at most 2 x TRACE_POINTS points, evenly spread

    def catch_up(self, store: ResultsStore) -> None:
        """The live view's refresh (each of Tune's steps): where trials ended faster than the ETA may
        be priced (the early trials' ends, taken in at once when Tune's first trial reports: the
        quickstart's 6 in 14 ms, priced with 1 of them ended, the other 5 simulated as running), it
        is priced again as soon as the cap allows, and that ETA goes into the trace too."""
        if self._behind and not self._priced_recently(time.monotonic()):
            self.note(store)

    def _phase_ended(self, store: ResultsStore) -> bool:
        """Every trial of the phase has ended: the pricing is made again however recent the last one
        (no later step of Tune's would catch up). The last trial ending within the cap of the one
        before left the previous pricing, counted down, as the ETA, and the history's trace kept it:
        "4/4 done, 0 running, ETA 00:19" 3 s before the command ended (bug hunt s48/h4)."""
        size = self.sizes.get(self.phase, 0)
        return size > 0 and self._ended.count(store, self.phase, self.trials[self.phase]) >= size

    def _priced_recently(self, now: float) -> bool:
        """The last pricing is recent: less than :data:`ETA_MIN_GAP_S` ago, or recent for what it
        cost (at most :data:`ETA_DUTY` of the driver's time)."""
        return now - self._eta[0] < max(ETA_MIN_GAP_S, self._eta_cost_s * (1 / ETA_DUTY - 1))

    def _counted_down(self, now: float) -> float | None:
        """The last pricing's ETA less the seconds since it was made (never below 0)."""
        eta = self._eta[2]
        return None if eta is None else max(0.0, eta - (now - self._eta[0]))
