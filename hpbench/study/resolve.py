"""A trial's configuration: the study's fixed configuration with the sampled parameters set.

Conditional parameters that are absent from a trial leave the study's fixed value (or the
registry default) in place; they are not recorded as searched for that trial.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hpbench.config import (
    DataConfig,
    DistillConfig,
    EarlyStoppingConfig,
    ModelConfig,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
    TrialConfig,
)
from hpbench.models import FAMILIES
from hpbench.space.space import SearchSpace
from hpbench.study import keys as K
from hpbench.study.schema import Study
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES
from hpbench.train.task import SUPERVISED, TASKS


def apply_params(config: Mapping[str, Any], space: SearchSpace, params: Mapping[str, Any], *,
                 files: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Any]:
    """``config`` with each searched value of ``params`` at its path. ``files``: a searched data
    file's absolute path by path and choice as written (:attr:`Study.data_choices`): a trial runs
    in a Ray worker whose working directory is its own."""
    out = copy.deepcopy(dict(config))
    for d in space:
        if d.key not in params:
            continue
        node = out
        parts = d.path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        value = d.dist.resolve(params[d.key])  # a tuple read back as a list, 64 as "64": hpbench.space.values
        node[parts[-1]] = (files or {}).get(d.path, {}).get(value, value) if isinstance(value, str) else value
        if d.path == "data.x":  # .npy inputs named by x: the dataset (a searched x was ignored, the fixed file trained)
            node["dataset"] = node["x"]
    return out


def effective_value(study: Study, params: Mapping[str, Any], path: str) -> Any:
    """The value ``path`` takes in a trial of ``params`` that does not set it: the study's fixed
    value, else the default of the trial's model family, optimizer, schedule or task (what its
    builder fills in); None when neither is known (a user family's own default, a key with none)."""
    cfg = apply_params(study.config, study.space, params, files=study.data_choices)
    node: Any = cfg
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if node is not None:
        return node
    section, _, key = path.partition(".")
    table = cfg.get(section) or {}
    registry = {"model": FAMILIES, "optimizer": OPTIMIZERS, "lr_schedule": SCHEDULES}.get(section)
    name = table.get("family" if section == "model" else "name", "constant" if section == "lr_schedule" else None)
    if registry is not None and isinstance(name, str) and name in registry and key in registry.get(name).params:
        return registry.get(name).params[key].default
    own = TASKS.get(cfg["model"].get("task", SUPERVISED)).meta.get(section) or {}
    return own[key].default if key in own else None


def trial_config(study: Study, params: Mapping[str, Any], *, threads: int | None = None, seed: int | None = None) -> TrialConfig:
    """Resolve the :class:`TrialConfig` for one trial's sampled ``params``."""
    cfg = apply_params(study.config, study.space, params, files=study.data_choices)
    data, model, opt, train = cfg["data"], cfg["model"], cfg["optimizer"], cfg["train"]
    es = train.get("early_stopping")
    task = model.get("task", SUPERVISED)
    own = {s: TASKS.get(task).meta.get(s) or {} for s in ("data", "model", "train")}
    return TrialConfig(
        seed=study.settings.seed if seed is None else seed,
        data=DataConfig(
            dataset=data.get("dataset", ""),
            val_fraction=data.get("val_fraction", 0.2),
            test_fraction=data.get("test_fraction", 0.0),
            preprocess=tuple(data.get("preprocess", ())),
            options={k: v for k, v in data.items() if k not in K.DATA and k not in own["data"] and k != "x"},  # x: the dataset itself (.npy inputs)
            shape=tuple(data["shape"]) if data.get("shape") is not None else None,
            kind=data.get("kind"),
            stream=data.get("stream", "auto"),
            num_workers=int(data.get("num_workers", 0)),
            env=data.get("env"),
        ),
        model=ModelConfig(family=model["family"], params={k: v for k, v in model.items() if k not in K.MODEL and k not in own["model"]},
                          init_from=model.get("init_from"), freeze=model.get("freeze")),
        optimizer=OptimizerConfig(name=opt["name"], lr=float(opt["lr"]), params={k: v for k, v in opt.items() if k not in K.OPTIMIZER}),
        train=TrainConfig(
            max_epochs=train["max_epochs"],
            max_time_s=float(train["max_time_s"]) if train.get("max_time_s") is not None else None,
            batch_size=train.get("batch_size", 32),
            init=train.get("init", "default"),
            init_params={"std": train["init_std"]} if train.get("init_std") is not None and init_takes_std(train.get("init", "default")) else {},
            early_stopping=EarlyStoppingConfig(**es) if es else None,
            device=train["device"],
            calibration=train.get("calibration", "none"),
            precision=train.get("precision", "fp32"),
            clip_norm=train.get("clip_norm"),
            clip_value=train.get("clip_value"),
            label_smoothing=float(train.get("label_smoothing", 0.0)),
        ),
        metric=study.settings.metric,
        mode=study.settings.mode,
        threads=max(1, int(threads if threads is not None else study.resources.cpus_per_trial)),
        distill=DistillConfig(**cfg["distill"]) if cfg.get("distill") else None,
        lr_schedule=_schedule(cfg.get("lr_schedule")),
        task=task,
        task_params={k: v for s in ("model", "train") for k, v in cfg[s].items() if k in own[s]},
    )


def _schedule(table: Mapping[str, Any] | None) -> ScheduleConfig:
    """[lr_schedule] (absent from studies validated before it existed: constant)."""
    if not table:
        return ScheduleConfig()
    return ScheduleConfig(name=table["name"], params={k: v for k, v in table.items() if k not in K.LR_SCHEDULE})


def init_takes_std(name: str) -> bool:
    """Whether initialization ``name`` takes a standard deviation (``train.init_std``): ``normal``,
    and a plugin's that declares ``std`` among its parameters."""
    from hpbench.train.initializers import INITIALIZERS

    return name in INITIALIZERS and "std" in INITIALIZERS.get(name).params
