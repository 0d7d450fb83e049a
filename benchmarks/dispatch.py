"""Dispatch overhead: hpbench search end to end vs the ideal.

A study of N trials of about 2 s of compute each (a fixed MLP on digits, no pruning or early
stopping) runs at concurrency 2 through ``hpbench search`` in a fresh process. Ideal wall time
= total measured trial compute / 2. Printed and written to results/benchmarks/dispatch.json:

* ratio: end-to-end wall time (process start to the final table written) / ideal; the
  process exit (Ray's shutdown) is printed separately
* start-up: seconds from process start until the first trial starts
* marginal overhead per trial: from two runs (N_SMALL and N trials) side by side, the extra
  slot-seconds each additional trial costs beyond its own compute.

Targets (issue 2): ratio <= 1.3 and marginal overhead <= 0.1 s per trial.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
N, N_SMALL, CONCURRENCY = 32, 8, 2

STUDY = """
[study]
name = "dispatch-bench"
seed = 0
metric = "val_accuracy"
mode = "max"
trials = {trials}
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 2
width = 256

[train]
max_epochs = {epochs}
batch_size = 32

[space]
lr = {{ choice = [0.01] }}
"""


def run(trials: int, epochs: int, workdir: Path) -> dict[str, float]:
    study = workdir / f"bench{trials}.toml"
    study.write_text(STUDY.format(trials=trials, epochs=epochs))
    out = workdir / f"out{trials}"
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "hpbench.cli", "search", str(study), "--out", str(out), "--num-cpus", "2"],
                          capture_output=True, text=True, check=False)
    exit_s = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"search failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    trials_df = pd.read_parquet(out / "trials.parquet")
    wall = (out / "trials.parquet").stat().st_mtime - t0
    compute = float(trials_df["train_s"].sum())
    return {
        "trials": trials,
        "wall_s": wall,
        "exit_s": exit_s,
        "compute_s": compute,
        "mean_trial_s": compute / trials,
        "ideal_s": compute / CONCURRENCY,
        "startup_s": float(trials_df["started_at"].min()) - t0,
        "finished": int((trials_df["status"] == "finished").sum()),
    }


def main() -> None:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not epochs:  # calibrate: epochs so that one trial computes about 2 s
            probe = run(2, 3, work)
            epochs = max(1, round(3 * 2.0 / probe["mean_trial_s"]))
        small = run(N_SMALL, epochs, work)
        big = run(N, epochs, work)
    ratio = big["wall_s"] / big["ideal_s"]
    # Slot-seconds per extra trial beyond its compute, between the two runs.
    extra_trials = big["trials"] - small["trials"]
    marginal = ((big["wall_s"] - small["wall_s"]) * CONCURRENCY - (big["compute_s"] - small["compute_s"])) / extra_trials
    report = {
        "benchmark": "dispatch",
        "epochs_per_trial": epochs,
        "concurrency": CONCURRENCY,
        "runs": [small, big],
        "ratio_to_ideal": ratio,
        "startup_s": big["startup_s"],
        "marginal_overhead_s_per_trial": marginal,
        "targets": {"ratio_to_ideal": 1.3, "marginal_overhead_s_per_trial": 0.1},
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dispatch.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{N} trials x {big['mean_trial_s']:.2f} s compute at concurrency {CONCURRENCY}: ideal {big['ideal_s']:.1f} s")
    print(f"end-to-end wall {big['wall_s']:.1f} s  -> ratio {ratio:.3f}  (target <= 1.3); process exit at {big['exit_s']:.1f} s")
    print(f"start-up before the first trial: {big['startup_s']:.2f} s")
    print(f"marginal overhead per trial: {marginal:.3f} s  (target <= 0.1)")
    print(f"written: {OUT / 'dispatch.json'}")


if __name__ == "__main__":
    main()
