"""Estimating a whole study before it runs: per-configuration cost rows and the study totals."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpbench.config import unfusable
from hpbench.cost.annotate import predict_trial
from hpbench.cost.clock import contention
from hpbench.cost.device import DeviceModel
from hpbench.cost.ends import rows_per_step, searched_lr
from hpbench.cost.figures import IMPORTANCE_MIN_TRIALS, Figures
from hpbench.cost.fusion import fuse_members
from hpbench.cost.quality import searcher_focus
from hpbench.cost.simulate import MAX_REPLAYED, Pruning
from hpbench.cost.trial_plan import capped_seconds
from hpbench.cost.walltime import Repeats, SearchPlan, TrialPlan, predict
from hpbench.hyperband import hyperband_shares
from hpbench.strategies import scheduler_traits
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


@dataclass(frozen=True, kw_only=True)
class StudyEstimate:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def enumerates_grid(study: Study, *, grid: bool = False) -> bool:
    """Whether :func:`configurations` gives the study's whole grid (not a sample)."""
    return grid or study.settings.searcher == "grid"


def configurations(study: Study, *, n: int | None = None, grid: bool = False) -> list[dict[str, Any]]:
    """The study's grid (``grid=True`` or a grid searcher) or ``n`` configurations as the search
    runs them: its first points (enqueued, else its default configuration:
    ``StudySettings.first_points``; the keys an enqueued point leaves out from the draw in its
    place), then sampled ones."""
    if enumerates_grid(study, grid=grid):
        if not study.space.is_finite():
            continuous = [f"space.{d.key} ({d.dist.describe()})" for d in study.space.dims if d.dist.grid_values() is None]
            raise ValueError(f"--grid needs a finite space (choice/grid dimensions only), but {', '.join(continuous)} "
                             f"{'is' if len(continuous) == 1 else 'are'} continuous (list values with choice or grid instead)")
        return study.space.grid()
    rng = random.Random(study.settings.seed)
    drawn = [study.space.sample(rng) for _ in range(n or study.settings.trials)]
    fill = random.Random(study.settings.seed + 1)  # what a point leaves out and its draw lacks (a condition its values opened)
    for i, point in enumerate(study.settings.first_points[: len(drawn)]):
        drawn[i] = study.space.complete(point, fill, like=drawn[i])
    return drawn


def concurrency(study: Study, *, cpus: float) -> int:
    """Trials running at once: ``max_concurrent``, as far as ``cpus`` hold ``cpus_per_trial`` each."""
    per = study.resources.cpus_per_trial
    fit = int(cpus // per) if per > 0 else study.settings.max_concurrent
    return max(1, min(study.settings.max_concurrent, fit, max(1, study.settings.trials)))


def trial_plan(study: Study, params: dict[str, Any], *, epoch_s: float, columns: dict[str, Any] | None = None) -> TrialPlan:
    """A configuration as the wall-time model reads it: its epochs, its early stopping, and the
    cost model's interval from its predicted ``columns`` (``predicted_s_p10`` / ``_p90`` over
    ``predicted_s``) when given. Empty ``params``: the study's fixed settings."""
    from hpbench.study.resolve import trial_config

    if params:
        train = trial_config(study, params).train
        max_epochs, es, max_time_s = int(train.max_epochs), train.early_stopping, train.max_time_s
        patience, start = (None, 0) if es is None else (int(es.patience), int(es.start_from_epoch))
    else:  # a trial not sampled yet (the live view): the study's own settings
        fixed = study.config["train"]
        max_epochs, es_fixed, max_time_s = int(fixed["max_epochs"]), fixed.get("early_stopping"), fixed.get("max_time_s")
        patience, start = (None, 0) if not es_fixed else (int(es_fixed.get("patience", 0)), int(es_fixed.get("start_from_epoch", 0)))
    low = high = 1.0
    cols = columns or {}
    fuse = fuse_of(study, params, n_repeats=study.settings.repeats, flops_per_step=cols.get("flops_per_step")) if cols else 1
    if all(isinstance(cols.get(k), (int, float)) for k in ("predicted_s", "predicted_s_p10", "predicted_s_p90")) and cols["predicted_s"] > 0:
        low, high = cols["predicted_s_p10"] / cols["predicted_s"], cols["predicted_s_p90"] / cols["predicted_s"]
    family = params.get("family")  # a searched family (hpbench.cost.figures.Figures.family_speeds)
    return TrialPlan(epoch_s=epoch_s, max_epochs=max_epochs, patience=patience, start_from_epoch=start, low=min(1.0, low),
                     high=max(1.0, high), fuse=fuse, family=family if isinstance(family, str) else None, lr=searched_lr(params),
                     batch=rows_per_step(cols.get("batch_rows")), max_time_s=float(max_time_s) if max_time_s is not None else None)


def config_rows(study: Study, params: Mapping[str, Any]) -> float | None:
    """A configuration's rows per step, as :func:`hpbench.cost.annotate.batch_rows` prices it (a
    number as it is, ``"full"`` the training rows); None for a task without batches (rl, gan)."""
    from hpbench.cost.annotate import batch_rows
    from hpbench.study.resolve import trial_config

    cfg = trial_config(study, dict(params))
    if cfg.task != "supervised":
        return None
    bs = cfg.train.batch_size
    return float(batch_rows(cfg)) if bs == "full" else rows_per_step(bs)


def fuse_of(study: Study, params: Mapping[str, Any], *, n_repeats: int, flops_per_step: float | None) -> int:
    """How many of a configuration's ``n_repeats`` repeats train at once, as the runner groups them
    (:func:`hpbench.dispatch.fused.group_replays`): 1 where they cannot fuse
    (:func:`hpbench.config.unfusable`: clip_norm, the plateau schedule, distillation, ...),
    else :func:`~hpbench.cost.fusion.fuse_members`. The FLOPs rule alone priced recurrent's
    clip_norm repeats as one fused group: 19.6 s for the 50.6 s its five unfused runs took (session
    9, benchmarks/eta.py hold 3). A configuration that cannot be built: the FLOPs rule."""
    from hpbench.study.resolve import trial_config

    try:
        if unfusable(trial_config(study, dict(params))):
            return 1
    except (ValueError, KeyError, TypeError):  # predict_columns says why; priced as before
        pass
    return fuse_members(n_repeats=n_repeats, flops_per_step=flops_per_step, threads=max(1, int(study.resources.cpus_per_trial)))


def test_cold(study: Study, *, n_repeats: int) -> bool:
    """Whether the test split after the search is the driver's first use of torch (it then loads
    torch first: :attr:`hpbench.cost.figures.Figures.test_cold_s`): no repeats run before it, or
    they cannot fuse (the runner's grouping counts FLOPs, with torch, only for those that can:
    :func:`hpbench.dispatch.fused.fuse_repeats`)."""
    from hpbench.study.resolve import trial_config

    if n_repeats < 1:
        return True
    try:
        return unfusable(trial_config(study, {})) is not None
    except (ValueError, KeyError, TypeError):
        return False


def pruned_epoch_fraction(p: Pruning) -> float:
    """Expected epochs per trial / max_epochs under ``p``'s rungs (1.0 without rungs): ASHA's
    :func:`asha_epoch_fraction`; Hyperband's, its brackets' (bracket ``b`` judged from rung ``b``) by their shares."""
    rungs = p.rungs()
    if not rungs:
        return 1.0
    shares = hyperband_shares(p.n_brackets(), p.reduction_factor)
    return sum(share * asha_epoch_fraction(max_epochs=p.max_t, grace_period=rungs[b], reduction_factor=p.reduction_factor)
               for b, share in enumerate(shares))


def pruning(study: Study) -> Pruning:
    """The study's scheduler as the replay applies it (its registered ``replay``:
    :func:`hpbench.strategies.scheduler_traits`); ``asha-cost`` (rungs in predicted seconds of a
    reference epoch, :mod:`hpbench.cost_asha`) replayed as ASHA by epochs (the same rungs for a
    trial of the reference epoch); ``asha-rank`` as ASHA (which of its rungs will stop judging is
    the search's own evidence, unknown before it: where they do, trials run longer than priced)."""
    st = study.settings
    return Pruning(kind=scheduler_traits(st.scheduler).replay, max_t=study.max_epochs,
                   grace_period=st.grace_period, reduction_factor=st.reduction_factor)


def search_plan(study: Study, plans: list[TrialPlan], *, cpus: float, repeats: int | None = None,
                device_plans: list[list[TrialPlan]] | None = None, command: bool = True, n_early: int = 0, n_early_max: int = 0,
                n_search: int | None = None, data_s: float | None = None, warm: bool = False) -> SearchPlan:
    """The whole search of ``study`` with ``plans`` (one per trial), as :func:`hpbench.cost.walltime.predict`
    replays it. ``n_early``: its first trials train in the helper while Ray starts
    (:mod:`hpbench.dispatch.early`), inside the start-up: Tune's slots run the others (replayed
    as 4 trials, the 2 that run in Tune took 2.7 s where 4.3 s were predicted: eta-tiny +32%);
    ``n_early_max``: more of them may train there, one after another, until Tune's first trial
    reports (:func:`hpbench.cost.early_window.early_count`: the quickstart ran 6 of its 24 early, the
    estimate priced 22 in Tune's slots); ``data_s``: the study's data loading and checks before Ray starts (measured by the pre-flight); ``n_search``: the search's trials where ``plans`` stands for fewer
    (the live ETA's after-search parts), which decides whether its final table scores importances."""
    st = study.settings
    n_repeats = st.repeats if repeats is None else repeats
    return SearchPlan(
        trials=tuple(plans), early=max(0, min(n_early, len(plans) - 1)), early_max=max(0, min(max(n_early, n_early_max), len(plans) - 1)),
        concurrency=concurrency(study, cpus=cpus),
        pruning=pruning(study),
        cpus_per_trial=float(study.resources.cpus_per_trial), repeats=Repeats(top=st.repeats_top, seeds=n_repeats, slots=st.max_concurrent),
        device_runs=tuple(tuple(d) for d in device_plans or ()), test_split=float(study.config["data"].get("test_fraction", 0.0)) > 0,
        test_cold=test_cold(study, n_repeats=n_repeats),
        command=command, importance=(len(plans) if n_search is None else n_search) >= IMPORTANCE_MIN_TRIALS, focus=searcher_focus(st.searcher),
        data_s=data_s, warm=warm, n_trials=n_search if n_search is not None and n_search > len(plans) else None,
    )


def estimate_study(study: Study, *, device_model: DeviceModel, configs: list[dict[str, Any]], figures: Figures | None = None,
                   probe: float | Callable[[], float] = 1.0, cpus: int = 1, device_epoch_s: list[list[float]] | None = None,
                   n_trials: int | None = None, n_early: int = 0, n_early_max: int = 0, data_s: float | None = None,
                   warm: bool = False, ray_cpus: int | None = None) -> StudyEstimate:
    """Per-configuration cost rows, and the summary: FLOPs and seconds, and the wall time of the
    whole ``hpbench search`` command (:func:`hpbench.cost.walltime.predict`) with this machine's
    ``figures``, ``cpus`` and the contention a busy thread meets now (``probe``,
    :func:`hpbench.cost.clock.probe_contention`; a callable is called once the rows are predicted).
    ``device_epoch_s``: per other device of ``[train] devices``, the configurations' seconds per epoch there.
    ``n_trials``: the search's trials when ``configs`` is a sample of fewer of them: the totals are
    scaled to ``n_trials`` and the replay runs the sampled plans over again up to ``n_trials``.
    ``n_early``, ``n_early_max``: the search's first trials that train while Ray starts (:func:`search_plan`);
    ``data_s``: the study's data loading and checks, as the pre-flight measured them (the search's Ray starts after them);
    ``warm``: the search will join the warm local Ray runtime (:mod:`hpbench.dispatch.local_ray`);
    ``ray_cpus``: the CPUs of the Ray runtime the search runs on, where fewer than ``cpus`` (the warm
    runtime's): its trials' concurrency (the contention stays the machine's)."""
    from hpbench.study.resolve import trial_config

    rows = []
    for i, params in enumerate(configs):
        cols = predict_trial(trial_config(study, params), device_model=device_model, max_concurrent=max(1, study.settings.max_concurrent))
        rows.append({"config": i, **params, **cols})
    st = study.settings
    max_epochs = int(study.config["train"]["max_epochs"])
    plans = first_plans = [trial_plan(study, p, epoch_s=float(r["predicted_epoch_s"]), columns=r) for p, r in zip(configs, rows, strict=True)]
    devices = [[trial_plan(study, p, epoch_s=s) for p, s in zip(configs, d, strict=True)] for d in device_epoch_s or ()]
    n_trials = n_trials or len(rows)
    scale = n_trials / len(rows) if rows else 1.0
    if n_trials != len(plans) and plans:  # a sample priced for a search of another size: its plans run over again, in order (or its first ones),
        plans = [plans[i % len(plans)] for i in range(min(n_trials, MAX_REPLAYED))]  # up to the replay's most, the rest at their pace
    plan = search_plan(study, plans, cpus=ray_cpus or cpus, device_plans=devices, n_early=n_early, n_early_max=n_early_max, data_s=data_s, warm=warm,
                       n_search=n_trials)
    probe = probe() if callable(probe) else probe
    c = contention(probe=probe, own=plan.concurrency * plan.cpus_per_trial, cpus=cpus)
    figs = figures or Figures()
    wall = predict(plan, figures=figs, contention=c)
    frac = wall.epoch_fraction
    worst_s = [r["predicted_s"] for r in rows]  # to max_epochs: the replay's epoch fraction prices the time limit too
    capped_s = [capped_seconds(r["predicted_s"], epoch_s=r["predicted_epoch_s"], max_time_s=p.max_time_s) for r, p in zip(rows, first_plans, strict=True)]
    summary = {
        "device": device_model.name, "n_configs": len(rows), "n_trials": n_trials, "max_epochs": max_epochs, "max_concurrent": st.max_concurrent,
        "concurrency": plan.concurrency, "scheduler": st.scheduler, "early_stopping": plans[0].patience is not None if plans else False,
        "epoch_fraction": frac,
        "asha_fraction": pruned_epoch_fraction(pruning(study)),
        "total_flops": sum(r["predicted_flops"] for r in rows) * frac * scale,
        "total_s": sum(worst_s) * frac * scale,
        "worst_case_flops": sum(r["predicted_flops"] for r in rows) * scale,
        "worst_case_s": sum(capped_s) * scale,
        "naive_total_s": sum(r["naive_s"] for r in rows) * scale,
        "wall_time": {
            "total_s": wall.total_s, "low_s": wall.low_s, "high_s": wall.high_s, "parts": wall.parts(),
            "contention": wall.contention, "probe": probe, "cpus": cpus, "speed": figs.speed, "quality_rho": figs.quality_rho,
            # the trials part moved toward the study's own earlier runs here (hpbench.cost.own_runs), from the model's price
            "span_scale": wall.span_scale, "model_span_s": wall.model_span_s,
            # the study's data loading and checks before Ray starts (the estimate's pre-flight) against the searches' the start-up came from
            "data_s": plan.data_s, "figure_data_s": figs.data_s,
            "sources": {**{k: figs.source(k) for k in ("fresh_worker_s", "setup_s", "speed", "best_fractions", "exit_s", "quality_rho", "study_search_s")},
                        "startup_s": figs.startup_source(early=plan.early > 0, warm=plan.warm), "report_s": figs.report_source(importance=plan.importance)},
        },
    }
    return StudyEstimate(rows=rows, summary=summary)
