"""Saved model weights of finished trials: ``results/<name>/weights/<trial>.pt``.

The trainable puts the trial's final (restored-best) model into its last Tune checkpoint as
:data:`WEIGHTS_FILE`; the driver copies it from there (wherever Tune's storage is: a shared
filesystem or cloud storage on a cluster), so workers never write driver paths.

Where weights files lie, torch-free: the file format (what a weights file holds, writing and
reading it) is :mod:`hpbench.train.weights`'s.

Other studies refer to a saved trial as ``"RESULTS_DIR:TRIAL"`` (``TRIAL`` a trial number or
``best``): ``[model] init_from`` (transfer learning) and ``[distill] teacher``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hpbench.results.files import STUDY_JSON, TRIALS, atomic_write_bytes
from hpbench.results.status import TrialStatus

WEIGHTS_DIR = "weights"
WEIGHTS_FILE = "weights.pt"  # name inside a Tune checkpoint directory


def weights_path(out: Path, trial: int) -> Path:
    return Path(out) / WEIGHTS_DIR / f"{int(trial)}.pt"


def save_from_checkpoint(out: Path, trial: int, checkpoint: Any) -> Path | None:
    """Copy the weights file of a trial's last Tune checkpoint (if it has one) atomically."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        src = Path(d) / WEIGHTS_FILE
        if not src.is_file():
            return None
        dest = weights_path(out, trial)
        atomic_write_bytes(dest, src.read_bytes())
    return dest


INCOMING_DIR = ".incoming"  # where a trial on the driver's own node leaves its final weights


def save_from_file(out: Path, trial: int, src: str | Path) -> Path | None:
    """Move weights a trial on the driver's node wrote (atomically: same filesystem rename)."""
    src = Path(src)
    if not src.is_file():
        return None
    dest = weights_path(out, trial)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    return dest


class ReferenceError_(ValueError):
    """A ``RESULTS_DIR:TRIAL`` reference that names no saved weights; the message is the rule."""


def resolve_reference(ref: str, *, base_dir: Path | None = None) -> Path:
    """The weights file a ``"RESULTS_DIR:TRIAL"`` reference names (absolute path)."""
    if not isinstance(ref, str) or ":" not in ref:
        raise ReferenceError_("must be 'RESULTS_DIR:TRIAL', e.g. 'results/digits:3' or 'results/digits:best'")
    where, _, trial = ref.rpartition(":")
    cands = [Path(where)] + ([base_dir / where] if base_dir is not None and not Path(where).is_absolute() else [])
    directory = next((c for c in cands if (c / STUDY_JSON).is_file()), None)
    if directory is None:
        raise ReferenceError_(f"must name a results directory (one with {STUDY_JSON}); {where!r} is not one")
    if trial == "best":
        number = best_trial(directory)
        if number is None:
            raise ReferenceError_(f"{where} has no finished trial with a metric value to call 'best'")
    else:
        try:
            number = int(trial)
        except ValueError:
            raise ReferenceError_("TRIAL must be a trial number or 'best'") from None
    path = weights_path(directory, number)
    if not path.is_file():
        raise ReferenceError_(f"trial {number} of {where} has no saved weights ({WEIGHTS_DIR}/{number}.pt): is it a finished trial?")
    return path.resolve()


def best_trial(directory: Path) -> int | None:
    """The finished trial with the best value of its study's metric (that has saved weights)."""
    import pandas as pd

    record = json.loads((directory / STUDY_JSON).read_text(encoding="utf-8"))
    metric, mode = record["settings"]["metric"], record["settings"]["mode"]
    if not (directory / TRIALS).is_file():
        return None
    df = pd.read_parquet(directory / TRIALS)
    key = f"best_{metric}"
    if key not in df:
        return None
    df = df[df[key].notna() & (df.get("status") == TrialStatus.FINISHED)]
    df = df[[weights_path(directory, int(t)).is_file() for t in df["trial"]]]
    if df.empty:
        return None
    row = df.sort_values(key, ascending=(mode == "min"), kind="stable").iloc[0]
    value = float(row[key])
    return int(row["trial"]) if math.isfinite(value) else None


def trial_of(path: str | Path) -> tuple[Path, int]:
    """(results directory, trial number) of a weights file path."""
    p = Path(path)
    return p.parent.parent, int(p.stem)
