"""The metrics the trainer reports, by the task of the dataset (what ``study.metric`` and an
early-stopping monitor may name)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpbench.data.datasets import DATASETS

TASK_METRICS = {
    "multiclass": ("loss", "accuracy", "ece", "nll"),
    "binary": ("loss", "accuracy", "ece", "nll"),
    "regression": ("loss", "rmse", "r2"),
}

# The best value each reported metric can take: accuracy and R^2 reach 1, the losses and the
# calibration error 0. A search whose best trial reached it cannot be beaten by a later trial.
BEST_VALUE = {"accuracy": 1.0, "r2": 1.0, "loss": 0.0, "nll": 0.0, "rmse": 0.0, "ece": 0.0}


def best_value(metric: str) -> float | None:
    """The best value ``metric`` (``val_accuracy``, ``train_loss``, ...) can take; None when not bounded or not known."""
    for prefix in ("val_", "train_"):
        if metric.startswith(prefix):
            return BEST_VALUE.get(metric[len(prefix):])
    return None


def best_score(metric: str, mode: str) -> float | None:
    """:func:`best_value` on the scale the wall-time model scores trials on (higher better: a
    ``min`` metric negated)."""
    best = best_value(metric)
    return None if best is None else best if mode == "max" else -best


def task_of(data: Mapping[str, Any]) -> str | None:
    """The task of a validated [data] table: as set, or the built-in dataset's; None when unknown
    before loading (a user dataset)."""
    dataset = data["dataset"]
    if "task" in data:
        return str(data["task"])
    if dataset in DATASETS:
        task = DATASETS.get(dataset).meta.get("task")
        return str(task) if task else None
    return None


def reported(task: str | None) -> tuple[str, ...]:
    """The metrics reported for ``task`` (for an unknown task: every task's)."""
    names = TASK_METRICS[task] if task in TASK_METRICS else tuple(dict.fromkeys(m for ms in TASK_METRICS.values() for m in ms))
    return ("train_loss", *(f"val_{m}" for m in names))
