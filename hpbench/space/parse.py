"""A study's [space] table -> :class:`~hpbench.space.space.SearchSpace`.

Each entry is ``key = { KIND = VALUES [, when = { PARENT = [values] }] }`` with one of the
:data:`~hpbench.space.distributions.KINDS`. Which keys may be searched, and the rule their values
must satisfy, is the study's business: it passes ``rule_for(key, path)``. ``names`` holds the
registry-name rules of the paths whose values name registry entries (``optimizer.name``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hpbench.errors import Problem, StudyError, did_you_mean, shown
from hpbench.rules import Int, Rule, RuleError, check
from hpbench.space.distributions import KINDS, Choice, Distribution, Grid, LogUniform, RandInt, Uniform, holds
from hpbench.space.space import Dimension, SearchSpace

RuleFor = Callable[[str, str], Rule]  # (key as written, configuration path) -> the rule of its values


def parse_space(
    entries: Mapping[str, Any], *, source: str, aliases: Mapping[str, str], rule_for: RuleFor, names: Mapping[str, Rule]
) -> SearchSpace:
    """The dimensions of [space], their ``when`` conditions resolved, parents before children.
    Every bad entry is reported (one :class:`StudyError` carrying all their problems)."""
    dims: dict[str, Dimension] = {}
    whens: dict[str, Any] = {}
    problems: list[Problem] = []
    failed: set[str] = set()  # keys (and their paths) already reported: a condition on them is not reported again
    for key, entry in entries.items():
        try:
            dim, when = _dimension(key, entry, source=source, aliases=aliases, rule_for=rule_for, names=names)
            if any(d.path == dim.path for d in dims.values()):
                raise StudyError(source=source, key=f"space.{key}", rule="searches the same setting twice", value=shown(dim.path))
        except StudyError as err:
            problems += err.problems
            failed |= {key, aliases.get(key, key)}
            continue
        dims[key], whens[key] = dim, when
    by_path = {d.path: d.key for d in dims.values()}
    resolved: dict[str, Dimension] = {}
    for key, when in whens.items():
        if when is None:
            resolved[key] = dims[key]
            continue
        if isinstance(when, dict) and any(aliases.get(str(p), str(p)) in failed or p in failed for p in when):
            continue
        try:
            cond = _condition(key, when, dims, by_path, source=source, aliases=aliases)
        except StudyError as err:
            problems += err.problems
            continue
        resolved[key] = Dimension(key=key, path=dims[key].path, dist=dims[key].dist, when=cond)
    if problems:
        raise StudyError.of(problems)
    return SearchSpace(dims=_ordered(resolved, source=source))


def _dimension(
    key: str, entry: Any, *, source: str, aliases: Mapping[str, str], rule_for: RuleFor, names: Mapping[str, Rule]
) -> tuple[Dimension, Any]:
    """One [space] entry -> its dimension (no condition yet) and its raw ``when``."""
    path = aliases.get(key, key)
    rule = rule_for(key, path)
    dist, when = parse_distribution(entry, source=source, name=f"space.{key}", rule=rule)
    if path in names:
        for v in dist.grid_values() or ():
            check(names[path], v, source=source, key=f"space.{key}")
    return Dimension(key=key, path=path, dist=dist), when


def _condition(
    key: str, when: Any, dims: Mapping[str, Dimension], by_path: Mapping[str, str], *, source: str, aliases: Mapping[str, str]
) -> dict[str, tuple[Any, ...]]:
    """``when = { PARENT = [values] }``: parent key (as written, an alias or a path) -> the values
    for which this dimension is present."""
    if not isinstance(when, dict) or not when:
        raise StudyError(source=source, key=f"space.{key}.when", rule='must be a table like { optimizer = ["momentum"] }', value=when)
    cond: dict[str, tuple[Any, ...]] = {}
    for parent, values in when.items():
        where = f"space.{key}.when.{parent}"
        pkey = parent if parent in dims else by_path.get(aliases.get(str(parent), str(parent)))
        if pkey is None:
            raise StudyError(
                source=source, key=where, rule="must name another searched key", value=parent,
                hint=did_you_mean(parent, [k for k in dims if k != key]),  # not the key being defined: refused below as depending on itself
            )
        if pkey == key:
            raise StudyError(source=source, key=f"space.{key}.when", rule="cannot depend on itself", value=parent)
        vals = tuple(values) if isinstance(values, list) else (values,)
        if not vals:
            raise StudyError(source=source, key=where, rule="must list at least one value", value=values)
        possible = dims[pkey].dist.grid_values()
        if possible is None:  # a continuous parent: a trial's value equals a listed one by chance only
            raise StudyError(source=source, key=where, rule=f"must name a key with listed values (a choice, grid or randint); "
                             f"{pkey} is {dims[pkey].dist.describe()}", value=parent)
        vals = tuple(dims[pkey].dist.resolve(v) for v in vals)  # [0.5, 0.999] names the choice (0.5, 0.999)
        for v in vals:
            if not holds(possible, v):  # a randint's range by arithmetic: never listed (bug hunt s49/h2)
                among = list(possible) if len(possible) <= 64 else dims[pkey].dist.describe()
                raise StudyError(source=source, key=where, rule=f"values must be among {pkey}'s values {among}", value=v)
        cond[pkey] = vals
    return cond


def _ordered(dims: Mapping[str, Dimension], *, source: str) -> tuple[Dimension, ...]:
    """Parents before children (depth first, in the file's order); a cycle of conditions is an error."""
    order: list[Dimension] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(key: str, trail: tuple[str, ...]) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise StudyError(
                source=source, key=f"space.{key}.when", rule="conditions must not form a cycle", value=shown(" -> ".join((*trail, key)))
            )
        state[key] = 1
        for parent in dims[key].when:
            visit(parent, (*trail, key))
        state[key] = 2
        order.append(dims[key])

    for key in dims:
        visit(key, ())
    return tuple(order)


def parse_distribution(entry: Any, *, source: str, name: str, rule: Rule) -> tuple[Distribution, Any]:
    """One [space] entry -> (its distribution, its raw ``when`` or None); every value obeys ``rule``."""
    if not isinstance(entry, dict):
        raise StudyError(
            source=source, key=name, rule="must be a table with one of " + ", ".join(KINDS) + ", e.g. { choice = [1, 2] }", value=entry
        )
    entry = dict(entry)
    when = entry.pop("when", None)
    kinds = [k for k in entry if k in KINDS]
    unknown = [k for k in entry if k not in KINDS]
    if unknown:
        raise StudyError(
            source=source, key=f"{name}.{unknown[0]}", rule="unknown distribution", hint=did_you_mean(unknown[0], [*KINDS, "when"])
        )
    if len(kinds) != 1:
        raise StudyError(source=source, key=name, rule="must give exactly one of " + ", ".join(KINDS), value=shown(str(kinds or "none")))
    kind = kinds[0]
    where = f"{name}.{kind}"
    value = entry[kind]
    if kind in ("choice", "grid"):
        return _finite(value, source=source, where=where, kind=kind, rule=rule), when
    if not isinstance(value, list) or len(value) != 2:
        raise StudyError(source=source, key=where, rule="must be a list [low, high]", value=value)
    low, high = value
    dist = _range(kind, low, high, source=source, where=where, rule=rule)
    for bound, v in (("low", low), ("high", high)):
        try:
            rule.check(v)
        except RuleError as err:
            raise StudyError(source=source, key=where, rule=f"{bound} {err}", value=v) from None
    return dist, when


def _finite(value: Any, *, source: str, where: str, kind: str, rule: Rule) -> Choice:
    """``choice`` / ``grid``: a non-empty list of distinct values, each obeying ``rule``."""
    if not isinstance(value, list) or not value:
        raise StudyError(source=source, key=where, rule="must be a non-empty list", value=value)
    checked = [check(rule, v, source=source, key=f"{where}[{i}]") for i, v in enumerate(value)]
    if len(set(map(repr, checked))) != len(checked):
        raise StudyError(source=source, key=where, rule="values must be distinct", value=value)
    return (Grid if kind == "grid" else Choice)(tuple(checked))


def _range(kind: str, low: Any, high: Any, *, source: str, where: str, rule: Rule) -> Distribution:
    """``randint`` (integer bounds, both inclusive), ``uniform`` or ``loguniform`` (real bounds)."""
    if kind == "randint":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise StudyError(source=source, key=where, rule="needs integer bounds [low, high]", value=[low, high])
        if low > high:
            raise StudyError(source=source, key=where, rule="needs low <= high (both inclusive)", value=shown(f"low={low}, high={high}"))
        return RandInt(low, high)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise StudyError(source=source, key=where, rule="needs numeric bounds [low, high]", value=[low, high])
    if isinstance(rule, Int):
        raise StudyError(source=source, key=where, rule="is for real numbers; use randint for an integer key", value=[low, high])
    if kind == "loguniform" and low <= 0:
        raise StudyError(source=source, key=where, rule="needs 0 < low < high", value=shown(f"low={low}"))
    if low >= high:
        raise StudyError(source=source, key=where, rule="needs low < high", value=shown(f"low={low}, high={high}"))
    return (LogUniform if kind == "loguniform" else Uniform)(float(low), float(high))
