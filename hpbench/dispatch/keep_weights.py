"""``[study] keep_weights = N``: the search deletes the weights files of the ended search trials
beyond the ``N`` best (at least ``repeats_top``) each time a trial ends (the recorder's
:meth:`~hpbench.dispatch.recorder.Recorder._end`) and once more when the command ends (the runner:
a resume with a smaller ``N`` trims the earlier run's files too). The rule is
:mod:`hpbench.results.keep`'s. Ray-free, torch-free."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpbench.results.deleted_weights import record_deleted
from hpbench.results.keep import n_kept, to_drop
from hpbench.results.store import ResultsStore
from hpbench.results.weights import weights_path
from hpbench.study.schema import Study


class WeightsKeeper:
    """Deletes the weights files a search does not keep, in the results folder ``out``: those beyond
    the ``keep_weights`` best (at least ``repeats_top``). Whether a trial has a file is looked at
    once, after its row ended (its weights are saved before). Each file is recorded as deleted, with
    both values, before it is deleted (:mod:`hpbench.results.deleted_weights`: what readers say)."""

    def __init__(self, *, out: Path, metric: str, mode: str, keep_weights: int, repeats_top: int) -> None:
        self.out, self.metric, self.mode = Path(out), metric, mode
        self.keep_weights, self.repeats_top = keep_weights, repeats_top
        self.n_keep = max(keep_weights, repeats_top)
        self._has: dict[int, bool] = {}  # trial -> it has a file (False once deleted)

    def _has_weights(self, trial: int) -> bool:
        if trial not in self._has:
            self._has[trial] = weights_path(self.out, trial).is_file()
        return self._has[trial]

    def prune(self, rows: Iterable[Mapping[str, Any]]) -> list[Path]:
        """Delete the files of the ended search trials beyond the best ``n_keep``; returns them. A
        file that cannot be deleted (permissions), or recorded as deleted first (the disk is full),
        is tried again at the next call."""
        gone: list[Path] = []
        dropped = to_drop(rows, metric=self.metric, mode=self.mode, n_keep=self.n_keep, has_weights=self._has_weights)
        try:
            record_deleted(self.out, dropped, keep_weights=self.keep_weights, repeats_top=self.repeats_top)
        except OSError:
            return gone
        for trial in dropped:
            path = weights_path(self.out, trial)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                continue
            else:
                gone.append(path)
            self._has[trial] = False
        return gone


def weights_keeper(study: Study, store: ResultsStore) -> WeightsKeeper | None:
    """The keeper of ``study``'s results in ``store``; ``None`` where every file is kept (the default)."""
    keep, top = study.settings.keep_weights, study.settings.repeats_top
    if n_kept(keep, repeats_top=top) is None or not isinstance(keep, int):
        return None
    return WeightsKeeper(out=store.out, metric=store.metric, mode=store.mode, keep_weights=keep, repeats_top=top)
