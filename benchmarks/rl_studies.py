"""The rl studies, end to end: ``studies/rl_cartpole.toml`` (PPO must solve CartPole-v1, mean
evaluation return >= 475 over 20 episodes, within 2e5 environment steps) and
``studies/rl_pendulum.toml`` (PPO on Pendulum-v1, continuous actions, must improve clearly over a
random policy), each run as ``hpbench search`` runs it (a local Ray runtime of 2 CPUs).

Figures per study: wall time (the search process, and the trials' first start to last end),
trials by stop reason, the solved trials' steps to solve, the best trial's return and
hyperparameters, a uniformly random policy's return on the same 20 evaluation episodes, the
savings from pruning (epochs run vs every trial run to max_epochs) and the cost model's error.

    .venv/bin/python benchmarks/rl_studies.py                         # runs both → results/benchmarks/rl_studies.json
    .venv/bin/python benchmarks/rl_studies.py --study rl_cartpole
    .venv/bin/python benchmarks/rl_studies.py --existing rl_cartpole=results/rl_cartpole   # summarise a finished run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import hpbench  # noqa: E402
from hpbench.results.status import StopReason  # noqa: E402

OUT = ROOT / "results" / "benchmarks" / "rl_studies.json"
STUDIES = ("rl_cartpole", "rl_pendulum")


def random_return(env_id: str, *, episodes: int = 20, seed: int = 10_000) -> float:
    """Mean return of uniformly random actions on the evaluation's episodes (eval_seed + i)."""
    from hpbench.train.rl.envs import make_env

    env = make_env(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total += float(r)
            done = term or trunc
    env.close()
    return total / episodes


def run(name: str, out: Path) -> float:
    """``hpbench search studies/<name>.toml --out OUT --num-cpus 2``; returns its wall seconds."""
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    t0 = time.perf_counter()
    run_search(load_study(ROOT / "studies" / f"{name}.toml"), SearchOptions(out=out, num_cpus=2), console=Console(file=StringIO()))
    return time.perf_counter() - t0


def summarise(name: str, out: Path, *, process_s: float | None) -> dict[str, Any]:
    from hpbench.study.parse import load_study

    study = load_study(ROOT / "studies" / f"{name}.toml")
    trials = hpbench.load(out)
    epochs = hpbench.load(out, table="epochs")
    env = study.config["data"]["env"]
    params = study.space.keys()
    best = trials.sort_values("best_val_return", ascending=False).iloc[0]
    solved = trials[trials["stop_reason"] == StopReason.SOLVED.value]
    max_epochs = int(study.config["train"]["max_epochs"])
    errors = trials["prediction_error"].dropna().abs() if "prediction_error" in trials else []
    fastest = solved.sort_values("steps_to_solve").iloc[0] if len(solved) else None
    return {
        "study": name, "env": env, "trials": len(trials),
        "stop_reasons": {str(k): int(v) for k, v in trials["stop_reason"].value_counts().items()},
        "process_wall_s": None if process_s is None else round(process_s, 1),
        "search_wall_s": round(float(trials["ended_at"].max() - trials["started_at"].min()), 1),
        "env_steps_run": int(trials["env_steps"].sum()),
        "epochs_run": int(trials["epochs"].sum()), "epochs_if_all_ran_to_max": len(trials) * max_epochs,
        "random_policy_return": round(random_return(env), 1),
        "best": {"trial": int(best["trial"]), "best_val_return": round(float(best["best_val_return"]), 2),
                 "stop_reason": str(best["stop_reason"]), "steps_to_solve": _int(best.get("steps_to_solve")),
                 "env_steps": int(best["env_steps"]), "params": {p: _plain(best[p]) for p in params}},
        "solved": len(solved),
        "steps_to_solve": sorted(int(s) for s in solved["steps_to_solve"]) if len(solved) else [],
        "fastest_solve": None if fastest is None else {"trial": int(fastest["trial"]), "steps_to_solve": int(fastest["steps_to_solve"]),
                                                        "params": {p: _plain(fastest[p]) for p in params}},
        "epoch_s_median": round(float(epochs["epoch_s"].median()), 3),
        "prediction_abs_error_median": round(float(errors.median()), 3) if len(errors) else None,
        "predicted_over_measured_median": round(float((trials["predicted_spent_s"] / trials["measured_s"]).median()), 3)
        if "predicted_spent_s" in trials else None,
    }


def _int(v: Any) -> int | None:
    import pandas as pd

    return None if v is None or pd.isna(v) else int(v)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", action="append", choices=STUDIES, help="run only these (repeatable)")
    ap.add_argument("--existing", action="append", default=[], metavar="NAME=DIR", help="summarise a finished run instead of running it")
    ap.add_argument("--process-s", action="append", default=[], metavar="NAME=SECONDS",
                    help="with --existing: the wall seconds the search process took (measured outside, e.g. /usr/bin/time)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "results", help="where the searches write (results/<name>)")
    args = ap.parse_args()
    existing = dict(e.split("=", 1) for e in args.existing)
    report: dict[str, Any] = {"machine": platform.node(), "cpus": os.cpu_count(), "load_at_start": os.getloadavg()[0], "studies": {}}
    for name in args.study or [n for n in STUDIES if not existing or n in existing]:
        measured = {k: float(v) for k, v in (e.split("=", 1) for e in args.process_s)}
        out, process_s = (Path(existing[name]), measured.get(name)) if name in existing else (args.out_dir / name, None)
        if name not in existing:
            process_s = run(name, out)
        summary = summarise(name, out, process_s=process_s)
        report["studies"][name] = summary
        print(json.dumps(summary, indent=1))
    report["load_at_end"] = os.getloadavg()[0]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.is_file() else {}
    merged = {**previous, **report, "studies": {**previous.get("studies", {}), **report["studies"]}}
    OUT.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
