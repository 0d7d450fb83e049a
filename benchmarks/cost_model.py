"""Acceptance benchmark of the cost model (issue 4): predicted vs measured seconds per epoch.

Calibrates the CPU device model in the same run (micro-benchmarks and the synthetic probe
suite of :mod:`hpbench.cost.suite`; none of the configurations below is used to calibrate),
then trains >= 40 configurations across every model family, width, depth and batch size for a
few epochs on CPU at one thread, ``--rounds`` times, interleaved (every configuration once per
round), and compares the measured epoch time with hpbench's prediction and with the naive
FLOPs / peak baseline.

Measured seconds per epoch of a configuration: the fastest epoch after the first (which warms
up) over all rounds. On a shared machine other processes only ever add time, so the minimum is
the repeatable figure (the calibration suite is timed the same way); the median over all those
epochs is recorded too, with the summary against it.

    .venv/bin/python benchmarks/cost_model.py [--epochs 3] [--rounds 3] [--threads 1] [--out results/benchmarks]

Writes ``cost_model.json`` (every configuration) and ``cost_model.md`` (the summary).
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

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
from hpbench.cost.annotate import predict_trial
from hpbench.cost.calibrate import calibrate
from hpbench.models import FAMILIES

DIGITS = dict(dataset="digits", preprocess=("standardize",))
SEQ = dict(dataset="temporal_order", options={"seq_len": 20, "n_samples": 800})


def configs() -> list[tuple[str, dict[str, Any], dict[str, Any], int | str, str]]:
    """(family, model params, data, batch size, optimizer)."""
    out: list[tuple[str, dict[str, Any], dict[str, Any], int | str, str]] = []
    for depth, width, bs, opt in [
        (1, 16, 16, "adam"), (1, 32, 64, "sgd"), (2, 32, 16, "adam"), (4, 32, 32, "momentum"), (8, 64, 64, "adam"),
        (2, 128, 32, "adam"), (3, 128, 128, "rmsprop"), (2, 256, 256, "adam"), (1, 512, 64, "sgd"), (2, 512, "full", "adam"),
        (3, 1024, 256, "adam"), (2, 1024, "full", "sgd"), (1, 2048, 512, "adam"), (4, 256, 16, "adamw"), (0, 1, 32, "adam"),
        (2, 64, "full", "adam"),
    ]:
        out.append(("mlp", {"depth": depth, "width": width}, DIGITS, bs, opt))
    for depth, ch, bs, bn in [(1, 8, 32, True), (1, 16, 128, False), (2, 8, 64, True), (2, 32, 128, True), (2, 64, 256, True),
                              (3, 16, 32, True), (1, 64, "full", False), (2, 16, 16, False)]:
        out.append(("cnn", {"conv_depth": depth, "channels": ch, "batch_norm": bn}, DIGITS, bs, "adam"))
    for ds, bs in [("breast_cancer", 32), ("wine", 16), ("diabetes", 64), ("iris", "full")]:
        out.append(("mlp", {"depth": 2, "width": 64}, {"dataset": ds, "preprocess": ("standardize",)}, bs, "adam"))
    for fam in ("rnn", "lstm", "gru"):
        if fam in FAMILIES:
            for hidden, layers, bs in [(16, 1, 32), (64, 1, 64), (128, 2, 128)]:
                out.append((fam, {"hidden_size": hidden, "layers": layers}, SEQ, bs, "adam"))
    if "transformer" in FAMILIES:
        for layers, d, ff, bs in [(1, 32, 64, 32), (2, 64, 128, 64), (2, 128, 256, 128), (1, 16, 32, 16)]:
            out.append(("transformer", {"layers": layers, "d_model": d, "heads": 4, "ff_width": ff}, SEQ, bs, "adam"))
    return out


def trial(family: str, params: dict[str, Any], data: dict[str, Any], bs: int | str, opt: str, *, epochs: int, threads: int) -> TrialConfig:
    return TrialConfig(
        seed=0, data=DataConfig(dataset=data["dataset"], preprocess=tuple(data.get("preprocess", ())), options=data.get("options", {})),
        model=ModelConfig(family=family, params=params), optimizer=OptimizerConfig(name=opt, lr=1e-3),
        train=TrainConfig(max_epochs=epochs, batch_size=bs), metric="val_loss", mode="min", threads=threads,
    )


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for rank, i in enumerate(order):
            r[i] = float(rank)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    return cov / (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5


def summary(pred: list[float], meas: list[float]) -> dict[str, float]:
    errs = sorted(abs(p - m) / m * 100 for p, m in zip(pred, meas, strict=True))
    if len(errs) < 2:
        return {"median_abs_pct_error": errs[0], "p90_abs_pct_error": errs[0], "spearman": float("nan")}
    return {"median_abs_pct_error": statistics.median(errs), "p90_abs_pct_error": errs[min(len(errs) - 1, int(0.9 * len(errs)))],
            "spearman": spearman(pred, meas)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    args = ap.parse_args()
    import torch

    from hpbench.train.trainer import train

    t0 = time.perf_counter()
    dev = calibrate(device="cpu", threads=args.threads, log=print)
    print(f"calibrated in {dev.calibration_s:.1f}s: peak {dev.peak_flops_per_s / 1e9:.1f} GFLOP/s, "
          f"bandwidth {dev.bandwidth_bytes_per_s / 1e9:.1f} GB/s, fit error on the probe suite {dev.fit_error:.1%}, coef {dev.coef}")
    cfgs = [(fam, params, data, bs, opt, trial(fam, params, data, bs, opt, epochs=args.epochs, threads=args.threads))
            for fam, params, data, bs, opt in configs()]
    preds = [predict_trial(c[-1], device_model=dev) for c in cfgs]
    epochs: list[list[float]] = [[] for _ in cfgs]
    for r in range(args.rounds):
        for i, c in enumerate(cfgs):
            out = train(c[-1])
            epochs[i] += [h["epoch_s"] for h in out.history[1:]] or [out.history[0]["epoch_s"]]
        print(f"round {r + 1}/{args.rounds} done at {time.perf_counter() - t0:.0f}s")
    rows = []
    for (fam, params, data, bs, opt, _cfg), cols, ep in zip(cfgs, preds, epochs, strict=True):
        measured = min(ep)
        row = {"family": fam, "params": params, "dataset": data["dataset"], "batch_size": bs, "optimizer": opt,
               "n_params": cols["n_params"], "flops_per_step": cols["flops_per_step"], "flops_per_epoch": cols["flops_per_epoch"],
               "predicted_epoch_s": cols["predicted_epoch_s"], "naive_epoch_s": cols["naive_s"] / args.epochs, "measured_epoch_s": measured,
               "measured_median_epoch_s": statistics.median(ep), "measured_epochs_s": ep}
        row["error_pct"] = (row["predicted_epoch_s"] - measured) / measured * 100
        rows.append(row)
        print(f"{fam:11s} {json.dumps(params):60s} bs={bs!s:5s} {opt:8s} flops/epoch={row['flops_per_epoch']:.3g} "
              f"measured={measured * 1e3:8.2f}ms (median {row['measured_median_epoch_s'] * 1e3:8.2f}) "
              f"predicted={row['predicted_epoch_s'] * 1e3:8.2f}ms ({row['error_pct']:+.0f}%) naive={row['naive_epoch_s'] * 1e3:8.2f}ms")
    meas = [r["measured_epoch_s"] for r in rows]
    model = summary([r["predicted_epoch_s"] for r in rows], meas)
    naive = summary([r["naive_epoch_s"] for r in rows], meas)
    vs_median = summary([r["predicted_epoch_s"] for r in rows], [r["measured_median_epoch_s"] for r in rows])
    families = sorted({r["family"] for r in rows})
    per_family = {}
    for fam in families:
        fr = [r for r in rows if r["family"] == fam]
        fm = [r["measured_epoch_s"] for r in fr]
        per_family[fam] = {"n": len(fr), "hpbench": summary([r["predicted_epoch_s"] for r in fr], fm),
                           "naive": summary([r["naive_epoch_s"] for r in fr], fm),
                           "median_signed_pct_error": statistics.median(r["error_pct"] for r in fr)}
    targets = {"median_abs_pct_error": 10, "p90_abs_pct_error": 25, "spearman": 0.95}
    met = {"median_abs_pct_error": model["median_abs_pct_error"] <= 10, "p90_abs_pct_error": model["p90_abs_pct_error"] <= 25,
           "spearman": model["spearman"] >= 0.95}
    result = {"n_configs": len(rows), "families": families, "epochs": args.epochs, "rounds": args.rounds, "threads": args.threads,
              "measured": "fastest epoch after the first, over all rounds", "hpbench": model, "naive": naive,
              "hpbench_vs_median_measured": vs_median, "per_family": per_family, "targets": targets, "targets_met": met,
              "calibration": "device micro-benchmarks + hpbench.cost.suite probes (synthetic torch.nn nets on random data); "
                             "no benchmark configuration is used to calibrate",
              "device": dev.to_dict(), "machine": {"host": platform.node(), "torch": torch.__version__, "cpus": os.cpu_count(),
                                                   "loadavg_at_end": os.getloadavg()},
              "runtime_s": time.perf_counter() - t0, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost_model.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    md = [f"# Cost model benchmark ({len(rows)} configurations; {', '.join(families)}; CPU, {args.threads} thread)", "",
          f"Measured: fastest epoch after the first over {args.rounds} interleaved rounds of {args.epochs} epochs. "
          "Calibrated in the same run on micro-benchmarks and a synthetic probe suite disjoint from these configurations.", "",
          "| predictor | median abs % error | P90 abs % error | Spearman |", "|---|---|---|---|"]
    for name, s in (("hpbench", model), ("naive FLOPs/peak", naive), ("hpbench vs median epoch", vs_median)):
        md.append(f"| {name} | {s['median_abs_pct_error']:.1f} | {s['p90_abs_pct_error']:.1f} | {s['spearman']:.3f} |")
    md += ["", "Per family (hpbench / naive):", "", "| family | n | median abs % | P90 abs % | Spearman | median signed % | naive median abs % |",
           "|---|---|---|---|---|---|---|"]
    for fam, f in per_family.items():
        h = f["hpbench"]
        md.append(f"| {fam} | {f['n']} | {h['median_abs_pct_error']:.1f} | {h['p90_abs_pct_error']:.1f} | {h['spearman']:.3f} | "
                  f"{f['median_signed_pct_error']:+.1f} | {f['naive']['median_abs_pct_error']:.1f} |")
    md += ["", "Targets: median <= 10%, P90 <= 25%, Spearman >= 0.95: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()) + ".",
           f"Runtime {result['runtime_s']:.0f} s (calibration {dev.calibration_s:.0f} s, probe-suite fit error {dev.fit_error:.1%}), "
           f"host {platform.node()} ({os.cpu_count()} CPUs, load average at end {os.getloadavg()[0]:.1f}), "
           f"peak {dev.peak_flops_per_s / 1e9:.1f} GFLOP/s, bandwidth {dev.bandwidth_bytes_per_s / 1e9:.1f} GB/s."]
    (args.out / "cost_model.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
