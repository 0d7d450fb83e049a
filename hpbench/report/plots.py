"""PNG figures of a report (matplotlib, Agg backend: no display needed). The page that embeds
them is :mod:`hpbench.report.html_page`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hpbench.errors import StudyError
from hpbench.report import gan_plots, matters
from hpbench.report.cost_ranking import pareto_front
from hpbench.report.curves import ENV_STEPS, LR, curves, scheduled
from hpbench.report.data import ReportData
from hpbench.report.figures import DPI, pyplot, save_figure
from hpbench.results.files import check_writable

__all__ = ["DPI", "FIGURES", "check_plots_dir", "pyplot", "save_figure", "write_plots"]


def pareto(data: ReportData, out: Path) -> Path | None:
    chosen = data.cost_column()
    if chosen is None:
        return None
    cost, label = chosen
    plt = pyplot()
    scored = data.scored()  # the ranked trials only (a failed trial's value is not a result: hpbench.results.ranking)
    df = scored[scored[cost].notna()] if data.key in scored else scored.iloc[0:0]
    if df.empty:
        return None
    front = pareto_front(df, value=data.key, cost=cost, mode=data.mode)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for reason, sub in df.groupby("stop_reason"):
        ax.scatter(sub[cost], sub[data.key], s=28, alpha=0.75, label=str(reason))
    ax.step(front[cost], front[data.key], where="post", color="black", lw=1.5, label="Pareto front")
    ax.scatter(front[cost], front[data.key], s=70, facecolors="none", edgecolors="black")
    for _, r in front.iterrows():
        ax.annotate(f"#{r['trial']}", (r[cost], r[data.key]), textcoords="offset points", xytext=(4, -10), fontsize=8)
    if df[cost].min() > 0:
        ax.set_xscale("log")
    ax.set_xlabel(f"{label} ({cost}, log scale)")
    ax.set_ylabel(f"best {data.metric}")
    ax.set_title(f"{data.name}: {data.metric} vs cost ({len(df)} trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "pareto.png")


def learning_curves(data: ReportData, out: Path, *, top: int = 8) -> Path | None:
    cs = curves(data, top=top)
    if not cs:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    steps = all(ENV_STEPS in c for c in cs)  # rl: the return against environment steps
    for c in cs:
        ax.plot(c[ENV_STEPS] if steps else c["epochs"], c[data.metric], marker="o", ms=3, label=f"#{c['trial']} ({c['stop_reason']})")
    ax.set_xlabel("environment steps" if steps else "epoch")
    ax.set_ylabel(data.metric)
    ax.set_title(f"{data.name}: learning curves of the top {len(cs)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "learning_curves.png")


def learning_rates(data: ReportData, out: Path, *, top: int = 8) -> Path | None:
    """The learning rate per epoch of the top trials, when a schedule changed it."""
    cs = curves(data, top=top)
    if not scheduled(cs):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in cs:
        if c.get(LR):
            ax.plot(c["epochs"], c[LR], marker="o", ms=3, label=f"#{c['trial']}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate (log scale)")
    ax.set_title(f"{data.name}: learning rate per epoch of the top {len(cs)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "learning_rates.png")


def history(data: ReportData, out: Path) -> Path | None:
    df = data.scored().sort_values("trial") if data.key in data.trials else None
    if df is None or df.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(df["trial"], df[data.key], s=22, alpha=0.7, label="trial")
    best = df[data.key].cummax() if data.mode == "max" else df[data.key].cummin()
    ax.step(df["trial"], best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"best {data.metric}")
    ax.set_title(f"{data.name}: optimization history")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out / "history.png")


def importance(data: ReportData, out: Path) -> Path | None:
    a = matters.importance(data)
    if not a["available"] or not a["scores"]:
        return None
    plt = pyplot()
    items = sorted(a["scores"].items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="C0")
    ax.set_xlabel(f"importance (Optuna {a['evaluator']})")
    ax.set_title(f"{data.name}: hyperparameter importance ({a['n_trials']} trials)")
    ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, out / "importance.png")


def boxes(data: ReportData, out: Path) -> Path | None:
    dims = [k for k in data.params if k in data.trials.columns]
    scored = data.scored()
    if not dims or data.key not in data.trials or scored.empty:
        return None
    plt = pyplot()
    cols = 2
    rows = math.ceil(len(dims) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, dims, strict=False):
        g = matters.value_groups(data, key)
        labels, values = [], []
        for value, sub in sorted(scored.groupby(g[scored.index], sort=False, observed=True), key=lambda kv: _order(str(kv[0]))):
            v = sub[data.key].dropna().astype(float).tolist()
            if v:
                labels.append(str(value))
                values.append(v)
        if values:
            ax.boxplot(values, tick_labels=labels, showmeans=False)
        ax.set_title(key, fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=25)
        ax.set_ylabel(data.metric, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in list(axes.flat)[len(dims):]:
        ax.axis("off")
    fig.suptitle(f"{data.name}: {data.metric} per value of each dimension")
    return save_figure(fig, out / "dimensions.png")


def _order(label: str) -> tuple[int, float, str]:
    """Numbers (and ranges, by their low end) in numeric order, then words."""
    try:
        return (0, float(label.split("–")[0]), label)
    except ValueError:
        return (1, 0.0, label)


def reliability(data: ReportData, out: Path) -> Path | None:
    """Reliability diagram of the best trial that recorded one (``calibration = "temperature"``)."""
    if "reliability" not in data.trials.columns:
        return None
    df = data.ranked()
    df = df[df["reliability"].notna()]
    if df.empty:
        return None
    best = df.iloc[0]
    rel = json.loads(best["reliability"])
    plt = pyplot()
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
    return save_figure(fig, out / "reliability.png")


# the figures every search can draw once a trial has a value (the others need a schedule, calibration, a gan)
FIGURES = ("pareto.png", "learning_curves.png", "history.png", "importance.png", "dimensions.png")


def check_plots_dir(out: Path, *, source: str, key: str) -> None:
    """Refuse, before a figure is drawn, a figures folder that is a file (a
    :class:`~hpbench.errors.StudyError` naming ``key``) or one that cannot be written (under a file,
    read-only: :func:`~hpbench.results.files.check_writable`'s ``OutputError``, as the search's ``--out``)."""
    if out.exists() and not out.is_dir():
        raise StudyError(source=source, key=key, value=str(out), rule="must be a directory for the figures (it is a file)")
    check_writable(out, key=key, min_free_bytes=0)  # a few PNG files: no room is asked ahead


def write_plots(data: ReportData, out: Path, *, top: int = 8) -> list[Path]:
    """Write every figure the results allow; returns the paths written. A figure without data to
    draw (no trial with a value yet, every trial failed) is left out: :data:`FIGURES` not in the
    list were not drawn."""
    check_plots_dir(out, source="hpbench.report.plots", key="out")
    out.mkdir(parents=True, exist_ok=True)
    made = [pareto(data, out), learning_curves(data, out, top=top), learning_rates(data, out, top=top), history(data, out),
            importance(data, out), boxes(data, out), reliability(data, out),
            gan_plots.samples_grid(data, out, top=min(top, 6)), gan_plots.losses(data, out, top=min(top, 6))]
    return [p for p in made if p is not None]
