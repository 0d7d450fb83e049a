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


def analyse(data: ReportData) -> dict[str, Any]:
    if not data.has(PREDICTED_S) or "train_s" not in data.trials:
        return {"available": False, "note": f"no {PREDICTED_S} column in these results (the cost model did not run)"}
    df = data.trials[data.trials[PREDICTED_S].notna() & data.trials["train_s"].notna() & (data.trials["train_s"] > 0)]
    if len(df) == 0:
        return {"available": False, "note": "no trial with both predicted and measured seconds"}
    pred, meas = df[PREDICTED_S].astype(float).to_numpy(), df["train_s"].astype(float).to_numpy()
    ape = np.abs(pred - meas) / meas
    ratio = pred / meas
    corr = float(np.corrcoef(pred, meas)[0, 1]) if len(df) > 2 and pred.std() > 0 and meas.std() > 0 else None
    worst = df.assign(_ape=ape).sort_values("_ape", ascending=False).head(5)
    return {"available": True, "n": len(df), "median_ape": float(np.median(ape)), "mean_ape": float(ape.mean()),
            "ratio_p10": float(np.quantile(ratio, 0.1)), "ratio_median": float(np.median(ratio)),
            "ratio_p90": float(np.quantile(ratio, 0.9)), "pearson_r": corr,
            "worst": [{"trial": int(r["trial"]), "predicted_s": float(r[PREDICTED_S]), "measured_s": float(r["train_s"])}
                      for _, r in worst.iterrows()]}


def render(data: ReportData) -> RenderableType:
    a = analyse(data)
    if not a["available"]:
        return Text(f"Prediction check: {a['note']}")
    t = Table(title=f"Prediction check: predicted vs measured seconds ({a['n']} trials)", header_style="bold")
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
