"""Trial statuses, stop reasons and the small typed view of a trial row (torch-free, Ray-free).

The one owner of these names: the trainer, the store, resume, repeats, the test split and the
reports all import them from here instead of writing string literals.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpbench.results.columns import DEVICE_OF, REPEAT, REPEAT_OF


class TrialStatus(enum.StrEnum):
    """Where a trial is in its life (the ``status`` column)."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C before it ended: its epochs so far kept, run again on --resume


# statuses that count towards the study's trials (a running or interrupted one is redone on resume)
DONE: tuple[TrialStatus, ...] = (TrialStatus.FINISHED, TrialStatus.FAILED)


class StopReason(enum.StrEnum):
    """Why a trial ended (the ``stop_reason`` column)."""

    COMPLETED = "completed"  # ran max_epochs
    EARLY_STOPPED = "early_stopped"
    DIVERGED = "diverged"  # a non-finite loss or monitored value
    SOLVED = "solved"  # reinforcement learning: the evaluation return reached the env's reward threshold
    COLLAPSED = "collapsed"  # GAN: the discriminator wins outright, or the generator covers at most one mode (hpbench.train.gan.collapse)
    TIME_LIMIT = "time_limit"  # its epochs' seconds reached [train] max_time_s before max_epochs (hpbench.train.time_limit)
    PRUNED = "pruned"  # stopped by the scheduler (set by the dispatcher)
    BUDGET = "budget"  # still running when the search's --budget-flops / --budget-s was spent (set by the dispatcher)
    FAILED = "failed"  # raised (set by the dispatcher)


@dataclass(frozen=True)
class TrialRow:
    """A typed read-only view of one trials-table row (a dict from the store or a DataFrame row).

    Search trials are the ones the searcher proposed; repeats (``repeat`` > 0) and device
    comparisons (``device_of`` set) re-run a search trial after the search.
    """

    trial: int
    status: TrialStatus | None
    stop_reason: StopReason | None
    repeat: int
    repeat_of: int | None
    device_of: int | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> TrialRow:
        return cls(
            trial=int(row["trial"]),
            status=_enum(TrialStatus, row.get("status")),
            stop_reason=_enum(StopReason, row.get("stop_reason")),
            repeat=_int(row.get(REPEAT)) or 0,
            repeat_of=_int(row.get(REPEAT_OF)),
            device_of=_int(row.get(DEVICE_OF)),
        )

    @property
    def is_search_trial(self) -> bool:
        return self.repeat == 0 and self.device_of is None

    @property
    def is_done(self) -> bool:
        return self.status in DONE

    @property
    def is_finished(self) -> bool:
        return self.status is TrialStatus.FINISHED


def is_search_trial(row: Mapping[str, Any]) -> bool:
    """True for a trial the searcher proposed (not a repeat, not a device comparison)."""
    return not (_int(row.get(REPEAT)) or 0) and _int(row.get(DEVICE_OF)) is None


def missing(value: Any) -> bool:
    """None, NaN or pd.NA: a cell that holds no value."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN / pd.NA compare unequal to themselves
    except TypeError:  # pd.NA raises on bool()
        return True


def _int(value: Any) -> int | None:
    return None if missing(value) else int(value)


def _enum(kind: type[enum.StrEnum], value: Any) -> Any:
    return None if missing(value) else kind(str(value))
