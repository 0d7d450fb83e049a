"""The search space: dimensions, their conditions, and the three ways to draw from it.

A dimension with ``when = {parent = [values]}`` is *absent* (not defaulted) from a trial whose
parent value is not listed. Dimensions are kept in dependency order, so every draw sees a
parent before its children.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpbench.space.distributions import Choice, Distribution, holds

# The most points a grid search may enumerate (:meth:`SearchSpace.grid_size`): every point is a
# trial, and :meth:`SearchSpace.grid` builds them all (a million took about a second here).
MAX_GRID_POINTS = 1_000_000

_OTHER = object()  # a parent's values that no condition lists, counted together by grid_size


@dataclass(frozen=True)
class Dimension:
    key: str  # as written in the study file, e.g. "lr" or "model.depth"; the column name
    path: str  # the configuration path it sets, e.g. "optimizer.lr"
    dist: Distribution
    when: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # parent key -> values

    def active(self, params: Mapping[str, Any]) -> bool:
        return all(k in params and params[k] in values for k, values in self.when.items())


@dataclass(frozen=True)
class SearchSpace:
    dims: tuple[Dimension, ...] = ()

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dims)

    def __len__(self) -> int:
        return len(self.dims)

    def keys(self) -> list[str]:
        return [d.key for d in self.dims]

    def mixed_keys(self) -> list[str]:
        """The keys whose values mix numbers and names (``batch_size = [16, "full"]``): their
        table column is text whatever the trials drew (hpbench.results.tables)."""
        mixed = []
        for d in self.dims:
            values = d.dist.values if isinstance(d.dist, Choice) else ()  # a randint's are all ints
            if any(isinstance(v, str) for v in values) and any(not isinstance(v, str) for v in values):
                mixed.append(d.key)
        return mixed

    def dim(self, key: str) -> Dimension:
        for d in self.dims:
            if d.key == key:
                return d
        raise KeyError(key)

    def define_by_run(self, trial: Any) -> dict[str, Any]:
        """Optuna define-by-run: suggest every active dimension, parents first. Returns the
        values themselves (Optuna holds a list-valued choice's label; Ray Tune's searcher puts
        the returned values into the trial's configuration)."""
        params: dict[str, Any] = {}
        for d in self.dims:
            if d.active(params):
                params[d.key] = d.dist.suggest(trial, d.key)
        return params

    def resolve(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """A point as read back (tables, Optuna, a study file) -> the dimensions' own values
        (hpbench.space.values); keys outside the space are kept as they are."""
        by_key = {d.key: d for d in self.dims}
        return {k: by_key[k].dist.resolve(v) if k in by_key else v for k, v in point.items()}

    def encode(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """A point as Optuna is given it (enqueued, grid): each choice's label."""
        by_key = {d.key: d for d in self.dims}
        return {k: by_key[k].dist.encode(v) if k in by_key else v for k, v in point.items()}

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return self.complete({}, rng)

    def complete(self, point: Mapping[str, Any], rng: random.Random, *, like: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``point`` (an enqueued one may leave keys to the searcher) with every active dimension
        it omits taken from ``like`` (a draw), else drawn from ``rng``; dimensions whose condition
        the point's values fail are left out."""
        params: dict[str, Any] = {}
        for d in self.dims:
            if d.active(params):
                if d.key in point:
                    params[d.key] = point[d.key]
                elif like is not None and d.key in like:
                    params[d.key] = like[d.key]
                else:
                    params[d.key] = d.dist.sample(rng)
        return params

    def is_finite(self) -> bool:
        return all(d.dist.grid_values() is not None for d in self.dims)

    def grid_size(self) -> int | None:
        """How many points :meth:`grid` gives (None: a continuous dimension), counted without
        listing them: a dimension no condition reads multiplies the count where it is active; a
        parent's values are listed one by one only where a condition names them, the rest counted
        together (``randint = [1, 1000000000]`` as a parent is two groups, not a billion points)."""
        named: dict[str, list[Any]] = {}  # parent key -> the values its children's conditions name
        for d in self.dims:
            for parent, values in d.when.items():
                named.setdefault(parent, []).extend(values)
        states: list[tuple[dict[str, Any], int]] = [({}, 1)]  # the parents' values so far -> how many points share them
        for d in self.dims:
            finite, n = d.dist.grid_values(), d.dist.n_values()
            if finite is None or n is None:
                return None
            nxt: list[tuple[dict[str, Any], int]] = []
            for p, count in states:
                if not d.active(p):
                    nxt.append((p, count))
                elif d.key not in named:
                    nxt.append((p, count * n))
                else:
                    listed = _listed(finite, named[d.key])
                    nxt += [({**p, d.key: v}, count) for v in listed]
                    if n > len(listed):
                        nxt.append(({**p, d.key: _OTHER}, count * (n - len(listed))))
            states = nxt
        return sum(count for _, count in states)

    def grid(self) -> list[dict[str, Any]]:
        """Every distinct point of a finite space (conditional dimensions expand only where
        active), in a stable order."""
        points: list[dict[str, Any]] = [{}]
        for d in self.dims:
            values = d.dist.grid_values()
            if values is None:
                raise ValueError(f"space.{d.key}: grid search needs finite values, but it is {d.dist.describe()}")
            nxt: list[dict[str, Any]] = []
            for p in points:
                if d.active(p):
                    nxt.extend({**p, d.key: v} for v in values)
                else:
                    nxt.append(p)
            points = nxt
        return points

    def describe(self) -> dict[str, str]:
        out = {}
        for d in self.dims:
            cond = "" if not d.when else " when " + ", ".join(f"{k} in {list(v)}" for k, v in d.when.items())
            out[d.key] = d.dist.describe() + cond
        return out

    def fingerprint(self) -> str:
        blob = json.dumps(self.describe(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _listed(values: Sequence[Any], named: Sequence[Any]) -> list[Any]:
    """The ``values`` of a parent that its children's conditions (``named``) list, each once."""
    if isinstance(values, range):  # a randint's, never iterated
        out: list[Any] = []
        for v in named:
            if holds(values, v) and not any(v == w for w in out):
                out.append(v)
        return out
    return [v for v in values if v in named]
