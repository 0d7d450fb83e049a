"""The record of the weights files ``[study] keep_weights`` deleted: ``weights/deleted.json``, one
entry per trial, ``{"<trial>": {"keep_weights": N, "repeats_top": T}}``, the values of the run
that deleted the file. Torch-free, Ray-free.

``study.json`` holds the settings of the latest run only (a resume may change ``keep_weights``: it
is left out of the fingerprint), so a file an earlier run deleted was explained with the current
value: "keep_weights = 3 keeps the 3 best" of a trial among the 3 best, or, after a resume with
``"all"``, that a pruned or failed trial saves none (bug hunt s51/v1, finding 3). The keeper
(:mod:`hpbench.dispatch.keep_weights`) writes the entry before it deletes the file; a resume keeps
the record (it drops the ``.pt`` files of the rows it drops only,
:func:`hpbench.results.weights.drop_unrecorded`). A folder without the record (written before it)
is explained from ``study.json`` (:func:`hpbench.results.keep.not_kept`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from hpbench.results.files import WEIGHTS_DIR, atomic_write_json

DELETED_FILE = "deleted.json"


@dataclass(frozen=True, kw_only=True)
class Deletion:
    """The ``[study]`` values of the run whose ``keep_weights`` deleted a trial's weights file."""

    keep_weights: int
    repeats_top: int


def deleted_path(out: Path) -> Path:
    return Path(out) / WEIGHTS_DIR / DELETED_FILE


def read_deleted(out: Path) -> dict[int, Deletion] | None:
    """The trials whose files ``keep_weights`` deleted in the results folder ``out``; ``None``
    without a record (nothing deleted since it is kept, or a folder written before it). Entries
    that are not the record's own layout are skipped: a folder's content is never trusted."""
    try:
        raw = json.loads(deleted_path(out).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    found: dict[int, Deletion] = {}
    for trial, entry in raw.items() if isinstance(raw, dict) else ():
        keep, top = (entry.get("keep_weights"), entry.get("repeats_top")) if isinstance(entry, dict) else (None, None)
        if str(trial).isdigit() and _count(keep) and _count(top):
            found[int(trial)] = Deletion(keep_weights=keep, repeats_top=top)
    return found


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def record_deleted(out: Path, trials: Iterable[int], *, keep_weights: int, repeats_top: int) -> None:
    """Add ``trials`` to the record, as deleted by ``keep_weights`` with ``repeats_top`` (written
    atomically, before the files are deleted: a file the record names may still be there, never
    the other way round)."""
    trials = sorted(set(trials))
    if not trials:
        return
    known = read_deleted(out) or {}
    known.update({t: Deletion(keep_weights=keep_weights, repeats_top=repeats_top) for t in trials})
    atomic_write_json(deleted_path(out), {str(t): {"keep_weights": d.keep_weights, "repeats_top": d.repeats_top} for t, d in sorted(known.items())})
