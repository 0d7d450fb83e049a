"""The validated study as a frozen dataclass (its settings, fixed configuration and space).

Data flows one way: study file → :class:`Study` (validated once, here) → a trial's sampled
parameters → :class:`hpbench.config.TrialConfig` → the trainer. Nothing downstream re-reads the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpbench.space.space import SearchSpace

# settings that change no trial, nor what is searched: left out of the study's fingerprint
NOT_SEARCHED = frozenset({"keep_weights"})


@dataclass(frozen=True, kw_only=True)
class StudySettings:
    name: str
    seed: int = 0
    metric: str = "val_loss"
    mode: str = "min"
    trials: int = 10
    searcher: str = "tpe"
    scheduler: str = "asha-rank"  # session 39's A/B against asha (benchmarks/race.py, seeds 60-69): tabular better, digits and signals level
    max_concurrent: int = 1
    max_failures: int = 0
    checkpoint_s: float = 1.0  # a retried trial resumes from its last checkpoint
    grace_period: int = 1
    reduction_factor: int = 3
    enqueue: tuple[Mapping[str, Any], ...] = ()  # points of the space evaluated first
    default_first: bool = True  # without enqueued points, a default configuration runs first
    default_point: Mapping[str, Any] | None = None  # that configuration (hpbench.space.defaults), set by the study's parse
    fuse_siblings: int = 1  # >1: early trials differing only in lr and initialization train as one stacked model (session 44: not a win, off)
    repeats: int = 0
    repeats_top: int = 3
    keep_weights: int | str = "all"  # the search trials whose weights files are kept: "all" or the N best (hpbench.results.keep)
    loggers: tuple[str, ...] = ()  # experiment tracking (hpbench.tracking)

    @property
    def first_points(self) -> tuple[Mapping[str, Any], ...]:
        """The points evaluated before the searcher draws: the enqueued ones, else the default
        configuration (none for a grid, which runs every point anyway)."""
        if self.enqueue or self.default_point is None or not self.default_first or self.searcher == "grid":
            return self.enqueue
        return (self.default_point,)


@dataclass(frozen=True, kw_only=True)
class Resources:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Study:
    """A validated study: its settings, the fixed configuration and the search space."""

    source: str
    settings: StudySettings
    resources: Resources
    config: Mapping[str, Any]  # nested, validated, defaults filled: data/model/optimizer/train
    space: SearchSpace
    raw: Mapping[str, Any]  # the file as read (after --set overrides), for the record
    # searched data files: the path a choice sets ("data.dataset") -> the choice as written -> its
    # absolute path, which each trial's configuration holds (hpbench.study.data_files.resolve_choices)
    data_choices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def max_epochs(self) -> int:
        """The most epochs any trial may train: ``[train] max_epochs``, or the largest searched
        value where the space searches it (the schedulers' horizon, ``max_t``: Ray's ASHA stops
        a trial that reports at it, so a trial searched to 27 epochs stopped at a fixed 9)."""
        epochs = [int(self.config["train"]["max_epochs"])]
        for dim in self.space:
            values = dim.dist.grid_values() if dim.path == "train.max_epochs" else None
            if values:  # a randint's range is never listed
                epochs.append(int(values[-1]) if isinstance(values, range) else max(int(v) for v in values))
        return max(epochs)

    def default_out(self, root: str | Path = "results") -> Path:
        return Path(root) / self.settings.name

    def fingerprint(self) -> str:
        """The study as validated (settings, resources, fixed configuration, space): two runs of the
        same fingerprint searched the same thing (an edit, or another ``--set`` or ``--trials``, changes it;
        :data:`NOT_SEARCHED` settings, which change no trial, do not)."""
        settings = {k: v for k, v in asdict(self.settings).items() if k not in NOT_SEARCHED}
        blob = json.dumps({"settings": settings, "resources": asdict(self.resources), "config": self.config,
                           "space": self.space.fingerprint()}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
