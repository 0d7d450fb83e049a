"""A pre-flight warning about a table's columns (not a problem: the search still runs): a feature
column that copies the target. Split from :mod:`hpbench.preflight.table`, whose rules refuse."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpbench.preflight.data import DataContext
from hpbench.preflight.table import target_name

SAMPLE_ROWS_FIRST = 2000  # rows a column's values are counted in first


def label_copies(table: Any, ctx: DataContext) -> list[str]:
    """Warnings (not problems): a feature column that is the target under another name (a class
    label kept beside its code, the target saved twice): a network learns the copy, and its
    validation score says nothing of the other features. A column is such a copy when it has as
    many distinct values as the target and each of them goes with one target value (for a target
    whose values hardly repeat, a regression's: when it is a linear function of it)."""
    target = target_name(ctx)
    if target not in table.columns or len(table) < 2:
        return []
    try:
        n_classes = table[target].nunique()
    except TypeError:  # lists in the target's cells: one_value_cells' problem
        return []
    if n_classes < 2:
        return []
    out = []
    # a target whose values hardly repeat (a regression's): any column of distinct values maps one-to-one onto it,
    # so only a column on a line with it (the same values in other units) is a copy
    continuous = n_classes * 2 > len(table)
    for col in table.columns:
        try:
            if col == target or table[col].isna().any():
                continue
            if continuous:
                copy = table[col].dtype.kind in "biuf" and table[target].dtype.kind in "biuf" and _on_a_line(table[col], table[target])
            elif table[col].iloc[:SAMPLE_ROWS_FIRST].nunique() > n_classes:  # more values than the target in its first rows: no copy
                continue                                                    # (the whole column's count took 0.27 s at 200,000 x 50)
            else:
                copy = table[col].nunique() == n_classes and bool((table.groupby(col, observed=True)[target].nunique() == 1).all())
        except TypeError:  # lists in its cells (unhashable): one_value_cells' problem
            continue
        if copy:
            how = "is a linear function of it" if continuous else f"each of its {n_classes} values goes with one target value"
            out.append(f"{ctx.source}: column {str(col)!r}: determines data.target {target!r} exactly ({how}): a copy of the label? "
                       "A network learns the copy; drop the column unless it is known whenever a prediction is made")
    return out


def _on_a_line(x: Any, y: Any) -> bool:
    """Whether two numeric columns are one linear function of the other (|correlation| above 0.99999)."""
    a, b = x.to_numpy(dtype=np.float64), y.to_numpy(dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return False
    return bool(abs(np.corrcoef(a[ok], b[ok])[0, 1]) > 0.99999)
