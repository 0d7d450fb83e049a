"""Estimating a whole study before it runs: per-configuration cost rows and the study totals."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from hpbench.cost.annotate import predict_trial
from hpbench.cost.device import DeviceModel
from hpbench.study.schema import Study


def asha_epoch_fraction(*, max_epochs: int, grace_period: int, reduction_factor: int) -> float:
    """Expected epochs per trial under ASHA / max_epochs: every trial runs to the first rung
    (grace_period), 1/η of them on to each next rung r_k = grace·η^k (Li et al. 2020, ASHA)."""
    if max_epochs <= 0:
        return 0.0
    rungs = [grace_period]
    while rungs[-1] * reduction_factor < max_epochs:
        rungs.append(rungs[-1] * reduction_factor)
    rungs = [min(r, max_epochs) for r in rungs] + [max_epochs]
    expected = float(rungs[0])
    for k in range(1, len(rungs)):
        expected += (rungs[k] - rungs[k - 1]) / reduction_factor**k
    return min(1.0, expected / max_epochs)


def eta_seconds(trial_s: list[float], *, max_concurrent: int) -> float:
    """Wall clock of running trials in order on ``max_concurrent`` slots (greedy list scheduling)."""
    slots = [0.0] * max(1, max_concurrent)
    for s in trial_s:
        i = slots.index(min(slots))
        slots[i] += s
    return max(slots)


def eta_interval(rows: list[dict[str, Any]], *, fraction: float, max_concurrent: int) -> dict[str, float | None]:
    """The ETA's P10-P90: the schedule of every trial at its P10 and at its P90 seconds (a trial's
    errors share the device's bias, so its bounds are taken together, not averaged out); None when
    any configuration has no interval."""
    lows, highs = [r.get("predicted_s_p10") for r in rows], [r.get("predicted_s_p90") for r in rows]
    if not rows or any(not isinstance(v, (int, float)) for v in lows + highs):
        return {"eta_p10_s": None, "eta_p90_s": None}
    return {"eta_p10_s": eta_seconds([float(v) * fraction for v in lows], max_concurrent=max_concurrent),  # type: ignore[arg-type]
            "eta_p90_s": eta_seconds([float(v) * fraction for v in highs], max_concurrent=max_concurrent)}  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class StudyEstimate:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def configurations(study: Study, *, n: int | None = None, grid: bool = False) -> list[dict[str, Any]]:
    """The study's grid (``grid=True`` or a grid searcher) or ``n`` sampled configurations."""
    if grid or study.settings.searcher == "grid":
        if not study.space.is_finite():
            raise ValueError("--grid needs a finite space (choice/grid dimensions only), but the space has continuous dimensions")
        return study.space.grid()
    rng = random.Random(study.settings.seed)
    return [study.space.sample(rng) for _ in range(n or study.settings.trials)]


def estimate_study(study: Study, *, device_model: DeviceModel, configs: list[dict[str, Any]]) -> StudyEstimate:
    from hpbench.study.resolve import trial_config

    rows = []
    for i, params in enumerate(configs):
        cols = predict_trial(trial_config(study, params), device_model=device_model, max_concurrent=max(1, study.settings.max_concurrent))
        rows.append({"config": i, **params, **cols})
    st = study.settings
    max_epochs = int(study.config["train"]["max_epochs"])
    frac = asha_epoch_fraction(max_epochs=max_epochs, grace_period=st.grace_period, reduction_factor=st.reduction_factor) if st.scheduler == "asha" else 1.0
    worst_s = [r["predicted_s"] for r in rows]
    summary = {
        "device": device_model.name, "n_configs": len(rows), "max_epochs": max_epochs, "max_concurrent": st.max_concurrent,
        "scheduler": st.scheduler, "pruning_fraction": frac,
        "total_flops": sum(r["predicted_flops"] for r in rows) * frac,
        "total_s": sum(worst_s) * frac,
        "worst_case_flops": sum(r["predicted_flops"] for r in rows),
        "worst_case_s": sum(worst_s),
        "eta_s": eta_seconds([s * frac for s in worst_s], max_concurrent=st.max_concurrent),
        "worst_case_eta_s": eta_seconds(worst_s, max_concurrent=st.max_concurrent),
        **eta_interval(rows, fraction=frac, max_concurrent=st.max_concurrent),
        "naive_total_s": sum(r["naive_s"] for r in rows),
    }
    return StudyEstimate(rows=rows, summary=summary)
