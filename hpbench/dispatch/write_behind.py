"""The searcher's Optuna storage during a search: Optuna's in-memory storage, every write copied
to the study's own storage (``optuna.db``, or the ``--storage`` URL) by one background thread.

Profiled on the race's digits study (py-spy, 60 trials): about half of the driver's time in
Tune's loop went to SQLAlchemy round trips of the SQLite storage: each ask re-reads the trials
changed since the last one, each sampled parameter is its own commit (8 per trial), each tell
and each reported epoch another. The sampler now reads and writes memory, as plain Ray Tune's
``OptunaSearch`` does. The file receives each trial whole once it has finished (one commit:
parameters, values, intermediate values, attributes), in the order trials finish, so its trial
numbers follow that order; copying every write one by one instead still took half the driver's
CPU, on this thread (py-spy, 600 one-epoch trials). The trials still running or waiting when
the search ends are written as they are (a resumed search marks them failed, as before).

The results tables are the truth (:mod:`hpbench.results.store`, written behind, throttled): a
trial the search's own code asked (Tune's searcher, an early trial) is tied to its row
(:meth:`WriteBehind.owned_by`), and its end reaches the file only once the tables on disk hold
that row's end (:meth:`WriteBehind.tables_wrote`, which the store calls after each write). The
file was ahead of the tables: a ``kill -9`` in the second after a trial ended left ``optuna.db``
with finished trials the tables had as running or not at all (bug hunt s48/h2, finding 1); the
resumed search ran them again and the file ended with more finished trials than the study.

What it costs: a killed driver loses the trials that were running, and may lose the last
finished ones still queued or waiting for their rows (the results tables keep every trial; a
resumed search's sampler learns from what the file holds). The file is complete once
:meth:`WriteBehind.close` returned; a trial whose row never ended there (interrupted, or a write
refused) is FAIL in it, as an interrupted trial is.
Only one live search writes a study (the results directory's lock; a shared storage's study
name is held: :mod:`hpbench.dispatch.study_lock`), so the memory copy stays the whole truth.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from optuna.exceptions import DuplicatedStudyError
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpbench.dispatch.optuna_numbers import ROW_ATTR

_log = logging.getLogger(__name__)
_STOP = object()


class WriteBehind(InMemoryStorage):  # type: ignore[misc]
    """``backing``'s study ``study_name`` (when it has one: a resumed search) copied into memory;
    from then on reads are served from memory and writes go to both, the backing's by a thread.
    ``backing`` may be a function that opens a new, empty storage: the thread calls it before
    its first write (nothing to copy into memory; a storage it cannot open is :attr:`failed`)."""

    _backing: BaseStorage | None

    def __init__(self, backing: BaseStorage | Callable[[], BaseStorage], *, study_name: str) -> None:
        super().__init__()
        opener, self._backing = (None, backing) if isinstance(backing, BaseStorage) else (backing, None)
        self._copying = True  # writes are queued for the backing (until close)
        self._name = study_name
        self._study_ids: dict[int, int] = {}  # memory study id -> the backing's
        self._written: set[int] = set()  # memory trial ids the backing has (or has queued)
        self._study_of: dict[int, int] = {}  # memory trial id -> memory study id
        self._ops: queue.Queue[Any] = queue.Queue()
        self.failed: str | None = None  # the first write the backing refused (the file's copy stops there)
        self.numbers: dict[int, int] = {}  # memory trial id -> its number in the backing, once written (the trials table's optuna_trial)
        self._rows_lock = threading.Lock()  # the store's writer thread calls tables_wrote
        self._row_of: dict[str, int] = {}  # a results-table row -> the memory trial id waiting for its end
        self._waiting: set[int] = set()  # those trial ids
        self._held: dict[int, tuple[int, FrozenTrial]] = {}  # finished, waiting for their rows: id -> (study id, trial)
        self._rows: dict[int, str] = {}  # memory trial id -> its row (ROW_ATTR of its copy)
        if opener is None:
            self._load(study_name)
        else:
            self._ops.put((self._open, (opener,)))
        self._thread = threading.Thread(target=self._drain, name="hpbench-optuna-writes", daemon=True)
        self._thread.start()

    def _load(self, name: str) -> None:
        backing = self._backing
        assert backing is not None  # internal: set by __init__
        try:
            bsid = backing.get_study_id_from_name(name)
        except KeyError:
            return
        sid = super().create_new_study(backing.get_study_directions(bsid), name)
        self._study_ids[sid] = bsid
        for k, v in backing.get_study_user_attrs(bsid).items():
            super().set_study_user_attr(sid, k, v)
        for k, v in backing.get_study_system_attrs(bsid).items():
            super().set_study_system_attr(sid, k, v)
        for t in backing.get_all_trials(bsid, deepcopy=False):
            tid = super().create_new_trial(sid, template_trial=t)
            self._written.add(tid)
            self._study_of[tid] = sid

    # -- the copy ----------------------------------------------------------------------------------
    def _open(self, opener: Callable[[], BaseStorage]) -> None:
        self._backing = opener()

    def _queue(self, op: Callable[..., Any], *args: Any) -> None:
        if self._copying:
            self._ops.put((op, args))

    def _drain(self) -> None:
        while True:
            item = self._ops.get()
            try:
                if item is _STOP:
                    return
                op, args = item
                if self.failed is None:
                    op(*args)
            except Exception as err:  # the file's copy stops; the search goes on from memory
                self.failed = f"{type(err).__name__}: {err}"
                _log.warning("the Optuna storage stopped receiving the search's writes: %s", self.failed)
            finally:
                self._ops.task_done()

    def flush(self) -> None:
        """Wait until every write so far is in the backing storage."""
        if self._copying:
            self._ops.join()

    def close(self) -> BaseStorage | None:
        """Flush and stop the writer (later writes stay in memory only). Returns the backing
        storage, let go (None when it never opened, or closed before): the caller closes it
        (:func:`hpbench.dispatch.storage.close_storage`)."""
        if not self._copying:
            return None
        # still running or waiting: as they are. A copy: a thread still asking (an early trial's, when the search
        # stopped while Ray started) adds trials meanwhile ("dictionary changed size during iteration", seen)
        for tid, sid in list(self._study_of.items()):
            if tid not in self._written:
                self._write_trial(sid, tid)
        with self._rows_lock:  # their rows never ended on disk (interrupted, a write refused): FAIL, as an interrupted trial
            held, self._held = list(self._held.values()), {}
        for sid, trial in held:
            trial.state, trial.values = TrialState.FAIL, None
            self._queue(self._copy_trial, sid, trial)
        self._ops.put((self._settle, ()))
        self._ops.put(_STOP)
        self._thread.join()
        backing, self._copying, self._backing = self._backing, False, None
        return backing

    def __getstate__(self) -> dict[Any, Any]:
        """Tune pickles its searcher (with this storage) into its experiment snapshot: the memory
        copy only (hpbench resumes from its tables and the backing storage, never from that)."""
        state = super().__getstate__()
        for k in ("_backing", "_ops", "_thread", "_rows_lock", "_row_of", "_waiting", "_held", "_rows"):
            state.pop(k, None)
        state["_backing"], state["_copying"] = None, False
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._ops = queue.Queue()
        self._rows_lock, self._row_of, self._waiting, self._held, self._rows = threading.Lock(), {}, set(), {}, {}

    # -- the tables first --------------------------------------------------------------------------
    def owned_by(self, trial_id: int, row: str) -> None:
        """The trial ``trial_id`` (this storage's id, ``optuna.Trial._trial_id``) is the results
        tables' row ``row``: its end is copied once the tables on disk hold that row's end."""
        with self._rows_lock:
            self._row_of[row] = trial_id
            self._waiting.add(trial_id)
            self._rows[trial_id] = row

    def tables_wrote(self, rows: Iterable[str]) -> None:
        """The results tables on disk now hold the end of ``rows`` (:class:`~hpbench.results.store.
        ResultsStore`'s ``on_written``, on its writer thread): the trials held for them are copied."""
        with self._rows_lock:
            for row in rows:
                tid = self._row_of.pop(row, None)
                if tid is None:
                    continue
                self._waiting.discard(tid)
                held = self._held.pop(tid, None)
                if held is not None:  # else it is told after its row ended (an early trial's): copied as it finishes
                    self._queue(self._copy_trial, *held)

    # -- the backing's side of each write (on the writer thread, in the order they were made) ---
    def _settle(self) -> None:
        """The search is over: trials it left RUNNING (stopped by Ctrl-C, SIGTERM or a spent budget,
        never told an end) are FAIL in the backing, as a resumed search would mark them (they showed
        as running for good in optuna-dashboard). Their epochs are in the tables."""
        backing = self._b()
        try:
            sid = backing.get_study_id_from_name(self._name)
        except KeyError:
            return
        for t in backing.get_all_trials(sid, deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
            backing.set_trial_state_values(t._trial_id, state=TrialState.FAIL)

    def _b(self) -> BaseStorage:
        assert self._backing is not None  # internal: ops run once it is open (the first op, where it is opened here)
        return self._backing

    def _new_study(self, sid: int, directions: Sequence[StudyDirection], name: str) -> None:
        try:
            self._study_ids[sid] = self._b().create_new_study(directions, name)
        except DuplicatedStudyError:
            self._study_ids[sid] = self._b().get_study_id_from_name(name)

    def _copy_trial(self, sid: int, trial: FrozenTrial) -> None:
        """On the thread: ``trial`` (a copy of the memory trial) into the backing, its number there noted,
        and its row as its user attribute ROW_ATTR (the trials table's optuna_trial rebuilt from the
        file after a kill -9: :func:`hpbench.dispatch.optuna_numbers.fill_from_storage`)."""
        backing = self._b()
        row = self._rows.get(trial._trial_id)
        if row is not None:
            trial.user_attrs = {**trial.user_attrs, ROW_ATTR: row}
        self.numbers[trial._trial_id] = backing.get_trial_number_from_id(backing.create_new_trial(self._study_ids[sid], template_trial=trial))

    def _write_trial(self, sid: int, tid: int) -> None:
        self._written.add(tid)
        self._queue(self._copy_trial, sid, copy.deepcopy(self._get_trial(tid)))

    def _if_finished(self, tid: int) -> None:
        if tid in self._written or not self._get_trial(tid).state.is_finished():
            return
        with self._rows_lock:
            if tid in self._waiting:  # its row's end is not on disk yet: held till it is (tables_wrote)
                self._written.add(tid)
                self._held[tid] = (self._study_of[tid], copy.deepcopy(self._get_trial(tid)))
                return
        self._write_trial(self._study_of[tid], tid)

    # -- writes: memory now, the backing by the thread -----------------------------------------
    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        sid = super().create_new_study(directions, study_name)
        self._queue(self._new_study, sid, list(directions), self.get_study_name_from_id(sid))
        return sid

    def delete_study(self, study_id: int) -> None:
        super().delete_study(study_id)
        self._study_of = {t: s for t, s in self._study_of.items() if s != study_id}
        self._queue(lambda: self._b().delete_study(self._study_ids.pop(study_id)))

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_user_attr(study_id, key, value)
        self._queue(lambda: self._b().set_study_user_attr(self._study_ids[study_id], key, value))

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        super().set_study_system_attr(study_id, key, value)
        self._queue(lambda: self._b().set_study_system_attr(self._study_ids[study_id], key, value))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        tid = super().create_new_trial(study_id, template_trial)
        self._study_of[tid] = study_id
        self._if_finished(tid)  # a trial added whole (Optuna's add_trial)
        return tid

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        changed = bool(super().set_trial_state_values(trial_id, state, values))
        if changed:
            self._if_finished(trial_id)
        return changed
