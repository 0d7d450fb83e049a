"""The trials table's ``optuna_trial``: each search trial's number in the study's Optuna storage
(``optuna.db`` or ``--storage``: what ``optuna-dashboard`` and ``optuna.load_study`` show).

hpbench numbers its trials as they start (``trial``). The searcher asks its trials from a copy of
the study in memory, and the storage receives each one whole once it has finished
(:mod:`hpbench.dispatch.write_behind`), numbering them in that order: neither order is the other
(with ``max_concurrent = 2``, Optuna's trial 0, the default configuration, was hpbench's trial 1 in
4 of 8 small searches, bug hunt s48/h1). The driver notes which in-memory Optuna trial each search
trial was asked as (Tune's searcher, :mod:`hpbench.dispatch.searchers`; the early trials,
:mod:`hpbench.dispatch.early`), and once the storage has every trial, their numbers there go in
the table. Repeats and device re-runs are not Optuna trials: NA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpbench.results.columns import OPTUNA_TRIAL

if TYPE_CHECKING:
    from hpbench.results.store import ResultsStore


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
