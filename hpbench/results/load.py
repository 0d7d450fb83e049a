"""``hpbench.load``: the results tables as pandas DataFrames, without Ray or torch."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from hpbench.results.files import EPOCHS, PREV, STUDY_JSON, TRIALS, DamagedTable
from hpbench.results.parts import read_table
from hpbench.results.record_format import warn_if_newer
from hpbench.results.tables import typed_empty_columns

TABLES = {"trials": TRIALS, "epochs": EPOCHS}


def load(path: str | os.PathLike[str], table: str | None = None) -> pd.DataFrame:
    """Load a results table: ``table="trials"`` (one row per trial, the default) or ``"epochs"``.

    ``path`` is a results directory (``results/<study>``) or a parquet file in it. A table file
    (``trials.parquet``, ``epochs.parquet``) is that table: a different ``table`` is refused
    (``ValueError``; pass the directory to choose). While a search runs, a table is its base file
    plus parts (:mod:`hpbench.results.parts`): read as one. Raises ``ValueError`` for a file that
    is no parquet table (a study file, weights) and :class:`hpbench.results.files.DamagedTable`
    naming a table file that cannot be read.
    """
    p = Path(path)
    if table is not None and table not in TABLES:
        raise ValueError(f"table must be one of {sorted(TABLES)}, but got {table!r}")
    if p.is_dir():
        _warn_if_newer(p)
        return _typed(read_table(p, TABLES[table or "trials"]), table or "trials")
    if p.name in TABLES.values() and p.parent.is_dir():  # a table file of a results directory: with its parts
        own = next(k for k, v in TABLES.items() if v == p.name)
        if table not in (None, own):
            raise ValueError(f"{p} is the {own} table, but table={table!r} was asked: pass the results directory {p.parent} to choose a table")
        _warn_if_newer(p.parent)
        return _typed(read_table(p.parent, p.name), own)
    if not p.exists():
        raise FileNotFoundError(f"no results table at {p} (run `hpbench search` first)")
    if not _parquet(p):
        raise ValueError(f"{p}: not a results table (a parquet file, or a results directory holding {TRIALS} and {EPOCHS})")
    try:
        return pd.read_parquet(p)
    except Exception as err:  # pyarrow's errors for a truncated or foreign file
        raise DamagedTable(f"{p}: cannot be read, it is damaged ({type(err).__name__})") from None


def _warn_if_newer(results: Path) -> None:
    """Warn once where the folder's record says a newer hpbench wrote it; a folder without a
    readable record is read as before (its tables are all this function needs)."""
    try:
        record = json.loads((results / STUDY_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(record, dict):
        warn_if_newer(record, path=results / STUDY_JSON)


def _parquet(path: Path) -> bool:
    """Whether ``path`` is meant as a parquet file: its name, or its first bytes (``PAR1``)."""
    if path.name.endswith((".parquet", ".parquet" + PREV)):
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def _typed(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The trials table with the columns no trial holds a value of typed as in any other study
    (:func:`hpbench.results.tables.typed_empty_columns`: results written before they were)."""
    return typed_empty_columns(df) if table == "trials" else df
