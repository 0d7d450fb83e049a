"""A results directory with one saved trial, made without Ray: the trainer's own final-model
record written where the driver would put it (``weights/<trial>.pt``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpbench.results.files import STUDY_JSON, atomic_write_bytes
from hpbench.results.weights import weights_path
from hpbench.train.weights import dumps

DIGITS_MLP = {
    "study": {"name": "saved", "metric": "val_accuracy", "mode": "max"},
    "data": {"dataset": "digits", "preprocess": ["standardize"]},
    "model": {"family": "mlp", "depth": 1, "width": 32},
    "optimizer": {"name": "adam", "lr": 0.01},
    "train": {"max_epochs": 3, "batch_size": 64},
}


def train_and_save(out: Path, raw: dict[str, Any] | None = None, *, trial: int = 0) -> tuple[Path, dict[str, Any]]:
    """Train ``raw`` (default: a small MLP on digits) and save its final model as ``trial``;
    returns the weights file and the record."""
    from hpbench.study.parse import parse_study
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    raw = raw or DIGITS_MLP
    study = parse_study(raw)
    states: list[dict[str, Any]] = []
    train(trial_config(study, {}), on_state=states.append)
    record = states[-1]["final_model"]
    out.mkdir(parents=True, exist_ok=True)
    (out / STUDY_JSON).write_text(json.dumps({"name": raw["study"]["name"], "settings": {"metric": "val_accuracy", "mode": "max"}}), encoding="utf-8")
    path = weights_path(out, trial)
    atomic_write_bytes(path, dumps(record))
    return path, record
