"""The wall time of a whole search command, as the sum of named parts:

    total = start-up + trials + turnover + repeats + device runs + test split + report + exit

* **start-up**: from the command's start to the first trial's start (the interpreter, imports,
  Ray, Tune);
* **trials**: the replayed schedule (:mod:`hpbench.cost.simulate`) of the study's configurations
  at its concurrency, each epoch at the cost model's predicted seconds x this machine's measured
  speed ratio x the contention of the moment, each trial ending where early stopping would end it
  (its best epoch drawn from what earlier searches here saw, plus its patience) or where the
  scheduler prunes it, or where its ``[train] max_time_s`` does (:mod:`hpbench.cost.trial_plan`);
* **turnover**: what the same replay adds with each slot's fresh worker, every trial's set-up
  and the gaps between trials, and the Tuner's return after the last trial;
* **after the search**: repeats and device runs (replayed the same way, no pruning), the test
  split, the final table, the exit.

The machine's figures (:class:`Figures`) come from earlier searches on this machine
(:mod:`hpbench.cost.history`), or from a plain prior when there are none. The replay is run over
several seeds (which trials are good, when they are best); the mean is the estimate, and the
interval the seeds' 10th-90th percentiles widened by the figures' own spread.

Pure functions; the live view (:mod:`hpbench.dispatch.eta`) calls :func:`hpbench.cost.live.remaining_trials_s`
with the trials running and left, priced with the in-run correction of the cost model
(:mod:`hpbench.cost.correct`: per regime, measured / predicted seconds of the trials ended, the
one the dispatcher's ``corrected_s`` uses) once it exists, and moves the set-up figures with the
trials finished so far (:func:`hpbench.cost.live.overheads`: their set-up and fresh workers, which the cost model does not price).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from hpbench.cost.correct import Correction, correction_for
from hpbench.cost.early_window import early_count, early_window_s
from hpbench.cost.figures import PRIOR, Figures
from hpbench.cost.fusion import repeat_groups
from hpbench.cost.own_runs import span_scale
from hpbench.cost.quality import RHO_HIGH, Focus, ScoreLine, cost_scores, latent_score
from hpbench.cost.simulate import Pruning, Replay, SimTrial, Slots, extended_span, replay
from hpbench.cost.trial_plan import TrialPlan, capped_epochs, drawn_epochs
from hpbench.cost.trial_plan import natural_epochs as natural_epochs  # where a trial ends: re-exported with TrialPlan
from hpbench.cost.trial_time import quantile


@dataclass(frozen=True, kw_only=True)
class Repeats:
    """The repeats after the search (``[study] repeats_top``, ``repeats``): the ``top`` best search
    trials, each re-run with ``seeds`` other seeds, in the runner's groups over ``slots`` trial
    slots (:func:`repeat_plans`). Which configurations are the best is the search's outcome: the
    live ETA passes ``choices``, one tuple per draw, from its trials' scores
    (:func:`hpbench.cost.live.repeat_choices`); without them, the search's first ``top`` trials
    stand for them. Not each replay's own top by its simulated scores: in the estimate, with no
    score known, that priced ``studies/claims/recurrent.toml``'s repeats at 31.3 s where its quiet
    runs took 13.1 s (its best trials tie at accuracy 1.0, and the first of them, a cheap one,
    wins), and batch_size's at 9.7 s for 10.7 s (11.5 s from the first trials)."""

    top: int = 0
    seeds: int = 0
    slots: int = 1
    choices: tuple[tuple[TrialPlan, ...], ...] = ()


@dataclass(frozen=True, kw_only=True)
class SearchPlan:
    trials: tuple[TrialPlan, ...]  # one per trial of the search, in order (its first MAX_REPLAYED where it has more ...)
    n_trials: int | None = None  # ... the search's trials: those past ``trials`` priced at their pace (None: as many as ``trials``)
    concurrency: int
    pruning: Pruning = field(default_factory=Pruning)
    cpus_per_trial: float = 1.0
    repeats: Repeats = field(default_factory=Repeats)
    device_runs: tuple[tuple[TrialPlan, ...], ...] = ()  # per other device, its configurations priced there
    test_split: bool = False
    test_cold: bool = True  # the test split is the driver's first use of torch (no repeats before it)
    command: bool = True  # the whole command: its final table and exit included
    importance: bool = True  # its final table scores parameter importances (a search of IMPORTANCE_MIN_TRIALS trials or more)
    early: int = 0  # its first trials train in the helper while Ray starts (hpbench.dispatch.early), outside Tune's slots ...
    early_max: int = 0  # ... and later ones too, one after another, until Tune's first trial reports, up to this many in all
    warm: bool = False  # it joins the warm local Ray runtime (hpbench.dispatch.local_ray): no Ray to start
    focus: Focus = field(default_factory=Focus)  # how its searcher leans toward good configurations (hpbench.cost.quality)
    data_s: float | None = None  # its data's loading and checks before Ray starts (the pre-flight's, measured); None: the figures'


@dataclass(frozen=True, kw_only=True)
class WallTime:
    startup_s: float
    trials_s: float
    turnover_s: float
    repeats_s: float
    devices_s: float
    test_s: float
    report_s: float
    exit_s: float
    low_s: float
    high_s: float
    epoch_fraction: float  # expected epochs run / every trial to its max_epochs
    contention: float
    span_scale: float = 1.0  # the trials and turnover moved toward the study's own earlier runs (hpbench.cost.own_runs) by this factor
    model_span_s: float | None = None  # ... from the model's own price of them, less the tail (None: not moved)

    @property
    def after_s(self) -> float:
        return self.repeats_s + self.devices_s + self.test_s + self.report_s + self.exit_s

    @property
    def total_s(self) -> float:
        return self.startup_s + self.trials_s + self.turnover_s + self.after_s

    def parts(self) -> dict[str, float]:
        return {"startup_s": self.startup_s, "trials_s": self.trials_s, "turnover_s": self.turnover_s, "repeats_s": self.repeats_s,
                "devices_s": self.devices_s, "test_s": self.test_s, "report_s": self.report_s, "exit_s": self.exit_s}


Factors = Mapping[str, Correction]  # the in-run correction's scale factors (hpbench.cost.correct.scale_factors)


# The speed figure weighs as this many ended trials against the in-run correction (geometric
# blend). Replayed: the factor from a search's first 4-7 Tune trials vs its final one, median
# |log ratio| over 47 searches recorded here at nice 0: 0.176 alone, 0.124 / 0.147 / 0.171 with the
# figure as 1 / 2 / 4 trials; over 13 benchmarks/eta.py searches of one device model (00:25-00:46
# UTC), 0.194 alone, 0.148 / 0.132 / 0.112. 2: better than none in both.
SPEED_PRIOR_TRIALS = 2.0


def slowness(plan: TrialPlan, *, figures: Figures, c: float, factors: Factors | None = None) -> float:
    """Wall seconds per predicted second of ``plan``'s epochs: its regime's in-run correction
    (measured / predicted over the trials ended, contention and the machine's bias included),
    blended with this machine's speed figure at contention ``c`` as if the figure were
    :data:`SPEED_PRIOR_TRIALS` more trials; the speed figure alone before there is one."""
    corr = correction_for(plan.regime, factors) if factors else None
    prior = figures.speed_of(plan.family, c)
    if corr is None or not (corr.factor > 0 and prior > 0):
        return prior
    w = corr.n_trials / (corr.n_trials + SPEED_PRIOR_TRIALS)
    return math.exp(w * math.log(corr.factor) + (1 - w) * math.log(prior))


def sim_trials(plans: Sequence[TrialPlan], rng: random.Random, *, figures: Figures, c: float,
               factors: Factors | None = None, focus: Focus = Focus(), u: Sequence[float] | None = None,
               line: ScoreLine | None = None) -> list[SimTrial]:
    """One draw of the trials of ``plans``: each where early stopping would end it (its best
    epoch drawn from ``figures.best_fractions``) and its latent score, correlated with its cost at
    ``figures.quality_rho`` (:mod:`hpbench.cost.quality`; ``u``: the plans' cost scores where they
    are ranked among more configurations, :func:`~hpbench.cost.quality.cost_scores` of their own
    seconds otherwise), or from ``line`` (a live search's scores against cost, on the metric's
    scale); from ``focus.start`` on, each trial runs the best of ``focus.k`` of the drawn
    configurations (its own and ``k - 1`` others)."""
    if u is None:
        u = cost_scores([p.epoch_s for p in plans]) if figures.quality_rho else [0.0] * len(plans)
    # a plan's slowness follows its regime and family only, and a best epoch moved to a rate and batch size is the same
    # for every plan there (the live ETA prices hundreds of trials left at each trial's end): each worked out once
    speeds: dict[tuple[str | None, str | None], float] = {}

    def slow(p: TrialPlan) -> float:
        k = (p.regime, p.family)
        if k not in speeds:
            speeds[k] = slowness(p, figures=figures, c=c, factors=factors)
        return speeds[k]

    memo: dict[tuple[int, float | None, float | None], float] = {}
    drawn = [SimTrial(epoch_s=p.epoch_s * slow(p),
                      epochs=capped_epochs(drawn_epochs(p, rng, figures, memo=memo), epoch_s=p.epoch_s * slow(p), max_time_s=p.max_time_s),
                      score=_score(p.epoch_s, u=ui, draw=rng.random(), rho=figures.quality_rho, line=line)) for p, ui in zip(plans, u, strict=True)]
    out = list(drawn)
    if focus.k > 1 and len(drawn) > 1:
        for i in range(focus.start, len(drawn)):
            out[i] = max([drawn[i]] + [drawn[rng.randrange(len(drawn))] for _ in range(focus.k - 1)], key=lambda t: t.score)
    return out


def _score(epoch_s: float, *, u: float, draw: float, rho: float, line: ScoreLine | None) -> float:
    return line.at(epoch_s, draw=draw) if line is not None else latent_score(u=u, draw=draw, rho=rho)


def slot_model(concurrency: int, figures: Figures, c: float, *, overheads: bool = True, n_fresh: int | None = None,
           corrected: bool = False) -> Slots:
    """``corrected``: the trials' seconds come from the in-run correction, whose measured seconds
    hold their first epochs (no first-epoch figure on top)."""
    if not overheads:
        return Slots(concurrency=concurrency)
    first = 0.0 if corrected else figures.at("first_epoch_s", c)
    return Slots(concurrency=concurrency, fresh_s=figures.at("fresh_worker_s", c), setup_s=figures.at("setup_s", c) + first,
                 turnover_s=figures.at("turnover_s", c), n_fresh=n_fresh)


def repeat_plans(top: Sequence[TrialPlan], *, seeds: int, slots: int = 1) -> list[TrialPlan]:
    """The runs of the repeats of the ``top`` configurations: each one's ``seeds`` seeds in groups
    of at most its ``fuse`` members (:func:`hpbench.cost.fusion.repeat_groups`, the runner's rule),
    one run per group (a fused group trains as one trial, in about one member's time)."""
    if seeds < 1 or not top:
        return []
    groups = repeat_groups([p.fuse for p in top], n_repeats=[seeds] * len(top), max_concurrent=slots)
    return [p for p, g in zip(top, groups, strict=True) for _ in g]


def _repeats_s(plan: SearchPlan, *, figures: Figures, c: float, seeds: int, factors: Factors | None = None) -> float:
    """Mean seconds of the repeats over ``seeds`` draws: each draw's configurations
    (``plan.repeats.choices``, or the search's first ones), their runs as a replay phase."""
    r = plan.repeats
    choices = r.choices or (tuple(plan.trials[: r.top]),)
    if r.seeds < 1 or r.top < 1 or not any(choices):
        return 0.0
    return statistics.fmean(_replay_once(repeat_plans(choices[s % len(choices)], seeds=r.seeds, slots=r.slots), s, concurrency=plan.concurrency,
                                         figures=figures, c=c, factors=factors) for s in range(seeds))


def _replays(plans: Sequence[TrialPlan], *, concurrency: int, figures: Figures, c: float, seeds: int, factors: Factors | None = None) -> float:
    """Mean seconds of a replay phase (repeats or device runs) over ``seeds`` draws."""
    return statistics.fmean(_replay_once(plans, s, concurrency=concurrency, figures=figures, c=c, factors=factors) for s in range(seeds))


def _replay_once(plans: Sequence[TrialPlan], seed: int, *, concurrency: int, figures: Figures, c: float, factors: Factors | None) -> float:
    """One draw of a replay phase: its Tuner's start (a fused phase starts later: :attr:`Figures.fused_start_s`),
    then the runs on fresh workers, unpruned, and the Tuner's return; 0 without runs."""
    if not plans:
        return 0.0
    span = replay(sim_trials(plans, random.Random(seed), figures=figures, c=c, factors=factors),
                  slots=slot_model(concurrency, figures, c, corrected=bool(factors))).makespan_s
    start = "fused_start_s" if any(p.fuse > 1 for p in plans) else "replay_start_s"
    return figures.at(start, c) + figures.at("tail_s", c) + span


def predict(plan: SearchPlan, *, figures: Figures, contention: float = 1.0, seeds: int = 16, factors: Factors | None = None) -> WallTime:
    """The command's wall time, by parts, with an interval: the seeds' 10th percentile with every
    trial at its cost model's P10 (:mod:`hpbench.cost.trial_time`'s interval) and the other parts
    ``spread`` lower, to the seeds' 90th with every trial at its P90 and the rest ``spread``
    higher (a trial's errors share the machine's bias, so the bounds are taken together, not
    averaged out); while the study has measured no cost-score correlation of its own, the upper
    bound's trials follow their cost at :data:`~hpbench.cost.quality.RHO_HIGH`. ``factors``: the
    in-run correction (the live view's phases after the search)."""
    c = max(1.0, contention)
    full, bare, epochs = [], [], []
    window_s, n_all = early_window_s(figures, c, warm=plan.warm), max(plan.n_trials or 0, len(plan.trials))
    for s in range(seeds):
        trials = sim_trials(plan.trials, random.Random(s), figures=figures, c=c, factors=factors, focus=plan.focus)
        n = early_count(trials, least=plan.early, most=plan.early_max, window_s=window_s)  # in the helper, inside the start-up
        full.append(replay(trials[n:], slots=slot_model(plan.concurrency, figures, c), pruning=plan.pruning))
        bare.append(replay(trials[n:], slots=slot_model(plan.concurrency, figures, c, overheads=False), pruning=plan.pruning))
        epochs.append(sum(full[-1].epochs) + sum(t.epochs for t in trials[:n]))
    tail = figures.at("tail_s", c)

    def span(r: Replay) -> float:  # a replay of the plan's trials (less the early ones), with the search's trials past them at its pace
        return extended_span(r, n_all - len(plan.trials) + len(r.epochs))

    trials_s = statistics.fmean(map(span, bare))
    turnover_s = statistics.fmean(map(span, full)) - trials_s + tail
    # the study's own earlier runs here: the span of its trials (trials and turnover, less the tail) moved toward theirs
    scale = span_scale(span_s=trials_s + turnover_s - tail, measured=[m * c for m in figures.study_search_s])
    model_span_s = trials_s + turnover_s - tail if scale != 1.0 else None
    trials_s, turnover_s = trials_s * scale, (turnover_s - tail) * scale + tail
    repeats_s = _repeats_s(plan, figures=figures, c=c, seeds=seeds, factors=factors)
    devices_s = sum(_replays(d, concurrency=plan.concurrency, figures=figures, c=c, seeds=seeds) for d in plan.device_runs)
    w = WallTime(
        startup_s=figures.startup(early=plan.early > 0, contention=c, data_s=plan.data_s, warm=plan.warm), trials_s=trials_s, turnover_s=turnover_s, repeats_s=repeats_s, devices_s=devices_s,
        test_s=figures.at("test_cold_s" if plan.test_cold else "test_s", c) if plan.test_split else 0.0, report_s=figures.report(importance=plan.importance, contention=c) if plan.command else 0.0,
        exit_s=figures.at("exit_s", c) if plan.command else 0.0, low_s=0.0, high_s=0.0,
        epoch_fraction=statistics.fmean(epochs) / max(1, sum(p.max_epochs for p in plan.trials)), contention=c,
        span_scale=scale, model_span_s=model_span_s,
    )
    fixed = w.total_s - trials_s - turnover_s + tail
    # a study that has measured no correlation of its own may be one whose dear configurations are its
    # good ones (then kept by the scheduler and chosen by the searcher): its upper bound says so
    unknown = figures.source("quality_rho") == PRIOR
    high = replace(figures, quality_rho=max(figures.quality_rho, RHO_HIGH)) if unknown else figures
    bounds = []
    for side, q, k, figs in (("low", 0.1, 1 - figures.spread, figures), ("high", 0.9, 1 + figures.spread, high)):
        plans = [replace(p, epoch_s=p.epoch_s * getattr(p, side)) for p in plan.trials]
        sims = [sim_trials(plans, random.Random(s), figures=figs, c=c, factors=factors, focus=plan.focus) for s in range(seeds)]
        runs = [replay(t[early_count(t, least=plan.early, most=plan.early_max, window_s=window_s):], slots=slot_model(plan.concurrency, figures, c),
                       pruning=plan.pruning) for t in sims]
        spans = sorted(span(r) * scale for r in runs)
        bounds.append(k * fixed + quantile(spans, q))
    return replace(w, low_s=min(bounds[0], w.total_s), high_s=max(bounds[1], w.total_s))
