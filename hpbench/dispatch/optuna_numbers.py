"""The trials table's ``optuna_trial``: each search trial's number in the study's Optuna storage
(``optuna.db`` or ``--storage``: what ``optuna-dashboard`` and ``optuna.load_study`` show).

hpbench numbers its trials as they start (``trial``; Ray Tune's in the order its searcher asked them,
:mod:`hpbench.dispatch.ask_order`). The searcher asks its trials from a copy of
the study in memory, and the storage receives each one whole once it has finished
(:mod:`hpbench.dispatch.write_behind`), numbering them in that order: neither order is the other
(with ``max_concurrent = 2``, Optuna's trial 0, the default configuration, was hpbench's trial 1 in
4 of 8 small searches, bug hunt s48/h1). The driver notes which in-memory Optuna trial each search
trial was asked as (Tune's searcher, :mod:`hpbench.dispatch.searchers`; the early trials,
:mod:`hpbench.dispatch.early`), and once the storage has every trial, their numbers there go in
the table. Repeats and device re-runs are not Optuna trials: NA.

Each trial the storage receives carries its row's ``trial_id`` as the user attribute
:data:`ROW_ATTR` (written with the trial, in the same commit), so the column is rebuilt from the
storage alone: a ``kill -9`` skipped the end of the search, where the numbers were written, and
every trial run before it stayed NA for good, resumed or not (bug hunt s50/h3, finding 2). A
resumed search fills them as its storage opens (:func:`fill_from_storage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpbench.results.columns import OPTUNA_TRIAL
from hpbench.results.status import missing

if TYPE_CHECKING:
    from hpbench.results.store import ResultsStore

ROW_ATTR = "hpbench_trial_id"  # an Optuna trial's user attribute: the trials table's trial_id it ran as


class AskedTrials:
    """Results-table trial id -> the id of the Optuna trial it was asked as, in the searcher's
    in-memory storage. Picklable (Tune saves the searcher, with this, in its experiment snapshot)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def note(self, trial_id: str, optuna_trial: Any) -> None:
        """``optuna_trial``: an ``optuna.trial.Trial`` (or FrozenTrial) asked for ``trial_id``."""
        self.ids[trial_id] = int(optuna_trial._trial_id)

    def annotate(self, store: ResultsStore, numbers: Mapping[int, int]) -> None:
        """Each noted trial's ``optuna_trial`` column: its number in the storage (``numbers``: in-memory
        trial id -> the storage's number, :attr:`hpbench.dispatch.write_behind.WriteBehind.numbers`);
        a trial the storage never received (its copy failed) stays NA."""
        for trial_id, asked in self.ids.items():
            number = numbers.get(asked)
            if number is not None and trial_id in store.trials:
                store.annotate(trial_id, {OPTUNA_TRIAL: int(number)})


def fill_from_storage(store: ResultsStore, storage: Any, study_name: str) -> int:
    """The rows of ``store`` without an ``optuna_trial`` (an earlier driver killed before it wrote
    them) numbered from the trials ``storage`` holds of ``study_name`` that carry their ``trial_id``
    (:data:`ROW_ATTR`); returns how many. ``storage``'s numbers must be the file's: a write-behind
    storage just loaded from it (:mod:`hpbench.dispatch.write_behind`), or the file's own."""
    try:
        sid = storage.get_study_id_from_name(study_name)
    except KeyError:
        return 0
    numbers = {t.user_attrs[ROW_ATTR]: t.number for t in storage.get_all_trials(sid, deepcopy=False) if ROW_ATTR in t.user_attrs}
    filled = 0
    for trial_id, number in numbers.items():
        row = store.trials.get(trial_id)
        if row is not None and missing(row.get(OPTUNA_TRIAL)):
            store.annotate(trial_id, {OPTUNA_TRIAL: int(number)})
            filled += 1
    return filled
