"""Building the pandas tables (and nothing else: no Ray, no torch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from hpbench.results.columns import empty_dtype, value_dtype
from hpbench.space.values import SCALARS, label

TRIAL_COLUMNS = (
    "trial", "trial_id", "status", "stop_reason", "error",
)


def _typed(series: pd.Series) -> pd.Series:
    """One type per column for parquet: a column holding lists or tuples (Adam's betas) holds
    their labels (JSON text, as Optuna does: hpbench.space.values); a column mixing numbers and
    strings (a batch size of 16 or "full") becomes strings. The search space reads both back."""
    values = [v for v in series if v is not None and not (isinstance(v, float) and pd.isna(v))]
    if any(not isinstance(v, SCALARS) for v in values):
        series = series.map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v)) else label(v))
    dtype = value_dtype(values)
    if dtype == "string":
        return series.map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)).astype("string")
    return series.astype(dtype) if dtype in ("boolean", "Int64") else series


def trials_frame(rows: Sequence[Mapping[str, Any]], param_keys: list[str], *, mixed_keys: Sequence[str] = (),
                 dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The trials table of ``rows``. ``mixed_keys``: searched keys whose values mix numbers and
    names, text whatever these rows hold (``batch_size`` was Int64 in a search that never drew
    "full" and text in one that did). ``dtypes``: the type of a searched key's column that no row
    holds a value of (:func:`hpbench.results.columns.param_dtypes`)."""
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=[*TRIAL_COLUMNS, *param_keys])
    first = [c for c in (*TRIAL_COLUMNS, *param_keys) if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    for c in df.columns:
        if c in mixed_keys:
            df[c] = df[c].map(lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)).astype("string")
        elif dtypes and c in dtypes and df[c].isna().all():
            df[c] = pd.Series(pd.NA if dtypes[c] != "float64" else float("nan"), index=df.index, dtype=dtypes[c])
        elif c not in param_keys and empty_dtype(c) is not None and df[c].isna().all():  # every trial failed or diverged
            df[c] = _empty(df, c)
        else:
            df[c] = _typed(df[c]) if not _ints_with_gaps(rows, c, df[c]) else df[c].astype("Int64")
    return df.sort_values("trial").reset_index(drop=True)


def _empty(df: pd.DataFrame, column: str) -> pd.Series:
    own = empty_dtype(column)
    return pd.Series(pd.NA if own != "float64" else float("nan"), index=df.index, dtype=own)


def typed_empty_columns(df: pd.DataFrame, param_keys: Sequence[str] = ()) -> pd.DataFrame:
    """A trials table read back with its all-NA ``object`` columns typed by
    :func:`~hpbench.results.columns.empty_dtype`, and its whole-number columns (``repeat``,
    ``seed``, ``epochs``) held as floats typed Int64: a table written before they were."""
    fix = [c for c in df.columns if c not in param_keys and df[c].dtype == object and empty_dtype(c) is not None and df[c].isna().all()]
    ints = [c for c in df.columns if c not in param_keys and _whole_floats(c, df[c].dropna().tolist(), df[c])]
    if not fix and not ints:
        return df
    df = df.copy()
    for c in fix:
        df[c] = _empty(df, c)
    for c in ints:
        df[c] = df[c].astype("Int64")
    return df


def _ints_with_gaps(rows: Sequence[Mapping[str, Any]], column: str, series: pd.Series) -> bool:
    """A column of whole numbers some rows lack (``repeat``, ``seed``, ``epochs`` of a trial
    interrupted before its first): pandas holds it as floats (1.0, NaN), the rows held ints."""
    if series.dtype != "float64":
        return False
    values = [row.get(column) for row in rows]
    present = [v for v in values if v is not None and not (isinstance(v, float) and pd.isna(v))]
    ints = bool(present) and all(isinstance(v, int) and not isinstance(v, bool) for v in present)
    return ints or _whole_floats(column, present, series)


def _whole_floats(column: str, present: Sequence[Any], series: pd.Series) -> bool:
    """A whole-number column of the table's own (:func:`~hpbench.results.columns.empty_dtype`'s
    Int64: ``repeat``, ``repeat_of``, ``seed``, ``epochs``...) holding floats that are whole
    numbers (1.0): the rows of a folder written before these columns were typed, read back
    (a resume continues them with Int64 rows of its own)."""
    if series.dtype != "float64" or empty_dtype(column) != "Int64" or not present:
        return False
    return all(isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer() for v in present)


def epochs_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=["trial", "trial_id", "epoch"])
    return df.sort_values(["trial", "epoch"]).reset_index(drop=True)
