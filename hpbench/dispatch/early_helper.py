"""What the helper process runs for the early trials (:mod:`hpbench.dispatch.early`): their
training (:func:`run_early_trial`), the trainer's machinery loaded beforehand
(:func:`warm_up_trainer`), and successive halving among them before Ray Tune's scheduler exists
(:class:`EarlyRungs`): the same rungs and the same rule as the study's ASHA, applied in the
helper while an early trial trains; in the driver, an ended early trial's reports told to Tune's
scheduler once it exists (:func:`replay_into`), and the claims that decide whether a queued
early trial still starts after a Ctrl-C (:func:`claim`).

Without the rungs an early trial ran all ``max_epochs`` (early stopping aside) while Tune's own
trials were pruned at the first rung: on the race's digits study (30 epochs) the helper spent its
seconds before Ray's first trial on one or two configurations instead of dozens.

The rule is Ray's ``ASHAScheduler`` (``_Bracket.cutoff``/``on_result``): at a rung epoch, a trial
whose objective (the running best of the study metric) is below the ``1 - 1/reduction_factor``
quantile of the objectives recorded at that rung so far stops; the first trial to reach a rung
always goes on. The rungs are :func:`hpbench.dispatch.schedulers.asha_rungs` below
``max_epochs``. ``asha-cost``'s rungs are in predicted seconds, which the helper has not priced
yet: its early trials use the epoch rungs. ``asha-rank``'s rungs judge while the early trials that
finished say they rank (:class:`hpbench.rung_rank.RungEvidence`). Other schedulers (``none``, ``median``, a plugin's)
prune nothing here.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpbench.dispatch.schedulers import asha_rungs
from hpbench.results.status import is_search_trial
from hpbench.rung_rank import RungEvidence
from hpbench.strategies import scheduler_traits
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study


class Pruned(Exception):
    """Raised from an early trial's report: it stops at this rung (its rows so far are kept)."""


class Interrupted(Exception):
    """Raised from an early trial's report once the driver asked the early trials to stop (Ctrl-C:
    :func:`request_stop`): its rows so far are kept, the trial is recorded interrupted."""


STOP_FILE = "stop-early-trials"  # in the search's incoming directory: its presence stops every early trial at its next epoch
CLAIM_PREFIX = "claim-"  # + the trial's id, in the incoming directory: whoever creates it first (helper or driver) decides whether it runs


def claim(path: str) -> bool:
    """Create ``path`` if nobody has: True for the first caller only (``O_EXCL``). The helper claims
    an early trial as it begins it; the driver, at a Ctrl-C, claims those still queued behind other
    calls in the helper, which then never start (before, one waited there behind the cost
    predictions and the exit waited for it: 6.5-13.7 s in 3 of 15 race runs, session 7)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def request_stop(incoming: str) -> str:
    """In the driver (Ctrl-C): ask the helper's running early trial to stop after its current
    epoch (the helper ignores SIGINT). Returns the file to remove once the trials are recorded."""
    os.makedirs(incoming, exist_ok=True)
    path = os.path.join(incoming, STOP_FILE)
    with open(path, "w"):
        pass
    return path


@dataclass(frozen=True, kw_only=True)
class EarlyRungs:
    """The rung epochs, the reduction factor and what the early trials that ended recorded there
    (the objective, sign-adjusted so that larger is better). Picklable: sent with each early
    trial to the helper."""

    epochs: frozenset[int]
    reduction_factor: int
    sign: float  # +1 for mode "max", -1 for "min"
    recorded: dict[int, tuple[float, ...]] = field(default_factory=dict)
    evidence: RungEvidence | None = None  # asha-rank's: the rungs judge while the finished trials say they rank

    @classmethod
    def of(cls, study: Study) -> EarlyRungs:
        s = study.settings
        max_t = study.max_epochs
        epochs: frozenset[int] = frozenset()
        traits = scheduler_traits(s.scheduler)
        if traits.rungs is not None:  # asha-cost's rungs in seconds: the epoch rungs here (not priced yet)
            rungs = asha_rungs(grace_period=s.grace_period, reduction_factor=s.reduction_factor, max_t=max_t)
            epochs = frozenset(e for e in rungs if e < max_t)  # at max_t the trial ends anyway
        evidence = RungEvidence(rungs=epochs) if traits.evidence else None
        return cls(epochs=epochs, reduction_factor=s.reduction_factor, sign=1.0 if s.mode == "max" else -1.0, evidence=evidence)

    def keep(self, epoch: int, objective: float) -> bool:
        """Whether a trial with this objective at ``epoch`` goes on (ASHA's rule; asha-rank's rungs
        pass every trial while they do not rank the finished ones)."""
        seen = self.recorded.get(epoch)
        if epoch not in self.epochs or not seen or (self.evidence is not None and not self.evidence.judges(epoch)):
            return True
        cutoff = float(np.nanpercentile(np.asarray(seen, dtype=float), (1.0 - 1.0 / self.reduction_factor) * 100.0))
        return not self.sign * objective < cutoff

    def with_value(self, epoch: int, value: float) -> EarlyRungs:
        """These rungs with one trial's objective ``value`` recorded at ``epoch`` (a rung epoch;
        any other leaves them as they are): a fused sibling's, for the siblings judged after it."""
        if epoch not in self.epochs or not math.isfinite(value):
            return self
        recorded = {**self.recorded, epoch: (*self.recorded.get(epoch, ()), self.sign * value)}
        return EarlyRungs(epochs=self.epochs, reduction_factor=self.reduction_factor, sign=self.sign, recorded=recorded, evidence=self.evidence)

    def with_trial(self, best: list[tuple[int, float]], *, finished: bool = False) -> EarlyRungs:
        """These rungs with an ended trial's objectives recorded at the rung epochs it reached
        (``best``: (epoch, objective) per epoch); ``finished``: the trainer ended it (not a rung),
        so it is evidence for asha-rank's rungs too."""
        recorded = dict(self.recorded)
        for epoch, value in best:
            if epoch in self.epochs and math.isfinite(value):
                recorded[epoch] = (*recorded.get(epoch, ()), self.sign * value)
        evidence = self.evidence
        if evidence is not None and finished and best:
            evidence = evidence.with_finished({e: self.sign * v for e, v in best if e in self.epochs}, self.sign * best[-1][1])
        return EarlyRungs(epochs=self.epochs, reduction_factor=self.reduction_factor, sign=self.sign, recorded=recorded, evidence=evidence)


def warm_up_trainer() -> None:
    """In the helper, right after the pre-flight's networks: import the trainer and build one
    optimizer, while the driver sets the search up, before the first early trial needs them.
    The optimizers import no TorchDynamo (:mod:`hpbench.train.eager`: ~1.4 s of CPU here when
    this built torch's plain SGD)."""
    import torch

    import hpbench.train.trainer  # noqa: F401  (the import is the point)
    from hpbench.train.optimizers import build_optimizer

    build_optimizer("sgd", [torch.zeros(1, requires_grad=True)], lr=0.1, params={})


def run_early_trial(study: Study, params: dict[str, Any], incoming: str, *, data: tuple[Any, Any] | None = None,
                    rungs: EarlyRungs | None = None, claim_file: str | None = None) -> dict[str, Any]:
    """In the helper: train one configuration as a Tune trial would (the study's seed, the
    trainer's rows); its final weights are left in ``incoming`` for the driver to move.
    ``data``: the study's data as the driver prepared it (:func:`hpbench.dispatch.trainable.study_data`);
    ``rungs``: where it stops early (:mod:`hpbench.dispatch.early_rungs`): a pruned trial keeps its
    rows, no weights and no stop reason (the store calls it pruned, as a trial Tune's scheduler stopped);
    once the driver asked (:func:`request_stop`) it stops after its epoch, ``interrupted``, its rows kept.
    ``claim_file``: claimed (:func:`claim`) before anything else; the driver's already (a Ctrl-C came
    while this call waited in the helper's queue): it does not start, ``interrupted`` with no rows."""
    if claim_file is not None and not claim(claim_file):
        now = time.time()
        return {"rows": [], "error": None, "weights_file": None, "interrupted": True, "started_at": now, "ended_at": now}
    from hpbench.train import weights
    from hpbench.train.trainer import train

    if data is not None:
        from hpbench.data.prepare import prime

        prime(*data)
    rows: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    sign = 1.0 if study.settings.mode == "max" else -1.0
    best: list[float] = []
    stop_file = os.path.join(incoming, STOP_FILE)
    started = time.time()

    def on_state(state: dict[str, Any]) -> None:
        if "final_model" in state:
            final["model"] = state["final_model"]

    def report(row: dict[str, Any]) -> None:
        rows.append(dict(row))
        if os.path.exists(stop_file):  # ~2 us an epoch
            raise Interrupted
        v = row.get(study.settings.metric)
        if isinstance(v, (int, float)) and v == v and (not best or sign * v > sign * best[0]):
            best[:] = [float(v)]
        if rungs is not None and best and "stop_reason" not in row and not rungs.keep(int(row["epoch"]), best[0]):
            raise Pruned

    if os.path.exists(stop_file):  # asked to stop before it began (it waited behind other calls)
        return {"rows": [], "error": None, "weights_file": None, "interrupted": True, "started_at": started, "ended_at": started}
    try:
        train(trial_config(study, params), report=report, on_state=on_state)
    except Pruned:
        return {"rows": rows, "error": None, "weights_file": None, "started_at": started, "ended_at": time.time()}
    except Interrupted:
        return {"rows": rows, "error": None, "weights_file": None, "interrupted": True, "started_at": started, "ended_at": time.time()}
    except Exception:
        return {"rows": rows, "error": traceback.format_exc(), "started_at": started, "ended_at": time.time()}
    ended = time.time()
    path = weights.save_new(final["model"], incoming) if "model" in final else None
    return {"rows": rows, "error": None, "weights_file": path, "started_at": started, "ended_at": ended}


def running_best(rows: list[dict[str, Any]], study: Study) -> list[tuple[int, float]]:
    """(epoch, best value of the study metric so far) per epoch, as the trainable reports its objective."""
    import math

    sign = 1.0 if study.settings.mode == "max" else -1.0
    out: list[tuple[int, float]] = []
    best: float | None = None
    for row in rows:
        v = row.get(study.settings.metric)
        if isinstance(v, (int, float)) and math.isfinite(v) and (best is None or sign * v > sign * best):
            best = float(v)
        if best is not None:
            out.append((int(row["epoch"]), best))
    return out


class _Standin:
    """What a Tune scheduler reads of a trial: its id and configuration (hashed by identity)."""

    def __init__(self, trial_id: str, config: dict[str, Any]) -> None:
        self.trial_id, self.config = trial_id, config


def replay_into(scheduler: Any, trial_id: str, params: dict[str, Any], best: list[tuple[int, float]], *,
                stop_reason: str | None = None) -> None:
    """Tell ``scheduler`` an early trial's reports as Tune would have (added, each epoch's
    objective, completed, with the trainer's ``stop_reason`` where it ended the trial), so that
    ASHA's rungs (or the median rule's history, asha-rank's evidence) count it: without this the
    first Tune trials meet empty rungs and are never pruned. Its decisions are moot (the trial has
    ended); a scheduler that cannot take a stand-in trial is left as it is."""
    if scheduler is None or not best:
        return
    from hpbench.dispatch.searchers import OBJECTIVE

    trial = _Standin(trial_id, dict(params))
    try:
        scheduler.on_trial_add(None, trial)
        for epoch, value in best[:-1]:
            scheduler.on_trial_result(None, trial, {"epoch": epoch, OBJECTIVE: value})
        epoch, value = best[-1]
        last = {"epoch": epoch, OBJECTIVE: value} | ({"stop_reason": stop_reason} if stop_reason is not None else {})
        scheduler.on_trial_complete(None, trial, last)
    except Exception:  # a plugin's scheduler, or one that needs Tune's controller: it just does not count them
        pass


def replay_previous(scheduler: Any, study: Study, trials: list[dict[str, Any]], epochs: list[dict[str, Any]]) -> int:
    """Tell ``scheduler`` the search trials an earlier run of this study finished (a resume: the
    :class:`~hpbench.results.resume.Previous` ``trials`` and their per-epoch rows ``epochs``), as
    :func:`replay_into` tells an early trial, so that ASHA's rungs (the median rule's history,
    asha-rank's evidence) hold them: without this a resumed search's first trials met empty rungs
    and none was pruned until the new ones filled them, where an Optuna study's pruner reads every
    trial in its storage. Returns how many were told."""
    if scheduler is None:
        return 0
    by_trial: dict[Any, list[dict[str, Any]]] = {}
    for row in epochs:
        by_trial.setdefault(row.get("trial_id"), []).append(row)
    keys = study.space.keys()
    n = 0
    for t in trials:
        best = running_best(sorted(by_trial.get(t.get("trial_id"), []), key=lambda r: r.get("epoch") or 0), study)
        if not best or not is_search_trial(t):
            continue
        reason = t.get("stop_reason")
        replay_into(scheduler, f"earlier:{t['trial_id']}", {k: t.get(k) for k in keys}, best,
                    stop_reason=reason if isinstance(reason, str) else None)
        n += 1
    return n


def finished_by_trainer(outcome: dict[str, Any]) -> bool:
    """Whether the trainer ended an early trial (early stopping, ``max_epochs``): neither an error,
    an interruption nor an early rung (a pruned trial's last row has no ``stop_reason``)."""
    rows = outcome.get("rows") or []
    return not outcome.get("error") and not outcome.get("interrupted") and bool(rows) and "stop_reason" in rows[-1]


def tell_ended(ostudy: Any, trial: Any, outcome: dict[str, Any], best: list[tuple[int, float]], *, metric: str) -> None:
    """Tell Optuna how an early trial ended, as Tune's trials are told (hpbench.dispatch.searchers):
    its running best reported by epoch; FAIL when it raised, was interrupted or has no rows; PRUNED
    when an early rung stopped it (its last row has no ``stop_reason``: the trainer did not end it);
    else COMPLETE with its value, the trials table's ``best_<metric>`` (the metric of the weights it
    ended with, :func:`~hpbench.dispatch.trainable.final_value`), or with the worst value (-inf when
    maximizing, +inf when minimizing) when it has none (diverged from its first epoch): the value a
    Tune trial is told then, so that TPE counts the configuration among the bad ones
    either way. An early trial that diverged with no value was told FAIL while a Tune trial alike
    was told COMPLETE at the worst value (bug hunt s47h2); one under ``restore_best_weights`` with
    another monitor was told its running best, not its ``best_<metric>`` (bug hunt s52h2)."""
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    from hpbench.dispatch.trainable import final_value

    for epoch, value in best:
        trial.report(value, epoch)
    rows = outcome.get("rows") or []
    if outcome.get("error") or outcome.get("interrupted") or not rows:
        ostudy.tell(trial, state=TrialState.FAIL)
    elif "stop_reason" not in rows[-1]:
        ostudy.tell(trial, state=TrialState.PRUNED)
    else:
        mode = "max" if ostudy.direction == StudyDirection.MAXIMIZE else "min"
        values = {int(r["epoch"]): r.get(metric) for r in rows}
        ostudy.tell(trial, final_value(values, best_epoch=rows[-1].get("best_epoch"), mode=mode))
