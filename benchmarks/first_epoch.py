"""Seconds from process start to a search's first trial and first epoch, for one or two source trees
side by side (issue 20: the race's time to a target starts with them).

Each run is a fresh ``python -m hpbench.cli search studies/race/<problem>.toml --num-cpus 2`` from
the tree's own folder (a fresh results directory, the race's command), stopped with Ctrl-C after
``--budget-s``; its tables give the first trial's start and the first epoch's report time
(``reported_at``, as benchmarks/race.py reads them), and the first epoch at or above a value
(:data:`AT`, per problem). Two trees (``--trees A B``: a worktree of an earlier commit and this
one) alternate run by run, the first of each pair swapped each time, so that both meet the same
load. Printed, and written to results/benchmarks/first_epoch<suffix>.{json,md}. Run it under the
bench lock: ``benchmarks/exclusive.sh python benchmarks/first_epoch.py --trees /work/wt-old .``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.race import GRACE_S, _signal_group, table_events  # noqa: E402

AT = {"digits": 0.95, "tabular": 0.80, "signals": 0.50}  # a value each problem's first configurations reach within seconds


def one_run(tree: Path, problem: str, seed: int, budget_s: float) -> dict[str, Any]:
    """One search from ``tree``, stopped after ``budget_s``: its first trial's start, first epoch, first epoch >= AT."""
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="first-epoch-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "hpbench.cli", "search", str(tree / "studies" / "race" / f"{problem}.toml"), "--out", str(out),
               "--num-cpus", "2", "--set", f"study.seed={seed}"]
        load = os.getloadavg()[0]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGINT)
            try:
                proc.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
        _signal_group(proc, signal.SIGKILL)  # anything of the group left behind (Ray's processes), as race.py does
        with_tables = (out / "trials.parquet").is_file() and (out / "epochs.parquet").is_file()
        if not with_tables:
            return {"tree": str(tree), "problem": problem, "seed": seed, "load": round(load, 2), "first_trial_s": None,
                    "first_epoch_s": None, "at_s": None}
        trials, ep = pd.read_parquet(out / "trials.parquet"), pd.read_parquet(out / "epochs.parquet")
        epochs = sorted(table_events(trials, ep, t0)[0])
        started = trials["started_at"].dropna()
        reached = [t for t, v in epochs if v >= AT[problem]]
        return {"tree": str(tree), "problem": problem, "seed": seed, "load": round(load, 2),
                "first_trial_s": round(float(started.min()) - t0, 3) if len(started) else None,
                "first_epoch_s": round(epochs[0][0], 3) if epochs else None, "at_s": round(reached[0], 3) if reached else None}


def _median(xs: list[Any]) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def summary(runs: list[dict[str, Any]], trees: list[str], problems: list[str]) -> list[dict[str, Any]]:
    rows = []
    for p in problems:
        for tree in trees:
            mine = [r for r in runs if r["problem"] == p and r["tree"] == tree]
            rows.append({"problem": p, "tree": tree, "runs": len(mine), "first_trial_s": _median([r["first_trial_s"] for r in mine]),
                         "first_epoch_s": _median([r["first_epoch_s"] for r in mine]), "at_s": _median([r["at_s"] for r in mine]),
                         "load": f"{min(r['load'] for r in mine):.1f}-{max(r['load'] for r in mine):.1f}" if mine else ""})
    return rows


def markdown(rows: list[dict[str, Any]], *, note: str) -> str:
    lines = [f"# First trial and first epoch from process start\n\n{note}\n",
             "| problem | tree | runs | first trial s (median) | first epoch s (median) | first epoch >= value s (median) | load (1 min) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['problem']} (>= {AT[r['problem']]}) | {r['tree']} | {r['runs']} | {r['first_trial_s']} | {r['first_epoch_s']} | "
                     f"{r['at_s']} | {r['load']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trees", nargs="+", default=[str(ROOT)], help="source trees (one or two), run alternately")
    ap.add_argument("--problems", default="digits,tabular,signals")
    ap.add_argument("--runs", type=int, default=5, help="runs per tree and problem (seeds 0..runs-1)")
    ap.add_argument("--budget-s", type=float, default=8.0, help="Ctrl-C after this many seconds")
    ap.add_argument("--suffix", default="", help="the report's name: results/benchmarks/first_epoch<suffix>.md")
    args = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees]
    problems = args.problems.split(",")
    runs: list[dict[str, Any]] = []
    began = time.strftime("%H:%M", time.gmtime())
    for p in problems:
        for seed in range(args.runs):
            order = trees if seed % 2 == 0 else trees[::-1]
            for tree in order:
                r = one_run(Path(tree), p, seed, args.budget_s)
                print(json.dumps(r), flush=True)
                runs.append(r)
    rows = summary(runs, trees, problems)
    note = (f"`benchmarks/first_epoch.py --trees {' '.join(args.trees)} --runs {args.runs}`, {began}-{time.strftime('%H:%M', time.gmtime())} UTC, "
            f"seeds 0-{args.runs - 1}, trees alternating run by run; stopped with Ctrl-C at {args.budget_s:g} s.")
    text = markdown(rows, note=note)
    print(text)
    dest = ROOT / "results" / "benchmarks"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / f"first_epoch{args.suffix}.json").write_text(json.dumps({"note": note, "summary": rows, "runs": runs}, indent=1) + "\n")
    (dest / f"first_epoch{args.suffix}.md").write_text(text)


if __name__ == "__main__":
    main()
