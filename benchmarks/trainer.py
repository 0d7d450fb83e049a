"""The hpbench trainer vs a minimal hand-written PyTorch loop, side by side on CPU.

Same model (built and initialized by hpbench), same data tensors, same optimizer, batch size
and epochs; repeats are interleaved (alternating which runs first) so that load on the shared
machine hits both alike. Both sides time only their epochs (training steps plus one
validation forward each epoch), so steps/s compares the loops themselves. Achieved FLOP/s =
FLOPs of one training step (forward + backward, counted by
``torch.utils.flop_counter.FlopCounterMode``) x training steps/s.

    .venv/bin/python benchmarks/trainer.py            # writes results/benchmarks/trainer.{json,md}
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
from hpbench.train import tasks
from hpbench.train.trainer import build, load_data, train

TARGET = 0.95  # hpbench steps/s must be >= TARGET x the hand loop's

CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    # name: (dataset, dataset options, family, model params)
    "mlp": ("digits", {}, "mlp", {"depth": 2, "width": 256}),
    "cnn": ("digits", {}, "cnn", {"conv_depth": 2, "channels": 16, "width": 64}),
    "lstm": ("adding", {"seq_len": 50, "n_samples": 2000}, "lstm", {"hidden_size": 64}),
}


def config(case: str, *, epochs: int, batch_size: int) -> TrialConfig:
    dataset, options, family, params = CASES[case]
    return TrialConfig(
        seed=0,
        data=DataConfig(dataset=dataset, options=options, preprocess=("standardize",)),
        model=ModelConfig(family=family, params=params),
        optimizer=OptimizerConfig(name="adam", lr=1e-3),
        train=TrainConfig(max_epochs=epochs, batch_size=batch_size, init="kaiming_uniform"),
        metric="val_loss", mode="min", threads=1,
    )


def hand_loop(cfg: TrialConfig) -> tuple[float, int]:
    """The minimal loop a user would write; returns (seconds in epochs, training steps)."""
    device = torch.device("cpu")
    data = load_data(cfg, device)
    model = build(cfg, data.splits, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optimizer.lr)
    loss_fn = tasks.loss_fn(data.splits.task)
    bs, n = int(cfg.train.batch_size), len(data.x_train)
    gen = torch.Generator().manual_seed(cfg.seed)
    seconds, steps = 0.0, 0
    for _ in range(cfg.train.max_epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            opt.zero_grad()
            loss = loss_fn(model(data.x_train[idx]), data.y_train[idx])
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        with torch.no_grad():
            loss_fn(model(data.x_val), data.y_val).item()
        seconds += time.perf_counter() - t0
    return seconds, steps


def hpbench_loop(cfg: TrialConfig) -> tuple[float, int]:
    out = train(cfg)
    n = len(load_data(cfg, torch.device("cpu")).x_train)
    bs = int(cfg.train.batch_size)
    return sum(r["epoch_s"] for r in out.history), len(out.history) * -(-n // bs)


def step_flops(cfg: TrialConfig) -> int:
    """FLOPs of one training step (forward + backward) on a full batch of ``batch_size``."""
    from torch.utils.flop_counter import FlopCounterMode

    data = load_data(cfg, torch.device("cpu"))
    model = build(cfg, data.splits, torch.device("cpu"))
    loss_fn = tasks.loss_fn(data.splits.task)
    bs = int(cfg.train.batch_size)
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(data.x_train[:bs]), data.y_train[:bs]).backward()
    return int(counter.get_total_flops()) + recurrent_flops(model, data.x_train[:bs].shape)


def recurrent_flops(model: torch.nn.Module, batch_shape: torch.Size) -> int:
    """Closed form for the recurrent cells, which FlopCounterMode does not see on CPU (the
    fused aten.lstm/gru/rnn kernels): per layer, direction and step, the gate matmuls take
    2 * gates * H * (I + H) FLOPs per sample (gates: RNN 1, GRU 3, LSTM 4); backward costs
    about twice forward (Kaplan et al. 2020, sec. 2.1), so a training step is 3x forward."""
    total = 0
    for m in model.modules():
        if isinstance(m, torch.nn.RNNBase):
            gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
            n, steps = batch_shape[0], batch_shape[1]
            dirs = 2 if m.bidirectional else 1
            for layer in range(m.num_layers):
                i = m.input_size if layer == 0 else m.hidden_size * dirs
                total += 3 * 2 * gates * m.hidden_size * (i + m.hidden_size) * steps * n * dirs
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    cfgs = {c: config(c, epochs=args.epochs, batch_size=args.batch_size) for c in CASES}
    for c in cfgs.values():  # warm up: data cache, allocator, first-call overheads
        hand_loop(c)
        hpbench_loop(c)
    rates: dict[str, dict[str, list[float]]] = {c: {"hpbench": [], "hand": []} for c in CASES}
    for rep in range(args.repeats):
        for case, c in cfgs.items():
            order = [("hpbench", hpbench_loop), ("hand", hand_loop)]
            for side, fn in order if rep % 2 == 0 else order[::-1]:
                seconds, steps = fn(c)
                rates[case][side].append(steps / seconds)
    rows = []
    for case, c in cfgs.items():
        flops = step_flops(c)
        hp, hand = statistics.median(rates[case]["hpbench"]), statistics.median(rates[case]["hand"])
        # Ratio: median of the per-repeat ratios (each pair ran back to back, so machine load
        # drifting between repeats cancels out).
        ratio = statistics.median(a / b for a, b in zip(rates[case]["hpbench"], rates[case]["hand"], strict=True))
        rows.append({
            "case": case, "dataset": c.data.dataset, "family": c.model.family, "batch_size": args.batch_size,
            "hpbench_steps_per_s": hp, "hand_steps_per_s": hand, "ratio": ratio, "meets_target": ratio >= TARGET,
            "flops_per_step": flops, "hpbench_gflop_per_s": flops * hp / 1e9, "hand_gflop_per_s": flops * hand / 1e9,
            "hpbench_runs": rates[case]["hpbench"], "hand_runs": rates[case]["hand"],
        })
    result = {
        "benchmark": "trainer", "device": "cpu", "threads": 1, "torch": torch.__version__, "machine": platform.machine(),
        "repeats": args.repeats, "epochs": args.epochs, "target_ratio": TARGET, "statistic": "steps/s: median over repeats; ratio: median of per-repeat paired ratios",
        "wall_s": time.perf_counter() - t_start, "cases": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trainer.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"# Trainer benchmark (CPU, 1 thread, torch {torch.__version__}, median of {args.repeats} interleaved repeats x {args.epochs} epochs)",
        "",
        "| case | hpbench steps/s | hand loop steps/s | paired ratio | target >= 0.95 | FLOPs/step | hpbench GFLOP/s | hand GFLOP/s |",
        "|---|---:|---:|---:|:---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} ({r['dataset']}) | {r['hpbench_steps_per_s']:.1f} | {r['hand_steps_per_s']:.1f} | {r['ratio']:.3f} | "
                     f"{'yes' if r['meets_target'] else 'NO'} | {r['flops_per_step'] / 1e6:.2f} M | {r['hpbench_gflop_per_s']:.2f} | {r['hand_gflop_per_s']:.2f} |")
    (args.out / "trainer.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"\nwall {result['wall_s']:.1f} s; wrote {args.out / 'trainer.json'} and {args.out / 'trainer.md'}")


if __name__ == "__main__":
    main()
