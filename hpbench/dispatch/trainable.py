"""The Ray Tune function trainable: resolves the trial's configuration and runs the shared
trainer, reporting every epoch (plus the running best of the study metric, ``objective``,
which the searcher and scheduler act on)."""

from __future__ import annotations

import math
from typing import Any

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study


def run_trial(params: dict[str, Any], *, study: Study) -> None:
    from ray import tune

    from hpbench.train.trainer import train

    cfg = trial_config(study, params)
    best: list[float] = []
    sign = 1.0 if study.settings.mode == "max" else -1.0

    def report(row: dict[str, Any]) -> None:
        value = row.get(study.settings.metric)
        if value is not None and math.isfinite(value) and (not best or sign * value > sign * best[0]):
            best[:] = [value]
        worst = -math.inf if sign > 0 else math.inf
        tune.report({**row, OBJECTIVE: best[0] if best else worst})

    train(cfg, report=report)
