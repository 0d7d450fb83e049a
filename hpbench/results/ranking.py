"""Which trials a ranking holds, and in what order: the one definition (torch-free, Ray-free).

A trial is *ranked* when it is a search trial (not a repeat, not a device comparison), its
``status`` is ``finished`` and its ``best_<metric>`` is a finite number. Finished covers every
trial that ended by itself (completed, early-stopped, time-limited, solved, collapsed, diverged: a diverged
trial keeps its last finite epoch's value, or none) and the ones the scheduler pruned or a spent
budget stopped, with the value of the epochs they ran (as the leaderboard always ranked them).

A ``failed`` trial (it raised), an ``interrupted`` one (Ctrl-C: redone on ``--resume``) and a
``running`` one are never ranked, whatever value their epochs left: Optuna's ``best_trial`` and
Ray Tune's ``get_best_result`` rank only trials that completed, and a failed trial saved no
model. They are still counted and listed (the failures section, the trials table).

Best first in the study's mode; equal values in trial order. Every ranking reads this module: the
leaderboard and the report's sections (:func:`ranked_frame`), ``Results.best``, ``hpbench best``,
the live view's best, the repeats plan, the test split and ``keep_weights`` (:func:`ranked_rows`,
:func:`sort_key`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hpbench.results.status import TrialStatus, is_search_trial, missing

if TYPE_CHECKING:
    import pandas as pd

RANKED_STATUS = TrialStatus.FINISHED


def value(row: Mapping[str, Any], *, metric: str) -> float | None:
    """The finite ``best_<metric>`` of a finished run (a search trial, a repeat, a device run; a
    dict or a DataFrame row), else None: a failed, interrupted or running one holds no value to compare."""
    if row.get("status") != RANKED_STATUS:
        return None
    v: Any = row.get(f"best_{metric}")
    if missing(v) or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def trial_value(values: Sequence[Any], *, best_epoch: int | None, mode: str) -> tuple[int | None, float | None]:
    """A trial's ``best_epoch`` and ``best_<metric>`` from its study metric by epoch (``values[0]``:
    epoch 1) and the trainer's ``best_epoch``: the epoch whose weights the trial ended with (with
    ``restore_best_weights``, early stopping's best epoch of its monitor: :mod:`hpbench.train.best`);
    where the trainer named none (a trial pruned or failed before its last epoch, or one that
    diverged before any weights were kept), the epoch with the best finite value, the first of
    equal ones. The value is None where it is not finite. The one rule for the trials table
    (:mod:`hpbench.results.store`) and for the value Optuna is told for a finished trial
    (:mod:`hpbench.dispatch.trainable`, :mod:`hpbench.dispatch.early_helper`), which were the
    running best of the metric and disagreed under ``restore_best_weights`` (bug hunt s52h2)."""
    finite = [(f, i + 1) for i, v in enumerate(values) if (f := finite_number(v)) is not None]
    if not best_epoch and finite:
        best_epoch = (max if mode == "max" else min)(finite, key=lambda vi: vi[0])[1]  # the first of equal values
    return best_epoch or None, finite_number(values[best_epoch - 1]) if best_epoch and best_epoch <= len(values) else None


def finite_number(v: Any) -> float | None:
    """``v`` as a float where it is a finite number (not a bool), else None (NaN, inf, NA, text)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def can_rank(row: Mapping[str, Any], *, metric: str) -> bool:
    """A finished search trial with a finite ``best_<metric>`` (see the module's docstring)."""
    return is_search_trial(row) and value(row, metric=metric) is not None


def sort_key(row: Mapping[str, Any], *, metric: str, mode: str) -> tuple[int, float, int]:
    """Sorts rows best first: the ranked ones (by value in ``mode``, then the earlier trial), then
    every other row by trial number."""
    v = value(row, metric=metric)
    if v is None or not is_search_trial(row):
        return (1, 0.0, int(row["trial"]))
    return (0, v if mode == "min" else -v, int(row["trial"]))


def ranked_rows(rows: Iterable[Mapping[str, Any]], *, metric: str, mode: str) -> list[Mapping[str, Any]]:
    """The ranked rows (:func:`can_rank`), best first."""
    return sorted((r for r in rows if can_rank(r, metric=metric)), key=lambda r: sort_key(r, metric=metric, mode=mode))


def best_row(rows: Iterable[Mapping[str, Any]], *, metric: str, mode: str) -> Mapping[str, Any] | None:
    """The first of :func:`ranked_rows`, None when no row is ranked."""
    ranked = [r for r in rows if can_rank(r, metric=metric)]  # one pass, not a sort: the live view asks at every refresh
    return min(ranked, key=lambda r: sort_key(r, metric=metric, mode=mode)) if ranked else None


def rankable(df: pd.DataFrame, *, metric: str) -> pd.Series:
    """A boolean mask over a trials table: the rows :func:`can_rank` keeps."""
    import pandas as pd

    return pd.Series([can_rank(r, metric=metric) for r in df.to_dict("records")], index=df.index, dtype=bool)


def ranked_frame(df: pd.DataFrame, *, metric: str, mode: str) -> pd.DataFrame:
    """The ranked rows of a trials table, best first (equal values in trial order)."""
    key = f"best_{metric}"
    if key not in df.columns or "status" not in df.columns or df.empty:
        return df.iloc[0:0]
    keep = df[rankable(df, metric=metric)]
    if "trial" in keep.columns:
        keep = keep.sort_values("trial", kind="stable")
    return keep.sort_values(key, ascending=(mode == "min"), kind="stable")


def yet(statuses: Iterable[Any]) -> str:
    """" yet" where a trial may still add a value (one is running, or interrupted and run again by
    ``--resume``), else "": how a reader words a value no trial holds."""
    return " yet" if any(s in (TrialStatus.RUNNING, TrialStatus.INTERRUPTED) for s in statuses) else ""
