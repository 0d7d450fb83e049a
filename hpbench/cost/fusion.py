"""Whether to fuse a configuration's repeats (:mod:`hpbench.train.fused`), and how many members.

A fused step runs the members' N small kernels as N-times-larger batched ones: it saves the
per-step overhead (Python, dispatch, the optimizer's per-tensor loop) N - 1 times and pays
batched kernels that are no faster per FLOP, and somewhat slower for large matrices (the
stacked weights no longer fit the cache). So fusion pays while one member's step is small
and stops paying once the work of the fused step dominates its overhead:

    members = clamp(floor(FUSED_STEP_FLOPS / flops_per_step), 1, N); fuse when members >= 2

The limit is measured, not derived: benchmarks/fused_repeats.py on 8 members (digits, one
thread, a load average of 17-30 on 2 cores) measured fusion 1.4-3.3x faster at 0.8-9 MFLOP per
member step (MLPs, a small CNN) and 0.68-0.99x at 300 MFLOP and above (the issue's own probe:
2.4x at width 128 / depth 2, 0.8x at width 512 / depth 4); 64 MFLOP per fused step keeps every
fused group inside the measured range where it paid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpbench.config import TrialConfig

FUSED_STEP_FLOPS = 64e6  # the most work (FLOPs) one fused training step should hold (measured: see above)


def fuse_members(*, n_repeats: int, flops_per_step: float | None) -> int:
    """How many repeats train together (1: unfused). Unknown cost (``None``): unfused."""
    if n_repeats < 2 or flops_per_step is None or not flops_per_step > 0:
        return 1
    return max(1, min(n_repeats, int(FUSED_STEP_FLOPS // flops_per_step)))


def step_flops(cfg: TrialConfig) -> float | None:
    """FLOPs of one member's training step (forward, backward, optimizer) at the trial's batch
    size, counted by the cost model (:func:`hpbench.cost.count.count_step`); None when the
    task has no counted step (rl) or the count fails."""
    from hpbench.cost.annotate import data_shape
    from hpbench.cost.count import count_step, n_steps

    if cfg.task != "supervised":
        return None
    try:
        n_train, _, shape, n_out, task, kind = data_shape(cfg)
        _, bs, _ = n_steps(n_train=n_train, batch_size=cfg.train.batch_size)
        step = count_step(family=cfg.model.family, model_params=dict(cfg.model.params), input_shape=shape, n_outputs=n_out, task=task,
                          kind=kind, batch_size=bs, optimizer=cfg.optimizer.name, optimizer_params=dict(cfg.optimizer.params),
                          n_source=n_train)
    except Exception:  # the decision falls back to unfused; the trial's own prediction reports why
        return None
    return step.total_flops
