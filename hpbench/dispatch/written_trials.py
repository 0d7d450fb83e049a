"""What Ray Tune keeps of a trial that has ended, let go once hpbench's tables hold it (issue 20 §4,
the driver's memory).

Tune's controller keeps every ``Trial`` of a run until ``fit()`` returns: in its list of trials,
its set of stopped (or failed) trials and its set of trials to put in the experiment snapshot,
which hpbench takes only at the end. Each Trial holds its last result, its resources' placement
group factory, the experiment spec copied for it, its storage context, checkpoint manager and run
metadata: ~7 KB a trial by allocation site (``benchmarks/driver_objects.py --tracemalloc``), the
larger part of the driver's growth per trial (ray-project/ray#64231: the driver's memory grows
linearly with the trials of a run). hpbench resumes from its own tables and ``optuna.db``, never
from Tune's snapshot, and never reads the ``ResultGrid`` that ``fit()`` returns, so a trial the
recorder has written is of no further use to Tune once nothing of Tune's still acts on it.

Two steps: :func:`trim` (the recorder, as a trial ends) drops what Tune keeps inside the Trial;
:class:`WrittenTrials` (noted by the recorder, swept by the scheduler, the one hook of Tune's that
is handed the controller) drops the Trial from the controller. Both read Tune's private state:
where an attribute they expect is missing (another Ray version), they leave Tune as it is. Tune's
asynchronous HyperBand (``asha``, the default) keeps trial ids only; its synchronous HyperBand
(``hyperband``) and median stopping rule (``median``) keep references of their own to every
Trial (the median rule with every result it saw, which its rule reads), left as they are.
"""

from __future__ import annotations

from typing import Any

# Tune's controller attributes that hold ended trials, and those that say a trial is still acted on
_HOLDERS = ("_trials", "_stopped_trials", "_failed_trials", "_trials_to_cache", "_trial_metadata")
_ACTING = ("_live_trials", "_trial_to_actor", "_staged_trials", "_cached_trial_decisions", "_queued_trial_decisions", "_stop_queue")


def trim(trial: Any) -> None:
    """Drop what Tune keeps inside an ended Trial that hpbench's tables hold already:

    * the running statistics of its metrics (per metric: min, max, mean, last-5 and last-10
      windows: ~50 KB a trial with hpbench's ~17 metrics; measured: 34 deques and ~30 dicts per
      trial). hpbench keeps every value in its own tables and never asks Tune for a best trial,
      their one reader;
    * the reply to the ``get_auto_filled_metrics`` call Tune sends each trial's actor when the
      trial starts: a ``ray.ObjectRef`` the Trial keeps, read only while the trial has reported
      nothing (``Trial.last_result``), which also keeps the reply in the driver's object store.
      A trial that reported keeps its last result, so the reference is never read again."""
    metadata = getattr(trial, "run_metadata", None)
    for name in ("metric_analysis", "metric_n_steps"):
        held = getattr(metadata, name, None)
        if isinstance(held, dict):
            held.clear()
    if getattr(metadata, "last_result", None) and hasattr(trial, "_default_result_or_future"):
        trial._default_result_or_future = None


class WrittenTrials:
    """Trials the recorder has written (:meth:`note`), dropped from Tune's controller at the
    scheduler's next choice of a trial to run (:meth:`sweep`, wired by :func:`forget_written`) once
    Tune no longer acts on them (not live, no actor, no decision or stop queued)."""

    def __init__(self) -> None:
        self.waiting: list[Any] = []  # noted, not dropped yet
        self.dropped = 0

    def note(self, trial: Any) -> None:
        self.waiting.append(trial)

    def sweep(self, controller: Any) -> int:
        """Drop the noted trials Tune is done with from ``controller`` (Tune's ``TuneController``
        or the wrapper it hands its schedulers); the number dropped."""
        c = getattr(controller, "_tune_controller", controller)
        if not self.waiting or not all(hasattr(c, name) for name in _HOLDERS + _ACTING):
            return 0
        from ray.tune.experiment import Trial

        done = [t for t in self.waiting if t.status in (Trial.TERMINATED, Trial.ERROR) and _released(c, t)]
        if not done:
            return 0
        gone = {id(t) for t in done}
        self.waiting = [t for t in self.waiting if id(t) not in gone]
        c._trials[:] = [t for t in c._trials if id(t) not in gone]  # in place: Tune hands this list to its callbacks
        for t in done:
            c._stopped_trials.discard(t)
            c._failed_trials.discard(t)
            c._trials_to_cache.discard(t)
            c._trial_metadata.pop(t.trial_id, None)
        self.dropped += len(done)
        return len(done)


def _released(c: Any, trial: Any) -> bool:
    """Tune holds the ended ``trial`` in nothing it still acts on."""
    return (trial not in c._live_trials and trial not in c._trial_to_actor
            and trial not in c._staged_trials and trial not in c._stop_queue
            and trial.trial_id not in c._cached_trial_decisions and trial.trial_id not in c._queued_trial_decisions)


def forget_written(scheduler: Any, written: WrittenTrials) -> Any:
    """``scheduler`` sweeping ``written`` each time Tune asks it for a trial to run (at least once
    per trial started); returned, changed in place."""
    choose = scheduler.choose_trial_to_run

    def choose_trial_to_run(tune_controller: Any) -> Any:
        written.sweep(tune_controller)
        return choose(tune_controller)

    scheduler.choose_trial_to_run = choose_trial_to_run
    return scheduler
