"""Distributions of a search-space dimension.

Each one can be suggested through an Optuna trial (define-by-run, used by every searcher),
sampled in memory (``hpbench estimate``, tests) and, where finite, enumerated for grid search.
``randint`` bounds are inclusive on both ends, as in Optuna's ``suggest_int``; its values are a
``range``, never built: ``randint = [1, 1000000000]`` is a billion values (a tuple of them took
more than 4 GB and a minute before it failed, bug hunt s49/h2).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.space import values as V


class Distribution:
    kind: str = ""

    def suggest(self, trial: Any, name: str) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def sample(self, rng: random.Random) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def grid_values(self) -> Sequence[Any] | None:
        """The finite values of this dimension, or None if it is continuous."""
        return None

    def n_values(self) -> int | None:
        """How many values :meth:`grid_values` holds (None: continuous), without listing them."""
        values = self.grid_values()
        return None if values is None else len(values)

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def contains(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def resolve(self, value: Any) -> Any:
        """``value`` as read back (from Optuna, the tables, a study's point) -> this dimension's own
        value: numbers are Python numbers; see :meth:`Choice.resolve`."""
        number = V.plain(value)
        return number if isinstance(number, (int, float)) else value

    def encode(self, value: Any) -> Any:
        """The form Optuna is given for ``value`` (an enqueued or grid point)."""
        return value


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]
    kind = "choice"

    def suggest(self, trial: Any, name: str) -> Any:
        """Optuna chooses among the values' labels (plain scalars; JSON text for a list), which
        its storage keeps as they are: hpbench.space.values."""
        return self.resolve(trial.suggest_categorical(name, [V.label(v) for v in self.values]))

    def resolve(self, value: Any) -> Any:
        return V.resolve(self.values, value)

    def encode(self, value: Any) -> Any:
        return V.label(self.resolve(value))

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.values)

    def grid_values(self) -> tuple[Any, ...]:
        return self.values

    def describe(self) -> str:
        return f"{self.kind} {list(self.values)}"

    def contains(self, value: Any) -> bool:
        """Exactly one of the values; a list stands for a tuple value (TOML has no tuples)."""
        return any(V.same(value, v) for v in self.values)

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

    def grid_values(self) -> range:
        """Lazy: its length and ``in`` (of an int) cost nothing; iterating it costs each value."""
        return range(self.low, self.high + 1)

    def describe(self) -> str:
        return f"{self.kind} [{self.low}, {self.high}]"

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


def holds(values: Sequence[Any], value: Any) -> bool:
    """``value in values`` (``==``, as a condition reads it: :meth:`hpbench.space.space.Dimension.active`),
    by arithmetic for a randint's ``range``: Python searches a range value by value for anything but an int."""
    if not isinstance(values, range):
        return value in values
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer() and int(value) in values
    return isinstance(value, int) and value in values


KINDS = {"choice": Choice, "grid": Grid, "uniform": Uniform, "loguniform": LogUniform, "randint": RandInt}
