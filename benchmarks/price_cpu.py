"""CPU seconds to price one configuration (issue 13 / 20: the helper's pricing beside the trials).

For each race study (studies/race/*.toml), ``--draws`` configurations are drawn from its space
(seeded) and each is priced as the search's helper prices it
(:func:`hpbench.cost.predictor.trial_predictor`: the step count(s) and the time model),
timed by ``time.process_time`` (every thread of this process; CPU time, so fair under load, but
say the load). Two passes:

- **cold**: the per-process count caches emptied before each configuration (what a
  configuration whose shape was never counted costs);
- **search**: the caches kept across the draws, as in one search's helper.

Run from the repository root with PYTHONPATH=. (the race's data live in benchmarks/race_peers):

    PYTHONPATH=. nice -n 19 .venv/bin/python benchmarks/price_cpu.py --draws 30 [--json out.json]

To time another checkout's code, put it first on PYTHONPATH (``PYTHONPATH=/work/main:.``); the
script prints which hpbench it imported.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

STUDIES = ("digits", "tabular", "signals")


def clear_caches() -> None:
    from hpbench.cost import count

    count._STEP_CACHE.clear()
    for name in ("_OPTIMIZER_CACHE",):  # the optimizer-step cache, where the code has one
        cache = getattr(count, name, None)
        if cache is not None:
            cache.clear()


_PREDICTORS: dict[str, Any] = {}


def price(study: Any, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """CPU seconds of one configuration's price and its columns: the helper's predictor
    (:func:`hpbench.dispatch.predictions.predict_columns` runs it on its SCHED_IDLE thread, whose
    wall time under load is long; its CPU time is the same), called here directly."""
    from hpbench.cost.predictor import trial_predictor

    if study.name not in _PREDICTORS:
        _PREDICTORS[study.name] = trial_predictor(study)
    t0 = time.process_time()
    cols = _PREDICTORS[study.name](params)
    return time.process_time() - t0, cols


def run(name: str, draws: int, seed: int) -> dict[str, Any]:
    from hpbench.study.parse import load_study

    study = load_study(Path("studies/race") / f"{name}.toml")
    rng = random.Random(seed)
    configs = [study.space.sample(rng) for _ in range(draws)]
    price(study, configs[0])  # warm: imports, the device model, the predictor
    cold: list[tuple[str, float]] = []
    columns = []
    for params in configs:
        clear_caches()
        s, cols = price(study, params)
        family = str(params.get("family", study.config["model"].get("family")))
        cold.append((family, s))
        columns.append({k: cols.get(k) for k in ("flops_per_step", "predicted_s", "predicted_epoch_s", "cost_note")})
    clear_caches()
    t0 = time.process_time()
    for params in configs:
        price(study, params)
    search = time.process_time() - t0
    fams: dict[str, list[float]] = {}
    for fam, s in cold:
        fams.setdefault(fam, []).append(s)
    return {"study": name, "draws": draws, "seed": seed, "search_s": search, "columns": columns,
            "cold": {fam: {"n": len(v), "median": statistics.median(v), "min": min(v), "max": max(v), "sum": sum(v)} for fam, v in sorted(fams.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--studies", nargs="*", default=list(STUDIES))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import hpbench

    print(f"hpbench from {hpbench.__file__}; load {os.getloadavg()}", flush=True)
    out = [run(name, args.draws, args.seed) for name in args.studies]
    print(f"load after {os.getloadavg()}")
    print("| study | family | n | cold CPU s per configuration: median | min | max | search: CPU s over the draws |")
    print("|---|---|---|---|---|---|---|")
    for r in out:
        for fam, c in r["cold"].items():
            print(f"| {r['study']} | {fam} | {c['n']} | {c['median']:.3f} | {c['min']:.3f} | {c['max']:.3f} | {r['search_s']:.2f} (all {r['draws']}) |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
