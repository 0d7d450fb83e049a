"""The per-trial time limit, ``[train] max_time_s`` (Ray Tune's ``stop={"time_total_s": N}``,
Lightning's ``Trainer(max_time=...)``): a trial ends at the end of the first epoch whose
cumulative seconds reach the limit, as a trial that reached ``max_epochs`` ends (its best weights,
saved, the test split evaluated), with stop reason ``time_limit``. Torch-free.

The seconds counted are the trial's epochs' own: the sum of its rows' ``epoch_s`` (training and
validation, as the trainer measures each epoch; a fused member's, its share of the fused epoch),
not its process's start or its data's loading. A resumed trial's rows so far come back with its
state (:mod:`hpbench.train.resume`), so the seconds it spent before count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def spent_s(rows: Iterable[Mapping[str, Any]]) -> float:
    """The seconds a trial's epoch ``rows`` spent: the sum of their ``epoch_s``."""
    return float(sum(float(r.get("epoch_s") or 0.0) for r in rows))


def out_of_time(*, spent: float, max_time_s: float | None, epoch: int, max_epochs: int) -> bool:
    """Whether the trial ends after 0-based ``epoch`` for its time limit: ``spent`` (its epochs'
    seconds, this one's included) reached ``max_time_s``, and it was not its last epoch anyway (a
    trial that ran ``max_epochs`` is ``completed``, whatever its seconds). No limit: never."""
    return max_time_s is not None and spent >= max_time_s and epoch + 1 < max_epochs
