"""The dispatcher's predictor: ``params -> predicted columns`` on the study's device, with the
device model from the per-machine cache (:mod:`hpbench.cost.calibrate`). Apart from
:mod:`hpbench.cost.annotate` so that the calibration (which prices its own probe trial with
``predict_trial``) and the annotation do not import each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpbench.cost.annotate import not_predicted, predict_trial


def trial_predictor(study: Any, *, cache_dir: Any = None, device: str | None = None) -> Any:
    """For the dispatcher's driver: ``params -> predicted columns`` on the study's device (the
    cached device model, measured on first use). A trial whose cost cannot be predicted gets
    only a ``cost_note`` saying why, rather than failing the search."""
    from hpbench.cost.calibrate import device_model
    from hpbench.study.resolve import trial_config

    target = device or str(study.config["train"].get("device", "cpu"))
    if target == "auto":
        import torch

        target = "cuda:0" if torch.cuda.is_available() else "cpu"
    dm = device_model(device=target, threads=max(1, int(study.resources.cpus_per_trial)), cache_dir=cache_dir)
    env_cache = Path(cache_dir) / "envs" if cache_dir is not None else None

    def predict(params: dict[str, Any]) -> dict[str, Any]:
        try:
            return predict_trial(trial_config(study, params), device_model=dm, env_cache_dir=env_cache,
                                 max_concurrent=max(1, int(study.settings.max_concurrent)))
        except Exception as err:
            return not_predicted(err)

    return predict
