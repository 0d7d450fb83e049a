"""What hpbench's own callbacks cost the driver per trial as a study grows (issue 20 §4), without Ray.

Replays Ray Tune's callback calls for N one-epoch trials, two running at a time (trial start, its
one epoch's report, its completion, and a step end after each event), into the driver's real
objects: the recorder (:class:`hpbench.dispatch.recorder.Recorder`), the results store writing
real parquet parts, the live progress (plain lines into a buffer), the search's clock with its live
ETA (both pace themselves by a simulated clock: a trial ends every 0.075 s), and the cost predictions (a fixed prediction handed back at once, in this process: the
helper's work is not the driver's). Only the driver's main thread is timed (``time.thread_time``:
CPU seconds, so the machine's load moves it little); the store's background writes are not in it.
Printed and written to results/benchmarks/driver_calls[-SUFFIX].json: the CPU ms per trial in each
tenth of an N-trial replay, and its median, for N = 20, 200, 2,000 (one process each).

    .venv/bin/python benchmarks/driver_calls.py [--sizes 20 200 2000] [--suffix S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
STUDY = """
[study]
name = "driver-calls"
seed = 0
metric = "val_accuracy"
mode = "max"
trials = {n}
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"

[model]
family = "mlp"
depth = 2
width = 256

[train]
max_epochs = 1
batch_size = 32

[space]
lr = {{ loguniform = [0.001, 0.1] }}
"""


TRIAL_GAP_S = 0.075  # wall seconds between trial ends: 2,000 one-epoch trials ended in ~150 s (benchmarks/dispatch.py)


class _Now(Executor):
    """Runs each submitted call at once, in this thread (the prediction helper's stand-in)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        fut.set_result(fn(*args, **kwargs))
        return fut


def _predict(study: Any, params: dict[str, Any], device: str | None) -> dict[str, Any]:
    return {"predicted_s": 0.05, "predicted_epoch_s": 0.05, "flops_per_epoch": 1e9, "flops_per_step": 1e7, "regime": "overhead-bound"}


def replay(n: int, work: Path) -> dict[str, list[float]]:
    from io import StringIO

    from rich.console import Console

    import hpbench.dispatch.eta as eta_module
    import hpbench.dispatch.progress as progress_module
    import hpbench.results.store as store_module
    from hpbench.dispatch.eta import SearchClock
    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.dispatch.progress import Progress
    from hpbench.dispatch.recorder import Recorder
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    # The search's pace, simulated: each trial's end moves the driver's clock on by TRIAL_GAP_S (two
    # one-epoch trials at a time, as benchmarks/dispatch.py measured them), on top of the time the
    # calls themselves take. The live ETA and the store pace themselves by that clock (duty cycles).
    offset = [0.0]
    paced = SimpleNamespace(monotonic=lambda: offset[0] + time.perf_counter(), time=time.time, perf_counter=time.perf_counter)
    for module in (eta_module, progress_module, store_module):
        module.time = paced  # type: ignore[attr-defined]
    path = work / "study.toml"
    path.write_text(STUDY.format(n=n))
    study = load_study(path)
    store = ResultsStore(out=work / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    clock = SearchClock(study=study, n_trials=n)
    plan: Future[list[float]] = Future()
    plan.set_result([0.05] * 16)
    clock.plan = plan
    progress = Progress(store=store, n_trials=n, console=Console(file=StringIO(), width=120), study_name=study.name, clock=clock)
    recorder = Recorder(store=store, progress=progress, predictions=AsyncPredictions(study=study, predict=_predict, executor=_Now()))
    trials: list[Any] = []
    per_trial: list[float] = []
    in_eta = [0.0]  # CPU seconds of the main thread inside the live ETA's pricing (SearchClock.eta_s)
    pricings: list[float] = []  # the CPU seconds of each call that priced (not answered from the last pricing)
    eta_s = clock.eta_s

    def timed_eta(store: Any) -> float | None:
        t0, before = time.thread_time(), clock._eta[0]
        try:
            return eta_s(store)
        finally:
            spent = time.thread_time() - t0
            in_eta[0] += spent
            if clock._eta[0] != before:
                pricings.append(spent)

    clock.eta_s = timed_eta  # type: ignore[method-assign]
    eta_per_trial: list[float] = []

    def start(i: int) -> Any:
        t = SimpleNamespace(trial_id=f"t{i:05d}", config={"lr": 0.001 * (1 + i % 97)}, last_result={}, checkpoint=None, run_metadata=None)
        trials.append(t)
        recorder.on_trial_start(i, trials, t)
        recorder.on_step_end(i, trials)
        return t

    running = [start(0), start(1)]
    for i in range(2, n + 2):
        offset[0] += TRIAL_GAP_S
        t0, e0 = time.thread_time(), in_eta[0]
        t = running.pop(0)
        result = {"epoch": 1, "epoch_s": 0.05, "val_accuracy": 0.9 + (i % 7) / 100, "train_loss": 0.3, "stop_reason": "completed",
                  "best_epoch": 1, "n_params": 68362, "pid": os.getpid(), "hostname": "replay"}
        recorder.on_trial_result(i, trials, t, result)
        recorder.on_step_end(i, trials)
        t.last_result = result
        recorder.on_trial_complete(i, trials, t)
        recorder.on_step_end(i, trials)
        if i < n:
            running.append(start(i))
        per_trial.append(time.thread_time() - t0)
        eta_per_trial.append(in_eta[0] - e0)
    store.flush(force=True)
    tenth = [statistics.fmean(per_trial[k * n // 10 : (k + 1) * n // 10]) * 1000 for k in range(10)]
    eta = [statistics.fmean(eta_per_trial[k * n // 10 : (k + 1) * n // 10]) * 1000 for k in range(10)]
    return {"tenths": _rounded(tenth), "eta_tenths": _rounded(eta), "pricing_ms_median": statistics.median(pricings) * 1000 if pricings else 0.0,
            "pricings_per_trial": len(pricings) / n}


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000])
    ap.add_argument("--suffix", default="")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one size, its tenths as JSON on stdout
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(replay(args.one, Path(tmp))))
        return
    report: dict[str, Any] = {"benchmark": "driver_calls", "date": time.strftime("%Y-%m-%d %H:%M"), "loadavg_start": os.getloadavg(), "sizes": {}}
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"replay of {n} trials failed:\n{proc.stderr[-3000:]}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        tenths, eta = got["tenths"], got["eta_tenths"]
        report["sizes"][str(n)] = {"cpu_ms_per_trial_by_tenth": tenths, "cpu_ms_per_trial_median_tenth": statistics.median(tenths),
                                   "eta_cpu_ms_per_trial_by_tenth": eta, "eta_cpu_ms_per_trial_mean": statistics.fmean(eta),
                                   "other_cpu_ms_per_trial_mean": statistics.fmean(tenths) - statistics.fmean(eta),
                                   "eta_pricing_cpu_ms_median": got["pricing_ms_median"], "eta_pricings_per_trial": got["pricings_per_trial"]}
        print(f"{n:5d} trials: driver CPU per trial by tenth " + " ".join(f"{v:.2f}" for v in tenths)
              + f" ms (median tenth {statistics.median(tenths):.2f} ms); of which the live ETA's pricing "
              + " ".join(f"{v:.2f}" for v in eta) + f" ms (mean {statistics.fmean(eta):.2f} ms, the rest "
              + f"{statistics.fmean(tenths) - statistics.fmean(eta):.2f} ms); one pricing {got['pricing_ms_median']:.2f} ms CPU (median), "
              + f"{got['pricings_per_trial']:.2f} pricings per trial", flush=True)
    report["loadavg_end"] = os.getloadavg()
    OUT.mkdir(parents=True, exist_ok=True)
    dest = OUT / f"driver_calls{'-' + args.suffix if args.suffix else ''}.json"
    dest.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {dest}")


if __name__ == "__main__":
    main()
