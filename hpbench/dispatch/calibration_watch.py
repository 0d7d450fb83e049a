"""A machine's first search on a device calibrates its cost model (:mod:`hpbench.cost.calibrate`)
in the helper process, beside the first trials: a minute or two (70 s for a fresh machine's
quickstart search here, 20 s of it trials), in which the trials' predictions wait on it and the
command's end waits on them. The watch tells the progress so, until the model is in the cache. A
cached model this version refuses (an older hpbench's schema, another identity:
:mod:`hpbench.cost.model_check`) is recalibrated the same way, and said so (bug hunt s52h4 #1)."""

from __future__ import annotations

import time
from pathlib import Path

from hpbench.cost import history
from hpbench.study.schema import Study

EVERY_S = 2.0  # the cache is read at most this often (a file read: the progress refreshes several times a second)


class CalibrationWatch:
    """Whether the study's device model is still being measured (:meth:`running`)."""

    def __init__(self, *, study: Study, cache_dir: Path, why: str = "") -> None:
        """``why``: why a cached model is measured again (:meth:`hpbench.cost.model_check.Verdict.why`; "" when none is cached): the notice says it."""
        self.study = study
        self.cache_dir = cache_dir
        self.why = why
        self._checked = time.monotonic()
        self._done = False

    @classmethod
    def of(cls, study: Study, *, cache_dir: Path | None = None) -> CalibrationWatch | None:
        """A watch when no model of the study's device at its trials' threads is cached, or none this
        version uses (an older hpbench's, another identity's: the search calibrates one), else None."""
        cache = cache_dir or history.default_cache_dir()
        tag, verdict = history.study_cached(cache, study)
        return None if tag is not None else cls(study=study, cache_dir=cache, why=verdict.why())

    def running(self) -> bool:
        if not self._done and time.monotonic() - self._checked >= EVERY_S:
            self._checked = time.monotonic()
            self._done = history.study_model(self.cache_dir, self.study) is not None
        return not self._done

    def notice(self) -> str:
        threads = max(1, int(self.study.resources.cpus_per_trial))
        if self.why:
            return (f"this machine's cached cost model of the study's device at {threads} thread{'s' if threads > 1 else ''} {self.why}: "
                    "it is recalibrated beside the first trials, once (a minute or two; hpbench devices does it ahead)")
        return (f"this machine has no cost model of the study's device at {threads} thread{'s' if threads > 1 else ''} yet: it is "
                "calibrated beside the first trials, once (a minute or two; hpbench devices does it ahead)")
