"""The machine's figures for the wall-time model (:mod:`hpbench.cost.walltime`): what searches on
this machine cost beyond their epochs, learnt from its history (:mod:`hpbench.cost.history`) or,
before any, a plain prior."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hpbench.cost.ends import PRIOR_BATCH
from hpbench.cost.quality import PRIOR_RHO

# The best epoch anywhere in the run, uniformly (the prior until session 20).
UNIFORM = tuple((i + 0.5) / 20 for i in range(20))
# The prior for where an early-stopped trial's best epoch falls (best epoch / max_epochs), until
# searches ran here: the 20 quantiles of the five studies' fractions in the 51 searches the other
# priors come from, each study weighing alike (benchmarks/priors.py: quickstart 0.26 on average,
# early_stopping 0.30, eta-repeats 0.28, digits_cnn 0.12, signals 0.62; mean 0.32). With uniform's
# (mean 0.5), six held-out studies run as a machine's first search had their trials and turnover
# priced 37.3 s for 26.0 s run, 3 of 6 whole commands within 25%; with this, 33.0 s for 27.9 s and
# 5 of 6 (benchmarks/eta.py --unseen --no-history, session 20). Their own fractions averaged 0.07
# to 1.0 per study (median 0.37).
PRIOR_BEST = (0.10, 0.10, 0.10, 0.13, 0.15, 0.15, 0.17, 0.17, 0.18, 0.20, 0.20, 0.20, 0.37, 0.40, 0.40, 0.48, 0.56, 0.64, 0.80, 0.92)
PRIOR = "prior"
OF_THIS_STUDY = "of this study"  # how a figure's source ends where the study's own earlier runs set it (hpbench.cost.learned)
# A search without early trials starts in this share of the start-up of one with them: the helper
# trains no trial beside Ray's start (1 or 2 CPU-s of torch on the 2 cores Ray starts on). Measured
# here: the 16 one-trial commands of eight quiet benchmarks/eta.py runs (sessions 12-15), each over
# the median start-up of the same run's searches of 4 or more trials within 10 minutes: median
# 0.89 (quartiles 0.78-0.95); 8.1 s against 9.6 s over all 156 commands recorded.
SOLO_STARTUP_RATIO = 0.89
# A search that joins the warm local Ray runtime (hpbench ray start: hpbench.dispatch.local_ray) starts
# no Ray: its start-up, to Tune's first trial, in this share of a fresh one's until such searches ran
# here (startup_warm_s). Measured here (session 41, benchmarks/race.py, seeds 30-37 interleaved with fresh
# searches, load 0.9-2.8): Tune's first trial at 7.2 / 6.7 / 6.6 s from the command's start on digits /
# tabular / signals against 9.6 / 9.9 / 8.9 s fresh (medians of 8 each), 0.75 / 0.68 / 0.74.
WARM_STARTUP_RATIO = 0.74
# The final table of a search of fewer than IMPORTANCE_MIN_TRIALS trials, which scores no parameter
# importances (no fANOVA, no scikit-learn import), in this share of a larger search's. Measured here:
# the 42 commands of eta-tiny, transfer_pretrain and distill_teacher (1-2 trials, no repeats) in
# fourteen quiet benchmarks/eta.py runs (sessions 11-17), each over the median final table of the same
# run's searches of 3 or more trials: median 0.76 (0.53-1.09); their final tables 0.99-1.82 s
# against run medians of 1.30-1.97 s. One figure for both priced the 1-trial studies' live ETA at 25%
# (the final table and the exit were all that was left) 18-24% over (session 17).
SMALL_REPORT_RATIO = 0.76
# The report's matters section scores parameter importances (Optuna's fANOVA, which imports scikit-learn)
# from this many completed trials of the study (hpbench.report.matters reads it here: cost never imports report)
IMPORTANCE_MIN_TRIALS = 3
# The pre-flight's data loading and checks (hpbench.preflight.run.start: in the driver, before Ray starts) of
# the searches the start-up prior comes from: their studies' data measured again in fresh processes, each study
# counted as often as it has records among them (benchmarks/priors.py --data): median 0.049 s (the quickstart's
# built-in digits 0.05 s, 22 of the 47; signals 0.10 s; the GAN's 0). A user's loader that imports scikit-learn
# took 1.4 s (the race's studies, the held-out wide table): that much more start-up.
DATA_PRIOR_S = 0.05
# A study's data cannot make the start-up less than this share of its figure (a figure learned from large data).
MIN_STARTUP_SHARE = 0.5
# Ray up (started by the command) in this share of the start-up to Tune's first trial, where this machine has
# not measured it yet. Measured here: the start-up over Ray's start, the medians per run of fourteen quiet
# benchmarks/eta.py runs (sessions 11-17, 17 commands each): 1.26-1.43, median 1.32, while the runs' start-ups
# moved from 7.6 to 10.4 s. Without it a machine's very first command could not read its slower start from
# Ray's (session 18's freshly set-up machine: Ray up at 9.2-9.5 s, Tune's first trial at 12.5-14.3 s).
STARTUP_PER_RAY = 1.32


@dataclass(frozen=True, kw_only=True)
class Figures:
    """What searches on this machine cost beyond their epochs, on an otherwise idle machine
    (each measured figure divided by the contention it was measured under).

    The prior, used until a search has run here, is the medians of the current code's quiet
    searches on the 2-core development machine: ``benchmarks/priors.py`` over the 51 searches of
    sessions 18-19 (2026-12-03 19:16 to 12-04 03:08 UTC, every one under exclusive.sh:
    ``eta.py`` runs with and without history, ``startup.py``'s quickstarts;
    ``results/benchmarks/priors-searches.json``, ``priors.json``): the command's start-up to
    Tune's first trial 11.2 s (P10-P90 9.2-14.1 s; the first command of a machine with no history
    measured 14.5 and 17.5 s in sessions 18-19), a fresh worker 2.2 s (the 17 of those searches
    run after session 19's workers stopped importing TorchDynamo, 2026-12-04 01:55 UTC: P10-P90
    1.7-2.8 s, where the 24 before it read 4.3 s; all 51 together 2.9 s, which priced the held-out
    studies' first searches' turnover at 3.0 s against 2.0-2.4 s with their history), a later trial's set-up
    0.027 s, a replay phase's start to its first trial 2.0 s where its runs train one by one and
    5.2 s where they train as fused groups (their members' models built and stacked first), the
    final table 2.1 s and Ray's shutdown 1.37 s; the test split's evaluation where it is the
    driver's first use of torch (``test_cold_s``: it imports torch and hpbench's trainer first)
    3.1 s (two searches: signals 3.8 s, digits_cnn 2.4 s). The held-out studies
    (``benchmarks/eta.py --unseen``, session 20) were run after and are not among them. The
    earlier prior (8.0 / 2.3 / 0.071 / 1.6 / 4.5 / 1.35 / 1.36 / 2.0 s) was measured on session 11-14's code,
    whose start-up and final table were shorter: it priced a new machine's first command's
    start-up 31-54% short in sessions 18-20. The test split after the repeats: 0.1 s (``test_s``:
    their grouping counted FLOPs with torch in the driver; eta-repeats 0.04-0.17 s); a Tuner's
    return after its last trial: 0 (measured 0.05 s).
    A search that trains no early trials in the helper while Ray starts (one of fewer than 4 trials,
    ``--no-early-trials``, a cluster's) starts sooner: its own figure once such searches ran here
    (``startup_solo_s``), the start-up figure x :data:`SOLO_STARTUP_RATIO` before."""

    startup_s: float = 11.2  # the command's start to Tune's first trial, early trials training in the helper meanwhile ...
    data_s: float = DATA_PRIOR_S  # ... of which the pre-flight's data loading and checks (Ray starts after them)
    startup_solo_s: float = 0.0  # ... and where none do (0: none measured here: startup_s x SOLO_STARTUP_RATIO)
    startup_warm_s: float = 0.0  # ... and where the search joins the warm runtime (0: none measured here: startup_s x WARM_STARTUP_RATIO)
    ray_s: float = 0.0  # Ray up (started or joined), from the command's start; 0: not measured here yet (:meth:`ray_up`)
    fresh_worker_s: float = 2.2
    setup_s: float = 0.027
    turnover_s: float = 0.0
    tail_s: float = 0.0  # a Tuner's return after its last trial ended
    speed: float = 1.0  # measured / predicted seconds per epoch, after the first (the cost model's bias here)
    first_epoch_s: float = 0.0  # a trial's first epoch beyond the others (lazy initialization, optimizer state, cold caches)
    replay_start_s: float = 2.0  # a replay phase's Tuner, to its first trial's start (its runs unfused) ...
    fused_start_s: float = 5.2  # ... and to its first fused group's (hpbench.cost.fusion)
    test_s: float = 0.1  # the test split, evaluated in the driver once torch is loaded there (after repeats) ...
    test_cold_s: float = 3.1  # ... and where it is the driver's first use of torch
    report_s: float = 2.1  # the final table, with the parameter importances ...
    report_small_s: float = 0.0  # ... and without (a search of fewer trials; 0: none measured here: report_s x SMALL_REPORT_RATIO)
    exit_s: float = 1.37
    best_fractions: tuple[float, ...] = PRIOR_BEST  # early-stopped trials' best epoch / max_epochs
    # ... the learning rate each was seen at (0: unknown), where they are the study's own (its earlier runs', the live
    # search's trials): a trial at another rate draws them moved to its own (hpbench.cost.ends.lr_fraction); empty: none known
    best_lrs: tuple[float, ...] = ()
    # ... and the batch size each was seen at (rows per step; 0: unknown): a trial at another batch size draws them moved
    # to its own (hpbench.cost.ends.batch_fraction); the prior's came from trials at about PRIOR_BATCH; empty: none known
    best_batches: tuple[float, ...] = (PRIOR_BATCH,) * len(PRIOR_BEST)
    best_own: bool = False  # ... and they are the study's own earlier runs' (a live search weighs them as its own trials)
    # where a trial without early stopping ends, epochs / max_epochs: its task's own stop (a GAN's collapse, an agent
    # solving its environment, divergence) or max_epochs; empty: at max_epochs (a live search's own trials fill it)
    end_fractions: tuple[float, ...] = ()
    spread: float = 0.25  # relative uncertainty of the figures
    sources: Mapping[str, str] = field(default_factory=dict)  # figure -> where it came from (default: the prior)
    speed_free: bool = False  # the speed was learned from contention-free seconds (the epochs' CPU time: hpbench.cost.history)
    trials_contention: float | None = None  # wall / contention-free seconds of the trials: earlier runs', then the live search's
    family_speeds: Mapping[str, float] = field(default_factory=dict)  # a searched family's own speed (its trials' TrialPlan.family)
    quality_rho: float = PRIOR_RHO  # rank correlation of a configuration's cost and its metric (hpbench.cost.quality)
    # the span of the study's own Tune trials (first start to last end) in its latest runs here, each over its contention:
    # the estimate's search part moves toward them (hpbench.cost.own_runs); empty: the study has not run here
    study_search_s: tuple[float, ...] = ()

    def startup(self, *, early: bool, contention: float, data_s: float | None = None, warm: bool = False) -> float:
        """The start-up figure at ``contention`` of a search that trains early trials while Ray
        starts (``early``) or of one that trains none, or of one that joins the warm local runtime
        (``warm``); ``data_s``: the study's own data loading and checks (the pre-flight's, measured
        by the estimate or the search itself, at this contention), in place of the searches' the
        figure came from (:attr:`data_s`): Ray starts after them."""
        base = self._kind("startup_s", *self._startup_kind(early=early, warm=warm), contention)
        if data_s is None:
            return base
        return max(MIN_STARTUP_SHARE * base, base + data_s - self.at("data_s", contention))

    def startup_source(self, *, early: bool, warm: bool = False) -> str:
        """Where :meth:`startup`'s figure came from."""
        return self._kind_source("startup_s", *self._startup_kind(early=early, warm=warm), "on the warm runtime" if warm else "without early trials")

    @staticmethod
    def _startup_kind(*, early: bool, warm: bool) -> tuple[str | None, float]:
        if warm:
            return "startup_warm_s", WARM_STARTUP_RATIO
        return (None if early else "startup_solo_s"), SOLO_STARTUP_RATIO

    def ray_up(self, *, contention: float) -> float:
        """Ray's start at ``contention``: as measured here, else the start-up figure over :data:`STARTUP_PER_RAY`."""
        return self.at("ray_s", contention) if self.ray_s > 0 else self.at("startup_s", contention) / STARTUP_PER_RAY

    def report(self, *, importance: bool, contention: float) -> float:
        """The final table's figure at ``contention``, where it scores the parameter importances
        (``importance``: a search of :data:`IMPORTANCE_MIN_TRIALS` trials or more) or not."""
        return self._kind("report_s", None if importance else "report_small_s", SMALL_REPORT_RATIO, contention)

    def report_source(self, *, importance: bool) -> str:
        """Where :meth:`report`'s figure came from."""
        return self._kind_source("report_s", None if importance else "report_small_s", SMALL_REPORT_RATIO, "without importances")

    def _kind(self, name: str, other: str | None, ratio: float, contention: float) -> float:
        """Figure ``name``, or the figure ``other`` of a search of another kind: its own where measured
        (> 0), else ``name``'s x ``ratio``."""
        if other is None:
            return self.at(name, contention)
        return self.at(other, contention) if getattr(self, other) > 0 else self.at(name, contention) * ratio

    def _kind_source(self, name: str, other: str | None, ratio: float, why: str) -> str:
        if other is None or getattr(self, other) > 0:
            return self.source(other or name)
        return f"{self.source(name)}, x {ratio} {why}"

    def source(self, name: str) -> str:
        return self.sources.get(name, PRIOR)

    def own(self, name: str) -> bool:
        """Whether figure ``name`` is the study's own: learned from its earlier runs here."""
        return self.source(name).endswith(OF_THIS_STUDY)

    def at(self, name: str, contention: float) -> float:
        """Figure ``name`` at ``contention``: proportional to it; a contention-free speed at the
        contention the live search's trials measured, once they have."""
        return self.speed_of(None, contention) if name == "speed" else self._at(float(getattr(self, name)), name, contention)

    def speed_of(self, family: str | None, contention: float) -> float:
        """The speed figure of ``family``'s trials (the study-wide one where it has none), :meth:`at` ``contention``."""
        return self._at(self.family_speeds.get(family, self.speed) if family else self.speed, "speed", contention)

    def _at(self, value: float, name: str, contention: float) -> float:
        if name in ("speed", "first_epoch_s") and self.speed_free and self.trials_contention is not None:
            return value * max(1.0, self.trials_contention)
        return value * max(1.0, contention)
