"""The winner of a search as a fixed study: the study as it was searched, with the chosen trial's
hyperparameters written at their keys and no ``[space]`` (``hpbench best --study-out``).

Read from the results directory's record (``study.json``: the study file as read, after ``--set``)
and the trials table. Torch-free.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hpbench.data.arrays import NPY_SUFFIX, NPZ_SUFFIX
from hpbench.data.prepare import FILE_SUFFIXES
from hpbench.space.values import resolve
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.checks import RECURRENT
from hpbench.study.data_files import PATH_KEYS

# [study] keys that describe a search, not one configuration
SEARCH_ONLY = ("enqueue", "default_first", "fuse_siblings", "repeats", "repeats_top", "keep_weights")


def fixed_study(record: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded study with ``params`` (``[space]`` key -> value) fixed and ``[space]`` removed.

    Its name is ``<name>-best``, so a search or ``hpbench train`` of it never writes into the
    searched study's results. Where the search chose a model family or an optimizer by name, the
    keys of the other names are dropped (a fixed ``adam`` takes no ``momentum``); likewise for a
    searched learning-rate schedule. Relative data
    files and saved-trial references are made absolute, so the file works from anywhere."""
    if not isinstance(record.get("raw"), Mapping):
        raise LookupError("the study record holds no study as read ('raw'): was it written by hpbench search?")
    raw: dict[str, Any] = copy.deepcopy(dict(record["raw"]))
    raw.pop("space", None)
    study = raw.setdefault("study", {})
    study["name"] = f"{record['name']}-best"
    study["trials"] = 1
    for key in SEARCH_ONLY:
        study.pop(key, None)
    for key, value in params.items():
        *parents, last = K.ALIASES.get(key, key).split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    searched = {K.ALIASES.get(k, k) for k in params}
    # a name chosen from a registry: the section keeps the keys of the chosen entry only
    own: dict[str, Callable[[list[str]], Mapping[str, Any] | None]] = {
        "model": N.families_params, "optimizer": N.optimizers_params, "lr_schedule": N.schedules_params}
    task_model = N.task_keys(N.task_of_raw(raw), "model")  # rl: [model] algorithm belongs to the task, not to the family
    for section, common in (("model", {**K.MODEL, **task_model}), ("optimizer", K.OPTIMIZER), ("lr_schedule", K.LR_SCHEDULE)):
        key = "family" if section == "model" else "name"
        if f"{section}.{key}" in searched:
            table = raw.get(section, {})
            _keep_own_keys(table, common, own[section]([table[key]]))
    _drop_idle_recurrent_dropout(raw.get("model", {}))
    chosen = _chosen_files(params, record.get("data_choices") or {})
    absolute_paths(raw, base=Path(str(record.get("source", "."))).parent, validated=record.get("config", {}), chosen=chosen)
    order = {name: i for i, name in enumerate(K.SECTIONS)}
    return dict(sorted(raw.items(), key=lambda kv: order.get(kv[0], len(order))))  # [study] first, as people write them


def _keep_own_keys(table: dict[str, Any], common: Mapping[str, Any], own: Mapping[str, Any] | None) -> None:
    """Drop the keys of ``table`` that neither every entry (``common``) nor the chosen one
    (``own``; ``None``: a user entry, whose keys are its own business) accepts."""
    if own is None:
        return
    for k in [k for k in table if k not in common and k not in own]:
        del table[k]


def _drop_idle_recurrent_dropout(model: dict[str, Any]) -> None:
    """A one-layer recurrent winner's ``dropout`` (a study's shared ``[model] dropout``, or a
    searched one) is dropped: it acts between stacked layers, so the trial never used it, and a
    fixed study with it is refused (:func:`hpbench.study.checks.recurrent_dropout_needs_layers`)."""
    if model.get("family") in RECURRENT and model.get("layers", 1) <= 1:
        model.pop("dropout", None)


def _chosen_files(params: Mapping[str, Any], choices: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The [data] files the trial's ``params`` chose (``data.dataset`` searched), by key: each as the
    search resolved it (the record's ``data_choices``), else as written (a record before them)."""
    out = {}
    for key, value in params.items():
        path = K.ALIASES.get(key, key)
        name = path.removeprefix("data.")
        if path.startswith("data.") and name in (*PATH_KEYS, "x") and isinstance(value, str):
            out[name] = (choices.get(path) or {}).get(value, value)
    if "x" in out:  # .npy inputs named by x: the dataset
        out["dataset"] = out["x"]
    return out


def absolute_paths(raw: dict[str, Any], *, base: Path, validated: Mapping[str, Any], chosen: Mapping[str, str] | None = None) -> None:
    """A data file as the search found it (``validated``: the study's validated configuration; a
    searched one: ``chosen``, the trial's own, by key), and ``RESULTS:TRIAL`` references with an
    absolute results directory (where they resolve from ``base``, the study's folder). Also for the
    study ``hpbench train`` records (:mod:`hpbench.api.train_folder`)."""
    data = {**validated.get("data", {}), **(chosen or {})}  # a searched file was replaced by the fixed one (bug hunt s51/v1 #1)
    for key in PATH_KEYS:  # the data file, and a .npy dataset's other files
        found = data.get(key)
        if isinstance(found, str) and found.lower().endswith((*FILE_SUFFIXES, NPZ_SUFFIX, NPY_SUFFIX)) and Path(found).is_file():
            raw.setdefault("data", {})[key] = str(Path(found).resolve())
    if "x" in raw.get("data", {}):
        raw["data"]["x"] = raw["data"]["dataset"] if "dataset" in raw["data"] else str(Path(data["dataset"]).resolve())
    for section, key in (("model", "init_from"), ("distill", "teacher")):
        ref = raw.get(section, {}).get(key)
        if isinstance(ref, str) and ":" in ref:
            where, _, trial = ref.rpartition(":")
            for cand in (Path(where), base / where):
                if cand.is_dir():
                    raw[section][key] = f"{cand.resolve()}:{trial}"
                    break


def study_toml(raw: Mapping[str, Any], *, header: str) -> str:
    """A study as TOML text: ``header``'s lines as comments, then its sections (``best --study-out``,
    and the ``study.toml`` ``hpbench train`` writes)."""
    import tomli_w

    return "".join(f"# {line}\n" for line in header.splitlines()) + tomli_w.dumps(raw)


def plain(v: Any) -> Any:
    """A table cell as a plain Python value (``None`` for NA/NaN)."""
    if v is None:
        return None
    if hasattr(v, "item"):
        v = v.item()
    try:
        if v != v:  # NaN
            return None
    except TypeError:  # pd.NA
        return None
    return v


def typed_params(row: Mapping[str, Any], raw_space: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    """A trial's searched hyperparameters with the types the study gave them. The tables store a
    choice mixing numbers and strings as strings (``batch_size`` "16" or "full") and a list as
    its JSON text; the choice list of ``[space]`` turns them back (hpbench.space.values). Inactive conditional dimensions are left out."""
    out: dict[str, Any] = {}
    for k in keys:
        v = plain(row.get(k))
        if v is None:
            continue
        entry = raw_space.get(k)
        if isinstance(entry, Mapping):  # a label ("[0.5, 0.999]") or "16" back to the study's value
            options = [c for kind in ("choice", "grid") if isinstance(entry.get(kind), list) for c in entry[kind]]
            v = resolve(options, v)
        out[k] = v
    return out
