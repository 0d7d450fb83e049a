"""Offline: what the live ETA should take a search's pace (measured / predicted seconds) from.

The live ETA multiplies its trials' predicted seconds by a slowness
(:func:`hpbench.cost.walltime.slowness`): the in-run correction, blended with the machine's speed
figure as if the figure were :data:`~hpbench.cost.walltime.SPEED_PRIOR_TRIALS` more trials. The
correction is the dispatcher's (:mod:`hpbench.cost.correct`): Tune's ended trials, from
:data:`~hpbench.cost.correct.MIN_TRIALS` (4) of them on; before, the figure alone. At a quarter of
a search's trials ended, most of its Tune trials are still running, and their reported epochs
already say how fast they train.

For each kept search (``benchmarks/eta.py --keep DIR``), at a share of its trials ended, each
rule's pace is compared with the pace of the Tune epochs reported after that moment (ratio of
sums: their seconds over their predicted seconds, a trial's first epoch with its warm-up). The
figure is the no-history one (1.0; a kept run's own machine figure is not stored with it).
Rules, each blended with what comes before it as ``slowness`` blends (``n / (n + 2)``):
``ended4`` (the dispatcher's correction, as the ETA used it until session 28: Tune's ended trials
not beside the early ones, from 4 on), ``ended1`` (the same from the first), ``running`` (``ended1``
plus Tune's running trials' epochs so far), ``epochs`` (each Tune trial's epochs that began after
the early trials stopped, ended or running), ``early`` (``epochs`` and the early trials' own, one
pool), ``early_half`` (the same, an early trial weighing half), ``until2`` (the early trials'
until 2 Tune trials have epochs of their own), ``pace`` (kept: the early trials' pace moves the
figure, Tune's epochs move that; :mod:`hpbench.cost.pace`). Nothing is timed.

    PYTHONPATH=. python benchmarks/pace_replay.py --runs "/work/notes/s27/keep*/*/results/*"
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from kept_runs import arguments, replayed

RULES = ("ended4", "ended1", "running", "epochs", "early", "early_half", "until2", "pace")


def main() -> None:
    args = arguments(__doc__, at_help="the share of the trials ended at which the pace is taken (default 0.25)", out="results/benchmarks/pace_replay.json")
    rows = []
    for row in replayed(args.runs, lambda d: one(d, at=args.at)):
        rows.append(row)
        print(f"{row['study']:22s} {row['run']:16s} ended {row['n_ended']:2d} running {row['n_running']} epochs of {row['n_clear']} truth {row['truth']:.2f}  "
              + "  ".join(f"{k} {v:.2f} ({row['errors'][k]:+.0%})" for k, v in row["pace"].items()), flush=True)
    summary = {k: {"median_abs": statistics.median(abs(r["errors"][k]) for r in rows),
                   "within_10": sum(abs(r["errors"][k]) <= 0.10 for r in rows), "within_20": sum(abs(r["errors"][k]) <= 0.20 for r in rows)}
               for k in RULES} if rows else {}
    for k, s in summary.items():
        print(f"{k:>8s}: median |error| {s['median_abs']:.1%}, within 10% {s['within_10']}/{len(rows)}, within 20% {s['within_20']}/{len(rows)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "pace_replay", "at": args.at, "rows": rows, "summary": summary}, indent=2) + "\n")
    print(f"written: {args.out}")


def blend(pairs: list[tuple[float, float]], *, prior: float = 1.0, n: float | None = None) -> float:
    """The ratio of sums of ``pairs`` (predicted, measured) blended geometrically with ``prior``
    as :func:`hpbench.cost.walltime.slowness` blends the correction with the speed figure."""
    from hpbench.cost.walltime import SPEED_PRIOR_TRIALS

    if not pairs:
        return prior
    factor = math.fsum(m for _, m in pairs) / math.fsum(p for p, _ in pairs)
    n = len(pairs) if n is None else n
    w = n / (n + SPEED_PRIOR_TRIALS)
    return math.exp(w * math.log(factor) + (1 - w) * math.log(prior))


def one(d: Path, *, at: float) -> dict[str, Any] | None:
    import pandas as pd

    from hpbench.dispatch.beside_early import BESIDE_SHARE

    if not (d / "trials.parquet").exists() or not (d / "epochs.parquet").exists():
        return None
    t = pd.read_parquet(d / "trials.parquet")
    e = pd.read_parquet(d / "epochs.parquet")
    if "predicted_epoch_s" not in t.columns or "epoch_s" not in e.columns or "reported_at" not in e.columns:
        return None
    t = t[t.status.isin(["finished", "running", "interrupted"]) & t.predicted_epoch_s.notna()]
    ends = sorted(float(x) for x in t.ended_at.dropna())
    k = math.ceil(at * len(t))
    if k < 1 or len(ends) < k:
        return None
    now = ends[k - 1]
    early = t[t.trial_id.astype(str).str.startswith("early_")]
    until = float(early.ended_at.max()) if len(early) else None
    warm = t.set_index("trial_id")["predicted_warmup_s"].fillna(0.0) if "predicted_warmup_s" in t.columns else None
    ended, running, after, clear, helper = [], [], [], [], []
    for _, r in t.iterrows():
        tid = str(r.trial_id)
        start, end = float(r.started_at), float(r.ended_at) if pd.notna(r.ended_at) else math.inf
        beside = until is not None and end > start and min(end, until) - start > BESIDE_SHARE * (min(end, now) - start)
        mine = e[e.trial_id == r.trial_id].sort_values("epoch")
        p = float(r.predicted_epoch_s)
        w0 = float(warm[r.trial_id]) if warm is not None else 0.0
        pairs = [(p + (w0 if int(x.epoch) == 1 else 0.0), float(x.epoch_s), float(x.reported_at)) for x in mine.itertuples()]
        before = [(pp, m) for pp, m, at_ in pairs if at_ <= now]
        after += [] if tid.startswith("early_") else [(pp, m) for pp, m, at_ in pairs if at_ > now]
        if tid.startswith("early_"):
            if before:
                helper.append((math.fsum(pp for pp, _ in before), math.fsum(m for _, m in before)))
            continue
        # the epochs that began after the early trials stopped, whatever the trial's share beside them
        apart = [(pp, m) for pp, m, at_ in pairs if at_ <= now and (until is None or at_ - m >= until)]
        if apart:
            clear.append((math.fsum(pp for pp, _ in apart), math.fsum(m for _, m in apart)))
        if beside or not before:
            continue
        pair = (math.fsum(pp for pp, _ in before), math.fsum(m for _, m in before))
        (ended if end <= now else running).append(pair)
    if not after:
        return None
    truth = math.fsum(m for _, m in after) / math.fsum(p for p, _ in after)
    pace = {"ended4": blend(ended if len(ended) >= 4 else []), "ended1": blend(ended), "running": blend(ended + running),
            "epochs": blend(clear), "early": blend(clear + helper), "early_half": blend(clear + helper, n=len(clear) + 0.5 * len(helper)),
            "until2": blend(clear if len(clear) >= 2 else clear + helper), "pace": blend(clear, prior=blend(helper))}
    helper_pace = math.fsum(m for _, m in helper) / math.fsum(p for p, _ in helper) if helper else None
    return {"study": d.name, "run": d.parent.parent.name, "n_ended": len(ended), "n_running": len(running), "n_clear": len(clear),
            "helper_pace": round(helper_pace, 4) if helper_pace else None, "truth": round(truth, 4),
            "pace": {k: round(v, 4) for k, v in pace.items()}, "errors": {k: round(v / truth - 1, 4) for k, v in pace.items()}}


if __name__ == "__main__":
    main()
