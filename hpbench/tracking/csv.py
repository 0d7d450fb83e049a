"""CSV: per trial, ``csv/trial_0003/params.json`` (its hyperparameters), ``progress.csv`` (one
line per epoch, appended as epochs arrive) and ``result.json`` (the summary, with status and stop
reason) — the layout of Ray Tune's CSV logger, for tools that tail files."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.tracking.base import trial_dir


class CsvTracker:
    def __init__(self, *, out: Path, **_: Any) -> None:
        self.root = out / "csv"
        self.columns: dict[int, list[str]] = {}

    def start(self, trial: int, params: Mapping[str, Any]) -> None:
        folder = trial_dir(self.root, trial)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("progress.csv", "result.json"):  # a number reused after an interrupted run: the trial starts over
            (folder / stale).unlink(missing_ok=True)
        self.columns.pop(trial, None)
        (folder / "params.json").write_text(json.dumps(dict(params), indent=2, default=str), encoding="utf-8")

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None:
        path = trial_dir(self.root, trial) / "progress.csv"
        new = trial not in self.columns
        if new:  # the first epoch fixes the columns (every epoch of a trial reports the same)
            self.columns[trial] = [k for k in row if k != "trial"]
        with path.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns[trial], extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(dict(row))

    def end(self, trial: int, summary: Mapping[str, float], *, status: str, stop_reason: str) -> None:
        path = trial_dir(self.root, trial) / "result.json"
        path.write_text(json.dumps({"status": status, "stop_reason": stop_reason, **summary}, indent=2), encoding="utf-8")

    def close(self) -> None:
        return None
