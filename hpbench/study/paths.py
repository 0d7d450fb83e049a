"""Which configuration paths [space] may search, and the rule each searched value must satisfy.

A path names a key of the fixed configuration (``optimizer.lr``, ``model.depth``,
``train.early_stopping.patience``, ...): the same rule applies whether the value is fixed in its
section or searched. [study], [resources], ``train.devices`` and the saved-trial references
cannot be searched.
"""

from __future__ import annotations

from collections.abc import Mapping

from hpbench.errors import did_you_mean, shown
from hpbench.registry import Param
from hpbench.rules import Any_
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.reader import Reader


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
        raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[1], tables[section]))
    known_paths = list(K.ALIASES) + [f"{s}.{k}" for s, t in tables.items() for k in t] + ["model.family"]
    raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(key, known_paths))


def _model_param(r: Reader, key: str, parts: list[str]) -> Param:
    """``model.family`` or a parameter of a family the study may build (any, for a user family)."""
    fam = N.families_params(N.families_named(r))
    if len(parts) == 2 and (fam is None or parts[1] in fam or parts[1] == "family"):
        if parts[1] == "family":
            return K.MODEL["family"]
        return fam[parts[1]] if fam is not None else Param(Any_())
    known = list(K.MODEL) + list(fam or {})
    raise r.fail(f"space.{key}", "unknown key", hint=did_you_mean(parts[-1], known))
