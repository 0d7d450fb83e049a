"""Points of a search space given by hand (a study's ``enqueue``), checked against the space."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hpbench.errors import StudyError, did_you_mean
from hpbench.space.space import Dimension, SearchSpace


def parse_points(
    points: Sequence[Any], space: SearchSpace, *, source: str, key: str, aliases: Mapping[str, str]
) -> tuple[dict[str, Any], ...]:
    """Each point maps searched keys (as in [space], their alias or their path) to values within
    their dimension; omitted keys are left to the searcher. ``key`` names the list in messages."""
    by_name: dict[str, Dimension] = {d.key: d for d in space} | {aliases.get(d.key, d.key): d for d in space} | {d.path: d for d in space}
    out = []
    for i, point in enumerate(points):
        where = f"{key}[{i}]"
        if not isinstance(point, dict) or not point:
            raise StudyError(source=source, key=where, rule='must be a table of searched keys, e.g. { init = "zeros" }', value=point)
        resolved: dict[str, Any] = {}
        for k, v in point.items():
            dim = by_name.get(k)
            if dim is None:
                raise StudyError(
                    source=source,
                    key=f"{where}.{k}",
                    rule="must be a key of [space]",
                    value=k,
                    hint=did_you_mean(k, [d.key for d in space]),
                )
            if not dim.dist.contains(v):
                raise StudyError(source=source, key=f"{where}.{k}", rule=f"must be within space.{dim.key} ({dim.dist.describe()})", value=v)
            if dim.key in resolved:  # `lr` and `optimizer.lr`: one setting under two names (the last won)
                raise StudyError(source=source, key=f"{where}.{k}", rule=f"names space.{dim.key} a second time (each setting once)", value=v)
            resolved[dim.key] = dim.dist.resolve(v)
        for dim in space:
            if dim.key in resolved and dim.when and not all(p in resolved and resolved[p] in vals for p, vals in dim.when.items()):
                raise StudyError(
                    source=source, key=f"{where}.{dim.key}", rule="is set where its `when` condition does not hold", value=resolved[dim.key]
                )
        out.append(resolved)
    return tuple(out)
