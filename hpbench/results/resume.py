"""What a search finds in its results directory before it starts: whether an earlier run of the
same study left trials to continue from, and whether the search space changed since (refused,
with a readable diff, unless forced). Whether the location is writable is
:func:`hpbench.results.files.check_writable`'s, shared with every command that writes a file.

No Ray and no torch here: everything is decided before any trial (or Ray) starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.results.files import EPOCHS, PREV, STUDY_JSON, TRIALS, OutputError
from hpbench.results.parts import plain_row, read_table_repairing, table_exists
from hpbench.results.record_format import check_continuable
from hpbench.results.status import DONE, TrialStatus, is_search_trial


@dataclass(frozen=True, kw_only=True)
class Previous:
    """An earlier run's record and the trials it finished (running ones are dropped: they
    run again as new trials)."""

    record: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    n_dropped: int = 0
    notes: tuple[str, ...] = ()  # what was repaired on reading (a damaged table rebuilt from its copy, a damaged part dropped)
    damaged: tuple[Path, ...] = ()  # the damaged files (the search moves them aside to <name>.damaged)

    @property
    def n_done(self) -> int:
        """Search trials done (repeats and device comparisons are extra rows, not trials)."""
        return sum(1 for t in self.trials if is_search_trial(t))


def load_previous(out: Path) -> Previous | None:
    """The earlier run in ``out`` (None when there is none). A damaged table base (truncated, not
    parquet, missing its columns) is rebuilt from its copy (``<table>.prev``) and a damaged part
    of a table is dropped (:func:`hpbench.results.parts.read_table_repairing`), saying so in
    ``notes``; with no intact version of ``trials.parquet`` or ``study.json`` the resume is
    refused with what to do (an :class:`OutputError`). Lost per-epoch rows alone do not stop a
    resume."""
    path = out / STUDY_JSON
    if not path.is_file():
        return None
    record = _read_record(path)
    if not table_exists(out, TRIALS):
        return Previous(record=record)
    import pandas as pd

    read = read_table_repairing(out, TRIALS, ("trial", "trial_id", "status"))
    trials, notes, damaged = read.frame, read.notes, read.damaged
    if trials is None:
        p = out / TRIALS
        raise OutputError(f"{p} is damaged ({read.error}) and has no intact copy ({p.name}{PREV}). To continue in "
                          f"{out}, restore it from a backup; or move it aside (mv {p} {p}.damaged) and run again: the study "
                          "starts over there (its finished trials run again); or use --out DIR for a new results directory")
    epochs: Any = pd.DataFrame(columns=["trial_id"])
    if table_exists(out, EPOCHS):
        read = read_table_repairing(out, EPOCHS, ("trial_id", "epoch"))
        notes, damaged = notes + read.notes, damaged + read.damaged
        if read.frame is None:
            damaged.append(out / EPOCHS)
            notes.append(f"{EPOCHS} is damaged ({read.error}) and has no intact copy: the finished trials are kept "
                         "from trials.parquet, without their per-epoch rows")
        else:
            epochs = read.frame
    if len(trials) and "stop_reason" in trials.columns:
        # a trial whose end was written but not yet its status (a SIGKILL in the second after it
        # ended: the tables are written behind, throttled) trained to its end: it is finished, not
        # run again (it was, and the Optuna storage held one trial more than the tables)
        ended = (trials["status"] == TrialStatus.RUNNING.value) & trials["stop_reason"].notna()
        if ended.any():
            trials = trials.copy()
            trials.loc[ended, "status"] = TrialStatus.FINISHED.value
    done = trials[trials["status"].isin([s.value for s in DONE])] if len(trials) else trials
    keep = set(done["trial_id"]) if len(done) else set()
    return Previous(
        record=record,
        trials=[plain_row(r) for r in done.to_dict("records")],
        epochs=[plain_row(r) for r in epochs[epochs["trial_id"].isin(keep)].to_dict("records")] if len(epochs) else [],
        n_dropped=len(trials) - len(done),
        notes=tuple(notes),
        damaged=tuple(damaged),
    )


def _read_record(path: Path) -> dict[str, Any]:
    """``study.json``, which says what the earlier run searched: unreadable, it cannot be continued."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record.get("space", {}), dict):
            raise ValueError("not a study record")
    except (OSError, ValueError) as err:
        raise OutputError(f"{path} is damaged ({err}): the earlier run in {path.parent} cannot be continued. Restore it from a "
                          f"backup, or move the folder aside, or use --out DIR for a new results directory") from None
    if "space_fingerprint" not in record:  # every record hpbench wrote has it: this one is the user's own file
        raise OutputError(f"{path}: not a study record written by hpbench (no space_fingerprint): {path.parent} is not a results "
                          "folder; use --out DIR for a new results directory")
    try:
        refused = check_continuable(record, path=path)
    except ValueError as err:  # a format that is no whole number (a hand edit)
        raise OutputError(f"{err}: the earlier run in {path.parent} cannot be continued; use --out DIR for a new results directory") from None
    if refused is not None:  # a newer hpbench's folder: this version would rewrite it in its older format
        raise OutputError(refused)
    return record


def sqlite_damage(path: Path) -> str | None:
    """What is wrong with the SQLite database at ``path`` (the study's own Optuna storage), or
    None when it is fine or absent: its header, then SQLite's ``PRAGMA quick_check``."""
    import sqlite3

    if not path.is_file():
        return None
    try:
        with path.open("rb") as f:
            head = f.read(16)
        if head and head != b"SQLite format 3\x00":
            return "not a SQLite database"
        con = sqlite3.connect(str(path), timeout=10)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except (OSError, sqlite3.Error) as err:
        return f"{type(err).__name__}: {err}"
    return None if row and row[0] == "ok" else f"quick_check: {row[0] if row else 'no answer'}"


def space_diff(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Lines such as ``- lr: loguniform(0.001, 0.1)`` / ``+ lr: loguniform(0.0001, 0.1)``."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if a is not None:
            lines.append(f"  - {key}: {a}")
        if b is not None:
            lines.append(f"  + {key}: {b}")
    return lines
