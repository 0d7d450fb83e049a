"""Offline: how much a live search's own early stops should weigh against the prior's best epochs.

The live ETA draws where a trial's early stopping ends it from the figures' best-epoch fractions
blended with the search's own trials that ended by themselves so far
(:func:`hpbench.cost.live.own_fractions`: the prior weighs as ``weight`` trials). For each kept
search (``benchmarks/eta.py --keep DIR``), at a quarter of its trials ended, the own fractions of
those trials are blended with the no-history prior (:data:`hpbench.cost.figures.PRIOR_BEST`) at
each weight, and the trials that ended by themselves after that point are priced at the expected
epochs of that blend (each fraction moved to the trial's learning rate as the live ETA moves it,
plus its patience: :func:`hpbench.cost.walltime.natural_epochs`) against the epochs they ran,
in predicted seconds. Nothing is timed.

Two more rules, each at every weight: ``km0`` (the own fractions as they are, weighed as
:func:`hpbench.cost.live.own_fractions` weighs them against the prior) and ``km``, the same with
the trials still running at that point added as censored observations (each one's best epoch so
far, by early stopping's monitor, a lower bound: drawn from the fractions past it): session 30,
115 kept searches, median |error| 16% both, within 20% 75 without them and 66 with: not adopted.

    PYTHONPATH=. python benchmarks/ends_weight.py --runs "/work/notes/s27/keep*/*/results/*"
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from kept_runs import arguments, replayed

WEIGHTS = (0.5, 1.0, 4.0)
RULES = ("moved", "censored", "half", "fixed")  # own fractions moved to a trial's learning rate: all, all but the completed trials', none


def main() -> None:
    args = arguments(__doc__, at_help="the share of the trials ended at which the live ETA prices (default 0.25)", out="results/benchmarks/ends_weight.json")
    rows = []
    for row in replayed(args.runs, lambda d: one(d, at=args.at)):
        rows.append(row)
        print(f"{row['study']:22s} {row['run']:16s} own {row['n_own']:2d} (mean {row['own_mean']:.2f})  later {row['n_later']:2d}  "
              + "  ".join(f"{k} {v:+.0%}" for k, v in row["errors"].items()), flush=True)
    keys = list(rows[0]["errors"]) if rows else []
    summary = {k: {"median_abs": statistics.median(abs(r["errors"][k]) for r in rows), "within_20": sum(abs(r["errors"][k]) <= 0.20 for r in rows)}
               for k in keys}
    sets = sorted({r["run"] for r in rows})
    for k, s in summary.items():
        per = "  ".join(f"{run}: {statistics.median(abs(r['errors'][k]) for r in rows if r['run'] == run):.0%} / "
                        f"{sum(abs(r['errors'][k]) <= 0.2 for r in rows if r['run'] == run)} of {sum(r['run'] == run for r in rows)}" for run in sets)
        print(f"{k:>14s}: median |error| {s['median_abs']:.0%}, {s['within_20']}/{len(rows)} within 20%   ({per})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "ends_weight", "at": args.at, "rows": rows, "summary": summary}, indent=2) + "\n")
    print(f"written: {args.out}")


def one(d: Path, *, at: float) -> dict[str, Any] | None:
    import pandas as pd

    from hpbench.cost.ends import LR_ELASTICITY, lr_fraction, moved_fraction, searched_lr
    from hpbench.cost.estimate import trial_plan
    from hpbench.cost.figures import PRIOR_BEST
    from hpbench.cost.record import ENDED_BY_THEMSELVES
    from hpbench.cost.walltime import natural_epochs
    from hpbench.study.parse import load_study

    if not (d / "trials.parquet").is_file() or not (d / "study.toml").is_file():
        return None
    from hpbench.errors import StudyError

    try:
        study = load_study(d / "study.toml")
    except StudyError:  # a study that names another run's folder (distill_student's teacher) relative to where it ran
        return None
    t = pd.read_parquet(d / "trials.parquet")
    if "repeat" in t:
        t = t[t["repeat"].isna()]
    t = t[(t["status"] == "finished") & t["ended_at"].notna()].sort_values("ended_at")
    keys = study.space.keys()

    def params(r: Any) -> dict[str, Any]:
        return {k: (v.item() if hasattr(v, "item") else v) for k in keys if k in r and (v := r[k]) is not None and v is not pd.NA
                and not (isinstance(v, float) and math.isnan(v))}

    ended = {str(s) for s in ENDED_BY_THEMSELVES}
    q = math.ceil(at * len(t))
    before, after = t.iloc[:q], t.iloc[q:]
    own = []
    for _, r in before.iterrows():
        plan = trial_plan(study, params(r), epoch_s=1.0)
        if str(r["stop_reason"]) in ended and plan.patience is not None and r.get("es_best_epoch") == r.get("es_best_epoch") \
                and r.get("es_best_epoch") is not None:
            own.append((min(1.0, (int(r["es_best_epoch"]) + 1) / plan.max_epochs), searched_lr(params(r)) or 0.0,
                        str(r["stop_reason"]) == "completed"))
    # the trials still running when the quarter ended: where their best epoch is so far (by early stopping's monitor),
    # a lower bound of where it will be (censored): --running adds them as the live ETA would (hpbench.cost.ends.km_fractions)
    running = []
    if len(before):
        at_s = float(before["ended_at"].iloc[-1])
        es = dict(study.config["train"].get("early_stopping") or {})
        monitor = str(es.get("monitor", "val_loss"))
        sign = -1.0 if es.get("mode", "min" if "loss" in monitor else "max") == "min" else 1.0
        e = pd.read_parquet(d / "epochs.parquet")
        for _, r in after.iterrows():
            plan = trial_plan(study, params(r), epoch_s=1.0)
            if plan.patience is None or not float(r["started_at"]) <= at_s:
                continue
            ep = e[(e.trial_id == r.trial_id) & (e.reported_at <= at_s)].sort_values("epoch")
            if monitor in ep and len(ep) and ep[monitor].notna().any():
                vals = (sign * ep[monitor]).tolist()
                b = 1 + max(range(len(vals)), key=lambda i: (vals[i], -i))  # the first of the best
                running.append(min(1.0, b / plan.max_epochs))
    later = []
    for _, r in after.iterrows():
        plan = trial_plan(study, params(r), epoch_s=float(r.get("predicted_epoch_s") or 1.0))
        if str(r["stop_reason"]) in ended and plan.patience is not None:
            later.append((plan, int(r["epochs"])))
    if not later:
        return None
    prior = [(f, 0.0, False) for f in PRIOR_BEST]

    def expected(p: Any, pool: list[tuple[float, float, bool]], rule: str) -> float:  # the epochs p runs, its best drawn uniformly from pool
        def moved(f: float, a: float, completed: bool) -> float:
            if rule == "fixed" or (rule == "censored" and completed):  # a trial that ran every epoch: its best is a lower bound
                return f
            if rule == "half" and completed:  # ... moved at half the elasticity
                return lr_fraction(f, at=a or None, to=p.lr, elasticity=LR_ELASTICITY / 2)
            return moved_fraction(f, lr_at=a or None, lr_to=p.lr, batch_at=None, batch_to=None)
        return statistics.fmean(natural_epochs(p, moved(f, a, c)) for f, a, c in pool)

    def expected_km(p: Any, pool: list[tuple[float, float, bool]], lower: list[float], w: float) -> float:
        # own (k, each with its share) and censored (m) observations against the prior's w, as own_fractions weighs them;
        # a censored one draws from the pool's fractions past it (own and prior, as weighed), else stays where it is
        k, m = len(pool), len(lower)
        everything = [(f, 1.0 / max(1, k) * (k / (k + m + w))) for f, _, _ in pool] if k else []
        everything += [(f, w / (k + m + w) / len(prior)) for f, _, _ in prior]
        out = sum(wt * natural_epochs(p, f) for f, wt in everything)
        for c in lower:
            past = [(f, wt) for f, wt in everything if f > c]
            tot = sum(wt for _, wt in past)
            share = 1.0 / (k + m + w)
            out += share * (sum(wt * natural_epochs(p, f) for f, wt in past) / tot if tot > 0 else natural_epochs(p, c))
        return out

    errors = {}
    act = sum(p.epoch_s * e for p, e in later)
    for w in WEIGHTS:
        errors[f"km/{w:g}"] = sum(p.epoch_s * expected_km(p, own, running, w) for p, _ in later) / act - 1.0
        errors[f"km0/{w:g}"] = sum(p.epoch_s * expected_km(p, own, [], w) for p, _ in later) / act - 1.0
    for rule in RULES:
        for w in WEIGHTS:  # as own_fractions draws: an own fraction with probability k / (k + weight)
            k = len(own)
            share = k / (k + w) if own else 0.0
            pred = sum(p.epoch_s * (share * expected(p, own, rule) if own else 0.0) + p.epoch_s * (1 - share) * expected(p, prior, rule)
                       for p, _ in later)
            errors[f"{rule}/{w:g}"] = pred / act - 1.0
    return {"study": study.name, "run": d.parent.parent.name, "n_own": len(own), "n_running": len(running), "own_mean": statistics.fmean(f for f, _, _ in own) if own else float("nan"),
            "n_later": len(later), "errors": errors}


if __name__ == "__main__":
    main()
