"""A search command's clock: when it started, its phases (the search, its repeats, its device
comparisons) and their trials, Ray's start, and the contention it runs at. The live ETA
(:class:`hpbench.dispatch.eta.SearchClock`) prices what is left on it; the history's record of
the search (:mod:`hpbench.dispatch.clock_record`) reads what it measured.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

from hpbench.cost import clock, history
from hpbench.cost.estimate import concurrency
from hpbench.dispatch.calibration_watch import CalibrationWatch
from hpbench.dispatch.repricing import Repricing, estimate_flops, estimate_plan
from hpbench.dispatch.timings import WorkerContention
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study

SEARCH = "search"
SAMPLE_EVERY_S = 0.5  # the trials' workers' CPU waits are sampled at most this often
PROBE_S = 0.3  # the contention probe when the search starts (the driver's thread, before Ray starts: 0.15 s of CPU)


class CommandClock:
    def __init__(self, *, study: Study, n_trials: int, started_at: float | None = None, history_dir: Path | None = None,
                 repeats: int = 0, early: bool = True, warm: bool = False) -> None:
        """``n_trials``: the search trials this run starts; ``started_at``: the command's start
        (epoch seconds; None: now, and the search is not a whole command); ``history_dir``: where
        this machine's history is read and this search's record appended (None: the prior, no record);
        ``early``: whether its first trials train in the helper while Ray starts (:mod:`hpbench.dispatch.early`)."""
        self.study = study
        self.early = early
        self.warm = warm  # it joins the warm local Ray runtime (hpbench.dispatch.local_ray): no Ray to start
        self.began = time.time()
        self.command = started_at is not None
        self.started_at = started_at if started_at is not None else self.began
        self.history_dir = history_dir
        self.records = history.at_this_priority(history.load(history_dir)) if history_dir is not None else []
        self.model = history.study_model(history_dir, study) if history_dir is not None else None  # its records' speed figures only
        self.repricing = Repricing(study=study, records=self.records, model=self.model, history_dir=history_dir)  # runner: .start(pool)
        self.figures = self.repricing.figures()
        self.cpus = clock.n_cpus()
        self.concurrency = concurrency(study, cpus=self.cpus)
        self.repeats = repeats
        self.threads = max(1, int(study.resources.cpus_per_trial))  # each trial's torch threads (hpbench.study.resolve)
        self.ray_started = True
        self.probe = self.raw_probe = 1.0  # a busy thread's contention before the search's own load (measure_probe)
        self.workers = WorkerContention()
        self.plan: Future[list[float]] | None = None  # predicted s/epoch of the study's sampled configurations
        self.step_flops: Future[float | None] | None = None  # ... and their FLOPs per step (the repeats' fusion, until the trials' are known)
        self.phase = SEARCH
        self.sizes: dict[str, int] = {SEARCH: n_trials}
        self.trials: dict[str, list[str]] = {SEARCH: []}
        self.phase_began: dict[str, float] = {SEARCH: self.began}
        self.measured: dict[str, float] = {}
        self.trace: list[list[float]] = []
        self.phases_end_at: float | None = None
        self.calibration = CalibrationWatch.of(study)  # none cached: the search's helper calibrates the cost model (the progress says so)
        self._sampled = 0.0

    def priced_plan(self) -> Future[list[float]] | None:  # the study's last estimate's, done already (dispatch.repricing)
        return estimate_plan(self.history_dir, model=self.model, study=self.study)

    def priced_flops(self) -> Future[float | None] | None:  # likewise its configurations' FLOPs per step
        return estimate_flops(self.history_dir, model=self.model, study=self.study)

    def _sampled_flops(self) -> float | None:
        f = self.step_flops
        return f.result() if f is not None and f.done() and f.exception() is None else None

    # -- the clock -------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.time() - self.started_at

    def joined(self, *, ray_started: bool, cpus: float | None, warm: bool = False) -> None:
        """Ray is up: whether this search started it or joined the warm local runtime, its CPUs."""
        self.ray_started = ray_started
        self.warm = warm
        if self.command and ray_started:  # the start-up's first measure (hpbench.cost.live.startup_drift), and the history's
            self.measured["ray_s"] = self.elapsed()
        if cpus:
            self.concurrency = concurrency(self.study, cpus=cpus)

    def measure_probe(self) -> None:
        """Measure the contention a busy thread meets before the search loads the machine, as
        ``hpbench estimate`` does: the ETA, and the figures the history normalizes, use it."""
        self.raw_probe = clock.probe_contention(PROBE_S)
        self.probe = history.blended_probe([self.raw_probe], self.records, now=time.time())

    def sample(self, store: ResultsStore) -> None:
        """Measure the contention the running trials' workers meet (recorded, for information)."""
        now = time.monotonic()
        if now - self._sampled >= SAMPLE_EVERY_S:
            self._sampled = now
            with contextlib.suppress(Exception):  # informational: never a reason to stop a search
                self.workers.sample(store)

    def contention(self) -> float:
        """The contention the model prices the search at: from the probe, as the estimate's and
        the history's (the trials' own measured slow-down enters through their measured speed)."""
        return clock.contention(probe=self.probe, own=self.concurrency * self.study.resources.cpus_per_trial, cpus=self.cpus)

    @contextlib.contextmanager
    def entering(self, phase: str) -> Iterator[Phase]:
        """A phase after the search (``repeats``, ``devices``), from its planning on: its trials
        (their number set with ``.size(n)`` once planned) and its measured seconds."""
        self.phase, began = phase, time.time()
        self.sizes[phase], self.trials[phase], self.phase_began[phase] = 0, [], began
        try:
            yield Phase(self, phase)
        finally:
            self.measured[f"{phase}_s"] = self.measured.get(f"{phase}_s", 0.0) + time.time() - began

    def phase_done(self, store: ResultsStore) -> None:
        """The search's Tuner returned: how long after its last trial ended (its tail)."""
        ends = [float(store.row(t).get("ended_at") or 0.0) for t in self.trials[SEARCH] if t in store]
        if ends and max(ends) > 0:
            self.measured["tail_s"] = max(0.0, time.time() - max(ends))

    def phases_done(self) -> None:  # the search, its replays and its test split are over: what follows is the final table
        self.phases_end_at = time.time()

    def close_predictions(self, close: Callable[[bool], None]) -> None:
        """``close(calibrating)``: the command's wait for its last cost predictions, after its phases.
        Behind a machine's first calibration (once, a minute or more) it is timed apart
        (``calibration_wait_s``) and left out of the final table's figure (``report_s``, from
        :attr:`phases_end_at`), which every later search and estimate here prices: a first
        quickstart recorded report_s = 140 s, and the next estimates priced their final table at
        2-5 min for a command of about a minute (bug hunt s47h1). A search that calibrated records it
        (0 when the calibration ended before the close), so that its record tells a final table
        free of the wait from one of a version that did not split it (:func:`hpbench.cost.learned.clean_report`)."""
        calibrating = self.calibration is not None and self.calibration.running()
        began = time.time()
        close(calibrating)
        if self.calibration is not None and self.phases_end_at is not None:
            self.measured["calibration_wait_s"] = waited = time.time() - began if calibrating else 0.0
            self.phases_end_at += waited

    def trial_started(self, trial_id: str) -> None:
        if not self.trials[self.phase] and self.phase != SEARCH:
            self.measured["replay_start_s"] = time.time() - self.phase_began[self.phase]
        self.trials[self.phase].append(trial_id)


class Phase:
    """A phase after the search, as :meth:`CommandClock.entering` hands it out."""

    def __init__(self, clock: CommandClock, name: str) -> None:
        self.clock, self.name = clock, name

    def size(self, n_trials: int) -> None:
        self.clock.sizes[self.name] = n_trials
