"""Offline, nothing timed: would another best-epoch prior price a machine's first searches better?
Each study of earlier ``benchmarks/eta.py`` reports is estimated again as a machine's first search
(a device cache holding the device model only: no search history, no kept prices), once with
hpbench's prior (:data:`hpbench.cost.figures.PRIOR_BEST`, mean 0.32 of ``max_epochs``, from the
default studies' searches) and once with the 20 quantiles of the fractions in a
``benchmarks/family_best_epoch.py`` report (six families on three data sets at 15 optimizer x rate
pairs each), each against the whole command's wall time the report measured. Only the
early-stopping prior differs between the two estimates (a study's own earlier runs are none here).

    python benchmarks/prior_replay.py results/benchmarks/eta-s31-default-nohist.json ... [--prior results/benchmarks/family_best_epoch.json]
        [--report results/benchmarks/prior_replay.json]

Run it on a quiet machine: an estimate probes the machine's contention and prices at it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from priors import quantiles  # noqa: E402

KEEP = ("-searches.json", "-prices.json", "-priced.json", "-repriced.json")  # what a machine with no searches has none of


def study_paths(work: Path) -> dict[str, Path]:
    import eta

    paths = dict(eta.studies(work, only=None, claims=True))
    for d in ("eta_fresh", "eta_unseen"):
        for p in (ROOT / "benchmarks" / d).glob("*.toml"):
            paths[eta.study_name(p)] = p
    paths["unseen-big-csv"] = eta.big_csv(work)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+", type=Path, help="benchmarks/eta.py reports whose studies and measured wall times to use")
    ap.add_argument("--prior", type=Path, default=ROOT / "results/benchmarks/family_best_epoch.json")
    ap.add_argument("--report", type=Path, default=ROOT / "results/benchmarks/prior_replay.json")
    args = ap.parse_args()
    args.reports = [r.resolve() for r in args.reports]
    args.report = args.report.resolve()
    other = tuple(quantiles([t["best_fraction"] for t in json.loads(args.prior.read_text())["trials"]]))
    batch = float(json.loads(args.prior.read_text()).get("batch", 32))
    work = Path(tempfile.mkdtemp(prefix="hpbench-prior-replay-"))
    cache = work / "cache" / "hpbench" / "devices"
    cache.mkdir(parents=True)
    from hpbench.cost import history

    for f in history.default_cache_dir().glob("*.json"):
        if not f.name.endswith(KEEP):
            shutil.copy(f, cache / f.name)
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    from hpbench.api.estimate import study_estimate
    from hpbench.study.parse import load_study

    learned = history.figures
    alternative: dict[str, Any] = {"on": False}

    def figures(*a: Any, **k: Any) -> Any:  # the figures as learned, the prior's fractions swapped where they are the prior's
        f = learned(*a, **k)
        return replace(f, best_fractions=other, best_batches=(batch,) * len(other)) if alternative["on"] and not f.best_own else f

    history.figures = figures  # type: ignore[assignment]
    paths = study_paths(work)
    os.chdir(work)  # the studies' relative outputs (a results folder) land in the scratch folder
    rows = []
    for rep in args.reports:
        for r in json.loads(rep.read_text())["rows"]:
            try:
                study = load_study(paths[r["study"]])
            except Exception as err:  # a study that reads another's results (transfer, distillation) needs them: skipped
                print(f"{r['study']:20s} skipped: {str(err).splitlines()[0][:100]}")
                continue
            got = {}
            for label, on in (("prior", False), ("other", True)):
                alternative["on"] = on
                got[label] = study_estimate(study).summary["wall_time"]["total_s"]
            row = {"study": r["study"], "report": rep.name, "measured_s": r["measured_s"], "prior_s": got["prior"], "other_s": got["other"],
                   "prior_error": got["prior"] / r["measured_s"] - 1, "other_error": got["other"] / r["measured_s"] - 1}
            rows.append(row)
            print(f"{row['study']:20s} measured {row['measured_s']:6.1f} s  prior {row['prior_s']:6.1f} ({row['prior_error']:+.0%})  "
                  f"other {row['other_s']:6.1f} ({row['other_error']:+.0%})", flush=True)
    summary = {k: {"median_abs": statistics.median(abs(r[f"{k}_error"]) for r in rows), "max_abs": max(abs(r[f"{k}_error"]) for r in rows),
                   "within_25": sum(abs(r[f"{k}_error"]) <= 0.25 for r in rows)} for k in ("prior", "other")}
    print(json.dumps(summary, indent=1))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.report.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": "prior_replay", "other_prior": str(args.prior), "other_fractions": other, "summary": summary,
                               "rows": rows}, indent=1))
    tmp.replace(args.report)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
