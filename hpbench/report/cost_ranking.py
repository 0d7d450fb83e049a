"""Cost ranking: the Pareto front of metric vs cost (no trial both better and cheaper) and
the best trial under a few budgets. Uses the cost engineer's pure functions in
``hpbench/report/cost.py`` when they exist; otherwise the front is computed here from the
columns the results hold (predicted FLOPs when present, else measured seconds)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt, records
from hpbench.report.leaderboard import hyperparameters


def pareto_front(df: pd.DataFrame, *, value: str, cost: str, mode: str) -> pd.DataFrame:
    """Rows not dominated by a row that is at least as good and at least as cheap (and strictly
    better in one), cheapest first."""
    d = df[df[value].notna() & df[cost].notna()].sort_values([cost, value], ascending=[True, mode == "min"], kind="stable")
    keep, best = [], None
    for i, row in d.iterrows():
        v = float(row[value])
        if best is None or (v > best if mode == "max" else v < best):
            keep.append(i)
            best = v
    return d.loc[keep]


def best_under(df: pd.DataFrame, *, value: str, cost: str, mode: str, budget: float) -> pd.Series | None:
    d = df[df[value].notna() & (df[cost] <= budget)]
    if d.empty:
        return None
    return d.sort_values(value, ascending=(mode == "min"), kind="stable").iloc[0]


def _budgets(df: pd.DataFrame, cost: str) -> list[float]:
    c = df[cost].dropna()
    return sorted({float(c.quantile(q)) for q in (0.25, 0.5, 1.0)}) if len(c) else []


def _cost_module() -> Any | None:
    try:
        from hpbench.report import cost  # written by the cost engineer
    except ImportError:
        return None
    return cost if hasattr(cost, "pareto_front") else None


def analyse(data: ReportData) -> dict[str, Any]:
    chosen = data.cost_column()
    if chosen is None:
        return {"available": False, "note": "no cost column in the results (predicted_flops, flops_spent, predicted_s, train_s)"}
    cost, label = chosen
    df = data.trials
    mod = _cost_module()
    front = pareto_front(df, value=data.key, cost=cost, mode=data.mode)
    under = []
    for b in _budgets(df, cost):
        row = best_under(df, value=data.key, cost=cost, mode=data.mode, budget=b)
        under.append({"budget": b, "trial": None if row is None else int(row["trial"]),
                      data.key: None if row is None else float(row[data.key]), "cost": None if row is None else float(row[cost])})
    note = f"cost = {label} ({cost})" + ("" if mod else "; computed from the tables (hpbench/report/cost.py not present)")
    if cost == "train_s":
        note += "; no predicted cost in these results"
    return {"available": True, "cost": cost, "cost_label": label, "note": note,
            "front": records(front[["trial", data.key, cost, *[p for p in data.params if p in front.columns]]]), "best_under": under}


def render(data: ReportData) -> RenderableType:
    a = analyse(data)
    if not a["available"]:
        return Text(f"Cost ranking: {a['note']}")
    cost, label = a["cost"], a["cost_label"]
    front = Table(title=f"Cost ranking: Pareto front of {data.metric} vs {label}", header_style="bold", caption=a["note"])
    for c in ("trial", data.metric, label):
        front.add_column(c, justify="right")
    front.add_column("hyperparameters", ratio=1, overflow="fold")
    for r in a["front"]:
        front.add_row(str(r["trial"]), fmt(r[data.key], 4), fmt(r[cost]), hyperparameters(r, data.params))
    under = Table(title=f"Best under budget ({label})", header_style="bold")
    for c in ("budget", "trial", data.metric, label):
        under.add_column(c, justify="right")
    for r in a["best_under"]:
        under.add_row(f"<= {fmt(r['budget'])}", fmt(r["trial"]), fmt(r[data.key], 4), fmt(r["cost"]))
    return Group(front, under)


def to_json(data: ReportData) -> dict[str, Any]:
    return analyse(data)
