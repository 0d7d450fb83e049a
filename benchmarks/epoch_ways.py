"""Issue 13 diagnostic: one configuration's epoch timed the ways the cost model and a trial see it,
side by side in one process tree (run it under ``benchmarks/exclusive.sh``):

* ``suite``: the calibration suite's in-process loop (:func:`hpbench.cost.suite.time_epochs_first`:
  ``train_epoch`` then ``evaluate``) on the trial's own model and data, in this process;
* ``probe``: for an MLP, the suite's synthetic probe of the same shape (:class:`hpbench.cost.suite.Probe`,
  random data) and its predicted epoch (the suite's features, the model's coefficients);
* ``train here``: hpbench's ``train`` in this process (each epoch's ``epoch_s`` and ``epoch_cpu_s``);
* ``fresh``: ``train`` in a fresh interpreter as :mod:`hpbench.cost.trainer_probe` runs it
  (OMP_NUM_THREADS=1), with the epoch split into its phases (training steps, validation pass and
  its metrics) over extra epochs;
* ``search``: a real ``hpbench search`` of the configuration enqueued ``--copies`` times (the first
  may train in the helper while Ray starts), its epochs table (``epoch_s``, ``epoch_cpu_s``), and,
  sampled from ``/proc`` while it runs, each Ray worker's nice, thread count, OMP/MKL variables
  and the time its threads ran and waited for a core.

    benchmarks/exclusive.sh .venv/bin/python benchmarks/epoch_ways.py --run RUN.json --rows digits_c1:3 seq_c1:2 [--epochs 4]

Writes ``epoch_ways.json`` and ``epoch_ways.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
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

import cost_model as cm


def predicted(cfg: Any, dm: Any) -> dict[str, Any]:
    """The predicted epoch and its largest terms (coefficient x feature)."""
    from hpbench.cost.annotate import data_shape, epoch_steps, eval_passes, predict_trial
    from hpbench.cost.predict import FEATURES, epoch_features
    from hpbench.cost.trial_time import state_working_set_bytes

    cols = predict_trial(cfg, device_model=dm)
    n_train, _, shape, *_ = data_shape(cfg)
    steps, n_val, full, last = epoch_steps(cfg)
    f = epoch_features(full=full, last=last, n_steps=steps, device=dm, eval_cost=full, n_eval_chunks=eval_passes(cfg)[0],
                       state_bytes=state_working_set_bytes(n_params=full.n_params, optimizer=cfg.optimizer.name))
    terms = {k: dm.coef.get(k, 0.0) * f.get(k, 0.0) for k in FEATURES}
    return {"predicted_epoch_s": cols["predicted_epoch_s"], "predicted_warmup_s": cols["predicted_warmup_s"], "steps": steps,
            "n_train": n_train, "n_val": n_val, "input_shape": list(shape), "features": f, "terms": terms}


def suite_loop(cfg: Any, *, epochs: int) -> dict[str, float]:
    """The calibration suite's loop on the trial's own model and data, in this process."""
    import torch

    from hpbench.cost.suite import time_epochs_first
    from hpbench.train.task import build_run

    torch.set_num_threads(1)
    torch.manual_seed(cfg.seed)
    run = build_run(cfg)
    d = run.data
    c0 = time.thread_time()
    fastest, first = time_epochs_first(run.model, x=d.x_train, y=d.y_train, x_val=d.x_val, y_val=d.y_val, batch_size=run.batch_size,
                                       optimizer=cfg.optimizer.name, device="cpu", n_epochs=epochs)
    return {"fastest_s": fastest, "first_s": first, "mean_cpu_s": (time.thread_time() - c0) / (epochs + 1)}


def probe_twin(cfg: Any, info: dict[str, Any], dm: Any) -> dict[str, float] | None:
    """An MLP's synthetic suite probe of the same shape: measured (fastest, first) and predicted."""
    import math

    from hpbench.cost.predict import seconds
    from hpbench.cost.suite import Probe, measure_probe_first, probe_features

    if cfg.model.family != "mlp":
        return None
    bs = info["n_train"] if cfg.train.batch_size == "full" else min(int(cfg.train.batch_size), info["n_train"])
    p = Probe(kind="mlp", n_in=math.prod(info["input_shape"]), depth=int(cfg.model.params["depth"]), width=int(cfg.model.params["width"]),
              batch_size=bs, n_train=info["n_train"], n_val=info["n_val"], optimizer=cfg.optimizer.name)
    c0 = time.thread_time()
    fastest, first = measure_probe_first(p, device="cpu")
    return {"fastest_s": fastest, "first_s": first, "mean_cpu_s": (time.thread_time() - c0) / 4, "predicted_s": seconds(probe_features(p, dm), dm.coef)}


def train_here(cfg: Any) -> dict[str, list[float]]:
    from hpbench.train.trainer import train

    h = train(cfg).history
    return {"epoch_s": [float(r["epoch_s"]) for r in h], "epoch_cpu_s": [float(r["epoch_cpu_s"]) for r in h]}


def _child(run_path: str, spec: str, epochs: int, extra: int) -> None:
    """In the fresh interpreter: ``train`` (every epoch's seconds), then ``extra`` more epochs of
    the same run split into phases (training steps, validation pass, metrics)."""
    import torch

    from hpbench.train.epoch import train_batches
    from hpbench.train.evaluate import logits_batches
    from hpbench.train.task import build_run
    from hpbench.train.tasks import metrics
    from hpbench.train.trainer import train

    cfg = _config(json.loads(Path(run_path).read_text(encoding="utf-8")), spec, epochs)
    import resource

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    h = train(cfg).history
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {"train_minflt": r1.ru_minflt - r0.ru_minflt, "train_utime_s": r1.ru_utime - r0.ru_utime,
                           "train_stime_s": r1.ru_stime - r0.ru_stime,"epoch_s": [float(r["epoch_s"]) for r in h], "epoch_cpu_s": [float(r["epoch_cpu_s"]) for r in h],
                           "omp": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads(),
                           "interop_threads": torch.get_num_interop_threads()}
    run = build_run(cfg)
    d = run.data
    phases: dict[str, list[float]] = {"steps": [], "val_forward": [], "val_metrics": []}
    for _ in range(extra):
        t0 = time.perf_counter()
        train_batches(run.model, run.optimizer, batches=d.train_batches(run.batch_size, run.generator), loss_fn=run.train_loss_fn,
                      precision=run.precision, clip=run.clip, after_step=run.schedule.after_step)
        t1 = time.perf_counter()
        with torch.no_grad():
            o, y = logits_batches(run.model, d.eval_batches("val"))
            t2 = time.perf_counter()
            metrics(run.task, o, y, float(run.loss_fn(o, y).item()))
        t3 = time.perf_counter()
        phases["steps"].append(t1 - t0)
        phases["val_forward"].append(t2 - t1)
        phases["val_metrics"].append(t3 - t2)
    out["phases"] = phases
    print(json.dumps(out))


def _child_variant(run_path: str, spec: str, epochs: int, imports: bool, thread: bool) -> None:
    """In a fresh interpreter: ``train`` after importing what a Ray worker has loaded (``imports``),
    in a non-main thread as Tune runs a function trainable (``thread``); every epoch's seconds."""
    if imports:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    from hpbench.train.trainer import train

    cfg = _config(json.loads(Path(run_path).read_text(encoding="utf-8")), spec, epochs)
    out: dict[str, Any] = {}

    def go() -> None:
        h = train(cfg).history
        out.update(epoch_s=[float(r["epoch_s"]) for r in h], epoch_cpu_s=[float(r["epoch_cpu_s"]) for r in h])

    if thread:
        t = threading.Thread(target=go)
        t.start()
        t.join()
    else:
        go()
    print(json.dumps(out))


def variant(run_path: Path, spec: str, *, epochs: int, imports: bool, thread: bool) -> dict[str, Any]:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import epoch_ways; "
            f"epoch_ways._child_variant({str(run_path)!r}, {spec!r}, {epochs}, {imports}, {thread})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"variant child failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def fresh(run_path: Path, spec: str, *, epochs: int, extra: int) -> dict[str, Any]:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); import epoch_ways; "
            f"epoch_ways._child({str(run_path)!r}, {spec!r}, {epochs}, {extra})")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"fresh child failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _row(run: dict[str, Any], spec: str) -> dict[str, Any]:
    study, trial = spec.rsplit(":", 1)
    return next(x for x in run["rows"] if x["study"] == study and x["trial"] == int(trial))


def _config(run: dict[str, Any], spec: str, epochs: int) -> Any:
    return cm.recorded_config(run, _row(run, spec), epochs=epochs)


def _procs() -> dict[int, str]:
    out = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                out[int(p.name)] = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return out


def _worker_facts(pid: int) -> dict[str, Any] | None:
    try:
        env = dict(kv.split("=", 1) for kv in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0") if "=" in kv)
        stat = Path(f"/proc/{pid}/stat").read_text()
        sf = stat[stat.rindex(")") + 2:].split()
        nice, tick = int(sf[16]), os.sysconf("SC_CLK_TCK")
        run = wait = 0
        threads = {}
        for t in Path(f"/proc/{pid}/task").iterdir():
            parts = (t / "schedstat").read_text().split()
            tstat = (t / "stat").read_text()
            tf = tstat[tstat.rindex(")") + 2:].split()
            st = dict(line.split(":", 1) for line in (t / "status").read_text().splitlines() if ":" in line)
            threads[t.name] = {"run_ns": int(parts[0]), "wait_ns": int(parts[1]), "nice": int(tf[16]), "policy": int(tf[38]),
                               "comm": (t / "comm").read_text().strip(), "nvcsw": int(st["voluntary_ctxt_switches"]),
                               "nivcsw": int(st["nonvoluntary_ctxt_switches"]), "minflt": int(tf[7])}
            run += int(parts[0])
            wait += int(parts[1])
        return {"nice": nice, "n_threads": len(threads), "minflt": int(sf[7]), "utime_s": int(sf[11]) / tick, "stime_s": int(sf[12]) / tick, "run_s": run / 1e9, "wait_s": wait / 1e9,
                "env": {k: env[k] for k in sorted(env) if k.startswith(("OMP", "MKL", "OPENBLAS", "LD_PRELOAD", "MALLOC", "RAY_worker"))},
                "busiest": sorted(({"tid": k, **v} for k, v in threads.items()), key=lambda v: -v["run_ns"])[:3]}
    except (OSError, ValueError, IndexError):
        return None


def search(cfg_params: dict[str, Any], data: dict[str, Any], *, epochs: int, copies: int, seed: int,
           env: dict[str, str] | None = None) -> dict[str, Any]:
    import hpbench

    work = Path(tempfile.mkdtemp(prefix="epoch_ways_"))
    study = work / "one.toml"
    study.write_text(cm.study_toml(name="one", data=data, draws=[dict(cfg_params) for _ in range(copies)], epochs=epochs, concurrent=1,
                                   seed=seed % 1000), encoding="utf-8")
    seen: dict[int, dict[str, Any]] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid, cmd in _procs().items():
                if ("ray::" in cmd and "IDLE" not in cmd) or ("hpbench" in cmd and "helper" in cmd):
                    f = _worker_facts(pid)
                    if f is not None:
                        seen[pid] = {"cmd": cmd[:80], **f}
            stop.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "hpbench", "search", str(study), "--out", str(work / "one"), "--num-cpus", "2"],
                       capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    if r.returncode != 0:
        raise SystemExit(f"search failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    t = hpbench.load(work / "one")
    ep = hpbench.load(work / "one", "epochs")
    trials = []
    for _, row in t.sort_values("trial").iterrows():
        e = ep[ep["trial"] == row["trial"]].sort_values("epoch")
        trials.append({"trial": int(row["trial"]), "in_ray": not str(row.get("trial_id", "")).startswith("early_"),
                       "epoch_s": [float(x) for x in e["epoch_s"]], "epoch_cpu_s": [float(x) for x in e["epoch_cpu_s"]],
                       "predicted_epoch_s": float(row["predicted_epoch_s"]), "train_s": float(row["train_s"])})
    return {"wall_s": wall, "trials": trials, "processes": list(seen.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="a cost_model*.json whose rows to take")
    ap.add_argument("--rows", nargs="+", required=True, help="STUDY:TRIAL of the run's rows, e.g. digits_c1:3")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--copies", type=int, default=3, help="the configuration enqueued this many times in the search")
    ap.add_argument("--skip", nargs="*", default=[], help="ways to leave out: suite probe here fresh search")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    ap.add_argument("--tag", default="")
    ap.add_argument("--search-env", nargs="*", default=[], help="KEY=VALUE: a second search of each row with these variables set")
    args = ap.parse_args()
    from hpbench.cost.calibrate import device_model

    run = json.loads(args.run.read_text(encoding="utf-8"))
    dm = device_model(device="cpu", threads=1)
    load = [os.getloadavg()[0]]
    results = []
    for spec in args.rows:
        study = spec.rsplit(":", 1)[0]
        r = _row(run, spec)
        cfg = _config(run, spec, args.epochs)
        data = {"dataset": "digits"} if study.startswith("digits") else run["sequence_data"]
        params = {"family": r["family"], **{k: cm._param(v) for k, v in r["params"].items()}}
        res: dict[str, Any] = {"row": spec, "params": params, "recorded": {k: r[k] for k in ("predicted_s", "measured_s", "epochs_s")}}
        res["predicted"] = predicted(cfg, dm)
        print(f"{spec}: predicted epoch {res['predicted']['predicted_epoch_s']:.4f} s", flush=True)
        if "suite" not in args.skip:
            res["suite"] = suite_loop(cfg, epochs=args.epochs)
            print("  suite", res["suite"], flush=True)
        if "probe" not in args.skip:
            res["probe"] = probe_twin(cfg, res["predicted"], dm)
            print("  probe", res["probe"], flush=True)
        if "here" not in args.skip:
            res["here"] = train_here(cfg)
            print("  here", res["here"], flush=True)
        if "fresh" not in args.skip:
            res["fresh"] = fresh(args.run, spec, epochs=args.epochs, extra=args.epochs)
            print("  fresh", res["fresh"], flush=True)
        if "variants" not in args.skip:
            for imports, thread in ((False, True), (True, False), (True, True)):
                key = f"fresh{'_imports' if imports else ''}{'_thread' if thread else ''}"
                res[key] = variant(args.run, spec, epochs=args.epochs, imports=imports, thread=thread)
                print(f"  {key}", res[key], flush=True)
        if "search" not in args.skip:
            res["search"] = search(params, data, epochs=args.epochs, copies=args.copies, seed=run["seed"])
            print("  search", json.dumps(res["search"]["trials"]), flush=True)
        if args.search_env:
            env = dict(kv.split("=", 1) for kv in args.search_env)
            res["search_env"] = {"env": env, **search(params, data, epochs=args.epochs, copies=args.copies, seed=run["seed"], env=env)}
            print("  search", env, json.dumps(res["search_env"]["trials"]), flush=True)
        load.append(os.getloadavg()[0])
        results.append(res)
    out = {"load": load, "device": {k: dm.to_dict()[k] for k in ("coef", "trainer_epoch_s", "first_epoch_s", "warmup_fraction", "measured_at")},
           "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"epoch_ways{('-' + args.tag) if args.tag else ''}"
    (args.out / f"{stem}.json").write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(json.dumps(out, default=str)[:20000])


if __name__ == "__main__":
    main()
