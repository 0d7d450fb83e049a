"""A tiny named registry: the extension point for optimizers, initializers, model families,
datasets, searchers, schedulers and loggers. Adding one is one function plus one ``register`` line.

Entries are looked up by name at study-validation time, so registries must stay importable
without torch or Ray: heavy imports go inside the registered builders.

Installed packages add entries through entry points (``group``, e.g. ``hpbench.families``): an
entry point names an :class:`Entry` made with :func:`entry` (or a bare builder). They are loaded
lazily, the first time a name that is not built in is looked up or the names are listed, in
every process that looks (Ray workers too). A plugin that fails to load, or that takes a name
already registered, is kept out and reported (``hpbench plugins``, and the error of a study
that names it); it never breaks hpbench itself.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
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


def entry(build: Callable[..., Any], *, params: dict[str, Param] | None = None, doc: str = "", **meta: Any) -> Entry:
    """What a plugin's entry point names: its builder, the parameters it accepts and a one-line
    doc (the entry point's name becomes the entry's name)."""
    return Entry(name="", build=build, params=dict(params or {}), doc=doc, meta=meta)


@dataclass(frozen=True, kw_only=True)
class Plugin:
    """An entry point of a registry's group, as loaded: ``error`` says why it was kept out."""

    group: str
    name: str
    value: str  # "package.module:attr"
    dist: str  # the installed distribution and its version
    error: str = ""


class Registry(Generic[T]):
    """Named entries: the built-in ones (``register``) and, once needed, those of installed
    plugins (entry points of ``group``; ``None``: no plugins)."""

    def __init__(self, *, what: str, group: str | None = None) -> None:
        self.what = what
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._builtin: set[str] = set()
        self._plugins: list[Plugin] = []
        self._loaded = group is None
        self._loading = False
        self._lock = threading.RLock()  # the driver looks names up from more than one thread

    def register(
        self, name: str, *, params: dict[str, Param] | None = None, doc: str = "", **meta: Any
    ) -> Callable[[T], T]:
        def deco(fn: T) -> T:
            self._entries[name] = Entry(name=name, build=fn, params=dict(params or {}), doc=doc, meta=meta)  # type: ignore[arg-type]
            self._builtin.add(name)
            return fn

        return deco

    def __contains__(self, name: object) -> bool:
        try:
            if name in self._entries:
                return True
        except TypeError:  # an unhashable value (a list or table from a study file) names no entry
            return False
        if not isinstance(name, str):
            return False
        self.load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self, *, plugins: bool = True) -> tuple[str, ...]:
        """Every name, plugins' included (loading them), or the built-in ones only."""
        if not plugins:
            return tuple(n for n in self._entries if n in self._builtin)
        self.load_plugins()
        return tuple(self._entries)

    def is_plugin(self, name: str) -> bool:
        """Whether ``name`` is a plugin's entry (registered, not built in)."""
        return name in self and name not in self._builtin

    def get(self, name: str) -> Entry:
        if name in self:
            return self._entries[name]
        why = self.plugin_error(name)
        raise KeyError(f"unknown {self.what} {name!r}; {did_you_mean(name, self._entries)}" + (f"; {why}" if why else ""))

    def plugins(self) -> tuple[Plugin, ...]:
        """The entry points of this registry's group, loaded or kept out (with the reason)."""
        self.load_plugins()
        return tuple(self._plugins)

    def plugin_error(self, name: str) -> str:
        """Why plugin ``name`` was kept out ("" when there is no such failed plugin)."""
        self.load_plugins()
        return next((f"plugin {p.value} ({p.dist}) was not loaded: {p.error}" for p in self._plugins if p.name == name and p.error), "")

    def forget_plugins(self) -> None:
        """Drop the plugins' entries: the next lookup reads the installed entry points again
        (after ``pip install`` in a running notebook or test session)."""
        with self._lock:
            for name in [n for n in self._entries if n not in self._builtin]:
                del self._entries[name]
            self._plugins.clear()
            self._loaded = self.group is None

    def load_plugins(self) -> None:
        """Register the entries of installed plugins (once per process; thread-safe)."""
        if self._loaded:
            return
        with self._lock:  # other threads wait here until the plugins are in
            if self._loaded or self._loading:  # loading: a plugin looking names up while it loads
                return
            self._loading = True
            try:
                seen: set[tuple[str, str]] = set()
                for ep in entry_points(group=str(self.group)):
                    if (ep.name, ep.value) not in seen:  # the same distribution found twice on sys.path
                        seen.add((ep.name, ep.value))
                        self._plugins.append(self._add(ep))
            finally:
                self._loaded, self._loading = True, False

    def _add(self, ep: EntryPoint) -> Plugin:
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "?"
        plugin = Plugin(group=str(self.group), name=ep.name, value=ep.value, dist=dist)
        if ep.name in self._entries:
            owner = "hpbench" if ep.name in self._builtin else "another plugin"
            return dataclasses.replace(plugin, error=f"the name {ep.name!r} is taken by {owner}")
        try:
            obj = ep.load()
        except Exception as err:  # a broken plugin must not break hpbench: reported, kept out
            return dataclasses.replace(plugin, error=f"{type(err).__name__}: {err}")
        except SystemExit as err:  # sys.exit() as it imports (a config file it reads, its own arguments): it would end hpbench, naming nothing
            return dataclasses.replace(plugin, error=f"it called sys.exit({err.code!r}) as it was imported")
        if isinstance(obj, Entry):
            self._entries[ep.name] = dataclasses.replace(obj, name=ep.name)
        elif callable(obj):
            doc = (getattr(obj, "__doc__", None) or "").strip().split("\n")[0]
            self._entries[ep.name] = Entry(name=ep.name, build=obj, doc=doc)
        else:
            return dataclasses.replace(plugin, error=f"must name an hpbench.registry.entry(...) or a builder, not {type(obj).__name__}")
        return plugin


@dataclass(frozen=True)
class Registered(Rule):
    """A name registered in ``registry``: the one rule for a registry-named key, whether its
    value is fixed or searched (``optimizer.name``, ``train.init``, ``model.family``, ...).

    ``imports``: a ``"package.module:attr"`` spec is accepted too (user models and datasets);
    ``suffixes``: so is a file name ending in one of them (data files); ``also`` follows the
    did-you-mean hint, naming what else the key accepts; ``others``: the rule a file of another
    kind is told (an Excel file: save it as one the key reads). A value of another type (a number, a
    list, a table) is an unknown name.
    """

    registry: Registry[Any]
    imports: bool = False
    suffixes: tuple[str, ...] = ()
    also: str = ""
    others: tuple[tuple[str, str], ...] = ()  # (suffix, what the file is and what to do) for files of a kind the key does not read
    others_rule: str = ""  # the rule such a file is told
    example: str = "mymodule:function"  # a user module's entry point, as the hints for a function given as such name it

    def check(self, value: Any) -> Any:
        what = self.registry.what
        if self.imports and callable(value) and not isinstance(value, str):
            raise RuleError(f"must be a {what} name or a 'module:function' string, not a Python object (the trial workers import it by name)",
                            hint=_import_hint(value, self.example))
        if (self.imports or self.suffixes) and (not isinstance(value, str) or not value):
            raise RuleError(f"must be a {what} name")
        if not isinstance(value, str):  # ["adam"] read "unknown optimizer (did you mean 'adam'?)"
            raise RuleError(f"must be one {what}'s name, a string (several are searched under [space])")
        if self.imports and is_import_spec(value) and value.partition(":")[0] == MAIN:
            raise in_main(value, example=self.example)
        if value in self.registry or (self.imports and is_import_spec(value)):
            return value
        if self.suffixes and isinstance(value, str) and value.lower().endswith(self.suffixes):  # DATA.CSV as data.csv
            return value
        other = next((why for suffix, why in self.others if isinstance(value, str) and value.lower().endswith(suffix)), None)
        if other is not None:
            raise RuleError(self.others_rule, hint=other)
        broken = self.registry.plugin_error(value) if isinstance(value, str) else ""
        raise RuleError(f"unknown {what}", hint=did_you_mean(str(value), self.registry) + self.also + (f"; {broken}" if broken else ""))


MAIN = "__main__"  # the running script's module: another process (a trial worker, the pre-flight's helper) has its own


def in_main(spec: str, *, example: str) -> RuleError:
    """The refusal of ``"__main__:attr"``: the calling script's function, which no other process can import."""
    return RuleError(f"cannot name a function of {MAIN} (the script or notebook that calls hpbench): the trial workers "
                     "import it by name in processes of their own, where that script is not run",
                     hint=_import_hint(None, example, attr=spec.partition(":")[2]))


def _import_hint(fn: Any, example: str, *, attr: str = "") -> str:
    """How to name a user's function so that the trial workers import it: its own 'module:name',
    or (a function of the calling script or notebook) a module to move it into."""
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "") or attr
    if isinstance(module, str) and module != MAIN and is_import_spec(f"{module}:{name}"):
        return f"give '{module}:{name}'"
    stem, _, default = example.partition(":")
    name = name if name and "<" not in name else default
    return f"move it into a module of its own (e.g. {stem}.py beside the script) and give '{stem}:{name}'"


def import_user_module(name: str) -> Any:
    """Import a user's module as every process of a search finds it: from any installed package
    or ``PYTHONPATH``, or else from the current directory. Ray puts the driver's current directory
    on its workers' path, and the prediction helper (``python -m``) starts there, so a module
    beside the study that the trials import must import here too (an installed ``hpbench``
    command's path starts at its own ``bin`` folder: a search's trials ran, and its test
    evaluation in the driver failed with ModuleNotFoundError after them)."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)
    return importlib.import_module(name)


def import_object(spec: str) -> Any:
    """Import ``"package.module:attr"`` (user models and datasets)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"expected 'package.module:function', got {spec!r}")
    obj: Any = import_user_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def is_import_spec(value: object) -> bool:
    """True for ``"package.module:attr"`` (not a file path such as ``data/x.csv``)."""
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, attr = value.split(":")
    return bool(attr) and all(part.isidentifier() for part in module.split("."))
