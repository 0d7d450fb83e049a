"""Ranking against cost: pure functions over the trials table and Rich renderables.

The cost of a trial is its predicted FLOPs (``predicted_flops``) or seconds (``predicted_s``)
to max epochs, recorded by the dispatcher (see :mod:`hpbench.cost.annotate`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table
from rich.text import Text

from hpbench.report.data import finite
from hpbench.report.fit import left_out, natural


def pareto_front(trials: pd.DataFrame, *, metric: str, mode: str, cost: str = "predicted_flops") -> pd.DataFrame:
    """Trials no other trial beats on both cost (lower) and metric (better), cheapest first."""
    if metric not in trials.columns or cost not in trials.columns:
        return trials.iloc[0:0]
    df = trials[trials[metric].map(finite) & trials[cost].map(finite)].sort_values([cost, metric], ascending=[True, mode == "min"])
    keep, best = [], None
    for idx, row in df.iterrows():
        v = row[metric]
        if best is None or (v > best if mode == "max" else v < best):
            keep.append(idx)
            best = v
    return df.loc[keep]


def best_under_budget(trials: pd.DataFrame, *, metric: str, mode: str, budget: float, cost: str = "predicted_flops") -> dict[str, Any] | None:
    """The best trial whose cost is at most ``budget`` (None when none fits)."""
    if budget <= 0:
        raise ValueError(f"budget must be > 0, but got {budget}")
    front = pareto_front(trials, metric=metric, mode=mode, cost=cost)
    fits = front[front[cost] <= budget]
    return None if fits.empty else fits.iloc[-1].to_dict()


def metric_per_cost(trials: pd.DataFrame, *, metric: str, cost: str = "predicted_flops") -> pd.Series:
    """metric / cost per trial (e.g. accuracy per FLOP); NaN where either is missing."""
    if metric not in trials.columns or cost not in trials.columns:
        return pd.Series(dtype=float)
    m = pd.to_numeric(trials[metric], errors="coerce")
    c = pd.to_numeric(trials[cost], errors="coerce")
    return m / c.where(c > 0)


def prediction_error(trials: pd.DataFrame) -> dict[str, float | None]:
    """Median and P90 of |predicted - measured| / measured over trials that ran (from ``prediction_error``)."""
    if "prediction_error" not in trials.columns:
        return {"n": 0, "median_abs": None, "p90_abs": None, "median_signed": None}
    e = pd.to_numeric(trials["prediction_error"], errors="coerce").dropna()
    if e.empty:
        return {"n": 0, "median_abs": None, "p90_abs": None, "median_signed": None}
    return {"n": len(e), "median_abs": float(e.abs().median()), "p90_abs": float(e.abs().quantile(0.9)), "median_signed": float(e.median())}


def coverage_notes(trials: pd.DataFrame, *, label: str = "trial", id_column: str = "trial") -> list[str]:
    """What the cost columns may miss, one line per distinct cause: layers whose FLOPs could not be
    counted (``uncounted_layers``, with the estimated share the count may be short) and trials
    whose cost was not predicted or was counted another way (``cost_note``)."""
    notes: list[str] = []
    for column in ("uncounted_layers", "cost_note"):
        if column not in trials.columns:
            continue
        present = trials[trials[column].notna()]
        for text, sub in present.groupby(column, sort=False):
            ids = ", ".join(str(v) for v in sub[id_column].tolist()[:8]) + (" ..." if len(sub) > 8 else "")
            who = f"{label}s {ids}" if len(sub) > 1 else f"{label} {ids}"
            if column == "cost_note":
                notes.append(f"{who}: {text}")
                continue
            share = pd.to_numeric(sub.get("flops_short_share", pd.Series(dtype=float)), errors="coerce").dropna()
            size = f"up to ~{share.max():.0%} of the FLOPs" if len(share) else "by an unknown amount"
            notes.append(f"FLOPs may be short ({size}) for {who}: {text}")
    return notes


def fmt_flops(v: Any) -> str:
    if not finite(v):
        return "-"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def fmt_s(v: Any) -> str:
    if not finite(v):
        return "-"
    if v >= 3600:
        return f"{v / 3600:.2f} h"
    if v >= 60:
        return f"{v / 60:.1f} min"
    if v >= 1:
        return f"{v:.2f} s"
    return f"{v * 1e3:.2f} ms"


def _two_digits(x: float) -> str:
    """``x`` to about two significant digits, never in exponent form (210, not 2.1e+02)."""
    return f"{x:.0f}" if abs(x) >= 10 else f"{x:.2g}"


def fmt_band(lo: Any, hi: Any) -> str:
    """' (3.4-8.7 s)' in the unit of the upper bound; '' without an interval."""
    if not (finite(lo) and finite(hi)):
        return ""
    unit, scale = next(((u, k) for u, k in (("h", 3600.0), ("min", 60.0), ("s", 1.0)) if hi >= k), ("ms", 1e-3))
    return f" ({_two_digits(lo / scale)}-{_two_digits(hi / scale)} {unit})"


def _value(v: Any) -> str:
    """A searched value as a table cell: '-' where a conditional dimension is absent."""
    if v is None:
        return "-"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# The cost columns of the estimate's table, in the order shown, and the order they are left out in
# when the terminal is too narrow for all of them (the configuration's number, its searched values
# and its seconds per trial always stay; --json has every column): at 80 or 120 columns Rich had
# squeezed every cost column of the quickstart's table to an ellipsis to keep them all.
_COST_COLUMNS = ("params", "FLOPs/step", "FLOPs/epoch", "s/epoch", "s/trial (P10-P90)", "bound", "naive s/trial")
_LEFT_OUT_FIRST = ("naive s/trial", "FLOPs/epoch", "params", "bound", "FLOPs/step", "s/epoch")


def estimate_table(rows: list[dict[str, Any]], *, params: list[str], top: int = 20, width: int | None = None) -> Table:
    """The estimate's configurations, ``top`` of them; at a console ``width`` the cost columns
    that do not fit are left out (named in the caption) rather than squeezed."""
    shown = rows[:top]
    cells: dict[str, list[str]] = {"#": [str(r["config"]) for r in shown]}
    cells.update({p: [_value(r.get(p)) for r in shown] for p in params})
    costs = [[f"{r['n_params']:,}", fmt_flops(r["flops_per_step"]), fmt_flops(r["flops_per_epoch"]), fmt_s(r["predicted_epoch_s"]),
              fmt_s(r["predicted_s"]) + fmt_band(r.get("predicted_s_p10"), r.get("predicted_s_p90")),
              str(r.get("regime") or "-").split("-")[0], fmt_s(r["naive_s"])] for r in shown]
    cells.update({c: [row[k] for row in costs] for k, c in enumerate(_COST_COLUMNS)})
    needs = {c: natural(c, v) for c, v in cells.items()}
    drop = left_out(needs, width=width, order=_LEFT_OUT_FIRST)
    caption = f"left out at {width} columns: {', '.join(drop)} (hpbench estimate --json has every column)" if drop else None
    table = Table(title=f"Predicted cost of {len(rows)} configurations" + (f" (first {top})" if len(rows) > top else ""), header_style="bold",
                  caption=caption, caption_style="dim")
    kept = [c for c in cells if c not in drop]
    for c in kept:
        # the values searched may wrap; the cost columns keep their width
        table.add_column(Text(c.rsplit(".", 1)[-1] if c in params else c), justify="right", no_wrap=c not in params,
                         min_width=None if c in params else needs[c])
    for i in range(len(shown)):
        table.add_row(*(Text(cells[c][i]) for c in kept))  # the searched values as they are, not markup
    return table


_PARTS = (("startup_s", "start-up (imports, Ray, Tune)"), ("trials_s", "trials (epochs, replayed at the concurrency)"),
          ("turnover_s", "turnover (fresh workers, set-up, gaps)"), ("repeats_s", "repeats"), ("devices_s", "runs on other devices"),
          ("test_s", "test split"), ("report_s", "final table"), ("exit_s", "exit"))


def summary_table(s: dict[str, Any]) -> Table:
    table = Table(title=f"Study on {s['device']}", header_style="bold", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_column("", style="dim")
    kinds = [k for k, on in ((s["scheduler"], s["scheduler"] != "none"), ("early stopping", s.get("early_stopping"))) if on]
    pruned = f" ({' + '.join(kinds)}: {s['epoch_fraction']:.0%} of epochs)" if s["epoch_fraction"] < 1 else ""
    n_trials = int(s["n_configs"] if s.get("n_trials") is None else s["n_trials"])
    sampled = f"a sample standing for {n_trials} trials (--samples N to price more)" if n_trials > s["n_configs"] else ""
    table.add_row("configurations", str(s["n_configs"]), sampled)
    table.add_row(f"predicted compute{pruned}", f"{fmt_flops(s['total_flops'])}FLOP, {fmt_s(s['total_s'])}", "")
    table.add_row("worst case, no pruning", f"{fmt_flops(s['worst_case_flops'])}FLOP, {fmt_s(s['worst_case_s'])}", "")
    w = s.get("wall_time")
    if not w:
        return table
    table.add_row(f"[bold]wall time of the search command[/] (concurrency {s['concurrency']})",
                  f"[bold]{fmt_s(w['total_s'])}[/]", f"{fmt_s(w['low_s'])} to {fmt_s(w['high_s'])}")
    sources = w.get("sources", {})
    where = {"startup_s": "startup_s", "turnover_s": "fresh_worker_s", "trials_s": "speed", "report_s": "report_s", "exit_s": "exit_s"}
    for key, label in _PARTS:
        v = w["parts"].get(key, 0.0)
        if v or key in ("startup_s", "trials_s", "turnover_s"):
            note = sources.get(where.get(key, ""), "")
            if key == "trials_s" and w.get("model_span_s") is not None:  # moved toward the study's own runs (hpbench.cost.own_runs)
                note += f"; with the turnover x{w.get('span_scale', 1.0):.2f} toward the spans of {sources.get('study_search_s', 'its earlier runs')} " \
                        f"(the model's own: {fmt_s(w['model_span_s'])})"
            if key == "startup_s" and w.get("data_s") is not None:  # Ray starts once the data is loaded and checked
                note += f"; this study's data loads in {fmt_s(w['data_s'])} (theirs {fmt_s(w.get('figure_data_s') or 0.0)})"
            table.add_row(f"  {label}", fmt_s(v), note)
    if "quality_rho" in w:  # which trials run long (hpbench.cost.quality)
        table.add_row("  cost-score rank corr.", f"{w['quality_rho']:+.2f}", sources.get("quality_rho", ""))
    table.add_row("  machine", f"{w['cpus']} CPUs, contention x{w['contention']:.2f}",
                  f"a busy thread gets {1 / w['probe']:.0%} of a CPU now; measured / predicted s per epoch x{w['speed']:.2f}")
    return table
