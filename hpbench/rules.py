"""Value rules: the type and range every study key must satisfy.

A rule checks one value and returns it normalised, or raises :class:`RuleError` with the
rule in words. :func:`check` turns that into a :class:`~hpbench.errors.StudyError` naming the
file and the key. Rules are tiny frozen dataclasses so that registries (model families,
optimizers, ...) can declare the parameters they accept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.errors import StudyError, did_you_mean

_WHOLE = object()  # RuleError.value: the value checked, shown whole


class RuleError(ValueError):
    """A value broke a rule; the message is the rule in words, ``hint`` a did-you-mean and
    ``value`` the part of the value that broke it (a list's bad item), where not the whole."""

    def __init__(self, rule: str, *, hint: str = "", value: Any = _WHOLE) -> None:
        super().__init__(rule)
        self.hint = hint
        self.value = value

    def shown(self, value: Any) -> Any:
        """What to show as the bad value of ``value``: its bad item, else ``value`` itself."""
        return value if self.value is _WHOLE else self.value


class Rule:
    def check(self, value: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def numeric(self) -> bool:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float))) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int(Rule):
    min: int | None = None
    max: int | None = None

    @property
    def numeric(self) -> bool:
        return True

    def check(self, value: Any) -> int:
        if not _is_int(value):
            raise RuleError("must be an integer")
        _range(value, self.min, self.max, low_open=False)
        return int(value)


@dataclass(frozen=True)
class Float(Rule):
    min: float | None = None
    max: float | None = None
    min_open: bool = False  # min itself excluded
    max_open: bool = False

    @property
    def numeric(self) -> bool:
        return True

    def check(self, value: Any) -> float:
        if not _is_number(value) or not math.isfinite(value):
            raise RuleError("must be a finite number")
        _range(value, self.min, self.max, low_open=self.min_open, high_open=self.max_open)
        return float(value)


def _range(value: float, low: float | None, high: float | None, *, low_open: bool, high_open: bool = False) -> None:
    if low is not None and (value < low or (low_open and value == low)):
        raise RuleError(f"must be {'>' if low_open else '>='} {low}")
    if high is not None and (value > high or (high_open and value == high)):
        raise RuleError(f"must be {'<' if high_open else '<='} {high}")


@dataclass(frozen=True)
class Str(Rule):
    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise RuleError("must be a non-empty string")
        return value


@dataclass(frozen=True)
class Bool(Rule):
    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise RuleError("must be true or false")
        return value


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a fixed set of names (the registry's entries)."""

    names: tuple[str, ...]
    what: str = "value"

    def check(self, value: Any) -> Any:
        if value not in self.names:
            raise RuleError(f"unknown {self.what}", hint=did_you_mean(str(value), [str(n) for n in self.names]))
        return value


@dataclass(frozen=True)
class Either(Rule):
    """The first of several rules that accepts the value (e.g. an int or "full")."""

    rules: tuple[Rule, ...]
    words: str

    @property
    def numeric(self) -> bool:
        return any(r.numeric for r in self.rules)

    def check(self, value: Any) -> Any:
        for rule in self.rules:
            try:
                return rule.check(value)
            except RuleError:
                continue
        raise RuleError(f"must be {self.words}")


@dataclass(frozen=True)
class Literal(Rule):
    value: Any

    def check(self, value: Any) -> Any:
        if value != self.value or type(value) is not type(self.value):
            raise RuleError(f"must be {self.value!r}")
        return value


@dataclass(frozen=True)
class ListOf(Rule):
    item: Rule
    min_len: int = 0
    max_len: int | None = None

    def check(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise RuleError("must be a list")
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            size = f"{self.min_len}" if self.max_len == self.min_len else f">= {self.min_len}"
            raise RuleError(f"must be a list of {size} items")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(self.item.check(item))
            except RuleError as err:
                # the bad item as the value (a nested list's own bad item), with its did-you-mean
                raise RuleError(f"item {i}: {err}", hint=err.hint, value=err.shown(item)) from None
        return tuple(out)


@dataclass(frozen=True)
class Any_(Rule):
    def check(self, value: Any) -> Any:
        return value


def check(rule: Rule, value: Any, *, source: str, key: str) -> Any:
    """``rule.check(value)``; a broken rule becomes a :class:`StudyError` naming ``source``,
    ``key``, the rule and the value."""
    try:
        return rule.check(value)
    except RuleError as err:
        raise StudyError(source=source, key=key, rule=str(err), value=err.shown(value), hint=err.hint) from None
