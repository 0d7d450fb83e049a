"""``hpbench.estimate``: what a study's configurations will cost (FLOPs, seconds), before running anything.

The device model is this machine's, calibrated once and cached (``hpbench devices``), for the
study's ``[train] device``; ``device_flops`` predicts for a hypothetical device instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpbench.errors import StudyError
from hpbench.study.schema import Study

if TYPE_CHECKING:
    import pandas as pd

    from hpbench.cost.estimate import StudyEstimate


def estimate(study: Study, *, samples: int | None = None, grid: bool = False, device_flops: float | None = None,
             cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per configuration (``config``, its hyperparameters, ``predicted_flops``,
    ``predicted_s``, ...); the study's totals (worst case, with pruning, ETA at its concurrency)
    are in ``df.attrs["summary"]``. ``samples``: configurations drawn from the space (default:
    the study's trials); ``grid``: every configuration of a finite space."""
    import pandas as pd

    est = study_estimate(study, samples=samples, grid=grid, device_flops=device_flops, cache_dir=cache_dir)
    df = pd.DataFrame(est.rows)
    df.attrs["summary"] = dict(est.summary)
    return df


def study_estimate(study: Study, *, samples: int | None = None, grid: bool = False, device_flops: float | None = None,
                   cache_dir: str | Path | None = None, cli: bool = False, preflight: bool = True) -> StudyEstimate:
    """The estimate as rows and a summary (what ``hpbench estimate`` prints). Raises
    :class:`~hpbench.errors.StudyError` for a bad option (and, with ``preflight``, a
    :class:`~hpbench.preflight.PreflightFailed` for bad data or a network that does not run on
    it), ``ValueError`` for a space the estimate cannot enumerate (``grid`` over continuous
    dimensions)."""
    if device_flops is not None and not device_flops > 0:
        key = "--device-flops" if cli else "device_flops"
        raise StudyError(source=key if cli else "hpbench.estimate", key=key, rule="must be > 0", value=device_flops)
    if samples is not None and samples < 1:
        raise StudyError(source="hpbench.estimate", key="samples", rule="must be at least 1", value=samples)
    from hpbench.cost.calibrate import device_model
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.estimate import configurations, estimate_study

    if preflight:
        from hpbench.preflight.run import preflight as check

        check(study)  # the data and the networks, in this process (it loads torch anyway)

    if device_flops is not None:
        dev = DeviceModel.hypothetical_device(flops_per_s=device_flops)
    else:
        target = str(study.config["train"].get("device", "cpu"))
        if target == "auto":
            import torch

            target = "cuda:0" if torch.cuda.is_available() else "cpu"
        dev = device_model(device=target, threads=max(1, int(study.resources.cpus_per_trial)),
                           cache_dir=Path(cache_dir) if cache_dir is not None else None)
    return estimate_study(study, device_model=dev, configs=configurations(study, n=samples, grid=grid))
