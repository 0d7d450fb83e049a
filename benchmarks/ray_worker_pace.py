"""Why a trial in a Ray worker runs at another pace than the calibration (issue 13, cause a).

Times epochs of calibration-suite probes (:mod:`hpbench.cost.suite`: the trainer's epoch loop on
synthetic networks; none is a benchmark draw) in each of these places, one after the other:

* ``plain``: a plain process at ``torch.set_num_threads(1)`` (how the calibration ran until now);
* ``plain_omp1``: the same with ``OMP_NUM_THREADS=1`` set before torch loads (as Ray sets it);
* ``task``: a ``ray.remote(num_cpus=1)`` task (Ray's worker: OMP_NUM_THREADS=1, nice +15);
* ``tune``: a one-trial Ray Tune run of a function trainable (the trainable's thread, Tune's driver loop);
* ``tune_nice0``: the same with ``RAY_worker_niceness=0``.

Per probe: the fastest of 3 measurements (each the fastest steady epoch of 3, after one warm-up
epoch). Reports each place's epochs and their ratio to ``plain_omp1`` (geometric mean over the
probes). Run it under ``benchmarks/exclusive.sh``; one run takes about 3 minutes.

    .venv/bin/python benchmarks/ray_worker_pace.py [--modes plain plain_omp1 task tune] [--out results/benchmarks]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROBES = (0, 2, 4, 8, 11, 13, 17, 19, 21)  # indices into hpbench.cost.suite.PROBES: MLPs, CNNs, GRU, LSTM, attention
MODES = ("plain", "plain_omp1", "task", "tune", "tune_nice0")
REFERENCE = "plain_omp1"


def run_probes() -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from hpbench.cost.suite import PROBES as ALL
    from hpbench.cost.suite import measure_probe_first

    times = {str(i): min(measure_probe_first(ALL[i], device="cpu")[0] for _ in range(3)) for i in PROBES}
    return {"nice": os.nice(0), "threads": torch.get_num_threads(), "omp": os.environ.get("OMP_NUM_THREADS"), "times": times}


def child(mode: str) -> None:
    if mode.startswith("plain"):
        res = run_probes()
    else:
        import ray

        if mode.endswith("nice0"):
            os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray spells it so)
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
        if mode == "task":
            res = ray.get(ray.remote(num_cpus=1)(run_probes).remote())
        else:
            from ray import tune

            def trainable(config: dict[str, Any]) -> None:
                tune.report({"res": json.dumps(run_probes())})

            tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 1}), param_space={}, tune_config=tune.TuneConfig(num_samples=1))
            res = json.loads(tuner.fit()[0].metrics["res"])
    print("RESULT " + json.dumps(res), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", default=list(MODES[:4]), choices=MODES)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    out: dict[str, Any] = {"probes": list(PROBES), "modes": {}, "load_average": []}
    for mode in args.modes:
        env = {**os.environ, **({"OMP_NUM_THREADS": "1"} if mode == "plain_omp1" else {})}
        if mode == "plain":
            env.pop("OMP_NUM_THREADS", None)
        out["load_average"].append(os.getloadavg()[0])
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, __file__, "--child", mode], env=env, capture_output=True, text=True)
        line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
        if r.returncode != 0 or not line:
            raise SystemExit(f"{mode} failed ({r.returncode}): {r.stderr[-2000:]}")
        out["modes"][mode] = json.loads(line[-1][len("RESULT "):])
        print(f"{mode}: {time.perf_counter() - t0:.0f} s, {out['modes'][mode]}", flush=True)
    out["load_average"].append(os.getloadavg()[0])
    ref = out["modes"].get(REFERENCE) or next(iter(out["modes"].values()))
    md = ["# Where a trial runs: epochs of the calibration suite's probes (ms)", "",
          f"Fastest of 3 per probe; load average {min(out['load_average']):.1f}-{max(out['load_average']):.1f} on {os.cpu_count()} CPUs; "
          f"ratio: geometric mean over the probes against {REFERENCE if REFERENCE in out['modes'] else 'the first place'}.", "",
          "| place | nice | OMP_NUM_THREADS | " + " | ".join(f"probe {i}" for i in PROBES) + " | ratio |",
          "|---|---|---|" + "---|" * len(PROBES) + "---|"]
    for mode, res in out["modes"].items():
        ratio = math.exp(sum(math.log(res["times"][str(i)] / ref["times"][str(i)]) for i in PROBES) / len(PROBES))
        res["ratio"] = ratio
        md.append(f"| {mode} | {res['nice']} | {res['omp']} | " + " | ".join(f"{1000 * res['times'][str(i)]:.1f}" for i in PROBES)
                  + f" | {ratio:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray_worker_pace.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    (args.out / "ray_worker_pace.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
