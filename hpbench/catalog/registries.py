"""Every registry a study names entries from, with the key that names them: the one list that
``hpbench plugins``, the JSON Schema and the study reference read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpbench.data.datasets import DATASETS
from hpbench.models import FAMILIES
from hpbench.registry import Plugin, Registry
from hpbench.strategies import SCHEDULERS, SEARCHERS
from hpbench.tracking import LOGGERS
from hpbench.train.initializers import INITIALIZERS
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES


@dataclass(frozen=True, kw_only=True)
class Named:
    """A registry and the study key whose value names one of its entries."""

    key: str
    registry: Registry[Any]
    title: str  # for the reference's headings
    one: str  # an entry, in words

    @property
    def group(self) -> str:
        return str(self.registry.group)


REGISTRIES: tuple[Named, ...] = (
    Named(key="model.family", registry=FAMILIES, title="Model families", one="Model family"),
    Named(key="data.dataset", registry=DATASETS, title="Datasets", one="Dataset"),
    Named(key="optimizer.name", registry=OPTIMIZERS, title="Optimizers", one="Optimizer"),
    Named(key="train.init", registry=INITIALIZERS, title="Initializations", one="Initialization"),
    Named(key="lr_schedule.name", registry=SCHEDULES, title="Learning-rate schedules", one="Learning-rate schedule"),
    Named(key="study.searcher", registry=SEARCHERS, title="Searchers", one="Searcher"),
    Named(key="study.scheduler", registry=SCHEDULERS, title="Schedulers", one="Scheduler"),
    Named(key="study.loggers", registry=LOGGERS, title="Loggers", one="Logger"),
)


def plugins() -> list[Plugin]:
    """Every installed plugin entry point of every group, loaded or kept out."""
    return [p for named in REGISTRIES for p in named.registry.plugins()]
