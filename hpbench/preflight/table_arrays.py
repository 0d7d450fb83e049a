"""A data file's table as the arrays every kind of data is checked as (:mod:`hpbench.preflight.data`),
once its own rules are checked (:mod:`hpbench.preflight.table`). Split from that module, whose
functions report problems; this one reads past them."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpbench.data.user import FLOAT32_MAX, infer_task
from hpbench.preflight.data import DataContext
from hpbench.preflight.load import Arrays
from hpbench.preflight.table import MAX_CATEGORIES, csv_data, nested_cells, target_name, task_given, text_among_numbers


def table_arrays(table: Any, ctx: DataContext, *, task: str | None) -> Arrays | None:
    """The arrays the array checks read, from a table whose target column exists (rows without a
    target dropped, empty or infinite feature cells as 0, unusable text columns left out: those
    problems are the table checks' to report). A target of numbers with some text cells is read
    as those numbers, the text cells' rows dropped (:func:`~hpbench.preflight.table.text_target`
    names them): read as text, its task was classes, and the array checks blamed the metric."""
    import pandas as pd

    target = target_name(ctx)
    if target not in table.columns or not len(table):
        return None
    labels = table[target]
    text = text_among_numbers(labels) if task_given(ctx) in (None, "regression") else None
    if text is not None and len(text):
        labels = pd.to_numeric(labels, errors="coerce")
    keep = labels.notna().to_numpy()
    feats = table.drop(columns=[target])[keep]
    cols = {}
    for col in feats.columns:
        values = feats[col]
        if values.dtype.kind in "Mm":  # a date: date_columns' problem
            continue
        if values.dtype.kind in "biuf":
            f = values.astype(np.float64).replace([np.inf, -np.inf], np.nan).fillna(0.0)
            cols[col] = f.where(f.abs() <= FLOAT32_MAX, 0.0)  # too large for float32: infinite_values' problem
        elif not len(nested_cells(values)) and values.nunique() <= MAX_CATEGORIES:
            cols[col] = values
    frame = pd.get_dummies(pd.DataFrame(cols, index=feats.index), dtype=np.float32) if cols else pd.DataFrame(index=feats.index)
    x = frame.to_numpy(dtype=np.float32) if frame.shape[1] else np.zeros((int(keep.sum()), 1), dtype=np.float32)
    y = labels.to_numpy()[keep]
    if y.dtype.kind == "f":
        y = np.where(np.isinf(y), 0.0, y)
    first, word = (2, "line") if csv_data(ctx) else (0, "row")
    return Arrays(x=x, y=y, task=task or infer_task(y), x_key="features", y_key="data.target", first_row=first, row_word=word,
                  x_names=tuple(str(c) for c in frame.columns) if frame.shape[1] else ())
