"""A small TPE search over adversarial-training hyperparameters on ring8 (issue 16), on one CPU thread.

Searched: G and D learning rates (Adam, each its own), Adam's betas (0.5, 0.999) or (0.9, 0.999),
the loss (non_saturating / hinge / wasserstein_gp), D steps per G step (1, 2, 5) and the
generator average (off / 0.999). Every trial trains the same number of generator steps and is
scored on its *final* evaluation (no best-epoch picking): modes_covered + hq_fraction. Trials stop
early when the collapse rule or divergence says so. The first trial is the vanilla GAN of Metz et
al. 2017's comparison (non-saturating loss, one D step, Adam 1e-4, β1 = 0.5), enqueued.

The search stops launching trials once ``--budget-s`` seconds of this process's CPU time are spent
(one thread, so CPU seconds = seconds of one core; the machine is shared, so wall time varies with
the load and is reported beside it). Afterwards the best configuration is re-trained with other
seeds (``--repeats``), timed apart from the search.

    .venv/bin/python benchmarks/gan.py            # writes results/benchmarks/gan.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import optuna
import torch

from hpbench.config import OptimizerConfig
from hpbench.train.gan.config import GANConfig
from hpbench.train.gan.cost import config_epoch_flops
from hpbench.train.gan.evaluate import MixtureEvaluator
from hpbench.train.gan.mixtures import mixture, train_val
from hpbench.train.gan.run import GANRun

BETAS = {"0.5": (0.5, 0.999), "0.9": (0.9, 0.999)}
VANILLA = {"g_lr": 1e-4, "d_lr": 1e-4, "beta1": "0.5", "loss": "non_saturating", "d_steps": 1, "g_ema": 0.0}
TARGET_MODES, TARGET_HQ = 8, 0.8


def make_config(params: dict[str, Any], *, seed: int, steps_per_epoch: int) -> GANConfig:
    betas = BETAS[params["beta1"]]
    return GANConfig(
        seed=seed, loss=params["loss"], d_steps=params["d_steps"], g_ema=params["g_ema"], steps_per_epoch=steps_per_epoch,
        g_optimizer=OptimizerConfig(name="adam", lr=params["g_lr"], params={"betas": betas}),
        d_optimizer=OptimizerConfig(name="adam", lr=params["d_lr"], params={"betas": betas}),
    )


def train_one(params: dict[str, Any], *, dataset: str, seed: int, epochs: int, steps_per_epoch: int) -> dict[str, Any]:
    cfg = make_config(params, seed=seed, steps_per_epoch=steps_per_epoch)
    x_train, _ = train_val(dataset, seed=seed)
    run = GANRun(cfg, x_train=x_train, evaluator=MixtureEvaluator(mixture=mixture(dataset), min_share=cfg.mode_min_share))
    start, cpu_start, history = time.perf_counter(), time.process_time(), []
    for _ in range(epochs):
        history.append(run.train_epoch())
        if run.stop_reason is not None:
            break
    last = history[-1]
    modes, hq = last.get("modes_covered", 0.0), last.get("hq_fraction", 0.0)
    return {
        "params": params, "seed": seed, "epochs": len(history), "g_steps": run.g_steps,
        "stop_reason": str(run.stop_reason) if run.stop_reason else "completed",
        "modes_covered": int(modes), "hq_fraction": hq, "g_loss": last["g_loss"], "d_loss": last["d_loss"],
        "meets_target": int(modes) >= TARGET_MODES and hq >= TARGET_HQ,
        "seconds": time.perf_counter() - start, "cpu_s": time.process_time() - cpu_start, "flops": config_epoch_flops(cfg, data_dim=2) * len(history),
        "modes_by_epoch": [int(h.get("modes_covered", 0)) for h in history],
        "hq_by_epoch": [round(h.get("hq_fraction", 0.0), 4) for h in history],
    }


def suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "g_lr": trial.suggest_float("g_lr", 1e-4, 3e-3, log=True),
        "d_lr": trial.suggest_float("d_lr", 1e-4, 3e-3, log=True),
        "beta1": trial.suggest_categorical("beta1", list(BETAS)),
        "loss": trial.suggest_categorical("loss", ["non_saturating", "hinge", "wasserstein_gp"]),
        "d_steps": trial.suggest_categorical("d_steps", [1, 2, 5]),
        "g_ema": trial.suggest_categorical("g_ema", [0.0, 0.999]),
    }


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(trials)
    best = max(trials, key=lambda t: (t["modes_covered"] + t["hq_fraction"], -t["cpu_s"]))
    return {
        "n_trials": n,
        "share_no_collapse_or_divergence": sum(t["stop_reason"] == "completed" for t in trials) / n,
        "share_all_8_modes": sum(t["modes_covered"] == TARGET_MODES for t in trials) / n,
        "share_meeting_target": sum(t["meets_target"] for t in trials) / n,
        "n_collapsed": sum(t["stop_reason"] == "collapsed" for t in trials),
        "n_diverged": sum(t["stop_reason"] == "diverged" for t in trials),
        "best": {k: best[k] for k in ("params", "modes_covered", "hq_fraction", "stop_reason", "seconds", "cpu_s")},
        "vanilla": {k: trials[0][k] for k in ("params", "modes_covered", "hq_fraction", "stop_reason")},
        "by_loss": {loss: {"n": len(ts), "meets_target": sum(t["meets_target"] for t in ts)}
                    for loss in ("non_saturating", "hinge", "wasserstein_gp") if (ts := [t for t in trials if t["params"]["loss"] == loss])},
        "by_g_ema": {str(e): {"n": len(ts), "meets_target": sum(t["meets_target"] for t in ts)}
                     for e in (0.0, 0.999) if (ts := [t for t in trials if t["params"]["g_ema"] == e])},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ring8", choices=["ring8", "grid25"])
    ap.add_argument("--budget-s", type=float, default=600.0, help="CPU seconds (one thread) after which no new trial starts")
    ap.add_argument("--max-trials", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=16, help="evaluations per trial")
    ap.add_argument("--steps-per-epoch", type=int, default=250, help="generator steps per evaluation")
    ap.add_argument("--repeats", type=int, default=2, help="extra seeds for the best configuration after the search")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/gan.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed, n_startup_trials=8))
    study.enqueue_trial(VANILLA)
    trials: list[dict[str, Any]] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    while len(trials) < args.max_trials and time.process_time() - cpu_start < args.budget_s:
        trial = study.ask()
        row = train_one(suggest(trial), dataset=args.dataset, seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
        study.tell(trial, row["modes_covered"] + row["hq_fraction"])
        trials.append(row)
        p = row["params"]
        print(f"#{len(trials):2d} {p['loss']:<15} d_steps={p['d_steps']} g_lr={p['g_lr']:.1e} d_lr={p['d_lr']:.1e} β1={p['beta1']} "
              f"ema={p['g_ema']:<5} → modes {row['modes_covered']}/8 hq {row['hq_fraction']:.3f} {row['stop_reason']:<9} "
              f"{row['epochs']} ep {row['cpu_s']:.0f} cpu-s (search: {time.process_time() - cpu_start:.0f} cpu-s, {time.perf_counter() - start:.0f} s wall)", flush=True)
    search_s, search_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    summary = summarize(trials)

    repeats = [train_one(summary["best"]["params"], dataset=args.dataset, seed=args.seed + 1 + i, epochs=args.epochs,
                         steps_per_epoch=args.steps_per_epoch) for i in range(args.repeats)]
    result = {
        "benchmark": "gan", "dataset": args.dataset, "device": "cpu", "threads": 1, "torch": torch.__version__,
        "optuna": optuna.__version__, "machine": platform.machine(), "searcher": "optuna TPE", "seed": args.seed,
        "g_steps_per_trial": args.epochs * args.steps_per_epoch, "budget_cpu_s": args.budget_s, "search_cpu_s": search_cpu_s,
        "search_wall_s": search_s, "search_flops": sum(t["flops"] for t in trials),
        "target": f"modes_covered == {TARGET_MODES} and hq_fraction >= {TARGET_HQ} at the final evaluation",
        "summary": summary,
        "best_repeats": [{k: r[k] for k in ("seed", "modes_covered", "hq_fraction", "stop_reason", "meets_target", "seconds", "cpu_s")} for r in repeats],
        "trials": trials,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    s = summary
    print(f"\nsearch: {s['n_trials']} trials in {search_cpu_s:.0f} CPU s ({search_s:.0f} s wall); no collapse/divergence {s['share_no_collapse_or_divergence']:.0%}, "
          f"8/8 modes {s['share_all_8_modes']:.0%}, target met {s['share_meeting_target']:.0%}")
    print(f"best: {s['best']['params']} → modes {s['best']['modes_covered']}/8, hq {s['best']['hq_fraction']:.3f}")
    print(f"vanilla: modes {s['vanilla']['modes_covered']}/8, hq {s['vanilla']['hq_fraction']:.3f} ({s['vanilla']['stop_reason']})")
    for r in repeats:
        print(f"best config, seed {r['seed']}: modes {r['modes_covered']}/8, hq {r['hq_fraction']:.3f} ({r['stop_reason']})")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
