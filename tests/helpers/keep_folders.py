"""A search's results folder for the readers of missing weights files (keep_weights, a trial
diverged in its first epoch): tables, study.json and the weights files, without a search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpbench.results.files import STUDY_JSON
from hpbench.results.store import ResultsStore
from hpbench.results.weights import weights_path


def folder(out: Path, *, keep: object, epochs: list[dict[str, Any]], kept: set[int], gan: bool = False) -> Path:
    """A search's results: trial i's one epoch is ``epochs[i]``; the trials in ``kept`` have a weights file."""
    import torch

    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=[])
    for i, epoch in enumerate(epochs):
        store.start(f"t{i}", {})
        store.epoch(f"t{i}", {"epoch": 1, "train_g_loss": 1.0, "train_d_loss": 1.0, **epoch})
        store.finish(f"t{i}")
    store.flush(force=True)
    raw = {"study": {"name": "k", "keep_weights": keep}, "data": {"dataset": "ring8" if gan else "iris"}, "model": {"family": "mlp"}}
    record = {"name": "k", "settings": {"metric": "val_accuracy", "mode": "max", "keep_weights": keep, "repeats_top": 1},
              "raw": raw, "space": {}, "config": {"model": {"task": "gan" if gan else "supervised"}}, "data": {"dataset": "ring8"}}
    (out / STUDY_JSON).write_text(json.dumps(record), encoding="utf-8")
    for trial in kept:
        weights_path(out, trial).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"samples": torch.zeros(8, 2)}, weights_path(out, trial))
    return out
