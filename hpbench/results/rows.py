"""The store's rows, compactly: one table's rows share one column index.

A trial's row holds ~50 columns and a real search's trials report tens of epochs each, every one
a row. As plain dicts, each row carried its own hash table of its keys (1.6 KB for a trial's row,
0.46 KB for an epoch's, before the values), and the driver's memory grew with every row for as
long as the search ran. A :class:`Row` keeps only its values, in a list indexed by the table's
shared :class:`Columns`; it reads and writes as a mutable mapping (the store's events update rows,
the tables and readers take them as mappings).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

_ABSENT: Any = object()  # a column this row does not have (None is a value)


class Columns:
    """One table's column names, in the order they first appeared, and each one's index."""

    __slots__ = ("index", "names")

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.names: list[str] = []

    def slot(self, name: str) -> int:
        """``name``'s index, added where the table had no such column yet."""
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.names)
            self.names.append(name)
        return i


class Row(MutableMapping[str, Any]):
    """A row of a table with shared :class:`Columns`: its values only (see the module's docstring)."""

    __slots__ = ("_cols", "_vals")

    def __init__(self, columns: Columns, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()) -> None:
        self._cols = columns
        self._vals: list[Any] = []
        self.update(items)

    def __getitem__(self, key: str) -> Any:
        v = self.get(key, _ABSENT)
        if v is _ABSENT:
            raise KeyError(key)
        return v

    def get(self, key: str, default: Any = None) -> Any:  # the readers' hot path: no exception raised and caught
        i = self._cols.index.get(key)
        v = self._vals[i] if i is not None and i < len(self._vals) else _ABSENT
        return default if v is _ABSENT else v

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _ABSENT) is not _ABSENT

    def __setitem__(self, key: str, value: Any) -> None:
        i = self._cols.slot(key)
        if i >= len(self._vals):
            self._vals.extend([_ABSENT] * (i + 1 - len(self._vals)))
        self._vals[i] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._vals[self._cols.index[key]] = _ABSENT

    def __iter__(self) -> Iterator[str]:
        names = self._cols.names
        return (names[i] for i, v in enumerate(self._vals) if v is not _ABSENT)

    def __len__(self) -> int:
        return sum(v is not _ABSENT for v in self._vals)

    def __reduce__(self) -> tuple[Any, ...]:  # a copy or a pickle: its own index and its present columns (the marker of an absent one is this process's)
        return (Row, (Columns(), dict(self)))

    def __repr__(self) -> str:
        return f"Row({dict(self)!r})"

    def __eq__(self, other: object) -> bool:
        return dict(self) == (dict(other) if isinstance(other, Mapping) else other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dict


class EpochIndex(Mapping[tuple[str, int], Row]):
    """The epochs' rows by (trial id, epoch): a read-only view of the store's per-trial index, so
    that each row is indexed once (a second dict keyed by (trial id, epoch) tuples held ~0.12 KB
    an epoch). Iterates trial by trial, each trial's epochs in the order they came."""

    __slots__ = ("_by_trial",)

    def __init__(self, by_trial: Mapping[str, Mapping[int, Row]]) -> None:
        self._by_trial = by_trial

    def __getitem__(self, key: tuple[str, int]) -> Row:
        return self._by_trial[key[0]][key[1]]

    def get(self, key: tuple[str, int], default: Any = None) -> Any:
        rows = self._by_trial.get(key[0])
        return default if rows is None else rows.get(key[1], default)

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        rows = self._by_trial.get(key[0])
        return rows is not None and key[1] in rows

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return ((t, e) for t, rows in self._by_trial.items() for e in rows)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_trial.values())
