"""``hpbench.estimate``: what a study's configurations will cost (FLOPs, seconds), before running anything.

The device model is this machine's, calibrated once and cached (``hpbench devices``), for the
study's ``[train] device``; ``device_flops`` predicts for a hypothetical device instead.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpbench.api.checks import check_call
from hpbench.errors import StudyError
from hpbench.study.schema import Study

PRICED = 64  # configurations the estimate prices by default (a sample, for studies of more trials)

if TYPE_CHECKING:
    import pandas as pd

    from hpbench.cost.estimate import StudyEstimate


def estimate(study: Study, *, samples: int | None = None, grid: bool = False, device_flops: float | None = None,
             cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per configuration (``config``, its hyperparameters, ``predicted_flops``,
    ``predicted_s``, ...); the study's totals (worst case, with pruning, ETA at its concurrency)
    are in ``df.attrs["summary"]``. ``samples``: configurations drawn from the space (default:
    the study's trials, at most :data:`PRICED`; a sample of any size stands for them all, its
    totals scaled to the trials: ``summary["n_trials"]``); ``grid``: every configuration of a finite space.
    A machine's first estimate calibrates its cost model (a minute or two) and says so on stderr."""
    import sys

    import pandas as pd

    check_call("hpbench.estimate", study, ints={"samples": samples}, numbers={"device_flops": device_flops})
    est = study_estimate(study, samples=samples, grid=grid, device_flops=device_flops, cache_dir=cache_dir,
                         log=lambda line: print(line, file=sys.stderr, flush=True))
    df = pd.DataFrame(est.rows)
    df.attrs["summary"] = dict(est.summary)
    return df


def check_cache_dir(cache_dir: str | Path, *, cli: bool = False) -> None:
    """Refuse, before any work, a cache folder that cannot be one (an existing file, under a file,
    read-only): an :class:`~hpbench.results.files.OutputError` naming ``--cache-dir`` (``cli``) or
    ``cache_dir``; an empty path is a :class:`~hpbench.errors.StudyError`. A file there ended
    ``hpbench estimate`` with 'File exists' after its whole calibration (minutes)."""
    from hpbench.results.files import check_writable

    key = "--cache-dir" if cli else "cache_dir"
    if cache_dir == "":
        raise StudyError(source="hpbench estimate" if cli else "hpbench.estimate", key=key, value=cache_dir,
                         rule="must be a folder path, not empty ('.' names the current folder)")
    check_writable(Path(cache_dir), key=key, min_free_bytes=0)  # a few small JSON files: no room is asked ahead


def study_estimate(study: Study, *, samples: int | None = None, grid: bool = False, device_flops: float | None = None,
                   cache_dir: str | Path | None = None, cli: bool = False, preflight: bool = True,
                   log: Callable[[str], None] | None = None) -> StudyEstimate:
    """The estimate as rows and a summary (what ``hpbench estimate`` prints). ``log`` gets the
    progress lines of a calibration this call runs (this machine's first, or a stale model's:
    a minute or more that would otherwise pass without a word). Raises
    :class:`~hpbench.errors.StudyError` for a bad option (and, with ``preflight``, a
    :class:`~hpbench.preflight.PreflightFailed` for bad data or a network that does not run on
    it), ``ValueError`` for a space the estimate cannot enumerate (``grid`` over continuous
    dimensions)."""
    if device_flops is not None and not (isinstance(device_flops, int | float) and 1.0 <= device_flops < math.inf):
        key = "--device-flops" if cli else "device_flops"
        raise StudyError(source="hpbench estimate" if cli else "hpbench.estimate", key=key, rule="must be a number of FLOP/s, at least 1 and finite",
                         value=device_flops)
    if samples is not None and samples < 1:
        raise StudyError(source="hpbench.estimate", key="samples", rule="must be at least 1", value=samples)
    if cache_dir is not None:
        check_cache_dir(cache_dir, cli=cli)
    elif device_flops is None:  # this machine's model: calibrated and cached when there is none
        from hpbench.api.cache_check import check_default_cache

        check_default_cache(flag="--cache-dir" if cli else "cache_dir=")
    from hpbench.cost import clock, history, priced, prices, startup_probe
    from hpbench.cost.calibrate import cache_file, device_model, refused
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.estimate import configurations, enumerates_grid, estimate_study
    from hpbench.dispatch import local_ray
    from hpbench.dispatch.early_launch import n_early, n_early_max

    data_s: float | None = None
    warnings: list[str] = []
    if device_flops is None:  # this machine's estimate: a trial it cannot hold would never start here
        from hpbench.api.search import check_fits

        check_fits(study, address=None, num_cpus=None, what="estimate")
    if preflight:
        from hpbench.preflight.problems import PreflightFailed
        from hpbench.preflight.run import start

        pending = start(study)  # the data and the networks, in this process (it loads torch anyway)
        problems = pending.result()
        if problems:
            raise PreflightFailed.of(problems)
        data_s = pending.data_s  # the search's Ray starts after its data is loaded and checked: part of its start-up
        warnings = list(pending.warnings)  # as the search prints them (a class too small to stratify, a target's scale)

    cache = Path(cache_dir) if cache_dir is not None else history.default_cache_dir()
    # a hypothetical device is priced from the prior's figures: not this machine's runs of the
    # study (its measured spans pulled a 1e6 FLOP/s estimate below one of its own trials) nor its load
    records = history.at_this_priority(history.load(cache)) if device_flops is None else []
    # The machine's contention, probed before and after the predictions (0.5 s each, half of it
    # spinning), with the last searches' of the last minutes: a single 1-s probe read 1.1 where
    # the search's own, a minute later, read 2.0.
    before = clock.probe_contention(0.5)
    threads = max(1, int(study.resources.cpus_per_trial))
    probed = startup_probe.load(cache)  # this machine's start-up probe (hpbench.cost.startup_probe), where one ran
    if device_flops is not None:
        dev = DeviceModel.hypothetical_device(flops_per_s=device_flops)
    else:
        asked_at = time.time()
        # a cached model this version refuses (an older hpbench's, another identity's) is replaced: said so (bug hunt s52h4 #1)
        why = refused(cache_file(cache, _target(study), threads), _target(study)).why() if log is not None else ""
        what = (f"it replaces this machine's cached cost model, which {why}: measured once and cached in {cache}" if why else
                f"this machine's cost model, measured once and cached in {cache}")
        dev = device_model(device=_target(study), threads=threads, cache_dir=cache,
                           log=_announced(log, f"calibrating {_target(study)} at {threads} thread{'s' if threads > 1 else ''}: {what} (a minute or two)"))
        if dev.measured_at >= asked_at and probed is None and startup_probe.wanted():
            # a machine calibrated by this call (for the first time, or anew): its start-up timed too (~20 s), so that
            # this estimate prices the search's start-up, final table and exit at this machine's pace, not the prior's
            probed = startup_probe.measure(cache, log=log)
    # Each configuration is priced by building its network and counting a step (~0.1-0.7 s): a
    # 1,000-trial study took over 5 minutes. By default a sample of at most PRICED stands for them
    # all (totals scaled, the replay runs the sample over again); --samples N prices N.
    n = samples if samples is not None else min(PRICED, max(1, study.settings.trials))
    configs = configurations(study, n=n, grid=grid)
    est = estimate_study(study, device_model=dev, configs=configs, figures=history.figures(records, study=study.name, study_key=study.fingerprint(), model=history.tag_of(dev.measured_at),
                                                                                                    repriced=_repriced(study, records, dev=dev, cache=cache),
                                                                                                    prior=startup_probe.probed(probed) if probed else None),
                          probe=(lambda: history.blended_probe([before, clock.probe_contention(0.5)], records, now=time.time()))
                          if not dev.hypothetical else 1.0,
                          cpus=clock.n_cpus(),
                          device_epoch_s=_other_devices(study, configs, threads=threads, cache=cache),
                          # a sample of any size stands for the search's trials (a grid runs every point it lists)
                          n_trials=study.settings.trials if not enumerates_grid(study, grid=grid) else None,
                          # a fresh local search, as `hpbench search STUDY` runs it
                          n_early=(k := n_early(study, n_new=study.settings.trials, fresh=True, local=True, budget=False, shared_storage=False)),
                          n_early_max=n_early_max(k, study.settings.trials), data_s=data_s,
                          warm=local_ray.would_join(address=None, num_cpus=None),  # ... on the warm runtime when one is up
                          ray_cpus=local_ray.local_cpus(address=None, num_cpus=None))  # ... at its concurrency (s50/h8 #4)
    if samples is None and enumerates_grid(study, grid=grid) == enumerates_grid(study) and not dev.hypothetical:
        with contextlib.suppress(OSError):  # the search's live ETA prices its trials left from these (hpbench.cost.priced)
            priced.save(cache, model=history.tag_of(dev.measured_at), study=study,
                        epoch_s=[r.get("predicted_epoch_s") for r in est.rows], flops_per_step=[r.get("flops_per_step") for r in est.rows],
                        at=time.time())
    if not dev.hypothetical:
        with contextlib.suppress(OSError):  # ... and its trials' predictions, each configuration's (hpbench.cost.prices)
            prices.save(cache, model=history.tag_of(dev.measured_at), columns=_prices(study, configs, est.rows))
    est.summary["warnings"] = warnings
    return est


def _announced(log: Callable[[str], None] | None, first: str) -> Callable[[str], None] | None:
    """``log``, saying ``first`` before its first line (a calibration logs only when it runs)."""
    if log is None:
        return None
    said = False

    def announced(line: str) -> None:
        nonlocal said
        if not said:
            said = True
            log(first)
        log(line)

    return announced


def _prices(study: Study, configs: list[dict[str, Any]], rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Price key -> the predicted columns of each configuration the estimate priced (its row less
    its parameters)."""
    from hpbench.dispatch.cost_keys import price_key

    out = {}
    for params, row in zip(configs, rows, strict=True):
        try:
            key = price_key(study, params, None)
        except Exception:  # a configuration the search cannot key is not kept
            continue
        if key is not None:
            out[key] = {k: v for k, v in row.items() if k != "config" and k not in params}
    return out


def _repriced(study: Study, records: list[dict[str, Any]], *, dev: Any, cache: Path) -> dict[str, float]:
    """The study's latest records of an earlier device model re-priced against ``dev``
    (:mod:`hpbench.cost.reprice`): from the cache, else priced here and cached."""
    from hpbench.cost import history, reprice
    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    model = history.tag_of(dev.measured_at)
    have = reprice.load_cache(cache, model)
    todo = reprice.missing(records, study=study.name, model=model, have=have)
    if not todo or dev.hypothetical:
        return have
    mc = max(1, study.settings.max_concurrent)
    new = reprice.speeds(todo, lambda p: predict_trial(trial_config(study, dict(p)), device_model=dev, max_concurrent=mc)["predicted_epoch_s"])
    return reprice.remember(cache, model, have, new)


def _target(study: Study) -> str:
    target = str(study.config["train"].get("device", "cpu"))
    if target == "auto":
        import torch

        target = "cuda:0" if torch.cuda.is_available() else "cpu"
    return target


def _other_devices(study: Study, configs: list[dict[str, Any]], *, threads: int, cache: Path) -> list[list[float]]:
    """Seconds per epoch of ``configs`` on each other device of ``[train] devices`` (the runs after
    the search), from that device's cached model; the search device's when it has none (a search
    measures it on first use: calibrating it here would take minutes)."""
    from hpbench.cost.annotate import predict_trial
    from hpbench.cost.calibrate import cache_file, load_cached
    from hpbench.study.resolve import trial_config

    out = []
    for device in study.config["train"].get("devices", [])[1:]:
        target = "cuda:0" if device == "cuda" else str(device)
        dev = load_cached(cache_file(cache, target, threads), target) or load_cached(cache_file(cache, _target(study), threads), _target(study))
        if dev is None:
            continue
        out.append([float(predict_trial(trial_config(study, p), device_model=dev)["predicted_epoch_s"]) for p in configs])
    return out
