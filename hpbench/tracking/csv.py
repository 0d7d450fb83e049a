"""CSV: per trial, ``csv/trial_0003/params.json`` (its hyperparameters), ``progress.csv`` and
``result.json`` (one line per epoch, appended as epochs arrive: a CSV row and a JSON object of
the epoch's results) — the layout of Ray Tune's CSV and JSON loggers, for tools that tail files —
and ``summary.json`` (hpbench's own: the trial's final row, with status and stop reason).

Each epoch also carries Ray's ``training_iteration`` (the epoch), ``time_total_s`` (the trial's
training seconds so far: the sum of its epochs' ``epoch_s``) and ``done``: true on the last
epoch of a trial that finished (ended by itself or stopped by the scheduler, as Ray marks a
trial it stopped), set when the trial ends; false on the others and on a failed trial's.
``pandas.read_json(path, lines=True)`` reads ``result.json``, one row per epoch."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.tracking.base import trial_dir

RAY_COLUMNS = ("training_iteration", "time_total_s", "done")


class CsvTracker:
    def __init__(self, *, out: Path, **_: Any) -> None:
        self.root = out / "csv"
        self.columns: dict[int, list[str]] = {}
        self.epoch_s: dict[int, dict[int, float]] = {}  # trial -> epoch -> its seconds

    def start(self, trial: int, params: Mapping[str, Any]) -> None:
        folder = trial_dir(self.root, trial)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("progress.csv", "result.json", "summary.json"):  # a number reused after an interrupted run: the trial starts over
            (folder / stale).unlink(missing_ok=True)
        self.columns.pop(trial, None)
        self.epoch_s.pop(trial, None)
        (folder / "params.json").write_text(json.dumps(dict(params), indent=2, default=str), encoding="utf-8")

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None:
        folder = trial_dir(self.root, trial)
        epoch = int(row["epoch"])
        seconds = self.epoch_s.setdefault(trial, {})
        seconds[epoch] = float(row.get("epoch_s") or 0.0)
        result = {**{k: v for k, v in row.items() if k != "trial"}, "training_iteration": epoch,
                  "time_total_s": sum(s for e, s in seconds.items() if e <= epoch), "done": False}
        new = trial not in self.columns
        if new:  # the first epoch fixes the columns (every epoch of a trial reports the same)
            self.columns[trial] = [k for k in result if k not in RAY_COLUMNS] + list(RAY_COLUMNS)
        with (folder / "progress.csv").open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns[trial], extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(result)
        with (folder / "result.json").open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(result, default=str) + "\n")

    def end(self, trial: int, summary: Mapping[str, float], *, status: str, stop_reason: str) -> None:
        folder = trial_dir(self.root, trial)
        (folder / "summary.json").write_text(json.dumps({"status": status, "stop_reason": stop_reason, **summary}, indent=2), encoding="utf-8")
        if status == "finished":
            _mark_done(folder)

    def close(self) -> None:
        return None


def _mark_done(folder: Path) -> None:
    """``done`` set on the last epoch of ``folder``'s files (a few lines a trial: rewritten whole)."""
    path = folder / "result.json"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines()
        if lines:
            lines[-1] = json.dumps({**json.loads(lines[-1]), "done": True}, default=str)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "progress.csv"
    if path.exists():
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields, rows = reader.fieldnames or [], list(reader)
        if rows and "done" in fields:
            rows[-1]["done"] = "True"
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
