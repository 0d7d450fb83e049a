"""Which finished search trials keep their weights file (``[study] keep_weights``), and what a
reader is told of a trial that has none: one whose file was not kept, or one that diverged before
any epoch's weights were kept (:func:`no_weights`). Torch-free, Ray-free.

Every trial that ends by itself saves its final model (``weights/<trial>.pt``,
:mod:`hpbench.results.weights`); with ``keep_weights = N`` the search deletes, each time a trial
ends and once more when the command ends, the files of the ended search trials that are not among
the ``N`` best by the study's metric (``best_<metric>``, in its mode), as Ray Tune's
``CheckpointConfig(num_to_keep=N, checkpoint_score_attribute=...)`` keeps its best checkpoints.

- At least ``repeats_top`` are kept: the test split evaluates the ``repeats_top`` best search
  trials from their weights after the search (:mod:`hpbench.dispatch.test_split`).
- Only ended rows (finished or failed) are ranked; a running or interrupted trial's file is left
  alone (a resume drops those rows and their files: :func:`hpbench.results.weights.drop_unrecorded`).
- Repeats and device comparisons are not search trials: their files are always kept.
- Ranked among the trials that have a file: finished trials with a finite value first, best first,
  ties broken by the earlier trial (the leaderboard's and the test split's order); then the others
  (failed, no finite value), which never rank as best. The best ``N`` only get better as trials
  end, so a file deleted as the search goes is never one the end would keep.
- Each deleted file is recorded with the values that deleted it (:mod:`hpbench.results.deleted_weights`),
  which readers name: a resume may change ``keep_weights``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hpbench.results.deleted_weights import Deletion, read_deleted
from hpbench.results.files import STUDY_JSON, TRIALS
from hpbench.results.parts import read_table
from hpbench.results.ranking import sort_key
from hpbench.results.status import DONE, StopReason, TrialStatus, is_search_trial, missing

KEY = "keep_weights"  # the [study] key (default "all": every finished trial keeps its weights)
# stop reasons the dispatcher sets on a trial that never saved weights (the trainer ended none of these)
_NEVER_SAVED = (StopReason.PRUNED, StopReason.BUDGET, StopReason.FAILED)


def n_kept(keep_weights: object, *, repeats_top: int) -> int | None:
    """How many search trials keep their weights (``None``: every one): ``keep_weights``, and at
    least ``repeats_top`` (the test split reads theirs)."""
    if not isinstance(keep_weights, int) or isinstance(keep_weights, bool):
        return None
    return max(int(keep_weights), int(repeats_top))


def to_drop(rows: Iterable[Mapping[str, Any]], *, metric: str, mode: str, n_keep: int, has_weights: Callable[[int], bool]) -> list[int]:
    """The trial numbers, in trial order, of the ended search trials with a weights file
    (``has_weights(trial)``) beyond the ``n_keep`` best."""
    ended = [r for r in rows if r.get("status") in DONE and is_search_trial(r) and has_weights(int(r["trial"]))]
    ranked = sorted(ended, key=lambda r: sort_key(r, metric=metric, mode=mode))
    return sorted(int(r["trial"]) for r in ranked[n_keep:])


def deleted_by(record: Mapping[str, Any], row: Mapping[str, Any] | None, *, deleted: Mapping[int, Deletion] | None = None) -> Deletion | None:
    """The ``[study] keep_weights`` and ``repeats_top`` that removed trial ``row``'s weights file,
    where they did: a finished search trial that ended by itself saved one; ``None`` otherwise: it
    never saved one (pruned, failed, diverged before any epoch's weights were kept), or nothing
    deleted it. ``deleted``: the folder's record of the files deleted
    (:func:`~hpbench.results.deleted_weights.read_deleted`), which names the values of the run that
    deleted each (a resume may change them); without one (an older folder), ``record``'s (the
    study's ``study.json``, the latest run's)."""
    if row is None or row.get("status") != TrialStatus.FINISHED or not is_search_trial(row) or diverged_without_weights(row):
        return None
    if not missing(row.get("stop_reason")) and row.get("stop_reason") in _NEVER_SAVED:
        return None
    if deleted is not None:  # the record names every file the keeper deleted
        return deleted.get(int(row["trial"]))
    keep, top = _settings(record)
    return Deletion(keep_weights=keep, repeats_top=top) if n_kept(keep, repeats_top=top) is not None else None


def not_kept(record: Mapping[str, Any], row: Mapping[str, Any] | None, *, deleted: Mapping[int, Deletion] | None = None) -> str | None:
    """Why trial ``row`` of the results whose study record (``study.json``) is ``record`` has no
    weights file, where ``[study] keep_weights`` removed it (:func:`deleted_by`, naming the value
    that did); ``None`` otherwise."""
    by = deleted_by(record, row, deleted=deleted)
    if by is None or row is None:
        return None
    now = _settings(record)[0]
    earlier = f" (an earlier run's; now {now})" if now != by.keep_weights else ""
    n = n_kept(by.keep_weights, repeats_top=by.repeats_top)
    least = f" (at least repeats_top = {by.repeats_top}, whose weights the test split reads)" if n != by.keep_weights else ""
    return (f"trial {int(row['trial'])}'s weights were not kept: [study] {KEY} = {by.keep_weights}{earlier} keeps the weights of the "
            f"{n} best search trials only{least}")


def _settings(record: Mapping[str, Any]) -> tuple[Any, int]:
    """``keep_weights`` and ``repeats_top`` as the study record has them (the latest run's)."""
    settings = record.get("settings")
    keep, top = (settings.get(KEY), settings.get("repeats_top")) if isinstance(settings, Mapping) else (None, None)
    return keep, top if isinstance(top, int) and not isinstance(top, bool) else 1


def diverged_without_weights(row: Mapping[str, Any] | None) -> str | None:
    """Why trial ``row`` has no weights file where it diverged before any epoch's weights were kept
    (in its first epoch, without ``restore_best_weights``): its weights were not finite, so it saved
    none and has ``best_epoch`` NA (:mod:`hpbench.train.best`); ``None`` otherwise."""
    if row is None or row.get("stop_reason") != StopReason.DIVERGED or not missing(row.get("best_epoch")):
        return None
    epochs: Any = row.get("epochs")
    n = None if missing(epochs) else int(epochs)
    when = "in its first epoch" if n == 1 else f"after {n} epochs, before any epoch's weights were kept" if n else "before any epoch's weights were kept"
    return f"trial {int(row['trial'])} diverged {when}: its loss was not finite, so it has no weights (best_epoch NA)"


def no_weights(record: Mapping[str, Any], row: Mapping[str, Any] | None, *, deleted: Mapping[int, Deletion] | None = None) -> str | None:
    """Why trial ``row`` has no weights file, where that can be told: it diverged before any
    epoch's weights were kept (:func:`diverged_without_weights`), or ``keep_weights`` removed it
    (:func:`not_kept`); ``None`` otherwise. Every reader of a missing file asks this (or one of the
    two): the one place that decides the reason."""
    return diverged_without_weights(row) or not_kept(record, row, deleted=deleted)


def no_weights_in(directory: Path, trial: int) -> str | None:
    """:func:`no_weights` of trial ``trial`` of the results directory ``directory``, read from its
    ``study.json``, trials table and record of deleted files (``None`` where one cannot be read: a
    folder's content is never trusted, and this only explains a file already missing)."""
    try:
        record = json.loads((Path(directory) / STUDY_JSON).read_text(encoding="utf-8"))
        if not isinstance(record, Mapping):
            return None
        df = read_table(Path(directory), TRIALS)
        rows = df[df["trial"] == int(trial)].to_dict("records")
        deleted = read_deleted(Path(directory))
    except Exception:  # unreadable, damaged, another layout: no explanation rather than another error
        return None
    return no_weights(record, rows[0], deleted=deleted) if rows else None
