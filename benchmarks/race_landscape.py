"""A race problem, mapped: configurations of its space each trained to its end by hpbench's
trainer (one thread each, two at once), so that a search's result can be read against what the
space holds: which configurations reach the race's target, and how well a trial's first epochs
rank the configurations by where they end. Signals (`studies/race/signals.toml`): every shape of
its space at four learning rates; tabular and digits: ``--n`` configurations drawn at random from
the study's space (seeded), as a random search draws them. The rows (each configuration's epoch
by epoch validation accuracy and seconds) are what `benchmarks/race_replay.py` replays.

    PYTHONPATH=. .venv/bin/python benchmarks/race_landscape.py [--problem signals] [--seed 0]
    # writes results/benchmarks/race/landscape-PROBLEM[-SUFFIX].json; ~4 min on 2 cores

Not a timing benchmark (each trial's seconds are recorded, but two run at once).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "results" / "benchmarks" / "race"
STUDIES = ROOT / "studies" / "race"
LEARNING_RATES = (1e-3, 3e-3, 1e-2, 2e-2)  # within the space's loguniform [3e-4, 3e-2]
RANK_EPOCHS = (1, 3, 9)  # the ranking by the best value up to these epochs, against the final best


def around(problem: str, rows: list[dict[str, Any]], *, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations where TPE looks once it has seen ``rows`` (an earlier landscape's
    configurations and their final bests): Optuna's TPESampler told every row, then asked ``n``
    times without being told more. The good region, densely, as a search's later trials see it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = _study(problem).space
    ostudy = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    keys = set(space.keys())
    for r in rows:
        ostudy.enqueue_trial(space.encode({k: v for k, v in r.items() if k in keys}))
        t = ostudy.ask()
        space.define_by_run(t)
        ostudy.tell(t, r["best"])
    out = []
    for _ in range(n):
        t = ostudy.ask()
        out.append(space.define_by_run(t))
    return out


def configurations(problem: str, *, n: int, seed: int) -> list[dict[str, Any]]:
    """Signals: the space's every shape at each rate; else ``n`` random draws of the space."""
    if problem != "signals":
        import random

        space = _study(problem).space
        rng = random.Random(seed)
        return [space.sample(rng) for _ in range(n)]
    out: list[dict[str, Any]] = []
    for family in ("rnn", "lstm", "gru"):
        for layers, hidden, lr in itertools.product((1, 2), (16, 32, 64), LEARNING_RATES):
            out.append({"family": family, "lr": lr, "model.layers": layers, "model.hidden_size": hidden})
    for layers, d_model, heads, lr in itertools.product((1, 2), (16, 32), (2, 4), LEARNING_RATES):
        out.append({"family": "transformer", "lr": lr, "model.layers": layers, "model.d_model": d_model, "model.heads": heads})
    return out


@functools.cache
def _study(problem: str) -> Any:
    """The problem's race study, parsed once per worker process."""
    from hpbench.study.parse import load_study

    return load_study(STUDIES / f"{problem}.toml")


def train_one(job: tuple[dict[str, Any], int]) -> dict[str, Any]:
    import torch

    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    problem, params, seed = job
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    history = train(trial_config(_study(problem), params, threads=1, seed=seed)).history
    curve = [float(r["val_accuracy"]) for r in history]
    best = max(curve)
    return {**params, "best": best, "epochs": len(curve), "best_epoch": 1 + curve.index(best), "s": time.perf_counter() - t0, "curve": curve}


def _stored_target(problem: str) -> float:
    """The race's target for the problem as its last report stored it (race.json)."""
    race = json.loads((OUT / "race.json").read_text())
    return float(race["problems"][problem]["target"])


def main() -> None:
    from hpbench.cost.quality import spearman

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problem", choices=["signals", "tabular", "digits"], default="signals")
    ap.add_argument("--seed", type=int, default=0, help="the trainings' seed (and the draws')")
    ap.add_argument("--n", type=int, default=160, help="random configurations (tabular, digits)")
    ap.add_argument("--target", type=float, default=None, help="the race's target to count configurations against "
                    "(default: the race's stored target)")
    ap.add_argument("--around", default=None, help="an earlier landscape (a file under results/benchmarks/race/): draw "
                    "--n configurations where TPE told its rows would look (see around())")
    ap.add_argument("--suffix", default="")
    args = ap.parse_args()
    target = args.target if args.target is not None else _stored_target(args.problem)
    if args.around:
        todo = around(args.problem, json.loads((OUT / args.around).read_text())["rows"], n=args.n, seed=args.seed)
    else:
        todo = configurations(args.problem, n=args.n, seed=args.seed)
    with Pool(2) as pool:
        rows = pool.map(train_one, [(args.problem, p, args.seed) for p in todo], chunksize=1)
    final = [r["best"] for r in rows]
    summary = {
        "problem": args.problem, "seed": args.seed, "configurations": len(rows), "target": target,
        "reach_target": sum(v >= target for v in final),
        "rank_correlation": {str(e): spearman([max(r["curve"][:e]) for r in rows], final) for e in RANK_EPOCHS},
    }
    if args.problem == "signals":
        summary["best_by_family"] = {f: max(r["best"] for r in rows if r["family"] == f) for f in ("rnn", "lstm", "gru", "transformer")}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"landscape-{args.problem}{args.suffix}.json"
    path.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    for r in sorted(rows, key=lambda r: -r["best"])[:10]:
        shape = {k: v for k, v in r.items() if k not in ("best", "epochs", "best_epoch", "s", "curve")}
        print(f"{r['best']:.4f} after {r['epochs']:2d} epochs (best at {r['best_epoch']:2d}) in {r['s']:4.1f} s  {shape}")
    print(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
