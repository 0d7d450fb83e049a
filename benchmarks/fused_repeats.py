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
from hpbench.cost.annotate import predict_trial
from hpbench.cost.calibrate import device_model
from hpbench.cost.fusion import fuse_members, step_flops
from hpbench.train.fused import train_fused
from hpbench.train.trainer import train

OUT = Path("results/benchmarks")
# name: (dataset, dataset options, family, model params, batch size, optimizer)
MLP = {"activation": "relu", "dropout": 0.0}
RNN = {"hidden_size": 32, "layers": 1, "bidirectional": False}
CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any], int | str, str]] = {
    # small networks on the bundled data, where a step is overhead-bound (target: fused >= 3x)
    "mlp w32 d1 b64": ("digits", {}, "mlp", {**MLP, "depth": 1, "width": 32}, 64, "adam"),
    "mlp w128 d2 b64": ("digits", {}, "mlp", {**MLP, "depth": 2, "width": 128}, 64, "adam"),
    "mlp w128 d2 b16": ("digits", {}, "mlp", {**MLP, "depth": 2, "width": 128, "activation": "tanh"}, 16, "momentum"),
    "cnn c8 b64": ("digits", {}, "cnn", {"conv_depth": 1, "channels": 8, "width": 32, "batch_norm": False}, 64, "adam"),
    "cnn c8 bn b64": ("digits", {}, "cnn", {"conv_depth": 1, "channels": 8, "width": 32, "batch_norm": True}, 64, "adam"),
    "rnn h32 b64": ("digits", {}, "rnn", RNN, 64, "adam"),
    "gru h32 b64": ("digits", {}, "gru", RNN, 64, "adam"),
    "lstm h32 b64": ("digits", {}, "lstm", RNN, 64, "adam"),
    "gru h32 b64 adding T20": ("adding", {"seq_len": 20, "n_samples": 1000}, "gru", RNN, 64, "adam"),
    "transformer d32 l1 b64": ("digits", {}, "transformer", {"d_model": 32, "heads": 4, "ff_width": 64, "layers": 1, "dropout": 0.0}, 64, "adam"),
    # the quickstart space's corners (width 32/512, depth 1/4, batch 16/full) and large steps (target: never slower as run)
    "mlp w32 d1 b16": ("digits", {}, "mlp", {**MLP, "depth": 1, "width": 32}, 16, "sgd"),
    "mlp w32 d4 full": ("digits", {}, "mlp", {**MLP, "depth": 4, "width": 32, "activation": "gelu"}, "full", "adam"),
    "mlp w512 d1 b16": ("digits", {}, "mlp", {**MLP, "depth": 1, "width": 512}, 16, "adam"),
    "mlp w512 d4 b16": ("digits", {}, "mlp", {**MLP, "depth": 4, "width": 512}, 16, "adam"),
    "mlp w512 d4 b64": ("digits", {}, "mlp", {**MLP, "depth": 4, "width": 512}, 64, "adam"),
    "mlp w512 d3 b256": ("digits", {}, "mlp", {**MLP, "depth": 3, "width": 512, "activation": "gelu"}, 256, "adamw"),
    "mlp w512 d4 full": ("digits", {}, "mlp", {**MLP, "depth": 4, "width": 512}, "full", "sgd"),
}


# The cost model's calibration (hpbench.cost.fusion.FUSED_STEP_FLOPS): MLPs of depth 2 over a range of
# widths and batch sizes on synthetic data (ring8, none of the cases above), fused vs unfused.
CALIBRATION = {f"ring8 mlp w{w} d2 b{b}": ("ring8", {"n_samples": 3000}, "mlp", {**MLP, "depth": 2, "width": w}, b, "adam")
               for w in (16, 64, 256, 512, 1024) for b in (32, 256)}
CALIBRATION_MIN_SPEEDUP = 1.1  # fuse only where the measured gain is clear of the noise


def configs(case: str, *, n: int, epochs: int, threads: int) -> list[TrialConfig]:
    dataset, options, family, params, bs, opt = CASES[case] if case in CASES else CALIBRATION[case]
    return [TrialConfig(seed=s, data=DataConfig(dataset=dataset, options=options, preprocess=("standardize",)),
                        model=ModelConfig(family=family, params=params), optimizer=OptimizerConfig(name=opt, lr=1e-3),
                        train=TrainConfig(max_epochs=epochs, batch_size=bs, init="kaiming_uniform"), metric="val_loss", mode="min",
                        threads=threads) for s in range(1, n + 1)]


def regime(case: str) -> str:
    """What bounds one member's (unfused) step, by the cost model (hpbench.cost.regime): the >= 3x
    target is judged on the overhead-bound cases. Priced with the cached one-thread device model
    (the calibrated one; at 2 threads compute only gets faster, so a case overhead-bound at one
    thread is at two as well)."""
    cfg = configs(case, n=1, epochs=1, threads=1)[0]
    return str(predict_trial(cfg, device_model=device_model(device="cpu", threads=1))["regime"])


def timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def as_chosen(cfgs: list[TrialConfig], members: int) -> None:
    """What hpbench runs: groups of ``members`` fused (hpbench.dispatch.fused.fuse_repeats), a group of one alone."""
    for i in range(0, len(cfgs), members):
        chunk = cfgs[i : i + members]
        if len(chunk) > 1:
            train_fused(chunk)
        else:
            train(chunk[0])


def run_case(case: str, *, n: int, epochs: int, rounds: int, threads: int) -> dict[str, Any]:
    cfgs = configs(case, n=n, epochs=epochs, threads=threads)
    flops = step_flops(cfgs[0])
    members = fuse_members(n_repeats=n, flops_per_step=flops, threads=threads)
    try:
        train_fused(cfgs[:2])  # warm both paths (imports, data cache)
    except ValueError as err:  # not fusable: hpbench runs it unfused
        return {"case": case, "fused_s": None, "unfused_s": None, "speedup": None, "flops_per_step": flops, "members": 1,
                "run_speedup": 1.0, "note": str(err)}
    train(cfgs[0])
    sides = {"fused": lambda: train_fused(cfgs), "plain": lambda: [train(c) for c in cfgs]}
    if 1 < members < n:  # the cost model's own grouping, timed as run
        sides["chosen"] = lambda: as_chosen(cfgs, members)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for r in range(rounds):  # interleaved, the order rotated each round
        names = list(sides)[r % len(sides):] + list(sides)[: r % len(sides)]
        for name in names:
            times[name].append(timed(sides[name]))
    f, p = statistics.median(times["fused"]), statistics.median(times["plain"])
    chosen = statistics.median(times["chosen"]) if "chosen" in times else (f if members > 1 else p)
    return {"case": case, "fused_s": f, "unfused_s": p, "speedup": p / f, "flops_per_step": flops, "members": members,
            "chosen_s": chosen, "run_speedup": p / chosen, "fused_all": [round(t, 4) for t in times["fused"]],
            "unfused_all": [round(t, 4) for t in times["plain"]]}


def fused_vs_plain(cfgs: list[TrialConfig], *, rounds: int) -> tuple[float, float]:
    """Median seconds of the members fused and one after another, interleaved."""
    f, p = [], []
    for r in range(rounds):
        for name in (("f", "p") if r % 2 == 0 else ("p", "f")):
            (f if name == "f" else p).append(timed((lambda: train_fused(cfgs)) if name == "f" else (lambda: [train(c) for c in cfgs])))
    return statistics.median(f), statistics.median(p)


def calibrate(*, n: int, epochs: int, rounds: int, threads: int) -> dict[str, Any]:
    """Fused vs unfused over :data:`CALIBRATION`; the largest step (FLOPs per member) whose fused
    speed-up is at least :data:`CALIBRATION_MIN_SPEEDUP`, every smaller step too (:func:`fusion_limit`);
    FUSED_STEP_FLOPS = n x that step (a group's fused step holds at most that work)."""
    rows = []
    for case in CALIBRATION:
        cfgs = configs(case, n=n, epochs=epochs, threads=threads)
        train_fused(cfgs[:2])
        train(cfgs[0])
        f, p = fused_vs_plain(cfgs, rounds=rounds)
        row = {"case": case, "flops_per_step": step_flops(cfgs[0]), "speedup": p / f}
        rows.append(row)
        print(f"{case:28s} step {row['flops_per_step'] / 1e6:8.2f} MFLOP  fused x{row['speedup']:5.2f}", flush=True)
    limit = fusion_limit(rows)
    return {"rows": rows, "member_step_flops": limit, "fused_step_flops": n * limit, "min_speedup": CALIBRATION_MIN_SPEEDUP}


def fusion_limit(rows: list[dict[str, Any]]) -> float:
    """The largest step (FLOPs per member) up to which every calibration step gained at least
    :data:`CALIBRATION_MIN_SPEEDUP` fused (a larger step that gained again is not trusted)."""
    limit = 0.0
    for row in sorted(rows, key=lambda r: r["flops_per_step"]):
        if row["speedup"] < CALIBRATION_MIN_SPEEDUP:
            break
        limit = row["flops_per_step"]
    return limit


def merge(paths: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Runs combined, a later run's case over an earlier one's; each case's grouping decided again
    by the cost model as it is now, its "as run" time the run's own when it timed that grouping,
    the fused time (all N) or the unfused one (1), else unknown (None)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    by_case: dict[str, dict[str, Any]] = {}
    for i, run in enumerate(runs):
        for row in run["cases"]:
            by_case[row["case"]] = {**row, "run": paths[i]}
    n = runs[-1]["meta"]["n"]
    rows = []
    for case in [c for c in CASES if c in by_case]:
        row = by_case[case]
        members = fuse_members(n_repeats=n, flops_per_step=row["flops_per_step"])
        if row["speedup"] is None:
            chosen = row["unfused_s"]
        elif members == row["members"] and row.get("chosen_s") is not None:
            chosen = row["chosen_s"]
        else:
            chosen = row["fused_s"] if members == n else row["unfused_s"] if members == 1 else None
        rows.append({**row, "members": members, "chosen_s": chosen, "run_speedup": None if chosen is None else row["unfused_s"] / chosen})
    return {"merged": paths, "runs": [r["meta"] for r in runs]}, rows


def write(meta: dict[str, Any], rows: list[dict[str, Any]], *, suffix: str, title: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"fused_repeats{suffix}.json").write_text(json.dumps({"meta": meta, "cases": rows}, indent=1))
    for r in rows:
        r["regime"] = r.get("regime") or regime(r["case"])
    over = [r for r in rows if r["regime"] == "overhead-bound" and r["run_speedup"] is not None]
    ran = [r for r in rows if r["run_speedup"] is not None]
    verdict = []
    if over:
        low = min(over, key=lambda r: r["run_speedup"])
        verdict.append(f"overhead-bound cases (the cost model's regime): {sum(r['run_speedup'] >= 3 for r in over)} of {len(over)} at >= 3x as run, "
                       f"the lowest {low['run_speedup']:.2f}x ({low['case']})")
    if ran:
        low = min(ran, key=lambda r: r["run_speedup"])
        verdict.append(f"every case as run: the lowest {low['run_speedup']:.2f}x ({low['case']}); never slower: "
                       + ("met" if low["run_speedup"] >= 1 else "not met"))
    lines = [title, "", *[f"- {v}" for v in verdict], "",
             "| case | regime | MFLOP/step | unfused s | fused s | fused speed-up | members chosen | as run |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['regime']} | {(r['flops_per_step'] or 0) / 1e6:.1f} | "
              + (f"{r['unfused_s']:.2f} | {r['fused_s']:.2f} | {r['speedup']:.2f}x" if r["speedup"] else f"- | - | not fusable ({r['note']})")
              + f" | {r['members']} | " + ("-" if r["run_speedup"] is None else f"{r['run_speedup']:.2f}x") + " |" for r in rows]
    (OUT / f"fused_repeats{suffix}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads of both sides (default: every core)")
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--suffix", default="", help="write fused_repeats<suffix>.{json,md}")
    ap.add_argument("--calibrate", action="store_true", help="measure FUSED_STEP_FLOPS instead (fused_repeats-calibration.json)")
    ap.add_argument("--merge", nargs="*", metavar="JSON", help="combine earlier runs' JSON files instead (later over earlier)")
    args = ap.parse_args()
    if args.merge:
        meta, rows = merge(args.merge)
        write(meta, rows, suffix=args.suffix, title=f"# Fused repeats: N = {meta['runs'][-1]['n']}, runs merged: " + ", ".join(
            f"{Path(p).name} ({m['epochs']} epochs, {m['threads']} threads, median of {m['rounds']}, load {m.get('loadavg_start', m['loadavg'])[0]:.1f}"
            f"-{m['loadavg'][0]:.1f})" for p, m in zip(args.merge, meta["runs"], strict=True)))
        return
    if args.calibrate:
        cal = calibrate(n=args.n, epochs=2, rounds=args.rounds, threads=args.threads)
        cal["meta"] = {"n": args.n, "epochs": 2, "rounds": args.rounds, "threads": args.threads, "loadavg": os.getloadavg(), "torch": torch.__version__}
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "fused_repeats-calibration.json").write_text(json.dumps(cal, indent=1))
        print(f"FUSED_STEP_FLOPS = {cal['fused_step_flops']:.3g} ({args.n} x {cal['member_step_flops'] / 1e6:.1f} MFLOP)")
        return
    rows = []
    load0 = os.getloadavg()
    for case in args.cases:
        row = run_case(case, n=args.n, epochs=args.epochs, rounds=args.rounds, threads=args.threads)
        rows.append({**row, "regime": regime(case), "loadavg": os.getloadavg()[0]})
        print(f"{case:20s} [{rows[-1]['regime']}, load {rows[-1]['loadavg']:.1f}] " + (f"fused {row['fused_s']:7.2f} s  unfused {row['unfused_s']:7.2f} s  x{row['speedup']:5.2f}  "
                                if row["speedup"] else f"not fused: {row['note']}  ")
              + f"step {(row['flops_per_step'] or 0) / 1e6:8.1f} MFLOP  members {row['members']}  as run x{row['run_speedup']:5.2f}", flush=True)
    load = os.getloadavg()
    meta = {"n": args.n, "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads, "torch": torch.__version__,
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "loadavg_start": load0, "loadavg": load}
    write(meta, rows, suffix=args.suffix, title=f"# Fused repeats: N = {args.n}, {args.epochs} epochs, {args.threads} thread(s), "
          f"median of {args.rounds}, load average {load0[0]:.1f} at the start, {load[0]:.1f} at the end")


if __name__ == "__main__":
    main()
