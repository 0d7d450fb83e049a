"""The ``calibration`` section: the top trials' calibration next to their accuracy (ECE and NLL
at the best epoch, and what temperature scaling did). The reliability diagram is among the
plots (:func:`hpbench.report.plots.reliability`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt, jsonable
from hpbench.train.task import SUPERVISED

_CAL = ("temperature", "ece_before", "ece_after", "nll_before", "nll_after")


def _at_best(data: ReportData, top: int) -> pd.DataFrame:
    """The top trials with their validation accuracy, ECE and NLL at the best epoch."""
    ranked = data.ranked().head(top)
    e = data.epochs
    if ranked.empty or "val_ece" not in e.columns:
        return ranked.iloc[0:0]
    rows = []
    for _, t in ranked.iterrows():
        hit = e[(e["trial"] == t["trial"]) & (e["epoch"] == t.get("best_epoch"))]
        r = hit.iloc[0] if not hit.empty else {}
        rows.append({"trial": t["trial"], "val_accuracy": r.get("val_accuracy"), "val_ece": r.get("val_ece"), "val_nll": r.get("val_nll"),
                     **{k: t.get(k) for k in _CAL}})
    return pd.DataFrame(rows)


def render(data: ReportData, *, top: int = 10) -> RenderableType:
    if data.task != SUPERVISED:
        return Text(f"Calibration: applies to classification only, not to this study's task ({data.task}).")
    df = _at_best(data, top)
    if df.empty:
        return Text("Calibration: no val_ece column (regression, or results from before calibration was recorded).")
    table = Table(title="Calibration of the top trials (validation split, best epoch; ECE with 15 bins)", title_justify="left")
    for col in ("trial", "val_accuracy", "val_ece", "val_nll", "temperature", "ece_before", "ece_after", "nll_after"):
        table.add_column(col, justify="right")
    for _, r in df.iterrows():
        table.add_row(*(fmt(r.get(c)) for c in ("trial", "val_accuracy", "val_ece", "val_nll", "temperature", "ece_before", "ece_after", "nll_after")))
    return table


def to_json(data: ReportData, *, top: int = 10) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in r.items()} for r in _at_best(data, top).to_dict(orient="records")]
