"""Where the time of ``hpbench search studies/quickstart.toml`` goes: one timestamp per phase.

Each run is a fresh ``python -m hpbench search studies/quickstart.toml`` process (a fresh results
directory) whose phases are timed from inside: this script re-runs itself as the child with
``--child``, wraps the functions that mark each phase (in the child only: hpbench itself carries
no timing hooks) and then runs the command as the installed ``hpbench`` runs it. Seconds are
counted from the parent's ``Popen`` (the interpreter's own start-up is the first phase).

Phases (each one's end, from process start): ``python`` (the interpreter is up), ``imports``
(the CLI and the search command's modules), ``validation`` (the study file read and checked),
``plan`` (the results directory and the earlier run checked), ``preflight`` (data loaded and
every distinct network tried; ends when the driver takes the results lock), ``ray_init``,
``tuner`` (searcher, scheduler and Tuner built), ``first_worker`` (the first trial's function
starts in its worker: the first result's arrival less its ``time_total_s``), ``first_result``,
``target`` (the first epoch of val_accuracy >= the target, placed from the tables as
benchmarks/race.py places it), ``fit`` (the last trial ended),
``search`` (tables written, test split evaluated), ``exit`` (the process ended: the leaderboard
printed, Ray shut down).

Also ``python -X importtime -c "import hpbench.cli"``'s heaviest imports. Printed, and written to
results/benchmarks/startup.json. ``--pair`` alternates runs with ``--no-early-trials`` (entry
``before``: every trial through Ray Tune, as before the early trials) and without (``after``), so
that both see the same load. Run it under the bench lock:
``flock /work/bench.lock python benchmarks/startup.py --pair --runs 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
STUDY = ROOT / "studies" / "quickstart.toml"
TARGET = 0.96  # val_accuracy: the target on the quickstart space
PHASES = ["python", "imports", "validation", "plan", "preflight", "ray_init", "tuner", "first_worker", "first_result", "target",
          "fit", "search", "exit"]


# -- the child: the real command, with its phases stamped ----------------------------------------
def child(t0: float, marks_file: str, argv: list[str]) -> None:
    marks: dict[str, float] = {"python": time.time() - t0}

    def mark(name: str, value: float | None = None) -> None:
        if name not in marks:
            marks[name] = (time.time() if value is None else value) - t0
            with open(marks_file, "w") as f:
                json.dump(marks, f)

    def wrap(module: Any, name: str, *, before: str | None = None, after: str | None = None, result: Any = None) -> None:
        fn = getattr(module, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            out = fn(*args, **kwargs)
            if after:
                mark(after)
            return result(out) if result is not None else out

        setattr(module, name, wrapped)

    from hpbench.api import study as api_study
    from hpbench.cli import app
    from hpbench.dispatch import runner, search_phase

    mark("imports")
    study_cls = api_study.Study
    original_from_toml = study_cls.from_toml.__func__  # type: ignore[attr-defined]

    def from_toml(cls: Any, *args: Any, **kwargs: Any) -> Any:
        out = original_from_toml(cls, *args, **kwargs)
        mark("validation")
        return out

    study_cls.from_toml = classmethod(from_toml)  # type: ignore[method-assign, assignment]
    wrap(runner, "plan_search", after="plan")  # planned by run_search, under the results folder's lock
    wrap(runner, "write_study_record", before="preflight")
    wrap(search_phase, "init_ray", after="ray_init")

    def on_tuner(tuner: Any) -> Any:
        mark("tuner")
        fit = tuner.fit

        def timed_fit() -> Any:
            out = fit()
            mark("fit")
            return out

        tuner.fit = timed_fit
        return tuner

    wrap(search_phase, "search_tuner", result=on_tuner)

    def on_recorder(rec: Any) -> Any:
        on_result = rec.on_trial_result

        def timed(iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> Any:
            now = time.time()
            if "first_result" not in marks and "time_total_s" in result:
                mark("first_worker", now - float(result["time_total_s"]))
            mark("first_result")
            return on_result(iteration, trials, trial, result, **info)

        rec.on_trial_result = timed
        return rec

    wrap(search_phase, "_recorder", result=on_recorder)
    wrap(runner, "run_search", after="search")
    sys.argv = ["hpbench", *argv]
    try:
        app(prog_name="hpbench")
    except SystemExit as done:
        if done.code not in (0, None):
            raise


# -- the parent ------------------------------------------------------------------------------------
def one_run(workdir: Path, extra: list[str], study: Path = STUDY) -> dict[str, float]:
    marks_file = workdir / "marks.json"
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.time()
    proc = subprocess.run([sys.executable, __file__, "--child", repr(t0), str(marks_file), "search", str(study), "--out", str(out), *extra],
                          capture_output=True, text=True, env=env, check=False)
    end = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"search failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    marks = json.loads(marks_file.read_text())
    marks["exit"] = end
    import hpbench

    trials = hpbench.load(out)
    if "val_accuracy" in trials:
        marks["best_val_accuracy"] = float(trials["val_accuracy"].max())
    reached = target_time(trials, hpbench.load(out, table="epochs"), t0)
    if reached is not None:
        marks["target"] = reached
    return marks


def target_time(trials: Any, epochs: Any, t0: float) -> float | None:
    """When an epoch first reached the target, from the tables, as benchmarks/race.py places
    epochs: a finished trial's epoch k ended at its ``ended_at`` minus the training seconds of
    the epochs after k."""
    times = []
    for _, t in trials[(trials["status"] == "finished") & trials["ended_at"].notna()].iterrows():
        mine = epochs[epochs["trial"] == t["trial"]].sort_values("epoch")
        after = mine["epoch_s"].to_numpy()[::-1].cumsum()[::-1] - mine["epoch_s"].to_numpy()
        for (_, e), later in zip(mine.iterrows(), after, strict=True):
            if float(e.get("val_accuracy", float("nan"))) >= TARGET:
                times.append(float(t["ended_at"]) - t0 - float(later))
                break
    return min(times) if times else None


def import_times(n: int = 15) -> list[tuple[str, float]]:
    """The heaviest imports (cumulative seconds) of ``import hpbench.cli`` in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hpbench.cli"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((parts[2].rstrip(), int(parts[1]) / 1e6))
    top = sorted((r for r in rows if not r[0].startswith("    ")), key=lambda r: -r[1])  # top-level and first-level imports
    return [(name.strip(), round(s, 3)) for name, s in top[:n]]


def summary(runs: list[dict[str, float]], *, note: str, extra: list[str], load: list[float]) -> dict[str, Any]:
    median = {k: round(statistics.median(r[k] for r in runs if k in r), 2) for k in PHASES if any(k in r for r in runs)}
    return {
        "what": "hpbench search studies/quickstart.toml in a fresh process: seconds from process start to the end of each phase "
                f"(median of {len(runs)} runs; 'target' = the first epoch with val_accuracy >= {TARGET}, placed from the tables)",
        "note": note, "extra_options": extra, "runs": runs, "median": median,
        "loadavg_before": load, "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def render(report: dict[str, Any]) -> str:
    """The README's table: each phase's median end (s from process start) before and after."""
    labels = [k for k in ("before", "after") if k in report]
    lines = ["| phase (end, s from process start) | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for phase in PHASES:
        cells = [f"{report[k]['median'][phase]:.2f}" if phase in report[k]["median"] else "-" for k in labels]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--render":
        print(render(json.loads((OUT / "startup.json").read_text())))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(float(sys.argv[2]), sys.argv[3], sys.argv[4:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default="after", help="the entry of startup.json this run writes")
    ap.add_argument("--pair", action="store_true", help="alternate runs with --no-early-trials (entry 'before') and without ('after')")
    ap.add_argument("--suffix", default="", help="appended to the entries' labels (e.g. -seed1: keeps the default entries)")
    ap.add_argument("--note", default="", help="what the code measured was (kept in the report)")
    ap.add_argument("--study", type=Path, default=STUDY, help="the study searched (default: the quickstart; then --suffix to keep the default entries)")
    ap.add_argument("extra", nargs="*", help="more options for hpbench search (after --)")
    args = ap.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    variants = ({"before" + args.suffix: [*args.extra, "--no-early-trials"], "after" + args.suffix: list(args.extra)} if args.pair
                else {args.label + args.suffix: list(args.extra)})
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory(prefix="hpbench-startup-") as tmp:
        for i in range(args.runs):
            for label, extra in variants.items():
                marks = one_run(Path(tmp), extra, args.study)
                marks["loadavg_1min"] = round(os.getloadavg()[0], 2)
                runs[label].append(marks)
                print(f"{label} run {i + 1}: " + "  ".join(f"{k} {marks[k]:.2f}" for k in PHASES if k in marks)
                      + f"  best {marks.get('best_val_accuracy', float('nan')):.4f}  load {marks['loadavg_1min']}", flush=True)
    report_file = OUT / "startup.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    for label, extra in variants.items():
        report[label] = summary(runs[label], note=args.note, extra=extra, load=load)
        print(f"{label} median (s from process start): " + "  ".join(f"{k} {v}" for k, v in report[label]["median"].items()))
    report["imports"] = import_times()
    print("heaviest imports of `import hpbench.cli` (cumulative s): " + ", ".join(f"{n} {s}" for n, s in report["imports"][:8]))
    OUT.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {report_file}")


if __name__ == "__main__":
    main()
