"""Issue 13 diagnostic: does work on the other core slow a trial's epoch (its own CPU time, not a
wait for a core)? One configuration's epochs (``train``'s ``run_epoch``, in this process, one
thread) timed in rounds, each round alone and beside one neighbour process pinned to another CPU:
a Python busy loop (what the driver and the helper's pricing do), a large copy (DRAM traffic), and
a Python loop that allocates and frees (the allocator and caches). Wall and CPU seconds per epoch.
Run it under ``benchmarks/exclusive.sh``.

    benchmarks/exclusive.sh .venv/bin/python benchmarks/neighbour.py --run RUN.json --row digits_c1:3 [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import epoch_ways as ew

NEIGHBOURS = {
    "busy": "while True: pass",
    "copy": "import torch\na = torch.empty(1 << 25); b = torch.empty(1 << 25)\nwhile True: b.copy_(a)",
    "alloc": "while True:\n    x = [dict(a=i, b=str(i)) for i in range(20000)]\n    del x",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--row", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5, help="epochs per timing")
    args = ap.parse_args()
    import torch

    from hpbench.train.task import build_run

    torch.set_num_threads(1)
    run = json.loads(args.run.read_text(encoding="utf-8"))
    cfg = ew._config(run, args.row, 4)
    tr = build_run(cfg)
    os.sched_setaffinity(0, {0})
    for _ in range(3):
        tr.run_epoch()
    res: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in ("alone", *NEIGHBOURS)}

    def timed(key: str) -> None:
        for _ in range(args.epochs):
            w0, c0 = time.perf_counter(), time.thread_time()
            tr.run_epoch()
            res[key]["wall"].append(time.perf_counter() - w0)
            res[key]["cpu"].append(time.thread_time() - c0)

    for _ in range(args.rounds):
        timed("alone")
        for name, code in NEIGHBOURS.items():
            p = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{1}})\n{code}"])
            time.sleep(1.0 if name == "copy" else 0.3)  # torch import for the copy
            timed(name)
            p.kill()
            p.wait()
    print(f"{args.row}: per epoch, median (min) over {args.rounds} rounds x {args.epochs} epochs; load {os.getloadavg()[0]:.1f}")
    base = statistics.median(res["alone"]["cpu"])
    for k, v in res.items():
        print(f"  {k:6s} wall {1000 * statistics.median(v['wall']):8.3f} ms ({1000 * min(v['wall']):.3f})  "
              f"cpu {1000 * statistics.median(v['cpu']):8.3f} ms ({1000 * min(v['cpu']):.3f})  cpu/alone {statistics.median(v['cpu']) / base:.3f}")


if __name__ == "__main__":
    main()
