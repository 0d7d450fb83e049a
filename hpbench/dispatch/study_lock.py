"""One live search per study name in a shared Optuna storage (``--storage postgresql://...``).

Two searches whose studies have the same name would record into one Optuna study, and each
would settle the other's running trials as failed when it starts (those trials look exactly
like the ones a killed driver leaves behind). So a search holds its study's name in the storage
while it runs; a second search of that name is refused, and only the holder settles stale trials.
Searches with other names never touch each other's trials.

The hold is a lock that dies with its holder, as the results folder's is
(:mod:`hpbench.results.lock`): on PostgreSQL a session advisory lock on a dedicated connection
(the server drops it when the connection closes: a killed driver frees it), on MySQL/MariaDB a
named lock (``GET_LOCK``), on SQLite ``flock`` on a file beside the database. Another database
has none to offer: the search then relies on the names being distinct, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from hpbench.dispatch.storage import sqlite_file


class StudyNameBusy(RuntimeError):
    """Another live search records a study of this name in the same Optuna storage."""


def _message(study_name: str, url: str) -> str:
    safe = url.split("@")[-1] if "@" in url else url  # no password in messages
    return (f"another search is recording study {study_name!r} in the Optuna storage {safe}; wait for it, or give this "
            "study another [study] name (or --storage for another database)")


def _key(study_name: str) -> int:
    """A signed 64-bit key for the study name (PostgreSQL's advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"hpbench:{study_name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def hold_study_name(url: str, study_name: str) -> Iterator[None]:
    """Hold ``study_name`` in the storage at ``url`` for the duration, or raise StudyNameBusy."""
    if url.startswith("sqlite"):
        with _sqlite(url, study_name):
            yield
        return
    dialect = url.split(":", 1)[0].split("+", 1)[0]
    if dialect not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    conn = engine.connect()
    try:
        if dialect == "postgresql":
            held = conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(study_name)}).scalar()
        else:
            held = conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, 0)"), {"n": f"hpbench:{study_name}"[:64]}).scalar() == 1
        conn.commit()
        if not held:
            raise StudyNameBusy(_message(study_name, url))
        yield
    finally:
        conn.close()  # ends the session: the server drops the lock
        engine.dispose()


@contextlib.contextmanager
def _sqlite(url: str, study_name: str) -> Iterator[None]:
    path = sqlite_file(url)  # the file without the URL's options (?timeout=30 named the lock file before)
    if path is None:  # in memory (refused as --storage: hpbench.dispatch.storage.url_problem): no other process sees it
        yield
        return
    digest = hashlib.sha256(study_name.encode()).hexdigest()[:16]
    lock = Path(f"{path}.hpbench-{digest}.lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyNameBusy(_message(study_name, url)) from None
        yield
    finally:
        os.close(fd)

