"""A results table on disk: a base file plus the parts written since (pandas and pyarrow only).

A search keeps each table as ``<out>/trials.parquet`` (the *base*: the whole table as of its
last compaction, with a second copy ``trials.parquet.prev``) and, while it runs, one small
*part* per write under ``<out>/parts/`` (``trials.00000042.parquet``) holding only the rows that
changed since the previous write, so that a write costs the same at trial 20 and at trial 2,000
(:class:`hpbench.results.writer.TableWriter`). Reading a table replays the base and then the
parts in number order, the latest version of each row winning (key: ``trial_id``; ``trial_id``
and ``epoch`` for epoch rows). The base records the highest part number it holds
(``hpbench.parts_upto`` in its parquet metadata): parts at or below it are already in it (left
by a compaction that had not yet deleted them) and are skipped. Each file is written atomically
(a temporary file renamed over), so a part is either whole or absent; a folder of single-file
tables (written before parts existed, or after a search's final compaction) reads as before.

A damaged part (changed from outside) makes :func:`read_table` raise :class:`DamagedTable`; a
resumed search drops it (:func:`read_table_repairing`): the rows it alone updated fall back to
their earlier versions, and the trials it alone finished run again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.results.files import EPOCHS, PREV, TRIALS, DamagedTable

PARTS_DIR = "parts"
UPTO_KEY = b"hpbench.parts_upto"  # the base's parquet metadata: the highest part number it holds
KEYS: dict[str, tuple[str, ...]] = {TRIALS: ("trial_id",), EPOCHS: ("trial_id", "epoch")}  # a row's identity
_RETRIES = 20  # a reader racing a writer that merges parts lists them again (each retry follows a deletion)


def stem(name: str) -> str:
    return name.removesuffix(".parquet")


def part_path(out: Path, name: str, seq: int) -> Path:
    return out / PARTS_DIR / f"{stem(name)}.{seq:08d}.parquet"


def list_parts(out: Path, name: str) -> list[tuple[int, Path]]:
    """The parts of table ``name`` on disk, ``(number, path)`` in number order."""
    folder = out / PARTS_DIR
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"{re.escape(stem(name))}\.(\d{{8}})\.parquet")
    found = ((pattern.fullmatch(p.name), p) for p in folder.iterdir())
    return sorted((int(m.group(1)), p) for m, p in found if m is not None)


def table_exists(out: Path, name: str) -> bool:
    return (out / name).is_file() or bool(list_parts(out, name))


def parts_upto(path: Path) -> int:
    """The highest part number held by the base at ``path`` (0: written before parts existed)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path).metadata or {}
    return int(meta.get(UPTO_KEY, b"0"))


def base_bytes(frame: Any, *, upto: int) -> bytes:
    """A base table's parquet bytes, as ``frame.to_parquet(index=False)`` writes them, with the
    highest part number it holds in its metadata."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), UPTO_KEY: str(upto).encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _damage(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:300]


def read_table(out: Path, name: str) -> Any:
    """Table ``name`` of the results directory ``out`` as one DataFrame. Raises
    :class:`FileNotFoundError` when there is none, :class:`DamagedTable` naming the file when a
    file of it cannot be read."""
    import pandas as pd

    base = out / name

    def read_base() -> tuple[Any, int]:
        try:
            return pd.read_parquet(base), parts_upto(base)
        except Exception as err:  # pyarrow's errors for a truncated or foreign file
            raise DamagedTable(f"{base}: cannot be read, it is damaged ({_damage(err)}); `hpbench search STUDY --out {out} --resume` "
                               f"rebuilds it from its copy ({name}{PREV})") from None

    def part_damaged(path: Path, err: BaseException) -> None:
        raise DamagedTable(f"{path}: cannot be read, it is damaged ({_damage(err)}); `hpbench search STUDY --out {out} --resume` "
                           f"drops it (the trials it alone recorded run again)") from None

    frame = _assemble(out, name, read_base, part_damaged)
    if frame is None:
        raise FileNotFoundError(f"no results table at {base} (run `hpbench search` first)")
    return frame


@dataclass(frozen=True, kw_only=True)
class Repaired:
    """A table read for a resume: ``frame`` (None: no intact version of its base), what was
    repaired (``notes``), the damaged files (moved aside by the search) and, with no frame, what
    is wrong with the base (``error``)."""

    frame: Any
    notes: list[str] = field(default_factory=list)
    damaged: list[Path] = field(default_factory=list)
    error: str = ""


def read_table_repairing(out: Path, name: str, columns: tuple[str, ...]) -> Repaired:
    """Table ``name`` for a resume: a damaged base (unreadable, or without ``columns``) is
    rebuilt from its copy ``<name>.prev``; a damaged part is dropped (the rows it alone updated
    keep their earlier versions)."""
    import pandas as pd

    notes: list[str] = []
    damaged: list[Path] = []
    base = out / name
    prev = base.with_name(name + PREV)

    def read(p: Path) -> tuple[Any, int]:
        df = pd.read_parquet(p)
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"missing the columns {missing}")
        return df, parts_upto(p)

    def read_base() -> tuple[Any, int]:
        try:
            return read(base)
        except FileNotFoundError:
            raise
        except Exception as err:  # pyarrow's errors for a truncated or foreign file, and ours
            damage = _damage(err)
        try:
            found = read(prev)
        except Exception:
            raise _NoIntactBase(damage) from None
        notes.append(f"{name} was damaged ({damage}); rebuilt from {prev.name}, its copy (the damaged file is kept as {name}.damaged)")
        damaged.append(base)
        return found

    def part_damaged(path: Path, err: BaseException) -> None:
        notes.append(f"{PARTS_DIR}/{path.name} was damaged ({_damage(err)}); dropped: the rows it alone updated keep their earlier "
                     f"versions, the trials it alone finished run again (the file is kept as {path.name}.damaged)")
        damaged.append(path)

    try:
        frame = _assemble(out, name, read_base, part_damaged)
    except _NoIntactBase as err:
        return Repaired(frame=None, error=str(err))
    return Repaired(frame=frame, notes=notes, damaged=damaged)


class _NoIntactBase(Exception):
    pass


def _assemble(out: Path, name: str, read_base: Callable[[], tuple[Any, int]],
              part_damaged: Callable[[Path, BaseException], None]) -> Any:
    """The base and the parts it does not hold, merged (None: neither exists)."""
    import pyarrow.parquet as pq

    for _ in range(_RETRIES):
        parts = list_parts(out, name)
        base, upto = None, 0
        if (out / name).is_file():
            try:
                base, upto = read_base()
            except FileNotFoundError:  # replaced at this moment
                continue
        elif not parts:
            return None
        tables = []
        try:
            for seq, path in parts:
                if seq > upto:
                    try:
                        tables.append(pq.read_table(path))
                    except FileNotFoundError:
                        raise
                    except Exception as err:
                        part_damaged(path, err)
        except FileNotFoundError:  # merged into a larger part, or compacted, as we read: list them again
            continue
        return base if not tables else merge(base, tables, name)
    raise DamagedTable(f"{out / name}: its parts kept changing while it was read ({_RETRIES} tries); read it again")


def merge(base: Any, parts: list[Any], name: str) -> Any:
    """Replay the ``base`` DataFrame (or None) and then the ``parts`` (pyarrow tables) in order,
    the latest version of each row winning; the result is typed and ordered as one whole-table
    write of those rows would be (:mod:`hpbench.results.tables`)."""
    from hpbench.results.tables import epochs_frame, trials_frame

    keys = KEYS[name]
    columns: dict[str, None] = {}
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    if base is not None:
        columns.update(dict.fromkeys(base.columns))
        for r in base.to_dict("records"):
            row = plain_row(r)
            rows[tuple(row[k] for k in keys)] = row
    for table in parts:  # a part's values come back exactly as the store held them (pyarrow's Python values)
        columns.update(dict.fromkeys(table.column_names))
        for row in table.to_pylist():
            rows[tuple(row[k] for k in keys)] = row
    found = list(rows.values())
    df = trials_frame(found, []) if name == TRIALS else epochs_frame(found)
    return df[[c for c in columns if c in df.columns] + [c for c in df.columns if c not in columns]]


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back from a table as plain Python values (``pd.NA`` -> None, numpy scalars ->
    their Python value), as the store holds them."""
    import pandas as pd

    out = {}
    for k, v in row.items():
        if v is pd.NA or v is pd.NaT:
            v = None
        elif getattr(v, "ndim", 0):  # a list column's value: a numpy array
            v = v.tolist()
        elif hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out
