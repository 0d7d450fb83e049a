"""The Ray Tune function trainable: resolves the trial's configuration and runs the shared
trainer, reporting every epoch (plus the running best of the study metric, ``objective``,
which the searcher and scheduler act on).

Every epoch's report carries a Tune checkpoint of the trainer's state, so that a trial that
raised (or whose worker died) is retried by Tune from its last finished epoch. Each report
also names the Ray node the trial runs on (``node_id``: two nodes on one machine share an IP).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from typing import Any

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.results.weights import WEIGHTS_FILE
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study, TrialConfig

STATE_FILE = "trainer_state.pt"


def place(cfg: TrialConfig, gpu_ids: list[Any]) -> TrialConfig:
    """``device = "auto"`` means the trial's GPU when Ray gave it one (Ray sets
    ``CUDA_VISIBLE_DEVICES``, so that GPU is ``cuda``), else the CPU: a trial without a GPU
    share never lands on a GPU another trial holds."""
    if cfg.train.device != "auto":
        return cfg
    device = "cuda" if gpu_ids else "cpu"
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=device))


def run_trial(params: dict[str, Any], *, study: Study) -> None:
    import ray
    import torch
    from ray import tune

    from hpbench.train.trainer import train

    cfg = place(trial_config(study, params), ray.get_gpu_ids())
    node_id = ray.get_runtime_context().get_node_id()
    best: list[float] = []
    sign = 1.0 if study.settings.mode == "max" else -1.0
    pending: list[dict[str, Any]] = []

    start_state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start_state = torch.load(os.path.join(d, STATE_FILE), map_location="cpu", weights_only=False)
        best[:] = start_state.get("objective_best", [])

    def on_state(state: dict[str, Any]) -> None:
        pending[:] = [state]

    def report(row: dict[str, Any]) -> None:
        value = row.get(study.settings.metric)
        if value is not None and math.isfinite(value) and (not best or sign * value > sign * best[0]):
            best[:] = [value]
        worst = -math.inf if sign > 0 else math.inf
        metrics = {**row, OBJECTIVE: best[0] if best else worst, "node_id": node_id}
        if not pending:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="hpbench-ckpt-") as d:
            state = dict(pending[0])
            final_model = state.pop("final_model", None)  # the last epoch's: the driver saves it (results/<name>/weights/)
            torch.save({**state, "objective_best": list(best)}, os.path.join(d, STATE_FILE))
            if final_model is not None:
                torch.save(final_model, os.path.join(d, WEIGHTS_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    train(cfg, report=report, on_state=on_state, start_state=start_state)
