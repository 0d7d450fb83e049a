"""2-D convolutions priced from their grid (:mod:`hpbench.cost.conv`) against op by op (the
FLOP curve of ``microbench.measure_conv``), on the same measurements: one calibration
(micro-benchmarks, the grids and the suite's probes timed once), then the suite's coefficients
fitted twice on the same timed rows (features with the convolution grid, and without it: the
schema-8 pricing), and both models replayed on recorded ``benchmarks/cost_model.py`` runs (their
trials' measured ``train_s``; nothing trained in Ray). A second table times the convolution
layers of the quiet run's digits CNNs (their shapes, synthetic data) against both pricings.

    benchmarks/exclusive.sh env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/conv_grid.py --time     # ~1.5 min, timed
    .venv/bin/python benchmarks/conv_grid.py --replay RUN.json ...                                   # offline

``--time`` writes results/benchmarks/conv_grid-rows.json (the device model, the rows, the layers);
``--replay`` reads it and writes results/benchmarks/conv_grid.md.
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

ROWS = Path("results/benchmarks/conv_grid-rows.json")
# (batch·H·W, side, C_in, C_out, input needs a gradient) of the convolution layers of the quiet
# run's c=1 digits CNNs (seed 806290811: channels 4/7/71/43, batch 881/full/5, conv_depth 3/3/2/1)
LAYERS = ((56384, 8, 1, 4, 0), (14096, 4, 4, 8, 1), (3524, 2, 8, 16, 1), (91968, 8, 1, 7, 0), (22992, 4, 7, 14, 1),
          (5748, 2, 14, 28, 1), (91968, 8, 1, 71, 0), (22992, 4, 71, 142, 1), (320, 8, 1, 43, 0))


def nogrid(dm: Any) -> Any:
    return dataclasses.replace(dm, conv_grid=(), conv_grid_flops_per_s=(), conv_first_call_s=())


def time_layers(dm: Any) -> list[dict[str, Any]]:
    """Each of LAYERS trained (forward + backward) and evaluated alone, the fastest of 3 samples."""
    import torch

    from hpbench.cost import conv
    from hpbench.cost.microbench import fastest_call, timer
    from hpbench.cost.ops import OpRecord
    from hpbench.cost.predict import conv_kernel, op_kernel

    now = timer("cpu")
    out = []
    for pos, side, c_in, c_out, grad in LAYERS:
        m = torch.nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        x = torch.randn(pos // (side * side), c_in, side, side).requires_grad_(bool(grad))
        train_s = fastest_call(lambda m=m, x=x: m(x).sum().backward(), now=now, min_s=0.005)  # type: ignore[misc]

        def ev(m: Any = m, x: Any = x) -> None:
            with torch.no_grad():
                m(x)

        eval_s = fastest_call(ev, now=now, min_s=0.005)
        shape = (pos, side, c_in, c_out, 3, grad)
        f = conv.conv_flops(positions=pos, c_in=c_in, c_out=c_out, kernel=3)
        grid = {ph: conv_kernel(OpRecord(name="conv2d", kind="conv2d", phase=ph, flops=0.0, bytes=0.0, shape=shape), device=dm)
                for ph in ("forward", "eval")}
        fwd = op_kernel(OpRecord(name="convolution", kind="matmul", phase="forward", flops=f, bytes=0.0), device=dm)[1]
        bwd = op_kernel(OpRecord(name="convolution_backward", kind="matmul", phase="backward", flops=2 * f, bytes=0.0), device=dm)[1]
        out.append({"shape": shape, "train_s": train_s, "eval_s": eval_s, "grid_train_s": grid["forward"], "grid_eval_s": grid["eval"],
                    "curve_train_s": fwd + bwd, "curve_eval_s": fwd})
    return out


def timed(cache_dir: Path, *, recalibrate: bool) -> None:
    import torch

    from hpbench.cost import conv, suite
    from hpbench.cost.calibrate import device_model

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    dm = device_model(device="cpu", threads=1, cache_dir=cache_dir, recalibrate=recalibrate, log=print)
    torch.set_num_threads(1)
    t1 = time.perf_counter()
    timed_rows = suite.measure_rows(dm, device="cpu", probes=suite.PROBES)  # as the calibration times them (interleaved rounds)
    rows = [{"kind": p.kind, "fastest_s": t, "first_s": f} for p, (_, t, f) in zip(suite.PROBES, timed_rows, strict=True)]
    t2 = time.perf_counter()
    layers = time_layers(dm)
    t3 = time.perf_counter()
    again, first_again = conv.measure_conv_grid(device="cpu", axes=dm.conv_grid)  # what the grid adds to a calibration, and its repeatability
    data = {"measured_at": time.time(), "load_average": [load0, os.getloadavg()[0]], "calibration_s": dm.calibration_s,
            "suite_s": t2 - t1, "layers_s": t3 - t2, "grid_s": time.perf_counter() - t3, "grid_again": again,
            "first_call_again_s": first_again, "device_model": dm.to_dict(), "rows": rows, "layers": layers}
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    ROWS.write_text(json.dumps(data, indent=1), encoding="utf-8")
    print(f"calibration {dm.calibration_s:.1f} s (in this run {t1 - t0:.1f} s), suite {data['suite_s']:.1f} s, "
          f"load {data['load_average']}: {ROWS}")


def replayed(paths: list[Path], *, concurrency: list[int]) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import cost_model as cm

    from hpbench.cost import suite
    from hpbench.cost.device import DeviceModel

    data = json.loads(ROWS.read_text(encoding="utf-8"))
    dm = DeviceModel.from_dict(data["device_model"])
    kinds = [r["kind"] for r in data["rows"]]
    models = {}
    for name, base in (("grid", dm), ("curve", nogrid(dm))):
        feats = [suite.probe_features(p, base) for p in suite.PROBES]  # today's code's terms; the rows' times stay
        fitted = suite.fit_rows([(f, r["fastest_s"], r["first_s"]) for f, r in zip(feats, data["rows"], strict=True)], kinds=kinds,
                                limits=suite.bounds(base) if suite.BOUNDED_FIT else None)  # the calibration's own fit
        models[name] = dataclasses.replace(base, coef=fitted.coef, fit_error=fitted.fit_error, intervals=fitted.intervals)
        print(f"{name}: fit error {fitted.fit_error:.3f}, coef {({k: float(f'{v:.3g}') for k, v in fitted.coef.items()})}", flush=True)
    coef = {name: json.dumps({k: float(f"{v:.3g}") for k, v in m.coef.items()}) for name, m in models.items()}
    md = [f"# 2-D convolutions from their grid vs the FLOP curve ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
          f"One calibration (schema 9, measured {time.strftime('%H:%M UTC', time.gmtime(data['measured_at']))}, load average "
          f"{data['load_average'][0]:.1f} -> {data['load_average'][1]:.1f}, calibration {data['calibration_s']:.1f} s); the suite's "
          f"{len(data['rows'])} probes timed once ({data['suite_s']:.1f} s) and fitted twice: with the convolution grid (coef "
          f"{coef['grid']}, fit error {models['grid'].fit_error:.3f}) and with the FLOP curve (coef {coef['curve']}, fit error "
          f"{models['curve'].fit_error:.3f}). Replayed runs: {', '.join(p.name for p in paths)}.", "",
          *grid_lines(data, dm), "",
          "**The quiet run's CNN layers (synthetic data, timed alone in the same hold): ms, and predicted / measured**", "",
          "| batch·H·W, side, C_in -> C_out, input grad | train | grid | FLOP curve | eval | grid | FLOP curve |", "|---|---|---|---|---|---|---|"]
    for r in data["layers"]:
        pos, side, ci, co, _, g = r["shape"]
        md.append(f"| {pos}, {side}, {ci} -> {co}, {g} | {1000 * r['train_s']:.2f} | {r['grid_train_s'] / r['train_s']:.2f} | "
                  f"{r['curve_train_s'] / r['train_s']:.2f} | {1000 * r['eval_s']:.2f} | {r['grid_eval_s'] / r['eval_s']:.2f} | "
                  f"{r['curve_eval_s'] / r['eval_s']:.2f} |")
    md.append("")
    for name, model in models.items():
        rows = cm.replay(paths, dm=model, concurrency=concurrency)
        md += [f"## {name}", "", *cm.replay_report(rows, concurrency)]
        print(f"{name} replayed", flush=True)
    out = ROWS.with_name("conv_grid.md")
    out.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


def grid_lines(data: dict[str, Any], dm: Any) -> list[str]:
    """What the grid costs and how well two measurements of it in one hold agree."""
    import math
    import statistics

    if "grid_s" not in data:
        return []
    ratios = [abs(math.log(b / a)) for mode, again in zip(dm.conv_grid_flops_per_s, data["grid_again"], strict=True)
              for a, b in zip(mode, again, strict=True)]
    first = ", ".join(f"{1000 * a:.2f} / {1000 * b:.2f}" for a, b in zip(dm.conv_first_call_s, data["first_call_again_s"], strict=True))
    return [f"The convolution grid measured again after the calibration: {data['grid_s']:.1f} s on one core; its rates vs the "
            f"calibration's: median |log ratio| {statistics.median(ratios):.3f}, max {max(ratios):.3f} ({len(ratios)} rates); a new "
            f"shape's first-call extra (training, evaluation) calibration / again: {first} ms."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", action="store_true", help="calibrate and time the suite's probes and the CNN layers (under benchmarks/exclusive.sh)")
    ap.add_argument("--recalibrate", action="store_true", help="with --time: measure the device model again even if cached")
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/hpbench-conv-grid"), help="the device model cache this uses")
    ap.add_argument("--replay", type=Path, nargs="+", default=None, help="cost_model*.json runs to price again with both fits (offline)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1], help="the recorded levels to replay")
    args = ap.parse_args()
    if args.time:
        timed(args.cache_dir, recalibrate=args.recalibrate)
    if args.replay:
        replayed(args.replay, concurrency=args.concurrency)


if __name__ == "__main__":
    main()
