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

# Settings whose change makes the trials incomparable: metric and mode rank them (and are the
# Optuna study's direction), the seed draws the data split and every trial's initialization.
MEANING_SETTINGS = ("metric", "mode", "seed")
# The study's name is the Optuna study's name in the storage: another name starts another study there.
RANKING_SETTINGS = ("metric", "mode")


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _as_json(tree: Mapping[str, Any]) -> dict[str, Any]:
    """As ``study.json`` holds it (tuples as lists, paths as text)."""
    out: dict[str, Any] = json.loads(json.dumps(dict(tree), default=str))
    return out


def _shown(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else repr(value)


def study_changes(old: Mapping[str, Any], *, name: str, settings: Mapping[str, Any], config: Mapping[str, Any],
                  searched: frozenset[str] = frozenset()) -> list[str]:
    """Lines such as ``study.metric: 'val_accuracy' -> 'val_loss'`` for every change between the
    earlier record ``old`` (``study.json``) and the study now (its name, settings as a dict and
    fixed configuration). ``searched``: the configuration paths the search space sets (each
    trial's own value stands there, whatever the fixed one says; the space is compared apart). A key
    the earlier record lacks (written by an older hpbench, before the key existed) is not a change."""
    lines = []
    old_name = old.get("name")
    if old_name is not None and old_name != name:
        lines.append(f"study.name: {_shown(old_name)} -> {_shown(name)}")
    old_settings = old.get("settings") or {}
    for key in MEANING_SETTINGS:
        if key in old_settings and old_settings[key] != settings.get(key):
            lines.append(f"study.{key}: {_shown(old_settings[key])} -> {_shown(settings.get(key))}")
    before, now = _flat(_as_json(old.get("config") or {})), _flat(_as_json(config))
    for key in sorted(set(before) | set(now)):
        if any(key == path or key.startswith(f"{path}.") for path in searched):
            continue
        if key in before and before.get(key) != now.get(key):
            shown_now = _shown(now[key]) if key in now else "(not set)"
            lines.append(f"{key}: {_shown(before[key])} -> {shown_now}")
    return lines


def ranking_changed(old: Mapping[str, Any], settings: Mapping[str, Any]) -> bool:
    """The metric or its direction changed: the earlier trials' values (and the Optuna study's
    direction) rank by another measure, which no ``--force`` makes sound."""
    old_settings = old.get("settings") or {}
    return any(key in old_settings and old_settings[key] != settings.get(key) for key in RANKING_SETTINGS)
