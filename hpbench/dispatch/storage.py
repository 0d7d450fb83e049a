"""The Optuna storage a study is recorded in (searcher history, intermediate values).

By default a SQLite file in the results directory, opened in WAL mode with
``synchronous=NORMAL``: measured here, that cuts a ``trial.report`` from 17 ms to 0.7 ms and
an ask+tell from 98 ms to 27 ms — the driver does both for every epoch and trial, so plain
SQLite's fsync per commit was the largest per-trial overhead of a search. WAL with NORMAL
sync survives a killed process (only a power loss can drop the last commits). Any other
SQLAlchemy URL (e.g. PostgreSQL) is used as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def open_storage(url: str) -> Any:
    import optuna
    import sqlalchemy

    storage = optuna.storages.RDBStorage(url)
    if url.startswith("sqlite"):

        @sqlalchemy.event.listens_for(storage.engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        storage.engine.dispose()  # reconnect with the pragmas
    return storage
