"""The trainer with glibc's allocator set for training (hpbench.train.allocator) against glibc's
own settings: the same configurations' epochs, each run a fresh process, the two arms
interleaved, side by side in one run.

Each run trains one configuration with hpbench's trainer on one thread (``--epochs`` epochs) and
keeps its fastest epoch after the first (wall) and that epoch's CPU seconds; the arm "default"
sets ``HPBENCH_ALLOCATOR=default`` (glibc's own mmap and trim thresholds). Cases: wide MLPs on
48,000 rows (4 MB activations and gradients a step, where the setting acts), a small MLP and the
digits CNN (tensors under glibc's 128 KB threshold: level expected).

    benchmarks/exclusive.sh env PYTHONPATH=.:benchmarks .venv/bin/python benchmarks/allocator.py [--quick] [--repeats 3]

Prints each case's median epoch per arm and the ratio default / tuned; writes ``allocator.json``.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from epoch_cost import LONG, TABULAR, parser, write_report  # type: ignore[import-not-found]

# (name, data set, family, model keys, batch)
CASES = [("mlp w4096 d1 b256", LONG, "mlp", {"depth": 1, "width": 4096}, 256),
         ("mlp w1024 d2 b256", LONG, "mlp", {"depth": 2, "width": 1024}, 256),
         ("mlp w2048 d1 b64", LONG, "mlp", {"depth": 1, "width": 2048}, 64),
         ("mlp w64 d2 b32", TABULAR, "mlp", {"depth": 2, "width": 64}, 32),
         ("cnn digits b64", "digits", "cnn", {}, 64)]
QUICK = CASES[:1] + CASES[3:4]
ARMS = ("tuned", "default")


def child(case: int, epochs: int) -> None:
    """In a fresh process: one run of ``CASES[case]``; prints its fastest epoch after the first and that epoch's CPU s."""
    import torch
    from epoch_cost import study  # type: ignore[import-not-found]

    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    torch.set_num_threads(1)
    _, dataset, family, model, batch = CASES[case]
    marks = [time.process_time()]  # the process's CPU seconds at each epoch's report (its epoch and validation)
    history = train(trial_config(study(dataset, family, model, batch, 0.0, epochs), {}),
                    report=lambda _row: marks.append(time.process_time())).history
    cpu = [b - a for a, b in itertools.pairwise(marks)]
    k = min(range(1, len(history)), key=lambda i: history[i]["epoch_s"])
    print(json.dumps({"epoch_s": history[k]["epoch_s"], "epoch_cpu_s": cpu[k] if k < len(cpu) else None}))


def run(case: int, arm: str, epochs: int) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if arm == "default":
        env["HPBENCH_ALLOCATOR"] = "default"
    else:
        env.pop("HPBENCH_ALLOCATOR", None)
    out = subprocess.run([sys.executable, __file__, "--child", str(case), "--epochs", str(epochs)], env=env, capture_output=True,
                         text=True, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = parser(__doc__, quick="two cases: the widest MLP and the small one")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", type=int, default=None, help=argparse_hidden())
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.epochs)
        return
    cases = [CASES.index(c) for c in (QUICK if args.quick else CASES)]
    rows = []
    for i in cases:
        runs: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
        for r in range(args.repeats):
            # interleaved, the order swapped each repeat (A B, B A, ...): a drift in the machine's load
            # touches both arms alike, and neither always runs first (in session 43's first run, with
            # "tuned" always first, the small MLP read 0.92x; in A B B A order it read level)
            for arm in ARMS if r % 2 == 0 else ARMS[::-1]:
                runs[arm].append(run(i, arm, args.epochs))
        med = {a: statistics.median(r["epoch_s"] for r in runs[a]) for a in ARMS}
        cpu = {a: statistics.median(r["epoch_cpu_s"] for r in runs[a] if r["epoch_cpu_s"] is not None) for a in ARMS}
        row = {"case": CASES[i][0], **{f"{a}_epoch_s": med[a] for a in ARMS}, **{f"{a}_epoch_cpu_s": cpu[a] for a in ARMS},
               "ratio": med["default"] / med["tuned"], "cpu_ratio": cpu["default"] / cpu["tuned"], "runs": runs}
        rows.append(row)
        print(f"{row['case']:>20}: epoch {med['tuned']:.3f} s tuned, {med['default']:.3f} s default (x{row['ratio']:.2f}; "
              f"CPU x{row['cpu_ratio']:.2f})", flush=True)
    from epoch_cost import one_thread_device  # type: ignore[import-not-found]

    write_report("allocator", dev=one_thread_device(), rows=rows, summary={"repeats": args.repeats, "epochs": args.epochs}, out=args.out)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
