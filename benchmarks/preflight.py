"""What the pre-flight step costs: the quickstart's data checks and its 36 networks tried, against
the search's start-up time (process start to the first trial started).

Each run is the quickstart (studies/quickstart.toml, 2 trials of 2 epochs: only the start-up is
of interest) in a fresh process through ``hpbench.dispatch.runner.run_search``, alternately with
and without the pre-flight. In the runs with it, the pre-flight step is timed where it blocks the
driver: the data checks, then the wait for the networks tried in the helper process. Printed and
written to results/benchmarks/preflight.json:

* ``preflight_s``: the driver blocked by the pre-flight (median over the runs with it);
* ``checks_s``: the checks themselves: the data checks plus ``check_models`` in a process that
  has torch loaded already (the helper loads torch for the cost predictions anyway), median of 5;
* ``startup_s`` with and without the pre-flight (medians), their difference, and the median of
  the paired differences (run k with minus run k without, adjacent in time: less noisy);
* the ratios of ``preflight_s`` and of the difference to the start-up without it (target < 10%).

``python benchmarks/preflight.py [--repeat N]`` (default 3 runs each way). The machines here are
shared and noisy: compare figures from the same run only.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
STUDY = ROOT / "studies" / "quickstart.toml"
TARGET = 0.10

CHILD = """
import json, sys, time
from pathlib import Path
from rich.console import Console
from hpbench.dispatch import runner
from hpbench.dispatch.runner import SearchOptions, run_search
from hpbench.study.parse import load_study

timing = {}
start = runner.preflight_start


class Timed:
    def __init__(self, pending, t0):
        self.pending, self.data_problems, self.warnings = pending, pending.data_problems, pending.warnings
        timing["data_s"] = time.perf_counter() - t0

    def result(self):
        t = time.perf_counter()
        try:
            return self.pending.result()
        finally:
            timing["wait_s"] = time.perf_counter() - t
            timing["preflight_s"] = timing["data_s"] + timing["wait_s"]


def timed_start(study, executor=None):
    t0 = time.perf_counter()
    return Timed(start(study, executor=executor), t0)


runner.preflight_start = timed_start
imports = runner.import_driver_modules


def timed_imports():
    t = time.perf_counter()
    imports()
    timing["imports_s"] = time.perf_counter() - t


runner.import_driver_modules = timed_imports
study = load_study(sys.argv[1], overrides=["train.max_epochs=2"], trials=2)
run_search(study, SearchOptions(out=Path(sys.argv[2]), preflight=sys.argv[3] == "on"), console=Console(quiet=True))
print(json.dumps(timing))
"""


def one_run(work: Path, k: int, *, preflight: bool) -> dict[str, float]:
    out = work / f"out-{k}-{'on' if preflight else 'off'}"
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(STUDY), str(out), "on" if preflight else "off"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"search failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    trials = pd.read_parquet(out / "trials.parquet")
    timing = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"startup_s": float(trials["started_at"].min()) - t0, **timing}


def checks_only(repeat: int = 5) -> dict[str, float]:
    """The checks without the torch import: the data checks, then check_models with torch warm."""
    from hpbench.preflight.models import check_models
    from hpbench.preflight.run import check_data
    from hpbench.study.parse import load_study

    study = load_study(STUDY)
    checked = check_data(study)  # pandas, numpy and the data files warm
    problems = checked.problems + check_models(checked.requests)  # torch and the families imported, once
    if problems:
        sys.exit(f"the quickstart has pre-flight problems: {problems}")
    data_s, nets_s = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        requests = check_data(study).requests
        data_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        check_models(requests)
        nets_s.append(time.perf_counter() - t)
    n = sum(len(r.models) for r in requests)
    return {"data_checks_s": statistics.median(data_s), "network_checks_s": statistics.median(nets_s), "n_networks": n,
            "checks_s": statistics.median(data_s) + statistics.median(nets_s)}


def main() -> None:
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 3
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one_run(work, -1, preflight=True)  # warm-up: the device model's calibration cache, the OS file cache
        for k in range(repeat):
            for on in (True, False) if k % 2 == 0 else (False, True):
                r = one_run(work, k, preflight=on)
                runs.append({"preflight": on, **r})
                extra = (f", pre-flight blocked the driver {r['preflight_s']:.2f} s (data {r['data_s']:.2f} s, then waiting for the "
                         f"networks {r['wait_s']:.2f} s while the driver's imports took {r['imports_s']:.2f} s)") if on else ""
                print(f"run {k + 1}/{repeat} {'with' if on else 'without'} pre-flight: first trial at {r['startup_s']:.2f} s{extra}")
    checks = checks_only()
    with_ = [float(r["startup_s"]) for r in runs if r["preflight"]]
    without = [float(r["startup_s"]) for r in runs if not r["preflight"]]
    blocked = statistics.median(float(r["preflight_s"]) for r in runs if r["preflight"])
    s_with, s_without = statistics.median(with_), statistics.median(without)
    paired = [w - wo for w, wo in zip(with_, without, strict=True)]  # run k with minus run k without (adjacent in time)
    report = {
        "benchmark": "preflight",
        "study": "studies/quickstart.toml (2 trials, 2 epochs)",
        "runs": runs,
        "n_networks": checks["n_networks"],
        "data_checks_s": checks["data_checks_s"],
        "network_checks_s": checks["network_checks_s"],
        "checks_s": checks["checks_s"],
        "preflight_s": blocked,
        "startup_with_s": s_with,
        "startup_without_s": s_without,
        "added_s": s_with - s_without,
        "paired_added_s": paired,
        "paired_added_median_s": statistics.median(paired),
        "imports_s": statistics.median(float(r["imports_s"]) for r in runs if r["preflight"]),
        "preflight_vs_startup": blocked / s_without,
        "checks_vs_startup": checks["checks_s"] / s_without,
        "added_vs_startup": (s_with - s_without) / s_without,
        "paired_added_vs_startup": statistics.median(paired) / s_without,
        "target": TARGET,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "preflight.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"checks: data {checks['data_checks_s']:.3f} s + {checks['n_networks']} networks {checks['network_checks_s']:.3f} s "
          f"= {checks['checks_s']:.3f} s (torch loaded; median of 5)")
    print(f"start-up to the first trial (median of {repeat}): {s_with:.2f} s with the pre-flight, {s_without:.2f} s without "
          f"({s_with - s_without:+.2f} s = {report['added_vs_startup']:+.1%})")
    print(f"paired (with minus without, run by run): {', '.join(f'{d:+.2f}' for d in paired)} s, median {statistics.median(paired):+.2f} s "
          f"= {report['paired_added_vs_startup']:+.1%}")
    print(f"pre-flight blocking the driver: {blocked:.2f} s = {report['preflight_vs_startup']:.1%} of the start-up (the driver imports its "
          f"modules meanwhile: {report['imports_s']:.2f} s); the checks themselves {report['checks_vs_startup']:.1%} (target < {TARGET:.0%})")
    print(f"written: {OUT / 'preflight.json'}")


if __name__ == "__main__":
    main()
