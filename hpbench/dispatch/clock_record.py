"""What one search measured, as its clock saw it, appended to this machine's history
(:mod:`hpbench.cost.history`) for the next estimate: its Tune trials' times, its phases, the
contention it was priced at and the one its workers met, and the live ETA's trace.

Kept apart from :mod:`hpbench.dispatch.eta` (the clock and its ETA): the runner calls
:func:`record` with the clock at the search's end.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hpbench.cost import history, reprice
from hpbench.cost.quality import measured_rho
from hpbench.cost.record import search_record
from hpbench.dispatch.command_clock import SEARCH
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.timings import quality_pairs, trial_times, tune_trials
from hpbench.results.store import ResultsStore


def record(clock: SearchClock, store: ResultsStore, *, out: Path) -> dict[str, Any] | None:
    """The search's record, appended to the clock's history (None: the clock keeps none, or the
    record failed: the history is a help for the next estimate, never a reason to fail a search)."""
    if clock.history_dir is None:
        return None
    try:
        return append(clock, store, out=out, history_dir=clock.history_dir)
    except Exception:
        return None


def append(clock: SearchClock, store: ResultsStore, *, out: Path, history_dir: Path) -> dict[str, Any]:
    """The search's record, appended to the history under ``history_dir``."""
    # Tune's trials only: the early ones ran in the helper while Ray started (not in a slot)
    times = trial_times(store, tune_trials(clock.trials[SEARCH]), max_epochs=lambda t: clock.plan_of(store, t, 1.0).max_epochs,
                        threads=clock.threads)
    if times:
        clock.measured["search_s"] = max(t.ended_at for t in times) - min(t.started_at for t in times)
    rec = search_record(
        run_id=uuid.uuid4().hex, study=clock.study.name, trials=times, started_at=clock.started_at, command=clock.command,
        ray_started=clock.ray_started, warm_runtime=clock.warm, cpus=clock.cpus, concurrency=clock.concurrency, cpus_per_trial=clock.study.resources.cpus_per_trial,
        contention=clock.contention(), phases=clock.measured, eta=clock.trace, configs=reprice.configs(times),
        quality_rho=measured_rho(*quality_pairs(store, clock.trials[SEARCH])))  # every search trial's: the early ones' too
    if "replay_start_s" in rec and any(float(store.row(t).get("fused_members") or 1) > 1 for t in clock.trials.get("repeats", []) if t in store):
        rec["fused_start_s"] = rec.pop("replay_start_s")  # its repeats trained as fused groups: that figure's (hpbench.cost.figures.Figures)
    rec.update(out=str(out.resolve()), started_at=clock.started_at, n_search=clock.sizes[SEARCH], early_trials=clock.early, nice=history.niceness(),
               study_key=clock.study.fingerprint(),  # its runs move the next estimate of the same study (hpbench.cost.own_runs)
               probe_nice=history.PROBE_NICE, phases_end_at=clock.phases_end_at, probe=clock.raw_probe,
               trials_contention=clock.workers.contention())
    if (model := history.study_model(history_dir, clock.study)) is not None:  # again: a search calibrates a stale model
        rec["model"] = model.to_dict()
    history.append(history_dir, rec)
    return rec
