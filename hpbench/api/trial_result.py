"""One trial of a search as :class:`hpbench.Results` gives it (:class:`TrialResult`), and how a
table's cells and a caller's trial numbers are read into it."""

from __future__ import annotations

import math
import operator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpbench.api.fixed import plain


@dataclass(frozen=True, kw_only=True)
class TrialResult:
    """One trial of a search as the tables record it: what it tried and what it reached."""

    trial: int
    metric: str  # the study metric, e.g. "val_accuracy"
    mode: str  # "max" or "min"
    value: float  # best_<metric>: what ranks the trials
    params: dict[str, Any]  # the searched hyperparameters (inactive conditional ones left out)
    metrics: dict[str, float]  # the epoch at best_epoch (train_loss, val_*) and the test split (test_*), when evaluated
    best_epoch: int | None
    epochs: int | None  # epochs run
    status: str | None
    stop_reason: str | None
    weights: Path | None = field(default=None)  # the saved model (finished trials that trained to the end)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["weights"] = str(self.weights) if self.weights is not None else None
        return out


def metric_column(name: str) -> bool:
    return name == "train_loss" or name.startswith("val_")


def trial_number(number: Any) -> int:
    """A trial number as :meth:`Results.trial` and :meth:`Results.load_model` both take it: an
    integer (numpy's too), or its text (``"3"``); ``TypeError`` for anything else (a bool, 1.5, "best")."""
    if isinstance(number, str) and number.strip().isdigit():
        return int(number)
    if not isinstance(number, bool):
        try:
            return operator.index(number)  # an int, a numpy integer (a cell of the trial column)
        except TypeError:
            pass
    raise TypeError(f"trial must be a trial number (an int such as 3, or '3'), but got {number!r}")


def as_float(v: Any) -> float:
    """A cell as a float, NaN where it is NA (a value of exactly 0.0 stays 0.0)."""
    v = plain(v)
    return math.nan if v is None else float(v)


def as_int(v: Any) -> int | None:
    v = plain(v)
    return None if v is None else int(v)


def is_number(v: Any) -> bool:
    v = plain(v)
    return isinstance(v, int | float) and not isinstance(v, bool)
