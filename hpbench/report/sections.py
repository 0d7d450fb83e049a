"""The report's sections, in order: name -> (renderable, JSON). The names are
:class:`hpbench.report.names.SectionName` (what ``hpbench report --section`` offers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType

from hpbench.console_text import literal
from hpbench.report import calibration, cost_ranking, curves, devices, distill, leaderboard, matters, prediction, savings
from hpbench.report.data import ReportData
from hpbench.report.names import SectionName
from hpbench.results.lock import search_running
from hpbench.results.status import TrialStatus

N_CURVES = 8  # the learning-curves section shows at most this many trials


@dataclass(frozen=True)
class Section:
    title: str
    render: Callable[..., RenderableType]  # (data, top, **options)
    to_json: Callable[..., Any]


SECTIONS: dict[str, Section] = {  # keyed by SectionName, in its order
    SectionName.LEADERBOARD: Section("Leaderboard", lambda d, k: leaderboard.render(d, top=k), lambda d, k: leaderboard.to_json(d, top=k)),
    SectionName.COST: Section("Cost ranking", lambda d, k, **o: cost_ranking.render(d, **o), lambda d, k, **o: cost_ranking.to_json(d, **o)),
    SectionName.MATTERS: Section("What matters", lambda d, k: matters.render(d), lambda d, k: matters.to_json(d)),
    SectionName.SAVINGS: Section("Early stopping and pruning savings", lambda d, k: savings.render(d), lambda d, k: savings.to_json(d)),
    SectionName.CURVES: Section("Learning curves", lambda d, k: curves.render(d, top=min(k, N_CURVES)),
                                lambda d, k: curves.to_json(d, top=min(k, N_CURVES))),
    SectionName.PREDICTION: Section("Prediction check", lambda d, k: prediction.render(d), lambda d, k: prediction.to_json(d)),
    SectionName.DEVICES: Section("Devices", lambda d, k: devices.render(d), lambda d, k: devices.to_json(d)),
    SectionName.CALIBRATION: Section("Calibration", lambda d, k: calibration.render(d, top=k), lambda d, k: calibration.to_json(d, top=k)),
    SectionName.DISTILL: Section("Distillation", lambda d, k: distill.render(d), lambda d, k: distill.to_json(d)),
}


def _options(name: str, budgets: dict[str, float | None] | None) -> dict[str, Any]:
    """Section options: the cost section takes ``budget_flops`` / ``budget_s``."""
    return dict(budgets or {}) if name == SectionName.COST else {}


def print_report(console: Console, data: ReportData, *, sections: list[str] | None = None, top: int = 10,
                 budgets: dict[str, float | None] | None = None) -> None:
    status = data.trials["status"].value_counts().to_dict() if "status" in data.trials else {}
    n_running = status.get(TrialStatus.RUNNING, 0)
    if n_running and not search_running(Path(data.path)):  # the search that ran them was killed (SIGKILL, a second Ctrl-C)
        running = f", {n_running} left running by a search that stopped"  # the same command resumes: they run again
    else:
        running = f", {n_running} still running" if n_running else ""
    running += f", {status[TrialStatus.INTERRUPTED]} interrupted" if status.get(TrialStatus.INTERRUPTED) else ""
    console.print(f"[bold]{literal(data.name)}[/]: {len(data.trials)} trials{running}, {literal(data.metric)} ({data.mode}), {literal(data.path)}",
                  highlight=False)
    if data.data:
        console.print(data_line(data.data), highlight=False, markup=False)
    for name in sections or list(SECTIONS):
        console.print()
        console.print(SECTIONS[name].render(data, top, **_options(name, budgets)))


def data_line(rec: dict[str, Any]) -> str:
    """The data a study searched on, and where its splits came from: given with the data (used
    as given) or carved out of it (stratified, seeded)."""
    shape = "x".join(str(v) for v in rec.get("input_shape", ()))
    size = f"{rec['n_train']} train / {rec['n_val']} val" + (f" / {rec['n_test']} test" if rec.get("n_test") else "") if "n_train" in rec \
        else (f"{rec['n']} rows" if rec.get("n") else "rows unknown (iterable)")
    given = set(rec.get("given", ()))

    def split(name: str, fraction: float) -> str:
        if name in given:
            return f"{name} split as given with the data"
        if fraction <= 0:
            return f"no {name} split"
        iterable = "n_train" not in rec and not rec.get("n")  # split by a seeded hash of each sample's position (hpbench.data.stream)
        how = "by position, " if iterable else "stratified, " if rec.get("task") != "regression" else ""
        return f"{name} split carved out ({fraction:g}, {how}seed {rec.get('seed', 0)})"

    streamed = f"; streamed (num_workers={rec.get('num_workers', 0)})" if rec.get("streamed") else ""
    return (f"data: {rec.get('dataset')}: {rec.get('kind')} {shape}, {size}; {split('val', rec.get('val_fraction', 0.0))}; "
            f"{split('test', rec.get('test_fraction', 0.0))}{streamed}")


def report_json(data: ReportData, *, sections: list[str] | None = None, top: int = 10,
                budgets: dict[str, float | None] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"study": data.name, "metric": data.metric, "mode": data.mode, "n_trials": len(data.trials),
                           "n_repeat_rows": len(data.repeats)}
    if data.data:
        out["data"] = data.data
    for name in sections or list(SECTIONS):
        out[str(name)] = SECTIONS[name].to_json(data, top, **_options(name, budgets))
    return out
