"""The predicted cost columns of configurations priced here before, kept for the searches after.

Pricing a configuration counts one training step op by op (:mod:`hpbench.cost.count`): 0.05-0.2
CPU s for an MLP or a CNN; a GRU of ``studies/signals.toml`` (128 steps, each decomposed into ~50
ops on ``meta``) took 3.7-9.4 CPU s before recurrent layers a device prices from its grid were
counted whole (:func:`hpbench.cost.module_hooks.hook_recurrent_whole`, 0.02-0.04 s). A search prices its trials in its helper process below
the trials (SCHED_IDLE: :func:`hpbench.cost.clock.below_trials`), so with both cores training
they wait: in session 16's quiet ``benchmarks/eta.py`` run none of signals' Tune trials had a
prediction until ~130 s into its 5-minute search (its live ETA was never corrected from them, and
read -52% at 25%). ``hpbench estimate`` prices the same configurations just before, and a study
is searched again and again (resumed, re-run, changed elsewhere): what was priced once is kept
here (``<host>-prices.json`` beside the device models), by the device model it was priced with,
and a search takes it at once.

Kept only where the price cannot have changed unseen: hpbench's own model families (a plugin's
code may change under the same name), the same hpbench version, the same device model (its
calibration time and schema), the study's concurrency and threads (the concurrency slowdown), the
warm-up ceilings' rules, and a data file's size and modification time where the dataset is a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.cost.history import ModelTag, study_model
from hpbench.cost.warmup import BOUND_RULES
from hpbench.results.files import atomic_write_json

KEEP = 2_000  # configurations kept (the newest), all device models together: ~1 KB each


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"{platform.node() or 'host'}-prices.json"


def price_key(cost_key: str, *, study: Any, dataset: str, family: str) -> str | None:
    """The key a configuration's price is kept under: its cost key (the dispatcher's: model,
    data, optimizer, batch size, epochs, device, task), the study's concurrency and threads, the
    hpbench version, a data file's size and modification time, the rules the device model's warm-up
    constants are held by (:data:`hpbench.cost.warmup.BOUND_RULES`: a price made before them
    charged a cached model's warm-up unbounded); None for a family that is not
    hpbench's own (a plugin's price is not kept)."""
    from hpbench._version import __version__
    from hpbench.models import FAMILIES

    if family not in FAMILIES.names(plugins=False):
        return None
    stamp: tuple[int, int] | None = None
    if dataset and os.path.exists(dataset):
        st = os.stat(dataset)
        stamp = (st.st_size, st.st_mtime_ns)
    raw = repr((cost_key, study.settings.max_concurrent, study.resources.cpus_per_trial, __version__, stamp, BOUND_RULES))
    return hashlib.sha1(raw.encode()).hexdigest()


def _load(cache_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file(cache_dir).read_text(encoding="utf-8"))
        return dict(data["prices"]) if isinstance(data, dict) and isinstance(data.get("prices"), dict) else {}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _model_id(model: ModelTag) -> str:
    return json.dumps(model.to_dict(), sort_keys=True)


def load(cache_dir: Path, *, model: ModelTag | None) -> dict[str, dict[str, Any]]:
    """Price key -> predicted columns, of the configurations priced here with ``model`` (none
    without one)."""
    if model is None:
        return {}
    mine = _model_id(model)
    return {k: dict(v["columns"]) for k, v in _load(cache_dir).items()
            if isinstance(v, dict) and v.get("model") == mine and isinstance(v.get("columns"), dict)}


def save(cache_dir: Path, *, model: ModelTag, columns: Mapping[str, Mapping[str, Any]], at: float | None = None) -> None:
    """Keep ``columns`` (price key -> predicted columns; a price that could not be made, one with a
    ``cost_note``, is not kept) against ``model``, the :data:`KEEP` newest in all (atomic)."""
    good = {k: dict(v) for k, v in columns.items() if v and "cost_note" not in v and isinstance(v.get("predicted_epoch_s"), (int, float))}
    if not good:
        return
    now = time.time() if at is None else at
    prices = _load(cache_dir)
    mine = _model_id(model)
    for k, v in good.items():
        prices[k] = {"model": mine, "columns": v, "at": now}
    newest = sorted(prices.items(), key=lambda kv: float(kv[1].get("at", 0.0)) if isinstance(kv[1], dict) else 0.0)[-KEEP:]
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cache_file(cache_dir), {"prices": dict(newest)}, compact=True)  # a cache of 2,000 entries, read by programs only


def keep(cache_dir: Path, *, study: Any, columns: Mapping[str, Mapping[str, Any]]) -> None:
    """A search's own prices (:func:`save`), against the model they were made with: the cache's at
    the search's end (recalibrated during it if it was stale); nothing without one. An unwritable
    cache is left as it is."""
    model = study_model(cache_dir, study)
    if model is not None:
        with contextlib.suppress(OSError):
            save(cache_dir, model=model, columns=columns)
