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


def searched_folder(out: Path, *, values: list[float], files: int) -> dict[str, Any]:
    """The tiny study's search that ended (``repeats_top = 1``): its trial i finished with ``values[i]``,
    and trials ``0 .. files - 1`` have a weights file (beyond the rows: a trial killed as it ended);
    returns the study's raw table, for the resumes a test runs on it (nothing left to run: no Ray)."""
    import tomllib

    from hpbench.dispatch.plan import write_study_record
    from hpbench.results.columns import param_dtypes
    from hpbench.study.parse import parse_study
    from tests.helpers.studies import TINY_STUDY

    raw = tomllib.loads(TINY_STUDY.replace("trials = 4", f"trials = {len(values)}\nrepeats_top = 1"))
    study = parse_study(raw, source="tiny.toml")
    write_study_record(study, out)
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=study.space.keys(), param_dtypes=param_dtypes(study.space))
    for i, value in enumerate(values):
        store.start(f"t{i}", {"optimizer": "adam"})
        store.epoch(f"t{i}", {"epoch": 1, "val_accuracy": value, "stop_reason": "completed"})
        store.finish(f"t{i}")
    store.flush(force=True)
    for trial in range(files):
        weights_path(out, trial).parent.mkdir(parents=True, exist_ok=True)
        weights_path(out, trial).write_bytes(b"w")
    return raw
