"""The ``distill`` section: each student against its teacher and against the same student
without one (``distill.alpha`` = 0), with parameters and FLOPs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.console_text import literal
from hpbench.report.data import ReportData, fmt, jsonable
from hpbench.results.files import STUDY_JSON
from hpbench.results.load import load
from hpbench.results.weights import trial_of


def _config(data: ReportData) -> dict[str, Any]:
    try:
        return dict(json.loads((data.path / STUDY_JSON).read_text(encoding="utf-8")).get("config", {}))
    except (OSError, ValueError):
        return {}


def _teacher(data: ReportData, weights: str) -> dict[str, Any]:
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


def render(data: ReportData) -> RenderableType:
    d = distill_rows(data)
    if not d["available"]:
        return Text("Distillation: this study has no [distill] section.")
    t = d["teacher"]
    table = Table(title=f"Students vs teacher (trial {t['trial']} of {literal(Path(t['results']).name)}: {literal(data.metric)} {fmt(t.get(data.metric))}, "
                        f"{fmt(t.get('n_params'))} params, {fmt(t.get('flops_per_epoch'))} FLOPs/epoch) and vs no teacher (alpha 0)",
                  title_justify="left")
    for col in ("trial", "alpha", "T", data.metric, "without teacher", "params", "FLOPs/epoch", "FLOPs spent"):
        table.add_column(Text(col), justify="right")
    for r in d["students"]:
        table.add_row(*(fmt(v) for v in (r["trial"], r["alpha"], r["temperature"], r[data.metric], r["without_teacher"],
                                          r["n_params"], r["flops_per_epoch"], r["flops_spent"])))
    return table


def to_json(data: ReportData) -> dict[str, Any]:
    return distill_rows(data)
