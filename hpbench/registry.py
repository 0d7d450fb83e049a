"""A tiny named registry: the extension point for optimizers, initializers, model families,
datasets, searchers and schedulers. Adding one is one function plus one ``register`` line.

Entries are looked up by name at study-validation time, so registries must stay importable
without torch or Ray: heavy imports go inside the registered builders.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hpbench.errors import did_you_mean
from hpbench.rules import Rule, RuleError

T = TypeVar("T")


@dataclass(frozen=True)
class Param:
    """A parameter an entry accepts: its rule and default (``None``: required or unset)."""

    rule: Rule
    default: Any = None
    doc: str = ""


@dataclass(frozen=True)
class Entry:
    """A registered builder with the parameters it accepts."""

    name: str
    build: Callable[..., Any]
    params: dict[str, Param] = field(default_factory=dict)
    doc: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {k: p.default for k, p in self.params.items() if p.default is not None}


class Registry(Generic[T]):
    def __init__(self, *, what: str) -> None:
        self.what = what
        self._entries: dict[str, Entry] = {}

    def register(
        self, name: str, *, params: dict[str, Param] | None = None, doc: str = "", **meta: Any
    ) -> Callable[[T], T]:
        def deco(fn: T) -> T:
            self._entries[name] = Entry(name=name, build=fn, params=dict(params or {}), doc=doc, meta=meta)  # type: ignore[arg-type]
            return fn

        return deco

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:  # an unhashable value (a list or table from a study file) names no entry
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r}; {did_you_mean(name, self._entries)}") from None


@dataclass(frozen=True)
class Registered(Rule):
    """A name registered in ``registry``: the one rule for a registry-named key, whether its
    value is fixed or searched (``optimizer.name``, ``train.init``, ``model.family``, ...).

    ``imports``: a ``"package.module:attr"`` spec is accepted too (user models and datasets);
    ``suffixes``: so is a file name ending in one of them (data files); ``also`` follows the
    did-you-mean hint, naming what else the key accepts. A value of another type (a number, a
    list, a table) is an unknown name.
    """

    registry: Registry[Any]
    imports: bool = False
    suffixes: tuple[str, ...] = ()
    also: str = ""

    def check(self, value: Any) -> Any:
        what = self.registry.what
        if (self.imports or self.suffixes) and (not isinstance(value, str) or not value):
            raise RuleError(f"must be a {what} name")
        if value in self.registry or (self.imports and is_import_spec(value)):
            return value
        if self.suffixes and isinstance(value, str) and value.endswith(self.suffixes):
            return value
        raise RuleError(f"unknown {what}", hint=did_you_mean(str(value), self.registry) + self.also)


def import_object(spec: str) -> Any:
    """Import ``"package.module:attr"`` (user models and datasets)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"expected 'package.module:function', got {spec!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def is_import_spec(value: object) -> bool:
    """True for ``"package.module:attr"`` (not a file path such as ``data/x.csv``)."""
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, attr = value.split(":")
    return bool(attr) and all(part.isidentifier() for part in module.split("."))
