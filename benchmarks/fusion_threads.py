"""Where a stacked (fused) step stops paying on ONE thread: the grid behind
``hpbench.cost.fusion.ONE_THREAD_MEMBER_FLOPS``.

MLPs on digits (widths 32 / 128 / 512, depth 1 / 3, batch 16 / 64 / 256, ReLU, Adam, 2 epochs),
each trained alone through the trainer and as N members fused (``train_fused``; the members at
their own learning rates, as the early trials' siblings train, so the per-member lr step is in),
torch on one thread; the best of ``--rounds`` runs each side. Prints and writes each case's
speedup (N x alone / fused) against the cost model's FLOPs per member step.

    PYTHONPATH=. benchmarks/exclusive.sh .venv/bin/python benchmarks/fusion_threads.py --members 4 8
    # writes results/benchmarks/fusion-one-thread.{json,md}
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "results" / "benchmarks"

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig  # noqa: E402
from hpbench.cost.fusion import ONE_THREAD_MEMBER_FLOPS, fuse_members, step_flops  # noqa: E402


def config(*, width: int, depth: int, batch: int, lr: float) -> TrialConfig:
    return TrialConfig(seed=0, data=DataConfig(dataset="digits", preprocess=("standardize",)),
                       model=ModelConfig(family="mlp", params={"width": width, "depth": depth, "activation": "relu"}),
                       optimizer=OptimizerConfig(name="adam", lr=lr), train=TrainConfig(max_epochs=2, batch_size=batch, init="orthogonal"),
                       metric="val_loss", mode="min", threads=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import torch

    from hpbench.train.fused import train_fused
    from hpbench.train.trainer import train

    torch.set_num_threads(1)
    rows = []
    for n in args.members:
        for width, depth, batch in itertools.product((32, 128, 512), (1, 3), (16, 64, 256)):
            cfgs = [config(width=width, depth=depth, batch=batch, lr=1e-3 * (1 + i)) for i in range(n)]
            alone = fused = float("inf")
            for _ in range(args.rounds):
                t = time.perf_counter()
                train(cfgs[0])
                alone = min(alone, time.perf_counter() - t)
                t = time.perf_counter()
                train_fused(cfgs)
                fused = min(fused, time.perf_counter() - t)
            flops = step_flops(cfgs[0])
            row = {"members": n, "width": width, "depth": depth, "batch": batch, "member_step_mflops": (flops or 0) / 1e6,
                   "alone_s": alone, "fused_s": fused, "speedup": n * alone / fused,
                   "decision": fuse_members(n_repeats=n, flops_per_step=flops, threads=1)}
            rows.append(row)
            print(f"N={n} w{width} d{depth} b{batch}: {row['member_step_mflops']:.2f} MFLOP a member step, "
                  f"{row['speedup']:.2f}x fused, the rule fuses {row['decision']}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fusion-one-thread.json").write_text(json.dumps({"one_thread_member_flops": ONE_THREAD_MEMBER_FLOPS, "rows": rows}, indent=1) + "\n")
    lines = ["# Fused against alone on one thread (benchmarks/fusion_threads.py)", "",
             f"The rule: all members fuse at most {ONE_THREAD_MEMBER_FLOPS / 1e6:.0f} MFLOP a member step, none above.", "",
             "| members | MLP | MFLOP a member step | alone s | fused s | speedup | the rule fuses |", "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["members"], r["member_step_mflops"])):
        lines.append(f"| {r['members']} | w{r['width']} d{r['depth']} b{r['batch']} | {r['member_step_mflops']:.2f} | {r['alone_s']:.3f} | "
                     f"{r['fused_s']:.3f} | {r['speedup']:.2f}x | {r['decision']} |")
    (OUT / "fusion-one-thread.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
