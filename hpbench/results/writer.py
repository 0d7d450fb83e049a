"""Writing one study's tables as a base plus parts (the format: :mod:`hpbench.results.parts`).

Each write is a *part* holding the rows changed since the previous write, so its cost follows
the rows changed, not the study's size. Parts are merged as in a log-structured merge tree:
when ``FANOUT`` parts of one level have been written, the next write replaces them with one
part of the level above (the latest versions of every row they held), so a search of N writes
keeps at most (FANOUT - 1) x log_FANOUT(N) parts per table (28 at 4,096 writes), each row is
rewritten once per level, and the merge's files per write stay ~1 + 1/FANOUT. A *compaction*
writes the whole tables as the base (and its copy, ``<table>.prev``) and deletes the parts:
a store's first write (so a new search supersedes whatever an earlier one left) and its forced
writes (a resume's start, a search's end).

The planning (which rows the next part holds) happens on the caller's thread, where the rows
are copied; the files are written wherever :meth:`TableWriter.write` is called (the store's
background thread). One write at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.results.files import EPOCHS, PREV, TRIALS, atomic_write_bytes
from hpbench.results.parts import PARTS_DIR, base_bytes, list_parts, part_path, parts_upto

FANOUT = 8  # parts of one level merged into one of the next: 8 keeps readers at <= 28 files per table at 4,096 writes

EpochKey = tuple[str, int]


def part_table(rows: Sequence[Mapping[str, Any]], frame: Callable[[], Any]) -> Any:
    """A part's rows as a pyarrow table, each column built from the rows' Python values (a part
    holds a few rows: pandas' typing of them cost ~20 ms a write, pyarrow's ~0.2 ms); a column
    pyarrow cannot type (numbers and text mixed) takes the whole-table typing (``frame()``).
    Readers take the values back as Python values (:func:`hpbench.results.parts.merge`)."""
    import pyarrow as pa

    columns = dict.fromkeys(k for r in rows for k in r)
    try:
        return pa.table({c: pa.array([r.get(c) for r in rows]) for c in columns})
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.Table.from_pandas(frame(), preserve_index=False)


def write_part(path: Path, table: Any) -> None:
    """One part file, atomically (whole or absent)."""
    import io

    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())


class TablesNotWritten(OSError):
    """A table could not be written (e.g. the disk is full); the files on disk are the last
    complete write. The search stops: nothing is recorded that the tables cannot keep."""


@dataclass(kw_only=True)
class _Part:
    seq: int
    level: int
    trials: set[str] = field(default_factory=set)
    epochs: set[EpochKey] = field(default_factory=set)


@dataclass(frozen=True, kw_only=True)
class Write:
    """One planned write: a part (``seq``, replacing the parts ``replaced``) or, with ``seq``
    None, a compaction of the whole tables."""

    trials: list[dict[str, Any]]
    epochs: list[Mapping[str, Any]]  # the store's rows as they are (not copied: an epoch's row never changes)
    seq: int | None = None
    replaced: tuple[int, ...] = ()


class TableWriter:
    def __init__(self, *, out: Path, param_keys: list[str], mixed_keys: Sequence[str] = (), param_dtypes: Mapping[str, str] | None = None) -> None:
        self.out = out
        self.param_keys = param_keys
        self.mixed_keys = tuple(mixed_keys)  # searched keys whose values mix numbers and names: text columns
        self.param_dtypes = dict(param_dtypes or {})  # a searched key's column type where no trial drew it (tables.param_dtypes)
        self._live: list[_Part] = []  # the parts on disk since the last compaction, oldest first (levels non-increasing)
        self._next: int | None = None  # the next part's number; None until the first compaction has read the disk

    @property
    def has_parts(self) -> bool:
        """Whether this writer has written parts since its last compaction."""
        return bool(self._live)

    def plan_part(self, trials: Mapping[str, Mapping[str, Any]], epochs: Mapping[EpochKey, Mapping[str, Any]], *,
                  changed_trials: set[str], changed_epochs: set[EpochKey]) -> Write:
        """The next part: the changed rows, or, when it completes a level, the merge of that
        level's parts (the latest version of every row they held). The first write of a writer
        is a compaction."""
        if self._next is None:
            return self.plan_compaction(trials, epochs)
        part = _Part(seq=self._next, level=0, trials=set(changed_trials), epochs=set(changed_epochs))
        self._next += 1
        replaced: list[int] = []
        while len(self._live) >= FANOUT - 1 and all(p.level == part.level for p in self._live[1 - FANOUT:]):
            group = self._live[1 - FANOUT:]
            del self._live[1 - FANOUT:]
            replaced += [p.seq for p in group]
            part = _Part(seq=part.seq, level=part.level + 1, trials=part.trials.union(*(p.trials for p in group)),
                         epochs=part.epochs.union(*(p.epochs for p in group)))
        self._live.append(part)
        return Write(trials=[dict(trials[k]) for k in part.trials], epochs=[epochs[k] for k in part.epochs], seq=part.seq,
                     replaced=tuple(replaced))

    def plan_compaction(self, trials: Mapping[str, Mapping[str, Any]], epochs: Mapping[EpochKey, Mapping[str, Any]]) -> Write:
        self._live = []
        return Write(trials=[dict(r) for r in trials.values()], epochs=list(epochs.values()))

    def write(self, w: Write) -> None:
        """Write ``w``'s files (epochs first: a trial that a table shows finished has its full
        history). Raises :class:`TablesNotWritten` when a file cannot be written; the tables on
        disk are then their last complete write."""
        from hpbench.results.tables import epochs_frame, trials_frame

        upto = self._on_disk() if w.seq is None else 0
        for name, rows in ((EPOCHS, w.epochs), (TRIALS, w.trials)):
            if w.seq is not None and not rows:
                continue
            def frame(rows: Sequence[Mapping[str, Any]] = rows, name: str = name) -> Any:
                return epochs_frame(rows) if name == EPOCHS else trials_frame(rows, self.param_keys, mixed_keys=self.mixed_keys, dtypes=self.param_dtypes)

            try:
                if w.seq is None:
                    data = base_bytes(frame(), upto=upto)
                    atomic_write_bytes(self.out / name, data)
                    atomic_write_bytes(self.out / (name + PREV), data)  # a second copy: damage to one file leaves the other
                else:
                    write_part(part_path(self.out, name, w.seq), part_table(rows, frame))
            except OSError as err:
                raise TablesNotWritten(f"{self.out}: cannot write {name}: {err.strerror or err}; the tables on disk are intact, "
                                       "as of their last write") from err
        if w.seq is None:
            self._next = upto + 1
            self._delete(lambda seq: seq <= upto)  # held by the base now
            with contextlib.suppress(OSError):
                (self.out / PARTS_DIR).rmdir()  # only when empty: damaged parts moved aside stay for inspection
        else:
            self._delete(set(w.replaced).__contains__)  # held by the new part now

    def _on_disk(self) -> int:
        """The highest part number in the results directory (held by a base, or a part left by
        an earlier run): a compaction holds them all, and the parts after it are numbered on."""
        if self._next is not None:
            return self._next - 1
        upto = 0
        for name in (TRIALS, EPOCHS):
            with contextlib.suppress(Exception):  # an unreadable base: it is replaced now
                upto = max(upto, parts_upto(self.out / name))
            upto = max([upto] + [seq for seq, _ in list_parts(self.out, name)])
        return upto

    def _delete(self, which: Any) -> None:
        for name in (TRIALS, EPOCHS):
            for seq, path in list_parts(self.out, name):
                if which(seq):
                    path.unlink(missing_ok=True)
