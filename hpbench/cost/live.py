"""The live view's part of the wall-time model (:mod:`hpbench.cost.walltime`): the seconds until
the trials running and left have ended (:func:`remaining_trials_s`), the per-trial set-up and
fresh workers' figures moved toward what the trials finished so far measured (:func:`overheads`),
and the command's own start-up measured against its figure (:func:`startup_drift`), which moves the
start-up still ahead (:func:`startup_left_s`) and the parts the cost model does not price
(:func:`drifted`). Pure functions; :mod:`hpbench.dispatch.eta` calls them."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from hpbench.cost.figures import Figures
from hpbench.cost.quality import Focus, ScoreLine, cost_scores, latent_score
from hpbench.cost.simulate import Pruning, SimTrial, extended_span, replay
from hpbench.cost.trial_plan import capped_epochs
from hpbench.cost.walltime import Factors, TrialPlan, drawn_epochs, sim_trials, slot_model, slowness


@dataclass(frozen=True, kw_only=True)
class Running:
    """A trial of the live search that has not ended yet."""

    plan: TrialPlan
    done: int  # epochs run
    running_for_s: float
    fresh: bool = False  # on a fresh worker: the first trial of its slot (its worker's start counts)


def remaining_trials_s(*, running: Sequence[Running], pending: Sequence[TrialPlan], concurrency: int, figures: Figures,
                       contention: float = 1.0, pruning: Pruning = Pruning(), recorded: Mapping[int, int] | None = None,
                       n_fresh: int = 0, seeds: int = 8, factors: Factors | None = None, focus: Focus = Focus(),
                       line: ScoreLine | None = None, running_scores: Sequence[float | None] | None = None,
                       recorded_scores: Mapping[int, Sequence[float]] | None = None, n_more: int = 0) -> float:
    """Seconds until the trials running and left have ended (the live view's part of the ETA).
    ``recorded``: how many trials (ended or running) already reached each rung / epoch, whose
    scores the pruning rule compares with; ``n_fresh``: slots that still need a fresh worker;
    ``factors``: the in-run correction, per regime (:func:`slowness`); ``focus``: how the searcher
    picks the trials left (:func:`hpbench.cost.quality.later`). The running and the pending trials'
    scores follow their cost at ``figures.quality_rho``, ranked among them all; or, once the search
    has a ``line`` (its scores against cost, :func:`hpbench.cost.quality.fit_score_line`), on the
    metric's own scale: the pending trials' from the line, the running ones' what they reached
    (``running_scores``, the line where None), and the rungs' the scores recorded there
    (``recorded_scores``) in place of ``recorded``'s counts. ``n_more``: trials left after ``pending``
    (the first of them, at most :data:`~hpbench.cost.simulate.MAX_REPLAYED`), priced at the replay's pace."""
    if not running and not pending:
        return 0.0
    c = max(1.0, contention)
    rho = figures.quality_rho
    u = cost_scores([r.plan.epoch_s for r in running] + [p.epoch_s for p in pending]) if rho else [0.0] * (len(running) + len(pending))
    reached = list(running_scores) if running_scores is not None else [None] * len(running)
    running_s = [r.plan.epoch_s * slowness(r.plan, figures=figures, c=c, factors=factors) for r in running]  # the same in every replay
    spans = []
    for s in range(seeds):
        rng = random.Random(s)
        trials: list[SimTrial] = []
        for r, epoch_s in zip(running, running_s, strict=True):
            ends = drawn_epochs(r.plan, rng, figures, done=r.done)
            trials.append(SimTrial(epoch_s=epoch_s, epochs=max(capped_epochs(ends, epoch_s=epoch_s, max_time_s=r.plan.max_time_s), r.done + 1),
                                   score=_running_score(r, line, reached[len(trials)],
                                                        latent_score(u=u[len(trials)], draw=rng.random(), rho=rho)),
                                   done=r.done, running_for_s=max(r.running_for_s, 1e-9), fresh=r.fresh))
        trials += sim_trials(pending, rng, figures=figures, c=c, factors=factors, focus=focus, u=u[len(running):], line=line)
        if line is not None and recorded_scores is not None:
            seen = {k: list(v) for k, v in recorded_scores.items()}
        else:
            seen = {k: [latent_score(u=0.0, draw=rng.random(), rho=0.0) for _ in range(n)] for k, n in (recorded or {}).items()}  # standard normal, as the scores
        run = replay(trials, slots=slot_model(concurrency, figures, c, n_fresh=n_fresh, corrected=bool(factors)), pruning=pruning, recorded=seen)
        spans.append(extended_span(run, len(trials) + max(0, n_more)))
    return statistics.fmean(spans)


# A live search's own early-stopped trials weigh as this many against the figures' best-epoch
# fractions where those are other studies' (the machine's last searches', else the prior's; the
# study's own earlier runs' weigh as their trials, hpbench.dispatch.timings.with_own_ends). 4 until
# session 27: a study's own trials tell where its trials end far better than other studies' do (over
# this machine's history, the variance of the per-study mean fraction was 0.061 between studies,
# 0.034 within one: the other studies' weigh as ~0.6 trial); replayed offline on 17 kept first
# searches of 14 held-out studies (benchmarks/ends_weight.py, the trials that ended by themselves
# after a quarter of the search, in predicted seconds), with completed trials' fractions kept
# unmoved (censored, hpbench.cost.ends): median |error| 32% at 4, 16% at 1, 11% at 0.5; 3, 13 and 13
# of 17 within 20%.
BEST_PRIOR_TRIALS = 1


F = TypeVar("F", float, tuple[float, float, float])  # a fraction, or a fraction with the learning rate and batch size it was seen at


def own_fractions(prior: Sequence[F], own: Sequence[F], *, weight: int = BEST_PRIOR_TRIALS) -> tuple[F, ...]:
    """Best-epoch fractions to draw from (uniformly, as :func:`hpbench.cost.walltime.sim_trials`
    does): a live search's ``own`` (its trials that ended by themselves) blended with ``prior`` as
    if the prior were ``weight`` trials: each of the ``k`` own fractions ``len(prior)`` times and the
    prior ``weight`` times, so that an own one is drawn with probability ``k / (k + weight)``. The
    other studies' fractions priced signals' GRUs (best at 0.7-0.9 of 25 epochs) as the digits
    studies' MLPs (0.1-0.4)."""
    if not own or not prior:
        return tuple(prior) or tuple(own)
    if len(own) <= SPREAD and len(prior) <= SPREAD:
        return tuple(own) * len(prior) + tuple(prior) * weight
    # a long search's hundreds of fractions times the history's: 20 quantiles of each, repeated in the same proportion
    o, p = _spread(own), _spread(prior)
    r = len(own) * len(p) / (weight * len(o))  # own's repeats per prior repeat
    a, b = (min(SPREAD_REPEATS, round(r)), 1) if r >= 1 else (1, min(SPREAD_REPEATS, max(1, round(1 / r))))
    return tuple(o) * a + tuple(p) * b


SPREAD = 20  # fractions kept of each side beyond this many (their quantiles)
SPREAD_REPEATS = 250  # ... each repeated at most this many times (the other side's share then at least 1 in 251)


def _spread(xs: Sequence[F], n: int = SPREAD) -> Sequence[F]:
    """``xs`` itself up to ``n`` values, else ``n`` of its quantiles (midpoints of ``n`` equal shares)."""
    if len(xs) <= n:
        return xs
    v = sorted(xs)
    return [v[min(len(v) - 1, int((i + 0.5) * len(v) / n))] for i in range(n)]


def _running_score(r: Running, line: ScoreLine | None, reached: float | None, latent: float) -> float:
    """A running trial's score: what it reached, or the line at its cost, on a live line's scale; its latent one without."""
    if line is None:
        return latent
    return reached if reached is not None else line.at(r.plan.epoch_s)


def repeat_choices(*, known: Sequence[tuple[TrialPlan, float | None]], pending: Sequence[TrialPlan], top: int,
                   line: ScoreLine | None, seeds: int = 8, ceiling: float | None = None) -> tuple[tuple[TrialPlan, ...], ...]:
    """Which configurations the repeats will re-run (the ``top`` best of the search when it ends),
    one choice per draw, while the search runs: the trials started so far with their best score yet
    (``known``; None: none yet) and the trials not started (``pending``), each of those without a
    score drawn from the search's ``line`` at its cost; the ``top`` highest of each draw. Without a
    line (fewer than 4 scores) a trial without a score is as likely to rank anywhere among the
    scored ones. Not the best so far alone:
    at 25% of ``studies/claims/batch_size.toml``'s grid every ended trial was a batch-16 one (3 s a
    trial), the search's best at the end a batch-256 one (0.3 s): its repeats priced at 16 put the
    live ETA at +34-35% (session 13's quiet runs). A drawn score stops at ``ceiling``, the best the
    metric can take (higher better; :func:`hpbench.study.metrics.best_value`), and a tie goes to
    the trial that came first, as the repeats choose: recurrent's trials reach accuracy 1.0 and
    its first one to reach it is re-run."""
    cands = [(p, v) for p, v in known] + [(p, None) for p in pending]
    if top < 1 or not cands:
        return ()
    scored = sorted(v for _, v in cands if v is not None)
    quantile = {v: (i + 1) / (len(scored) + 1) for i, v in reversed(list(enumerate(scored)))}  # equal scores: the lowest rank's
    out = []
    for s in range(seeds):
        rng = random.Random(1_000 + s)
        if line is None:  # the scored ones in their order, each unscored one anywhere among them
            scores = [quantile[v] if v is not None else rng.random() for _, v in cands]
        else:
            drawn = (line.at(p.epoch_s, draw=rng.random()) for p, _ in cands)
            scores = [v if v is not None else min(d, math.inf if ceiling is None else ceiling) for (_, v), d in zip(cands, drawn, strict=True)]
        order = sorted(range(len(cands)), key=lambda i: -scores[i])  # stable: the first of equals first
        out.append(tuple(cands[i][0] for i in order[:top]))
    return tuple(out)


def pending_mean(values: Sequence[float | None], *, started: int, in_order: bool) -> float | None:
    """The learning rate (or batch size) the trials not started yet stand at, as early stopping
    reads it (:mod:`hpbench.cost.ends`): the geometric mean of the sampled configurations'
    ``values`` (None where unknown: a learning rate the study does not search); a grid's
    (``in_order``) past the ``started`` first, which it runs in that order."""
    left = values[started:] if in_order and len(values) > started else values
    known = [x for x in left if x]
    return math.exp(statistics.fmean(math.log(x) for x in known)) if known else None


@dataclass(frozen=True, kw_only=True)
class Finished:
    """A trial of the live search that has ended, as :func:`overheads` reads it."""

    train_s: float  # measured: its epochs
    wall_s: float  # measured: start to end (set-up, reports, a fresh worker's start included)
    fresh: bool = False  # the first trial on its worker


def overheads(figures: Figures, *, finished: Sequence[Finished], contention: float = 1.0, weight: float = 2.0,
              fresh_weight: float = 1.0) -> Figures:
    """The figures' per-trial set-up and a fresh worker's start, moved toward what the trials
    finished so far measured beyond their epochs (``n / (n + weight)`` of the way after ``n``
    trials that measure them; ``fresh_weight`` for a fresh worker: the slots' first trials start
    together, and a finished one's start told its sibling's within 3-21% (median ~9%, 8 studies
    of benchmarks/eta.py, 00:25 UTC) where the history's figure was off by 12.9% (median over the
    searches recorded here): halfway after one). Not a correction of the cost model: that is
    :mod:`hpbench.cost.correct`'s, one for the dispatcher and the ETA (:func:`slowness`)."""
    c = max(1.0, contention)

    def blend(old: float, new: list[float], w: float) -> float:
        if not new:
            return old
        k = len(new) / (len(new) + w)
        return (1 - k) * old + k * statistics.median(new)

    ok = [f for f in finished if f.train_s > 0]
    setup = blend(figures.setup_s, [max(0.0, f.wall_s - f.train_s) / c for f in ok if not f.fresh], weight)
    fresh = blend(figures.fresh_worker_s, [max(0.0, f.wall_s - f.train_s - figures.at("setup_s", c)) / c for f in ok if f.fresh], fresh_weight)
    return replace(figures, setup_s=setup, fresh_worker_s=fresh)


# The start-up's ratio is read within these bounds (one odd start-up, a swap-in or a cluster's, is not the machine's pace)
DRIFT_BOUNDS = (0.5, 2.0)
# The parts beyond the start-up move by the ratio's square root: over the 54 commands recorded here at nice 0 the final
# table and the exit followed the start-up with a log-log slope of 0.64; scaled by the ratio's power 0 / 0.5 / 1 they were
# off by 14.6% / 11.4% / 17.1% (median)
DRIFT_POWER = 0.5
# the figures of the parts the cost model does not price, which a slower (or faster) command moves (not the start-up
# itself: :func:`startup_left_s` takes the whole ratio; not the epochs nor the first epoch's extra, a ratio to the cost
# model's predictions: the in-run correction and the trials' contention price them)
OVERHEADS = ("fresh_worker_s", "setup_s", "turnover_s", "tail_s", "replay_start_s", "fused_start_s", "test_s", "test_cold_s", "report_s",
             "report_small_s", "exit_s")


def startup_drift(*, startup_s: float, elapsed_s: float, first_trial_s: float | None = None, ray_s: float = 0.0,
                  ray_at_s: float | None = None) -> float:
    """This command's start-up, measured over predicted, as far as it is known (within
    :data:`DRIFT_BOUNDS`): Tune's first trial's start (``first_trial_s``, s from the command's
    start) over the start-up figure ``startup_s`` once it started; before that, Ray's start
    (``ray_at_s``) over its figure ``ray_s`` once Ray is up (0: none; the clock passes this
    machine's, else the start-up figure's share: :meth:`~hpbench.cost.figures.Figures.ray_up`),
    else 1 -- and never less than the seconds already spent over the start-up figure, since it has
    not ended. The quiet run of session 8 read its ETA at 25% inside the start-up in 5 studies
    (the early trials' ends), past the figure in 3 (quickstart 8.6 s of a 7.8-s figure; Tune's
    first trial came at 11.2 s): the start-up left read 0 s and the parts after it unmoved."""
    if startup_s <= 0:
        return 1.0
    if first_trial_s is not None and first_trial_s > 0:
        r = first_trial_s / startup_s
    else:
        r = max(ray_at_s / ray_s if ray_at_s is not None and ray_s > 0 else 1.0, elapsed_s / startup_s)
    lo, hi = DRIFT_BOUNDS
    return min(hi, max(lo, r))


def startup_left_s(*, startup_s: float, elapsed_s: float, drift: float) -> float:
    """The start-up still ahead before Tune's first trial: the figure at this command's ratio
    (:func:`startup_drift`) less what has passed. With Ray's start as the measure, the part after
    Ray's start scales as Ray's did: ``ray_at + (startup - ray) x ray_at / ray`` is ``startup x
    ray_at / ray``."""
    return max(0.0, startup_s * drift - elapsed_s)


def drifted(figures: Figures, drift: float, *, power: float = DRIFT_POWER) -> Figures:
    """``figures`` with the parts the cost model does not price (:data:`OVERHEADS`) moved by
    ``drift ** power``: a command whose start-up ran slower than its figure meets a slower machine
    in its workers' starts, set-ups, test split, final table and exit too."""
    k = max(0.0, drift) ** power
    names = {f.name for f in fields(figures)}
    return replace(figures, **{n: float(getattr(figures, n)) * k for n in OVERHEADS if n in names})
