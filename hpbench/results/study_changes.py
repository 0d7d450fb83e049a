"""What changed between the study an earlier run in a results folder searched (its ``study.json``)
and the study now asked to continue there.

A search that writes into a folder holding results continues them: its trials join the earlier
ones in one table, one leaderboard and one Optuna study. That is sound only while every trial means
the same thing: the same data and split, the same fixed configuration (epochs, early stopping,
model family), the same metric and direction, the same seed. Those changes are named here (the
caller refuses them); what only steers the search on (trials, searcher, scheduler, concurrency,
resources, repeats, loggers, enqueued points) may change between runs, as Optuna lets a study be
loaded with another sampler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hpbench.results.record_format import RECORD_FORMAT, record_format

# Settings whose change makes the trials incomparable: metric and mode rank them (and are the
# Optuna study's direction), the seed draws the data split and every trial's initialization.
MEANING_SETTINGS = ("metric", "mode", "seed")
# The study's name is the Optuna study's name in the storage: another name starts another study there.
RANKING_SETTINGS = ("metric", "mode")


def flat_keys(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` as ``{"train.lr": 1}`` (an empty table is a value)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flat_keys(value, f"{name}."))
        else:
            out[name] = value
    return out


def _as_json(tree: Mapping[str, Any]) -> dict[str, Any]:
    """As ``study.json`` holds it (tuples as lists, paths as text)."""
    out: dict[str, Any] = json.loads(json.dumps(dict(tree), default=str))
    return out


def _shown(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else repr(value)


# The [data] keys naming files (hpbench.study.data_files.PATH_KEYS, and x: the dataset again for
# .npy inputs): compared as the files they resolve to (data_files), not as the text that named them
# ('data.csv' from one folder is 'csv/data.csv' from its parent).
FILE_KEYS = frozenset({"data.dataset", "data.x", "data.y", "data.x_val", "data.y_val", "data.x_test", "data.y_test"})
# What the data record (study.json's "data", written once the data is read) says of the data: a
# file replaced under the same name (other classes, other columns, other rows) reads otherwise here.
DATA_FACTS = ("kind", "input_shape", "task", "n_train", "n_val", "n_test", "n", "given")


def study_changes(old: Mapping[str, Any], *, name: str, settings: Mapping[str, Any], config: Mapping[str, Any],
                  searched: frozenset[str] = frozenset(), data_files: Mapping[str, str] | None = None,
                  data_choices: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """Lines such as ``study.metric: 'val_accuracy' -> 'val_loss'`` for every change between the
    earlier record ``old`` (``study.json``) and the study now (its name, settings as a dict and
    fixed configuration). ``searched``: the configuration paths the search space sets (each
    trial's own value stands there, whatever the fixed one says; the space is compared apart).
    ``data_files``: the study's data files as absolute paths, by key (``data.dataset``), compared
    with the record's; ``data_choices``: each searched data key's choices as written -> the file it
    resolves to (:attr:`hpbench.study.schema.Study.data_choices`), compared the same way (a resume
    run from another folder could find another file under a relative choice). A key only one side holds is a change (``(not set)`` on the other), except
    in a record of a format before :data:`RECORD_FORMAT`, where only the keys both hold count."""
    lines = []
    old_name = old.get("name")
    if old_name is not None and old_name != name:
        lines.append(f"study.name: {_shown(old_name)} -> {_shown(name)}")
    old_settings = old.get("settings") or {}
    for key in MEANING_SETTINGS:
        if key in old_settings and old_settings[key] != settings.get(key):
            lines.append(f"study.{key}: {_shown(old_settings[key])} -> {_shown(settings.get(key))}")
    # from format 2 a record holds every key its study set; before, a key could be missing because the
    # hpbench that wrote it did not know it yet, and only the keys both hold are compared
    complete = record_format(old, path="study.json") >= RECORD_FORMAT  # ValueError for a format that is no whole number
    before, now = flat_keys(_as_json(old.get("config") or {})), flat_keys(_as_json(config))
    for key in sorted(set(before) | set(now)):
        if key in FILE_KEYS or any(key == path or key.startswith(f"{path}.") for path in searched):
            continue
        if before.get(key) != now.get(key) and (key in before or complete):
            lines.append(f"{key}: {_shown(before[key]) if key in before else '(not set)'} -> {_shown(now[key]) if key in now else '(not set)'}")
    if "data_files" in old and data_files is not None:
        files_before, files_now = old["data_files"], dict(data_files)
        lines += [f"{key}: {files_before.get(key, '(not set)')} -> {files_now.get(key, '(not set)')}"
                  for key in sorted(set(files_before) | set(files_now)) if files_before.get(key) != files_now.get(key)]
    if isinstance(old.get("data_choices"), Mapping) and data_choices is not None:
        for path in sorted(set(old["data_choices"]) & set(data_choices)):  # a choice added or dropped is the space's change
            was, now_files = old["data_choices"][path], data_choices[path]
            lines += [f"space.{path} choice {_shown(choice)}: {was[choice]} -> {now_files[choice]}"
                      for choice in sorted(set(was) & set(now_files)) if was[choice] != now_files[choice]]
    return lines


def data_changes(old: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Lines such as ``data (n_train): 1437 -> 320`` where the earlier run's data record and this
    run's disagree (each fact both hold): the same file name holding other data."""
    before = old.get("data") or {}
    return [f"data ({fact}): {_shown(before[fact])} -> {_shown(now[fact])}" for fact in DATA_FACTS
            if fact in before and fact in now and _as_json({"v": before[fact]}) != _as_json({"v": now[fact]})]


def ranking_changed(old: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """The metric or its direction changed: the earlier trials' values (and the Optuna study's
    direction) rank by another measure, which no ``--force`` makes sound."""
    old_settings = old.get("settings") or {}
    return any(key in old_settings and old_settings[key] != settings.get(key) for key in RANKING_SETTINGS)
