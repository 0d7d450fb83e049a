"""The wall-time model's priors (:class:`hpbench.cost.figures.Figures`' defaults, what a machine
with no search history is priced at) against what this machine's searches measured: each
figure's median over every search record that measures it (as the ETA reads them, divided by the
contention the search ran under), with its P10-P90, next to the prior. A prior far from the
medians of the current code's quiet searches is stale: re-measure it here and say so where it is
set.

    python benchmarks/priors.py [--history FILE ...] [--since 2026-12-03T19:00] [--until 2026-12-04T05:00] [--report results/benchmarks/priors.json]

``--history``: search-history files to read (default: this machine's, ``~/.cache/hpbench/devices/
<host>-searches.json``; give several to pool runs whose history was moved aside); ``--since``:
only the searches started from then on (UTC; the current code's); ``--until``: only those
started before (so that held-out runs, ``benchmarks/eta.py --unseen``, stay out of the priors they test).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hpbench.cost import history  # noqa: E402
from hpbench.cost.figures import Figures  # noqa: E402

NAMES = ("startup_s", "data_s", "startup_solo_s", "ray_s", "fresh_worker_s", "setup_s", "tail_s", "replay_start_s", "fused_start_s",
         "test_s", "test_cold_s", "report_s", "report_small_s", "exit_s")


def _prior(prior: Figures, name: str) -> float:
    """The prior's value of ``name`` as the ETA prices it (a figure set to 0 is derived from another)."""
    derived = {"startup_solo_s": lambda: prior.startup(early=False, contention=1.0), "ray_s": lambda: prior.ray_up(contention=1.0),
               "report_small_s": lambda: prior.report(importance=False, contention=1.0)}
    return float(derived[name]()) if name in derived else float(getattr(prior, name))


def compare(records: list[dict[str, Any]], prior: Figures) -> list[dict[str, Any]]:
    """Per figure: the prior, and the records' median, P10 and P90 of it (None where fewer than 3 measure it)."""
    rows = []
    for name in NAMES:
        values = history.measured(records, name)
        row: dict[str, Any] = {"figure": name, "prior": _prior(prior, name), "n": len(values), "median": None, "p10": None, "p90": None}
        if len(values) >= 3:
            deciles = statistics.quantiles(values, n=10)
            row.update(median=statistics.median(values), p10=deciles[0], p90=deciles[-1])
            row["prior_error"] = (row["prior"] - row["median"]) / row["median"] if row["median"] else None
        rows.append(row)
    return rows


def quantiles(xs: list[float], n: int = 20) -> list[float]:
    """``n`` quantiles of ``xs`` (the midpoints of ``n`` equal shares), sorted."""
    v = sorted(xs)
    return [v[min(len(v) - 1, int((i + 0.5) * len(v) / n))] for i in range(n)]


def best_fractions(records: list[dict[str, Any]], n: int = 20) -> tuple[float, ...]:
    """The early-stopped trials' best epoch / max_epochs, each study weighing alike (its fractions'
    ``n`` quantiles: the quickstart's hundreds of trials would outweigh the rest), pooled and sorted."""
    by: dict[str, list[float]] = {}
    for r in records:
        by.setdefault(str(r.get("study")), []).extend(float(f) for f in r.get("best_fractions") or ())
    return tuple(sorted(q for v in by.values() if v for q in quantiles(v, n)))


_DATA_CHILD = """
import json, sys
from hpbench.preflight.run import check_data
from hpbench.study.parse import load_study
import time
study = load_study(sys.argv[1])
began = time.perf_counter()
check_data(study)
print(json.dumps(time.perf_counter() - began))
"""


def study_files(work: Path) -> dict[str, Path]:
    """Study name -> its file: the studies under studies/ and benchmarks/eta.py's own two (written to ``work``)."""
    import tomllib

    from benchmarks import eta

    (work / "tiny.toml").write_text(eta.TINY)
    (work / "repeats.toml").write_text(eta.REPEATS)
    files = [*sorted((ROOT / "studies").rglob("*.toml")), work / "tiny.toml", work / "repeats.toml"]
    return {str(tomllib.loads(f.read_text()).get("study", {}).get("name") or f.stem): f for f in files}


def data_seconds(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The pre-flight's data loading and checks of the studies the start-up figure's records searched,
    each measured in a fresh process (as a search's driver runs them, before Ray starts), and their
    median with each study counted as many times as it has such records (the start-up prior's own
    weighting)."""
    import subprocess
    import tempfile

    counts: dict[str, int] = {}
    for r in records:
        if history.measured([r], "startup_s"):
            counts[str(r.get("study"))] = counts.get(str(r.get("study")), 0) + 1
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="hpbench-priors-") as tmp:
        files = study_files(Path(tmp))
        secs = {}
        for name in counts:
            if name in files:
                run = subprocess.run([sys.executable, "-c", _DATA_CHILD, str(files[name])], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
                if run.returncode == 0:
                    secs[name] = float(run.stdout.strip().splitlines()[-1])
    weighted = [secs[n] for n, k in counts.items() if n in secs for _ in range(k)]
    return {"per_study": secs, "records": counts, "median": statistics.median(weighted) if weighted else None,
            "unmeasured": sorted(n for n in counts if n not in secs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--history", type=Path, action="append", default=[])
    ap.add_argument("--since", help="UTC, ISO format: only the searches started from then on")
    ap.add_argument("--until", help="UTC, ISO format: only the searches started before then (leave held-out runs out)")
    ap.add_argument("--report", type=Path, default=ROOT / "results" / "benchmarks" / "priors.json")
    ap.add_argument("--data", action="store_true", help="also measure the data loading and checks of the records' studies (fresh processes)")
    args = ap.parse_args()
    files = args.history or [history.history_file(history.default_cache_dir())]
    records = [r for f in files for r in json.loads(f.read_text()).get("searches", [])]
    for bound, keep in ((args.since, lambda t, b: t >= b), (args.until, lambda t, b: t < b)):
        if bound:
            at = dt.datetime.fromisoformat(bound).replace(tzinfo=dt.UTC).timestamp()
            records = [r for r in records if keep(float(r.get("started_at") or 0), at)]
    records.sort(key=lambda r: float(r.get("started_at") or 0))
    rows = compare(records, Figures())
    print(f"{len(records)} searches from {len(files)} history file(s)" + (f", started since {args.since} UTC" if args.since else "")
          + (f", before {args.until} UTC" if args.until else ""))
    print(f"{'figure':16s} {'prior':>7s} {'n':>4s} {'median':>7s} {'P10-P90':>13s}  prior vs median")
    for r in rows:
        if r["median"] is None:
            print(f"{r['figure']:16s} {r['prior']:7.3f} {r['n']:4d}       -")
            continue
        print(f"{r['figure']:16s} {r['prior']:7.3f} {r['n']:4d} {r['median']:7.3f} {r['p10']:6.2f}-{r['p90']:<6.2f}  {r['prior_error']:+.0%}")
    pooled = best_fractions(records)
    fractions: dict[str, Any] = {}
    if pooled:
        fractions = {"studies": len(pooled) // 20, "mean": statistics.fmean(pooled), "prior_mean": statistics.fmean(Figures().best_fractions),
                     "quantiles": [round(q, 3) for q in quantiles(list(pooled))]}
        print(f"best epoch / max_epochs of early-stopped trials, {fractions['studies']} studies alike: mean {fractions['mean']:.3f} "
              f"(prior {fractions['prior_mean']:.3f}); 20 quantiles: {', '.join(f'{q:.2f}' for q in fractions['quantiles'])}")
    data: dict[str, Any] = {}
    if args.data:
        data = data_seconds(records)
        print(f"data loading and checks before Ray, the start-up records' studies (fresh processes): median {data['median']:.3f} s "
              f"(prior {Figures().data_s:.3f}); " + ", ".join(f"{n} {s:.2f} s x{data['records'][n]}" for n, s in sorted(data["per_study"].items()))
              + (f"; not found: {', '.join(data['unmeasured'])}" if data["unmeasured"] else ""))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"benchmark": "priors", "at": time.time(), "files": [str(f) for f in files], "since": args.since, "until": args.until,
                                       "n_searches": len(records), "rows": rows,
                                       "best_fractions": fractions, "data": data}, indent=1) + "\n")
    print(f"written: {args.report}")


if __name__ == "__main__":
    main()
