"""The driver's Ray Tune callback: every trial event goes into the results store (rows, epochs,
weights, errors), the cost predictions are submitted and harvested, the budget is charged, and
the live progress refreshed. One recorder serves the search and every replay.

Imports Ray Tune: the runner imports this module only once Ray is up.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.progress_reporter import TrialProgressCallback

from hpbench.dispatch.ask_order import keep_ask_order
from hpbench.dispatch.budget import Budget
from hpbench.dispatch.corrections import record_spent
from hpbench.dispatch.early import EarlyTrials
from hpbench.dispatch.fused import MEMBER, member_id
from hpbench.dispatch.keep_weights import WeightsKeeper
from hpbench.dispatch.lost_node import lost_with_node, node_alive, trial_exception
from hpbench.dispatch.predictions import AsyncPredictions
from hpbench.dispatch.progress import Progress
from hpbench.dispatch.trainable import WEIGHTS_HANDOFF, Replay, epoch_rows
from hpbench.dispatch.written_trials import WrittenTrials, trim
from hpbench.results.columns import FUSED_MEMBERS
from hpbench.results.status import StopReason, TrialStatus
from hpbench.results.store import ResultsStore, TablesNotWritten
from hpbench.results.weights import save_from_checkpoint, save_from_file
from hpbench.tracking import Trackers
from hpbench.user_code import user_frames_in_text


class Recorder(Callback):  # type: ignore[misc]
    """``replays``: the trials are replays (their config names one), labelled in the store."""

    # Tune pickles its callbacks into its experiment snapshot; this one lives only in the
    # driver (hpbench resumes from its own tables), so it pickles to nothing.
    def __reduce__(self) -> Any:
        return (Callback, ())

    def __init__(self, *, store: ResultsStore, progress: Progress, predictions: AsyncPredictions | None = None,
                 trackers: Trackers | None = None, budget: Budget | None = None, replays: list[Replay] | None = None,
                 early: EarlyTrials | None = None, written: WrittenTrials | None = None, keep: WeightsKeeper | None = None) -> None:
        super().__init__()
        self.keep = keep  # [study] keep_weights: the ended search trials' weights beyond the best N deleted as each trial ends
        self.written = written  # the trials written, for the scheduler to drop from Tune (hpbench.dispatch.written_trials)
        self.early = early  # trials trained in the helper while Ray started (hpbench.dispatch.early): recorded here once they end
        self.store = store
        self.trackers = trackers
        self.progress = progress
        self.predictions = predictions
        self.budget = budget
        self.replays = replays
        # Epochs reported before their trial's prediction arrived: their FLOPs are charged
        # to the budget when it does (the driver never waits for a prediction).
        self.uncharged: dict[str, int] = {}
        # Tables that could not be written when a trial ended, raised at Tune's next step: Tune's
        # stop_trial catches what its completion callbacks raise, logs it with a traceback and
        # fails the finished trial (seen on a full disk: "Error stopping trial")
        self.unwritten: TablesNotWritten | None = None
        self._where: dict[str, Any] | None = None  # where the early trials trained (early_where), once

    def harvest_early(self, *, wait: bool = False, stop: Any = None) -> None:
        """Record the early trials that ended (all of them, waiting, with ``wait``). ``stop``: the
        search's :class:`~hpbench.dispatch.interrupt.Interrupt`; after a Ctrl-C the running early
        trial stops after its epoch, and every trial still running is marked interrupted."""
        interrupted = (lambda: bool(stop.requested)) if stop is not None else None
        if self.early is not None:
            self.early.harvest(self._record_early, wait=wait, interrupted=interrupted)
        if interrupted is not None and interrupted():
            self.end_interrupted()

    def end_interrupted(self) -> list[str]:
        """Ctrl-C: the trials Tune stopped without a completion callback are marked ``interrupted``,
        their epochs so far kept (each with its report time); not done, so ``--resume`` runs them
        again. Returns their ids."""
        ids = [str(r["trial_id"]) for r in self.store.rows() if r.get("status") == TrialStatus.RUNNING]
        for tid in ids:
            self._interrupted(tid)
        return ids

    def _interrupted(self, trial_id: str) -> None:
        now = time.time()
        self.store.annotate(trial_id, {"status": TrialStatus.INTERRUPTED.value, "ended_at": now,
                                       "wall_s": now - float(self.store.row(trial_id).get("started_at") or now)})
        self.store.flush(soon=True)

    def _record_early(self, trial_id: str, outcome: dict[str, Any]) -> None:
        if outcome["rows"] and self.early is not None:
            self._where = self._where or early_where(self.early.executor)
            self.store.annotate(trial_id, self._where)  # Ray adds them to a Tune trial's results
        for row in outcome["rows"]:
            self.store.epoch(trial_id, row)
            if self.trackers is not None:
                self.trackers.epoch(int(self.store.row(trial_id)["trial"]), self.store.epoch_row(trial_id, int(row["epoch"])))
        if outcome.get("weights_file"):
            try:
                save_from_file(self.store.out, int(self.store.row(trial_id)["trial"]), outcome["weights_file"])
            except Exception as err:  # the weights are an extra, as for any trial
                self.store.annotate(trial_id, {"error": f"saving weights failed: {err}"[:500]})
        if outcome.get("interrupted"):
            self._interrupted(trial_id)
        else:
            self._end(trial_id, error=error_line(outcome["error"]) if outcome.get("error") else None)
        if outcome.get("started_at") and outcome.get("ended_at"):  # when it trained (its end is read while Ray starts)
            began, ended = float(outcome["started_at"]), float(outcome["ended_at"])
            self.store.annotate(trial_id, {"started_at": began, "ended_at": ended, "wall_s": ended - began})

    def _harvest(self) -> None:
        self.harvest_early()
        if self.predictions is None:
            return
        for tid in self.predictions.harvest(self.store):
            n = self.uncharged.pop(tid, 0)
            if self.budget is not None and n:
                self.budget.charge(flops=n * float(self.store.row(tid).get("flops_per_epoch") or 0.0))

    def _members(self, trial: Any) -> list[str]:
        """The results-table ids of a trial: its own, or a fused group's members'."""
        if self.replays is not None:
            group = self.replays[int(trial.config["replay"])].group
            if group:
                return [member_id(trial.trial_id, k) for k in range(len(group))]
        return [trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if self.early is not None:
            self.early.tune_trial_started()  # Tune's slots filling: the helper launches no early trial beside them
        runs: list[tuple[str, Any, Any, str | None]] = [(trial.trial_id, trial.config, {}, None)]
        if self.replays is None:
            keep_ask_order(self.store, trials, trial)  # the trials asked before it keep the numbers before its own
        else:
            replay = self.replays[int(trial.config["replay"])]
            runs = [(trial.trial_id, replay.params, replay.labels, replay.device)]
            if replay.group:
                runs = [(member_id(trial.trial_id, k), m.params, m.labels, m.device) for k, m in enumerate(replay.group)]
        for tid, params, labels, device in runs:
            self.store.start(tid, params)
            self.store.annotate(tid, labels)
            if self.trackers is not None:  # a replay's labels too (repeat, repeat_of, seed; device_of): a logger's runs say which they are
                self.trackers.start(int(self.store.row(tid)["trial"]), {**params, **labels})
            if self.predictions is not None:
                self.predictions.submit(tid, params, device=device)
            self.progress.trial_started(tid)

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        if self.early is not None and not self.early.stopped and "epoch" in result:
            self.early.stop()  # Tune's first trial reports: its workers are up, the helper launches no more
        self._harvest()
        if "epoch" in result:
            for row in epoch_rows(result):
                tid = trial.trial_id if MEMBER not in row else self._member_row(trial.trial_id, row)
                self.store.epoch(tid, row)
                if self.trackers is not None:
                    self.trackers.epoch(int(self.store.row(tid)["trial"]), self.store.epoch_row(tid, int(row["epoch"])))
                if self.budget is not None:
                    self._charge(self.budget, tid, row)
            self.store.flush()
        self.progress.refresh()

    def _member_row(self, trial_id: str, row: dict[str, Any]) -> str:
        """A fused group's row: its member's id; the member's final weights saved, its group size noted."""
        tid = member_id(trial_id, int(row[MEMBER]))
        if FUSED_MEMBERS in row:
            self.store.annotate(tid, {FUSED_MEMBERS: int(row[FUSED_MEMBERS])})
        handed = row.get(WEIGHTS_HANDOFF)
        if handed:
            try:
                save_from_file(self.store.out, int(self.store.row(tid)["trial"]), handed)
            except Exception as err:  # the weights are an extra; losing them must not stop the replays
                self.store.annotate(tid, {"error": f"saving weights failed: {err}"[:500]})
        return tid

    def _charge(self, budget: Budget, trial_id: str, row: dict[str, Any]) -> None:
        flops = self.store.row(trial_id).get("flops_per_epoch")
        if flops is None and self.predictions is not None and self.predictions.is_pending(trial_id):
            self.uncharged[trial_id] = self.uncharged.get(trial_id, 0) + 1
        budget.charge(flops=flops or 0.0, seconds=float(row.get("epoch_s") or 0.0))

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        try:
            self._harvest()
            members = self._members(trial)
            if members == [trial.trial_id]:
                _save_weights(self.store, trial)
            for tid in members:
                self._end(tid)
        except TablesNotWritten as err:
            self.unwritten = err  # raised at Tune's next step (on_step_end), not inside its stop_trial
        self._forget(trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        try:
            self._harvest()
            error = _error_text(trial)
            members = self._members(trial)
            alive = partial(node_alive, self.store.row(members[0]).get("node_id") if members[0] in self.store else None)
            lost = lost_with_node(trial_exception(trial), node_alive=alive)  # not the configuration's failure: run again
            for tid in members:
                if lost:
                    self.store.annotate(tid, {"error": f"lost with its Ray node: {error}"[:500]})
                    self._interrupted(tid)
                else:
                    self._end(tid, error=error)
        except TablesNotWritten as err:
            self.unwritten = err
        self._forget(trial)

    def _forget(self, trial: Any) -> None:
        trim(trial)
        if self.written is not None:
            self.written.note(trial)

    def end_running(self, reason: StopReason) -> list[str]:
        """End the trials Ray Tune stopped without a completion callback (a spent budget stops
        the experiment, not each trial): finished with ``reason``, their epochs so far kept, as a
        pruned trial's are. Returns their ids. A trial stopped before its first epoch trained
        nothing to keep: it is ``interrupted``, as at a Ctrl-C, and ``--resume`` runs it (it was
        finished with no metric, counted as done and never run)."""
        ids = [str(r["trial_id"]) for r in self.store.rows() if r.get("status") == TrialStatus.RUNNING]
        ended = []
        for tid in ids:
            if not self.store.row(tid).get("epochs"):
                self._interrupted(tid)
                continue
            self.store.annotate(tid, {"stop_reason": reason.value})
            self._end(tid)
            ended.append(tid)
        return ended

    def _end(self, trial_id: str, *, error: str | None = None) -> None:
        self.store.finish(trial_id, error=error)
        record_spent(self.store, trial_id)
        if self.keep is not None:  # its weights were saved before its end: ranked with the others now
            self.keep.prune(self.store.rows())
        if self.trackers is not None:
            self.trackers.end(self.store.row(trial_id))
        self.store.flush(soon=True)
        self.progress.trial_done(trial_id)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self.unwritten is not None:
            raise self.unwritten
        self._harvest()
        self.store.flush()  # changes a skipped write left behind (throttled; nothing if none)
        self.progress.refresh()


class QuietProgress(TrialProgressCallback):  # type: ignore[misc]
    """Tune's per-trial progress lines, which print only at Tune's verbosity 2 and up (hpbench
    runs Tune at 0 or 1 and prints its own): Tune adds its own when a run has none, and that one
    keeps every Trial of the run in its dicts of last prints and its set of completed trials
    (issue 20 §4, the driver's memory). This one prints and keeps nothing."""

    def __reduce__(self) -> Any:  # as the recorder: it lives only in the driver
        return (Callback, ())

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[Any, Any], **info: Any) -> None:
        pass

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        pass

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        pass


def _save_weights(store: ResultsStore, trial: Any) -> None:
    """Copy a finished trial's final model from its last Tune checkpoint into the results
    directory (``weights/<trial>.pt``). Pruned trials have none; a failed copy is reported in
    the trial's ``error`` column, not raised (the trial itself finished)."""
    try:
        n = int(store.row(trial.trial_id)["trial"])
        handed = (trial.last_result or {}).get(WEIGHTS_HANDOFF)
        if handed:
            save_from_file(store.out, n, handed)
        else:
            save_from_checkpoint(store.out, n, trial.checkpoint)
    except Exception as err:  # the weights are an extra; losing them must not stop the search
        store.annotate(trial.trial_id, {"error": f"saving weights failed: {err}"[:500]})


def _error_text(trial: Any) -> str:
    text = ""
    try:  # Tune writes the trial's error file locally first (its storage copy may lag)
        local = trial.error_file
        if local and Path(local).is_file():
            text = Path(local).read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            text = str(trial.get_error() or "")
    except Exception:  # best effort: the message is informational
        text = ""
    return error_line(text)


def error_line(text: str) -> str:
    """A trial's error in one line: the exception, and where in the user's own code it was
    raised (Ray's and hpbench's frames left out)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "trial failed"
    frames = user_frames_in_text(text)
    where = f" (at {frames[-1].where})" if frames else ""
    return (lines[-1].strip()[:400] + where)[:500]


def early_where(executor: Any) -> dict[str, Any]:
    """Where an early trial trained (the ``node_ip``, ``hostname``, ``pid`` and ``node_id`` columns,
    which Ray adds to each Tune trial's results): the helper process on the driver's machine, this
    driver's Ray node (Ray is up by the time an early trial is recorded: the recorder is built after
    it). Before, the early trials had none, and ``hpbench compare`` said ``hosts: -`` for a search
    whose finished trials were all early ones."""
    import socket

    import ray

    where: dict[str, Any] = {"hostname": socket.gethostname(), "pid": getattr(executor, "pid", None)}
    if ray.is_initialized():
        where |= {"node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id()}
    return where
