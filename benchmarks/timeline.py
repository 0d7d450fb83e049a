"""One race run of hpbench (benchmarks/race.py's command, its Ctrl-C at the budget) with a time line:
the driver's phases (benchmarks/startup.py's marks), every call the helper process ran (its name,
when it began and ended, its CPU seconds) and every trial from the tables (early trials in the
helper, Tune's in their workers), then how busy Tune's two slots were over the budget, and the CPU
seconds each kind of process used per 2-s window (benchmarks/cpu_poll.py), in all and before Tune's
first result.

    benchmarks/exclusive.sh .venv/bin/python benchmarks/timeline.py --problem digits --seed 0 --out DIR

Written: DIR/<problem>-hpbench-<seed>/ (race.py's ``--keep`` folder) with ``marks.json``,
``helper.jsonl``, ``cpu.json`` and ``timeline.txt``; the run's race record in DIR/<problem>-hpbench-<seed>.json.
A diagnostic: the wrappers add a pickle round per helper call (microseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACE_ENV = "HPBENCH_TIMELINE_HELPER"  # the file the helper's calls are logged to (one JSON line each)


def traced(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """In the helper: ``fn(*args, **kwargs)``, its begin, end and CPU logged."""
    began, cpu = time.time(), time.process_time()
    try:
        return fn(*args, **kwargs)
    finally:
        path = os.environ.get(TRACE_ENV)
        if path:
            with open(path, "a") as f:
                name = getattr(fn, "__name__", repr(fn))
                detail = args[1] if name in ("predict_columns", "run_early_trial") and len(args) > 1 else None
                f.write(json.dumps({"fn": name, "began": began, "ended": time.time(), "cpu_s": time.process_time() - cpu,
                                    "params": detail}, default=str) + "\n")


def child(t0: float, marks_file: str, argv: list[str]) -> None:
    """The search command with startup.py's phase marks, every helper call wrapped in :func:`traced`."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import startup
    from benchmarks.timeline import traced as wrapped  # not __main__'s: the helper unpickles it by its module's name
    from hpbench.dispatch import helper

    submit = helper.HelperProcess.submit

    def traced_submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return submit(self, wrapped, fn, *args, **kwargs)

    helper.HelperProcess.submit = traced_submit  # type: ignore[method-assign]
    startup.child(t0, marks_file, argv)


def run(problem: str, seed: int, budget_s: float, out: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from benchmarks import race

    keep = out / f"{problem}-hpbench-{seed}"
    side = out / f".{keep.name}"  # race.py replaces the kept folder at the run's end: the marks wait beside it
    side.mkdir(parents=True, exist_ok=True)
    marks, trace = side / "marks.json", side / "helper.jsonl"
    for f in (marks, trace):
        f.unlink(missing_ok=True)
    os.environ[TRACE_ENV] = str(trace)
    plain = race.command

    def command(*args: Any, **kwargs: Any) -> list[str]:
        cmd = plain(*args, **kwargs)
        i = cmd.index("-m")
        return [cmd[0], __file__, "--child", repr(time.time()), str(marks), *cmd[i + 2:]]

    race.command = command  # the clock's t0 is race.py's (just before Popen); the child's own is ~ms before
    from benchmarks.cpu_poll import CpuPoll

    poll = CpuPoll(t0=time.time()).start()
    record = race.run_one("hpbench", problem, seed, budget_s, keep=out)
    cpu = poll.stop()
    for f in (marks, trace):
        if f.exists():
            f.replace(keep / f.name)
    side.rmdir()
    (keep / "cpu.json").write_text(json.dumps(cpu, indent=1) + "\n")
    (out / f"{problem}-hpbench-{seed}.json").write_text(json.dumps(record, indent=1) + "\n")
    text = render(keep, budget_s)
    (keep / "timeline.txt").write_text(text + "\n")
    print(text)
    return record


def render(keep: Path, budget_s: float) -> str:
    import pandas as pd

    t0 = float((keep / "t0").read_text())
    lines = []
    marks = json.loads((keep / "marks.json").read_text()) if (keep / "marks.json").exists() else {}
    lines.append("driver: " + "  ".join(f"{k} {v:.2f}" for k, v in marks.items()))
    lines.append("helper calls (s from process start: began-ended, cpu):")
    calls = [json.loads(x) for x in (keep / "helper.jsonl").read_text().splitlines()] if (keep / "helper.jsonl").exists() else []
    for c in sorted(calls, key=lambda c: c["began"]):
        lines.append(f"  {c['began'] - t0:6.2f}-{c['ended'] - t0:6.2f}  cpu {c['cpu_s']:5.2f}  {c['fn']}")
    trials = pd.read_parquet(keep / "out" / "trials.parquet")
    ep = pd.read_parquet(keep / "out" / "epochs.parquet")
    lines.append("trials (started-ended, epochs, first epoch's report, status):")
    tune: list[tuple[float, float]] = []
    for _, t in trials.sort_values("started_at").iterrows():
        mine = ep[ep["trial_id"] == t["trial_id"]]
        first = float(mine["reported_at"].min()) - t0 if len(mine) else float("nan")
        s = float(t["started_at"]) - t0
        e = (float(t["ended_at"]) - t0) if pd.notna(t.get("ended_at")) else budget_s
        lines.append(f"  {s:6.2f}-{e:6.2f}  {len(mine):3d} ep  first {first:6.2f}  {t['status']:<11} {t['trial_id']}")
        if not str(t["trial_id"]).startswith("early_"):
            tune.append((s, min(e, budget_s)))
    if tune:
        start = min(s for s, _ in tune)
        lines.append(f"Tune's slots from its first trial's start ({start:.2f} s) to {budget_s:.0f} s: " + busy(tune, start, budget_s))
    if (keep / "cpu.json").exists():
        from benchmarks.cpu_poll import table

        lines += table(json.loads((keep / "cpu.json").read_text()), until=marks.get("first_result"))
    return "\n".join(lines)


def busy(intervals: list[tuple[float, float]], start: float, end: float, step: float = 0.01) -> str:
    """The share of [start, end] with 0, 1 and 2+ of ``intervals`` running."""
    counts = [0, 0, 0]
    t = start
    while t < end:
        n = sum(1 for s, e in intervals if s <= t < e)
        counts[min(n, 2)] += 1
        t += step
    total = sum(counts) or 1
    return f"0 running {counts[0] / total:.0%}, 1 {counts[1] / total:.0%}, 2 {counts[2] / total:.0%}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
        return
    sys.path.insert(0, str(ROOT))  # benchmarks.* (the CPU table) when rendering kept runs
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="digits")
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--budget-s", type=float, default=30.0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--render", action="store_true", help="only print the time lines of the kept runs in --out")
    args = ap.parse_args()
    if args.render:
        for keep in sorted(p for p in args.out.iterdir() if p.is_dir()):
            print(keep.name, render(keep, args.budget_s), sep="\n")
        return
    for seed in args.seed or [0]:
        rec = run(args.problem, seed, args.budget_s, args.out)
        print(f"{args.problem} seed {seed}: {rec['n_trials']} trials, {rec['n_epochs']} epochs, first {rec['curve'][:1]}, "
              f"best {rec['curve'][-1:]}, load {rec['load_before']}", flush=True)


if __name__ == "__main__":
    main()
