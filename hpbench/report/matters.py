"""What matters: per searched dimension and value, how many trials, best and median metric and
mean cost ("which optimizer wins here?"), plus hyperparameter importance from Optuna's
evaluators on the study in the Optuna storage.

Conditional dimensions: the per-value table has an "(inactive)" row; Optuna's importance
only covers parameters present in every trial it is given, so a conditional dimension is
scored separately over the trials where it was active.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.console_text import literal
from hpbench.cost.figures import IMPORTANCE_MIN_TRIALS
from hpbench.report.data import ReportData, fmt

N_BINS = 3  # continuous dimensions are shown in this many equal-count bins


def value_groups(data: ReportData, key: str) -> pd.Series:
    """Each trial's group for a searched dimension: its value, a bin of a continuous one, or \"(inactive)\"."""
    col = data.trials[key]
    numeric = pd.api.types.is_float_dtype(col) or (pd.api.types.is_integer_dtype(col) and col.nunique() > 6)
    if not numeric or col.nunique() <= N_BINS:  # few distinct values: one row each
        return col.map(lambda v: "(inactive)" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else fmt(v)).astype("string")
    log = "loguniform" in data.space.get(key, "")
    vals = col.astype(float)
    try:
        bins = pd.qcut(np.log10(vals) if log else vals, N_BINS, duplicates="drop")
    except ValueError:
        return col.astype("string").fillna("(inactive)")
    # Each bin is named by its own trials' lowest and highest value: qcut's edges are rounded (an
    # lr bin "0.0252–0.0883" held lr 0.0884) and its lowest is pushed below the minimum (a dropout
    # bin "-0.001–0.25" of uniform [0, 0.5]).
    span = vals.groupby(bins, observed=True).agg(["min", "max"])
    names = {iv: fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}–{fmt(hi)}" for iv, (lo, hi) in span.iterrows()}
    return bins.map(lambda iv: names.get(iv, "(inactive)")).astype("string").fillna("(inactive)")


def per_value(data: ReportData) -> dict[str, list[dict[str, Any]]]:
    df = data.trials
    scored = data.scored().index  # a failed or interrupted trial's value is not compared (hpbench.results.ranking)
    cost = data.cost_column()
    out: dict[str, list[dict[str, Any]]] = {}
    for key in data.params:
        if key not in df.columns:
            continue
        g = value_groups(data, key)
        rows: list[dict[str, Any]] = []
        for value, sub in df.groupby(g, sort=False, observed=True):
            m = sub.loc[sub.index.intersection(scored), data.key].dropna().astype(float) if data.key in sub else pd.Series(dtype=float)
            rows.append({"value": str(value), "trials": len(sub),
                         "best": None if m.empty else float(m.max() if data.mode == "max" else m.min()),
                         "median": None if m.empty else float(m.median()),
                         "mean_cost": _mean_cost(sub, cost[0]) if cost else None})
        sign = -1 if data.mode == "max" else 1
        rows.sort(key=lambda r: sign * r["best"] if r["best"] is not None else math.inf)
        out[key] = rows
    return out


def _mean_cost(trials: pd.DataFrame, cost: str) -> float | None:
    """The mean cost of a group's trials; measured seconds over the trials that trained an epoch
    only (a trial that failed before its first measured none: "-", not 0)."""
    c = trials[cost]
    if cost == "train_s":  # no epochs column: no trial trained one
        epochs = pd.to_numeric(trials["epochs"], errors="coerce").fillna(0) if "epochs" in trials.columns else pd.Series(0, index=trials.index)
        c = c[epochs > 0]
    c = pd.to_numeric(c, errors="coerce").dropna()
    return float(c.mean()) if len(c) else None


def importance(data: ReportData, *, evaluator: str = "fanova") -> dict[str, Any]:
    """Optuna parameter importances (``fanova`` or ``pedanova``) of the study in the storage."""
    try:
        import optuna
        from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=data.name, storage=data.storage)
    except Exception as err:
        return {"available": False, "note": f"Optuna study {data.name!r} not readable from the storage: {err}"}
    makers: dict[str, Callable[[], Any]] = {"fanova": lambda: FanovaImportanceEvaluator(seed=0), "pedanova": PedAnovaImportanceEvaluator}
    make = makers[evaluator]
    done, direction = scored_trials(study), study.direction
    _release(study)
    if len(done) < IMPORTANCE_MIN_TRIALS:
        return {"available": False, "note": f"{len(done)} scored trials in the Optuna study; importance needs at least {IMPORTANCE_MIN_TRIALS}"}
    all_keys = sorted({k for t in done for k in t.params})
    varied = [k for k in all_keys if len({repr(t.params.get(k)) for t in done if k in t.params}) > 1]
    common = [k for k in varied if all(k in t.params for t in done)]
    if not varied:
        return {"available": False, "note": "no searched parameter took more than one value"}
    if len({t.value for t in done}) == 1:  # fANOVA's forest has nothing to split ("zero total variance in all trees")
        return {"available": False, "note": f"every scored trial has the same value ({done[0].value:g}): nothing for a parameter to explain"}
    result: dict[str, Any] = {"available": True, "evaluator": evaluator, "n_trials": len(done), "scores": {}, "conditional": {}}
    try:
        scores = optuna.importance.get_param_importances(_study_of(done, direction), evaluator=make(), params=common)
        result["scores"] = {k: float(v) for k, v in scores.items()}
        for key in (k for k in varied if k not in common):
            sub = [t for t in done if key in t.params]
            if len(sub) < 3:
                result["conditional"][key] = {"n_trials": len(sub), "score": None}
                continue
            keys = [k for k in all_keys if all(k in t.params for t in sub)]
            s = optuna.importance.get_param_importances(_study_of(sub, direction), evaluator=make(), params=keys)
            result["conditional"][key] = {"n_trials": len(sub), "score": float(s.get(key, 0.0))}
    except Exception as err:
        return {"available": False, "note": f"Optuna's {evaluator} failed: {err}"}
    return result


def _release(study: Any) -> None:
    """Close the storage's connections once its trials are read: the last connection to a SQLite
    file in WAL mode folds the WAL in and removes ``optuna.db-wal`` and ``-shm`` (the command may
    leave with ``os._exit`` next, which closes nothing)."""
    storage = getattr(study, "_storage", None)
    engine = getattr(getattr(storage, "_backend", storage), "engine", None)
    if engine is not None:
        engine.dispose()


def _study_of(trials: list[Any], direction: Any) -> Any:
    """An in-memory Optuna study holding ``trials`` (what the importance evaluators read)."""
    import optuna

    study = optuna.create_study(direction=direction)
    study.add_trials(trials)
    return study


def scored_trials(study: Any) -> list[Any]:
    """The trials whose parameters the importances weigh, each COMPLETE with a value: the finished
    ones at theirs, and those the scheduler stopped (PRUNED, :mod:`hpbench.dispatch.searchers`) at
    the last value they reported, the running best of the study metric at their stop, as the search
    saw them. Optuna's evaluators read COMPLETE trials only, and only those of a finite value: a
    trial that diverged before any value (told at the worst, +-inf: hpbench.dispatch.trainable) is
    left out here too, so that the count the report shows is the trials weighed (it counted them)."""
    import math

    from optuna.trial import TrialState, create_trial

    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value):
            out.append(t)
        elif t.state == TrialState.PRUNED and t.intermediate_values:
            last = t.intermediate_values[max(t.intermediate_values)]
            if math.isfinite(last):
                out.append(create_trial(params=t.params, distributions=t.distributions, value=last, state=TrialState.COMPLETE))
    return out


def render(data: ReportData) -> RenderableType:
    cost = data.cost_column()
    t = Table(title=f"What matters: {literal(data.metric)} per value of each searched dimension", header_style="bold")
    for c in ("dimension", "value", "trials", "best", "median", f"mean {cost[1] if cost else 'cost'}"):
        t.add_column(c, justify="left" if c in ("dimension", "value") else "right")
    for key, rows in per_value(data).items():
        for i, r in enumerate(rows):
            style = "bold" if i == 0 else None
            t.add_row(literal(key) if i == 0 else "", literal(r["value"]), str(r["trials"]), fmt(r["best"], 4), fmt(r["median"], 4),
                      fmt(r["mean_cost"]), style=style, end_section=i == len(rows) - 1)
    imp = importance(data)
    if not imp["available"]:
        return Group(t, Text(f"  importance: {imp['note']}", style="dim"))
    it = Table(title=f"Hyperparameter importance (Optuna {imp['evaluator']}, {imp['n_trials']} trials)", header_style="bold")
    it.add_column("dimension")
    it.add_column("importance", justify="right")
    it.add_column("", ratio=1)
    for k, v in imp["scores"].items():
        it.add_row(literal(k), f"{v:.3f}", "█" * round(30 * v))
    for k, c in imp["conditional"].items():
        it.add_row(f"{literal(k)} (conditional)", fmt(c["score"], 3), f"[dim]over the {c['n_trials']} trials where it is active[/]")
    return Group(t, it)


def to_json(data: ReportData) -> dict[str, Any]:
    return {"per_value": per_value(data), "importance": importance(data)}
