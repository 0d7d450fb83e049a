"""One function per section of a study file, each returning its validated table.

Each checks its own keys (:mod:`hpbench.study.keys` and the registries' parameters) and the
rules inside its section; rules across sections are in :mod:`hpbench.study.checks`.
"""

from __future__ import annotations

from typing import Any

from hpbench.data import arrays
from hpbench.data.datasets import DATASETS
from hpbench.data.files import is_table
from hpbench.errors import did_you_mean
from hpbench.models import FAMILIES
from hpbench.registry import is_import_spec
from hpbench.study import checks, data_files
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.reader import Reader
from hpbench.study.reference import reference
from hpbench.study.schema import Resources
from hpbench.train.task import SUPERVISED


def study_table(r: Reader, *, default_name: str) -> dict[str, Any]:
    """[study]: the settings; the name defaults to the file's stem and names the results folder."""
    study = r.fields("study", r.section("study"), K.STUDY)
    # a file's stem the rule refuses ("my study.toml") names no key the file has: made a name it takes
    study.setdefault("name", "".join(c if _name_char(c) else "_" for c in default_name).lstrip(".") or "study")
    data = r.section("data")
    metric = N.task_metric(N.task_named(r), data.get("dataset") if isinstance(data, dict) else None)
    if metric is not None and "metric" not in r.section("study"):
        study["metric"] = metric  # the task's own (rl: val_return; it reports no val_loss)
    if not all(map(_name_char, study["name"])) or study["name"].startswith("."):
        raise r.fail("study.name", "must use only letters, digits, '-', '_' and '.' (it names the results folder)", study["name"])
    checks.loggers_installed(r, study)
    return study


def _name_char(c: str) -> bool:
    return c.isalnum() or c in "-_."


def data_table(r: Reader) -> dict[str, Any]:
    """[data]: a built-in dataset (with its own options), a data file (CSV/Parquet with a target
    column; NumPy ``.npz``, or ``.npy`` files named by ``x`` and ``y``) or a user loader. Data
    files must exist, and their headers must fit the declared ``shape`` and ``kind``
    (:mod:`hpbench.study.data_files`: headers only, no data read). For a task that learns from
    an environment (rl), its ``env`` instead."""
    task = N.task_named(r)
    if not N.reads_dataset(task):
        return _task_data(r, task)
    table = dict(r.section("data"))
    checks.not_for_task(r, task, "data", table)
    if "dataset" not in table and "x" in table:  # .npy files named by x / y
        table["dataset"] = table["x"]
    if "dataset" not in table:
        raise r.fail(
            "data.dataset", "is required (a built-in name, a .csv/.parquet/.npz file, x = \"inputs.npy\", or 'package.module:load')",
            hint=did_you_mean("", DATASETS),
        )
    dataset = r.check("data.dataset", N.DATASET if callable(table["dataset"]) else K.DATA["dataset"].rule, table["dataset"])
    extra = N.dataset_params(r, dataset)
    data = r.fields("data", table, K.DATA, extra=extra, open_=is_import_spec(dataset))
    checks.split_fractions(r, data)
    if "x" in data and data["x"] != dataset:
        raise r.fail("data.x", "names the inputs, as data.dataset does: give one of them", data["x"])
    if is_table(dataset) or arrays.is_numpy_dataset(dataset):
        data_files.resolve_paths(r, data)
    if is_table(dataset) and "target" not in data:
        raise r.fail("data.target", "is required for a data file (the name of the target column)")
    data_files.keep_text_for_csv(r, data)
    data_files.check_layout(r, data, table)
    return data


def _task_data(r: Reader, task: str) -> dict[str, Any]:
    """[data] of a task with keys of its own (rl: ``env``, required); the dataset keys it does not take are refused."""
    table = r.section("data")
    checks.not_for_task(r, task, "data", table)
    own = N.task_keys(task, "data")
    data = r.fields("data", table, {k: p for k, p in K.DATA.items() if f"data.{k}" not in N.task_rejects(task)}, extra=own)
    missing = [k for k in own if k not in data and own[k].default is None]
    if missing:
        raise r.fail(f"data.{missing[0]}", f"is required by task {task!r} ({own[missing[0]].doc})")
    return data


def model_table(r: Reader) -> dict[str, Any]:
    """[model]: the task, a family (fixed, or searched in [space]) and its parameters, and the
    task's own keys (rl: ``algorithm``); ``init_from`` starts from a saved trial's weights."""
    table = r.section("model")
    searched = r.searched()
    r.check("model.task", K.MODEL["task"].rule, table.get("task", SUPERVISED))
    task = N.task_named(r)
    checks.not_for_task(r, task, "model", table)
    if "family" not in table and "model.family" not in searched:
        raise r.fail("model.family", "is required", hint="one of: " + ", ".join(FAMILIES))
    if callable(table.get("family")):  # a builder given itself (the Python API): told how to name it
        r.check("model.family", N.FAMILY, table["family"])
    families = [r.check("model.family", N.FAMILY, f) for f in N.families_named(r)]
    if task == "gan":  # its networks are MLPs: said before the other family's keys are judged (they read "unknown key" before)
        from hpbench.study.checks_gan import mlp_networks

        mlp_networks(r, table)
    extra = N.families_params(families)
    # no family read (a table or a number given): its keys cannot be judged, only the family's error said
    model = r.fields("model", table, K.MODEL, extra={**(extra or {}), **N.task_keys(task, "model")}, open_=extra is None or not families)
    if "init_from" in model:
        model["init_from"] = reference(r, "model.init_from", model["init_from"])
    checks.freeze_needs_init_from(r, model)
    return model


def optimizer_table(r: Reader) -> dict[str, Any]:
    """[optimizer]: a registered optimizer and the parameters of every optimizer searched."""
    names = N.optimizers_named(r)
    r.check("optimizer.name", N.OPTIMIZER, names[0])
    return r.fields("optimizer", r.section("optimizer"), K.OPTIMIZER, extra=N.optimizers_params(names))


def lr_schedule_table(r: Reader) -> dict[str, Any]:
    """[lr_schedule]: a registered learning-rate schedule and the parameters of every schedule searched."""
    names = N.schedules_named(r)
    r.check("lr_schedule.name", N.SCHEDULE, names[0])
    schedule = r.fields("lr_schedule", r.section("lr_schedule"), K.LR_SCHEDULE, extra=N.schedules_params(names))
    checks.milestones_increase(r, schedule)
    return schedule


def train_table(r: Reader) -> dict[str, Any]:
    """[train]: the training loop (and the task's own keys: rl's rollouts, discount, clipping,
    ...); ``early_stopping`` is a table of its own; ``devices`` runs the same configurations on
    each device listed (the first one is where the search runs)."""
    task = N.task_named(r)
    table = dict(r.section("train"))
    checks.not_for_task(r, task, "train", table)
    es_raw = table.pop("early_stopping", None)
    if es_raw is False:  # off, as when the key is absent (`--set train.early_stopping=false` on a study that sets it)
        es_raw = None
    elif es_raw is True:  # on with Keras' defaults (monitor val_loss, patience 0)
        es_raw = {}
    common = {k: p for k, p in K.TRAIN.items() if f"train.{k}" not in N.task_rejects(task)}
    train = r.fields("train", table, common, extra=N.task_keys(task, "train"))
    if "init" in train:
        r.check("train.init", N.INIT, train["init"])
    if es_raw is not None:
        if not isinstance(es_raw, dict):
            raise r.fail("train.early_stopping", 'must be a table like { monitor = "val_loss", patience = 3 } (or false: off)', es_raw)
        data = r.section("data")  # rl has no val_loss: its own metric is the monitor named by default
        monitor = N.task_metric(task, data.get("dataset") if isinstance(data, dict) else None)
        train["early_stopping"] = r.fields("train.early_stopping", {**({"monitor": monitor} if monitor else {}), **es_raw}, K.EARLY_STOPPING)
    if train.get("devices") is not None:
        checks.devices_listed_once(r, train)
        checks.device_is_first_of_devices(r, train, table)
        train["device"] = train["devices"][0]
    return train


def resources_table(r: Reader) -> Resources:
    """[resources]: what Ray reserves for each trial."""
    return Resources(**r.fields("resources", r.section("resources"), K.RESOURCES))


def distill_table(r: Reader) -> dict[str, Any] | None:
    """[distill]: learn from a saved trial's soft outputs too (None without the section)."""
    searched = r.searched()
    if "distill" not in r.raw:
        bad = next((p for p in searched if p.startswith("distill.")), None)
        if bad is not None:
            raise r.fail(f"space.{searched[bad]}", "needs a [distill] section with a teacher")
        return None
    distill = r.fields("distill", r.section("distill"), K.DISTILL)
    if "teacher" not in distill:
        raise r.fail("distill.teacher", "is required ('RESULTS_DIR:TRIAL', a finished trial of another study)")
    distill["teacher"] = reference(r, "distill.teacher", distill["teacher"])
    return distill
