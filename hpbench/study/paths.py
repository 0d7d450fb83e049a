"""Which configuration paths [space] may search, and the rule each searched value must satisfy.

A path names a key of the fixed configuration (``optimizer.lr``, ``model.depth``,
``train.early_stopping.patience``, ...): the same rule applies whether the value is fixed in its
section or searched. [study], [resources], ``train.devices`` and the saved-trial references
cannot be searched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hpbench.data.datasets import DATASETS
from hpbench.errors import did_you_mean, shown
from hpbench.models import FAMILIES
from hpbench.registry import Param, Registry
from hpbench.rules import Any_
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.reader import Reader
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES
from hpbench.train.task import TASKS

UNSEARCHABLE = ("train.devices", "model.init_from", "distill.teacher", "data.shape", "data.kind", "model.task", "data.env")  # path_param refuses them


def union(specs: Iterable[Mapping[str, Param]]) -> dict[str, Param]:
    """The parameters of several entries (a shared key: the first one's), as the parser unites them."""
    out: dict[str, Param] = {}
    for spec in specs:
        for k, p in spec.items():
            out.setdefault(k, p)
    return out


def searchable(*, plugins: bool) -> dict[str, Param]:
    """Every configuration path [space] may search, with its parameter (the union over the
    registered families, datasets, optimizers and tasks): the study reference's list, and the
    options an unknown [space] key is offered."""
    def entries(registry: Registry[Any]) -> list[Mapping[str, Param]]:
        return [registry.get(n).params for n in registry.names(plugins=plugins)]

    def tasks(section: str) -> list[Mapping[str, Param]]:
        return [TASKS.get(t).meta.get(section) or {} for t in TASKS]

    tables: dict[str, Mapping[str, Param]] = {
        "data": union([K.DATA, *tasks("data"), N.FILE_PARAMS, *entries(DATASETS)]),
        "model": union([K.MODEL, *tasks("model"), *entries(FAMILIES)]),
        "optimizer": union([K.OPTIMIZER, *entries(OPTIMIZERS)]),
        "lr_schedule": union([K.LR_SCHEDULE, *entries(SCHEDULES)]),
        "train": union([K.TRAIN, *tasks("train")]), "train.early_stopping": K.EARLY_STOPPING, "distill": K.DISTILL,
    }
    return {f"{t}.{k}": p for t, spec in tables.items() for k, p in spec.items() if f"{t}.{k}" not in UNSEARCHABLE}


def path_param(r: Reader, key: str, path: str, *, dataset: str | None) -> Param:
    """The parameter a searched ``path`` sets (``key`` as written in [space]); ``dataset`` is the
    validated [data] dataset, whose own options may be searched (None when [data] failed: its
    options are then not checked here, [data]'s own problem is reported)."""
    parts = path.split(".")
    section = parts[0]
    if path == "train.devices":
        raise r.fail(f"space.{key}", "cannot be searched: every configuration runs on each listed device", shown(path))
    if path in ("data.shape", "data.kind"):
        raise r.fail(f"space.{key}", "cannot be searched: the data has one layout (run one study per shape or kind)", shown(path))
    if section in ("study", "resources"):
        raise r.fail(f"space.{key}", f"[{section}] keys cannot be searched", shown(path))
    if path in ("model.task", "data.env"):
        raise r.fail(f"space.{key}", "cannot be searched (run one study per task or environment)", shown(path))
    task = N.task_named(r)
    owner = N.task_owner(path)
    if path in N.task_rejects(task):
        raise r.fail(f"space.{key}", f"does not apply to task {task!r}", shown(path))
    if owner is not None and owner != task:
        raise r.fail(f"space.{key}", f"applies to task {owner!r} only (set [model] task = {owner!r})", shown(path))
    if section == "data" and not N.reads_dataset(task):
        raise r.fail(f"space.{key}", f"unknown key (task {task!r} has no dataset options)", shown(path))
    if section == "data" and dataset is None and len(parts) == 2 and parts[1] not in K.DATA:
        return Param(Any_())
    tables: dict[str, Mapping[str, Param]] = {
        "data": {**K.DATA, **(N.dataset_params(r, dataset) if dataset is not None else {})},
        "train": {**K.TRAIN, **N.task_keys(task, "train")},
        "optimizer": {**K.OPTIMIZER, **N.optimizers_params(N.optimizers_named(r))},
        "lr_schedule": {**K.LR_SCHEDULE, **N.schedules_params(N.schedules_named(r))},
    }
    if section == "model" and len(parts) == 2 and parts[1] in N.task_keys(task, "model"):
        return N.task_keys(task, "model")[parts[1]]
    if section == "model" and len(parts) == 2 and parts[1] in ("init_from", "freeze"):
        if parts[1] == "init_from":
            raise r.fail(f"space.{key}", "cannot be searched (run one study per saved trial)", shown(path))
        return K.MODEL[parts[1]]
    if section == "distill" and len(parts) == 2:
        if parts[1] in K.DISTILL and parts[1] != "teacher":
            return K.DISTILL[parts[1]]
        raise r.fail(
            f"space.{key}",
            "unknown key" + (" (the teacher cannot be searched)" if parts[1] == "teacher" else ""),
            hint=did_you_mean(parts[1], [k for k in K.DISTILL if k != "teacher"]),
        )
    if section == "model":
        return _model_param(r, key, parts)
    if section == "train" and len(parts) == 3 and parts[1] == "early_stopping":
        if parts[2] in K.EARLY_STOPPING:
            return K.EARLY_STOPPING[parts[2]]
        raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[2], K.EARLY_STOPPING))
    if section in tables and len(parts) == 2:
        if parts[1] in tables[section]:
            return tables[section][parts[1]]
        raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[1], [k for k in tables[section] if f"{section}.{k}" not in UNSEARCHABLE]))
    raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(key, [*K.ALIASES, *searchable(plugins=True)]))


def _model_param(r: Reader, key: str, parts: list[str]) -> Param:
    """``model.family`` or a parameter of a family the study may build (any, for a user family)."""
    fam = N.families_params(N.families_named(r))
    if len(parts) == 2 and (fam is None or parts[1] in fam or parts[1] == "family"):
        if parts[1] == "family":
            return K.MODEL["family"]
        return fam[parts[1]] if fam is not None else Param(Any_())
    known = [k for k in [*K.MODEL, *(fam or {})] if f"model.{k}" not in UNSEARCHABLE]
    raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[-1], known))
