"""Sibling early trials trained as one stacked model in the helper (:mod:`hpbench.dispatch.early`).

A group is configurations equal but for their learning rate and initialization (the searcher's
draws around one architecture, optimizer and batch size: :mod:`hpbench.dispatch.siblings`), trained
together by the fused trainer (:func:`hpbench.train.fused.train_fused`, each member at its own
lr). Where one trial's step is overhead-bound (the cost model's call:
:func:`hpbench.cost.fusion.fuse_members`), N members train in about the time of one to two: on
the race's digits study the helper tries several configurations in the seconds it had for one,
while Ray starts. Each member is its own trial throughout: its own rows, early stopping, final
weights, Optuna trial, and its own rung decisions (:class:`EarlyRungs`), judged against the
early trials before the group and the siblings that reached the rung before it (as ASHA judges
trials in the order they report). A group the fused trainer cannot build trains its members one
after another instead.
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Any

from hpbench.dispatch.early_helper import STOP_FILE, EarlyRungs, claim, finished_by_trainer, run_early_trial, running_best
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study


def interrupted_outcome(now: float) -> dict[str, Any]:
    return {"rows": [], "error": None, "weights_file": None, "interrupted": True, "started_at": now, "ended_at": now}


def run_early_group(study: Study, params: list[dict[str, Any]], incoming: str, *, data: tuple[Any, Any] | None = None,
                    rungs: EarlyRungs | None = None, claim_files: list[str] | None = None) -> list[dict[str, Any]]:
    """In the helper: train the sibling configurations ``params`` together; returns each one's
    outcome, in order, as :func:`~hpbench.dispatch.early_helper.run_early_trial` returns one
    trial's (its rows, error, weights file; pruned: no stop reason on its last row; interrupted)."""
    now = time.time()
    mine = [claim(f) for f in claim_files] if claim_files is not None else [True] * len(params)
    out = [interrupted_outcome(now) for _ in params]  # a member the driver claimed first (a Ctrl-C) never starts
    todo = [i for i, ok in enumerate(mine) if ok]
    stop_file = os.path.join(incoming, STOP_FILE)
    if not todo or os.path.exists(stop_file):
        return out
    if data is not None:
        from hpbench.data.prepare import prime

        prime(*data)
    cfgs = [trial_config(study, params[i]) for i in todo]
    rows: list[list[dict[str, Any]]] = [[] for _ in todo]
    ended = [now] * len(todo)
    weights_files: list[str | None] = [None] * len(todo)
    left: dict[int, str] = {}  # member -> "pruned" / "interrupted": stopped here, not by the trainer
    best: dict[int, float] = {}
    judge = [rungs]  # the rungs as the group's reports fill them
    sign = 1.0 if study.settings.mode == "max" else -1.0

    def report(k: int, row: dict[str, Any], record: Any) -> bool:
        rows[k].append(dict(row))
        ended[k] = time.time()
        if record is not None:
            weights_files[k] = weights.save_new(record, incoming)
        if "stop_reason" in row:
            return False
        if os.path.exists(stop_file):
            left[k] = "interrupted"
            return True
        v = row.get(study.settings.metric)
        if isinstance(v, (int, float)) and v == v and (k not in best or sign * v > sign * best[k]):
            best[k] = float(v)
        r = judge[0]
        if r is None or k not in best:
            return False
        epoch = int(row["epoch"])
        keep = r.keep(epoch, best[k])
        judge[0] = r.with_value(epoch, best[k])
        if not keep:
            left[k] = "pruned"
        return not keep

    from hpbench.train import weights
    from hpbench.train.fused import train_fused

    try:
        train_fused(cfgs, report=report, record=True)
    except ValueError:
        if any(rows):
            raise
        return _one_by_one(study, params, todo, out, incoming, rungs)  # not fusable after all: as single early trials
    except Exception:
        err = traceback.format_exc()
        for pos, i in enumerate(todo):
            out[i] = {"rows": rows[pos], "error": err, "started_at": now, "ended_at": time.time()}
        return out
    for pos, i in enumerate(todo):
        res: dict[str, Any] = {"rows": rows[pos], "error": None, "weights_file": weights_files[pos], "started_at": now, "ended_at": ended[pos]}
        if left.get(pos) == "interrupted":
            res["interrupted"] = True
        out[i] = res
    return out


def _one_by_one(study: Study, params: list[dict[str, Any]], todo: list[int], out: list[dict[str, Any]], incoming: str,
                rungs: EarlyRungs | None) -> list[dict[str, Any]]:
    for i in todo:
        res = run_early_trial(study, params[i], incoming, rungs=rungs)
        out[i] = res
        if rungs is not None:
            rungs = rungs.with_trial(running_best(res["rows"], study), finished=finished_by_trainer(res))
    return out
