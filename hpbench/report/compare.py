"""Two studies side by side: trial counts, stop reasons, best metric, time spent, whether
they searched the same space, and the top configurations of each."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt
from hpbench.report.fit import AtWidth
from hpbench.report.leaderboard import hyperparameters, leaderboard_table


def summary(d: ReportData) -> dict[str, Any]:
    best = d.ranked().head(1)
    b = best.iloc[0] if len(best) else None
    return {
        "study": d.name, "path": str(d.path), "metric": d.metric, "mode": d.mode, "trials": len(d.trials),
        "stop_reasons": {str(k): int(v) for k, v in d.trials["stop_reason"].value_counts().items()} if "stop_reason" in d.trials else {},
        "best": None if b is None else float(b[d.key]), "best_trial": None if b is None else int(b["trial"]),
        "best_config": None if b is None else hyperparameters(b, d.params),
        "train_s": float(d.trials["train_s"].sum()) if "train_s" in d.trials else None,
        "hosts": sorted(str(h) for h in d.trials["hostname"].dropna().unique()) if "hostname" in d.trials else [],
        "space": d.space,
    }


def _best(s: dict[str, Any]) -> str:
    """The best value and its trial, or why there is none (every trial failed, none finished yet)."""
    if s["best_trial"] is None:
        return "- (no finished trial with a value)"
    return f"{fmt(s['best'], 4)} (trial {s['best_trial']})"


def compare_json(a: ReportData, b: ReportData, *, top: int = 5) -> dict[str, Any]:
    sa, sb = summary(a), summary(b)
    return {"a": sa, "b": sb, "same_space": a.space == b.space, "same_metric": (a.metric, a.mode) == (b.metric, b.mode)}


def compare_table(a: ReportData, b: ReportData, *, top: int = 5) -> list[RenderableType]:
    sa, sb = summary(a), summary(b)
    t = Table(title="Two studies side by side", header_style="bold",
              caption="same space" if a.space == b.space else "[yellow]the searched spaces differ[/]")
    t.add_column("")
    t.add_column(Text(f"A: {a.name}"), overflow="fold")
    t.add_column(Text(f"B: {b.name}"), overflow="fold")
    rows = [("results", sa["path"], sb["path"]), ("metric", f"{a.metric} ({a.mode})", f"{b.metric} ({b.mode})"),
            ("trials", str(sa["trials"]), str(sb["trials"])),
            ("stop reasons", ", ".join(f"{v} {k}" for k, v in sorted(sa["stop_reasons"].items())),
             ", ".join(f"{v} {k}" for k, v in sorted(sb["stop_reasons"].items()))),
            ("best", _best(sa), _best(sb)),
            ("best config", sa["best_config"] or "-", sb["best_config"] or "-"),
            ("training seconds", fmt(sa["train_s"]), fmt(sb["train_s"])),
            ("hosts", ", ".join(sa["hosts"]) or "-", ", ".join(sb["hosts"]) or "-")]
    for r in rows:
        t.add_row(*(Text(c) for c in r))  # paths, names and values as they are, not markup
    def board(d: ReportData) -> AtWidth:
        return AtWidth(lambda width: leaderboard_table(d.trials, metric=d.metric, mode=d.mode, params=d.params, top=top, width=width))

    return [t, board(a), board(b)]
