"""The race (issue 20 §1): time to a good configuration, hpbench against what a user would pick
instead, on the same 2 cores and the same wall budget.

Problems (studies/race/*.toml; the data from benchmarks/race_peers/problems.py, the same split
arrays for every contestant): ``digits`` (the quickstart's space), ``tabular`` (a mixed space:
optimizer with conditional parameters, lr schedule, width/depth, dropout), ``signals`` (rnn /
lstm / gru / transformer in one space).

Contestants, each a fresh process, the clock starting just before it starts:

* ``hpbench``: ``python -m hpbench.cli search studies/race/<problem>.toml --num-cpus 2`` as a user
  runs it (the study leaves searcher and scheduler at hpbench's defaults), ``--set study.seed=S``;
* ``hpbench-tpe-cost``: the same with ``--set study.searcher=tpe-cost`` (§2);
* ``hpbench-asha-cost``: the same with ``--set study.scheduler=asha-cost`` (§2: rungs in predicted seconds);
* ``hpbench-asha``, ``hpbench-hyperband``, ``hpbench-asha-rank``: the same with that scheduler (the default judged against
  the other, interleaved);
* ``hpbench-grace3``: the same with ``--set study.grace_period=3`` (no rung before epoch 3);
* ``optuna``: benchmarks/race_peers/optuna_search.py (TPE + HyperbandPruner, n_jobs=2);
* ``ray-tune``: benchmarks/race_peers/ray_tune.py (OptunaSearch + ASHA, reuse_actors);
* ``random``: optuna_search.py --sampler random, no pruning (the floor).

At the budget each still-running contestant gets a Ctrl-C (SIGINT to its process group, as a
terminal sends it), then SIGKILL 30 s later; only what happened within the budget counts.
Logged per contestant: (seconds since process start, validation accuracy) for every epoch
report, and every trial's end with the test accuracy of the weights it keeps. hpbench's epochs
are read from its epochs table, each at its recorded report time (``reported_at``: when the
trainer reported it, after its validation, as a peer prints its epoch's line), and every epoch
reported within the budget counts, finished trial or not: a trial still running at the Ctrl-C is
written ``interrupted`` with its epochs so far, exactly as a peer's epochs count as soon as they
are reported. (Runs stored before session 7 placed a finished trial's epoch k at ``ended_at``
minus its later epochs' training seconds and did not count unfinished trials' epochs.) Not
counted: epochs a Tune trial had not yet sent to the driver at the Ctrl-C (it batches reports,
at most ``REPORT_EVERY_S`` = 1 s apart, hpbench.dispatch.trainable). hpbench's winner's test
accuracy: its ``test_accuracy`` column when hpbench wrote one, else its saved weights evaluated
here on the same test split.

Measured per problem: the anytime curve (best validation accuracy so far vs wall time; median
and min-max over seeds), the target = (the best median-over-seeds final validation accuracy of
any contestant) - 0.5 points, each contestant's median time to reach it (a run that never does
counts as infinite), the final best validation accuracy and the winners' test accuracy.

    PYTHONPATH=. flock /work/bench.lock python benchmarks/race.py --problems digits --seeds 5 --budget-s 30
    python benchmarks/race.py --render     # the summary, table and plots from every stored run

Each run is stored as results/benchmarks/race/runs/<problem>-<contestant>-<seed>.json (a later
run of the same triple replaces it), so a race can be split over several lock holds; the
summary (race.json, race.md, <problem>.png) is rebuilt from every stored run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: `benchmarks.race_peers` resolves from the repository root
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "results" / "benchmarks" / "race"
RUNS = OUT / "runs"
PROBLEMS = ("digits", "tabular", "signals")
HPBENCH = ("hpbench", "hpbench-tpe-cost", "hpbench-asha-cost", "hpbench-tpe-group", "hpbench-asha", "hpbench-hyperband", "hpbench-asha-rank", "hpbench-grace3", "hpbench-warm",
           "hpbench-no-early", "hpbench-no-default", "hpbench-siblings")
CONTESTANTS = (*HPBENCH, "optuna", "ray-tune", "random")
# hpbench's default command while the warm local Ray runtime is up (`hpbench ray start`: the search joins it, as a user
# keeps one warm between searches): started before the run's clock, settled for WARM_SETTLE_S, stopped after
WARM = ("hpbench-warm",)
WARM_SETTLE_S = 5.0
VARIANTS = {"hpbench-tpe-cost": ["--set", "study.searcher=tpe-cost"], "hpbench-asha-cost": ["--set", "study.scheduler=asha-cost"],
            "hpbench-tpe-group": ["--set", "study.searcher=tpe-group"],
            "hpbench-asha": ["--set", "study.scheduler=asha"], "hpbench-hyperband": ["--set", "study.scheduler=hyperband"],
            "hpbench-asha-rank": ["--set", "study.scheduler=asha-rank"],  # rungs checked against the finished trials (session 39)
            # no rung before epoch 3 (the race studies' early-stopping patience: 3, tabular's 4): signals' recurrent nets sit
            # at chance level for their first epochs, where ASHA's first rung pruned 5-9 of 7-13 Tune trials (session 20)
            "hpbench-grace3": ["--set", "study.grace_period=3"],
            "hpbench-no-early": ["--no-early-trials"],  # every trial through Tune: what the early trials change
            "hpbench-no-default": ["--set", "study.default_first=false"],  # no default configuration first (session 24's setting)
            "hpbench-siblings": ["--set", "study.fuse_siblings=4"]}  # the early trials' siblings fused, 4 at most (session 44: not the default)
TARGET_GAP = 0.005  # "within 0.5 points of the best value any contestant found"
LOOSER_GAPS = (0.01, 0.02)  # also shown: time to within 1 and 2 points (a validation split of 360 moves 0.28 points per sample)
TARGET_RATIO = 0.7  # hpbench's default: <= 0.7x the best other contestant's median time
GRACE_S = 30.0  # after the Ctrl-C at the budget, how long a contestant may take to exit


def command(contestant: str, problem: str, seed: int, budget_s: float, out: Path, settings: tuple[str, ...] = ()) -> list[str]:
    """``settings``: ``KEY=VALUE`` study overrides for hpbench's contestants (``--set``: settings judged
    by the race, their runs kept apart with ``--smoke DIR``)."""
    py = sys.executable
    if contestant in HPBENCH:
        cmd = [py, "-m", "hpbench.cli", "search", str(ROOT / "studies" / "race" / f"{problem}.toml"), "--out", str(out),
               # a runtime of the search's own, even while a warm one is up; the warm contestant joins the warm one (its CPUs)
               *([] if contestant in WARM else ["--address", "local"]), "--num-cpus", "2", "--set", f"study.seed={seed}"]
        return cmd + VARIANTS.get(contestant, []) + [a for kv in settings for a in ("--set", kv)]
    peers = ROOT / "benchmarks" / "race_peers"
    args = ["--problem", problem, "--seed", str(seed), "--budget-s", str(budget_s)]
    if contestant == "ray-tune":
        return [py, str(peers / "ray_tune.py"), *args]
    return [py, str(peers / "optuna_search.py"), *args, "--sampler", "random" if contestant == "random" else "tpe"]


def run_one(contestant: str, problem: str, seed: int, budget_s: float, keep: Path | None = None, settings: tuple[str, ...] = ()) -> dict[str, Any]:
    """One contestant on one problem with one seed, stopped at the budget; its record. ``keep``: a
    folder where hpbench's results folder and the logs are copied (for a time line)."""
    with tempfile.TemporaryDirectory(prefix="race-") as tmp:
        out = Path(tmp) / "out"
        log_out, log_err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if contestant in WARM:
            warm_ray(up=True)
        load_before = os.getloadavg()
        with log_out.open("w") as fo, log_err.open("w") as fe:
            t0 = time.time()
            proc = subprocess.Popen(command(contestant, problem, seed, budget_s, out, settings), cwd=ROOT, env=env, stdout=fo, stderr=fe,
                                    start_new_session=True)
            try:
                proc.wait(timeout=max(0.0, t0 + budget_s - time.time()))
                interrupted = False
            except subprocess.TimeoutExpired:
                interrupted = True
                _signal_group(proc, signal.SIGINT)
                try:
                    proc.wait(timeout=GRACE_S)
                except subprocess.TimeoutExpired:
                    _signal_group(proc, signal.SIGKILL)
                    proc.wait()
            exit_s = time.time() - t0
            _signal_group(proc, signal.SIGKILL)  # anything of the group left behind (Ray's processes)
        if contestant in WARM:
            warm_ray(up=False)
        record: dict[str, Any] = {"problem": problem, "contestant": contestant, "seed": seed, "budget_s": budget_s,
                                  "returncode": proc.returncode, "interrupted": interrupted, "exit_s": round(exit_s, 3),
                                  "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
                                  "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0))}
        if settings and contestant in HPBENCH:
            record["settings"] = list(settings)
        if contestant in HPBENCH:
            epochs, trials = hpbench_events(out, problem, t0)
        else:
            epochs, trials = peer_events(log_out, t0)
        epochs = sorted(e for e in epochs if e[0] <= budget_s)
        trials = [t for t in trials if t["t"] <= budget_s]
        record.update(curve=best_so_far(epochs), n_epochs=len(epochs), n_trials=len(trials), winner=winner(trials))
        if not epochs:
            record["stderr_tail"] = log_err.read_text(errors="replace")[-3000:]
        if keep is not None:
            import shutil

            dest = keep / f"{problem}-{contestant}-{seed}"
            shutil.rmtree(dest, ignore_errors=True)
            if out.is_dir():
                shutil.copytree(out, dest / "out", ignore=shutil.ignore_patterns("weights", "*.pt"))
            dest.mkdir(parents=True, exist_ok=True)
            for log in (log_out, log_err):
                shutil.copy(log, dest / log.name)
            (dest / "t0").write_text(f"{t0!r}\n")
        return record


def warm_ray(*, up: bool) -> None:
    """Start (and let settle) or stop the warm local Ray runtime of the race's 2 CPUs (``hpbench ray start | stop``),
    outside any run's clock."""
    cmd = [sys.executable, "-m", "hpbench.cli", "ray", *(["start", "--num-cpus", "2"] if up else ["stop"])]
    subprocess.run(cmd, check=up, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if up:
        time.sleep(WARM_SETTLE_S)


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def peer_events(log: Path, t0: float) -> tuple[list[tuple[float, float]], list[dict[str, Any]]]:
    epochs, trials = [], []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith('{"event"'):
            continue
        e = json.loads(line)
        if e["event"] == "epoch":
            epochs.append((e["t"] - t0, float(e["val"])))
        elif e["event"] == "trial":
            trials.append({"t": e["t"] - t0, "trial": e["trial"], "best_val": float(e["best_val"]), "test": float(e["test"])})
    return epochs, trials


def hpbench_events(out: Path, problem: str, t0: float) -> tuple[list[tuple[float, float]], list[dict[str, Any]]]:
    import pandas as pd

    if not (out / "trials.parquet").is_file() or not (out / "epochs.parquet").is_file():
        return [], []
    epochs, ended = table_events(pd.read_parquet(out / "trials.parquet"), pd.read_parquet(out / "epochs.parquet"), t0)
    for t in ended:
        if t["test"] is None:
            t["test"] = saved_weights_test(out, problem, t["trial"])
    return epochs, ended


def table_events(trials: Any, ep: Any, t0: float) -> tuple[list[tuple[float, float]], list[dict[str, Any]]]:
    """(seconds since ``t0``, validation accuracy) of every epoch in hpbench's epochs table, at its
    recorded report time (``reported_at``), whatever its trial's status (finished, or running /
    interrupted at the budget's Ctrl-C): as a peer's epoch counts when it prints it. Tables written
    before the column existed: a finished trial's epoch k at ``ended_at`` minus its later epochs'
    training seconds, other trials' epochs not counted. And the finished trials' ends (the winner's)."""
    import pandas as pd

    if "ended_at" in trials.columns:
        fin = trials[(trials["status"] == "finished") & trials["ended_at"].notna()]
    else:  # no trial ended yet
        fin = trials.iloc[0:0]
    epochs: list[tuple[float, float]] = []
    if "reported_at" in ep.columns:
        timed = ep[ep["reported_at"].notna() & ep["val_accuracy"].notna()]
        epochs = [(float(r) - t0, float(v)) for r, v in zip(timed["reported_at"], timed["val_accuracy"], strict=True)]
    else:
        for _, t in fin.iterrows():
            mine = ep[ep["trial_id"] == t["trial_id"]].sort_values("epoch")
            later = mine["epoch_s"].to_numpy()[::-1].cumsum()[::-1]  # training seconds of epoch k and after
            for (_, e), after in zip(mine.iterrows(), later, strict=True):
                epochs.append((float(t["ended_at"]) - t0 - (after - float(e["epoch_s"])), float(e["val_accuracy"])))
    ended: list[dict[str, Any]] = []
    for _, t in fin.iterrows():
        test = float(t["test_accuracy"]) if "test_accuracy" in t and pd.notna(t["test_accuracy"]) else None
        ended.append({"t": float(t["ended_at"]) - t0, "trial": int(t["trial"]), "best_val": float(t["best_val_accuracy"]), "test": test})
    return epochs, ended


def saved_weights_test(out: Path, problem: str, trial: int) -> float:
    """Test accuracy of a trial's saved weights (NaN when it saved none: hpbench keeps the
    weights of completed trials, not of pruned ones)."""
    path = out / "weights" / f"{trial}.pt"
    if not path.is_file():
        return float("nan")
    import torch

    from benchmarks.race_peers.problems import LOADERS
    from hpbench.results.weights import WeightsFileError
    from hpbench.train.weights import build_saved_model, load_record

    d = LOADERS[problem]()
    try:
        model = build_saved_model(load_record(path)).eval()
    except WeightsFileError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return float("nan")
    with torch.no_grad():
        pred = model(torch.as_tensor(d["x_test"])).argmax(dim=1).numpy()
    return float((pred == d["y_test"]).mean())


def best_so_far(epochs: list[tuple[float, float]]) -> list[list[float]]:
    """The anytime curve's change points [t, best validation accuracy so far]."""
    curve, best = [], -math.inf
    for t, v in epochs:
        if v > best:
            best = v
            curve.append([round(t, 3), v])
    return curve


def winner(trials: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ended trial with the best validation accuracy; its test accuracy (of the weights it
    keeps). When it has none (an hpbench trial pruned before saving weights), the best trial
    that has one stands in, flagged."""
    if not trials:
        return None
    best = max(trials, key=lambda t: t["best_val"])
    with_test = [t for t in trials if t["test"] is not None and not math.isnan(t["test"])]
    if best in with_test or not with_test:
        return {**best, "stand_in": False}
    return {**max(with_test, key=lambda t: t["best_val"]), "stand_in": True}


# ---- the summary ----------------------------------------------------------------------------

def value_at(curve: list[list[float]], t: float) -> float:
    v = math.nan
    for ct, cv in curve:
        if ct > t:
            break
        v = cv
    return v


def time_to(curve: list[list[float]], target: float) -> float:
    return next((ct for ct, cv in curve if cv >= target - 1e-9), math.inf)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    problems: dict[str, Any] = {}
    for problem in PROBLEMS:
        mine = [r for r in runs if r["problem"] == problem]
        if not mine:
            continue
        by: dict[str, list[dict[str, Any]]] = {}
        for r in mine:
            by.setdefault(r["contestant"], []).append(r)
        final = {c: statistics.median(r["curve"][-1][1] if r["curve"] else math.nan for r in rs) for c, rs in by.items()}
        best_c = max(final, key=lambda c: final[c] if not math.isnan(final[c]) else -1)
        target = final[best_c] - TARGET_GAP
        rows = {}
        for c in CONTESTANTS:
            if c not in by:
                continue
            rs = sorted(by[c], key=lambda r: r["seed"])
            times = [time_to(r["curve"], target) for r in rs]
            tests = [r["winner"]["test"] for r in rs if r["winner"] and r["winner"]["test"] is not None and not math.isnan(r["winner"]["test"])]
            finals = [r["curve"][-1][1] if r["curve"] else math.nan for r in rs]
            looser = {f"{100 * g:g}": statistics.median(time_to(r["curve"], final[best_c] - g) for r in rs) for g in LOOSER_GAPS}
            rows[c] = {"seeds": [r["seed"] for r in rs], "time_to_target_s": times, "median_time_to_target_s": statistics.median(times),
                       "median_time_within_points_s": looser,
                       "reached": sum(math.isfinite(t) for t in times), "final_best_val": finals, "median_final_best_val": statistics.median(finals),
                       "winner_test": tests, "median_winner_test": statistics.median(tests) if tests else math.nan,
                       "median_trials": statistics.median(r["n_trials"] for r in rs),
                       "load_1min": [r["load_before"][0] for r in rs]}
        others = {c: v for c, v in rows.items() if c not in HPBENCH}
        verdict: dict[str, Any] = {}
        if "hpbench" in rows and others:
            best_other = min(others, key=lambda c: (others[c]["median_time_to_target_s"], -others[c]["median_final_best_val"]))
            strongest_end = max(others, key=lambda c: others[c]["median_final_best_val"])
            h = rows["hpbench"]
            ratio = h["median_time_to_target_s"] / others[best_other]["median_time_to_target_s"] if math.isfinite(others[best_other]["median_time_to_target_s"]) else math.nan
            verdict = {"best_other": best_other, "time_ratio": ratio, "time_target_met": bool(math.isfinite(ratio) and ratio <= TARGET_RATIO)
                       or (math.isfinite(h["median_time_to_target_s"]) and not math.isfinite(others[best_other]["median_time_to_target_s"])),
                       "strongest_at_end": strongest_end,
                       "end_gap_points": 100 * (h["median_final_best_val"] - others[strongest_end]["median_final_best_val"]),
                       "end_target_met": h["median_final_best_val"] >= others[strongest_end]["median_final_best_val"]}
            for variant, key in (("hpbench-tpe-cost", "tpe_cost_vs_tpe"), ("hpbench-asha-cost", "asha_cost_vs_asha")):
                if variant in rows:
                    c = rows[variant]
                    verdict[key] = {"median_time_s": [c["median_time_to_target_s"], h["median_time_to_target_s"]],
                                    "median_final_best_val": [c["median_final_best_val"], h["median_final_best_val"]]}
        problems[problem] = {"target": target, "target_from": best_c, "budget_s": mine[0]["budget_s"], "contestants": rows, "verdict": verdict}
    return problems


def compare(runs: dict[str, list[dict[str, Any]]], targets: dict[str, float]) -> str:
    """hpbench's runs of each setting (``runs``: a label -> its runs; each of hpbench's contestants in them) side by side, per problem:
    the median over seeds of the time to ``targets[problem]`` and to within 1 and 2 points of it
    (+ ``TARGET_GAP``), how many reached it, the median final best validation accuracy, each seed's
    time. Settings are judged on other seeds than the race's (the stored race fixes the targets)."""
    lines = ["| problem (target) | setting | seeds | median time to target | reached | to within 1 / 2 points | final best val (median) | "
             "times to target by seed | trials (median) |", "|---|---|---|---|---|---|---|---|---|"]
    for problem, target in targets.items():
        for (label, c), rs in ((k, v) for k, v in _by_setting(runs).items()):
            mine = sorted((r for r in rs if r["problem"] == problem), key=lambda r: r["seed"])
            if not mine:
                continue
            label = f"{label} {c}"
            times = [time_to(r["curve"], target) for r in mine]
            within = [statistics.median(time_to(r["curve"], target + TARGET_GAP - g) for r in mine) for g in LOOSER_GAPS]
            final = statistics.median(r["curve"][-1][1] if r["curve"] else math.nan for r in mine)
            lines.append(f"| {problem} ({target:.4f}) | {label} | {mine[0]['seed']}-{mine[-1]['seed']} | {_s(statistics.median(times))} | "
                         f"{sum(math.isfinite(t) for t in times)}/{len(mine)} | {_s(within[0])} / {_s(within[1])} | {final:.4f} | "
                         f"{' '.join(_s(t) for t in times)} | {statistics.median(r['n_trials'] for r in mine):g} |")
    return "\n".join(lines)


def _by_setting(runs: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(label, contestant) -> its runs, hpbench's contestants only."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for label, rs in runs.items():
        for r in rs:
            if r["contestant"] in HPBENCH:
                out.setdefault((label, r["contestant"]), []).append(r)
    return out


def render(runs: list[dict[str, Any]]) -> None:
    summary = summarize(runs)
    report = {"benchmark": "race", "target_gap": TARGET_GAP, "target_ratio": TARGET_RATIO, "problems": summary,
              "runs": len(runs), "date": time.strftime("%Y-%m-%d %H:%M")}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "race.json").write_text(json.dumps(_finite(report), indent=1, allow_nan=False) + "\n")  # never / NaN: null
    (OUT / "race.md").write_text(markdown(summary))
    for problem in summary:
        plot(problem, [r for r in runs if r["problem"] == problem], summary[problem]["target"])
    print(markdown(summary))


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _json(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else str(x)


def _s(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:.1f} s"


def markdown(summary: dict[str, Any]) -> str:
    lines = ["| problem (budget) | contestant | median time to target | reached | to within 1 / 2 points | final best val (median) | "
             "winner's test (median) | trials (median) | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for problem, s in summary.items():
        for c, r in s["contestants"].items():
            loads = r["load_1min"]
            lines.append(f"| {problem} ({s['budget_s']:g} s, target {s['target']:.4f}) | {c} | {_s(r['median_time_to_target_s'])} | "
                         f"{r['reached']}/{len(r['seeds'])} | {' / '.join(_s(v) for v in r['median_time_within_points_s'].values())} | "
                         f"{r['median_final_best_val']:.4f} | {r['median_winner_test']:.4f} | "
                         f"{r['median_trials']:g} | {min(loads):.1f}-{max(loads):.1f} |")
    lines.append("")
    for problem, s in summary.items():
        v = s["verdict"]
        if v:
            r = v["time_ratio"]  # inf: hpbench's median run never reached the target; nan: the best other's never did
            never = "hpbench's median run never reached it" if math.isinf(r) else "the best other never reached it in the median"
            ratio = f"{r:.2f}" if math.isfinite(r) else f"n/a ({never})"
            lines.append(f"- {problem}: hpbench's default / best other ({v['best_other']}) median time to target = {ratio} "
                         f"(target <= {TARGET_RATIO}: {'met' if v['time_target_met'] else 'NOT met'}); at the end of the budget "
                         f"{v['end_gap_points']:+.2f} points vs the strongest other ({v['strongest_at_end']}): "
                         f"{'met' if v['end_target_met'] else 'NOT met'}")
    return "\n".join(lines) + "\n"


def plot(problem: str, runs: list[dict[str, Any]], target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    budget = max(r["budget_s"] for r in runs)
    grid = np.linspace(0, budget, 241)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for c in CONTESTANTS:
        rs = [r for r in runs if r["contestant"] == c]
        if not rs:
            continue
        ys = np.array([[value_at(r["curve"], t) for t in grid] for r in rs])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # before a run's first report its curve is all NaN
            med = np.nanmedian(np.where(np.isnan(ys), -np.inf, ys), axis=0)
            lo, hi = np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)
        med = np.where(np.isfinite(med), med, np.nan)
        (line,) = ax.plot(grid, med, label=f"{c} ({len(rs)} seeds)")
        ax.fill_between(grid, lo, hi, color=line.get_color(), alpha=0.15)
    ax.axhline(target, color="k", ls=":", lw=1, label=f"target {target:.4f}")
    finals = [r["curve"][-1][1] for r in runs if r["curve"]]
    if finals:
        ax.set_ylim(max(0.0, min(finals) - 0.1), min(1.0, max(finals) + 0.01))
    ax.set_xlabel("wall time since process start (s)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"race: {problem} (median over seeds, band: min-max)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(OUT / f"{problem}.png", dpi=110)
    plt.close(fig)


def stored_runs() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RUNS.glob("*.json"))] if RUNS.is_dir() else []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds per contestant (0..N-1 from --first-seed)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=30.0, help="wall budget per run, from process start")
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--contestants", default=",".join(CONTESTANTS))
    ap.add_argument("--render", action="store_true", help="only rebuild the summary from the stored runs")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR", help="copy each run's results folder and logs to DIR/<problem>-<contestant>-<seed>")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                    help="a study override for hpbench's contestants (repeatable; with --smoke DIR to keep a setting's runs apart)")
    ap.add_argument("--compare", type=Path, nargs="+", default=None, metavar="DIR",
                    help="only print hpbench's runs in each DIR (one per setting) side by side at the stored race's targets")
    ap.add_argument("--smoke", type=Path, default=None, metavar="DIR",
                    help="a trial run, not a measurement: runs go to DIR, the stored runs and the summary are left alone")
    args = ap.parse_args()
    problems, contestants = args.problems.split(","), args.contestants.split(",")
    for name, given, known in (("--problems", problems, PROBLEMS), ("--contestants", contestants, CONTESTANTS)):
        bad = [x for x in given if x not in known]
        if bad:
            ap.error(f"{name}: unknown {bad}; choose from {', '.join(known)}")
    if args.compare:
        targets = {p: v["target"] for p, v in summarize(stored_runs()).items()}
        runs = {str(d): [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] for d in args.compare}
        print(compare(runs, targets))
        return
    runs_dir = args.smoke or RUNS
    if not args.render:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for problem in problems:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for c in contestants:  # interleaved: a drift in the machine's load touches every contestant alike
                    r = run_one(c, problem, seed, args.budget_s, keep=args.keep, settings=tuple(args.settings))
                    (runs_dir / f"{problem}-{c}-{seed}.json").write_text(json.dumps(_finite(r), default=_json) + "\n")
                    w = r["winner"] or {}
                    print(f"{problem} seed {seed} {c}: best val {r['curve'][-1][1] if r['curve'] else float('nan'):.4f} after "
                          f"{r['n_trials']} trials, winner's test {w.get('test', float('nan'))}, exit at {r['exit_s']:.1f} s, "
                          f"load {r['load_before'][0]:.1f}", flush=True)
                    time.sleep(2.0)  # let the last run's processes go
    if args.smoke is None:
        render(stored_runs())


if __name__ == "__main__":
    main()
