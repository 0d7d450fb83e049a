"""Which in-run correction (issue 13, "Learn from the run" and "Say how sure it is"): the candidate
rules of :mod:`correct_rules` replayed over every recorded ``benchmarks/cost_model.py`` run, against
the uncorrected prediction and :mod:`hpbench.cost.correct` itself: pooled, paired on the trials the
dispatcher corrects (with a bootstrap over runs), per run, chosen on one half of the runs and scored
on the other, and the oracle (one factor per study, every trial known). Trains nothing, times
nothing: run it niced, no bench lock (~1.5 min of one core).

    .venv/bin/python benchmarks/correct_strategies.py results/benchmarks/cost_model*.json \\
        --times results/benchmarks/correct_replay.json --out results/benchmarks/correct_replay-s11
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from correct_rules import MIN, Row, Rule, attach_times, corrected, current, distinct, evaluate, logs, simulated, studies, summary

RULES = [Rule(key=k, estimator=e, shrink=w, early=early) for k in ("regime", "family", "family>regime", "pooled", "family>pooled")
         for e in ("mean", "sums", "median") for w in (0.0, 1.0, 2.0, 4.0) for early in ("until 4", "all", "none")
         if not (e == "sums" and w > 0)]  # the ratio of sums has no shrinkage here
SHOWN = (Rule(key="family", estimator="mean", shrink=2.0, early="all"), Rule(key="pooled", estimator="median", shrink=2.0),
         Rule(key="pooled", estimator="mean", shrink=4.0), Rule(key="regime", estimator="sums", shrink=0.0))  # per run, beside hpbench's
LIVE = Rule(key="regime", estimator="mean", shrink=4.0, early="none")  # hpbench's rule (Tune's trials only, as the dispatcher passes)
PAIRED = (*(Rule(key=k, estimator="mean", shrink=w, early="none") for k, w in (("regime", 2.0), ("regime", 0.0), ("pooled", 4.0),
                                                                                  ("family", 2.0), ("family>regime", 2.0))),
          Rule(key="pooled", estimator="median", shrink=2.0, early="none"), Rule(key="regime", estimator="sums", shrink=0.0, early="none"),
          Rule(key="family", estimator="mean", shrink=2.0, early="all"), Rule(key="regime", estimator="mean", shrink=4.0),
          *(Rule(key="regime", estimator="mean", shrink=4.0, early="none", interval=i) for i in ("quantiles", "quantiles+")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", type=Path, nargs="+", help="cost_model*.json")
    ap.add_argument("--times", type=Path, default=None, help="correct_replay.json: recorded start and end of some studies' trials")
    ap.add_argument("--out", type=Path, default=None, help="write <out>.md and <out>.json")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    times = json.loads(args.times.read_text(encoding="utf-8")) if args.times else {}
    files = {f.stem: json.loads(f.read_text(encoding="utf-8"))["rows"] for f in args.files}
    for name, rows in files.items():
        for r in rows:
            r.setdefault("in_ray", True)  # recorded before early trials existed: all ran in Ray
            r["run"] = name
        attach_times(rows, times)
    md, js = report(files, distinct(files), top=args.top)
    print("\n".join(md))
    if args.out:
        Path(f"{args.out}.md").write_text("\n".join(md) + "\n", encoding="utf-8")
        Path(f"{args.out}.json").write_text(json.dumps(js, indent=1), encoding="utf-8")


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def report(files: dict[str, list[Row]], pool: list[str], *, top: int) -> tuple[list[str], dict[str, Any]]:
    rows = [r for n in pool for r in files[n]]
    evs = {"hpbench (regime / mean / w=4, Tune's trials only)": current(rows)}
    evs |= {rule.name(): evaluate(rows, lambda b, t, rule=rule: corrected(rule, b, t)) for rule in RULES}
    base = evs[next(iter(evs))]
    pooled = {k: {"all": summary(v), "c1": summary([e for e in v if e["c"] == 1]), "c2": summary([e for e in v if e["c"] == 2]),
                  "runs_not_worse": _not_worse(v, base)} for k, v in evs.items()}
    n_timed = sum(1 for n in pool if files[n][0]["timed"])
    md = [f"# The in-run correction: candidate rules replayed on {len(pool)} recorded runs ({len(rows)} trials)", "",
          "Each trial corrected from the trials of its study that ended before it started, once 4 had (benchmarks/correct_strategies.py; "
          f"{n_timed} runs with recorded start and end times, the others a simulated schedule). Median |corrected - measured| / measured "
          "over the corrected trials; raw: the uncorrected prediction on the same trials; coverage: share inside the rule's P10-P90. "
          "'runs not worse': (run, level) pairs whose median is at most hpbench's. n differs where a rule corrects other trials "
          "(hpbench's and 'early trials: none' wait for 4 of Tune's; the others count early trials, 'until 4' as hpbench did before "
          "session 11): the paired table below compares on the same trials.", "",
          "| rule | n | raw % | median % (all) | c=1 % | c=2 % | coverage % (all) | c=1 | c=2 | runs not worse |", "|---|---|---|---|---|---|---|---|---|---|"]
    for k, s in [*sorted(pooled.items(), key=lambda kv: kv[1]["all"]["median"])[:top], (next(iter(pooled)), pooled[next(iter(pooled))])]:
        a, c1, c2 = s["all"], s["c1"], s["c2"]
        md.append(f"| {k} | {a['n']} | {_pct(a['raw'])} | {_pct(a['median'])} | {_pct(c1['median'])} | {_pct(c2['median'])} | "
                  f"{_pct(a['coverage'])} | {_pct(c1['coverage'])} | {_pct(c2['coverage'])} | {s['runs_not_worse']} |")
    paired = paired_table(rows)
    md += ["", f"**Paired, on the trials the dispatcher corrects** (after 4 of Tune's trials ended: it passes no early trial, "
           f"hpbench.dispatch.corrections.ended_pairs; {LIVE.name()} is hpbench's rule): median % on the same trials, the "
           "difference's 90% interval from 400 resamples of the runs (seed 0)", "",
           "| rule | n | c=1 % | c=2 % | all % | hpbench's % | difference (90% interval) | coverage % | runs not worse |",
           "|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {k} | {v['n']} | {_pct(v['c1'])} | {_pct(v['c2'])} | {_pct(v['median'])} | {_pct(v['base'])} | "
           f"{100 * v['diff'][0]:+.1f} ({100 * v['diff'][1]:+.1f}, {100 * v['diff'][2]:+.1f}) | {_pct(v['coverage'])} | {v['runs_not_worse']} |"
           for k, v in paired.items()]
    md += ["", "**Per run and level** (median %, n corrected by hpbench)", "",
           "| run | level | n | raw | hpbench | " + " | ".join(r.name() for r in SHOWN) + " | oracle: one factor per study |",
           "|---|---|---|---|---|" + "---|" * len(SHOWN) + "---|"]
    per_run = {}
    for run in pool:
        for c in (1, 2):
            sel = [r for r in files[run] if r["concurrent"] == c]
            if not sel:
                continue
            got = [summary([e for e in evs[k] if e["run"] == run and e["c"] == c]) for k in (next(iter(evs)), *(r.name() for r in SHOWN))]
            orc = statistics.median(oracle(sel))
            per_run[f"{run} c{c}"] = {"hpbench": got[0], **{r.name(): g for r, g in zip(SHOWN, got[1:], strict=True)}, "oracle": orc}
            md.append(f"| {run} | c={c} | {got[0]['n']} | {_pct(got[0]['raw'])} | " + " | ".join(_pct(g["median"]) for g in got)
                      + f" | {_pct(orc)} |")
    orc_all = {c: statistics.median(oracle([r for r in rows if r["concurrent"] == c])) for c in (1, 2)}
    md += ["", f"Oracle, one factor per study chosen with every trial known (the median log ratio), over all {len(rows)} trials: "
           f"median {_pct(orc_all[1])}% at c=1, {_pct(orc_all[2])}% at c=2: no per-study scale factor, however learnt, does better on average."]
    check = holdout(files, pool)
    md += ["", "**Chosen on one half, scored on the other** (the best rule by median on the runs with recorded times, then on the "
           "runs with a simulated schedule, among those correcting the same trials as hpbench's; its rule beside it)", "",
           "| chosen on | rule | there % | other half % | current there % | current other half % |", "|---|---|---|---|---|---|"]
    md += [f"| {h} | {v['rule']} | {_pct(v['there'])} | {_pct(v['other'])} | {_pct(v['current_there'])} | {_pct(v['current_other'])} |"
           for h, v in check.items()]
    rest = remaining(rows)
    md += ["", "**The seconds left** (what the ETA sums): at each trial's start once 4 of Tune's trials ended, the predicted seconds of "
           "the trials not started yet (it included) against their measured sum; median |error| over those points. The live ETA blends "
           "its factor with this machine's speed figure (cost/walltime.slowness), not recorded here: the factor alone.", "",
           "| factor | c=1 % (n) | c=2 % (n) | all % | runs not worse than the ETA's | difference (90% interval) |", "|---|---|---|---|---|---|"]
    md += [f"| {k} | {_pct(v['c1'])} ({v['n1']}) | {_pct(v['c2'])} ({v['n2']}) | {_pct(v['median'])} | {v['runs_not_worse']} | "
           f"{100 * v['diff'][0]:+.1f} ({100 * v['diff'][1]:+.1f}, {100 * v['diff'][2]:+.1f}) |" for k, v in rest.items()]
    sched = schedule_check(files, pool)
    md += ["", f"**The simulated schedule, checked**: on the {n_timed} runs with recorded times, hpbench's rule reads "
           f"{_pct(sched['recorded'])}% (n {sched['n_recorded']}) with them and {_pct(sched['simulated'])}% (n {sched['n_simulated']}) "
           "with the simulated schedule instead.", ""]
    return md, {"runs": pool, "pooled": pooled, "paired": paired, "per_run": per_run, "oracle": orc_all, "holdout": check, "remaining": rest, "schedule": sched}


def paired_table(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Each rule in PAIRED against LIVE on the trials both correct: medians, the difference's bootstrap interval over runs, coverage."""
    def per_trial(rule: Rule) -> dict[int, Row]:
        return {e["id"]: e for e in evaluate(rows, lambda b, t: corrected(rule, b, t))}

    base = per_trial(LIVE)
    runs = sorted({e["run"] for e in base.values()})
    rng = random.Random(0)
    resamples = [[rng.choice(runs) for _ in runs] for _ in range(400)]
    out = {}
    for rule in PAIRED:
        other = per_trial(rule)
        common = [k for k in base if k in other]
        by_run = {r: [k for k in common if base[k]["run"] == r] for r in runs}
        diffs = sorted(statistics.median(other[k]["err"] for r in pick for k in by_run[r]) - statistics.median(base[k]["err"] for r in pick for k in by_run[r])
                       for pick in resamples)
        inside = [other[k]["inside"] for k in common if other[k]["inside"] is not None]
        mine, ref = ([e[k] for k in common] for e in (other, base))
        out[rule.name()] = {"n": len(common), "median": statistics.median(e["err"] for e in mine), "base": statistics.median(e["err"] for e in ref),
                            "c1": _median([e["err"] for e in mine if e["c"] == 1]), "c2": _median([e["err"] for e in mine if e["c"] == 2]),
                            "diff": (statistics.median(e["err"] for e in mine) - statistics.median(e["err"] for e in ref), diffs[20], diffs[379]),
                            "coverage": statistics.fmean(inside) if inside else None, "runs_not_worse": _not_worse(mine, ref)}
    return out


REMAINING = {"uncorrected": None, "regime / sums (the ETA's factor)": Rule(key="regime", estimator="sums", shrink=0.0, early="none"),
             "pooled / sums": Rule(key="pooled", estimator="sums", shrink=0.0, early="none"),
             "regime / mean / w=4 (the per-trial factor)": Rule(key="regime", estimator="mean", shrink=4.0, early="none"),
             "regime / mean / w=0": Rule(key="regime", estimator="mean", shrink=0.0, early="none"),
             "pooled / median / w=0": Rule(key="pooled", estimator="median", shrink=0.0, early="none")}


def remaining(rows: list[Row]) -> dict[str, dict[str, Any]]:
    """Each factor's |error| on the seconds of a study's trials not started yet, at each trial's start, against the ETA's."""
    err: dict[str, list[Row]] = {k: [] for k in REMAINING}
    for study in studies(rows):
        for t in study:
            before = [b for b in study if b["ended_at"] <= t["started_at"] and b is not t]
            rest = [u for u in study if u["started_at"] >= t["started_at"]]
            if sum(b["in_ray"] for b in before) < MIN or len(rest) < 2:
                continue
            actual = math.fsum(u["measured_s"] for u in rest)
            for k, rule in REMAINING.items():
                got = [u["predicted_s"] if rule is None else (corrected(rule, before, u) or (u["predicted_s"], None))[0] for u in rest]
                err[k].append({"run": t["run"], "c": t["concurrent"], "err": abs(math.fsum(got) - actual) / actual})
    base = err["regime / sums (the ETA's factor)"]
    runs = sorted({e["run"] for e in base})
    rng = random.Random(0)
    resamples = [[rng.choice(runs) for _ in runs] for _ in range(400)]
    out = {}
    for k, v in err.items():
        mine, ref = ({r: [e["err"] for e in ev if e["run"] == r] for r in runs} for ev in (v, base))
        diffs = sorted(statistics.median(x for r in p for x in mine[r]) - statistics.median(x for r in p for x in ref[r]) for p in resamples)
        out[k] = {"c1": _median([e["err"] for e in v if e["c"] == 1]), "c2": _median([e["err"] for e in v if e["c"] == 2]),
                  "n1": sum(e["c"] == 1 for e in v), "n2": sum(e["c"] == 2 for e in v), "median": statistics.median(e["err"] for e in v),
                  "runs_not_worse": _not_worse(v, base),
                  "diff": (statistics.median(e["err"] for e in v) - statistics.median(e["err"] for e in base), diffs[20], diffs[379])}
    return out


def _median(v: list[float]) -> float | None:
    return statistics.median(v) if v else None


def schedule_check(files: dict[str, list[Row]], pool: list[str]) -> dict[str, Any]:
    """hpbench's rule on the runs with recorded times, with those times and with the simulated schedule."""
    timed = [n for n in pool if files[n][0]["timed"]]
    got = {"recorded": current([r for n in timed for r in files[n]])}
    copies = [dict(r) for n in timed for r in files[n]]
    for study in studies(copies):
        study.sort(key=lambda r: r["trial"])
        for r, (s, e) in zip(study, simulated([r["measured_s"] for r in study], study[0]["concurrent"]), strict=True):
            r["started_at"], r["ended_at"] = s, e
    got["simulated"] = current(copies)
    return {k: statistics.median(e["err"] for e in v) for k, v in got.items()} | {f"n_{k}": len(v) for k, v in got.items()}


def _not_worse(ev: list[Row], base: list[Row]) -> str:
    keys = sorted({(e["run"], e["c"]) for e in base})
    med = {k: statistics.median(e["err"] for e in ev if (e["run"], e["c"]) == k) for k in keys}
    ref = {k: statistics.median(e["err"] for e in base if (e["run"], e["c"]) == k) for k in keys}
    return f"{sum(med[k] <= ref[k] + 1e-12 for k in keys)}/{len(keys)}"


def oracle(rows: list[Row]) -> list[float]:
    """|error| with the median log ratio of each study, every trial known: no per-study factor does better on average."""
    out = []
    for study in studies(rows):
        f = math.exp(statistics.median(logs(study)))
        out += [abs(f * t["predicted_s"] - t["measured_s"]) / t["measured_s"] for t in study]
    return out


def holdout(files: dict[str, list[Row]], pool: list[str]) -> dict[str, dict[str, Any]]:
    halves = {"recorded times": [n for n in pool if files[n][0]["timed"]], "simulated schedule": [n for n in pool if not files[n][0]["timed"]]}
    med: dict[str, dict[str, float]] = {}
    for h, names in halves.items():
        rows = [r for n in names for r in files[n]]
        med[h] = {"current": statistics.median(e["err"] for e in current(rows))}
        med[h] |= {rule.name(): statistics.median(e["err"] for e in evaluate(rows, lambda b, t, rule=rule: corrected(rule, b, t)))
                   for rule in RULES if rule.early == "none"}  # the same trials as hpbench's (from 4 of Tune's ended)
    out = {}
    for h, other in ((a, b) for a in halves for b in halves if a != b):
        best = min((k for k in med[h] if k != "current"), key=med[h].__getitem__)
        out[h] = {"rule": best, "there": med[h][best], "other": med[other][best], "current_there": med[h]["current"], "current_other": med[other]["current"]}
    return out


if __name__ == "__main__":
    main()

