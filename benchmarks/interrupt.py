"""Ctrl-C on ``hpbench search``: seconds from the signal to the process's exit (target: 10 s),
for one Ctrl-C (the search stops cleanly: running trials stopped, tables written, the resume
command printed) and for two (the second while the first winds down: at once).

Each run starts a real search (Ray, 2 CPUs, an MLP on digits with epochs of ~0.2 s), waits
until a trial has finished, sends SIGINT and times the exit; the study is then resumed once to
check that the folder finishes. Median of ``--runs`` runs each.

    .venv/bin/python benchmarks/interrupt.py          # writes results/benchmarks/interrupt.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import hpbench

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
[study]
name = "interrupt"
metric = "val_accuracy"
mode = "max"
trials = 8
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
max_epochs = 15
batch_size = 16

[space]
lr = { loguniform = [1e-3, 1e-1] }
"""


def one(tmp: Path, *, twice: bool) -> float:
    study = tmp / "interrupt.toml"
    study.write_text(STUDY)
    out = tmp / f"out-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "hpbench.cli", "search", str(study), "--out", str(out), "--num-cpus", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stopping = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("stopping:"):
                stopping.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        while proc.poll() is None:
            with contextlib.suppress(Exception):
                if (hpbench.load(out)["status"] == "finished").any():  # the tables' base and parts (a search writes parts)
                    break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        if twice:
            stopping.wait(60)
            proc.send_signal(signal.SIGINT)
            t0 = time.monotonic()
        proc.wait(timeout=120)
        elapsed = time.monotonic() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 130:
        raise SystemExit(f"the interrupted search exited with {proc.returncode}")
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"--resume failed: {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "interrupt.json")
    args = ap.parse_args()
    report = {"target_s": 10.0}
    with tempfile.TemporaryDirectory(prefix="hpbench-interrupt-") as d:
        for name, twice in (("one_ctrl_c", False), ("two_ctrl_c", True)):
            times = [one(Path(d), twice=twice) for _ in range(args.runs)]
            report[name] = {"median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times]}
            print(f"{name}: median {statistics.median(times):.2f} s from the (last) Ctrl-C to exit, runs {[round(t, 2) for t in times]}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
