"""The search history's read-modify-writes are locked: searches in several processes that append
their records at once keep every record (each rewrites the history whole; unlocked, two that read
it at the same moment lost one record: bug hunt s51h2)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from hpbench.cost import history

WRITERS, EACH = 4, 15


def _append_many(cache: str, writer: int) -> None:
    for i in range(EACH):
        history.append(Path(cache), {"schema": history.SCHEMA, "study": f"w{writer}-{i}", "nice": 0})


def test_concurrent_appends_keep_every_record(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * WRITERS
    studies = sorted(r["study"] for r in history.load(tmp_path))
    assert studies == sorted(f"w{w}-{i}" for w in range(WRITERS) for i in range(EACH))


def _finish_own(cache: str, writer: int) -> None:
    history.finish(Path(cache), out=f"out{writer}", started_at=float(writer), report_end=10.0 + writer, exit_s=1.0)


def test_concurrent_finishes_each_complete_their_own_record(tmp_path):
    for w in range(WRITERS):
        history.append(tmp_path, {"schema": history.SCHEMA, "study": "s", "out": f"out{w}", "started_at": float(w), "nice": 0})
    ctx = mp.get_context("fork")
    for _ in range(5):  # repeated: an unlocked finish loses another's update only when the two overlap
        procs = [ctx.Process(target=_finish_own, args=(str(tmp_path), w)) for w in range(WRITERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        records = history.load(tmp_path)
        assert [r.get("total_s") for r in records] == [11.0] * WRITERS
        for r in records:
            del r["total_s"], r["exit_s"]
        history._write(tmp_path, records)
