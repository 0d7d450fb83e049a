"""The in-run correction and its interval replayed offline on recorded searches (issue 13): which
estimator predicts a study's REMAINING trials best from the trials ended before each started, how
far any per-study scale can go (oracles that see every trial), and how often the trials fell
inside the model's P10-P90 and inside the run's (the correction's; before it, from 2 ended trials:
:func:`hpbench.cost.correct.replay_intervals`), and inside the one they were shown (the run's,
else the model's).

Input: the results folders of earlier ``benchmarks/cost_model.py`` runs (its work folder holds
``digits_c1``, ``seq_c1``, ``digits_c2``, ``seq_c2``), read with ``hpbench.load``; ``--save``
keeps the trials it needs (predicted and measured seconds, regime, family, start and end) in a
JSON file that ``--load`` replays later (the work folders live in /tmp). Trains nothing, times
nothing: run it niced, no bench lock.

    .venv/bin/python benchmarks/correct_replay.py --runs /tmp/cost_model_* --save results/benchmarks/correct_replay.json
    .venv/bin/python benchmarks/correct_replay.py --load results/benchmarks/correct_replay.json [--out results/benchmarks]

Estimators (each from the trials ended before the trial started, once 4 had; early trials never
count, as :func:`hpbench.cost.correct.observations_used`):
``hpbench`` is :func:`hpbench.cost.correct.replay` itself; the others are written here to compare.
Oracles choose one factor per study (or per study and regime, or family) with every trial known:
no estimator from past trials can beat them on average. ``twins``: in ``--pairs`` runs each
configuration ran twice side by side; |a - b| / mean(a, b) is the noise between two measurements
of one configuration, a floor under any prediction of one.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

STUDIES = ("digits_c1", "seq_c1", "digits_c2", "seq_c2")
MIN = 4
Trial = dict[str, Any]


def extract(folder: Path) -> dict[str, list[Trial]]:
    """The trials of each study under ``folder`` (those with predicted and measured seconds), by start."""
    import hpbench

    out = {}
    for study in STUDIES:
        try:
            t = hpbench.load(folder / study)
        except Exception:  # a study the run did not reach
            continue
        if not {"train_s", "predicted_spent_s", "started_at", "regime"} <= set(t.columns):
            continue
        t = t[t["train_s"].notna() & t["predicted_spent_s"].notna()].sort_values("started_at")

        def num(v: Any) -> float | None:
            return None if v is None or v != v else float(v)

        out[f"{folder.name}/{study}"] = [
            {"trial": int(r["trial"]), "in_ray": not str(r.get("trial_id", "")).startswith("early_"), "regime": str(r["regime"]),
             "family": str(r["family"]), "started_at": float(r["started_at"]), "ended_at": float(r["ended_at"]),
             "predicted_s": float(r["predicted_spent_s"]), "measured_s": float(r["train_s"]),
             "predicted_epoch_s": float(r["predicted_epoch_s"]), "slowdown": float(r.get("concurrency_slowdown") or 1.0),
             "p10_s": num(r.get("predicted_spent_s_p10")), "p90_s": num(r.get("predicted_spent_s_p90"))}
            for _, r in t.iterrows()]
    return out


def used(before: list[Trial]) -> list[Trial]:
    return [b for b in before if b["in_ray"]]


def _log(t: Trial) -> float:
    return math.log(t["measured_s"] / t["predicted_s"])


def _own_regime(before: list[Trial], t: Trial) -> list[Trial]:
    u = used(before)
    mine = [b for b in u if b["regime"] == t["regime"]]
    return mine if len(mine) >= MIN else u


def gm_regime(before: list[Trial], t: Trial) -> float:
    return t["predicted_s"] * math.exp(statistics.fmean(_log(b) for b in _own_regime(before, t)))


def gm_pooled(before: list[Trial], t: Trial) -> float:
    return t["predicted_s"] * math.exp(statistics.fmean(_log(b) for b in used(before)))


def ratio_of_sums(before: list[Trial], t: Trial) -> float:
    rows = _own_regime(before, t)
    return t["predicted_s"] * math.fsum(b["measured_s"] for b in rows) / math.fsum(b["predicted_s"] for b in rows)


def median_ratio(before: list[Trial], t: Trial) -> float:
    return t["predicted_s"] * math.exp(statistics.median(_log(b) for b in used(before)))


def by_size(before: list[Trial], t: Trial, h: float = 1.0) -> float:
    """The trials of a similar predicted size weigh more (Gaussian kernel in log seconds, width h)."""
    rows = used(before)
    w = [math.exp(-((math.log(b["predicted_s"] / t["predicted_s"])) ** 2) / (2 * h * h)) for b in rows]
    return t["predicted_s"] * math.exp(math.fsum(wi * _log(b) for wi, b in zip(w, rows, strict=True)) / math.fsum(w))


ESTIMATORS: dict[str, Callable[[list[Trial], Trial], float]] = {
    "geometric mean per regime": gm_regime, "geometric mean pooled": gm_pooled, "ratio of sums per regime": ratio_of_sums,
    "median ratio pooled": median_ratio, "by predicted size (kernel)": by_size}


def replay_hpbench(trials: list[Trial]) -> tuple[list[tuple[float, Any] | None], list[tuple[float, float] | None]]:
    """hpbench's corrected seconds and the run's interval for each trial (correct.replay, replay_intervals)."""
    from hpbench.cost.correct import EndedTrial, replay, replay_intervals

    ended = [EndedTrial(regime=t["regime"], predicted_s=t["predicted_s"], measured_s=t["measured_s"], started_at=t["started_at"],
                        ended_at=t["ended_at"], in_ray=t["in_ray"]) for t in trials]
    return replay(ended), replay_intervals(ended)


def oracle(trials: list[Trial], key: str | None) -> list[float]:
    """|error| with one factor (the median log ratio) per study and ``key`` group, every trial known."""
    errs = []
    for g in {t[key] if key else "" for t in trials}:
        rows = [t for t in trials if (t[key] if key else "") == g]
        f = math.exp(statistics.median(_log(t) for t in rows))
        errs += [abs(f * t["predicted_s"] - t["measured_s"]) / t["measured_s"] for t in rows]
    return errs


def twins(studies: dict[str, list[Trial]]) -> list[float]:
    """|a - b| / mean over the two copies of each configuration of the --pairs runs' c=2 studies
    (enqueued one after the other, so trials 2k and 2k+1, each with the same prediction)."""
    out = []
    for name, trials in studies.items():
        if not name.endswith("_c2"):
            continue
        by_trial = {t["trial"]: t for t in trials}
        for k in range(0, max(by_trial, default=0), 2):
            a, b = by_trial.get(k), by_trial.get(k + 1)
            if a and b and a["in_ray"] and b["in_ray"] and math.isclose(a["predicted_epoch_s"], b["predicted_epoch_s"], rel_tol=1e-9):
                out.append(abs(a["measured_s"] - b["measured_s"]) / ((a["measured_s"] + b["measured_s"]) / 2))
    return out


def q(v: list[float], p: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, max(0, math.ceil(p * len(s)) - 1))]


def report(studies: dict[str, list[Trial]]) -> list[str]:
    md = [f"# The in-run correction replayed on {len(studies)} recorded studies", "",
          "Each trial corrected from the trials of its study that ended before it started (once 4 had); median and P90 of "
          "|corrected - measured| / measured over those trials. Oracles: one factor per study (per regime, per family) chosen "
          "with every trial known.", "",
          "| level | estimator | n | median abs % | P90 abs % |", "|---|---|---|---|---|"]
    cover = ["", "**Intervals: share of trials inside**", "", "| level | model's P10-P90 (n) | run's P10-P90 (n) | as shown (n) | "
             "run's width P90/P10 (median) |", "|---|---|---|---|---|"]
    for level in ("c1", "c2"):
        group = {k: v for k, v in studies.items() if k.endswith(level)}
        if not group:
            continue
        trials = [t for v in group.values() for t in v]
        raw = [abs(t["predicted_s"] - t["measured_s"]) / t["measured_s"] for t in trials]
        md.append(f"| {level} | uncorrected | {len(raw)} | {100 * statistics.median(raw):.1f} | {100 * q(raw, 0.9):.1f} |")
        hp, inside_c, shown, widths = [], [], [], []
        for v in group.values():
            for t, c, band in zip(v, *replay_hpbench(v), strict=True):
                model = None if t["p10_s"] is None or t["p90_s"] is None else t["p10_s"] <= t["measured_s"] <= t["p90_s"]
                if c:
                    hp.append(abs(c[0] - t["measured_s"]) / t["measured_s"])
                if band:
                    inside_c.append(band[0] <= t["measured_s"] <= band[1])
                    widths.append(band[1] / band[0])
                shown_one = (band[0] <= t["measured_s"] <= band[1]) if band else model
                if shown_one is not None:
                    shown.append(shown_one)
        md.append(f"| {level} | hpbench (correct.replay: shrunk geometric mean per regime) | {len(hp)} | {100 * statistics.median(hp):.1f} | "
                  f"{100 * q(hp, 0.9):.1f} |")
        for name, est in ESTIMATORS.items():
            errs = []
            for v in group.values():
                for t in v:
                    before = [b for b in v if b["ended_at"] <= t["started_at"]]
                    if len(used(before)) >= MIN:
                        errs.append(abs(est(before, t) - t["measured_s"]) / t["measured_s"])
            md.append(f"| {level} | {name} | {len(errs)} | {100 * statistics.median(errs):.1f} | {100 * q(errs, 0.9):.1f} |")
        for key, label in ((None, "study"), ("regime", "study and regime"), ("family", "study and family")):
            errs = [e for v in group.values() for e in oracle(v, key)]
            md.append(f"| {level} | oracle: one factor per {label} | {len(errs)} | {100 * statistics.median(errs):.1f} | {100 * q(errs, 0.9):.1f} |")
        model = [t["p10_s"] <= t["measured_s"] <= t["p90_s"] for t in trials if t["p10_s"] is not None and t["p90_s"] is not None]

        def share(v: list[bool]) -> str:
            return f"{100 * statistics.fmean(v):.1f}% ({len(v)})" if v else "-"

        cover.append(f"| {level} | {share(model)} | {share(inside_c)} | {share(shown)} | "
                     f"{statistics.median(widths) if widths else float('nan'):.2f} |")
    tw = twins(studies)
    md += cover
    if tw:
        md += ["", f"**Two identical trials side by side** (--pairs runs, c=2): |a - b| / mean, median {100 * statistics.median(tw):.1f}%, "
               f"P90 {100 * q(tw, 0.9):.1f}% over {len(tw)} pairs: a floor under any one trial's prediction at c=2."]
    return [*md, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="cost_model.py work folders (holding digits_c1, seq_c1, ...)")
    ap.add_argument("--load", type=Path, default=None, help="a JSON saved by --save")
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write correct_replay.md here")
    args = ap.parse_args()
    studies: dict[str, list[Trial]] = json.loads(args.load.read_text(encoding="utf-8")) if args.load else {}
    for folder in args.runs:
        studies |= extract(folder)
    if args.save:
        args.save.write_text(json.dumps(studies, indent=0), encoding="utf-8")
    md = report(studies)
    print("\n".join(md))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "correct_replay.md").write_text("\n".join(md), encoding="utf-8")


if __name__ == "__main__":
    main()
