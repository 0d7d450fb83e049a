"""Failed trials in brief: how many failed, and each distinct error with the number of trials it
ended (the live view, the search's final summary and the report all say it the same way)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hpbench.results.ranking import can_rank
from hpbench.results.status import StopReason, TrialStatus, is_search_trial, missing

MAX_ERRORS = 8  # distinct errors listed (the most frequent first)


@dataclass(frozen=True, kw_only=True)
class Failures:
    n_ended: int  # trials that finished or failed
    n_failed: int
    errors: tuple[tuple[str, int], ...]  # (error, trials it ended), the most frequent first

    @property
    def all_failed(self) -> bool:
        return self.n_ended > 0 and self.n_failed == self.n_ended

    def headline(self) -> str:
        if self.all_failed:
            return f"all {self.n_failed} trials failed"
        return f"{self.n_failed} of {self.n_ended} trials failed"

    def lines(self) -> list[str]:
        """The distinct errors, one line each: ``3 trials: ValueError: ...``."""
        out = [f"{n} trial{'s' if n != 1 else ''}: {error}" for error, n in self.errors[:MAX_ERRORS]]
        rest = len(self.errors) - MAX_ERRORS
        if rest > 0:
            out.append(f"... and {rest} other errors (hpbench.load(RESULTS)['error'])")
        return out


def failures(rows: Iterable[Mapping[str, Any]]) -> Failures:
    """What failed among the trials ``rows`` (rows of the trials table, or store rows)."""
    ended = [r for r in rows if r.get("status") in (TrialStatus.FINISHED, TrialStatus.FAILED)]
    failed = [r for r in ended if r.get("status") == TrialStatus.FAILED]
    counts = Counter(_error(r.get("error")) for r in failed)
    return Failures(n_ended=len(ended), n_failed=len(failed), errors=tuple(counts.most_common()))


def _error(value: Any) -> str:
    return value if isinstance(value, str) and value.strip() else "unknown error"  # None / NaN / pd.NA: no text


def no_value(rows: Iterable[Mapping[str, Any]], *, metric: str) -> str | None:
    """The closing line of a search whose ended search trials all finished (some may have failed)
    without a value of ``metric`` to rank (every one diverged, say): what ``hpbench best`` would
    find nothing in. None where a trial is ranked, or where none finished (nothing ran, or every
    trial failed: :class:`Failures` says that)."""
    rows = [r for r in rows if is_search_trial(r)]
    if any(can_rank(r, metric=metric) for r in rows):
        return None
    ended = Counter(str(r.get("status") if missing(r.get("stop_reason")) else r.get("stop_reason"))
                    for r in rows if r.get("status") in (TrialStatus.FINISHED, TrialStatus.FAILED))
    if not ended or set(ended) == {TrialStatus.FAILED.value}:
        return None
    line = f"no trial produced a value of {metric}: " + ", ".join(f"{n} {why}" for why, n in sorted(ended.items()))
    if StopReason.DIVERGED in ended:
        line += " (a loss that was not finite: try a lower learning rate, or [train] clip_norm)"
    return line
