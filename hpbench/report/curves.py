"""Learning curves of the top configurations, drawn in the terminal as unicode sparklines on a
shared scale (so the rows compare); with a learning-rate schedule ([lr_schedule]), the learning
rate of each epoch beside them (log scale). For rl (the return curves), each curve also carries
the environment steps at each epoch's end, and the table the steps a trial took."""

from __future__ import annotations

import math
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.console_text import literal
from hpbench.report.data import ReportData, fmt

BLOCKS = "▁▂▃▄▅▆▇█"
LR = "learning_rate"  # the epochs table's column
ENV_STEPS = "env_steps"  # rl: training environment steps at the epoch's end


def sparkline(values: list[float], *, low: float, high: float) -> str:
    span = high - low
    out = []
    for v in values:
        if v != v:
            out.append(" ")
            continue
        i = 0 if span <= 0 else round((v - low) / span * (len(BLOCKS) - 1))
        out.append(BLOCKS[min(max(i, 0), len(BLOCKS) - 1)])
    return "".join(out)


def curves(data: ReportData, *, top: int = 5) -> list[dict[str, Any]]:
    e = data.epochs
    if data.metric not in e.columns:
        return []
    out = []
    for _, row in data.ranked().head(top).iterrows():
        sub = e[e["trial"] == row["trial"]].sort_values("epoch")
        curve = {"trial": int(row["trial"]), "stop_reason": str(row["stop_reason"]),
                 "epochs": sub["epoch"].astype(int).tolist(), data.metric: sub[data.metric].astype(float).tolist()}
        if LR in sub.columns and sub[LR].notna().any():
            curve[LR] = sub[LR].astype(float).tolist()
        if ENV_STEPS in sub.columns and sub[ENV_STEPS].notna().all():
            curve[ENV_STEPS] = sub[ENV_STEPS].astype(int).tolist()
        out.append(curve)
    return out


def scheduled(cs: list[dict[str, Any]]) -> bool:
    """Whether the learning rate changed in any of the curves (a schedule ran)."""
    return any(len(set(c.get(LR, ()))) > 1 for c in cs)


def render(data: ReportData, *, top: int = 5) -> RenderableType:
    cs = curves(data, top=top)
    vals = [v for c in cs for v in c[data.metric] if v == v]
    low, high = (min(vals), max(vals)) if vals else (0.0, 1.0)
    t = Table(title=f"Learning curves of the top {len(cs)}: {literal(data.metric)} per epoch", header_style="bold",
              caption=f"shared scale: ▁ = {fmt(low, 4)}, █ = {fmt(high, 4)}; one character per epoch (max {data.max_epochs})")
    lr = scheduled(cs)
    steps = bool(cs) and all(ENV_STEPS in c for c in cs)
    cols = ("trial", "epochs", *(("env steps",) if steps else ()), "first", "last", "curve", "stop", *(("learning rate (log)",) if lr else ()))
    for col in cols:
        t.add_column(col, justify="right" if col in ("trial", "epochs", "env steps", "first", "last") else "left",
                     no_wrap=col in ("curve", "learning rate (log)"))
    logs = [math.log10(v) for c in cs for v in c.get(LR, ()) if v > 0] if lr else []
    for c in cs:
        ys = c[data.metric]
        cells = [str(c["trial"]), str(len(ys)), *((fmt(c[ENV_STEPS][-1] if c[ENV_STEPS] else None),) if steps else ()),
                 fmt(ys[0], 3) if ys else "-", fmt(ys[-1], 3) if ys else "-", sparkline(ys, low=low, high=high), c["stop_reason"]]
        if lr:
            rates = [math.log10(v) if v > 0 else float("nan") for v in c.get(LR, ())]
            ends = f" {fmt(c[LR][0], 2)}→{fmt(c[LR][-1], 2)}" if c.get(LR) else ""
            cells.append(sparkline(rates, low=min(logs, default=0.0), high=max(logs, default=0.0)) + ends)
        t.add_row(*(Text(c) for c in cells))
    return t


def to_json(data: ReportData, *, top: int = 5) -> list[dict[str, Any]]:
    return curves(data, top=top)
