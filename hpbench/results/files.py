"""Atomic file writes: every file in a results directory parses at any moment, also right
after a kill (write to a temporary file in the same folder, fsync, rename over). A write that
fails (the disk is full) leaves the previous file as it was.

The results tables also keep their previous version (``trials.parquet.prev``): a table damaged
from outside (a truncated copy, a disk error) is rebuilt from it when a search resumes
(:func:`hpbench.results.resume.load_previous`).

Where a write may go is checked here too, before anything is written: a folder
(:func:`check_writable`: a search's or a training's ``--out``, the report's figures; and
:func:`check_fresh_folder`: not a folder of the user's own files) and a file a command writes
beside or outside the results (:func:`check_output`: an export, a study file)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hpbench.errors import StudyError
from hpbench.results.record_format import warn_if_newer
from hpbench.results.train_record import held

TRIALS = "trials.parquet"
EPOCHS = "epochs.parquet"
STUDY_TOML = "study.toml"
STUDY_JSON = "study.json"
OPTUNA_DB = "optuna.db"
WEIGHTS_DIR = "weights"  # the trials' weights files (hpbench.results.weights) and the record of those deleted (hpbench.results.deleted_weights)
PREV = ".prev"  # suffix of a table's previous version


OWN_FILES = (TRIALS, EPOCHS, STUDY_TOML, STUDY_JSON, OPTUNA_DB)  # and their .prev, optuna.db's journal, the hidden files, the subfolders


class DamagedTable(ValueError):
    """A results table that exists but cannot be read (truncated, not parquet): raised by
    :func:`hpbench.load`; a resumed search rebuilds it from its previous write."""


class DamagedRecord(ValueError):
    """A results directory's ``study.json`` that cannot be read or is not a study record (a
    truncated copy, a file edited by hand): raised by :func:`read_record`."""


def read_record(results: Path) -> dict[str, Any]:
    """The study record (``study.json``) of the results directory ``results``: what every reader
    needs checked once (its ``name``, ``settings.metric`` and ``settings.mode``, a ``space`` table);
    one of a newer hpbench's format is read with a warning (:mod:`hpbench.results.record_format`).
    ``FileNotFoundError`` without one, :class:`DamagedRecord` naming the file and what is wrong."""
    path = results / STUDY_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{results}: not a results directory (no {STUDY_JSON}; run `hpbench search` first)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DamagedRecord(f"{path}: cannot read the study record, it is damaged: {err}") from None
    if not isinstance(record, dict):  # a folder's content is never trusted
        raise DamagedRecord(f"{path}: not a study record written by hpbench (it holds {type(record).__name__})")
    settings = record.get("settings")
    missing = [k for k, ok in (("name", isinstance(record.get("name"), str)), ("settings", isinstance(settings, dict)),
                               ("space", isinstance(record.get("space", {}), dict))) if not ok]
    if not missing and isinstance(settings, dict):
        missing = [f"settings.{k}" for k in ("metric", "mode") if not isinstance(settings.get(k), str)]
    if missing:
        raise DamagedRecord(f"{path}: not a study record written by hpbench, or a damaged one (no valid {', '.join(missing)})")
    warn_if_newer(record, path=path)  # a newer hpbench's folder is read, saying so once
    return record


def own_file(results: Path, path: Path) -> bool:
    """Whether ``path`` is one of the results directory's own files (a table or its previous
    version, the study record and copy, the Optuna database, a hidden file, anything in a
    subfolder such as ``weights/``): what a command's output must never replace."""
    try:
        inside = path.resolve().relative_to(results.resolve())
    except ValueError:
        return False
    parts = inside.parts
    if len(parts) != 1:
        return len(parts) > 1  # in a subfolder (weights/, parts/, .incoming/); no parts: the directory itself
    name = parts[0]
    return name.startswith(".") or any(name == own or name.startswith(own + PREV) or name.startswith(own + "-") for own in OWN_FILES)


MIN_FREE_BYTES = 64 * 2**20  # the tables, Optuna's database and Tune's checkpoints of a small study


class OutputError(RuntimeError):
    """An output location that cannot take what is to be written there (missing permission, full,
    not a folder): raised by :func:`check_writable` before anything is written."""


def check_writable(out: Path, *, key: str = "--out", file: bool = False, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail (an :class:`OutputError` naming ``key``, ``out`` and why) before anything is written when
    ``out`` is not a writable folder with ``min_free_bytes`` free. A folder not made yet is judged by
    its nearest existing parent: a new results directory is only created once the search starts.
    ``file``: ``out`` is a file, and its folder is checked, since an atomic write makes a temporary
    file beside it and renames it over (a file the user may not write can still be replaced)."""
    folder = out.parent if file else out
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"{key} {out}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{key} {out}: {probe} is not writable")
    free = shutil.disk_usage(probe).free
    if free < min_free_bytes:
        raise OutputError(f"{key} {out}: only {free / 2**20:.1f} MiB free at {probe}, need at least {min_free_bytes / 2**20:.0f} MiB")
    if probe == folder:  # an existing directory: really write (read-only mounts may pass os.access); a unique name, for two commands at once
        try:
            fd, tmp = tempfile.mkstemp(prefix=".hpbench.probe.", dir=folder)
            os.close(fd)
            os.unlink(tmp)
        except OSError as err:
            raise OutputError(f"{key} {out}: cannot write there: {err.strerror or err}") from None


def check_fresh_folder(out: Path, *, kind: str, key: str = "--out") -> None:
    """Refuse (an :class:`OutputError` naming ``key``, ``out``, the rule and the files) an existing
    folder that holds files hpbench did not write: a command writing its results there replaced the
    user's own (a ``study.toml``) and mixed its files among theirs. The caller accepts its own
    ``kind`` of folder first (a search's results, holding ``study.json``). Hidden entries (hpbench's
    lock, a ``.DS_Store``) are not counted: a folder of only those is empty. A folder ``hpbench
    train`` wrote is refused as such (:mod:`hpbench.results.train_record`), not as the user's files."""
    if not out.is_dir():
        return
    try:
        foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise OutputError(f"{key} {out}: cannot list it: {err.strerror or err}") from None
    if foreign:
        shown = ", ".join(foreign[:6]) + (f" and {len(foreign) - 6} more" if len(foreign) > 6 else "")
        training = held(out)  # hpbench train's folder (its metrics.json): named as such, not as the user's files
        what = f"{training.describe()} written by hpbench train" if training is not None else "files hpbench did not write"
        raise OutputError(f"{key} {out}: must be a new or empty folder or {kind}, but it holds {what} ({shown}); use another {key}")


def check_output(results: Path, path: Path, *, source: str, key: str) -> None:
    """Refuse, before anything is written, an output file of a command that reads the results
    directory ``results``: a directory or one of the results' own files (:func:`own_file`) with a
    :class:`~hpbench.errors.StudyError` naming ``key`` and the path, a place that cannot be written
    (its folder is a file, read-only) with :func:`check_writable`'s :class:`OutputError`, as the
    search's ``--out`` is refused. A missing parent folder is fine: the atomic writes create it."""
    if path.is_dir():
        raise StudyError(source=source, key=key, value=str(path), rule="must be a file path, not a directory")
    if own_file(results, path):
        raise StudyError(source=source, key=key, value=str(path),
                         rule=f"is a file of the results directory {results} (writing it would replace the search's own); write elsewhere")
    check_writable(path, key=key, file=True, min_free_bytes=0)  # a study file or an exported table: no room is asked ahead


def disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` (or an error it was raised from) says the disk is full."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(err) or "database or disk is full" in str(err):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_bytes(path: Path, data: bytes, *, keep_previous: bool = False) -> None:
    """Write ``path`` atomically; ``keep_previous``: the version it replaces stays as ``<path>.prev``
    (a hard link: ``path`` itself is never missing, for readers while a search runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.is_file():
            _keep(path, path.with_name(path.name + PREV))
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None and err.errno is not None:  # a write's ENOSPC names no file: name the one being written
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _keep(path: Path, prev: Path) -> None:
    """``prev`` becomes the current ``path`` (a hard link renamed over, or a copy where the file
    system has no hard links)."""
    link = prev.with_name(f".{prev.name}.link")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:
        shutil.copyfile(path, link)
    os.replace(link, prev)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, *, compact: bool = False) -> None:
    """``obj`` as JSON, atomically: indented for a reader, or ``compact`` (a cache read by programs only)."""
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    atomic_write_text(path, json.dumps(obj, sort_keys=True, default=str, **layout) + "\n")


def atomic_write_parquet(path: Path, frame: Any, *, keep_previous: bool = False) -> None:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue(), keep_previous=keep_previous)
