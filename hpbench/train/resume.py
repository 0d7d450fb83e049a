"""The resumable state of a trial, the one owner of its format: what the trainer hands to
``on_state`` after each epoch (the dispatcher checkpoints it) and restores from ``start_state``
so that a failed trial retries from its last epoch.

Keys: ``epoch`` (epochs done), ``early_stopping`` (:meth:`EarlyStopping.state_dict`, or ``None``),
``best_state`` and ``best`` (the weights the trial ends with so far and their epoch and value:
:class:`~hpbench.train.best.BestWeights`; ``best`` is absent from older states), ``history`` (the
epoch rows so far), the task's own keys (:meth:`hpbench.train.task.TaskRun.state_dict`: for the
supervised task ``model``, ``optimizer``, ``generator`` and ``lr_schedule`` (``None`` without a
schedule; absent from states saved before schedules existed); for rl ``rl``: the policy, its
optimizer, generator, normalization statistics and counters) and, after the last epoch only,
``final_model`` (:mod:`hpbench.train.weights`). Every value is a tensor or a plain value, so
``torch.load(weights_only=True)`` reads a saved state back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hpbench.train.best import BestWeights
from hpbench.train.early_stopping import EarlyStopping

State = dict[str, Any]
COMMON = ("epoch", "early_stopping", "best_state", "best", "history", "final_model")  # the keys a task's state must not use


@dataclass(frozen=True, kw_only=True)
class Resumed:
    """Where a restored trial goes on from."""

    start_epoch: int
    history: list[dict[str, Any]]


def snapshot(*, epoch: int, task_state: Mapping[str, Any], early_stopping: EarlyStopping | None, best: BestWeights,
             history: list[dict[str, Any]], final_model: Any = None) -> State:
    """The state after ``epoch`` epochs (``final_model``: the weights record, after the last one)."""
    clash = [k for k in task_state if k in COMMON]
    if clash:
        raise ValueError(f"a task's state must not use the trainer's keys {', '.join(COMMON)}, but it has {clash}")
    state: State = {"epoch": epoch, **task_state, "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
                    "best_state": best.state, "best": best.state_dict(), "history": history}
    if final_model is not None:
        state["final_model"] = final_model
    return state


def restore(state: State, *, run: Any, early_stopping: EarlyStopping | None, best: BestWeights) -> Resumed:
    """Load ``state`` (a :func:`snapshot`) into the freshly built trial's task run, early stopping
    and best weights."""
    run.load_state_dict(state)
    if early_stopping is not None and state.get("early_stopping") is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    best.load_state_dict(state.get("best"), state["best_state"])
    if state.get("best") is None and state["best_state"] is not None and early_stopping is not None:
        best.epoch = early_stopping.best_epoch + 1  # an older state: its best_state was early stopping's
    return Resumed(start_epoch=int(state["epoch"]), history=list(state["history"]))


def save_state(state: State, path: str | Path) -> None:
    """Write a :func:`snapshot` (the dispatcher's checkpoint file)."""
    torch.save(state, path)


def load_state(path: str | Path) -> State:
    """Read a checkpoint file written by :func:`save_state`, tensors on the CPU. It lies in the
    results folder like a weights file: ``weights_only`` loads tensors and plain data only, never
    code (a snapshot holds nothing else)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not {"epoch", "best_state", "history"} <= set(state):
        raise ValueError(f"{path}: not a trial checkpoint written by hpbench")
    return state
