"""Recurrent layers priced from their grid (:mod:`hpbench.cost.recurrent`) against op by op, on
the same measurements: one calibration (micro-benchmarks, the recurrent grid and the suite's
probes timed once), then the suite's coefficients fitted twice on the same timed rows (features
with the recurrent grid, and without it: the schema-7 pricing), and both models replayed on
recorded ``benchmarks/cost_model.py`` runs (their trials' measured ``train_s``; nothing trained
in Ray). A third column prices tiny networks term by term against their measured epoch (where
the overhead-bound over-prediction comes from).

    benchmarks/exclusive.sh env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/recurrent_grid.py --time     # ~1.5 min, timed
    .venv/bin/python benchmarks/recurrent_grid.py --replay RUN.json ...                                   # offline

``--time`` writes results/benchmarks/recurrent_grid-rows.json (the device model, the rows and the
tiny networks' terms); ``--replay`` reads it and writes results/benchmarks/recurrent_grid.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROWS = Path("results/benchmarks/recurrent_grid-rows.json")
# Tiny networks of the quiet run's worst over-predictions (results/benchmarks/cost_model.md, seed
# 1673824814), as suite probes (synthetic data, not the run's): (kind, n_in, depth, width, batch, n_train, seq)
TINY = (("mlp", 64, 3, 10, 890, 890, 1), ("mlp", 64, 4, 67, 3, 300, 1), ("mlp", 64, 5, 14, 14, 600, 1),
        ("rnn", 1, 1, 16, 155, 600, 40), ("gru", 1, 1, 16, 64, 600, 40), ("lstm", 1, 3, 21, 174, 600, 40))


def nogrid(dm: Any) -> Any:
    return dataclasses.replace(dm, recurrent_grid=(), recurrent_flops_per_s={})


def timed(cache_dir: Path, *, recalibrate: bool) -> None:
    import torch

    from hpbench.cost import suite
    from hpbench.cost.calibrate import device_model
    from hpbench.cost.predict import seconds

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    dm = device_model(device="cpu", threads=1, cache_dir=cache_dir, recalibrate=recalibrate, log=print)
    torch.set_num_threads(1)
    t1 = time.perf_counter()
    probes = suite.PROBES
    times = [suite.measure_probe_first(p, device="cpu") for p in probes]
    rows = [{"kind": p.kind, "grid": suite.probe_features(p, dm), "ops": suite.probe_features(p, nogrid(dm)), "fastest_s": t, "first_s": f}
            for p, (t, f) in zip(probes, times, strict=True)]
    tiny = []
    for kind, n_in, depth, width, bs, n_train, seq in TINY:
        p = suite.Probe(kind=kind, n_in=n_in, depth=depth, width=width, batch_size=bs, n_train=n_train, seq_len=seq, optimizer="rmsprop")
        t, _ = suite.measure_probe_first(p, device="cpu")
        tiny.append({"probe": dataclasses.asdict(p), "measured_s": t, "grid": suite.probe_features(p, dm), "ops": suite.probe_features(p, nogrid(dm))})
    data = {"measured_at": time.time(), "load_average": [load0, os.getloadavg()[0]], "calibration_s": dm.calibration_s,
            "suite_s": time.perf_counter() - t1, "device_model": dm.to_dict(), "rows": rows, "tiny": tiny}
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    ROWS.write_text(json.dumps(data, indent=1), encoding="utf-8")
    print(f"calibration {dm.calibration_s:.1f} s (in this run {t1 - t0:.1f} s), suite {data['suite_s']:.1f} s, "
          f"load {data['load_average']}: {ROWS}")
    for t in tiny:
        print(t["probe"]["kind"], t["probe"]["width"], t["probe"]["batch_size"], f"measured {t['measured_s']:.4f}",
              f"grid {seconds(t['grid'], dm.coef):.4f}")


def terms(f: dict[str, float], coef: dict[str, float]) -> str:
    parts = sorted(((coef.get(k, 0.0) * v, k) for k, v in f.items() if coef.get(k, 0.0) * v > 0), reverse=True)
    return ", ".join(f"{k} {1000 * s:.1f}" for s, k in parts[:4])


def replayed(paths: list[Path], *, concurrency: list[int]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import cost_model as cm

    from hpbench.cost import suite
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.predict import seconds

    data = json.loads(ROWS.read_text(encoding="utf-8"))
    dm = DeviceModel.from_dict(data["device_model"])
    # the features again from the probes (no timing): the rows' times stay, the model's terms are today's code's
    for r, p in zip(data["rows"], suite.PROBES, strict=True):
        r["grid"], r["ops"] = suite.probe_features(p, dm), suite.probe_features(p, nogrid(dm))
    for t in data["tiny"]:
        p = suite.Probe(**t["probe"])
        t["grid"], t["ops"] = suite.probe_features(p, dm), suite.probe_features(p, nogrid(dm))
    kinds = [r["kind"] for r in data["rows"]]
    models = {}
    for name, key, base in (("grid", "grid", dm), ("ops", "ops", nogrid(dm))):
        fitted = suite.fit_rows([(r[key], r["fastest_s"], r["first_s"]) for r in data["rows"]], kinds=kinds)
        models[name] = dataclasses.replace(base, coef=fitted.coef, fit_error=fitted.fit_error, intervals=fitted.intervals)
        print(f"{name}: fit error {fitted.fit_error:.3f}, coef {({k: float(f'{v:.3g}') for k, v in fitted.coef.items()})}", flush=True)
    md = [f"# Recurrent layers from their grid vs op by op ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
          f"One calibration (schema 8, measured {time.strftime('%H:%M UTC', time.gmtime(data['measured_at']))}, load average "
          f"{data['load_average'][0]:.1f} -> {data['load_average'][1]:.1f}, calibration {data['calibration_s']:.1f} s); the suite's "
          f"{len(data['rows'])} probes timed once ({data['suite_s']:.1f} s) and fitted twice: with the recurrent grid "
          "(coef " + json.dumps({k: float(f"{v:.3g}") for k, v in models["grid"].coef.items()}) + f", fit error {models['grid'].fit_error:.3f}) "
          "and op by op (coef " + json.dumps({k: float(f"{v:.3g}") for k, v in models["ops"].coef.items()})
          + f", fit error {models['ops'].fit_error:.3f}). Replayed runs: {', '.join(p.name for p in paths)}.", ""]
    md += ["**Tiny networks (synthetic, timed in this process): measured epoch vs each model, ms, and its largest terms**", "",
           "| probe | measured | grid model | op-by-op model | grid terms (ms) | op-by-op terms (ms) |", "|---|---|---|---|---|---|"]
    for t in data["tiny"]:
        p = t["probe"]
        g, o = seconds(t["grid"], models["grid"].coef), seconds(t["ops"], models["ops"].coef)
        md.append(f"| {p['kind']} w{p['width']} d{p['depth']} b{p['batch_size']} n{p['n_train']} T{p['seq_len']} | {1000 * t['measured_s']:.1f} | "
                  f"{1000 * g:.1f} ({100 * (g / t['measured_s'] - 1):+.0f}%) | {1000 * o:.1f} ({100 * (o / t['measured_s'] - 1):+.0f}%) | "
                  f"{terms(t['grid'], models['grid'].coef)} | {terms(t['ops'], models['ops'].coef)} |")
    md.append("")
    for name, model in models.items():
        rows = cm.replay(paths, dm=model, concurrency=concurrency)
        md += [f"## {name}", "", *cm.replay_report(rows, concurrency)]
        print(f"{name} replayed", flush=True)
    out = ROWS.with_name("recurrent_grid.md")
    out.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", action="store_true", help="calibrate and time the suite's probes (under benchmarks/exclusive.sh)")
    ap.add_argument("--recalibrate", action="store_true", help="with --time: measure the device model again even if cached")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/hpbench-recurrent-grid"), help="the device model cache this uses")
    ap.add_argument("--replay", type=Path, nargs="+", default=None, help="cost_model*.json runs to price again with both fits (offline)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1], help="the recorded levels to replay")
    args = ap.parse_args()
    if args.time:
        timed(args.cache_dir, recalibrate=args.recalibrate)
    if args.replay:
        replayed(args.replay, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
