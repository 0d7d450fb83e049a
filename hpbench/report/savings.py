"""Early stopping and pruning savings: epochs, seconds and FLOPs spent vs running every trial
to ``max_epochs`` (a trial's per-epoch cost times max_epochs), and whether the best
configuration was ever pruned."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt
from hpbench.results.columns import FLOPS_SPENT
from hpbench.results.status import StopReason


def analyse(data: ReportData) -> dict[str, Any]:
    df = data.trials[data.trials["epochs"].notna()] if "epochs" in data.trials else data.trials.iloc[0:0]
    n_max = data.max_epochs
    epochs = df["epochs"].astype(float) if len(df) else df.get("epochs")
    out: dict[str, Any] = {"max_epochs": n_max, "n_trials": len(df), "measures": {}}
    if len(df) == 0 or not n_max:
        return out
    scale = n_max / epochs.clip(lower=1)
    measures = {"epochs": (epochs, epochs * 0 + n_max)}
    if "train_s" in df:
        measures["seconds"] = (df["train_s"].astype(float), df["train_s"].astype(float) * scale)
    if data.has(FLOPS_SPENT):
        measures["FLOPs"] = (df[FLOPS_SPENT].astype(float), df[FLOPS_SPENT].astype(float) * scale)
    for name, (spent, full) in measures.items():
        by_reason = {str(r): float((full - spent)[df["stop_reason"] == r].sum()) for r in df["stop_reason"].dropna().unique()}
        out["measures"][name] = {"spent": float(spent.sum()), "all_to_max": float(full.sum()),
                                 "saved_fraction": float(1 - spent.sum() / full.sum()) if full.sum() else None,
                                 "saved_by": {k: v for k, v in by_reason.items() if v > 0}}
    best = data.ranked().head(1)
    if len(best):
        b = best.iloc[0]
        same = data.trials
        for p in data.params:
            same = same[(same[p] == b[p]).fillna(False)] if b[p] is not None and b[p] == b[p] else same[same[p].isna()]
        out["best"] = {"trial": int(b["trial"]), "stop_reason": str(b["stop_reason"]), "epochs": int(b["epochs"]),
                       "pruned": str(b["stop_reason"]) == StopReason.PRUNED,
                       "same_config_pruned": int((same["stop_reason"] == StopReason.PRUNED.value).sum())}
    return out


def render(data: ReportData) -> RenderableType:
    a = analyse(data)
    if not a["measures"]:
        return Text("Savings: no finished trials yet")
    t = Table(title=f"Early stopping and pruning savings vs all {a['n_trials']} trials run to {a['max_epochs']} epochs",
              header_style="bold", caption="all-to-max = each trial's cost per epoch x max_epochs")
    for c in ("", "spent", "all to max", "saved", "saved by"):
        t.add_column(c, justify="left" if c in ("", "saved by") else "right")
    for name, m in a["measures"].items():
        by = ", ".join(f"{k} {fmt(v)}" for k, v in sorted(m["saved_by"].items()))
        t.add_row(name, fmt(m["spent"]), fmt(m["all_to_max"]), "-" if m["saved_fraction"] is None else f"{100 * m['saved_fraction']:.0f}%", by)
    parts: list[RenderableType] = [t]
    if "FLOPs" not in a["measures"]:
        parts.append(Text("  FLOPs: no flops_spent column in these results", style="dim"))
    b = a.get("best")
    if b:
        verdict = "was pruned" if b["pruned"] else "was not pruned"
        extra = f"; {b['same_config_pruned']} run(s) of the same configuration were pruned" if b["same_config_pruned"] else ""
        parts.append(Text(f"  best trial {b['trial']} ({b['stop_reason']} after {b['epochs']} epochs) {verdict}{extra}"))
    return Group(*parts)


def to_json(data: ReportData) -> dict[str, Any]:
    return analyse(data)
