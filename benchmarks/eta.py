"""The ETA a user reads vs the wall clock they wait.

For each study: ``hpbench estimate STUDY --json`` (the predicted wall time of the whole search
command, with its interval), then ``hpbench search STUDY`` in a fresh process, timed from just
before the process is spawned to its exit. The live ETA at 25% progress is the one the search
showed when a quarter of its search trials had ended (the trace each search leaves in this
machine's history, ``~/.cache/hpbench/devices/<host>-searches.json``), compared with the time
that was actually left. Printed, and written to ``results/benchmarks/eta.json``.

    python benchmarks/eta.py [--only quickstart,eta-tiny] [--skip-claims] [--merge] [--render]
    python benchmarks/eta.py --unseen | --study STUDY.toml [--study ...]

``--unseen`` runs the held-out studies of ``benchmarks/eta_unseen/`` instead (six of every kind
of data and scheduler and a seventh on a 200,000-row CSV file it writes first, written in
session 20 after the ETA's model and priors were set; an eighth of minutes, ``long.toml``, written
in session 21 after its learning-rate change; none used to tune them, so that their errors say
how the ETA holds on work nobody tuned it for); ``--study`` runs
a user's own study files; ``--unseen benchmarks/eta_fresh`` a second held-out set, written in session 27 after
every change to the ETA before it (a transformer, iris with four optimizers and the median rule, a
30,000-row regression, recurrent nets with Hyperband, digits CNNs with repeats, a wine grid). ``--no-history`` prices and runs every study as the first search of a
machine (its history and kept prices moved aside for each study and put back after);
``--new-study`` as the first search of its study on this machine as it is (the study's own records
set aside for it, the other studies' kept: how a user's next study meets hpbench).

``--merge`` keeps the rows of the report already written for the studies not run now (a long run
split into parts, each under ``flock /work/bench.lock``); ``--render`` prints the README's table
from the report and runs nothing.

Studies: the quickstart, the claims studies (``studies/claims/``, run in their dependency order
inside a scratch folder, so the transfer and distillation studies find the weights their first
step saved; the GAN claim last, reported and skipped if it fails), ``studies/schedules.toml``
(32 trials, no pruning), ``studies/signals.toml`` and ``studies/digits_cnn.toml`` (minutes) and
two written here: a tiny one (no pruning, a few seconds of training) and one with repeats and a
test split. The estimate
reads the history the earlier searches left; each row says how many records it had and whether
the same study was among them.

Targets (issue 18): every study within 25% (median within 15%); the live ETA at 25% within 20%.
The machine is shared: the load average before and after each run is recorded next to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
CLAIMS = ("optimizers", "init", "early_stopping", "batch_size", "recurrent", "transfer_pretrain", "transfer_finetune",
          "transfer_scratch", "distill_teacher", "distill_student", "gan_stability")

TINY = """
[study]
name = "eta-tiny"
seed = 1
metric = "val_accuracy"
trials = 4
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 1
width = 32

[train]
max_epochs = 5
batch_size = 64

[space]
lr = { loguniform = [1e-3, 1e-1] }
"""

REPEATS = """
[study]
name = "eta-repeats"
seed = 2
metric = "val_accuracy"
trials = 12
searcher = "tpe"
scheduler = "asha"
max_concurrent = 2
repeats = 2
repeats_top = 2

[data]
dataset = "digits"
preprocess = ["standardize"]
test_fraction = 0.2

[model]
family = "mlp"

[train]
max_epochs = 20
early_stopping = { monitor = "val_loss", patience = 2 }

[space]
optimizer = { choice = ["sgd", "adam", "rmsprop"] }
lr = { loguniform = [1e-3, 1e-1] }
batch_size = { choice = [32, 128] }
"model.width" = { choice = [32, 128] }
"""


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def _history() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from hpbench.cost import history

    return history.load(history.default_cache_dir())


@contextlib.contextmanager
def no_history() -> Iterator[None]:
    """This machine as one where no search ran yet: its search history and kept prices moved aside
    (the device model kept: a machine calibrates it on its first estimate, before any search) and put
    back after, with what the run wrote in their place dropped."""
    sys.path.insert(0, str(ROOT))
    from hpbench.cost import history, priced, prices

    cache = history.default_cache_dir()
    files = [history.history_file(cache), prices.cache_file(cache), priced.cache_file(cache)]
    with tempfile.TemporaryDirectory(prefix="hpbench-eta-history-") as aside:
        kept = [(f, Path(aside) / f.name) for f in files if f.exists()]
        for f, to in kept:
            shutil.move(f, to)
        try:
            yield
        finally:
            for f in files:
                f.unlink(missing_ok=True)
            for f, to in kept:
                shutil.move(to, f)


@contextlib.contextmanager
def new_study(name: str) -> Iterator[None]:
    """This machine as it is, but with no search of study ``name`` yet (how a user's next study
    meets hpbench): the history's records of that study set aside for the run, and the history put
    back as it was after (what the run wrote dropped)."""
    sys.path.insert(0, str(ROOT))
    from hpbench.cost import history

    path = history.history_file(history.default_cache_dir())
    if not path.exists():
        yield
        return
    kept = path.read_bytes()
    doc = json.loads(kept)
    doc["searches"] = [r for r in doc.get("searches", []) if r.get("study") != name]
    path.write_text(json.dumps(doc))
    try:
        yield
    finally:
        path.write_bytes(kept)


def measure(name: str, study: Path, work: Path) -> dict[str, Any]:
    before = _history()
    seen = sum(1 for r in before if r.get("study") == name)
    est = subprocess.run([sys.executable, "-m", "hpbench", "estimate", str(study), "--json"], cwd=work, env=_env(),
                         capture_output=True, text=True, check=False)
    if est.returncode != 0:
        raise RuntimeError(f"estimate {name} failed:\n{est.stdout[-2000:]}\n{est.stderr[-2000:]}")
    summary = json.loads(est.stdout)["summary"]
    wall = summary["wall_time"]
    out = work / "results" / "claims" / name if name in CLAIMS else work / "results" / name
    load_before = _load()
    t0 = time.time()
    run = subprocess.run([sys.executable, "-m", "hpbench", "search", str(study), "--out", str(out)], cwd=work, env=_env(),
                         capture_output=True, text=True, check=False)
    measured = time.time() - t0
    if run.returncode != 0:
        raise RuntimeError(f"search {name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
    record = next((r for r in reversed(_history()) if r.get("out") == str(out.resolve())), {})
    row: dict[str, Any] = {
        "study": name, "predicted_s": wall["total_s"], "low_s": wall["low_s"], "high_s": wall["high_s"], "measured_s": measured,
        "error": (wall["total_s"] - measured) / measured, "inside_interval": wall["low_s"] <= measured <= wall["high_s"],
        "parts": wall["parts"], "contention_predicted": wall["contention"], "contention_measured": record.get("contention"),
        "history_records": len(before), "study_seen_before": seen, "load_before": load_before, "load_after": _load(),
        "n_trials": record.get("n_trials"), "measured_parts": {k: record.get(k) for k in (
            "ray_s", "startup_s", "search_s", "tail_s", "repeats_s", "devices_s", "test_s", "report_s", "exit_s", "total_s")},
    }
    if wall.get("model_span_s") is not None:  # moved toward the study's own runs (hpbench.cost.own_runs): the model's own price beside it
        row["model_predicted_s"] = wall["total_s"] + wall["model_span_s"] * (1.0 - wall["span_scale"])
        row["model_error"] = (row["model_predicted_s"] - measured) / measured
        row["span_scale"] = wall["span_scale"]
    if record.get("test_cold_s") is not None:  # the test split as the driver's first use of torch: filed under its own name
        row["measured_parts"]["test_s"] = record["test_cold_s"]
    trace = [p for p in record.get("eta", []) if p[1] == 0]
    # the trace counts every search trial ended, the early ones (trained while Ray starts) included:
    # so does 25% (of the search's trials, as the progress bar shows them; Tune's only before)
    n = record.get("n_search") or record.get("n_trials") or 0
    first = next((p for p in trace if p[2] >= math.ceil(0.25 * n)), None) if n else None
    # the ETA shown while that many trials had ended: the last priced at that count (since session 27 a burst of ends,
    # the early trials taken in at once, is priced again once the ETA's cost allows: hpbench.dispatch.eta.SearchClock.catch_up);
    # the first one, priced when the burst began, beside it (what sessions 17-26 reported)
    at = [p for p in trace if first is not None and p[2] == first[2]][-1] if first is not None else None
    if at is not None and first is not None:
        elapsed, eta = at[0], at[3]
        started = float(record.get("started_at", t0))
        left = measured - (elapsed + started - t0)
        row.update(eta25_done=at[2], eta25_of=n, eta25_elapsed_s=elapsed, eta25_s=eta, eta25_actual_s=left, eta25_error=(eta - left) / left if left > 0 else None)
        if first is not at:
            left_first = measured - (first[0] + started - t0)
            row.update(eta25_first_s=first[3], eta25_first_error=(first[3] - left_first) / left_first if left_first > 0 else None)
        if len(at) >= 8 and isinstance(record.get("startup_s"), (int, float)) and isinstance(record.get("search_s"), (int, float)):
            # what the ETA was made of (the trials left, the after-search parts, the trials'
            # slowness and the trials it was corrected from) vs what followed: the search's last
            # trial ended at start-up + search (Tune's trials; the early ones end before)
            trials_left = record["startup_s"] + record["search_s"] - elapsed
            row.update(eta25_parts={"trials_s": at[4], "after_s": at[5], "slowness": at[6], "corrected_from": at[7],
                                    **({"trials_contention": at[8]} if len(at) > 8 else {})},
                       eta25_actual_parts={"trials_s": trials_left, "after_s": left - trials_left})
    return row


def backfill() -> int:
    """Add to this machine's history records written before records kept their configurations
    (hpbench.cost.reprice) those configurations, read from the search's results folder when it
    is still there (its search trials: study.toml's parameters, each trial's epochs after the
    first): a recalibration then re-prices them. Runs nothing; returns the records filled."""
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from hpbench.cost import history, reprice
    from hpbench.cost.record import TrialTimes
    from hpbench.dispatch.early import EARLY_PREFIX
    from hpbench.results.files import atomic_write_json

    cache = history.default_cache_dir()
    records, n = history.load(cache), 0
    for r in records:
        out = Path(str(r.get("out") or "/nonexistent"))
        if r.get("configs") or not (out / "trials.parquet").is_file() or not (out / "study.json").is_file():
            continue
        keys = list(json.loads((out / "study.json").read_text()).get("space", {}))
        trials, epochs = pd.read_parquet(out / "trials.parquet"), pd.read_parquet(out / "epochs.parquet")
        search = trials[(trials["status"] == "finished") & ~trials["trial_id"].str.startswith(EARLY_PREFIX)
                        & (trials["repeat"].isna() if "repeat" in trials else True)]
        times = []
        for _, row in search.iterrows():
            es = [float(x) for x in epochs[epochs["trial_id"] == row["trial_id"]].sort_values("epoch")["epoch_s"]]
            if len(es) > 1:
                times.append(TrialTimes(started_at=0.0, ended_at=0.0, train_s=0.0, epochs=int(row["epochs"]), max_epochs=0, stop_reason="",
                                        predicted_epoch_s=float(row["predicted_epoch_s"]), later_epoch_s=statistics.median(es[1:]),
                                        params={k: _param(row[k]) for k in keys if k in row and not pd.isna(row[k])}))
        if times:
            r["configs"], n = reprice.configs(times), n + 1
    if n:
        atomic_write_json(history.history_file(cache), {"searches": records})
    return n


def repriced_check() -> list[dict[str, Any]]:
    """Offline, no timing: per benchmark study, its latest record of an earlier device model
    re-priced against the current one (hpbench.cost.reprice, the study file's configurations
    predicted by the cached model) vs the speed its latest run on the current model measured,
    and the machine's figure the study read without the re-pricing."""
    sys.path.insert(0, str(ROOT))
    from hpbench.cost import history, reprice
    from hpbench.cost.annotate import predict_trial
    from hpbench.cost.calibrate import device_model
    from hpbench.study.parse import load_study
    from hpbench.study.resolve import trial_config

    cache = history.default_cache_dir()
    records = history.load(cache)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in studies(Path(tmp), only=None, claims=True):
            if name in ("transfer_finetune", "distill_student"):
                continue  # their study files name the first step's results (not here)
            study = load_study(path)
            dev = device_model(device="cpu", threads=max(1, int(study.resources.cpus_per_trial)), cache_dir=cache)
            model = history.tag_of(dev.measured_at)
            older = [r for r in records if r.get("study") == name and r.get("configs") and not model.measured(r)][-1:]
            newer = [r for r in records if r.get("study") == name and model.measured(r) and isinstance(r.get("speed"), (int, float))][-1:]
            mc = max(1, study.settings.max_concurrent)
            got = reprice.speeds([{"run_id": r["run_id"], "configs": r["configs"]} for r in older],
                                 lambda p, study=study, dev=dev, mc=mc: predict_trial(trial_config(study, dict(p)), device_model=dev,
                                                                                      max_concurrent=mc)["predicted_epoch_s"])
            before = [r for r in records if r.get("nice") == 0 and (not newer or r.get("at", 0) < newer[0].get("at", 0))]  # the benchmark's
            machine = history.figures(before, study=None, model=model).speed
            row = {"study": name, "old_speed": older[0]["speed"] if older else None, "repriced": got.get(older[0]["run_id"]) if older else None,
                   "measured_now": newer[0]["speed"] / history.record_contention(newer[0]) if newer else None, "machine_figure": machine}
            out.append(row)
            print(json.dumps(row), flush=True)
    return out


def _param(v: Any) -> Any:
    """A parameter as the search had it, from its parquet column (a mixed choice's values stored
    as strings: '64', '[0.9, 0.999]'; integers of a column with gaps as floats)."""
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return int(v) if isinstance(v, float) and v.is_integer() else v


UNSEEN = ROOT / "benchmarks" / "eta_unseen"
# A held-out study on a user's CSV file of real size (200,000 rows of 32 features and a label, ~70 MB):
# written into the run's folder with its file (--unseen), so that the search reads it from disk as a user's would.
BIG_CSV = """
[study]
name = "unseen-big-csv"
seed = 6
metric = "val_accuracy"
trials = 6
max_concurrent = 2

[data]
dataset = "{path}"
target = "label"
preprocess = ["standardize"]

[model]
family = "mlp"

[train]
max_epochs = 4
batch_size = 1024

[space]
lr = {{ loguniform = [1e-3, 1e-2] }}
"model.width" = {{ choice = [32, 128] }}
"""


def big_csv(work: Path, rows: int = 200_000, features: int = 32) -> Path:
    """The big-CSV held-out study and its data (5 classes from a random linear map, with noise), in ``work``."""
    import numpy as np

    rng = np.random.default_rng(6)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = np.argmax(x @ rng.standard_normal((features, 5)) + 0.5 * rng.standard_normal((rows, 5)), axis=1)
    data = work / "big.csv"
    header = ",".join([*(f"x{i}" for i in range(features)), "label"])
    np.savetxt(data, np.column_stack([x, y]), delimiter=",", header=header, comments="", fmt=["%.5f"] * features + ["%d"])
    study = work / "big_csv.toml"
    study.write_text(BIG_CSV.format(path=data))
    return study


def study_name(path: Path) -> str:
    """A study file's ``[study] name`` (its results folder's name), read without hpbench."""
    import tomllib

    return str(tomllib.loads(path.read_text()).get("study", {}).get("name") or path.stem)


def studies(work: Path, *, only: set[str] | None, claims: bool, extra: list[Path] = ()) -> list[tuple[str, Path]]:
    """The studies to run: the built-in set (``only`` filters it by name; ``claims=False`` leaves the
    claims out), or, when ``extra`` files are given, those alone (in their order)."""
    if extra:
        return [(study_name(p), p.resolve()) for p in extra]
    (work / "tiny.toml").write_text(TINY)
    (work / "repeats.toml").write_text(REPEATS)
    out = [("quickstart", ROOT / "studies" / "quickstart.toml"), ("eta-tiny", work / "tiny.toml"),
           ("eta-repeats", work / "repeats.toml"), ("schedules", ROOT / "studies" / "schedules.toml"),
           ("signals", ROOT / "studies" / "signals.toml"), ("digits_cnn", ROOT / "studies" / "digits_cnn.toml")]
    if claims:
        out += [(c, ROOT / "studies" / "claims" / f"{c}.toml") for c in CLAIMS]
    return [(n, p) for n, p in out if only is None or n in only]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated study names")
    ap.add_argument("--skip-claims", action="store_true")
    ap.add_argument("--study", type=Path, action="append", default=[], metavar="PATH",
                    help="run this study file instead of the built-in set (repeatable): a user's own studies")
    ap.add_argument("--no-history", action="store_true",
                    help="price and run each study as a machine's first search: its history and kept prices moved aside for it, put back after")
    ap.add_argument("--new-study", action="store_true",
                    help="price and run each study as the first search of its study on this machine: its own records in the history "
                         "set aside for it (the other studies' kept), the history put back after")
    ap.add_argument("--unseen", nargs="?", const=UNSEEN, type=Path, default=None, metavar="DIR",
                    help="run the held-out studies (benchmarks/eta_unseen/*.toml: written after the ETA was tuned, never used to tune "
                         "it; or DIR's, e.g. benchmarks/eta_fresh, written in session 27)")
    ap.add_argument("--report", type=Path, default=OUT / "eta.json")
    ap.add_argument("--keep", type=Path, help="keep the studies' results in a new folder under this one (default: a temporary folder)")
    ap.add_argument("--merge", action="store_true", help="keep the report's rows of the studies not run now")
    ap.add_argument("--render", action="store_true", help="print the README's table from the report, run nothing")
    ap.add_argument("--repriced", action="store_true", help="offline: re-priced speed figures vs the speeds measured since, run nothing timed")
    ap.add_argument("--backfill", action="store_true", help="add their configurations to older history records from their results folders, run nothing")
    args = ap.parse_args()
    if args.backfill:
        print(f"records filled: {backfill()}")
        return
    if args.repriced:
        repriced_check()
        return
    if args.render:
        print(render(json.loads(args.report.read_text())))
        return
    only = set(args.only.split(",")) if args.only else None
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    old = json.loads(args.report.read_text()) if args.merge and args.report.exists() else {"rows": [], "failed": []}
    with tempfile.TemporaryDirectory(prefix="hpbench-eta-") as tmp:
        # a folder of its own per run: a study's results already there would be resumed, not searched
        work = args.keep.resolve() / time.strftime("%Y%m%d-%H%M%S") if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        held_out = [*sorted(args.unseen.glob("*.toml")), *([big_csv(work)] if args.unseen.resolve() == UNSEEN.resolve() else [])] if args.unseen else []
        extra = list(args.study) + held_out
        for name, path in studies(work, only=only, claims=not args.skip_claims, extra=extra):
            try:
                with no_history() if args.no_history else new_study(name) if args.new_study else contextlib.nullcontext():
                    row = measure(name, path, work)
            except RuntimeError as err:  # reported, and the other studies still run
                print(f"{name:18s} FAILED: {str(err).splitlines()[0]}", flush=True)
                failed.append({"study": name, "error": str(err)[-3000:]})
                continue
            rows.append(row)
            e25 = row.get("eta25_error")
            print(f"{name:18s} predicted {row['predicted_s']:7.1f} s ({row['low_s']:.1f}-{row['high_s']:.1f})  measured "
                  f"{row['measured_s']:7.1f} s  error {row['error']:+.0%}  ETA@25% "
                  + (f"{row['eta25_s']:.1f} s vs {row['eta25_actual_s']:.1f} s left ({e25:+.0%})" if e25 is not None else "-")
                  + (f" [priced at the burst's start {row['eta25_first_error']:+.0%}]" if row.get("eta25_first_error") is not None else "")
                  + f"  load {row['load_before'][0]:.1f}->{row['load_after'][0]:.1f}  seen {row['study_seen_before']}"
                  + (f"  (the model's own {row['model_predicted_s']:.1f} s, {row['model_error']:+.0%}; x{row['span_scale']:.2f})"
                     if "model_error" in row else ""), flush=True)
            if "eta25_parts" in row:
                ep, ea = row["eta25_parts"], row["eta25_actual_parts"]
                print(f"{'':18s} ETA@25% trials {ep['trials_s']:.1f} s vs {ea['trials_s']:.1f} s, after {ep['after_s']:.1f} s vs "
                      f"{ea['after_s']:.1f} s, slowness x{ep['slowness']:.2f} (corrected from {ep['corrected_from']})", flush=True)
            write(args.report, old, rows, failed)  # after each study: a run cut short keeps what it measured
    report = write(args.report, old, rows, failed)
    if report["n"]:
        print(f"whole command: median |error| {report['median_abs_error']:.0%} (target <= 15%), max {report['max_abs_error']:.0%} "
              f"(target <= 25%), {report['within_25']}/{report['n']} within 25%")
    moved = [r for r in report["rows"] if "model_error" in r]
    if moved:  # the same runs priced by the model alone (before its own runs moved the estimate)
        own = [abs(r["model_error"]) for r in moved]
        print(f"  the {len(moved)} moved toward their own runs: |error| median {statistics.median(abs(r['error']) for r in moved):.0%}, "
              f"{sum(abs(r['error']) <= 0.25 for r in moved)} within 25%; by the model alone median {statistics.median(own):.0%}, "
              f"{sum(e <= 0.25 for e in own)} within 25%")
    if report["eta25_n"]:
        firsts = [abs(r.get("eta25_first_error", r["eta25_error"])) for r in report["rows"] if r.get("eta25_error") is not None]
        print(f"  read as priced when a burst of ends began (sessions 17-26): {sum(e <= 0.20 for e in firsts)}/{len(firsts)} within 20%, "
              f"median {statistics.median(firsts):.0%}")
        print(f"live ETA at 25%: median |error| {report['eta25_median_abs_error']:.0%}, max {report['eta25_max_abs_error']:.0%} "
              f"(target <= 20%), {report['eta25_within_20']}/{report['eta25_n']} within 20%")
    print(f"written: {args.report}")
    print(render(report))


def write(path: Path, old: dict[str, Any], rows: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    """The report: this run's rows, and ``old``'s of the studies it did not run."""
    ran = {r["study"] for r in rows} | {f["study"] for f in failed}
    rows = [r for r in old["rows"] if r["study"] not in ran] + rows
    failed = [f for f in old.get("failed", []) if f["study"] not in ran] + failed
    errors = [abs(r["error"]) for r in rows]
    eta25 = [abs(r["eta25_error"]) for r in rows if r.get("eta25_error") is not None]
    report = {
        "benchmark": "eta", "host": platform.node(), "cpus": os.cpu_count(), "at": time.time(), "rows": rows,
        "median_abs_error": statistics.median(errors) if errors else None, "max_abs_error": max(errors) if errors else None,
        "within_25": sum(e <= 0.25 for e in errors), "n": len(errors),
        "eta25_median_abs_error": statistics.median(eta25) if eta25 else None, "eta25_max_abs_error": max(eta25) if eta25 else None,
        "eta25_within_20": sum(e <= 0.20 for e in eta25), "eta25_n": len(eta25),
        "targets": {"every_study": 0.25, "median": 0.15, "eta25": 0.20}, "failed": failed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report


def render(report: dict[str, Any]) -> str:
    """The README's table: per study, predicted (interval) vs measured, the parts predicted vs
    the phases measured, the live ETA at 25%, the load average."""
    lines = ["| study | Tune trials timed | predicted s (P10-P90) | measured s | error | start-up pred / meas | trials+turnover pred / search meas "
             "| after pred / meas | ETA at 25%: shown / left | load before -> after |", "|" + " --- |" * 10]
    for r in report["rows"]:
        p, m = r["parts"], r.get("measured_parts") or {}
        after_p = sum(p.get(k, 0.0) for k in ("repeats_s", "devices_s", "test_s", "report_s", "exit_s"))
        after_m = sum(float(m.get(k) or 0.0) for k in ("repeats_s", "devices_s", "test_s", "report_s", "exit_s"))
        eta = (f"{r['eta25_s']:.1f} / {r['eta25_actual_s']:.1f} ({r['eta25_error']:+.0%})" if r.get("eta25_error") is not None else "-")
        lines.append(f"| {r['study']} | {r.get('n_trials')} | {r['predicted_s']:.1f} ({r['low_s']:.1f}-{r['high_s']:.1f}) | {r['measured_s']:.1f} "
                     f"| {r['error']:+.0%} | {p['startup_s']:.1f} / {float(m.get('startup_s') or 0):.1f} "
                     f"| {p['trials_s'] + p['turnover_s']:.1f} / {float(m.get('search_s') or 0):.1f} | {after_p:.1f} / {after_m:.1f} | {eta} "
                     f"| {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |")
    parts = [r for r in report["rows"] if "eta25_parts" in r]
    if parts:  # what the live ETA at 25% was made of, against what followed
        lines += ["", "| study | ETA at 25%: trials left pred / then | after-search pred / then | trials' pace (from N Tune trials' epochs) |",
                  "|" + " --- |" * 4]
        for r in parts:
            ep, ea = r["eta25_parts"], r["eta25_actual_parts"]
            lines.append(f"| {r['study']} | {ep['trials_s']:.1f} / {max(0.0, ea['trials_s']):.1f} | {ep['after_s']:.1f} / {ea['after_s']:.1f} "
                         f"| x{ep['slowness']:.2f} ({ep['corrected_from'] or 'none: the speed figure, or the early trials'}) |")
    for f in report.get("failed", []):
        lines.append(f"| {f['study']} | failed: {str(f['error']).splitlines()[0][:80]} |" + " |" * 8)
    s = report
    if s.get("n"):
        lines.append("")
        lines.append(f"Whole command: median |error| {s['median_abs_error']:.0%} (target <= 15%), max {s['max_abs_error']:.0%} (target <= 25%), "
                     f"{s['within_25']}/{s['n']} within 25%."
                     + (f" Live ETA at 25%: median |error| {s['eta25_median_abs_error']:.0%}, max {s['eta25_max_abs_error']:.0%}, "
                        f"{s['eta25_within_20']}/{s['eta25_n']} within 20% (target 20%)." if s.get("eta25_n") else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
