"""The race's signals problem, mapped: every shape of its space (`studies/race/signals.toml`) at four
learning rates, each trained to its end by hpbench's trainer (one thread each, two at once), so that
a search's result can be read against what the space holds: which configurations reach the race's
target, and how well a trial's first epochs rank the configurations by where they end.

    PYTHONPATH=. .venv/bin/python benchmarks/race_landscape.py [--seed 0]
    # writes results/benchmarks/race/landscape-signals[-SUFFIX].json; ~4 min on 2 cores

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
STUDY = ROOT / "studies" / "race" / "signals.toml"
LEARNING_RATES = (1e-3, 3e-3, 1e-2, 2e-2)  # within the space's loguniform [3e-4, 3e-2]
RANK_EPOCHS = (1, 3, 9)  # the ranking by the best value up to these epochs, against the final best


def configurations() -> list[dict[str, Any]]:
    """The space's every shape (family, layers, width; the transformer's heads) at each rate."""
    out: list[dict[str, Any]] = []
    for family in ("rnn", "lstm", "gru"):
        for layers, hidden, lr in itertools.product((1, 2), (16, 32, 64), LEARNING_RATES):
            out.append({"family": family, "lr": lr, "model.layers": layers, "model.hidden_size": hidden})
    for layers, d_model, heads, lr in itertools.product((1, 2), (16, 32), (2, 4), LEARNING_RATES):
        out.append({"family": "transformer", "lr": lr, "model.layers": layers, "model.d_model": d_model, "model.heads": heads})
    return out


@functools.cache
def _study() -> Any:
    """The signals study, parsed once per worker process."""
    from hpbench.study.parse import load_study

    return load_study(STUDY)


def train_one(job: tuple[dict[str, Any], int]) -> dict[str, Any]:
    import torch

    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    params, seed = job
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    history = train(trial_config(_study(), params, threads=1, seed=seed)).history
    curve = [float(r["val_accuracy"]) for r in history]
    best = max(curve)
    return {**params, "best": best, "epochs": len(curve), "best_epoch": 1 + curve.index(best), "s": time.perf_counter() - t0, "curve": curve}


def main() -> None:
    from hpbench.cost.quality import spearman

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=float, default=0.8479, help="the race's target to count configurations against")
    ap.add_argument("--suffix", default="")
    args = ap.parse_args()
    with Pool(2) as pool:
        rows = pool.map(train_one, [(p, args.seed) for p in configurations()], chunksize=1)
    final = [r["best"] for r in rows]
    summary = {
        "seed": args.seed, "configurations": len(rows), "target": args.target,
        "reach_target": sum(v >= args.target for v in final),
        "best_by_family": {f: max(r["best"] for r in rows if r["family"] == f) for f in ("rnn", "lstm", "gru", "transformer")},
        "rank_correlation": {str(e): spearman([max(r["curve"][:e]) for r in rows], final) for e in RANK_EPOCHS},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"landscape-signals{args.suffix}.json"
    path.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    for r in sorted(rows, key=lambda r: -r["best"])[:10]:
        shape = {k: v for k, v in r.items() if k not in ("best", "epochs", "best_epoch", "s", "curve")}
        print(f"{r['best']:.4f} after {r['epochs']:2d} epochs (best at {r['best_epoch']:2d}) in {r['s']:4.1f} s  {shape}")
    print(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
