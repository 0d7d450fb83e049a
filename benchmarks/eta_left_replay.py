"""Offline: which trials run, and how long, in the live ETA's model of the trials left.

For each search kept by ``benchmarks/eta.py --keep DIR`` (its trials and epochs tables), at 25, 50
and 75% of its trials ended, the trials not ended yet are priced by
:func:`hpbench.cost.live.remaining_trials_s` in predicted seconds of epochs (one slot, no
overheads, speed 1: what is compared is which configurations run and how many epochs, not the
machine's pace) against what they took in the run, in the same predicted seconds. The models:

* ``blind``: scores drawn independently of cost (before session 13);
* ``copula+focus``: scores correlated with cost at the live rank correlation, TPE leaning toward
  the good configurations (main 872fe46);
* ``line``: the live search's scores against log cost on the metric's scale, the running trials'
  scores what they reached, the rungs' what was recorded there (the live ETA of sessions 13-15);
* ``line+near best``: the same, the trials after TPE's random start priced like its best trials so
  far (:func:`hpbench.cost.quality.searcher_costs`: TPE draws them near those; the live ETA of
  sessions 16-28);
* ``best scale``: the same, the scores recorded at the rungs moved to the scale of a trial's best
  score, as the line's are (:func:`hpbench.cost.quality.on_best_scale`; the live ETA since session 29).

The configurations not started yet come from the pool the live ETA uses: the started ones' costs,
then the estimate's sample (``hpbench estimate STUDY --json``, each started trial replacing two).

    PYTHONPATH=. python benchmarks/eta_left_replay.py --runs "/work/notes/*/eta-keep/*/results" --studies quickstart,signals
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

POINTS = (0.25, 0.5, 0.75)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", required=True, help="glob of kept results folders (eta.py --keep DIR: DIR/*/results)")
    ap.add_argument("--studies", default="quickstart,digits_cnn,eta-repeats,schedules,signals")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/eta_left_replay.json"))
    args = ap.parse_args()

    import pandas as pd

    from hpbench.cost import quality
    from hpbench.cost.estimate import pruning as study_pruning
    from hpbench.cost.estimate import trial_plan
    from hpbench.cost.figures import UNIFORM, Figures
    from hpbench.cost.live import Running, remaining_trials_s
    from hpbench.study.parse import load_study

    bare = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=0.0, exit_s=0.0, first_epoch_s=0.0,
                   tail_s=0.0, replay_start_s=0.0, fused_start_s=0.0, test_s=0.0, test_cold_s=0.0, best_fractions=UNIFORM)
    wanted = args.studies.split(",")
    sampled: dict[str, list[float]] = {}
    rows = []
    for results in sorted(glob.glob(args.runs)):
        for name in wanted:
            d = Path(results) / name
            if not (d / "trials.parquet").is_file():
                continue
            study = load_study(d / "study.toml")
            if name not in sampled:
                est = subprocess.run([sys.executable, "-m", "hpbench", "estimate", str(d / "study.toml"), "--json"],
                                     capture_output=True, text=True, check=True)
                sampled[name] = [r["predicted_epoch_s"] for r in json.loads(est.stdout)["configurations"]]
            t = pd.read_parquet(d / "trials.parquet")
            t = (t[t["repeat"].isna()] if "repeat" in t else t).sort_values("started_at")
            e = pd.read_parquet(d / "epochs.parquet")
            sign = 1.0 if study.settings.mode == "max" else -1.0
            metric, n = study.settings.metric, study.settings.trials
            base = trial_plan(study, {}, epoch_s=1.0)
            pr = study_pruning(study)
            for frac in POINTS:
                k_end = math.ceil(n * frac)
                if k_end >= len(t):
                    continue
                at = sorted(t.ended_at)[k_end - 1]
                known = t[t.started_at <= at]
                actual, running, run_scores, costs, scores = 0.0, [], [], [], []
                rec: dict[int, list[float]] = {k: [] for k in pr.rungs()}
                gains: dict[int, list[float]] = {k: [] for k in pr.rungs()}  # best - value at k, of the trials past k
                for _, r in t.iterrows():
                    ep = e[(e.trial_id == r.trial_id) & (e.reported_at <= at)]
                    if r.started_at > at:
                        actual += r.epochs * r.predicted_epoch_s
                        continue
                    for k in rec:
                        hit = ep[ep.epoch == k]
                        if len(hit):
                            rec[k].append(sign * float(hit[metric].iloc[0]))
                    best = float((sign * ep[metric]).max()) if len(ep) else None
                    for k in gains:
                        hit = ep[ep.epoch == k]
                        if len(hit) and best is not None and int(ep.epoch.max()) > k:
                            gains[k].append(best - sign * float(hit[metric].iloc[0]))
                    if best is not None:
                        costs.append(float(r.predicted_epoch_s))
                        scores.append(best)
                    if r.ended_at > at:
                        actual += (r.epochs - len(ep)) * r.predicted_epoch_s
                        running.append(Running(plan=replace(base, epoch_s=float(r.predicted_epoch_s)), done=len(ep), running_for_s=1.0))
                        run_scores.append(best)
                if actual <= 0:
                    continue
                pool = list(known.predicted_epoch_s) + sampled[name][: max(0, len(sampled[name]) - 2 * len(known))]
                pending = [replace(base, epoch_s=float(pool[i % len(pool)])) for i in range(max(0, n - len(known)))]
                rho = quality.measured_rho(costs, scores, least=4)
                line = quality.fit_score_line(costs, scores)
                kw = dict(running=running, pending=pending, concurrency=1, pruning=pr, recorded={k: len(v) for k, v in rec.items()}, seeds=16)
                copula = replace(bare, quality_rho=quality.blended_rho(prior=0.0, measured=rho, n=len(costs)))
                focus = quality.later(quality.searcher_focus(study.settings.searcher), started=len(known))
                near = [replace(base, epoch_s=c) for c in quality.searcher_costs(
                    pool, scored=list(zip(costs, scores, strict=True)), started=len(known), n_pending=len(pending),
                    focus=quality.searcher_focus(study.settings.searcher))]
                got = {"blind": remaining_trials_s(figures=bare, **kw),
                       "copula+focus": remaining_trials_s(figures=copula, focus=focus, **kw),
                       "line": remaining_trials_s(figures=bare, line=line, running_scores=run_scores, recorded_scores=rec, **kw),
                       "line+near best": remaining_trials_s(figures=bare, line=line, running_scores=run_scores, recorded_scores=rec,
                                                            **{**kw, "pending": near}),
                       "best scale": remaining_trials_s(figures=bare, line=line, running_scores=run_scores,
                                                        recorded_scores=quality.on_best_scale(rec, gains), **{**kw, "pending": near})}
                row = {"run": results, "study": name, "at": frac, "actual": actual, **{k: v / actual - 1 for k, v in got.items()}}
                rows.append(row)
                print(f"{name:12s} {frac:.2f} {Path(results).parent.name} actual {actual:7.1f}  "
                      + "  ".join(f"{k} {100 * row[k]:+5.0f}%" for k in got), flush=True)
    models = ("blind", "copula+focus", "line", "line+near best", "best scale")
    print("\nmedian |error| of the trials left, per study (all points):")
    for name in wanted:
        sel = [r for r in rows if r["study"] == name]
        if sel:
            print(f"  {name:12s} n={len(sel):2d}  " + "  ".join(f"{m} {100 * statistics.median(abs(r[m]) for r in sel):4.0f}%" for m in models))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
