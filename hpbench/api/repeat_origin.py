"""Where a repeat's row came from (``--repeats``: a top configuration re-run with another seed), as
``hpbench best --trial <repeat>`` and its ``--study-out`` file say it: which trial it repeats, its
seed, and whether it trained fused (``fused_members``: N seeds of the configuration as one stacked
model, :mod:`hpbench.train.fused`).

A fused member's step equals its seed's run alone only to float rounding (the stacked kernels,
``baddbmm`` and the like, round otherwise than each module's own: rel ~1e-7 a step), and training
can amplify that as it amplifies any perturbation of that size: a transformer at lr 0.018 on digits
moved 2-4 points of val_accuracy by its third epoch, and the same run alone with its lr times
(1 + 1e-7) moved its val_loss by 3.9e-3 (bug hunt s52/h3). So ``hpbench train`` of a fused repeat's
exported study reproduces its numbers to that, not exactly; an unfused repeat's, exactly (the same
machine)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hpbench.api.trial_result import as_int
from hpbench.results.columns import FUSED_MEMBERS, REPEAT, REPEAT_OF, SEED


@dataclass(frozen=True, kw_only=True)
class RepeatOrigin:
    """A repeat: ``repeat`` (1..N) of search trial ``of``, trained with ``seed``; ``fused_members``:
    how many seeds trained with it as one stacked model (None: it trained alone)."""

    repeat: int
    of: int
    seed: int
    fused_members: int | None = None

    @property
    def fused(self) -> bool:
        return self.fused_members is not None and self.fused_members > 1

    def label(self) -> str:
        """``repeat 2 of trial 0: seed = 23, the repeat's own``."""
        return f"repeat {self.repeat} of trial {self.of}: seed = {self.seed}, the repeat's own"

    def fused_note(self) -> str | None:
        """What retraining a fused repeat gives (None for one trained alone)."""
        if not self.fused:
            return None
        return (f"trained fused ({self.fused_members} seeds as one stacked model, hpbench/train/fused.py): "
                "`hpbench train` of its study reproduces it to float rounding, which training can amplify "
                "over epochs, not exactly (README: Reports)")


def repeat_origin(row: Mapping[str, Any] | None) -> RepeatOrigin | None:
    """A trials-table row's :class:`RepeatOrigin`, or None where the row is no repeat."""
    if row is None:
        return None
    repeat, of, seed, fused = (as_int(row.get(k)) for k in (REPEAT, REPEAT_OF, SEED, FUSED_MEMBERS))
    if not repeat or of is None or seed is None:
        return None
    return RepeatOrigin(repeat=repeat, of=of, seed=seed, fused_members=fused)
