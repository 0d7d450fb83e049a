"""The resumable state of a trial, the one owner of its format: what the trainer hands to
``on_state`` after each epoch (the dispatcher checkpoints it) and restores from ``start_state``
so that a failed trial retries from its last epoch.

Keys: ``epoch`` (epochs done), ``model`` and ``optimizer`` (``state_dict``s), ``generator`` (the
shuffling generator's state), ``early_stopping`` (:meth:`EarlyStopping.state_dict`, or ``None``),
``best_state`` and ``best`` (the weights the trial ends with so far and their epoch and value:
:class:`~hpbench.train.best.BestWeights`; ``best`` is absent from older states), ``history`` (the
epoch rows so far), ``lr_schedule`` (the learning-rate scheduler's ``state_dict``, or ``None``;
absent from states saved before schedules existed) and, after the last epoch only, ``final_model`` (:mod:`hpbench.train.weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hpbench.train.best import BestWeights
from hpbench.train.early_stopping import EarlyStopping
from hpbench.train.schedules import LRSchedule

State = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Resumed:
    """Where a restored trial goes on from."""

    start_epoch: int
    history: list[dict[str, Any]]


def snapshot(*, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
             early_stopping: EarlyStopping | None, best: BestWeights, history: list[dict[str, Any]],
             schedule: LRSchedule | None = None, final_model: Any = None) -> State:
    """The state after ``epoch`` epochs (``final_model``: the weights record, after the last one)."""
    state: State = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                    "early_stopping": early_stopping.state_dict() if early_stopping is not None else None,
                    "best_state": best.state, "best": best.state_dict(), "history": history,
                    "lr_schedule": schedule.state_dict() if schedule is not None else None}
    if final_model is not None:
        state["final_model"] = final_model
    return state


def restore(state: State, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
            early_stopping: EarlyStopping | None, best: BestWeights, schedule: LRSchedule | None = None) -> Resumed:
    """Load ``state`` (a :func:`snapshot`) into the freshly built trial's objects (the schedule
    after the optimizer: the optimizer's state holds the learning rate the schedule set)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    if early_stopping is not None and state.get("early_stopping") is not None:
        early_stopping.load_state_dict(state["early_stopping"])
    if schedule is not None:
        schedule.load_state_dict(state.get("lr_schedule"))
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
    if not isinstance(state, dict) or not {"epoch", "model", "optimizer", "generator", "history"} <= set(state):
        raise ValueError(f"{path}: not a trial checkpoint written by hpbench")
    return state
