"""A FLOPs / seconds budget for a search: once spent, no new trial is launched.

Spending is charged by the driver as trials report epochs (predicted FLOPs per epoch, measured
seconds). :func:`stopper` wraps it as a Ray Tune ``Stopper`` whose ``stop_all`` ends the
experiment when the budget is spent (running trials stop at their next report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(kw_only=True)
class Budget:
    flops: float | None = None
    seconds: float | None = None
    spent_flops: float = field(default=0.0)
    spent_s: float = field(default=0.0)

    def __post_init__(self) -> None:
        for name, v in (("--budget-flops", self.flops), ("--budget-s", self.seconds)):
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be > 0, but got {v}")

    def charge(self, *, flops: float = 0.0, seconds: float = 0.0) -> None:
        self.spent_flops += max(0.0, flops)
        self.spent_s += max(0.0, seconds)

    def exhausted(self) -> bool:
        return (self.flops is not None and self.spent_flops >= self.flops) or (self.seconds is not None and self.spent_s >= self.seconds)


def stopper(budget: Budget) -> Any:
    from ray.tune import Stopper

    class BudgetStopper(Stopper):  # type: ignore[misc]
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            return False

        def stop_all(self) -> bool:
            return budget.exhausted()

    return BudgetStopper()
