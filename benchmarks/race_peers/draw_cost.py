"""What one draw of ``searcher = "tpe-cost"`` costs the driver (issue 20 §2): the seconds of
``study.ask()`` plus the study's define-by-run suggestions, as Ray Tune's ``OptunaSearch`` asks in
hpbench's driver, for

* ``tpe``: plain TPE (hpbench's default), the floor;
* ``tpe-cost``: the cost-aware TPE as the search builds it: candidates priced by the helper
  process (``AsyncPredictions.trial_seconds``: cached by cost key, never waited for);
* ``tpe-cost-inline`` (``--inline``): candidates priced in the driver by the cost model, each call
  waited for (how tpe-cost priced them before: 1.5 s a draw in the race).

Each draw's trial is told a value at once (a seeded function of the learning rate, so that TPE
has something to model) after ``--gap-s`` seconds (a trial's length: the helper prices
candidates meanwhile). Reported: median and P90 seconds per draw, the helper's CPU seconds (the
pricing still takes CPU from the trials, off the driver), and how many draws had any candidate
priced.

    PYTHONPATH=. benchmarks/exclusive.sh python benchmarks/race_peers/draw_cost.py --problem digits --draws 60
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import optuna

from hpbench.dispatch.predictions import AsyncPredictions, predict_columns, warm_up
from hpbench.dispatch.searchers import CandidateCost
from hpbench.strategies import SEARCHERS
from hpbench.study.parse import load_study

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "benchmarks" / "race" / "draw_cost.json"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def draws(study: Any, searcher: str, cost: Any, *, n: int, gap_s: float, seed: int) -> list[float]:
    sampler, _ = SEARCHERS.get(searcher).build(seed=seed, space=study.space, max_concurrent=2, cost=cost)
    ot = optuna.create_study(direction="maximize", sampler=sampler)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        trial = ot.ask()
        params = study.space.define_by_run(trial)
        out.append(time.perf_counter() - t)
        time.sleep(gap_s)
        ot.tell(trial, -abs(math.log10(float(params["lr"])) + 2.5))
    return out


def summary(name: str, seconds: list[float], **extra: Any) -> dict[str, Any]:
    s = sorted(seconds)
    return {"variant": name, "n_draws": len(s), "median_s": round(statistics.median(s), 5), "p90_s": round(s[int(0.9 * (len(s) - 1))], 5),
            "max_s": round(s[-1], 5), "first_s": round(seconds[0], 5), **extra}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", default="digits")
    ap.add_argument("--draws", type=int, default=60)
    ap.add_argument("--gap-s", type=float, default=0.3, help="seconds between a draw and its result (a trial's length)")
    ap.add_argument("--inline", type=int, default=0, help="also this many draws priced in the driver, waited for (the old way)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(ROOT / "studies" / "race" / f"{args.problem}.toml", overrides=["study.searcher=tpe-cost"])
    rows = [summary("tpe", draws(study, "tpe", None, n=args.draws, gap_s=args.gap_s, seed=args.seed))]
    live = AsyncPredictions(study=study)  # the helper process, warmed up as the search warms it
    live.pool.submit(warm_up, study).result()
    helper_pid = live.pool._proc.pid  # type: ignore[attr-defined]
    cpu0 = cpu_s(helper_pid)
    priced: list[int] = []

    def counted(params: dict[str, Any]) -> float | None:
        s = live.trial_seconds(params)
        priced[-1] += s is not None
        return s

    class Counting(CandidateCost):
        def __call__(self, params: dict[str, Any]) -> float | None:
            return counted(params)

    sampler_cost = Counting(None)
    seconds = []
    sampler, _ = SEARCHERS.get("tpe-cost").build(seed=args.seed, space=study.space, max_concurrent=2, cost=sampler_cost)
    ot = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(args.draws):
        priced.append(0)
        t = time.perf_counter()
        trial = ot.ask()
        params = study.space.define_by_run(trial)
        seconds.append(time.perf_counter() - t)
        time.sleep(args.gap_s)
        ot.tell(trial, -abs(math.log10(float(params["lr"])) + 2.5))
    rows.append(summary("tpe-cost", seconds, helper_cpu_s=round(cpu_s(helper_pid) - cpu0, 2), predictions_asked=len(live.by_key),
                        draws_with_a_priced_candidate=sum(1 for p in priced if p)))
    live.pool.shutdown(wait=False, cancel_futures=True)
    if args.inline:
        def inline(params: dict[str, Any]) -> float | None:
            s = predict_columns(study, params, None).get("predicted_s")
            return float(s) if isinstance(s, (int, float)) else None

        rows.append(summary("tpe-cost-inline", draws(study, "tpe-cost", CandidateCost(inline), n=args.inline, gap_s=args.gap_s,
                                                     seed=args.seed)))
    record = {"problem": args.problem, "gap_s": args.gap_s, "seed": args.seed, "load": [round(x, 2) for x in os.getloadavg()],
              "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "rows": rows}
    print(json.dumps(record, indent=1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
