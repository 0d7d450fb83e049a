"""What earlier searches on this machine measured, kept next to the device model's cache
(``~/.cache/hpbench/devices/<host>-searches.json``).

Every search (``hpbench search`` and ``hpbench.search``) appends one record at its end
(:func:`hpbench.cost.record.search_record`): its
start-up, a fresh worker's start, the per-trial set-up and turnover, the measured / predicted
seconds per epoch, when its early-stopped trials had their best epoch, its after-search parts,
the contention it was priced at (a probe taken as it started, before its own load, as
``hpbench estimate`` takes one) and the one its trials' workers met, and the live ETA it showed. The command adds its final table's and
its exit's seconds. The newest :data:`KEEP` records are kept; the file is replaced atomically,
and each read-modify-write holds a lock on ``<history>.lock`` (:func:`_locked`), so that two
searches ending at the same moment keep both records.

:mod:`hpbench.cost.learned` turns them into :class:`~hpbench.cost.figures.Figures` (the
wall-time figures; :func:`figures` here is its).

Each record names the device model its predictions came from (:class:`ModelTag`: the cached
model's schema and calibration time).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench.cost import model_check
from hpbench.cost.device import SCHEMA as MODEL_SCHEMA
from hpbench.cost.learned import (  # noqa: F401  (the figures read from the history: history.figures, as before)
    EARLY_MIN_TRIALS,
    OF_THE_MODEL,
    RECENT,
    early_trials,
    family_speeds,
    figures,
    free_first,
    importance,
    measured,
    record_contention,
)
from hpbench.cost.ops import COUNT_RULES
from hpbench.results.files import atomic_write_json

KEEP = 200  # records kept
# A record's ETA trace (one point per trial end, :meth:`hpbench.dispatch.eta.SearchClock.note`) keeps at most this many
# points, evenly spread over the search: a 2,000-trial search's 2,090 points made its record 135 KB, and the
# history (rewritten whole by each command, twice: the record, then the report's and the exit's seconds) 5.6 MB,
# 0.2 s a write, inside the final table's seconds the ETA prices (1-trial studies' report 0.55 -> 0.95 s)
TRACE_POINTS = 256
# ... and at most this many of its per-trial figures (where early stopping found each trial's best epoch, with the
# rate and batch size it ran at; where a trial without it ended): a long search's, its distribution's quantiles
FRACTIONS_KEPT = 256
_ALIGNED = ("best_fractions", "best_lrs", "best_batches")  # one entry per trial, in the same order
RECENT_WINDOW_S = 900.0  # searches whose contention probe still tells the machine's state
SCHEMA = 1
PROBE_NICE = "workers"  # the records whose contention was probed at the trials' priority (hpbench.cost.clock)
MIN_SAME_PRIORITY = 3  # records at this nice before they replace the others (one record is one load's)


def default_cache_dir() -> Path:
    """Where this machine's device models (:mod:`hpbench.cost.calibrate`) and search history are
    kept: ``$XDG_CACHE_HOME/hpbench/devices`` (``~/.cache/hpbench/devices`` when it is unset or
    empty). Here, not in the calibration, so that the driver reads it without importing torch."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "hpbench" / "devices"


def device_cache_file(cache_dir: Path, device: str, threads: int) -> Path:
    """Where the model of ``device`` at ``threads`` threads is cached (:mod:`hpbench.cost.calibrate`)."""
    return cache_dir / f"{platform.node() or 'host'}-{device.replace(':', '')}-t{threads}.json"


def device_cache_files(cache_dir: Path) -> list[Path]:
    """Every device model of this host cached in ``cache_dir`` (:func:`device_cache_file`'s names)."""
    return sorted(cache_dir.glob(f"{platform.node() or 'host'}-*-t*.json")) if cache_dir.is_dir() else []


@dataclass(frozen=True, kw_only=True)
class ModelTag:
    """The device model a search's predictions came from: its schema and when it was calibrated,
    and the rules its steps were counted by (:data:`hpbench.cost.ops.COUNT_RULES`)."""
    schema: int
    measured_at: float
    rules: int = COUNT_RULES

    def to_dict(self) -> dict[str, float]:
        return {"schema": self.schema, "measured_at": self.measured_at, "rules": self.rules}

    def measured(self, r: Mapping[str, Any]) -> bool:
        """Whether record ``r`` was measured against this model. A record from before records named
        their model (none named) counts when its search started after this model was calibrated:
        no other model was in the cache then (this one is the newest). A record that names no
        counting rules was counted by the first ones."""
        m = r.get("model")
        if isinstance(m, Mapping):
            return m.get("schema") == self.schema and m.get("measured_at") == self.measured_at and m.get("rules", 1) == self.rules
        started = r.get("started_at", r.get("at"))
        return (m is None and self.rules == 1 and self.measured_at > 0 and isinstance(started, (int, float))
                and started >= self.measured_at)


def model_tag(cache_dir: Path, *, device: str, threads: int) -> ModelTag | None:
    """The tag of the model cached for ``device`` (``auto``: CUDA's when cached, else the CPU's),
    read without torch (the driver's); None when there is none this version uses (the figures then
    read every record): a model the calibration's load refuses, of an older hpbench's schema or
    another identity, is no model here either (:mod:`hpbench.cost.model_check`, one rule)."""
    return cached_model(cache_dir, device=device, threads=threads)[0]


def cached_model(cache_dir: Path, *, device: str, threads: int) -> tuple[ModelTag | None, model_check.Verdict]:
    """:func:`model_tag`, with the verdict on the cached model: why it is refused when it is (the
    first refused file's, as ``auto`` tries CUDA's then the CPU's; missing when none is cached)."""
    first = model_check.Verdict(refusal=model_check.Refusal.MISSING)
    for target in (("cuda:0", "cpu") if device == "auto" else ("cuda:0" if device == "cuda" else device,)):
        seen = model_check.read(device_cache_file(cache_dir, target, threads), model_check.driver_identity(target))
        if seen.model is not None:
            return ModelTag(schema=MODEL_SCHEMA, measured_at=float(seen.model.measured_at)), seen
        if first.refusal is model_check.Refusal.MISSING:
            first = seen
    return None, first


def study_model(cache_dir: Path, study: Any) -> ModelTag | None:  # the model of the study's device at its trials' threads
    return study_cached(cache_dir, study)[0]


def study_cached(cache_dir: Path, study: Any) -> tuple[ModelTag | None, model_check.Verdict]:  # ... with its verdict (cached_model)
    return cached_model(cache_dir, device=str(study.config["train"].get("device", "cpu")), threads=max(1, int(study.resources.cpus_per_trial)))


def tag_of(measured_at: float) -> ModelTag:  # a model of this version (measured_at 0, hypothetical: no record matches)
    return ModelTag(schema=MODEL_SCHEMA, measured_at=float(measured_at))


def history_file(cache_dir: Path) -> Path:  # this machine's search history
    return cache_dir / f"{platform.node() or 'host'}-searches.json"


def load(cache_dir: Path) -> list[dict[str, Any]]:
    try:  # the records, oldest first ([] when there is no readable history)
        data = json.loads(history_file(cache_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    records = data.get("searches", []) if isinstance(data, dict) else []
    return [r for r in records if isinstance(r, dict) and r.get("schema") == SCHEMA]


def niceness() -> int:
    """This process's scheduling priority (``nice``; 0 where it cannot be read)."""
    try:
        return os.nice(0)
    except (AttributeError, OSError):
        return 0


def at_this_priority(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The records of searches run at this process's ``nice`` whose contention was probed as this
    version probes it (:data:`PROBE_NICE`); else those at this nice; else all of them (each
    once there are :data:`MIN_SAME_PRIORITY`). A search at nice 19 beside busy processes starts
    and runs several times slower than one at nice 0 (here, test runs at nice 19 in the history
    made the quickstart's estimate +76%), and figures divided by one probe's contention do not
    mix with another's."""
    nice = niceness()
    for keep in (lambda r: r.get("nice") == nice and r.get("probe_nice") == PROBE_NICE, lambda r: r.get("nice") == nice):
        same = [dict(r) for r in records if keep(r)]
        if len(same) >= MIN_SAME_PRIORITY:
            return same
    return [dict(r) for r in records]


def thin_trace(points: Sequence[Any], n: int = TRACE_POINTS) -> list[Any]:
    """At most ``n`` of ``points``, evenly spread by position, the first and the last among them."""
    if len(points) <= n:
        return list(points)
    idx = sorted({round(i * (len(points) - 1) / (n - 1)) for i in range(n)})
    return [points[i] for i in idx]


def bound_trace(points: list[Any], n: int = TRACE_POINTS) -> None:
    """A live trace, kept within ``2 n`` points as it grows: past that, every other point is dropped
    (the first and the last kept), so that what is kept stays evenly spread over the search."""
    if len(points) > 2 * n:
        del points[1:-1:2]


def slim(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` with its trace thinned (:func:`thin_trace`) and its per-trial figures kept to
    :data:`FRACTIONS_KEPT`, evenly spread over their sorted values (each best epoch's fraction with
    the rate and batch size it was seen at): what the figures read of them is their distribution.
    Every record is slimmed as the history is written (:func:`_write`); a short one as it is."""
    out = dict(record)
    if isinstance(out.get("eta"), list) and len(out["eta"]) > TRACE_POINTS:
        out["eta"] = thin_trace(out["eta"])
    best = out.get("best_fractions")
    if isinstance(best, list) and len(best) > FRACTIONS_KEPT:
        keep = thin_trace(sorted(range(len(best)), key=lambda i: (best[i], i)), FRACTIONS_KEPT)
        out.update({key: [out[key][i] for i in keep] for key in _ALIGNED if isinstance(out.get(key), list) and len(out[key]) == len(best)})
    ends = out.get("end_fractions")
    if isinstance(ends, list) and len(ends) > FRACTIONS_KEPT:
        out["end_fractions"] = thin_trace(sorted(ends), FRACTIONS_KEPT)
    return out


def _write(cache_dir: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """The history, compact (a cache: read by programs), each record slimmed (older records' too: :func:`slim`)."""
    atomic_write_json(history_file(cache_dir), {"searches": [slim(r) for r in records]}, compact=True)


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    """The history's read-modify-write, held against other processes' (an exclusive ``flock`` on
    ``<history>.lock`` beside it; unlocked where that file cannot be opened: a read-only cache is
    refused earlier, :mod:`hpbench.api.cache_check`). Two searches that read the history at once
    and each wrote it back whole lost one record (bug hunt s51h2)."""
    path = history_file(cache_dir).with_suffix(".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115  (held for the block)
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def append(cache_dir: Path, record: Mapping[str, Any]) -> None:
    with _locked(cache_dir):
        _write(cache_dir, [*load(cache_dir), dict(record)][-KEEP:])


def finish(cache_dir: Path, *, out: str, started_at: float, report_end: float, exit_s: float) -> bool:
    """The command's last parts, added to the record of its search (into ``out``, started at
    ``started_at``): ``report_s`` from the end of the search's phases (the test split included)
    to the end of the final table (closing the cost helper, the last table write, loading and
    printing the results), ``exit_s`` (shutting Ray down) and ``total_s``. False when the
    record is not there."""
    with _locked(cache_dir):
        records = load(cache_dir)
        for r in reversed(records):
            if r.get("out") == out and r.get("started_at") == started_at:
                if isinstance(r.get("phases_end_at"), (int, float)):
                    r["report_s"] = report_end - r["phases_end_at"]
                r.update(exit_s=exit_s, total_s=report_end + exit_s - started_at)
                _write(cache_dir, records)
                return True
    return False


def recent_probes(records: Sequence[Mapping[str, Any]], *, now: float, window_s: float = RECENT_WINDOW_S, n: int = 3) -> list[float]:
    """The contention probes of the last ``n`` searches that ran within ``window_s`` before
    ``now``: the machine's state over the last minutes, which one probe of a second misreads when
    a burst of other work passes (an estimate's probe read 4.1 where the search right after it
    read 1.8)."""
    return [float(r["probe"]) for r in records
            if isinstance(r.get("probe"), (int, float)) and now - float(r.get("at") or 0.0) <= window_s][-n:]


def blended_probe(probes: Sequence[float], records: Sequence[Mapping[str, Any]], *, now: float) -> float:
    """The median of this moment's ``probes`` and the recent searches' (:func:`recent_probes`)."""
    values = [*probes, *recent_probes(records, now=now)]
    return statistics.median(values) if values else 1.0
