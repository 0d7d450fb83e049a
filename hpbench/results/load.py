"""``hpbench.load``: the results tables as pandas DataFrames, without Ray or torch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpbench.results.files import EPOCHS, TRIALS, DamagedTable
from hpbench.results.parts import read_table

TABLES = {"trials": TRIALS, "epochs": EPOCHS}


def load(path: str | Path, table: str = "trials") -> pd.DataFrame:
    """Load a results table: ``table="trials"`` (one row per trial) or ``"epochs"``.

    ``path`` is a results directory (``results/<study>``) or a parquet file in it. While a
    search runs, a table is its base file plus parts (:mod:`hpbench.results.parts`): read as one.
    Raises :class:`hpbench.results.files.DamagedTable` naming a file that cannot be read.
    """
    p = Path(path)
    if table not in TABLES:
        raise ValueError(f"table must be one of {sorted(TABLES)}, but got {table!r}")
    if p.is_dir():
        return read_table(p, TABLES[table])
    if p.name in TABLES.values() and p.parent.is_dir():  # a table file of a results directory: with its parts
        return read_table(p.parent, p.name)
    if not p.exists():
        raise FileNotFoundError(f"no results table at {p} (run `hpbench search` first)")
    try:
        return pd.read_parquet(p)
    except Exception as err:  # pyarrow's errors for a truncated or foreign file
        raise DamagedTable(f"{p}: cannot be read, it is damaged ({type(err).__name__})") from None
