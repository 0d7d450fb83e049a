"""What a search finds in its results directory before it starts: whether the location is
writable, whether an earlier run of the same study left trials to continue from, and whether
the search space changed since (refused, with a readable diff, unless forced).

No Ray and no torch here: everything is decided before any trial (or Ray) starts.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.results.files import EPOCHS, STUDY_JSON, TRIALS
from hpbench.results.status import DONE, is_search_trial

MIN_FREE_BYTES = 64 * 2**20  # the tables, Optuna's database and Tune's checkpoints of a small study


class OutputError(RuntimeError):
    """The results location cannot take the results (missing permission, full, not a folder)."""


def check_writable(out: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail before any trial starts when ``out`` (or its nearest existing parent, since a new
    results directory is only created once the search starts) is not a writable folder with
    ``min_free_bytes`` free."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"--out {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out}: {probe} is not writable")
    free = shutil.disk_usage(probe).free
    if free < min_free_bytes:
        raise OutputError(f"--out {out}: only {free / 2**20:.1f} MiB free at {probe}, need at least {min_free_bytes / 2**20:.0f} MiB")
    if probe == out:  # an existing directory: really write (read-only mounts pass os.access)
        tmp = out / ".hpbench.probe"
        try:
            tmp.write_bytes(b"x")
            tmp.unlink()
        except OSError as err:
            raise OutputError(f"--out {out}: cannot write there: {err.strerror or err}") from None


@dataclass(frozen=True, kw_only=True)
class Previous:
    """An earlier run's record and the trials it finished (running ones are dropped: they
    run again as new trials)."""

    record: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    n_dropped: int = 0

    @property
    def n_done(self) -> int:
        """Search trials done (repeats and device comparisons are extra rows, not trials)."""
        return sum(1 for t in self.trials if is_search_trial(t))


def load_previous(out: Path) -> Previous | None:
    path = out / STUDY_JSON
    if not path.is_file():
        return None
    record = json.loads(path.read_text(encoding="utf-8"))
    if not (out / TRIALS).is_file():
        return Previous(record=record)
    import pandas as pd

    trials = pd.read_parquet(out / TRIALS)
    epochs = pd.read_parquet(out / EPOCHS) if (out / EPOCHS).is_file() else pd.DataFrame(columns=["trial_id"])
    done = trials[trials["status"].isin([s.value for s in DONE])] if len(trials) else trials
    keep = set(done["trial_id"]) if len(done) else set()
    return Previous(
        record=record,
        trials=[_plain(r) for r in done.to_dict("records")],
        epochs=[_plain(r) for r in epochs[epochs["trial_id"].isin(keep)].to_dict("records")] if len(epochs) else [],
        n_dropped=len(trials) - len(done),
    )


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    out = {}
    for k, v in row.items():
        if v is pd.NA or v is pd.NaT:
            v = None
        elif hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out


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
