"""The keys a configuration's predicted cost is shared under: within a search (:func:`cost_key`,
the dispatcher's predictions) and across searches (:func:`price_key`, :mod:`hpbench.cost.prices`)."""

from __future__ import annotations

from typing import Any

from hpbench.config import TrialConfig
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study


def _key_of(cfg: TrialConfig) -> str:
    from hpbench.cost.step_options import StepOptions

    return repr((cfg.model, cfg.data, cfg.optimizer.name, cfg.train.batch_size, cfg.train.max_epochs, cfg.train.device, cfg.task,
                 sorted(cfg.task_params.items()), StepOptions.of(cfg).key()))


def cost_key(study: Study, params: dict[str, Any]) -> str:
    """What a trial's cost depends on: architecture, data, optimizer kind, batch size, epochs, the
    trainer's options a step runs (clipping, label smoothing: :mod:`hpbench.cost.step_options`) and
    the task's own keys (rl's rollout shape, update epochs and evaluation episodes)."""
    return _key_of(trial_config(study, params))


def price_key(study: Study, params: dict[str, Any], device: str | None) -> str | None:
    """The key a configuration's price is kept under across searches (:mod:`hpbench.cost.prices`),
    None where it is not kept."""
    from hpbench.cost import prices

    cfg = trial_config(study, params)
    key = _key_of(cfg) + repr(device)
    if cfg.task == "rl":  # its price holds the env and loop timings: those of other rules are made again, so are the prices
        from hpbench.train.rl import cost as rl_cost

        key += f" timing rules {rl_cost.TIMING_RULES}"
    return prices.price_key(key, study=study, dataset=cfg.data.dataset, family=cfg.model.family)
