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
machine's 2 threads, 2 epochs, the median of 7 interleaved rounds
(results/benchmarks/fused_repeats-calibration.json; session 37, exclusive.sh, load 1.9-2.4,
every trial on torch's fused optimizer kernels). Fused was 4.7-5.7x faster at 0.09-0.95 MFLOP
per member step, 2.3-3.6x at 7-53, 1.8x at 105, 1.4x at 211-413 and 0.95x at 1,634 MFLOP.
The limit is the largest step up to which every step gained at least 1.1x (413 MFLOP), times
the 8 members: 3.3 GFLOP per fused step. The decision is only as steady as that rule: the same
calibration at 3 rounds just before (``fused_repeats-calibration-s37-r3.json``) measured the
105 MFLOP step at 1.01x and would have set 426 MFLOP; the first calibration (session 6, load
7.9-17, op-by-op optimizers: ``-before-s37.json``) set 842 MFLOP. What the benchmark's own
configurations measured backs the higher limit: MLP w512/d3 at batch 256 (852 MFLOP a member
step) ran 1.15-1.61x fused in sessions 25-37, w512/d4 full batch (7 GFLOP) 0.93-1.08x.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpbench.config import TrialConfig

FUSED_STEP_FLOPS = 3.3e9  # the most work (FLOPs) one fused training step should hold (calibrated: see above)
# On one thread (a trial with ``cpus_per_trial = 1``) a batched kernel gains nothing from a second
# core, and the stacked step stops paying much sooner: MLPs on digits, 4 and 8 members, Adam at
# their own learning rates (``benchmarks/fusion_threads.py``, session 44, exclusive.sh, the best of
# 2 runs of 2 epochs each, results/benchmarks/fusion-one-thread.md): 1.15-4.81x up to 15.6 MFLOP
# a member step, 0.70-1.28x at 42-852 MFLOP (w512 d3 at batch 16, 57 MFLOP: 0.85x with 4 members,
# 0.70x with 8, which the calibrated rule above fused). So on one thread the members fuse, all of
# them, only up to this member step.
ONE_THREAD_MEMBER_FLOPS = 20e6


def fuse_members(*, n_repeats: int, flops_per_step: float | None, threads: int | None = None) -> int:
    """How many repeats train together (1: unfused). Unknown cost (``None``): unfused. ``threads``:
    the trial's (1: :data:`ONE_THREAD_MEMBER_FLOPS`'s rule; more or unknown: the calibrated one)."""
    if n_repeats < 2 or flops_per_step is None or not flops_per_step > 0:
        return 1
    if threads == 1:
        return n_repeats if flops_per_step <= ONE_THREAD_MEMBER_FLOPS else 1
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
