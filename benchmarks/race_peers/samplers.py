"""Which TPE settings find a good configuration in fewer trials on the race's problems (issue 20
§2: hpbench's search defaults, judged by the race's own problems, not by guess).

Not a timing benchmark: the figure is the best validation accuracy after ``n`` finished trials,
which does not depend on the machine's load, so it can run niced beside other work. Each run is
what hpbench's default search does with its trials, written plainly: two trials at once
(``study.optimize(n_jobs=2)``, as ``max_concurrent = 2``), Optuna's asynchronous successive
halving at grace 1 / reduction 3 (``SuccessiveHalvingPruner``, the rule of Ray's ASHA that
hpbench's default scheduler is), and a stopped trial told to the sampler as finished with its
best value so far (what Ray's ``OptunaSearch`` tells Optuna for a trial ASHA stopped), the
race's models, data and plain training loop (benchmarks/race_peers/common.py).

Variants (``--variants``): ``tpe`` (hpbench's default before issue 20: Optuna 5's TPESampler,
multivariate by default for one objective, constant liar, 10 random start-up trials), ``group``
(+ ``group=True``: Optuna's advice for conditional spaces, where multivariate TPE alone models
only the parameters every trial has), ``group-s5`` (+ 5 start-up trials).

    PYTHONPATH=. python benchmarks/race_peers/samplers.py --problems digits tabular --seeds 0-7
    writes results/benchmarks/race/samplers.json (the runs are kept; --render rebuilds the table)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import threading
from pathlib import Path
from typing import Any

import optuna
import torch

from benchmarks.race_peers.common import FIXED, suggest, train

OUT = Path(__file__).resolve().parents[2] / "results" / "benchmarks" / "race" / "samplers.json"
N_TRIALS = {"digits": 50, "tabular": 50, "signals": 20}  # about what hpbench's default finished in the race's 30 s
VARIANTS: dict[str, dict[str, Any]] = {
    "tpe": {},
    "group": {"multivariate": True, "group": True},
    "group-s5": {"multivariate": True, "group": True, "n_startup_trials": 5},
}


def run(problem: str, variant: str, seed: int) -> list[float]:
    """The best validation accuracy of each finished trial, in the order they finished."""
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True, **VARIANTS[variant])
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    seeds = itertools.count(seed * 100_000)
    lock = threading.Lock()
    finished: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, problem)
        with lock:
            trial_seed = next(seeds)

        def report(epoch: int, val: float, test: float) -> bool:
            trial.report(val, epoch)
            return trial.should_prune()

        best = train(problem, trial.params, seed=trial_seed, report=report)["best_val"]
        with lock:
            finished.append(best)
        return best

    study.optimize(objective, n_trials=N_TRIALS[problem], n_jobs=2)
    return finished


def render(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for problem, variant in sorted({(r["problem"], r["variant"]) for r in runs}):
        rs = [r for r in runs if r["problem"] == problem and r["variant"] == variant]
        n = N_TRIALS[problem]
        row: dict[str, Any] = {"problem": problem, "variant": variant, "n_seeds": len(rs)}
        for k in (n // 4, n // 2, n):
            bests = [max(r["finished"][:k]) for r in rs]
            row[f"median_best_at_{k}"] = round(statistics.median(bests), 4)
            row[f"mean_best_at_{k}"] = round(statistics.mean(bests), 4)
        rows.append(row)
    return rows


def _seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", nargs="+", default=["digits", "tabular"], choices=sorted(FIXED))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--seeds", default="0-7", help="a range, e.g. 0-7")
    ap.add_argument("--render", action="store_true", help="only rebuild the table from the stored runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    stored = json.loads(OUT.read_text()) if OUT.is_file() else {"runs": []}
    runs: list[dict[str, Any]] = stored["runs"]
    if not args.render:
        for problem in args.problems:
            for seed in _seeds(args.seeds):
                for variant in args.variants:
                    finished = run(problem, variant, seed)
                    runs = [r for r in runs if (r["problem"], r["variant"], r["seed"]) != (problem, variant, seed)]
                    runs.append({"problem": problem, "variant": variant, "seed": seed, "finished": [round(v, 5) for v in finished]})
                    OUT.parent.mkdir(parents=True, exist_ok=True)
                    tmp = OUT.with_suffix(".tmp")
                    tmp.write_text(json.dumps({"runs": runs, "table": render(runs)}, indent=1))
                    tmp.replace(OUT)
                    print(problem, variant, seed, f"best {max(finished):.4f}", flush=True)
    for row in render(runs):
        print(row)


if __name__ == "__main__":
    main()
