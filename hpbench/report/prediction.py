"""Prediction check: the cost model's predicted seconds vs the measured training seconds, and
the error statistics (median and mean absolute percentage error, ratio spread, correlation)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt
from hpbench.results.columns import PREDICTED_S


def _pair(data: ReportData) -> tuple[Any, Any, str] | None:
    """(predicted, measured) seconds for the epochs each trial actually ran."""
    t = data.trials
    if data.has("predicted_spent_s") and data.has("measured_s"):
        return t["predicted_spent_s"], t["measured_s"], "predicted_spent_s vs measured_s"
    if data.has("predicted_epoch_s") and "train_s" in t:
        return t["predicted_epoch_s"] * t["epochs"].astype(float), t["train_s"], "predicted_epoch_s x epochs vs train_s"
    return None


def analyse(data: ReportData) -> dict[str, Any]:
    pair = _pair(data)
    if pair is None:
        return {"available": False, "note": f"no predicted time ({PREDICTED_S}, predicted_spent_s) in these results (the cost model did not run)"}
    p_col, m_col, basis = pair
    ok = p_col.notna() & m_col.notna() & (m_col.astype(float) > 0)
    df = data.trials[ok].assign(_pred=p_col[ok].astype(float), _meas=m_col[ok].astype(float))
    if len(df) == 0:
        return {"available": False, "note": "no trial with both predicted and measured seconds"}
    pred, meas = df["_pred"].to_numpy(), df["_meas"].to_numpy()
    ape = np.abs(pred - meas) / meas
    ratio = pred / meas
    corr = float(np.corrcoef(pred, meas)[0, 1]) if len(df) > 2 and pred.std() > 0 and meas.std() > 0 else None
    worst = df.assign(_ape=ape).sort_values("_ape", ascending=False).head(5)
    return {"available": True, "basis": basis, "n": len(df), "median_ape": float(np.median(ape)), "mean_ape": float(ape.mean()),
            "ratio_p10": float(np.quantile(ratio, 0.1)), "ratio_median": float(np.median(ratio)),
            "ratio_p90": float(np.quantile(ratio, 0.9)), "pearson_r": corr,
            "worst": [{"trial": int(r["trial"]), "predicted_s": float(r["_pred"]), "measured_s": float(r["_meas"])}
                      for _, r in worst.iterrows()]}


def render(data: ReportData) -> RenderableType:
    a = analyse(data)
    if not a["available"]:
        return Text(f"Prediction check: {a['note']}")
    t = Table(title=f"Prediction check: predicted vs measured seconds ({a['n']} trials)", header_style="bold", caption=a["basis"])
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for k, label in (("median_ape", "median |error| %"), ("mean_ape", "mean |error| %")):
        t.add_row(label, f"{100 * a[k]:.1f}%")
    t.add_row("predicted/measured p10 · median · p90", f"{a['ratio_p10']:.2f} · {a['ratio_median']:.2f} · {a['ratio_p90']:.2f}")
    t.add_row("Pearson r", fmt(a["pearson_r"]))
    for w in a["worst"][:3]:
        t.add_row(f"worst: trial {w['trial']}", f"{fmt(w['predicted_s'])} s vs {fmt(w['measured_s'])} s")
    return t


def to_json(data: ReportData) -> dict[str, Any]:
    return analyse(data)
