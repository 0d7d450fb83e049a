"""Report sections for the seed techniques: calibration next to accuracy (``calibration``),
students against their teacher and against themselves without one (``distill``), and the
reliability diagram among the plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.report.data import ReportData, fmt, jsonable

_CAL = ("temperature", "ece_before", "ece_after", "nll_before", "nll_after")


def _at_best(data: ReportData, top: int) -> pd.DataFrame:
    """The top trials with their validation accuracy, ECE and NLL at the best epoch."""
    ranked = data.ranked().head(top)
    e = data.epochs
    if ranked.empty or "val_ece" not in e.columns:
        return ranked.iloc[0:0]
    rows = []
    for _, t in ranked.iterrows():
        hit = e[(e["trial"] == t["trial"]) & (e["epoch"] == t.get("best_epoch"))]
        r = hit.iloc[0] if not hit.empty else {}
        rows.append({"trial": t["trial"], "val_accuracy": r.get("val_accuracy"), "val_ece": r.get("val_ece"), "val_nll": r.get("val_nll"),
                     **{k: t.get(k) for k in _CAL}})
    return pd.DataFrame(rows)


def render(data: ReportData, *, top: int = 10) -> RenderableType:
    df = _at_best(data, top)
    if df.empty:
        return Text("Calibration: no val_ece column (regression, or results from before calibration was recorded).")
    table = Table(title="Calibration of the top trials (validation split, best epoch; ECE with 15 bins)", title_justify="left")
    for col in ("trial", "val_accuracy", "val_ece", "val_nll", "temperature", "ece_before", "ece_after", "nll_after"):
        table.add_column(col, justify="right")
    for _, r in df.iterrows():
        table.add_row(*(fmt(r.get(c)) for c in ("trial", "val_accuracy", "val_ece", "val_nll", "temperature", "ece_before", "ece_after", "nll_after")))
    return table


def to_json(data: ReportData, *, top: int = 10) -> list[dict[str, Any]]:
    return [{k: jsonable(v) for k, v in r.items()} for r in _at_best(data, top).to_dict(orient="records")]


# -- distillation ------------------------------------------------------------------------------
def _config(data: ReportData) -> dict[str, Any]:
    try:
        return dict(json.loads((data.path / "study.json").read_text(encoding="utf-8")).get("config", {}))
    except (OSError, ValueError):
        return {}


def _teacher(data: ReportData, weights: str) -> dict[str, Any]:
    from hpbench.results.load import load
    from hpbench.results.weights import trial_of

    directory, trial = trial_of(weights)
    out: dict[str, Any] = {"results": str(directory), "trial": trial}
    try:
        t = load(directory, "trials")
    except (FileNotFoundError, OSError):
        return out
    row = t[t["trial"] == trial]
    if not row.empty:
        r = row.iloc[0]
        out.update({data.metric: jsonable(r.get(data.key)), "n_params": jsonable(r.get("n_params")),
                    "flops_per_epoch": jsonable(r.get("flops_per_epoch")), "flops_spent": jsonable(r.get("flops_spent"))})
    return out


def distill_rows(data: ReportData) -> dict[str, Any]:
    """Each student with its metric and FLOPs, the teacher's, and the same student without a teacher (alpha = 0)."""
    cfg = _config(data)
    if "distill" not in cfg:
        return {"available": False}
    teacher = _teacher(data, cfg["distill"]["teacher"])
    df = data.ranked()
    alpha_key = "distill.alpha" if "distill.alpha" in df.columns else None
    others = [k for k in data.params if not k.startswith("distill.") and k in df.columns]
    baseline: dict[tuple[Any, ...], Any] = {}
    if alpha_key is not None:
        for _, r in df[df[alpha_key] == 0].iterrows():
            baseline.setdefault(tuple(str(r[k]) for k in others), r)
    rows = []
    for _, r in df.iterrows():
        alpha = float(r[alpha_key]) if alpha_key else float(cfg["distill"].get("alpha", 0.5))
        base = baseline.get(tuple(str(r[k]) for k in others))
        rows.append({"trial": jsonable(r["trial"]), "alpha": alpha,
                     "temperature": jsonable(r.get("distill.temperature", cfg["distill"].get("temperature"))),
                     data.metric: jsonable(r[data.key]), "flops_per_epoch": jsonable(r.get("flops_per_epoch")),
                     "flops_spent": jsonable(r.get("flops_spent")), "n_params": jsonable(r.get("n_params")),
                     "without_teacher": jsonable(base[data.key]) if base is not None and alpha > 0 else None})
    return {"available": True, "teacher": teacher, "students": rows}


def render_distill(data: ReportData) -> RenderableType:
    d = distill_rows(data)
    if not d["available"]:
        return Text("Distillation: this study has no [distill] section.")
    t = d["teacher"]
    table = Table(title=f"Students vs teacher (trial {t['trial']} of {Path(t['results']).name}: {data.metric} {fmt(t.get(data.metric))}, "
                        f"{fmt(t.get('n_params'))} params, {fmt(t.get('flops_per_epoch'))} FLOPs/epoch) and vs no teacher (alpha 0)",
                  title_justify="left")
    for col in ("trial", "alpha", "T", data.metric, "without teacher", "params", "FLOPs/epoch", "FLOPs spent"):
        table.add_column(col, justify="right")
    for r in d["students"]:
        table.add_row(*(fmt(v) for v in (r["trial"], r["alpha"], r["temperature"], r[data.metric], r["without_teacher"],
                                          r["n_params"], r["flops_per_epoch"], r["flops_spent"])))
    return table


# -- reliability diagram -------------------------------------------------------------------------
def reliability_plot(data: ReportData, out: Path) -> Path | None:
    """Reliability diagram of the best trial that recorded one (``calibration = "temperature"``)."""
    if "reliability" not in data.trials.columns:
        return None
    df = data.ranked()
    df = df[df["reliability"].notna()]
    if df.empty:
        return None
    best = df.iloc[0]
    rel = json.loads(best["reliability"])
    from hpbench.report.plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    n = len(rel["before"]["count"])
    centers = [(i + 0.5) / n for i in range(n)]
    for key, color, label in (("before", "C3", "before"), ("after", "C0", f"after (T = {best['temperature']:.2f})")):
        r = rel[key]
        xs = [c for c, k in zip(centers, r["count"], strict=True) if k]
        ys = [a for a, k in zip(r["accuracy"], r["count"], strict=True) if k]
        ece = best[f"ece_{key}"]
        ax.plot(xs, ys, marker="o", color=color, label=f"{label}: ECE {ece:.3f}")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlabel("confidence (bin centre)")
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"{data.name}: reliability of trial #{best['trial']} (validation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "reliability.png")
