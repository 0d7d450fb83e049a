"""Prediction check: the cost model's predicted seconds vs the measured training seconds, and
the error statistics (median and mean absolute percentage error, ratio spread, correlation), how
often the measured seconds fell inside the predicted P10-P90 interval, per regime, and the error
after the in-run correction (each trial's prediction corrected from the trials that ended before
it started, :func:`hpbench.cost.correct.replay`) with how often the measured seconds fell inside
the run's P10-P90 (the correction's; before it, from 2 ended trials)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hpbench.cost.correct import EndedTrial, replay, replay_intervals
from hpbench.report.data import ReportData, fmt
from hpbench.results.columns import PREDICTED_S


def _pair(data: ReportData) -> tuple[Any, Any, str] | None:
    """(predicted, measured) seconds for the epochs each trial actually ran."""
    t = data.trials
    if data.has("predicted_spent_s") and data.has("measured_s"):
        return t["predicted_spent_s"], t["measured_s"], "predicted_spent_s vs measured_s"
    if data.has("predicted_epoch_s") and "train_s" in t:
        return t["predicted_epoch_s"] * t["epochs"].astype(float), t["train_s"], "predicted_epoch_s x epochs vs train_s"
    return None


def analyse(data: ReportData) -> dict[str, Any]:
    pair = _pair(data)
    if pair is None:
        return {"available": False, "note": f"no predicted time ({PREDICTED_S}, predicted_spent_s) in these results (the cost model did not run)"}
    p_col, m_col, basis = pair
    ok = p_col.notna() & m_col.notna() & (m_col.astype(float) > 0)
    df = data.trials[ok].assign(_pred=p_col[ok].astype(float), _meas=m_col[ok].astype(float))
    if len(df) == 0:
        return {"available": False, "note": "no trial with both predicted and measured seconds"}
    pred, meas = df["_pred"].to_numpy(), df["_meas"].to_numpy()
    ape = np.abs(pred - meas) / meas
    ratio = pred / meas
    corr = float(np.corrcoef(pred, meas)[0, 1]) if len(df) > 2 and pred.std() > 0 and meas.std() > 0 else None
    worst = df.assign(_ape=ape).sort_values("_ape", ascending=False).head(5)
    extra = {**_inside(df, meas), **_corrected(df, meas), "per_regime": _per_regime(df, ape)}
    return {**extra, "available": True, "basis": basis, "n": len(df), "median_ape": float(np.median(ape)), "mean_ape": float(ape.mean()),
            "ratio_p10": float(np.quantile(ratio, 0.1)), "ratio_median": float(np.median(ratio)),
            "ratio_p90": float(np.quantile(ratio, 0.9)), "pearson_r": corr,
            "worst": [{"trial": int(r["trial"]), "predicted_s": float(r["_pred"]), "measured_s": float(r["_meas"])}
                      for _, r in worst.iterrows()]}


def _inside(df: Any, meas: Any) -> dict[str, Any]:
    """Share of trials whose measured seconds lie inside [predicted_spent_s_p10, predicted_spent_s_p90]."""
    if "predicted_spent_s_p10" not in df or "predicted_spent_s_p90" not in df:
        return {"inside_interval": None, "n_interval": 0}
    lo = pd.to_numeric(df["predicted_spent_s_p10"], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(df["predicted_spent_s_p90"], errors="coerce").to_numpy(dtype=float)
    has = np.isfinite(lo) & np.isfinite(hi)
    if not has.any():
        return {"inside_interval": None, "n_interval": 0}
    inside = (meas[has] >= lo[has]) & (meas[has] <= hi[has])
    return {"inside_interval": float(inside.mean()), "n_interval": int(has.sum())}


def _corrected(df: Any, meas: Any) -> dict[str, Any]:
    """Median |error| of the corrected predictions (trials with one), the fewest trials one was
    corrected from, and the share of trials inside the run's P10-P90 (the correction's, before it
    from 2 ended trials: :func:`hpbench.cost.correct.replay_intervals`)."""
    none = {"corrected_median_ape": None, "n_corrected": 0, "corrected_from": None, "inside_corrected": None, "n_corrected_interval": 0}
    if not {"started_at", "ended_at"} <= set(df.columns):
        return none
    regime = df["regime"] if "regime" in df else pd.Series([None] * len(df), index=df.index)
    ended = [EndedTrial(regime=None if pd.isna(r) else str(r), predicted_s=float(p), measured_s=float(m), started_at=float(a),
                        ended_at=float(b))
             for r, p, m, a, b in zip(regime, df["_pred"], meas, pd.to_numeric(df["started_at"], errors="coerce").fillna(np.inf),
                                      pd.to_numeric(df["ended_at"], errors="coerce").fillna(np.inf), strict=True)]
    done = [(c[0], e.measured_s, c[1].n_trials) for c, e in zip(replay(ended), ended, strict=True) if c is not None]
    inside = [b[0] <= e.measured_s <= b[1] for b, e in zip(replay_intervals(ended), ended, strict=True) if b is not None]
    out = {**none, "inside_corrected": float(np.mean(inside)) if inside else None, "n_corrected_interval": len(inside)}
    if not done:
        return out
    return {**out, "corrected_median_ape": float(np.median([abs(p - m) / m for p, m, _ in done])), "n_corrected": len(done),
            "corrected_from": min(n for _, _, n in done)}


def _per_regime(df: Any, ape: Any) -> dict[str, dict[str, float]]:
    if "regime" not in df:
        return {}
    out = {}
    for regime, idx in df.assign(_ape=ape).groupby("regime").groups.items():
        sub = df.assign(_ape=ape).loc[idx]
        out[str(regime)] = {"n": len(sub), "median_ape": float(sub["_ape"].median())}
    return out


def render(data: ReportData) -> RenderableType:
    a = analyse(data)
    if not a["available"]:
        return Text(f"Prediction check: {a['note']}")
    t = Table(title=f"Prediction check: predicted vs measured seconds ({a['n']} trials)", header_style="bold", caption=a["basis"])
    t.add_column("statistic")
    t.add_column("value", justify="right")
    for k, label in (("median_ape", "median |error| %"), ("mean_ape", "mean |error| %")):
        t.add_row(label, f"{100 * a[k]:.1f}%")
    t.add_row("predicted/measured p10 · median · p90", f"{a['ratio_p10']:.2f} · {a['ratio_median']:.2f} · {a['ratio_p90']:.2f}")
    t.add_row("Pearson r", fmt(a["pearson_r"]))
    if a["inside_interval"] is not None:
        t.add_row("measured inside predicted P10-P90", f"{100 * a['inside_interval']:.0f}% of {a['n_interval']}")
    if a["corrected_median_ape"] is not None:
        t.add_row(f"median |error| corrected from >= {a['corrected_from']} trials",
                  f"{100 * a['corrected_median_ape']:.1f}% ({a['n_corrected']} trials)")
    if a.get("inside_corrected") is not None:
        t.add_row("measured inside the run's P10-P90", f"{100 * a['inside_corrected']:.0f}% of {a['n_corrected_interval']}")
    for regime, r in a["per_regime"].items():
        t.add_row(f"median |error| {regime}", f"{100 * r['median_ape']:.1f}% ({r['n']} trials)")
    for w in a["worst"][:3]:
        t.add_row(f"worst: trial {w['trial']}", f"{fmt(w['predicted_s'])} s vs {fmt(w['measured_s'])} s")
    return t


def to_json(data: ReportData) -> dict[str, Any]:
    return analyse(data)
