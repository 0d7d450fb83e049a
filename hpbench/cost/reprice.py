"""Earlier searches re-priced against the current device model, so that a recalibration does not
empty a study's speed figure.

The speed figure (:func:`hpbench.cost.history.figures`) is measured / predicted seconds per
epoch, and a prediction belongs to one device model: a recalibration left every study without
a figure of its own until it ran again on the new model (quiet run 4 of ``benchmarks/eta.py``:
no study had one; recurrent -26%, signals -28%, digits_cnn -28% on the machine's figure). So
each record keeps, for a few of its trials, the configuration and the seconds per epoch it
measured (:func:`configs`); against another model the study's latest records are re-priced —
each configuration predicted by the current model, the record's speed the median of measured /
predicted (:func:`speeds`) — and cached per model (:func:`load_cache`, :func:`save_cache`:
``<host>-repriced.json`` beside the history), so each record is priced once per model.
Whoever holds the study and the model prices (``hpbench estimate`` in its process, the search in
its helper process); the history's reader only reads the cache.
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpbench.cost.history import ModelTag
from hpbench.cost.record import TrialTimes
from hpbench.results.files import atomic_write_json

KEEP_CONFIGS = 6  # configurations a record keeps, spread over its trials' predicted epochs
RECORDS = 3  # the study's latest records re-priced (history.figures reads the same study's last 3 speeds)
CACHED_MODELS = 4  # models whose re-priced speeds the cache keeps


def configs(trials: Sequence[TrialTimes]) -> list[dict[str, Any]]:
    """What re-prices a record against any model: per kept trial (:data:`KEEP_CONFIGS` spread from
    the cheapest predicted epoch to the dearest) its parameters and the seconds
    per epoch it measured after its first (``epoch_s``; as the speed figure reads them), the
    prediction it had then (``predicted_epoch_s``, for information)."""
    usable = sorted((t for t in trials if t.params is not None and t.later_epoch_s and t.later_epoch_s > 0),
                    key=lambda t: (t.predicted_epoch_s or 0.0, -t.epochs))
    # spread over the predicted epochs (the study's architectures): the recurrent claim's first 4 of
    # equal epochs were all its RNNs, measured 1.9x their predictions where its trials' median was 1.1x
    picks = sorted({round(i * (len(usable) - 1) / max(1, KEEP_CONFIGS - 1)) for i in range(KEEP_CONFIGS)}) if usable else []
    kept = [usable[i] for i in picks]
    return [{"params": dict(t.params or {}), "epoch_s": float(t.later_epoch_s or 0.0), "epochs": t.epochs,
             "predicted_epoch_s": t.predicted_epoch_s} for t in kept]


def wanted(records: Sequence[Mapping[str, Any]], *, study: str, model: ModelTag | None, n: int = RECORDS) -> list[dict[str, Any]]:
    """Among the latest ``n`` records of ``study``, those measured against another model than
    ``model`` that keep configurations to re-price, as ``{run_id, configs}`` (none without a
    model: every record is then read as is; none once the study's last runs were on this model)."""
    if model is None:
        return []
    latest = [r for r in records if r.get("study") == study][-n:]
    return [{"run_id": r["run_id"], "configs": r["configs"]} for r in latest if not model.measured(r) and r.get("configs") and r.get("run_id")]


def missing(records: Sequence[Mapping[str, Any]], *, study: str, model: ModelTag | None, have: Mapping[str, float]) -> list[dict[str, Any]]:
    """:func:`wanted` less the records ``have`` (the cache) re-priced already."""
    return [r for r in wanted(records, study=study, model=model) if r["run_id"] not in have]


def remember(cache_dir: Path, model: ModelTag, have: Mapping[str, float], new: Mapping[str, float]) -> dict[str, float]:
    """``have`` with ``new`` added, ``new`` saved to the cache (a cache that cannot be written is skipped)."""
    with contextlib.suppress(OSError):
        save_cache(cache_dir, model, new)
    return {**have, **new}


def speeds(records: Sequence[Mapping[str, Any]], price: Callable[[Mapping[str, Any]], float | None]) -> dict[str, float]:
    """Each record's speed against the model ``price`` predicts with (``params -> predicted
    seconds per epoch``, None where it cannot): the median over its configurations of measured /
    predicted. The contention it ran at is divided out later, as for any record's speed."""
    out: dict[str, float] = {}
    for r in records:
        ratios = []
        for c in r.get("configs") or ():
            try:
                p = price(c["params"])
            except Exception:  # a configuration the study no longer takes: not priced
                continue
            if isinstance(p, (int, float)) and p > 0 and isinstance(c.get("epoch_s"), (int, float)) and c["epoch_s"] > 0:
                ratios.append(float(c["epoch_s"]) / float(p))
        if ratios:
            out[str(r["run_id"])] = statistics.median(ratios)
    return out


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"{platform.node() or 'host'}-repriced.json"


def _key(model: ModelTag) -> str:  # the first counting rules' keys named none
    return f"{model.schema}@{model.measured_at!r}" if model.rules == 1 else f"{model.schema}.{model.rules}@{model.measured_at!r}"


def load_cache(cache_dir: Path, model: ModelTag | None) -> dict[str, float]:
    """The records' speeds re-priced against ``model`` so far (run id -> speed)."""
    if model is None:
        return {}
    try:
        data = json.loads(cache_file(cache_dir).read_text(encoding="utf-8"))
        got = data["models"][_key(model)]
        return {str(k): float(v) for k, v in got.items() if isinstance(v, (int, float))}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_cache(cache_dir: Path, model: ModelTag, new: Mapping[str, float]) -> None:
    """Add ``new`` re-priced speeds for ``model`` (atomic; the newest :data:`CACHED_MODELS` models kept)."""
    if not new:
        return
    try:
        models = dict(json.loads(cache_file(cache_dir).read_text(encoding="utf-8")).get("models", {}))
    except (OSError, ValueError, TypeError, AttributeError):
        models = {}
    key = _key(model)
    mine = {**dict(models.pop(key, {})), **{k: float(v) for k, v in new.items()}}
    models[key] = mine
    newest = sorted(models.items(), key=lambda kv: _measured_at(kv[0]))[-CACHED_MODELS:]
    atomic_write_json(cache_file(cache_dir), {"models": dict(newest)})


def _measured_at(key: str) -> float:
    try:
        return float(key.rsplit("@", 1)[1])
    except (IndexError, ValueError):
        return 0.0
