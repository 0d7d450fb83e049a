"""``[study] keep_weights = N``: the search deletes the weights files of the ended search trials
beyond the ``N`` best (at least ``repeats_top``) each time a trial ends (the recorder's
:meth:`~hpbench.dispatch.recorder.Recorder._end`) and once more when the command ends (the runner:
a resume with a smaller ``N`` trims the earlier run's files too). The rule is
:mod:`hpbench.results.keep`'s. Ray-free, torch-free."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from hpbench.results.keep import n_kept, to_drop
from hpbench.results.store import ResultsStore
from hpbench.results.weights import weights_path
from hpbench.study.schema import Study


class WeightsKeeper:
    """Deletes the weights files a search does not keep, in the results folder ``out``. Whether a
    trial has a file is looked at once, after its row ended (its weights are saved before)."""

    def __init__(self, *, out: Path, metric: str, mode: str, n_keep: int) -> None:
        self.out, self.metric, self.mode, self.n_keep = Path(out), metric, mode, n_keep
        self._has: dict[int, bool] = {}  # trial -> it has a file (False once deleted)

    def _has_weights(self, trial: int) -> bool:
        if trial not in self._has:
            self._has[trial] = weights_path(self.out, trial).is_file()
        return self._has[trial]

    def prune(self, rows: Iterable[Mapping[str, Any]]) -> list[Path]:
        """Delete the files of the ended search trials beyond the best ``n_keep``; returns them. A
        file that cannot be deleted (permissions) is tried again at the next call."""
        gone = []
        for trial in to_drop(rows, metric=self.metric, mode=self.mode, n_keep=self.n_keep, has_weights=self._has_weights):
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
    n = n_kept(study.settings.keep_weights, repeats_top=study.settings.repeats_top)
    return None if n is None else WeightsKeeper(out=store.out, metric=store.metric, mode=store.mode, n_keep=n)
