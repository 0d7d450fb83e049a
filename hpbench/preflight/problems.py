"""What a pre-flight check finds: a :class:`Problem` names where (the data file, the entry point or
the study file), the column or key, the rule and the bad value, like a study-file error
(:class:`hpbench.errors.Problem`); a problem in user code also carries the exception, the user's
own frames and, for ``--debug``, the full traceback. :class:`PreflightFailed` is a
:class:`~hpbench.errors.StudyError` carrying all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpbench import errors
from hpbench.errors import StudyError


@dataclass(frozen=True, kw_only=True)
class Problem(errors.Problem):
    """``source``: the data file, the entry point ("package.module:function") or the study file;
    ``key``: the study key or the column ("data.target", "column 'age'", "model.family")."""

    raised: str = ""  # user code that raised: "ValueError: the message" (shown instead of a value)
    frames: tuple[str, ...] = ()  # the user's own frames (innermost last)
    traceback: str = ""  # the full traceback (shown with --debug)

    def __str__(self) -> str:
        if self.raised:
            tail = f" ({self.hint})" if self.hint else ""
            return f"{self.source}: {self.key}: {self.rule}: {self.raised}{tail}"
        return super().__str__()


class PreflightFailed(StudyError):
    """The pre-flight checks found problems (:attr:`problems`, all of them): nothing was started
    and nothing written. Raised as ``PreflightFailed.of(problems)``."""
