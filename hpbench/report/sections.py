"""The report's sections, in order: name -> (renderable, JSON). The names are
:class:`hpbench.report.names.SectionName` (what ``hpbench report --section`` offers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, RenderableType

from hpbench.report import calibration, cost_ranking, curves, devices, distill, leaderboard, matters, prediction, savings
from hpbench.report.data import ReportData
from hpbench.report.names import SectionName
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
    running = f", {status[TrialStatus.RUNNING]} still running" if status.get(TrialStatus.RUNNING) else ""
    console.print(f"[bold]{data.name}[/]: {len(data.trials)} trials{running}, {data.metric} ({data.mode}), {data.path}", highlight=False)
    for name in sections or list(SECTIONS):
        console.print()
        console.print(SECTIONS[name].render(data, top, **_options(name, budgets)))


def report_json(data: ReportData, *, sections: list[str] | None = None, top: int = 10,
                budgets: dict[str, float | None] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"study": data.name, "metric": data.metric, "mode": data.mode, "n_trials": len(data.trials),
                           "n_repeat_rows": len(data.repeats)}
    for name in sections or list(SECTIONS):
        out[str(name)] = SECTIONS[name].to_json(data, top, **_options(name, budgets))
    return out
