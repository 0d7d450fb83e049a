"""A machine's first search on a device calibrates its cost model (:mod:`hpbench.cost.calibrate`)
in the helper process, beside the first trials: a minute or two (70 s for a fresh machine's
quickstart search here, 20 s of it trials), in which the trials' predictions wait on it and the
command's end waits on them. The watch tells the progress so, until the model is in the cache."""

from __future__ import annotations

import time
from pathlib import Path

from hpbench.cost import history
from hpbench.study.schema import Study

EVERY_S = 2.0  # the cache is read at most this often (a file read: the progress refreshes several times a second)


class CalibrationWatch:
    """Whether the study's device model is still being measured (:meth:`running`)."""

    def __init__(self, *, study: Study, cache_dir: Path) -> None:
        self.study = study
        self.cache_dir = cache_dir
        self._checked = time.monotonic()
        self._done = False

    @classmethod
    def of(cls, study: Study, *, cache_dir: Path | None = None) -> CalibrationWatch | None:
        """A watch when no model of the study's device at its trials' threads is cached (the
        search will calibrate one), else None."""
        cache = cache_dir or history.default_cache_dir()
        return None if history.study_model(cache, study) is not None else cls(study=study, cache_dir=cache)

    def running(self) -> bool:
        if not self._done and time.monotonic() - self._checked >= EVERY_S:
            self._checked = time.monotonic()
            self._done = history.study_model(self.cache_dir, self.study) is not None
        return not self._done

    def notice(self) -> str:
        threads = max(1, int(self.study.resources.cpus_per_trial))
        return (f"this machine has no cost model of the study's device at {threads} thread{'s' if threads > 1 else ''} yet: it is "
                "calibrated beside the first trials, once (a minute or two; hpbench devices does it ahead)")
