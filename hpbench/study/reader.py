"""The raw study file and where it came from, with the helpers every section parser uses.

Every problem is a :class:`~hpbench.errors.StudyError` naming the file, the key, the rule and
the bad value. No check uses ``assert`` (they must hold under ``python -O``). The reader also
gathers the problems of each part it attempts (:meth:`~Reader.attempt`), so that a study with
several mistakes is told about all of them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hpbench.errors import Problem, StudyError, did_you_mean, shown
from hpbench.registry import Param
from hpbench.rules import Rule, check
from hpbench.study import keys as K

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Reader:
    """A raw study and where it came from; its methods check tables and build the errors."""

    raw: Mapping[str, Any]  # the file as read (after --set overrides)
    source: str  # the file's name in messages
    base_dir: Path  # relative data files and results directories are looked up here too
    problems: list[Problem] = field(default_factory=list)  # gathered by attempt(), in the order found

    def attempt(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
        """``(True, fn(...))``, or ``(False, None)`` with the StudyError's problems gathered: a
        part of the study that failed does not stop the other parts from being checked."""
        try:
            return True, fn(*args, **kwargs)
        except StudyError as err:
            for p in err.problems:
                if p not in self.problems:  # a part read by several sections reports once
                    self.problems.append(p)
            return False, None

    def raise_problems(self) -> None:
        """Raise every gathered problem as one StudyError (nothing when there is none)."""
        if self.problems:
            raise StudyError.of(self.problems)

    def fail(self, key: str, rule: str, value: Any = None, hint: str = "") -> StudyError:
        return StudyError(source=self.source, key=key, rule=rule, value=value, hint=hint)

    def check(self, key: str, rule: Rule, value: Any) -> Any:
        return check(rule, value, source=self.source, key=key)

    def section(self, name: str) -> dict[str, Any]:
        """A section's table (empty when absent)."""
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table ([" + name + "])", value)
        return value

    def fields(
        self,
        name: str,
        table: Mapping[str, Any],
        spec: Mapping[str, Param],
        *,
        extra: Mapping[str, Param] | None = None,
        open_: bool = False,
    ) -> dict[str, Any]:
        """Check a table's keys against ``spec`` (+ ``extra``) and fill defaults; ``open_`` keeps
        unknown keys as they are (a user model's or dataset's own options)."""
        allowed = {**spec, **(extra or {})}
        out: dict[str, Any] = {}
        problems: list[Problem] = []  # every bad key of the table, not only the first
        for k, v in table.items():
            if k not in allowed:
                if open_:
                    out[k] = v
                    continue
                problems += self.fail(f"{name}.{k}", "unknown key", hint=did_you_mean(k, allowed)).problems
            elif isinstance(v, dict):
                problems += self.fail(f"{name}.{k}", "must be a single value, not a table (search it under [space])", shown("a table")).problems
            else:
                try:
                    out[k] = self.check(f"{name}.{k}", allowed[k].rule, v)
                except StudyError as err:
                    problems += err.problems
        if problems:
            raise StudyError.of(problems)
        for k, p in spec.items():
            if k not in out and p.default is not None:
                out[k] = p.default
        return out

    def searched(self) -> dict[str, str]:
        """Configuration path -> the [space] key that searches it (``optimizer.lr`` -> ``lr``); the
        first key naming a path counts (a second one is an error of [space])."""
        out: dict[str, str] = {}
        space = self.raw.get("space", {})
        keys: list[str] = list(space) if isinstance(space, dict) else []  # a [space] that is no table is reported once, as such
        for k in keys:
            out.setdefault(K.ALIASES.get(k, k), k)
        return out

    def searched_names(self, path: str) -> list[str]:
        """The names a [space] ``choice``/``grid`` lists for ``path``, read before the space is
        parsed: a section accepts the parameters of every name its key may take."""
        key = self.searched().get(path)
        entry = self.raw["space"][key] if key is not None else None
        if not isinstance(entry, dict):
            return []
        return [v for kind in ("choice", "grid") if isinstance(entry.get(kind), list) for v in entry[kind] if isinstance(v, str)]
