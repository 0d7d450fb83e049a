"""Calibration repeatability (issue 13): the same device calibrated N times back to back, each a
full calibration in a fresh process with a fresh cache (``hpbench devices --recalibrate --json
--cache-dir``), and the spread of every figure it records: micro-benchmark rates, the fitted
coefficients, the trainer's fixed costs, the intervals, the concurrency slowdown. Then what the
spread does to predictions: the c=1 trials of a recorded ``cost_model*.json`` run priced with each
calibration (offline): per trial max / min of the predicted seconds, and each calibration's
median error against the trials' measured ``train_s``.

    benchmarks/exclusive.sh env PYTHONPATH=$PWD .venv/bin/python benchmarks/calibration_repeat.py --label after   # ~2 min, timed
    .venv/bin/python benchmarks/calibration_repeat.py --merge before after [--replay RUN.json] [--md NAME.md]       # offline

A run writes results/benchmarks/calibration_repeat-<label>.json (the N device models and the load
average); ``--merge`` writes results/benchmarks/calibration_repeat.md with each label's spread.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path("results/benchmarks")
REPLAY = OUT / "cost_model-seed806290811.json"  # the quiet run of session 7 (the lead, idle machine)


_CHILD = """
import json, sys
from hpbench.cost import suite
from hpbench.cost.calibrate import device_model
rows = []
fit_rows = suite.fit_rows
def keep(r, **kw):  # the suite's timed rows, kept for --merge's refits (the fit itself unchanged)
    rows.append(r)
    return fit_rows(r, **kw)
suite.fit_rows = keep
m = device_model(device="cpu", threads=1, cache_dir=__import__("pathlib").Path(sys.argv[1]), recalibrate=True)
print(json.dumps({"model": m.to_dict(), "rows": rows[0] if rows else None}))
"""


def calibrate_once(cache_dir: Path) -> dict[str, Any]:
    """One full calibration in a fresh interpreter with a trial worker's thread environment
    (OMP_NUM_THREADS=1: calibrated in that process, as ``hpbench devices`` does in its child)."""
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _CHILD, str(cache_dir)], capture_output=True, text=True, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {**out, "wall_s": time.perf_counter() - t0, "load": [load0, os.getloadavg()[0]], "started_at": time.time()}


def run(label: str, n: int) -> None:
    runs = []
    with tempfile.TemporaryDirectory(prefix="calrep_") as tmp:
        for i in range(n):
            runs.append(calibrate_once(Path(tmp) / str(i)))
            print(f"calibration {i + 1}/{n}: {runs[-1]['wall_s']:.1f} s, load {runs[-1]['load']}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    path = OUT / f"calibration_repeat-{label}.json"
    path.write_text(json.dumps({"label": label, "commit": commit, "runs": runs}, indent=1), encoding="utf-8")
    print(f"wrote {path}")


def figures(m: dict[str, Any]) -> dict[str, float]:
    """The device model's figures, one number each (grids: kept whole for the per-shape spread)."""
    out = {"peak matmul FLOP/s": m["peak_flops_per_s"], "matmul FLOP/s, smallest": m["matmul_flops_per_s"][0],
           "copy bandwidth (64 MB)": m["bandwidth_bytes_per_s"], "op overhead s": m["op_overhead_s"],
           "conv forward, largest": m["conv_flops_per_s"][-1], "conv backward, largest": m["conv_backward_flops_per_s"][-1]}
    out |= {f"bandwidth curve at {int(b) >> 10} KiB": v for b, v in zip(m["bandwidth_bytes"], m["bandwidth_curve"], strict=True)}
    out |= {f"fit: {k}": v for k, v in m["coef"].items() if k not in ("matmul", "conv")}
    out |= {"fit error (suite)": m["fit_error"], "first epoch extra s": m["first_epoch_s"], "trainer epoch s": m["trainer_epoch_s"],
            "warm-up fraction": m["warmup_fraction"], "calibration s": m["calibration_s"]}
    out |= {f"interval {k} P10": v[0] for k, v in m["intervals"].items()} | {f"interval {k} P90": v[1] for k, v in m["intervals"].items()}
    out |= {f"concurrency {k}": v for k, v in m["concurrency_slowdown"].items()}
    return out


def spread(values: list[float]) -> float | None:
    """max / min (None when a value is 0: a term at 0 in one calibration and not in another)."""
    lo, hi = min(values), max(values)
    return hi / lo if lo > 0 else (1.0 if hi == 0 else None)


def grid_spread(runs: list[dict[str, Any]], key: str) -> float:
    """Median over the grid's shapes of max / min across the calibrations."""
    cols = list(zip(*(r["model"][key] for r in runs), strict=True))
    return statistics.median(max(c) / min(c) for c in cols)


def recurrent_spread(runs: list[dict[str, Any]]) -> float:
    """Median over every cell's training and evaluation rates at every shape of max / min across the calibrations."""
    per_run = [[v for pair in r["model"]["recurrent_flops_per_s"].values() for rates in pair for v in rates] for r in runs]
    return statistics.median(max(c) / min(c) for c in zip(*per_run, strict=True))


def _memo_counts() -> None:
    """Count each trial's step once for all the calibrations that price it (the count does not
    depend on the device model; counting a recurrent network takes seconds)."""
    from hpbench.cost import count

    if getattr(count.count_step, "memo", None) is not None:
        return
    real, memo = count.count_step, {}

    def counted(**kw: Any) -> Any:
        key = json.dumps(kw, sort_keys=True, default=str)
        if key not in memo:
            memo[key] = real(**kw)
        return memo[key]

    counted.memo = memo  # type: ignore[attr-defined]
    count.count_step = counted  # type: ignore[assignment]


def priced(runs: list[dict[str, Any]], replay: Path) -> list[str]:
    """The recorded c=1 trials priced with each calibration."""
    sys.path.insert(0, str(Path(__file__).parent))
    from cost_model import recorded_config

    from hpbench.cost.annotate import predict_trial, spent
    from hpbench.cost.device import DeviceModel

    _memo_counts()
    rec = json.loads(replay.read_text(encoding="utf-8"))
    rows = [r for r in rec["rows"] if r["concurrent"] == 1]
    preds = []
    for run_ in runs:
        dm = DeviceModel.from_dict(run_["model"])
        ps = []
        for r in rows:
            cols = predict_trial(recorded_config(rec, r, epochs=int(r["epochs"])), device_model=dm)
            ps.append(float(spent(cols, epochs_run=int(r["epochs"]), measured_s=float(r["measured_s"]))["predicted_spent_s"]))
        preds.append(ps)
    per_trial = [max(c) / min(c) for c in zip(*preds, strict=True)]
    errs = [statistics.median(abs(p / r["measured_s"] - 1) for p, r in zip(ps, rows, strict=True)) for ps in preds]
    signed = [statistics.median(p / r["measured_s"] - 1 for p, r in zip(ps, rows, strict=True)) for ps in preds]
    return [f"predicted s of {len(rows)} trials, max / min over calibrations: median {statistics.median(per_trial):.2f}, "
            f"max {max(per_trial):.2f}; median abs error per calibration " + " / ".join(f"{100 * e:.1f}%" for e in errs)
            + "; median signed " + " / ".join(f"{100 * e:+.1f}%" for e in signed)]


def refits(runs: list[dict[str, Any]], replay: Path, label: str) -> list[str]:
    """The same timed suite rows of each calibration fitted three ways (free non-negative least
    squares; within hpbench.cost.fit.bounds; anchored to the micro-benchmarks' priors), each fit
    priced on the replayed trials: which fit keeps predictions still from one calibration to the next."""
    from hpbench.cost import fit
    from hpbench.cost.device import DeviceModel

    out = ["", f"The suite rows of each **{label}** calibration refitted (same rows, same micro-benchmarks):", "",
           "| fit | coefficients over the calibrations (op, op_backward, module, step, memory) | suite fit error | priced |", "|---|---|---|---|"]
    for name in ("free", "bounded", "anchored"):
        fitted = []
        for r in runs:
            base = DeviceModel.from_dict(r["model"])
            rows = [(dict(f), float(t), float(first)) for f, t, first in r["rows"]]
            kw: dict[str, Any] = {"limits": fit.bounds(base)} if name == "bounded" else {"prior": fit.priors(base)} if name == "anchored" else {}
            sf = fit.fit_rows(rows, **kw)
            fitted.append({**r, "model": {**r["model"], "coef": sf.coef, "fit_error": sf.fit_error, "intervals": {k: list(v) for k, v in sf.intervals.items()}}})
        coefs = " ; ".join(", ".join(f"{f['model']['coef'][k]:.2g}" for k in ("op", "op_backward", "module", "step", "memory")) for f in fitted)
        errs = " / ".join(f"{100 * f['model']['fit_error']:.1f}%" for f in fitted)
        out.append(f"| {name} | {coefs} | {errs} | {priced(fitted, replay)[0]} |")
    return out


def merge(labels: list[str], replay: Path | None, md_name: str = "calibration_repeat.md") -> None:
    data = {lb: json.loads((OUT / f"calibration_repeat-{lb}.json").read_text(encoding="utf-8")) for lb in labels}
    md = ["# Calibration repeatability (issue 13)", "",
          "Each label: N full calibrations back to back, each in a fresh process with a fresh cache "
          "(`benchmarks/calibration_repeat.py`, under `benchmarks/exclusive.sh`). Spread = max / min over the N.", ""]
    for lb, d in data.items():
        loads = [x for r in d["runs"] for x in r["load"]]
        md.append(f"- **{lb}**: commit {d['commit']}, {len(d['runs'])} calibrations, "
                  + time.strftime("%H:%M", time.gmtime(d["runs"][0]["started_at"] - d["runs"][0]["wall_s"]))
                  + f" UTC, load {min(loads):.1f}-{max(loads):.1f}, wall " + " / ".join(f"{r['wall_s']:.0f}" for r in d["runs"]) + " s")
    md += ["", "| figure | " + " | ".join(f"{lb} (values)" for lb in data) + " | " + " | ".join(f"{lb} max/min" for lb in data) + " |",
           "|---|" + "---|" * (2 * len(data))]
    figs = {lb: [figures(r["model"]) for r in d["runs"]] for lb, d in data.items()}
    names = list(dict.fromkeys(k for f in figs.values() for run_ in f for k in run_))
    for k in names:
        vals = {lb: [f.get(k) for f in fs] for lb, fs in figs.items()}
        cells = [" / ".join("-" if v is None else f"{v:.3g}" for v in vs) for vs in vals.values()]
        sp = []
        for vs in vals.values():
            s = spread([v for v in vs if v is not None]) if all(v is not None for v in vs) else None
            sp.append("-" if s is None else f"{s:.2f}")
        md.append(f"| {k} | " + " | ".join(cells) + " | " + " | ".join(sp) + " |")
    md.append("| matmul grid, median over shapes | " + " | ".join("" for _ in data) + " | "
              + " | ".join(f"{grid_spread(d['runs'], 'matmul_grid_flops_per_s'):.2f}" for d in data.values()) + " |")
    md.append("| recurrent grids, median over shapes | " + " | ".join("" for _ in data) + " | "
              + " | ".join(f"{recurrent_spread(d['runs']):.2f}" for d in data.values()) + " |")
    if replay is not None:
        md += ["", f"Priced with each calibration: the c=1 trials of {replay.name} (offline; their measured train_s):", ""]
        md += [f"- {lb}: " + priced(d["runs"], replay)[0] for lb, d in data.items()]
        for lb, d in data.items():
            if all(r.get("rows") for r in d["runs"]):
                md += refits(d["runs"], replay, lb)
    md += [""]
    path = OUT / md_name
    path.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--label", default="run", help="name of this set of calibrations (calibration_repeat-<label>.json)")
    ap.add_argument("--n", type=int, default=3, help="calibrations back to back")
    ap.add_argument("--merge", nargs="+", default=None, metavar="LABEL", help="write calibration_repeat.md from these labels (offline)")
    ap.add_argument("--md", default="calibration_repeat.md", help="--merge's report, under results/benchmarks")
    ap.add_argument("--replay", type=Path, default=REPLAY, help="a cost_model*.json whose c=1 trials each calibration prices (--merge)")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, args.replay if args.replay and args.replay.exists() else None, args.md)
    else:
        if not math.isfinite(args.n) or args.n < 2:
            raise SystemExit(f"--n must be >= 2, but got {args.n}")
        run(args.label, args.n)


if __name__ == "__main__":
    main()
