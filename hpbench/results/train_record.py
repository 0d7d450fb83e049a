"""The mark ``hpbench train`` leaves in the folder it writes: its ``metrics.json`` (beside
``model.pt`` and ``study.toml``), and which training a folder holds by it (:func:`held`). Read
by the training (:mod:`hpbench.api.train_folder`, which writes the folder) and by the search's
``--out`` check (:func:`hpbench.results.files.check_fresh_folder`: a training's folder is named as
one, not as files hpbench did not write). JSON only: torch-free, Ray-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.json"
UNFINISHED = "incomplete"  # metrics.json's "state" while a training writes its files
COMPLETE_KEYS = frozenset({"weights", "metrics", "history", "config"})  # a finished training's metrics.json


@dataclass(frozen=True, kw_only=True)
class Held:
    """The training a folder holds, from its ``metrics.json``."""

    study: str
    fingerprint: str | None  # None: written before trainings recorded one (its configuration is compared)
    config: Any
    finished: bool

    def same(self, *, fingerprint: str, config: Any) -> bool:
        """Whether it is the training of the study with this fingerprint (and configuration)."""
        if self.fingerprint is not None:
            return self.fingerprint == fingerprint
        return bool(self.config == json.loads(json.dumps(config, default=str)))

    def describe(self) -> str:
        return f"{'the' if self.finished else 'an unfinished'} training of study {self.study!r}"


def held(folder: Path) -> Held | None:
    """The training ``folder`` holds; ``None`` where its ``metrics.json`` (if any) is not one of
    ``hpbench train``'s (a file of the same name of the user's)."""
    try:
        record = json.loads((Path(folder) / METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("study"), str):
        return None
    finished = record.keys() >= COMPLETE_KEYS
    if not finished and record.get("state") != UNFINISHED:
        return None
    fingerprint = record.get("fingerprint")
    return Held(study=record["study"], fingerprint=fingerprint if isinstance(fingerprint, str) else None, config=record.get("config"),
                finished=finished)
