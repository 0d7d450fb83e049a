"""Devices: the same configurations on each device of ``[train] devices`` — measured and
predicted seconds per epoch, the metric, and the speed-up of each configuration."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt
from hpbench.results.columns import DEVICE_OF


def _per_epoch(df: pd.DataFrame, col: str) -> pd.Series:
    return df[col] / df["epochs"].where(df["epochs"] > 0) if col in df.columns and "epochs" in df.columns else pd.Series(dtype=float)


def summary(data: ReportData) -> dict[str, Any]:
    if data.device_runs.empty:
        return {"devices": [], "note": "one device: list several in [train] devices to compare them"}
    base = data.trials.set_index("trial")
    runs = data.device_runs
    rows = []
    frames = {str(base["device"].dropna().iloc[0]) if "device" in base and base["device"].notna().any() else "search": base.reset_index()}
    for dev, g in runs.groupby("device"):
        frames[str(dev)] = g
    for dev, df in frames.items():
        measured = _per_epoch(df, "train_s")
        predicted = df["predicted_epoch_s"] if "predicted_epoch_s" in df.columns else pd.Series(dtype=float)
        err = ((predicted - measured) / measured).abs() if len(predicted) else pd.Series(dtype=float)
        rows.append({"device": dev, "trials": len(df), "median_s_per_epoch": _num(measured.median()),
                     "median_predicted_s_per_epoch": _num(predicted.median()), "median_abs_error": _num(err.median()),
                     f"median_{data.key}": _num(df[data.key].median()) if data.key in df else None})
    speedups = []
    for _, r in runs.iterrows():
        of = int(r[DEVICE_OF])
        if of in base.index and r.get("epochs") and base.loc[of].get("epochs"):
            a = base.loc[of]["train_s"] / base.loc[of]["epochs"]
            b = r["train_s"] / r["epochs"]
            if b and b > 0:
                speedups.append({"trial": of, "device": r["device"], "speedup": float(a / b)})
    return {"devices": rows, "speedups": speedups}


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def render(data: ReportData) -> RenderableType:
    s = summary(data)
    if not s["devices"]:
        return Text(f"  devices: {s['note']}", style="dim")
    t = Table(title="Devices: the same configurations on each device", header_style="bold",
              caption="speed-up = the search device's seconds per epoch / this device's, per configuration")
    for c in ("device", "trials", "s/epoch (median)", "predicted s/epoch", "|error|", f"median {data.metric}", "speed-up (median)"):
        t.add_column(Text(c), justify="left" if c == "device" else "right")
    sp = pd.DataFrame(s["speedups"])
    for r in s["devices"]:
        med = sp[sp["device"] == r["device"]]["speedup"].median() if not sp.empty else None
        t.add_row(Text(str(r["device"])), str(r["trials"]), fmt(r["median_s_per_epoch"]), fmt(r["median_predicted_s_per_epoch"]),
                  fmt(r["median_abs_error"], 2), fmt(r[f"median_{data.key}"], 4), fmt(med, 2) if med is not None else "1 (search)")
    return t


def to_json(data: ReportData) -> dict[str, Any]:
    return summary(data)
