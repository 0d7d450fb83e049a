"""Acceptance benchmark of the cost model (issue 13): whole trials the model has never seen.

Configurations are drawn at random from a wide space (every family; batch sizes 1..full;
widths 8..4096; depths 1..6; every optimizer; channel counts; sequence lengths and sizes), with
a seed chosen at run time and printed (``--seed`` repeats a run), so no fixed list can be fitted.
They run through real ``hpbench search`` runs (Ray Tune, the dispatcher's own predictions) at
``max_concurrent = 1`` and at ``max_concurrent = 2``: two studies per level (digits: mlp and
cnn; temporal_order at a drawn sequence length: rnn, lstm, gru, transformer, mlp), every draw
enqueued, no pruning, no early stopping. Compared: each trial's ``predicted_spent_s`` (whole
epochs, the first one and evaluation included) with its measured ``train_s``.

Calibration and evaluation are disjoint: the device model is measured on micro-benchmarks and
the synthetic probes of :mod:`hpbench.cost.suite` (``--recalibrate`` measures it again first);
no drawn configuration is used to calibrate. Draws are rejected (before anything runs) only by
size limits that do not involve the time model: FLOPs per trial and steps per epoch.

Reported per concurrency level: median and P90 |error|, Spearman, per family and per regime,
the worst ten, the share of measured times inside the predicted P10-P90, and the error after
the in-run correction (each trial corrected from the trials that ended before it started,
:func:`hpbench.cost.correct.replay`) with the share inside the run's P10-P90 (the correction's, before it
from 2 ended trials: :func:`hpbench.cost.correct.replay_intervals`; "as shown": the run's interval
where the trial had one, else the model's). The load average is sampled through the run.

    .venv/bin/python benchmarks/cost_model.py [--draws 12] [--epochs 2] [--seed N] [--recalibrate] [--pairs] [--out results/benchmarks]

``--pairs`` runs the same draws at every level, each enqueued c times at max_concurrent=c: the
measured slowdown of c identical trials side by side against one alone, per configuration.
Two diagnostics train nothing in Ray: ``--replay RUN.json ...`` prices recorded trials again with
the current model (offline, no timing); ``--plain RUN.json`` (with OMP_NUM_THREADS=1, under
``benchmarks/exclusive.sh``) trains a run's max_concurrent=1 draws in a plain process, splitting
the run's error into the model's (plain / predicted) and the Ray worker's (Ray / plain).

Writes ``cost_model.json`` (every trial) and ``cost_model.md`` (the summary).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw")
MAX_TRIAL_FLOPS = 3e10  # size limits (a FLOP count and a step count, not a time): keep a run within minutes
MAX_STEPS = 1500
TARGETS = {"median": 0.12, "p90": 0.30, "spearman": 0.95, "corrected_median": 0.08, "coverage": (0.70, 0.90)}


def autogroup() -> str | None:
    """This process's scheduling group and its nice value (Linux autogroups: one per session; the
    CPU is shared between groups by the group's nice value, so a ``nice -n 19`` process of another
    session competes at full weight with this one), or None where there is none."""
    try:
        return Path("/proc/self/autogroup").read_text(encoding="utf-8").strip()
    except OSError:
        return None


def log_int(rng: random.Random, lo: int, hi: int) -> int:
    return round(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def draw(rng: random.Random, family: str) -> dict[str, Any]:
    """One configuration of ``family`` (keys as in a study's [space])."""
    p: dict[str, Any] = {"family": family, "optimizer": rng.choice(OPTIMIZERS)}
    if family == "mlp":
        p |= {"model.depth": rng.randint(1, 6), "model.width": log_int(rng, 8, 4096)}
    elif family == "cnn":
        p |= {"model.conv_depth": rng.randint(1, 3), "model.channels": log_int(rng, 4, 128), "model.width": log_int(rng, 8, 512)}
    elif family in ("rnn", "lstm", "gru"):
        p |= {"model.hidden_size": log_int(rng, 8, 512), "model.layers": rng.randint(1, 3)}
    else:
        heads = rng.choice((1, 2, 4))
        # d_model a multiple of 4: every heads value divides it (a study's space is checked over every combination)
        p |= {"model.heads": heads, "model.d_model": 4 * log_int(rng, 2, 48), "model.ff_width": log_int(rng, 16, 1024),
              "model.layers": rng.randint(1, 3)}
    return p


def batch(rng: random.Random, n_train: int) -> int | str:
    return "full" if rng.random() < 0.15 else log_int(rng, 1, n_train)


MODEL_KEYS = {"mlp": ("model.depth", "model.width"), "cnn": ("model.conv_depth", "model.channels", "model.width"),
              "rnn": ("model.hidden_size", "model.layers"), "lstm": ("model.hidden_size", "model.layers"),
              "gru": ("model.hidden_size", "model.layers"), "transformer": ("model.heads", "model.d_model", "model.ff_width", "model.layers")}


def study_toml(*, name: str, data: dict[str, Any], draws: list[dict[str, Any]], epochs: int, concurrent: int, seed: int) -> str:
    """A study whose trials are exactly ``draws`` (enqueued; the space holds each drawn value,
    model keys conditional on the family)."""
    def val(v: Any) -> str:
        return json.dumps(v)

    space: dict[str, tuple[list[Any], list[str]]] = {}
    for d in draws:
        for k, v in d.items():
            vals, fams = space.setdefault(k, ([], []))
            if v not in vals:
                vals.append(v)
            if k.startswith("model.") and d["family"] not in fams:
                fams.append(d["family"])
    lines = ["[study]", f'name = "{name}"', f"seed = {seed}", 'metric = "val_loss"', 'mode = "min"', f"trials = {len(draws)}",
             'searcher = "random"', 'scheduler = "none"', f"max_concurrent = {concurrent}", "checkpoint_s = 60",
             "enqueue = [", *("  { " + ", ".join(f"{val(k)} = {val(v)}" for k, v in d.items()) + " }," for d in draws), "]", "",
             "[data]", f'dataset = "{data["dataset"]}"', "val_fraction = 0.2", *(f"{k} = {val(v)}" for k, v in data.get("options", {}).items()), "",
             "[model]", f'family = "{draws[0]["family"]}"', "", "[train]", f"max_epochs = {epochs}", "", "[optimizer]", "lr = 0.001", "",
             "[resources]", "cpus_per_trial = 1", "gpus_per_trial = 0", "", "[space]"]
    for k, (vals, fams) in space.items():
        when = f', when = {{ family = {val(fams)} }}' if fams and set(fams) != {d["family"] for d in draws} else ""
        lines.append(f"{val(k)} = {{ choice = {val(vals)}{when} }}")
    return "\n".join(lines) + "\n"


def sized(rng: random.Random, families: tuple[str, ...], data: dict[str, Any], n: int, *, epochs: int, dm: Any) -> list[dict[str, Any]]:
    """``n`` draws within the size limits (FLOPs and steps counted, never timed)."""
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
    from hpbench.cost.annotate import data_shape, predict_trial

    out: list[dict[str, Any]] = []
    n_train = None
    while len(out) < n:
        d = draw(rng, rng.choice(families))
        cfg = TrialConfig(seed=0, data=DataConfig(dataset=data["dataset"], options=data.get("options", {})),
                          model=ModelConfig(family=d["family"], params={k.split(".", 1)[1]: v for k, v in d.items() if k.startswith("model.")}),
                          optimizer=OptimizerConfig(name=d["optimizer"], lr=1e-3), train=TrainConfig(max_epochs=epochs, batch_size=32),
                          metric="val_loss", mode="min", threads=1)
        n_train = n_train or data_shape(cfg)[0]
        d["batch_size"] = batch(rng, n_train)
        cfg = TrialConfig(**{**cfg.__dict__, "train": TrainConfig(max_epochs=epochs, batch_size=d["batch_size"])})
        try:
            cols = predict_trial(cfg, device_model=dm)
        except Exception as err:  # a shape the family cannot take (e.g. pooling below 1 pixel): drawn again
            print(f"  skipped {d}: {type(err).__name__}: {err}"[:200])
            continue
        if cols["predicted_flops"] <= MAX_TRIAL_FLOPS and cols["steps_per_epoch"] <= MAX_STEPS:
            out.append(d)
    return out


def spearman(a: list[float], b: list[float]) -> float:
    def ranks(v: list[float]) -> list[float]:
        r = [0.0] * len(v)
        for rank, i in enumerate(sorted(range(len(v)), key=lambda i: v[i])):
            r[i] = float(rank)
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    den = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / den if den else float("nan")


def stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0}
    errs = sorted(abs(r["error"]) for r in rows)
    out = {"n": len(rows), "median": statistics.median(errs), "p90": errs[min(len(errs) - 1, math.ceil(0.9 * len(errs)) - 1)],
           "median_signed": statistics.median(r["error"] for r in rows),
           "spearman": spearman([r["predicted_s"] for r in rows], [r["measured_s"] for r in rows]) if len(rows) > 2 else None}
    inside = [r["inside"] for r in rows if r["inside"] is not None]
    out["coverage"] = sum(inside) / len(inside) if inside else None
    inside_corr = [r["corrected_inside"] for r in rows if r.get("corrected_inside") is not None]
    out["coverage_corrected"] = sum(inside_corr) / len(inside_corr) if inside_corr else None
    shown = [r["corrected_inside"] if r.get("corrected_inside") is not None else r["inside"] for r in rows]
    shown = [x for x in shown if x is not None]
    out["coverage_shown"] = sum(shown) / len(shown) if shown else None
    corr = [abs(r["corrected_error"]) for r in rows if r["corrected_error"] is not None]
    out["corrected_median"] = statistics.median(corr) if corr else None
    out["n_corrected"] = len(corr)
    steady = sorted(abs(r["steady_error"]) for r in rows if r.get("steady_error") is not None)
    out["steady_median"] = statistics.median(steady) if steady else None
    out["steady_median_signed"] = statistics.median(r["steady_error"] for r in rows if r.get("steady_error") is not None) if steady else None
    extra = [r["first_extra_s"] for r in rows if r.get("first_extra_s") is not None]
    out["first_extra_median_s"] = statistics.median(extra) if extra else None
    return out


def collect(out_dir: Path, concurrent: int) -> list[dict[str, Any]]:
    import hpbench
    from hpbench.cost.correct import EndedTrial, replay, replay_intervals

    t = hpbench.load(out_dir)
    t = t[t["train_s"].notna() & t["predicted_spent_s"].notna()]
    ep = hpbench.load(out_dir, "epochs")
    epoch_s = {int(k): [float(x) for x in g.sort_values("epoch")["epoch_s"]] for k, g in ep.groupby("trial")}
    in_ray = [not str(r.get("trial_id", "")).startswith("early_") for _, r in t.iterrows()]  # early trials ran in the helper
    ended = [EndedTrial(regime=str(r["regime"]), predicted_s=float(r["predicted_spent_s"]), measured_s=float(r["train_s"]),
                        started_at=float(r["started_at"]), ended_at=float(r["ended_at"]), in_ray=ray)
             for (_, r), ray in zip(t.iterrows(), in_ray, strict=True)]
    rows = []
    for (_, r), c, band in zip(t.iterrows(), replay(ended), replay_intervals(ended), strict=True):
        p, m = float(r["predicted_spent_s"]), float(r["train_s"])
        lo, hi = r.get("predicted_spent_s_p10"), r.get("predicted_spent_s_p90")
        params = {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()
                  if (k.startswith("model.") or k in ("batch_size", "optimizer")) and v is not None and v == v}
        rows.append({"concurrent": concurrent, "study": out_dir.name, "trial": int(r["trial"]), "family": str(r["family"]),
                     "in_ray": not str(r.get("trial_id", "")).startswith("early_"),
                     "regime": str(r["regime"]), "params": params, "slowdown": float(r.get("concurrency_slowdown") or 1.0), "n_params": int(r["n_params"]), "epochs": int(r["epochs"]),
                     "predicted_s": p, "measured_s": m, "error": (p - m) / m,
                     "p10_s": None if lo is None or lo != lo else float(lo), "p90_s": None if hi is None or hi != hi else float(hi),
                     "inside": None if lo is None or lo != lo else bool(float(lo) <= m <= float(hi)),
                     "corrected_s": c[0] if c else None, "corrected_error": (c[0] - m) / m if c else None,
                     "corrected_inside": _inside(band, m),  # the run's interval: the correction's, else from 2 ended trials
                     **decompose(epoch_s.get(int(r["trial"]), []), predicted_epoch_s=float(r["predicted_epoch_s"]))})
    return rows


def _inside(band: tuple[float, float] | None, measured_s: float) -> bool | None:
    """Whether ``measured_s`` fell inside ``band`` (None: no band)."""
    return None if band is None else bool(band[0] <= measured_s <= band[1])


def pair_slowdowns(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per level above 1 and regime: the configuration's train_s at that level (each of its copies
    trained in Ray) over its train_s alone (c=1, in Ray), measured, and the slowdown the model predicted."""
    def key(r: dict[str, Any]) -> str:
        return r["study"].rsplit("_c", 1)[0] + json.dumps(r["params"], sort_keys=True)

    # trials in Ray only: an early trial trains in the helper while Ray starts (beside Ray's start-up, and not beside its twin)
    alone = {key(r): r["measured_s"] for r in rows if r["concurrent"] == 1 and r.get("in_ray", True)}
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r["concurrent"] > 1 and r.get("in_ray", True) and key(r) in alone:
            for g in (f"c={r['concurrent']} all", f"c={r['concurrent']} {r['regime']}"):
                groups.setdefault(g, []).append((r["measured_s"] / alone[key(r)], r["slowdown"]))
    out = {}
    for g, v in sorted(groups.items()):
        ratios = sorted(x for x, _ in v)
        out[g] = {"n": len(v), "measured": statistics.median(ratios), "p10": ratios[int(0.1 * (len(ratios) - 1))],
                  "p90": ratios[math.ceil(0.9 * (len(ratios) - 1))], "predicted": statistics.median(p for _, p in v)}
    return out


def decompose(epochs_s: list[float], *, predicted_epoch_s: float) -> dict[str, Any]:
    """Where a trial's error comes from: its steady epochs (the fastest after the first) against
    the predicted epoch (the time model and the worker's own pace), and its first epoch's extra
    over that (warm-up, and whatever the dispatcher did as the trial started)."""
    if len(epochs_s) < 2 or predicted_epoch_s <= 0:
        return {"epochs_s": epochs_s, "steady_error": None, "first_extra_s": None}
    steady = min(epochs_s[1:])
    return {"epochs_s": epochs_s, "steady_error": (predicted_epoch_s - steady) / steady, "first_extra_s": epochs_s[0] - steady}


def _param(v: Any) -> Any:
    """A recorded parameter as the study wrote it (the results table reads integers back as floats, batch sizes as text)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.isdigit():
        return int(v)
    return v


def recorded_config(run: dict[str, Any], r: dict[str, Any], *, epochs: int) -> Any:
    """The trial configuration of a recorded row of ``run`` (a ``cost_model*.json``)."""
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig

    params = {k: _param(v) for k, v in r["params"].items()}
    data = {"dataset": "digits"} if r["study"].startswith("digits") else run["sequence_data"]
    return TrialConfig(seed=0, data=DataConfig(dataset=data["dataset"], options=data.get("options", {})),
                       model=ModelConfig(family=r["family"], params={k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("model.")}),
                       optimizer=OptimizerConfig(name=params.get("optimizer", "adam"), lr=1e-3),
                       train=TrainConfig(max_epochs=epochs, batch_size=params.get("batch_size", 32)), metric="val_loss", mode="min", threads=1)


def plain(path: Path, *, max_epoch_s: float = 0.4) -> list[str]:
    """Where a run's error comes from: its max_concurrent=1 draws trained again by hpbench's own
    ``train`` in this plain process (run it with OMP_NUM_THREADS=1, as a Ray worker; 4 epochs,
    the fastest after the first), against the run's own predicted epoch (the model's error on the
    family, no Ray) and against the last epoch the trial measured in Ray (the worker's
    environment: Ray, the driver, the helper and Ray's daemons beside it). Draws predicted above
    ``max_epoch_s`` per epoch are left out (time)."""
    from hpbench.cost.annotate import predict_trial
    from hpbench.cost.device import DeviceModel
    from hpbench.train.trainer import train

    run = json.loads(path.read_text(encoding="utf-8"))
    dm = DeviceModel.from_dict(run["device"])
    md = [f"**Run {run['seed']}'s max_concurrent=1 draws in a plain process (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})**", "",
          "| trial | family | in Ray | predicted epoch s | plain epoch s | Ray epoch s | plain / predicted | Ray / plain |",
          "|---|---|---|---|---|---|---|---|"]
    ratios: dict[str, list[float]] = {"plain/predicted": [], "ray/plain": [], "ray/plain in Ray": []}
    for r in run["rows"]:
        if r["concurrent"] != 1 or not r.get("epochs_s"):
            continue
        cfg = recorded_config(run, r, epochs=4)
        pred = float(predict_trial(cfg, device_model=dm)["predicted_epoch_s"])
        if pred > max_epoch_s:
            continue
        got = min(float(h["epoch_s"]) for h in train(cfg).history[1:])
        ray = float(r["epochs_s"][-1])
        ratios["plain/predicted"].append(got / pred)
        ratios["ray/plain"].append(ray / got)
        if r.get("in_ray", True):
            ratios["ray/plain in Ray"].append(ray / got)
        md.append(f"| {r['study']} {r['trial']} | {r['family']} | {r.get('in_ray', True)} | {pred:.4f} | {got:.4f} | {ray:.4f} | "
                  f"{got / pred:.2f} | {ray / got:.2f} |")
    md += ["", "Geometric means: " + ", ".join(f"{k} {math.exp(statistics.fmean(math.log(x) for x in v)):.3f} (n={len(v)})"
                                          for k, v in ratios.items() if v) + f"; load average {os.getloadavg()[0]:.1f}", ""]
    return md


def replay(paths: list[Path], *, dm: Any, concurrency: list[int]) -> list[dict[str, Any]]:
    """The recorded trials of earlier runs (their ``cost_model*.json``) priced again with ``dm``:
    each trial's configuration rebuilt from its parameters and its study's data, its whole-trial
    prediction for the epochs it ran against the ``train_s`` it measured then. Offline (nothing is
    trained): a change to the model is checked on trials it has never seen before a benchmark
    hold. Trials measured under another trainer or at another load than now stay what they were:
    read it as a comparison of models on the same measurements, not as a figure of the machine."""
    from hpbench.cost.annotate import predict_trial, spent

    out = []
    for path in paths:
        run = json.loads(path.read_text(encoding="utf-8"))
        for r in run["rows"]:
            if r["concurrent"] not in concurrency:
                continue
            cfg = recorded_config(run, r, epochs=int(r["epochs"]))
            cols = predict_trial(cfg, device_model=dm, max_concurrent=r["concurrent"])
            got = spent(cols, epochs_run=int(r["epochs"]), measured_s=float(r["measured_s"]))
            p, m = float(got["predicted_spent_s"]), float(r["measured_s"])
            lo, hi = got["predicted_spent_s_p10"], got["predicted_spent_s_p90"]
            out.append({**{k: r[k] for k in ("concurrent", "study", "trial", "family", "params", "epochs")}, "run": run["seed"],
                        "regime": cols["regime"], "predicted_s": p, "measured_s": m, "error": (p - m) / m, "recorded_error": r["error"],
                        "inside": None if lo is None else bool(lo <= m <= hi), "corrected_s": None, "corrected_error": None,
                        **decompose(r.get("epochs_s") or [], predicted_epoch_s=float(cols["predicted_epoch_s"]))})
    return out


def replay_report(rows: list[dict[str, Any]], concurrency: list[int]) -> list[str]:
    runs = sorted({r["run"] for r in rows})
    groups = {f"c={c} run {s}": stats([r for r in rows if r["concurrent"] == c and r["run"] == s]) for c in concurrency for s in runs}
    groups |= {f"c={c} all runs": stats([r for r in rows if r["concurrent"] == c]) for c in concurrency}
    regimes = {f"c={c} {g}": stats([r for r in rows if r["concurrent"] == c and r["regime"] == g])
               for c in concurrency for g in sorted({r["regime"] for r in rows})}
    families = {f"c={c} {f}": stats([r for r in rows if r["concurrent"] == c and r["family"] == f])
                for c in concurrency for f in sorted({r["family"] for r in rows})}
    recorded = {f"c={c} run {s}": statistics.median(abs(r["recorded_error"]) for r in rows if r["concurrent"] == c and r["run"] == s)
                for c in concurrency for s in runs if any(r["concurrent"] == c and r["run"] == s for r in rows)}
    md = table("Replayed per run (the same trials' measured train_s, priced again)", groups) + table("Per regime", regimes)
    md += [*table("Per family", families), "Recorded median abs error of the same trials (the model of their day): "
           + ", ".join(f"{k} {100 * v:.1f}%" for k, v in recorded.items()), ""]
    return md


def table(title: str, groups: dict[str, dict[str, Any]]) -> list[str]:
    def f(v: Any, pct: bool = True) -> str:
        return "-" if v is None else (f"{100 * v:.1f}" if pct else f"{v:.3f}")

    md = [f"**{title}**", "", "| group | n | median abs % | P90 abs % | median signed % | Spearman | inside P10-P90 % | corrected median abs % (n) "
          "| inside run's P10-P90 % | inside as shown % | steady-epoch median abs % (signed) | first-epoch extra median ms |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for g, s in groups.items():
        if s["n"]:
            ms = "-" if s.get("first_extra_median_s") is None else f"{1000 * s['first_extra_median_s']:.1f}"
            md.append(f"| {g} | {s['n']} | {f(s['median'])} | {f(s['p90'])} | {f(s['median_signed'])} | {f(s['spearman'], False)} | "
                      f"{f(s['coverage'])} | {f(s['corrected_median'])} ({s['n_corrected']}) | {f(s.get('coverage_corrected'))} | "
                      f"{f(s.get('coverage_shown'))} | {f(s.get('steady_median'))} "
                      f"({f(s.get('steady_median_signed'))}) | {ms} |")
    return [*md, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=12, help="configurations per study (two studies per concurrency level)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=None, help="draw seed (default: chosen now and printed)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--recalibrate", action="store_true", help="measure the device model again before drawing")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks"))
    ap.add_argument("--replay", type=Path, nargs="+", default=None,
                    help="price the recorded trials of these cost_model*.json again with the current model (trains nothing)")
    ap.add_argument("--pairs", action="store_true",
                    help="the same draws at every level, each enqueued c times at max_concurrent=c: the measured slowdown of c "
                         "identical trials side by side against one alone, per configuration")
    ap.add_argument("--plain", type=Path, default=None,
                    help="train this cost_model*.json's max_concurrent=1 draws in this process: the model's error without Ray, and Ray's share")
    ap.add_argument("--cache-dir", type=Path, default=None, help="device model cache (default: hpbench's)")
    args = ap.parse_args()
    if args.plain:
        md = plain(args.plain)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"cost_model-plain-{args.plain.stem}.md").write_text("\n".join(md), encoding="utf-8")
        print("\n".join(md))
        return
    if args.replay:
        from hpbench.cost.calibrate import device_model

        dm = device_model(device="cpu", threads=1, cache_dir=args.cache_dir, recalibrate=args.recalibrate, log=print)
        print(f"device model: coef {dm.coef}, fit error {dm.fit_error}, concurrency {dm.concurrency_slowdown}", flush=True)
        rows = replay(args.replay, dm=dm, concurrency=args.concurrency)
        print("\n".join(replay_report(rows, args.concurrency)))
        return
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"draw seed {seed} (repeat with --seed {seed})", flush=True)
    from hpbench.cost.calibrate import device_model

    t0 = time.perf_counter()
    loads = [os.getloadavg()[0]]
    dm = device_model(device="cpu", threads=1, recalibrate=args.recalibrate, log=print)
    print(f"device model: warm-up {dm.warmup_fraction:.2f}, concurrency {dm.concurrency_slowdown}, intervals {dm.intervals}, "
          f"fit error {dm.fit_error}", flush=True)
    rng = random.Random(seed)
    seq = {"dataset": "temporal_order", "options": {"seq_len": log_int(rng, 10, 60), "n_samples": log_int(rng, 300, 1500)}}
    groups = [("digits", {"dataset": "digits"}, ("mlp", "mlp", "cnn")), ("seq", seq, ("rnn", "lstm", "gru", "transformer", "mlp"))]
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="cost_model_"))
    drawn: dict[str, list[dict[str, Any]]] = {}
    for c in args.concurrency:
        for name, data, fams in groups:
            if args.pairs:  # the same draws at every level, each run c times at once (c identical trials side by side)
                base = drawn.setdefault(name, sized(rng, fams, data, args.draws, epochs=args.epochs, dm=dm))
                draws = [d for d in base for _ in range(c)]
            else:
                draws = sized(rng, fams, data, args.draws, epochs=args.epochs, dm=dm)
            study = work / f"{name}_c{c}.toml"
            study.write_text(study_toml(name=f"{name}_c{c}", data=data, draws=draws, epochs=args.epochs, concurrent=c, seed=seed % 1000),
                             encoding="utf-8")
            out = work / f"{name}_c{c}"
            print(f"[{time.perf_counter() - t0:.0f}s] hpbench search {study.name}: {len(draws)} trials at max_concurrent={c}, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            loads.append(os.getloadavg()[0])
            r = subprocess.run([sys.executable, "-m", "hpbench", "search", str(study), "--out", str(out), "--num-cpus", str(max(2, c))],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stdout[-3000:], r.stderr[-3000:])
                raise SystemExit(f"hpbench search failed ({r.returncode}) on {study}")
            rows += collect(out, c)
            loads.append(os.getloadavg()[0])
    levels = {f"max_concurrent={c}": stats([r for r in rows if r["concurrent"] == c]) for c in args.concurrency}
    per_family = {f"c={c} {f}": stats([r for r in rows if r["concurrent"] == c and r["family"] == f])
                  for c in args.concurrency for f in sorted({r["family"] for r in rows})}
    per_regime = {f"c={c} {g}": stats([r for r in rows if r["concurrent"] == c and r["regime"] == g])
                  for c in args.concurrency for g in sorted({r["regime"] for r in rows})}
    worst = sorted(rows, key=lambda r: -abs(r["error"]))[:10]
    pairs = pair_slowdowns(rows) if args.pairs else {}
    met = {k: {"median": s["median"] <= TARGETS["median"], "p90": s["p90"] <= TARGETS["p90"],
               "spearman": (s["spearman"] or 0) >= TARGETS["spearman"],
               "corrected_median": s["corrected_median"] is not None and s["corrected_median"] <= TARGETS["corrected_median"],
               "coverage": s["coverage"] is not None and TARGETS["coverage"][0] <= s["coverage"] <= TARGETS["coverage"][1],
               "coverage_corrected": s["coverage_corrected"] is not None and TARGETS["coverage"][0] <= s["coverage_corrected"] <= TARGETS["coverage"][1]}
           for k, s in levels.items()}
    runtime = time.perf_counter() - t0
    result = {"seed": seed, "draws_per_study": args.draws, "epochs": args.epochs, "sequence_data": seq, "levels": levels,
              "per_family": per_family, "per_regime": per_regime, "worst": worst, "targets": TARGETS, "targets_met": met,
              "pair_slowdown": pairs, "load_average": {"samples": loads, "min": min(loads), "max": max(loads), "median": statistics.median(loads)},
              "cpus": os.cpu_count(), "autogroup": autogroup(), "runtime_s": runtime, "device": dm.to_dict(), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cost_model.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    md = [f"# Cost model benchmark: whole trials of random draws (seed {seed})", "",
          f"{len(rows)} trials, {args.draws} draws per study, {args.epochs} epochs, real `hpbench search` runs at max_concurrent "
          f"{', '.join(map(str, args.concurrency))}; predicted_spent_s vs train_s. Sequence data: {seq['options']}. "
          f"Load average during the run: median {statistics.median(loads):.1f} (min {min(loads):.1f}, max {max(loads):.1f}) "
          f"on {os.cpu_count()} CPUs; scheduling group {autogroup()}; runtime {runtime:.0f} s.", ""]
    md += table("Per concurrency level", levels) + table("Per family", per_family) + table("Per regime", per_regime)
    md += ["**Worst ten**", "", "| c | family | regime | params | predicted s | measured s | error % |", "|---|---|---|---|---|---|---|"]
    md += [f"| {r['concurrent']} | {r['family']} | {r['regime']} | {json.dumps(r['params'])} | {r['predicted_s']:.3g} | {r['measured_s']:.3g} | "
           f"{100 * r['error']:+.0f} |" for r in worst]
    if pairs:
        md += ["", "**c identical trials side by side against one alone (the same configuration's train_s)**", "",
               "| group | n | measured median | measured P10-P90 | predicted median |", "|---|---|---|---|---|"]
        md += [f"| {g} | {v['n']} | {v['measured']:.3f} | {v['p10']:.3f}-{v['p90']:.3f} | {v['predicted']:.3f} |" for g, v in pairs.items()]
    md += ["", "Targets (median <= 12%, P90 <= 30%, Spearman >= 0.95, corrected median <= 8%, coverage 70-90%, of the model's interval and of the corrected one): "
           + "; ".join(f"{k}: " + ", ".join(f"{t} {'met' if v else 'MISSED'}" for t, v in m.items()) for k, m in met.items()), ""]
    (args.out / "cost_model.md").write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
