"""The noise floor under the cost model's error (issue 13): two ``benchmarks/cost_model.py`` runs of
one draw (``--seed``), measured against each other. The same configurations trained twice through
``hpbench search`` differ by the machine's own noise; no model can predict one run's seconds
closer than the other run measured them, so the median |log ratio| between the two is the floor
under the model's median error.

    .venv/bin/python benchmarks/cost_noise.py RUN_A.json RUN_B.json [--out results/benchmarks/cost_noise.md]

Offline (reads the runs' recorded trials). Trials are matched by study, trial number and
parameters; per matched trial: train_s (whole trial) and the fastest epoch after the first.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any


def _key(r: dict[str, Any]) -> tuple[int, str, int, str]:
    return r["concurrent"], r["study"], r["trial"], json.dumps(r["params"], sort_keys=True)


def _q(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)]


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Per concurrency level: n, median and P90 |log(a / b)| of train_s and of the steady epoch,
    as a ratio (exp of the log) and as the median abs relative difference."""
    rb = {_key(r): r for r in b["rows"]}
    out: dict[str, Any] = {}
    for c in sorted({r["concurrent"] for r in a["rows"]}):
        pairs = [(r, rb[_key(r)]) for r in a["rows"] if r["concurrent"] == c and _key(r) in rb]
        whole = [abs(math.log(x["measured_s"] / y["measured_s"])) for x, y in pairs]
        steady = [abs(math.log(min(x["epochs_s"][1:]) / min(y["epochs_s"][1:]))) for x, y in pairs
                  if len(x.get("epochs_s") or []) > 1 and len(y.get("epochs_s") or []) > 1]
        signed = [math.log(x["measured_s"] / y["measured_s"]) for x, y in pairs]
        out[f"c={c}"] = {"n": len(pairs), "median_abs_log": statistics.median(whole), "p90_abs_log": _q(whole, 0.9),
                         "median_signed_log": statistics.median(signed),
                         "steady_median_abs_log": statistics.median(steady) if steady else None,
                         "median_abs_rel": statistics.median(abs(x["measured_s"] / y["measured_s"] - 1) for x, y in pairs)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs=2)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/cost_noise.md"))
    args = ap.parse_args()
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in args.runs)
    if a["seed"] != b["seed"]:
        raise SystemExit(f"the two runs must be of one draw (--seed), but got seeds {a['seed']} and {b['seed']}")
    res = compare(a, b)
    md = [f"# The noise floor: one draw (seed {a['seed']}) measured twice", "",
          f"Runs: {args.runs[0].name} (load {a['load_average']['min']:.1f}-{a['load_average']['max']:.1f}) and "
          f"{args.runs[1].name} (load {b['load_average']['min']:.1f}-{b['load_average']['max']:.1f}); whole trials' train_s and "
          "the fastest epoch after the first, run A against run B.", "",
          "| level | n | median abs log ratio (x) | P90 abs log ratio (x) | median signed log ratio | steady epoch median abs log ratio (x) | median abs relative difference |",
          "|---|---|---|---|---|---|---|"]
    for lv, s in res.items():
        st = "-" if s["steady_median_abs_log"] is None else f"{s['steady_median_abs_log']:.3f} ({math.exp(s['steady_median_abs_log']):.3f}x)"
        md.append(f"| {lv} | {s['n']} | {s['median_abs_log']:.3f} ({math.exp(s['median_abs_log']):.3f}x) | "
                  f"{s['p90_abs_log']:.3f} ({math.exp(s['p90_abs_log']):.3f}x) | {s['median_signed_log']:+.3f} | {st} | "
                  f"{100 * s['median_abs_rel']:.1f}% |")
    md.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
