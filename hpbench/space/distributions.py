"""Distributions of a search-space dimension.

Each one can be suggested through an Optuna trial (define-by-run, used by every searcher),
sampled in memory (``hpbench estimate``, tests) and, where finite, enumerated for grid search.
``randint`` bounds are inclusive on both ends, as in Optuna's ``suggest_int``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any


class Distribution:
    kind: str = ""

    def suggest(self, trial: Any, name: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, rng: random.Random) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def grid_values(self) -> tuple[Any, ...] | None:
        """The finite values of this dimension, or None if it is continuous."""
        return None

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def contains(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]
    kind = "choice"

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.values)

    def grid_values(self) -> tuple[Any, ...]:
        return self.values

    def describe(self) -> str:
        return f"{self.kind} {list(self.values)}"

    def contains(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)


@dataclass(frozen=True)
class Grid(Choice):
    """Explicit grid values: enumerated by the grid searcher, a categorical for the others."""

    kind = "grid"


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    kind = "uniform"

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high)

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def describe(self) -> str:
        return f"{self.kind} [{self.low}, {self.high}]"

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class LogUniform(Uniform):
    kind = "loguniform"

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))


@dataclass(frozen=True)
class RandInt(Distribution):
    low: int
    high: int  # inclusive
    kind = "randint"

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_int(name, self.low, self.high)

    def sample(self, rng: random.Random) -> int:
        return rng.randint(self.low, self.high)

    def grid_values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))

    def describe(self) -> str:
        return f"{self.kind} [{self.low}, {self.high}]"

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


KINDS = {"choice": Choice, "grid": Grid, "uniform": Uniform, "loguniform": LogUniform, "randint": RandInt}
