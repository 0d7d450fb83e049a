"""What ``hpbench estimate`` priced of a study, kept for the search that follows it
(``<host>-priced.json`` beside the device models): the predicted seconds per epoch of the
configurations it sampled, in order, and their FLOPs per step (how their repeats fuse).

The live ETA prices the trials not started yet from those configurations (its sample: the
first ones the estimate draws, or a grid's points in order); the search predicts them in its
helper process, behind the early trials and the started trials' own predictions. Counting a
recurrent network's step takes 0.5-4 s here, so the recurrent claim's 18 grid points were not back
when its first trials ended: its trials left were priced as the started (cheapest) RNNs, 21.1 s,
then 33.7 s when the plan came back one trial later (quiet run 4). The estimate prices the same
configurations with the same model just before; the search takes them from here when the study
and the model are the same, and asks its helper only otherwise.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpbench.cost.history import ModelTag
from hpbench.cost.warmup import BOUND_RULES
from hpbench.results.files import atomic_write_json

KEEP = 32  # studies kept


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"{platform.node() or 'host'}-priced.json"


def study_key(study: Any) -> str:
    """What the sampled configurations and their prices depend on: the study's settings (seed,
    trials, searcher), its space and its fixed configuration; and the rules the device model's
    warm-up constants are held by (:data:`hpbench.cost.warmup.BOUND_RULES`)."""
    return hashlib.sha1(repr((study.name, study.settings, study.space, study.config, BOUND_RULES)).encode()).hexdigest()


def _load(cache_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache_file(cache_dir).read_text(encoding="utf-8"))
        return dict(data["studies"]) if isinstance(data, dict) else {}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def save(cache_dir: Path, *, model: ModelTag, study: Any, epoch_s: Sequence[float | None], at: float,
         flops_per_step: Sequence[float | None] = ()) -> None:
    """Keep ``epoch_s`` and ``flops_per_step`` (one per sampled configuration, in order; None:
    not predicted) for ``study`` against ``model`` (atomic; the :data:`KEEP` latest studies)."""
    studies = _load(cache_dir)
    studies[study_key(study)] = {"model": model.to_dict(), "epoch_s": [None if s is None else float(s) for s in epoch_s],
                                 "flops_per_step": [float(f) if isinstance(f, (int, float)) else None for f in flops_per_step], "at": at}
    newest = sorted(studies.items(), key=lambda kv: float(kv[1].get("at", 0.0)) if isinstance(kv[1], dict) else 0.0)[-KEEP:]
    atomic_write_json(cache_file(cache_dir), {"studies": dict(newest)})


def _entry(cache_dir: Path, *, model: ModelTag | None, study: Any) -> dict[str, Any] | None:
    """What the study's last estimate kept, when it priced against ``model``; else None."""
    entry = _load(cache_dir).get(study_key(study))
    if model is None or not isinstance(entry, dict) or entry.get("model") != model.to_dict():
        return None
    return entry


def load(cache_dir: Path, *, model: ModelTag | None, study: Any, n: int) -> list[float] | None:
    """The predicted seconds per epoch of the study's first ``n`` sampled configurations (those
    predicted), when the estimate priced at least ``n`` of them against ``model``; else None."""
    entry = _entry(cache_dir, model=model, study=study)
    got = entry.get("epoch_s") if entry else None
    if not isinstance(got, list) or len(got) < n:
        return None
    return [float(s) for s in got[:n] if isinstance(s, (int, float)) and s > 0]


def load_flops(cache_dir: Path, *, model: ModelTag | None, study: Any) -> float | None:
    """The median FLOPs per step of the configurations the study's last estimate against ``model``
    sampled (what its repeats' fusion is decided by before any trial's own count is known); None
    without one."""
    entry = _entry(cache_dir, model=model, study=study) or {}
    got = sorted(float(f) for f in entry.get("flops_per_step") or [] if isinstance(f, (int, float)) and f > 0)
    return got[len(got) // 2] if got else None
