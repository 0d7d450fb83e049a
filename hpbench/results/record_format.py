"""The format of a results folder, as its ``study.json`` records it (``"format"``), and the
hpbench that wrote it (``"hpbench_version"``).

A folder of a newer format was written by a newer hpbench: this version reads it (warning once
that it may read it incompletely), but never continues it, which would rewrite its record in the
older format and drop what this version does not know (Optuna refuses a storage set up by a
newer schema the same way). A record without a format is of the oldest one (every hpbench before
the format was recorded wrote it so).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench._version import __version__

# study.json's format: from 2 on, a record holds every key its study set, so a key it lacks was not
# set (model.dropout added later is a change); before, a key could be missing because the hpbench
# that wrote it did not know the key yet (hpbench.results.study_changes).
RECORD_FORMAT = 2
OLDEST_FORMAT = 1  # a record without "format": written before it was recorded
FORMAT_KEY = "format"
VERSION_KEY = "hpbench_version"  # the hpbench that wrote the record (a resume's rewrite: the one that continued it)


class NewerFormatWarning(UserWarning):
    """A results folder written by a newer hpbench (its format is newer than this version's)."""


def written_by() -> dict[str, Any]:
    """The record's version keys, as this hpbench writes them."""
    return {FORMAT_KEY: RECORD_FORMAT, VERSION_KEY: __version__}


def record_format(record: Mapping[str, Any], *, path: Path | str) -> int:
    """The record's format: :data:`OLDEST_FORMAT` without one; ``ValueError`` naming ``path``,
    the key, the rule and the value for one that is not a whole number (a hand edit)."""
    value = record.get(FORMAT_KEY, OLDEST_FORMAT)
    if isinstance(value, bool) or not isinstance(value, int) or value < OLDEST_FORMAT:
        raise ValueError(f"{path}: {FORMAT_KEY}: must be the whole number of the results format hpbench wrote (this version "
                         f"writes {RECORD_FORMAT}), but got {value!r}")
    return value


def newer_than_this(record: Mapping[str, Any], *, path: Path | str) -> str | None:
    """What to say of a record of a format newer than this version's (``None`` otherwise, also
    for a format that is not a whole number: a reader reads it as the oldest)."""
    try:
        found = record_format(record, path=path)
    except ValueError:
        return None
    if found <= RECORD_FORMAT:
        return None
    by = record.get(VERSION_KEY)
    who = f"hpbench {by}" if isinstance(by, str) and by else "a newer hpbench"
    return f"{path}: written by {who} in results format {found}; this hpbench ({__version__}) knows format {RECORD_FORMAT} and older"


def check_continuable(record: Mapping[str, Any], *, path: Path | str) -> str | None:
    """Why a search must not continue the folder of ``record`` (``None``: it may): a format newer
    than this version's, or one that is not a whole number (``ValueError``)."""
    record_format(record, path=path)
    newer = newer_than_this(record, path=path)
    if newer is None:
        return None
    return (f"{newer}: continuing it here would rewrite it in format {RECORD_FORMAT} and drop what this version does not "
            "know; continue it with that hpbench, or use --out DIR for a new results directory")


# The records a process has warned of: a command reads a folder's record several times (the
# command, then the API under it, then its tables), and Python's own once-per-line registry is
# cleared whenever any library changes the warning filters (pandas, torch do on import).
_warned: set[str] = set()


def warn_if_newer(record: Mapping[str, Any], *, path: Path | str) -> None:
    """Warn (:class:`NewerFormatWarning`) that a folder read was written by a newer hpbench, once
    per folder and process."""
    newer = newer_than_this(record, path=path)
    key = str(Path(path).resolve())
    if newer is not None and key not in _warned:
        _warned.add(key)
        warnings.warn(f"{newer}: read as format {RECORD_FORMAT}, what the newer format added is not shown",
                      NewerFormatWarning, stacklevel=1)
