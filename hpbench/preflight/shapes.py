"""The configurations the pre-flight checks try: every distinct model (and data) setting the
space can produce, or a representative sample when there are many.

Only the dimensions that change the data or the network count (``data.*``, ``model.*`` and the
dimensions their ``when`` conditions read). Each contributes its finite values, or its bounds
when it is continuous or wide (a network's extremes are where shapes break: the deepest CNN on
the smallest image). Torch-free.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, ScheduleConfig, TrialConfig
from hpbench.space.distributions import Choice, Distribution, RandInt, Uniform
from hpbench.space.space import Dimension, SearchSpace
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study

SHAPE_PREFIXES = ("model.", "data.")
OPTIMIZER_PREFIXES = ("optimizer.",)  # the dimensions of the optimizers built (optimizer_cases)
SCHEDULE_PREFIXES = ("lr_schedule.",)  # the learning-rate schedules built over them (schedule_cases)
INIT_PREFIXES = ("train.init",)  # the initializations applied (init_cases: train.init, train.init_std)
MAX_VALUES = 16  # a dimension with more finite values contributes its ends and its middle
MAX_POINTS = 64  # configurations tried at most (seeded sample of the representative grid beyond)
MAX_DATA_VARIANTS = 4  # distinct data settings loaded and checked at most
MAX_BATCH_SIZES = 4096  # a randint batch size wider than this contributes its bounds only

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Case:
    """One configuration to try: its data and model settings, and the searched values behind it."""

    data: DataConfig
    model: ModelConfig
    searched: Mapping[str, Any]  # key as written in [space] -> value


def _representative(dist: Distribution) -> tuple[Any, ...]:
    values = dist.grid_values()
    if values is not None and len(values) <= MAX_VALUES:
        return tuple(values)
    if isinstance(dist, RandInt):
        return tuple(sorted({dist.low, (dist.low + dist.high) // 2, dist.high}))
    if isinstance(dist, Uniform):
        return (dist.low, dist.high)
    assert values is not None  # internal: every distribution is finite, randint or uniform
    return (values[0], values[len(values) // 2], values[-1])


def _shape_dims(space: SearchSpace, prefixes: tuple[str, ...] = SHAPE_PREFIXES) -> list[Dimension]:
    """The dimensions that shape the data or the network (or set ``prefixes``), with the parents their conditions read."""
    wanted = {d.key for d in space if d.path.startswith(prefixes)}
    changed = True
    while changed:
        parents = {p for d in space if d.key in wanted for p in d.when}
        changed = not parents <= wanted
        wanted |= parents
    return [Dimension(key=d.key, path=d.path, dist=Choice(_representative(d.dist)), when=d.when) for d in space if d.key in wanted]


def _points(study: Study, prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The searched values to try, in a stable order: the study's enqueued points first, then the
    representative grid of the dimensions under ``prefixes`` (a seeded sample of it when it is large)."""
    dims = _shape_dims(study.space, prefixes)
    keys = {d.key for d in dims}
    points = [{k: v for k, v in p.items() if k in keys} for p in study.settings.first_points]
    grid = SearchSpace(dims=tuple(dims)).grid()
    if len(grid) > MAX_POINTS:
        rng = random.Random(study.settings.seed)
        grid = [grid[0], grid[-1], *rng.sample(grid[1:-1], MAX_POINTS - 2)]
    return [*points, *grid]


def cases(study: Study) -> list[Case]:
    """The distinct (data, model) settings to check (:func:`_points`)."""
    out: dict[tuple[str, str], Case] = {}
    for point in _points(study, SHAPE_PREFIXES):
        cfg = trial_config(study, point)
        key = (repr(cfg.data), repr(cfg.model))
        if key not in out:
            out[key] = Case(data=cfg.data, model=cfg.model, searched=dict(point))
    return list(out.values())


def optimizer_cases(study: Study) -> list[tuple[OptimizerConfig, Mapping[str, Any]]]:
    """The distinct ``[optimizer]`` settings to build, each with the searched values behind it
    (:func:`_points` of the ``optimizer.*`` dimensions: a plugin optimizer is user code, and may
    raise for some names or values only)."""
    return _trainer_cases(study, OPTIMIZER_PREFIXES, lambda cfg: cfg.optimizer)


def schedule_cases(study: Study) -> list[tuple[ScheduleCase, Mapping[str, Any]]]:
    """The distinct ``[lr_schedule]`` settings to build over the optimizer (a plugin schedule is user code)."""
    return _trainer_cases(study, SCHEDULE_PREFIXES, lambda cfg: ScheduleCase(schedule=cfg.lr_schedule, max_epochs=cfg.train.max_epochs,
                                                                              batch_size=cfg.train.batch_size, metric=cfg.metric, mode=cfg.mode))


def init_cases(study: Study) -> list[tuple[InitCase, Mapping[str, Any]]]:
    """The distinct initializations to apply to the network (a plugin initializer is user code)."""
    return _trainer_cases(study, INIT_PREFIXES, lambda cfg: InitCase(name=cfg.train.init, params=cfg.train.init_params))


@dataclass(frozen=True, kw_only=True)
class ScheduleCase:
    """A learning-rate schedule and what its horizon and monitor come from in a trial."""

    schedule: ScheduleConfig
    max_epochs: int
    batch_size: int | str
    metric: str
    mode: str


@dataclass(frozen=True, kw_only=True)
class InitCase:
    """An initialization and its parameters (``train.init``, ``train.init_std``)."""

    name: str
    params: Mapping[str, Any]


def _trainer_cases(study: Study, prefixes: tuple[str, ...], pick: Callable[[TrialConfig], T]) -> list[tuple[T, Mapping[str, Any]]]:
    """The distinct settings ``pick`` reads from the configurations of :func:`_points` of the
    dimensions under ``prefixes``, each with the searched values behind it."""
    out: dict[str, tuple[T, Mapping[str, Any]]] = {}
    own = {d.key for d in _shape_dims(study.space, prefixes)}
    # the rest of a configuration from the search's first one: a family searched and fixed nowhere
    # else has no value otherwise, and building the configuration raised KeyError: 'family'
    first = study.settings.first_points[0] if study.settings.first_points else study.settings.default_point or {}  # a grid has no first points
    rest = {k: v for k, v in first.items() if k not in own}
    for point in _points(study, prefixes):
        value = pick(trial_config(study, {**rest, **point}))
        out.setdefault(repr(value), (value, dict(point)))
    return list(out.values())


def data_variants(found: list[Case]) -> list[tuple[DataConfig, list[Case]]]:
    """The cases grouped by their data setting (the first ``MAX_DATA_VARIANTS`` settings)."""
    groups: dict[str, tuple[DataConfig, list[Case]]] = {}
    for c in found:
        k = repr(c.data)
        if k not in groups:
            if len(groups) >= MAX_DATA_VARIANTS:
                continue
            groups[k] = (c.data, [])
        groups[k][1].append(c)
    return list(groups.values())


def batch_sizes(study: Study) -> tuple[tuple[int | str, ...], str]:
    """Every batch size the study searches, and the key that sets them (none when it is fixed:
    a fixed batch size larger than the training split trains full-batch, as asked)."""
    dim = next((d for d in study.space if d.path == "train.batch_size"), None)
    if dim is None:
        return (), "train.batch_size"
    dist = dim.dist
    if isinstance(dist, RandInt) and dist.high - dist.low > MAX_BATCH_SIZES:
        values: tuple[Any, ...] = (dist.low, dist.high)
    else:
        values = tuple(dist.grid_values() or ())
    return tuple(dict.fromkeys(values)), f"space.{dim.key}"


def used_batch_sizes(study: Study) -> tuple[int | str, ...]:
    """Every batch size a trial can train with: the searched ones and the fixed one."""
    searched, _ = batch_sizes(study)
    dim = next((d for d in study.space if d.path == "train.batch_size"), None)
    fixed = study.config["train"]["batch_size"]
    return searched if dim is not None and not dim.when else tuple(dict.fromkeys((*searched, fixed)))
