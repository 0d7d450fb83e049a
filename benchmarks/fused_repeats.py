"""Fused repeats vs unfused: N seeds of one configuration trained as one stacked model
(hpbench.train.fused.train_fused) against the same N trained one after another by the trainer
(hpbench.train.trainer.train), side by side in one process on the same thread count.

Each case runs N members for a fixed number of epochs (no early stopping, so both sides do the
same work); the two sides are interleaved (alternating which runs first) and the median of
``--rounds`` is kept, so that load on the shared machine hits both alike. The cost model's
decision (hpbench.cost.fusion.fuse_members from the counted FLOPs of one member's step) is
printed next to each measured speed-up: "run" is what hpbench does (fused when the decision
says so, unfused otherwise), and must never be slower than unfused.

    .venv/bin/python benchmarks/fused_repeats.py     # writes results/benchmarks/fused_repeats.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
from hpbench.cost.fusion import fuse_members, step_flops
from hpbench.train.fused import train_fused
from hpbench.train.trainer import train

OUT = Path("results/benchmarks")
# name: (dataset, dataset options, family, model params, batch size, optimizer)
CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any], int | str, str]] = {
    "mlp w32 d1 b64": ("digits", {}, "mlp", {"depth": 1, "width": 32, "activation": "relu", "dropout": 0.0}, 64, "adam"),
    "mlp w128 d2 b64": ("digits", {}, "mlp", {"depth": 2, "width": 128, "activation": "relu", "dropout": 0.0}, 64, "adam"),
    "mlp w128 d2 b16": ("digits", {}, "mlp", {"depth": 2, "width": 128, "activation": "tanh", "dropout": 0.0}, 16, "momentum"),
    "mlp w512 d4 b64": ("digits", {}, "mlp", {"depth": 4, "width": 512, "activation": "relu", "dropout": 0.0}, 64, "adam"),
    "mlp w512 d3 b256": ("digits", {}, "mlp", {"depth": 3, "width": 512, "activation": "gelu", "dropout": 0.0}, 256, "adamw"),
    "mlp w512 d2 full": ("digits", {}, "mlp", {"depth": 2, "width": 512, "activation": "relu", "dropout": 0.0}, "full", "sgd"),
    "cnn c8 b64": ("digits", {}, "cnn", {"conv_depth": 1, "channels": 8, "width": 32, "batch_norm": False}, 64, "adam"),
    "cnn c8 bn b64": ("digits", {}, "cnn", {"conv_depth": 1, "channels": 8, "width": 32, "batch_norm": True}, 64, "adam"),
    "gru h32 b64": ("adding", {"seq_len": 20, "n_samples": 1000}, "gru", {"hidden_size": 32}, 64, "adam"),
}


def configs(case: str, *, n: int, epochs: int, threads: int) -> list[TrialConfig]:
    dataset, options, family, params, bs, opt = CASES[case]
    return [TrialConfig(seed=s, data=DataConfig(dataset=dataset, options=options, preprocess=("standardize",)),
                        model=ModelConfig(family=family, params=params), optimizer=OptimizerConfig(name=opt, lr=1e-3),
                        train=TrainConfig(max_epochs=epochs, batch_size=bs, init="kaiming_uniform"), metric="val_loss", mode="min",
                        threads=threads) for s in range(1, n + 1)]


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_case(case: str, *, n: int, epochs: int, rounds: int, threads: int) -> dict[str, Any]:
    cfgs = configs(case, n=n, epochs=epochs, threads=threads)
    flops = step_flops(cfgs[0])
    members = fuse_members(n_repeats=n, flops_per_step=flops)
    try:
        train_fused(cfgs[:2])  # warm both paths (imports, data cache)
    except ValueError as err:  # not fusable: hpbench runs it unfused
        return {"case": case, "fused_s": None, "unfused_s": None, "speedup": None, "flops_per_step": flops, "members": 1,
                "run_speedup": 1.0, "note": str(err)}
    train(cfgs[0])
    fused, plain = [], []
    for r in range(rounds):
        pair = [("fused", lambda: train_fused(cfgs)), ("plain", lambda: [train(c) for c in cfgs])]
        for name, fn in (pair if r % 2 == 0 else pair[::-1]):
            (fused if name == "fused" else plain).append(timed(fn))
    f, p = statistics.median(fused), statistics.median(plain)
    chosen = f if members > 1 else p
    return {"case": case, "fused_s": f, "unfused_s": p, "speedup": p / f, "flops_per_step": flops, "members": members,
            "run_speedup": p / chosen}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of both sides (default: every core)")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    rows = []
    for case in args.cases:
        row = run_case(case, n=args.n, epochs=args.epochs, rounds=args.rounds, threads=args.threads)
        rows.append(row)
        print(f"{case:20s} " + (f"fused {row['fused_s']:7.2f} s  unfused {row['unfused_s']:7.2f} s  x{row['speedup']:5.2f}  "
                                if row["speedup"] else f"not fused: {row['note']}  ")
              + f"step {(row['flops_per_step'] or 0) / 1e6:8.1f} MFLOP  members {row['members']}  as run x{row['run_speedup']:5.2f}", flush=True)
    load = os.getloadavg()
    meta = {"n": args.n, "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "loadavg": load}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fused_repeats.json").write_text(json.dumps({"meta": meta, "cases": rows}, indent=1))
    lines = [f"# Fused repeats: N = {args.n}, {args.epochs} epochs, {args.threads} thread(s), median of {args.rounds}, load average {load[0]:.1f}",
             "", "| case | MFLOP/step | unfused s | fused s | fused speed-up | members chosen | as run |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {(r['flops_per_step'] or 0) / 1e6:.1f} | "
              + (f"{r['unfused_s']:.2f} | {r['fused_s']:.2f} | {r['speedup']:.2f}x" if r["speedup"] else f"- | - | not fusable ({r['note']})")
              + f" | {r['members']} | {r['run_speedup']:.2f}x |" for r in rows]
    (OUT / "fused_repeats.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
