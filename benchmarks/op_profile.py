"""Issue 13 diagnostic: where one configuration's epoch goes, per aten op, against the cost model's
price of the same ops. The trial's model and data are built as ``train`` builds them, warmed up for
two epochs, then one epoch runs under ``torch.profiler`` (CPU): each aten op's call count and self
CPU time (the profiler adds a few microseconds per op: read the kernel-heavy rows, not the tiny ones).
The model's side: the ops the count recorded for the epoch ((steps - 1) full steps, the last one,
the validation pass), each priced as :func:`hpbench.cost.predict.features` prices it (its kernel
term times its coefficient, plus its phase's per-op coefficient).

    benchmarks/exclusive.sh .venv/bin/python benchmarks/op_profile.py --run RUN.json --row seq_c1:2 [--top 25]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import epoch_ways as ew


def predicted_ops(cfg: Any, dm: Any) -> dict[str, list[float]]:
    """Per aten op name: [count, predicted seconds] over one epoch."""
    from hpbench.cost.annotate import epoch_steps, eval_passes
    from hpbench.cost.ops import SDPA_MATH_BACKWARD
    from hpbench.cost.predict import _OP_FEATURE, TRAIN_PHASES, grid_priced_modules, op_kernel
    from hpbench.cost.trial_time import state_working_set_bytes

    steps, _, full, last_or_none = epoch_steps(cfg)
    last = last_or_none or full
    state = state_working_set_bytes(n_params=full.n_params, optimizer=cfg.optimizer.name)
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    skipped_path = "math" if dm.fuses_attention_dropout else "fused"  # an attention trained with dropout: the path not run here

    def add(ops: Any, times: float, phases: tuple[str, ...]) -> None:
        priced = grid_priced_modules(ops, device=dm)
        # as hpbench.cost.predict.features: a fused attention's backward kernel replaces its math path's backward ops
        fused_backward = any(op.name == "sdpa_backward" and op.attention_path != skipped_path for op in ops)
        for op in ops:
            if fused_backward and op.phase == "backward" and op.name in SDPA_MATH_BACKWARD:
                continue
            if op.phase not in phases or op.kind in ("replaced", "module", "free", "fused") or (op.module in priced and op.kind not in (
                    "recurrent", "conv2d")) or op.attention_path == skipped_path:
                continue
            if op.kind in ("recurrent", "conv2d"):
                continue  # priced whole from a grid: not one aten op
            name, s = op_kernel(op, device=dm)
            if name == "memory" and op.phase == "optimizer":
                name, s = "memory_optimizer", op.bytes / dm.bandwidth(max(op.bytes, state)) if op.bytes else 0.0
            sec = dm.coef.get(name, 0.0) * s + (0.0 if op.fused else dm.coef.get(_OP_FEATURE[op.phase], 0.0))
            key = f"{op.name}[{op.phase}]"
            out[key][0] += times
            out[key][1] += times * sec

    add(full.ops, steps - 1, TRAIN_PHASES)
    add(last.ops, 1, TRAIN_PHASES)
    add(full.ops, eval_passes(cfg)[0], ("eval",))
    return dict(out)


def measured_ops(cfg: Any) -> tuple[dict[str, list[float]], float]:
    """Per aten op name: [calls, self CPU seconds] over one profiled epoch, and the epoch's wall seconds unprofiled."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from hpbench.train.task import build_run

    torch.set_num_threads(1)
    run = build_run(cfg)
    for _ in range(2):
        run.run_epoch()
    t0 = time.perf_counter()
    run.run_epoch()
    wall = time.perf_counter() - t0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run.run_epoch()
    out = {}
    for e in prof.key_averages():
        if e.key.startswith("aten::"):
            out[e.key[len("aten::"):]] = [float(e.count), e.self_cpu_time_total / 1e6]
    return out, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--row", required=True)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    from hpbench.cost.calibrate import device_model

    run = json.loads(args.run.read_text(encoding="utf-8"))
    dm = device_model(device="cpu", threads=1)
    cfg = ew._config(run, args.row, 4)
    pred = predicted_ops(cfg, dm)
    meas, wall = measured_ops(cfg)
    by_name: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for k, (n, s) in pred.items():
        by_name[k.split("[")[0]][0] += n
        by_name[k.split("[")[0]][1] += s
    names = sorted(set(by_name) | set(meas), key=lambda k: -max(meas.get(k, [0, 0])[1], by_name.get(k, [0, 0])[1]))
    print(f"{args.row}: epoch wall {wall:.4f} s unprofiled; profiled aten self CPU {sum(v[1] for v in meas.values()):.4f} s; "
          f"predicted ops {sum(v[1] for v in pred.values()):.4f} s + epoch {dm.coef['epoch']:.4f}")
    print(f"{'op':40s} {'calls':>8s} {'pred calls':>10s} {'self ms':>9s} {'pred ms':>9s}")
    for k in names[: args.top]:
        m, p = meas.get(k, [0, 0]), by_name.get(k, [0, 0])
        print(f"{k:40s} {m[0]:8.0f} {p[0]:10.0f} {1000 * m[1]:9.3f} {1000 * p[1]:9.3f}")


if __name__ == "__main__":
    main()
