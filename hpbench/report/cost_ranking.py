"""Cost ranking: the Pareto front of metric vs cost (no trial both better and cheaper), the
best trial under FLOPs / seconds budgets (``hpbench report --budget-flops N --budget-s N``; a few
quantile budgets of the chosen cost when none is given) and, for a metric ranked by max, the
metric per unit cost. The ranking itself is :mod:`hpbench.report.cost`'s pure functions; this
module picks the columns and renders."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hpbench.report import cost as C
from hpbench.report.data import ReportData, fmt, records
from hpbench.report.leaderboard import hyperparameters
from hpbench.results.columns import FLOPS_SPENT, PREDICTED_FLOPS, PREDICTED_S

# The cost a budget is charged in, by preference: predicted to max epochs, then what was spent.
FLOPS_COLUMNS = (PREDICTED_FLOPS, FLOPS_SPENT)
SECONDS_COLUMNS = (PREDICTED_S, "measured_s", "train_s")


def pareto_front(df: pd.DataFrame, *, value: str, cost: str, mode: str) -> pd.DataFrame:
    """:func:`hpbench.report.cost.pareto_front` with the metric column named ``value`` (the plots' call)."""
    return C.pareto_front(df, metric=value, mode=mode, cost=cost)


def _budgets(df: pd.DataFrame, cost: str) -> list[float]:
    c = pd.to_numeric(df[cost], errors="coerce").dropna()
    c = c[c > 0]
    return sorted({float(c.quantile(q)) for q in (0.25, 0.5, 1.0)}) if len(c) else []


def _column(data: ReportData, candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if data.has(c)), None)


def _per_cost(data: ReportData) -> bool:
    """Whether the front shows the metric per unit cost: only where more is better (an accuracy).
    For a min metric (a loss, an MSE) a higher value per FLOP is not better, so the column read
    backwards; the front itself already ranks metric against cost."""
    return data.mode == "max"


def budget_rows(data: ReportData, *, budget_flops: float | None = None, budget_s: float | None = None,
                default_cost: str | None = None) -> list[dict[str, Any]]:
    """The best trial under each budget: the ones asked for, else quantile budgets of ``default_cost``."""
    asked: list[tuple[float, tuple[str, ...], str]] = [(b, FLOPS_COLUMNS, "FLOPs") for b in (budget_flops,) if b is not None]
    asked += [(b, SECONDS_COLUMNS, "s") for b in (budget_s,) if b is not None]
    plan: list[tuple[float, str | None, str]] = [(b, _column(data, cols), unit) for b, cols, unit in asked]
    if not asked and default_cost is not None:
        plan = [(b, default_cost, "") for b in _budgets(data.trials, default_cost)]
    out = []
    for b, col, unit in plan:
        row = None if col is None else C.best_under_budget(data.scored(), metric=data.key, mode=data.mode, budget=b, cost=col)
        out.append({"budget": b, "unit": unit, "cost_column": col, "trial": None if row is None else int(row["trial"]),
                    data.key: None if row is None else float(row[data.key]), "cost": None if row is None or col is None else float(row[col]),
                    "note": f"no {unit or 'cost'} column in the results" if col is None else (None if row is not None else "no trial fits")})
    return out


def analyse(data: ReportData, *, budget_flops: float | None = None, budget_s: float | None = None) -> dict[str, Any]:
    chosen = data.cost_column()
    coverage = {"coverage": cov} if (cov := C.coverage_notes(data.trials)) else {}
    if chosen is None:
        return {"available": False, "note": "no cost column in the results (predicted_flops, flops_spent, predicted_s, train_s)",
                "best_under": budget_rows(data, budget_flops=budget_flops, budget_s=budget_s) if budget_flops or budget_s else [], **coverage}
    df = data.scored()  # failed, interrupted and running trials are never ranked (hpbench.results.ranking)
    if df.empty:
        return {"available": False, "note": f"no finished trial has a value of {data.metric}{data.yet()}", "best_under": [], **coverage}
    cost, label = chosen
    front = C.pareto_front(df, metric=data.key, mode=data.mode, cost=cost)
    per = C.metric_per_cost(front, metric=data.key, cost=cost) if _per_cost(data) else None
    note = f"cost = {label} ({cost})"
    if cost == "train_s":
        note += "; no predicted cost in these results"
    cols = ["trial", data.key, cost, *[p for p in data.params if p in front.columns]]
    front_rows = records(front[cols])
    if per is not None:
        front_rows = [{**r, "metric_per_cost": None if pd.isna(v) else float(v)} for r, v in zip(front_rows, per, strict=True)]
    return {"available": True, "cost": cost, "cost_label": label, "note": note, "front": front_rows,
            "best_under": budget_rows(data, budget_flops=budget_flops, budget_s=budget_s, default_cost=cost), **coverage}


def render(data: ReportData, *, budget_flops: float | None = None, budget_s: float | None = None) -> RenderableType:
    a = analyse(data, budget_flops=budget_flops, budget_s=budget_s)
    parts: list[RenderableType] = []
    if not a["available"]:
        parts.append(Text(f"Cost ranking: {a['note']}"))
    else:
        cost, label = a["cost"], a["cost_label"]
        title = f"Cost ranking: Pareto front of {data.metric} vs {label}"
        front = Table(title=escape(title), header_style="bold", caption=a["note"],
                      min_width=max(len(title), len(a["note"])))  # a narrow front (few columns, short hyperparameters) wrapped its title
        per = _per_cost(data)
        for c in ("trial", data.metric, label, *([f"{data.metric} per {label}"] if per else [])):
            front.add_column(Text(c), justify="right")
        front.add_column("hyperparameters", ratio=1, overflow="fold")
        for r in a["front"]:
            front.add_row(str(r["trial"]), fmt(r[data.key], 4), fmt(r[cost]), *([fmt(r["metric_per_cost"])] if per else []),
                          Text(hyperparameters(r, data.params)))
        parts.append(front)
    if a["best_under"]:
        under = Table(title="Best under budget", header_style="bold")
        for c in ("budget", "charged as", "trial", data.metric, "cost"):
            under.add_column(Text(c), justify="right")
        for r in a["best_under"]:
            under.add_row(f"<= {fmt(r['budget'])} {r['unit']}".rstrip(), Text(r["cost_column"] or "-"), fmt(r["trial"]), fmt(r[data.key], 4),
                          fmt(r["cost"]) if r["note"] is None else r["note"])
        parts.append(under)
    parts += [Text("  " + n) for n in a.get("coverage", ())]
    return Group(*parts)


def to_json(data: ReportData, *, budget_flops: float | None = None, budget_s: float | None = None) -> dict[str, Any]:
    return analyse(data, budget_flops=budget_flops, budget_s=budget_s)
