"""The noise floor under the cost model's error (issue 13): ``benchmarks/cost_model.py`` runs of
one draw (``--seed``), measured against each other. The same configurations trained again through
``hpbench search`` differ by the machine's own noise; no model predicts a run's seconds closer
than that noise allows.

    .venv/bin/python benchmarks/cost_noise.py RUN_A.json RUN_B.json [RUN_C.json ...] [--out results/benchmarks/cost_noise.md]

Offline (reads the runs' recorded trials). Trials are matched by level, study, trial number and
parameters. Reported per concurrency level:

* each pair of runs: median and P90 |log ratio| of train_s (whole trial) and of the fastest epoch
  after the first;
* with three runs or more, **the floor**: each run's trials predicted by the geometric mean of the
  same trials in the other runs (leave one run out), scored as the cost model is scored
  (|predicted - measured| / measured: median and P90). That predictor knows each configuration's
  seconds on this machine as well as repeated measurement can tell them, so a model cannot be
  expected to beat it; it is itself noisy (the mean of k - 1 runs), so its figures sit a little
  above a perfect predictor's; and the same with each run's own pace taken out (the median
  log ratio of its trials to the others': what an in-run correction can learn), which is the floor
  under the corrected predictions;
* a perfect predictor's figures (each configuration's expected seconds known exactly): with three
  runs or more, from each run's deviation from the configuration's mean over the runs, scaled by
  sqrt(k / (k - 1)) (the mean of k runs holds 1/k of each one's noise), no shape assumed; with two,
  under a log-normal noise model: sigma from the pairs' median |log ratio| (the difference of two
  runs has sigma·sqrt(2)), median |error| 0.674·sigma, P90 1.645·sigma.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
from pathlib import Path
from typing import Any

Z_MEDIAN, Z_P90 = 0.6745, 1.6449  # standard normal quantiles of |z|: 50% and 90%
TARGETS = {"median": 0.12, "p90": 0.30}  # issue 13's, for whole trials


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
        if not pairs:
            continue
        whole = [abs(math.log(x["measured_s"] / y["measured_s"])) for x, y in pairs]
        steady = [abs(math.log(min(x["epochs_s"][1:]) / min(y["epochs_s"][1:]))) for x, y in pairs
                  if len(x.get("epochs_s") or []) > 1 and len(y.get("epochs_s") or []) > 1]
        signed = [math.log(x["measured_s"] / y["measured_s"]) for x, y in pairs]
        out[f"c={c}"] = {"n": len(pairs), "median_abs_log": statistics.median(whole), "p90_abs_log": _q(whole, 0.9),
                         "median_signed_log": statistics.median(signed),
                         "steady_median_abs_log": statistics.median(steady) if steady else None,
                         "median_abs_rel": statistics.median(abs(x["measured_s"] / y["measured_s"] - 1) for x, y in pairs)}
    return out


def floor(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per concurrency level, the leave-one-run-out predictor's error over every run's trials that
    all runs measured: n, median and P90 |pred - measured| / measured, the model's own error on the
    same trials (each run's predicted_s) for comparison."""
    if len(runs) < 3:
        raise ValueError(f"the floor needs at least 3 runs of one draw, but got {len(runs)}")
    by_run = [{_key(r): r for r in run["rows"]} for run in runs]
    common = set(by_run[0]).intersection(*by_run[1:])
    out: dict[str, Any] = {}
    for c in sorted({k[0] for k in common}):
        keys = sorted(k for k in common if k[0] == c)
        errs, paced, model, shifts, dev = [], [], [], [], []
        k_runs = len(by_run)
        for k in keys:  # each run's deviation from the configuration's mean over all runs, scaled to one run's noise
            logs = [math.log(o[k]["measured_s"]) for o in by_run]
            mu = statistics.fmean(logs)
            dev += [abs(math.exp((x - mu) * math.sqrt(k_runs / (k_runs - 1))) - 1.0) for x in logs]
        for i, rows in enumerate(by_run):
            logs = [statistics.fmean(math.log(o[k]["measured_s"]) for j, o in enumerate(by_run) if j != i) - math.log(rows[k]["measured_s"])
                    for k in keys]  # log(predicted / measured)
            shift = statistics.median(logs)  # the run's own pace against the others'
            shifts.append(shift)
            errs += [abs(math.exp(x) - 1.0) for x in logs]
            paced += [abs(math.exp(x - shift) - 1.0) for x in logs]
            model += [abs(rows[k]["predicted_s"] - rows[k]["measured_s"]) / rows[k]["measured_s"] for k in keys]
        out[f"c={c}"] = {"n": len(errs), "configurations": len(keys), "median": statistics.median(errs), "p90": _q(errs, 0.9),
                         "paced_median": statistics.median(paced), "paced_p90": _q(paced, 0.9), "run_shifts": shifts,
                         "perfect_median": statistics.median(dev), "perfect_p90": _q(dev, 0.9),
                         "model_median": statistics.median(model), "model_p90": _q(model, 0.9)}
    return out


def perfect(pair_medians: list[float]) -> dict[str, float]:
    """A perfect predictor's median and P90 |relative error| under log-normal noise whose pairwise
    median |log ratio| is each of ``pair_medians`` (their median taken): sigma = m / (0.674·sqrt 2)."""
    m = statistics.median(pair_medians)
    sigma = m / (Z_MEDIAN * math.sqrt(2.0))
    return {"sigma": sigma, "median": math.exp(Z_MEDIAN * sigma) - 1.0, "p90": math.exp(Z_P90 * sigma) - 1.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/cost_noise.md"))
    args = ap.parse_args()
    if len(args.runs) < 2:
        raise SystemExit(f"give at least two cost_model runs of one draw, but got {len(args.runs)}")
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in args.runs]
    seeds = {r["seed"] for r in runs}
    if len(seeds) != 1:
        raise SystemExit(f"the runs must be of one draw (--seed), but got seeds {sorted(seeds)}")
    md = [f"# The noise floor: one draw (seed {runs[0]['seed']}) measured {len(runs)} times", "",
          "Runs: " + "; ".join(f"{p.name} (load {r['load_average']['min']:.1f}-{r['load_average']['max']:.1f})"
                              for p, r in zip(args.runs, runs, strict=True)) + ".", "",
          "**Each pair of runs** (whole trials' train_s, and the fastest epoch after the first):", "",
          "| pair | level | n | median abs log ratio (x) | P90 abs log ratio (x) | median signed log ratio | steady epoch median abs log ratio (x) | median abs relative difference |",
          "|---|---|---|---|---|---|---|---|"]
    pair_medians: dict[str, list[float]] = {}
    for (i, a), (j, b) in itertools.combinations(enumerate(runs), 2):
        for lv, s in compare(a, b).items():
            pair_medians.setdefault(lv, []).append(s["median_abs_log"])
            st = "-" if s["steady_median_abs_log"] is None else f"{s['steady_median_abs_log']:.3f} ({math.exp(s['steady_median_abs_log']):.3f}x)"
            md.append(f"| {i + 1}-{j + 1} | {lv} | {s['n']} | {s['median_abs_log']:.3f} ({math.exp(s['median_abs_log']):.3f}x) | "
                      f"{s['p90_abs_log']:.3f} ({math.exp(s['p90_abs_log']):.3f}x) | {s['median_signed_log']:+.3f} | {st} | "
                      f"{100 * s['median_abs_rel']:.1f}% |")
    md += ["", "**The floor** (issue 13's targets for whole trials: median <= "
           f"{100 * TARGETS['median']:.0f}%, P90 <= {100 * TARGETS['p90']:.0f}%):", "",
           "| level | perfect predictor: median, P90 (log-normal: sigma, median, P90) | leave-one-run-out predictor: n, median, P90 | the same knowing each run's pace: median, P90 (the runs' paces, log) | the cost model on the same trials: median, P90 |",
           "|---|---|---|---|---|"]
    floors = floor(runs) if len(runs) >= 3 else {}
    result: dict[str, Any] = {"seed": runs[0]["seed"], "runs": [str(p) for p in args.runs], "levels": {}}
    for lv, meds in pair_medians.items():
        p = perfect(meds)
        f = floors.get(lv)
        lo = "-" if f is None else f"{f['n']}, {100 * f['median']:.1f}%, {100 * f['p90']:.1f}%"
        mo = "-" if f is None else f"{100 * f['model_median']:.1f}%, {100 * f['model_p90']:.1f}%"
        pa = "-" if f is None else (f"{100 * f['paced_median']:.1f}%, {100 * f['paced_p90']:.1f}% ("
                                    + " ".join(f"{x:+.3f}" for x in f["run_shifts"]) + ")")
        pf = "" if f is None else f"{100 * f['perfect_median']:.1f}%, {100 * f['perfect_p90']:.1f}% "
        md.append(f"| {lv} | {pf}({p['sigma']:.3f}, {100 * p['median']:.1f}%, {100 * p['p90']:.1f}%) | {lo} | {pa} | {mo} |")
        result["levels"][lv] = {"pair_median_abs_log": meds, "perfect": p, "leave_one_run_out": f}
    md.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
