"""The leaderboard: top trials by the study metric, with every hyperparameter."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table


def ranked(trials: pd.DataFrame, *, metric: str, mode: str) -> pd.DataFrame:
    key = f"best_{metric}"
    if key not in trials.columns:
        return trials.iloc[0:0]
    df = trials[trials[key].notna()]
    return df.sort_values(key, ascending=(mode == "min"), kind="stable")


def leaderboard_table(trials: pd.DataFrame, *, metric: str, mode: str, params: list[str], top: int = 10) -> Table:
    df = ranked(trials, metric=metric, mode=mode).head(top)
    table = Table(title=f"Top {len(df)} of {len(trials)} trials by {metric} ({mode})", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("trial", justify="right")
    table.add_column(f"best {metric}", justify="right", style="bold")
    for p in params:
        table.add_column(p)
    for c in ("epochs", "best ep", "stop", "s", "params"):
        table.add_column(c, justify="right" if c != "stop" else "left")
    for rank, (_, row) in enumerate(df.iterrows(), 1):
        table.add_row(
            str(rank), str(row["trial"]), _fmt(row[f"best_{metric}"], 4),
            *(_fmt(row.get(p)) for p in params),
            _fmt(row.get("epochs")), _fmt(row.get("best_epoch")), str(row.get("stop_reason")),
            _fmt(row.get("wall_s"), 1), _fmt(row.get("n_params")),
        )
    return table


def leaderboard_records(trials: pd.DataFrame, *, metric: str, mode: str, top: int = 10) -> list[dict[str, Any]]:
    df = ranked(trials, metric=metric, mode=mode).head(top)
    return [{k: _json(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def print_leaderboard(console: Console, trials: pd.DataFrame, *, metric: str, mode: str, params: list[str], top: int = 10) -> None:
    console.print(leaderboard_table(trials, metric=metric, mode=mode, params=params, top=top))
    counts = trials["stop_reason"].value_counts().to_dict() if "stop_reason" in trials else {}
    console.print("  " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), highlight=False)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _json(v: Any) -> Any:
    if v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v
