"""Why two identical trials side by side take longer than one alone (issue 13, max_concurrent = 2):
one configuration enqueued ``--copies`` times in a real ``hpbench search`` at ``--concurrent``,
while this process samples ``/proc`` every ``--every`` seconds for every process the search
started (Ray's daemons and workers, the helper, the driver): each thread's CPU seconds
(``/proc/<pid>/task/<tid>/stat`` utime + stime), its nice, the worker's ``OMP_NUM_THREADS`` and
thread count. Reported: each trial's start / end and epochs (their overlap), and the CPU seconds
each process (and its busiest threads, with their nice and policy) used while trials trained, the
seconds each waited runnable for a core (``/proc/<pid>/task/<tid>/schedstat``) and the machine's
idle seconds (``/proc/stat``), so what shares the cores with the pair, and how long the trials
waited for it, is read, not guessed.

    benchmarks/exclusive.sh .venv/bin/python benchmarks/pair_probe.py --config transformer [--concurrent 2] [--copies 4]

``--cfs`` measures the scheduler alone (no torch, no Ray): two busy processes at the trials' nice
15 on a 2-core machine and a busy thread beside them at nice 19, in SCHED_IDLE, or none; each
busy process's share of a core over ``--seconds`` (its CPU time / wall time, from
``/proc/<pid>/schedstat``). The search's pricing thread (``hpbench.cost.clock.below_trials``) is
that third thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_model import study_toml

TICK = os.sysconf("SC_CLK_TCK")
SEQ = {"dataset": "temporal_order", "options": {"seq_len": 57, "n_samples": 484}}  # seed 1673824814's sequence data
CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # compute-bound draws of the quiet run (seed 1673824814)
    "transformer": (SEQ, {"family": "transformer", "optimizer": "adagrad", "model.layers": 1, "model.heads": 2, "model.d_model": 84,
                          "model.ff_width": 27, "batch_size": 9}),
    "mlp": ({"dataset": "digits"}, {"family": "mlp", "optimizer": "rmsprop", "model.depth": 6, "model.width": 425, "batch_size": 64}),
    "lstm": (SEQ, {"family": "lstm", "optimizer": "adagrad", "model.hidden_size": 21, "model.layers": 3, "batch_size": 174}),
}


def descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def sample(pids: list[int]) -> dict[tuple[int, int], tuple[float, str, int, float, int]]:
    """(pid, tid) -> (CPU seconds, thread name, nice, seconds waited runnable for a CPU: schedstat's second
    field, scheduling policy: 0 normal, 5 SCHED_IDLE)."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                wait = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                continue
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            f = raw.rsplit(")", 1)[1].split()
            out[(pid, int(tid))] = ((int(f[11]) + int(f[12])) / TICK, name, int(f[16]), wait, int(f[38]))
    return out


def idle_s() -> float:
    """Seconds every CPU of the machine has been idle since boot (``/proc/stat``: idle + iowait)."""
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return (int(f[4]) + int(f[5])) / TICK


def describe(pid: int) -> dict[str, Any]:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        env = dict(x.split("=", 1) for x in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0") if "=" in x)
        return {"cmd": cmd, "omp": env.get("OMP_NUM_THREADS"), "mkl": env.get("MKL_NUM_THREADS"), "threads": len(os.listdir(f"/proc/{pid}/task"))}
    except OSError:
        return {}


def _spin_child(nice: int, idle: bool) -> None:
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    if idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    while True:
        pass


def cfs(seconds: float) -> list[str]:
    """Each of two nice-15 spinners' share of a core with a third spinner beside them at nice 19,
    in SCHED_IDLE, or none (``--cfs``)."""
    import multiprocessing as mp

    lines = ["| third thread | trial 1 share | trial 2 share | third's share |", "|---|---|---|---|"]
    for label, third in (("none", None), ("nice 19", (19, False)), ("nice 19 + SCHED_IDLE", (19, True))):
        procs = [mp.Process(target=_spin_child, args=(15, False), daemon=True) for _ in range(2)]
        if third:
            procs.append(mp.Process(target=_spin_child, args=third, daemon=True))
        for p in procs:
            p.start()
        time.sleep(0.5)
        before = [int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[0]) for p in procs]
        t0 = time.perf_counter()
        time.sleep(seconds)
        wall = time.perf_counter() - t0
        after = [int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[0]) for p in procs]
        for p in procs:
            p.kill()
            p.join()
        share = [(a - b) / 1e9 / wall for a, b in zip(after, before, strict=True)]
        lines.append(f"| {label} | {share[0]:.3f} | {share[1]:.3f} | {share[2] if third else 0.0:.3f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="transformer")
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--every", type=float, default=0.25)
    ap.add_argument("--recorded", type=Path, default=None, help="a cost_model*.json: run its --study's draws (each twice, in order) instead")
    ap.add_argument("--study", default="seq_c2")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    ap.add_argument("--cfs", action="store_true", help="the scheduler alone: two nice-15 spinners and a third at nice 19 / SCHED_IDLE")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if args.cfs:
        lines = [f"# pair_probe --cfs: two busy nice-15 processes and a third beside them ({os.cpu_count()} CPUs, {args.seconds} s each)", "",
                 f"load before {os.getloadavg()}", "", *cfs(args.seconds), "", f"load after {os.getloadavg()}"]
        print("\n".join(lines))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "pair_probe-cfs.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return
    data, cfg = CONFIGS[args.config]
    work = Path(tempfile.mkdtemp(prefix="pair_probe_"))
    study = work / "pair.toml"
    draws = [dict(cfg) for _ in range(args.copies)]
    if args.recorded:
        run = json.loads(args.recorded.read_text(encoding="utf-8"))
        data = run["sequence_data"] if args.study.startswith("seq") else {"dataset": "digits"}
        rows = sorted((r for r in run["rows"] if r["study"] == args.study), key=lambda r: r["trial"])
        draws = [{"family": r["family"], **{k: int(v) if isinstance(v, float) and v.is_integer() else (v if v == "full" or not str(v).isdigit() else int(v))
                                              for k, v in r["params"].items()}} for r in rows]
        args.epochs = run["epochs"]
    tag = f"{args.recorded.stem} {args.study}" if args.recorded else args.config
    study.write_text(study_toml(name="pair", data=data, draws=draws, epochs=args.epochs,
                                concurrent=args.concurrent, seed=1), encoding="utf-8")
    print(f"load {os.getloadavg()}", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "hpbench", "search", str(study), "--out", str(work / "out"), "--num-cpus", str(max(2, args.concurrent))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    timeline: list[tuple[float, dict[tuple[int, int], tuple[float, str, int, float, int]]]] = []
    info: dict[int, dict[str, Any]] = {}
    idle: list[tuple[float, float]] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            mine = set(descendants(proc.pid))
            pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]  # every process: the search's and whatever else shares the cores
            for pid in pids:
                if pid not in info:
                    info[pid] = describe(pid) | {"search": pid in mine}
                elif pid in mine:  # a fresh worker can be seen before it is the search's descendant
                    info[pid]["search"] = True
            timeline.append((time.time(), sample(pids)))
            idle.append((time.time(), idle_s()))
            stop.wait(args.every)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    err = proc.communicate()[1]
    stop.set()
    th.join()
    if proc.returncode:
        raise SystemExit(err[-3000:])
    import hpbench

    t = hpbench.load(work / "out")
    ep = hpbench.load(work / "out", "epochs")
    trials = [{"trial": int(r["trial"]), "id": str(r["trial_id"]), "family": str(r["family"]), "start": float(r["started_at"]), "end": float(r["ended_at"]),
               "train_s": float(r["train_s"]), "epochs_s": [round(float(x), 4) for x in ep[ep["trial"] == r["trial"]].sort_values("epoch")["epoch_s"]]}
              for _, r in t.iterrows()]
    ray = [x for x in trials if not x["id"].startswith("early_")] or trials  # the window: Ray's trials training (end - train_s .. end)
    lo, hi = min(x["end"] - x["train_s"] for x in ray), max(x["end"] for x in ray)
    inside = [(ts, s) for ts, s in timeline if lo <= ts <= hi]
    last: dict[tuple[int, int], tuple[float, str, int, float, int]] = {}
    lowest: dict[tuple[int, int], tuple[float, str, int, float, int]] = {}
    for _, s in inside:  # a thread's CPU seconds over the window: its last reading - its first (threads and processes come and go)
        for k, v in s.items():
            last[k] = v
            lowest.setdefault(k, v)
    used = {k: last[k][0] - lowest[k][0] for k in last}
    waited = {k: last[k][3] - lowest[k][3] for k in last}
    per_pid: dict[int, float] = {}
    wait_pid: dict[int, float] = {}
    for (pid, tid), v in used.items():
        per_pid[pid] = per_pid.get(pid, 0.0) + v
        wait_pid[pid] = wait_pid.get(pid, 0.0) + waited[(pid, tid)]
    wall = inside[-1][0] - inside[0][0]
    lines = [f"# pair_probe: {tag} x{len(draws)} at max_concurrent={args.concurrent}, {args.epochs} epochs", "",
             f"load {os.getloadavg()}; window {wall:.2f} s (first Ray trial's training to the last end); CPU seconds in it: {sum(used.values()):.2f} "
             f"(2 cores: {2 * wall:.2f} available)", "", "| trial | id | start s | end s | train_s | epochs s |", "|---|---|---|---|---|---|"]
    lines += [f"| {x['trial']} | {x['id']} {x['family']} | {x['start'] - lo:.2f} | {x['end'] - lo:.2f} | {x['train_s']:.3f} | {x['epochs_s']} |" for x in sorted(trials, key=lambda x: x["start"])]
    workers = [pid for pid in per_pid if info.get(pid, {}).get("search") and "ray::" in " ".join(last[k][1] for k in last if k[0] == pid)]
    w_cpu, w_wait = sum(per_pid[p] for p in workers), sum(wait_pid[p] for p in workers)
    idle_in = [v for ts, v in idle if lo <= ts <= hi]
    lines += ["", f"CPUs idle in the window: {idle_in[-1] - idle_in[0] if len(idle_in) > 1 else float('nan'):.2f} s (/proc/stat)"]
    lines += ["", f"Trial workers ({len(workers)}): CPU {w_cpu:.2f} s, waited for a core {w_wait:.2f} s, (CPU + waited) / CPU "
              f"{(w_cpu + w_wait) / w_cpu if w_cpu else float('nan'):.3f}; everything else of the search: CPU "
              f"{sum(v for p, v in per_pid.items() if info.get(p, {}).get('search') and p not in workers):.2f} s; outside the search "
              f"{sum(v for p, v in per_pid.items() if not info.get(p, {}).get('search')):.2f} s"]
    lines += ["", "Waited s: the process's threads' time runnable but not running (schedstat), over the window: a trial worker's (CPU + waited) / CPU is "
              "how much longer its work took for want of a core.", "",
              "| pid | search's | CPU s | waited s | nice | OMP | threads | command | busiest threads (name: s) |", "|---|---|---|---|---|---|---|---|---|"]
    for pid, v in sorted(per_pid.items(), key=lambda kv: -kv[1]):
        if v < 0.02:
            continue
        ths = sorted(((used[k], f"{last[k][1]} (nice {last[k][2]}{', idle' if last[k][4] == 5 else ''}, waited {waited[k]:.2f})") for k in used if k[0] == pid),
                     reverse=True)[:4]
        nice = next((last[k][2] for k in last if k[0] == pid), None)
        d = info.get(pid, {})
        lines.append(f"| {pid} | {d.get('search')} | {v:.2f} | {wait_pid.get(pid, 0.0):.2f} | {nice} | {d.get('omp')} | {sum(1 for k in last if k[0] == pid)} | {d.get('cmd', '')[:70]} | "
                     + ", ".join(f"{n}: {s:.2f}" for s, n in ths if s >= 0.01) + " |")
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"pair_probe-{tag.replace(' ', '-')}-c{args.concurrent}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
