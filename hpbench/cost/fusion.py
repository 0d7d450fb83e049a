"""Whether to fuse a configuration's repeats (:mod:`hpbench.train.fused`), and how many members.

A fused step runs the members' N small kernels as N-times-larger batched ones: it saves the
per-step overhead (Python, dispatch, the optimizer's per-tensor loop) N - 1 times and pays
batched kernels that are no faster per FLOP, and somewhat slower for large matrices (the
stacked weights no longer fit the cache). So fusion pays while one member's step is small
and stops paying once the work of the fused step dominates its overhead:

    members = clamp(floor(FUSED_STEP_FLOPS / flops_per_step), 1, N); fuse when members >= 2

The limit is measured, not derived, by micro-benchmark: ``benchmarks/fused_repeats.py
--calibrate`` trains 8 MLPs of depth 2 on synthetic data (ring8; widths 16-1024, batch 32 and
256: none of the benchmark's own configurations) fused and unfused through the trainer, at the
machine's 2 threads (results/benchmarks/fused_repeats-calibration.json, load average 7.9-17).
Fused was 7.2x faster at 0.09 MFLOP per member step, 2.6-6.1x at 0.7-14 MFLOP, 1.53x at 53,
1.15x at 105 and 1.02-1.05x at 210-413 MFLOP. The limit is the largest step up to which every
step gained at least 1.1x (105 MFLOP; one step of 1.6 GFLOP that measured 4.4x, above three
that did not gain, is not trusted), times the 8 members: 842 MFLOP per fused step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpbench.config import TrialConfig

FUSED_STEP_FLOPS = 842e6  # the most work (FLOPs) one fused training step should hold (calibrated: see above)


def fuse_members(*, n_repeats: int, flops_per_step: float | None) -> int:
    """How many repeats train together (1: unfused). Unknown cost (``None``): unfused."""
    if n_repeats < 2 or flops_per_step is None or not flops_per_step > 0:
        return 1
    return max(1, min(n_repeats, int(FUSED_STEP_FLOPS // flops_per_step)))


def repeat_groups(fuse: Sequence[int], *, n_repeats: Sequence[int], max_concurrent: int) -> list[list[int]]:
    """The groups (their sizes, in order) each configuration's ``n_repeats[i]`` repeats train in,
    at most ``fuse[i]`` members each (:func:`fuse_members`; 1: one by one) and no more than leave
    every one of ``max_concurrent`` slots a group: a group trains on one trial's threads, so one
    configuration's 8 repeats as a single group would leave a second slot, and its cores, idle.
    The one rule the runner groups by (:func:`hpbench.dispatch.fused.fuse_repeats`) and the
    estimate and the live ETA count runs by (:func:`hpbench.cost.walltime.repeat_plans`)."""
    groups_each = -(-max(1, max_concurrent) // max(1, len(fuse)))  # groups per configuration to fill the slots
    out = []
    for f, n in zip(fuse, n_repeats, strict=True):
        size = max(1, min(f, -(-n // groups_each)))
        out.append([min(size, n - i) for i in range(0, n, size)])
    return out


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
