"""The classic training claims, measured as a benchmarking tool should: runs the studies in
``studies/claims/`` (real ``hpbench search``es) and writes ``results/claims/README.md`` and
``claims.json``.

    .venv/bin/python benchmarks/claims.py [--only optimizers,init] [--cpus 2] [--out results/claims]

Each claim compares arms (the optimizers, the initializations, ...). A claim's study names its
arms as the grid of one [space] key (``ARMS``); every arm gets a search of its own over the rest
of the space (its own tuned hyperparameters, picked by the study metric), then its best
configuration is re-run with ``repeats`` (5) other seeds. Only those seeds are compared (the
search run was selected for being good): per arm, mean ± 95% t-interval; per comparison, the
difference of the means with its Welch 95% interval. A verdict is **held** when the interval
of the claimed advantage lies above zero for every comparison the claim makes, **not held**
when one lies below zero (the opposite is shown), **not distinguishable** otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shutil
import statistics
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies" / "claims"
# In dependency order: the transfer and distill studies read the weights their first step saved.
ORDER = ("optimizers", "init", "early_stopping", "batch_size", "recurrent",
         "transfer_pretrain", "transfer_finetune", "transfer_scratch", "distill_teacher", "distill_student", "gan_stability")
# The [space] key whose grid values are a claim study's arms (a study not listed is one arm).
ARMS = {"optimizers": "optimizer", "init": "init", "early_stopping": "train.early_stopping.patience", "batch_size": "batch_size",
        "recurrent": "family", "transfer_finetune": "model.freeze", "distill_student": "distill.alpha"}
# Saved trials other studies start from ("RESULTS_DIR:best", pointed at this run's --out).
REFERENCES = {"transfer_finetune": ("model", "init_from", "transfer_pretrain"), "distill_student": ("distill", "teacher", "distill_teacher")}
TARGET = 0.95  # validation accuracy the time-to-target claims use (digits)
HELD, NOT_HELD, UNCLEAR = "held", "not held", "not distinguishable"


# -- running: one search per arm, then its repeats -------------------------------------------------
def arms(name: str, out: Path) -> list[tuple[str, dict[str, Any]]]:
    """(label, raw study) per arm of study ``name``: the arm key's grid value fixed, its [space]
    entry removed, the study named ``<name>-<label>``."""
    from hpbench.study.keys import ALIASES

    raw = tomllib.loads((STUDIES / f"{name}.toml").read_text(encoding="utf-8"))
    if name in REFERENCES:
        section, key, study = REFERENCES[name]
        raw[section][key] = f"{out / study}:best"
    key = ARMS.get(name)
    if key is None:
        return [(name, raw)]
    values = raw["space"][key]["grid"]
    out_arms = []
    for value in values:
        arm = copy.deepcopy(raw)
        del arm["space"][key]
        *parents, leaf = ALIASES.get(key, key).split(".")
        node = arm
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
        label = str(value)
        arm["study"]["name"] = f"{name}-{label}"
        out_arms.append((label, arm))
    return out_arms


def arm_dir(out: Path, name: str, label: str) -> Path:
    return out / name if label == name else out / name / label


def run_studies(names: list[str], out: Path, cpus: int) -> dict[str, float]:
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import parse_study

    walls = {}
    for name in names:
        if (out / name).exists():
            shutil.rmtree(out / name)  # a fresh measurement every run
        t0 = time.perf_counter()
        for label, raw in arms(name, out):
            study = parse_study(raw, source=str(STUDIES / f"{name}.toml"), default_name=name, base_dir=STUDIES)
            opts = SearchOptions(out=arm_dir(out, name, label), num_cpus=cpus, repeats=study.settings.repeats)
            run_search(study, opts, console=Console(stderr=True, quiet=True))
        walls[name] = time.perf_counter() - t0
        print(f"{name}: {walls[name]:.1f} s", flush=True)
    return walls


# -- reading the tables: one row per repeat seed ---------------------------------------------------
def tables(path: Path) -> tuple[Any, Any]:
    from hpbench.results.load import load

    return load(path, "trials"), load(path, "epochs")


def _f(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return float(v) if isinstance(v, (int, float)) else v


def to_target(epochs: Any, trial: int, target: float, metric: str = "val_accuracy") -> dict[str, Any]:
    """Seconds (sum of epoch_s) and epochs until ``metric`` first reaches ``target``."""
    e = epochs[epochs["trial"] == trial].sort_values("epoch")
    hit = e[e[metric] >= target]
    if hit.empty:
        return {"reached": False, "epochs": None, "seconds": None}
    n = int(hit["epoch"].iloc[0])
    return {"reached": True, "epochs": n, "seconds": float(e[e["epoch"] <= n]["epoch_s"].sum())}


def seeds(out: Path, name: str, label: str, *, target: float = TARGET) -> dict[str, Any]:
    """An arm's tuned hyperparameters and, per repeat seed: accuracy, time, epochs and FLOPs to
    ``target``. A seed that never reached the target counts its whole run (a lower bound of its
    time to target) and is marked ``reached = False``."""
    from hpbench.api.fixed import typed_params

    trials, epochs = tables(arm_dir(out, name, label))
    search = trials[trials["repeat"].fillna(0) == 0] if "repeat" in trials else trials
    reps = trials[trials["repeat"].fillna(0) > 0] if "repeat" in trials else trials.iloc[0:0]
    record = json.loads((arm_dir(out, name, label) / "study.json").read_text())
    params = [c for c in search.columns if c in record["space"]]
    tuned_trial = int(reps["repeat_of"].iloc[0]) if len(reps) else int(search.sort_values("best_val_accuracy").iloc[-1]["trial"])
    tuned = typed_params(search[search["trial"] == tuned_trial].iloc[0].to_dict(), record.get("raw", {}).get("space", {}), params)
    rows = []
    for _, t in (reps if len(reps) else search[search["trial"] == tuned_trial]).iterrows():
        tt = to_target(epochs, int(t["trial"]), target)
        fpe = _f(t.get("flops_per_epoch"))
        n_ep = tt["epochs"] if tt["reached"] else int(t["epochs"])
        rows.append({"seed": _f(t.get("seed")), "best_val_accuracy": _f(t["best_val_accuracy"]), "val_accuracy": _f(t.get("val_accuracy")),
                     "train_s": _f(t["train_s"]), "epochs_run": int(t["epochs"]), "stop_reason": t["stop_reason"], "reached": tt["reached"],
                     "epochs_to_target": n_ep, "seconds_to_target": tt["seconds"] if tt["reached"] else _f(t["train_s"]),
                     "flops_to_target": fpe * n_ep if fpe else None})
    return {"tuned": {k: (v.item() if hasattr(v, "item") else v) for k, v in tuned.items()}, "search_trials": len(search), "seeds": rows}


# -- statistics and verdicts -----------------------------------------------------------------------
def summary(arm: dict[str, Any], measure: str) -> dict[str, Any]:
    from hpbench.report.stats import mean_ci

    ci = mean_ci([r[measure] for r in arm["seeds"] if r[measure] is not None])
    return {"n": ci.n, "mean": _f(ci.mean), "ci95": [_f(ci.low), _f(ci.high)]}


def compare(better: dict[str, Any], other: dict[str, Any], measure: str, *, lower_is_better: bool, margin: float = 0.0) -> dict[str, Any]:
    """The claimed advantage of ``better`` over ``other`` on ``measure`` (other - better when lower
    is better, else better - other), its Welch 95% interval, and the verdict: held when the
    interval lies above ``margin``, not held when below it, not distinguishable otherwise."""
    from hpbench.report.stats import mean_difference

    a = [r[measure] for r in better["seeds"] if r[measure] is not None]
    b = [r[measure] for r in other["seeds"] if r[measure] is not None]
    d = mean_difference(b, a) if lower_is_better else mean_difference(a, b)
    verdict = HELD if d.low > margin else NOT_HELD if d.high < margin else UNCLEAR
    return {"advantage": _f(d.diff), "ci95": [_f(d.low), _f(d.high)], "p": _f(d.p), "verdict": verdict}


def overall(verdicts: list[str]) -> str:
    return NOT_HELD if NOT_HELD in verdicts else HELD if verdicts and all(v == HELD for v in verdicts) else UNCLEAR


def fmt_ci(s: dict[str, Any], digits: int = 3) -> str:
    lo, hi = s["ci95"]
    if s["mean"] is None:
        return "-"
    return f"{s['mean']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]" if lo is not None else f"{s['mean']:.{digits}f}"


def arms_result(out: Path, name: str, *, target: float = TARGET) -> dict[str, dict[str, Any]]:
    return {label: seeds(out, name, label, target=target) for label, _ in arms(name, out)}


def head_to_head(per: dict[str, dict[str, Any]], claimed: str, others: list[str], measure: str, *, lower_is_better: bool,
                 margin: float = 0.0) -> tuple[dict[str, Any], str]:
    comps = {f"{claimed} vs {o}": compare(per[claimed], per[o], measure, lower_is_better=lower_is_better, margin=margin) for o in others}
    return comps, overall([c["verdict"] for c in comps.values()])


# -- the claims --------------------------------------------------------------------------------------
def _arms_table(per: dict[str, dict[str, Any]], measures: tuple[str, ...]) -> dict[str, Any]:
    return {label: {"tuned": a["tuned"], "search_trials": a["search_trials"], "n_seeds": len(a["seeds"]),
                    "reached_target": sum(1 for r in a["seeds"] if r["reached"]),
                    **{m: summary(a, m) for m in measures}, "seeds": a["seeds"]} for label, a in per.items()}


def optimizers(out: Path) -> dict[str, Any]:
    per = arms_result(out, "optimizers")
    others = [o for o in per if o != "adam"]
    comps, verdict = head_to_head(per, "adam", others, "seconds_to_target", lower_is_better=True)
    by_epochs, epochs_verdict = head_to_head(per, "adam", others, "epochs_to_target", lower_is_better=True)
    table = _arms_table(per, ("seconds_to_target", "epochs_to_target", "flops_to_target", "best_val_accuracy"))
    return {"claim": "Adam reaches the target accuracy in less time and fewer FLOPs than SGD, momentum, Nesterov, Adagrad, RMSprop",
            "measured": f"MLP 64x2 on digits, batch 64, 15 epochs; each optimizer's lr tuned by its own search (grid of 6), then 5 seeds; "
                        f"seconds to val_accuracy >= {TARGET} (epochs and FLOPs too)",
            "arms": table, "comparisons": comps, "comparisons_epochs": by_epochs, "verdict_epochs": epochs_verdict, "held": verdict,
            "result": "; ".join(f"{k} {fmt_ci(v['seconds_to_target'])} s" for k, v in table.items())
                      + f". Epochs to target: {epochs_verdict} (" + ", ".join(f"{k} {v['epochs_to_target']['mean']:.1f}" for k, v in table.items()) + ")"}


def init(out: Path) -> dict[str, Any]:
    per = arms_result(out, "init")
    comps, verdict = head_to_head(per, "normal", ["zeros"], "best_val_accuracy", lower_is_better=False)
    table = _arms_table(per, ("best_val_accuracy",))
    return {"claim": "all-zero initialization fails (symmetry); a small random initialization learns",
            "measured": "MLP 64x2 on digits, Adam, 15 epochs; each init's lr tuned by its own search (grid of 4), then 5 seeds; best val_accuracy "
                        "(normal = N(0, 0.05^2); chance 0.1)",
            "arms": table, "comparisons": comps, "held": verdict,
            "result": "; ".join(f"{k} {fmt_ci(v['best_val_accuracy'])}" for k, v in table.items())}


def early_stopping(out: Path) -> dict[str, Any]:
    per = arms_result(out, "early_stopping")
    base = str(max(int(k) for k in per))
    comps: dict[str, Any] = {}
    verdicts = []
    for p in (k for k in per if k != base):
        time_cut = compare(per[p], per[base], "train_s", lower_is_better=True)
        # the accuracy cost (baseline - early-stopped) is small when its interval lies below 0.02
        cost = compare(per[base], per[p], "val_accuracy", lower_is_better=False)
        cost["verdict"] = HELD if cost["ci95"][1] is not None and cost["ci95"][1] <= 0.02 else NOT_HELD if (cost["ci95"][0] or 0) > 0.02 else UNCLEAR
        comps[f"patience {p}: seconds saved vs patience {base}"] = time_cut
        comps[f"patience {p}: accuracy cost vs patience {base} (held: interval <= 0.02)"] = cost
        verdicts.append(overall([time_cut["verdict"], cost["verdict"]]))
    table = _arms_table(per, ("train_s", "epochs_run", "val_accuracy"))
    return {"claim": "early stopping cuts training time at a small accuracy cost",
            "measured": f"MLP 64x2 on digits, Adam, up to 50 epochs, monitor val_loss, restore_best_weights; patience {base} = never stops "
                        "(baseline); each arm's lr tuned by its own search (grid of 3), then 5 seeds. Time cut: baseline - early-stopped train_s; "
                        "accuracy cost: baseline - early-stopped val_accuracy of the restored model (small: its 95% interval <= 0.02)",
            "arms": table, "comparisons": comps, "held": overall(verdicts),
            "result": "; ".join(f"patience {k}: {fmt_ci(v['train_s'], 2)} s, {fmt_ci(v['val_accuracy'])} acc" for k, v in table.items())}


def batch_size(out: Path) -> dict[str, Any]:
    per = arms_result(out, "batch_size")
    table = _arms_table(per, ("seconds_to_target", "epochs_to_target", "best_val_accuracy"))
    mini = [k for k in per if k != "full"]
    best = min(mini, key=lambda k: table[k]["seconds_to_target"]["mean"] or math.inf)
    comps, verdict = head_to_head(per, best, ["full"], "seconds_to_target", lower_is_better=True)
    return {"claim": "mini-batch gradient descent reaches a target accuracy sooner than full-batch",
            "measured": f"MLP 64x2 on digits, Adam, up to 40 epochs; each batch size's lr tuned by its own search (grid of 5), then 5 seeds; "
                        f"seconds to val_accuracy >= {TARGET} (a seed that never reached it counts its whole run); the fastest mini-batch vs full",
            "arms": table, "fastest_mini_batch": best, "comparisons": comps, "held": verdict,
            "result": "; ".join(f"{k} {fmt_ci(v['seconds_to_target'], 2)} s ({v['reached_target']}/{v['n_seeds']} reached)" for k, v in table.items())}


def recurrent(out: Path) -> dict[str, Any]:
    per = arms_result(out, "recurrent")
    comps = {f"{f} vs rnn": compare(per[f], per["rnn"], "best_val_accuracy", lower_is_better=False) for f in ("lstm", "gru")}
    table = _arms_table(per, ("best_val_accuracy", "train_s"))
    return {"claim": "LSTM/GRU learn a long-range dependency a plain RNN does not (vanishing gradients)",
            "measured": "temporal_order sequences, seq_len 60, 2000 sequences (1600 train), Adam, clip_norm 1, 20 epochs; each family's lr and "
                        "hidden size tuned by its own search (grid of 6), then 5 seeds; best val_accuracy (chance 0.25)",
            "arms": table, "comparisons": comps, "held": overall([c["verdict"] for c in comps.values()]),
            "result": "; ".join(f"{k} {fmt_ci(v['best_val_accuracy'])}" for k, v in table.items())
                      + " (" + ", ".join(f"{k}: {c['verdict']}" for k, c in comps.items()) + ")"}


def transfer(out: Path) -> dict[str, Any]:
    target = 0.9
    per = {f"transfer, freeze={k}": v for k, v in arms_result(out, "transfer_finetune", target=target).items()}
    per["from scratch"] = seeds(out, "transfer_scratch", "transfer_scratch", target=target)
    pre, _ = tables(out / "transfer_pretrain")
    table = _arms_table(per, ("epochs_to_target", "seconds_to_target", "best_val_accuracy"))
    best = min((k for k in per if k != "from scratch"), key=lambda k: table[k]["epochs_to_target"]["mean"] or math.inf)
    comps, verdict = head_to_head(per, best, ["from scratch"], "epochs_to_target", lower_is_better=True)
    return {"claim": "transfer learning reaches a target accuracy sooner than training from scratch",
            "measured": f"MLP 128x2 pre-trained on digits 0-4 (best val_accuracy {float(pre['best_val_accuracy'].max()):.3f}), fine-tuned on digits 5-9 "
                        f"with ~180 training samples (new 5-class head; freeze=1: head only, freeze=99: all layers); each arm's lr tuned by its own "
                        f"search (grid of 4), then 5 seeds; epochs to val_accuracy >= {target} (a seed that never reached it counts its whole run)",
            "arms": table, "fastest_transfer": best, "comparisons": comps, "held": verdict,
            "result": "; ".join(f"{k}: {fmt_ci(v['epochs_to_target'], 1)} epochs ({v['reached_target']}/{v['n_seeds']} reached)" for k, v in table.items())}


def distill(out: Path) -> dict[str, Any]:
    per = {f"alpha={k}": v for k, v in arms_result(out, "distill_student").items()}
    te, _ = tables(out / "distill_teacher")
    table = _arms_table(per, ("best_val_accuracy",))
    alone = "alpha=0.0"
    best = max((k for k in per if k != alone), key=lambda k: table[k]["best_val_accuracy"]["mean"] or 0.0)
    comps, verdict = head_to_head(per, best, [alone], "best_val_accuracy", lower_is_better=False)
    return {"claim": "a small student distilled from a large teacher beats the same student trained alone",
            "measured": "teacher MLP 256x2, student MLP 8x1, digits with val_fraction 0.5, T = 4, 30 epochs, Adam; alpha = 0 is the student alone; "
                        "each alpha's lr tuned by its own search (grid of 3), then 5 seeds; best val_accuracy",
            "teacher": {"best_val_accuracy": _f(te["best_val_accuracy"].max()), "n_params": int(te["n_params"].iloc[0])},
            "arms": table, "best_distilled": best, "comparisons": comps, "held": verdict,
            "result": "; ".join(f"{k} {fmt_ci(v['best_val_accuracy'])}" for k, v in table.items())
                      + f"; teacher {float(te['best_val_accuracy'].max()):.3f}"}


def prediction(out: Path, names: list[str]) -> dict[str, Any]:
    import statistics

    pairs = []
    for name in names:
        for label, _ in arms(name, out):
            trials, _ = tables(arm_dir(out, name, label))
            if "predicted_epoch_s" not in trials:
                continue
            for _, t in trials.iterrows():
                if _f(t.get("predicted_epoch_s")) and t.get("epochs"):
                    pairs.append(float(t["train_s"]) / int(t["epochs"]) / float(t["predicted_epoch_s"]))
    within2 = sum(1 for r in pairs if 0.5 <= r <= 2.0)
    return {"claim": "the cost model predicts training time on two devices (CPU vs GPU)",
            "measured": "every trial above: hpbench's predicted seconds per epoch vs measured (train_s / epochs), CPU only: no GPU here",
            "n_trials": len(pairs), "median_ratio_measured_over_predicted": statistics.median(pairs) if pairs else None, "within_2x": within2,
            "held": "n/a", "result": (f"CPU: median measured/predicted {statistics.median(pairs):.2f}, {within2}/{len(pairs)} within 2x; GPU: not measured"
                                      if pairs else "no predictions in the tables")}


# The literature's vanilla GAN on the ring of 8 Gaussians: Srivastava et al. 2017 (VEEGAN), table 1,
# "GAN" on 2D Ring: 1.0 mode covered of 8, 99.3 % high-quality samples (Metz et al. 2017, fig. 2:
# the standard GAN visits one mode at a time).
LITERATURE_GAN_RING = {"modes": 1.0, "hq_fraction": 0.993, "source": "Srivastava et al. 2017 (VEEGAN), table 1"}
GOOD_GAN = (8, 0.8)  # all 8 modes at hq_fraction >= 0.8: the done-criterion of a searched GAN


def wilson(k: int, n: int, z: float = 1.96) -> list[float | None]:
    """The Wilson 95% interval of a share k/n (Wilson 1927): sound at 0 and n, unlike k/n +- z*se."""
    if n == 0:
        return [None, None]
    p, d = k / n, 1 + z * z / n
    mid, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, mid - half), min(1.0, mid + half)]


def gan_configurations(out: Path) -> list[dict[str, Any]]:
    """Per configuration of the gan_stability grid: its values, how it ended, and its modes and
    hq_fraction at the final evaluation (a collapsed or diverged one: where it stopped)."""
    from hpbench.api.fixed import typed_params
    from hpbench.results.status import StopReason

    trials, epochs = tables(out / "gan_stability")
    record = json.loads((out / "gan_stability" / "study.json").read_text())
    raw_space = record.get("raw", {}).get("space", {})
    rows = []
    for t in trials.sort_values("trial").to_dict("records"):
        e = epochs[epochs["trial"] == t["trial"]].sort_values("epoch")
        last = e.iloc[-1] if len(e) else {}
        stop = str(t.get("stop_reason"))
        rows.append({**typed_params(t, raw_space, list(raw_space)), "stop_reason": stop, "epochs": int(t.get("epochs") or 0),
                     "stable": stop not in (StopReason.COLLAPSED, StopReason.DIVERGED, StopReason.FAILED),
                     "modes": _f(last.get("val_modes_covered")), "hq_fraction": _f(last.get("val_hq_fraction")),
                     "best_modes_hq": _f(t.get("best_val_modes_hq")), "train_s": _f(t.get("train_s"))})
    return rows


def gan(out: Path) -> dict[str, Any]:
    rows = gan_configurations(out)
    n = len(rows)
    stable = [r for r in rows if r["stable"]]
    good = [r for r in rows if (r["modes"] or 0) >= GOOD_GAN[0] and (r["hq_fraction"] or 0) >= GOOD_GAN[1]]
    best = max(rows, key=lambda r: (r["modes"] or 0) + (r["hq_fraction"] or 0))
    share_good = wilson(len(good), n)
    # held: most of the range does not train a mode-covering GAN (the 95% interval of the share
    # reaching 8/8 at hq >= 0.8 lies below one half) and some configurations collapse or diverge
    verdict = HELD if share_good[1] is not None and share_good[1] < 0.5 and len(stable) < n else \
        NOT_HELD if share_good[0] is not None and share_good[0] > 0.5 else UNCLEAR
    covered = [r["modes"] or 0 for r in stable]
    ended = {"no mode": sum(1 for r in rows if not r["stable"] and (r["modes"] or 0) == 0),
             "one mode": sum(1 for r in rows if not r["stable"] and r["modes"] == 1)}
    # the literature's vanilla setting: Adam 1e-4, beta1 0.5 for both networks (Metz et al. 2017, appendix A)
    vanilla = next((r for r in rows if r.get("lr") == 1e-4 and r.get("train.d_lr") == 1e-4 and list(r.get("optimizer.betas") or ()) == [0.5, 0.999]),
                   None)
    lit = LITERATURE_GAN_RING
    return {"claim": "GANs need careful tuning: over a range of learning rates and Adam betas few configurations converge without collapse; "
                     f"a vanilla GAN on ring8 covers about {lit['modes']:.0f} of 8 modes ({lit['source']})",
            "measured": f"non-saturating GAN on ring8 (MLP G and D, 2 x 128), grid of {n}: G lr {{1e-4, 3e-4, 1e-3, 3e-3}} x G Adam betas "
                        "{(0.5, 0.999), (0.9, 0.999)} x D lr {1e-4, 1e-3}, 4,000 G steps each (stopped earlier on collapse: <= 1 mode for 3 "
                        "evaluations after 8, or D loss < 1e-3); modes and hq_fraction at the final evaluation (2,500 samples; seed 0)",
            "configurations": rows, "n": n, "stable": len(stable), "stable_share": len(stable) / n if n else None, "stable_ci95": wilson(len(stable), n),
            "good": len(good), "good_share": len(good) / n if n else None, "good_ci95": share_good,
            "stable_modes_median": statistics.median(covered) if covered else None, "collapsed_at": ended, "vanilla": vanilla,
            "best": best, "literature": lit, "held": verdict,
            "result": f"{len(stable)} of {n} end without collapse or divergence (share {len(stable) / n:.2f}, 95% CI "
                      f"[{wilson(len(stable), n)[0]:.2f}, {wilson(len(stable), n)[1]:.2f}]); {len(good)} of {n} cover 8/8 modes at hq >= 0.8 "
                      f"(95% CI [{share_good[0]:.2f}, {share_good[1]:.2f}]); median modes of the stable ones "
                      f"{statistics.median(covered) if covered else '-'}; best: {best['modes']:.0f}/8 modes at hq {best['hq_fraction']:.3f} "
                      f"(G lr {best.get('lr')}, betas {best.get('optimizer.betas')}, D lr {best.get('train.d_lr')}) vs the literature's "
                      f"{lit['modes']:.0f}/8 at hq {lit['hq_fraction']}"}


# -- the report ----------------------------------------------------------------------------------------
def write(out: Path, results: dict[str, Any], meta: dict[str, Any]) -> None:
    (out / "claims.json").write_text(json.dumps({"meta": meta, "claims": results}, indent=2, default=str) + "\n", encoding="utf-8")
    walls = ", ".join(f"{k} {v:.0f} s" for k, v in meta["study_wall_s"].items())
    lines = ["# The classic training claims, measured", "",
             f"Run by `benchmarks/claims.py` on {meta['machine']} (CPU only, {meta['cpus_used']} Ray CPUs on a 2-core machine shared with other "
             f"work, 1-minute load average {meta.get('load_average_1min', {}).get('start', '?')} at the start and "
             f"{meta.get('load_average_1min', {}).get('end', '?')} at the end: seconds are noisy, epochs are not). Each arm of a claim had its own hyperparameter search (its tuned values are in the "
             "details), then its best configuration ran with 5 other seeds (repeats); only those seeds are compared. Values are the mean "
             "[95% t-interval] over the seeds; a verdict is **held** when the 95% Welch interval of the claimed advantage lies above zero in "
             "every comparison the claim makes, **not held** when one lies below zero, **not distinguishable** otherwise. "
             f"Studies: `studies/claims/*.toml` (the arms: one [space] key's grid); tables: `results/claims/<study>/<arm>/`. Wall time: {walls}."
             + (" The gan claim is different: one grid without arms or repeats (shares of configurations with Wilson 95% intervals), run on its "
                f"own ({results['gan'].get('run', {}).get('started', '?')}, load average {results['gan'].get('run', {}).get('load_average_1min')}); "
                "its entry: `results/claims/gan_stability.md`." if "gan" in results else ""), "",
             "| claim | measured on | result (mean [95% CI] over 5 seeds per arm) | verdict |", "|---|---|---|---|"]
    for r in results.values():
        lines.append(f"| {r['claim']} | {r['measured']} | {r['result']} | {r['held']} |")
    lines += ["", "## Comparisons", "", "advantage = the claimed better arm's lead (in the measure's unit), with its Welch 95% interval and p.", ""]
    for name, r in results.items():
        for key in ("comparisons", "comparisons_epochs"):
            unit = " (epochs)" if key == "comparisons_epochs" else ""
            for what, c in r.get(key, {}).items():
                lo, hi = c["ci95"]
                span = f"[{lo:.4g}, {hi:.4g}]" if lo is not None else "[-]"
                p = f"{c['p']:.3g}" if c["p"] is not None else "-"
                lines.append(f"- {name}: {what}{unit}: advantage {c['advantage']:.4g} {span}, p = {p}: **{c['verdict']}**")
    lines += ["", "## Details", ""]
    for name, r in results.items():
        detail = {k: v for k, v in r.items() if k not in ("claim",)}
        lines += [f"### {name}", "", "```json", json.dumps(detail, indent=1, default=str), "```", ""]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_gan(path: Path, r: dict[str, Any]) -> None:
    """results/claims/gan_stability.md: the GAN claim's entry, rendered from its measured run."""
    run = r.get("run") or {}
    load = run.get("load_average_1min", {})
    wall = sum((run.get("study_wall_s") or {}).values())
    best = r["best"]
    lines = ["# Claim: adversarial training is unstable (GANs on ring8)", "",
             f"Claim: {r['claim']}.", "",
             f"Measured by `benchmarks/claims.py --only gan` (study `studies/claims/gan_stability.toml`, tables under "
             f"`results/claims/gan_stability/`): {r['measured']}. Run {run.get('started', '?')}, {wall:.0f} s wall on the shared 2-core "
             f"machine (1-minute load average {load.get('start', '?')} at the start, {load.get('end', '?')} at the end).", "",
             "| measured | value |", "|---|---|",
             f"| configurations ending without collapse or divergence | {r['stable']} of {r['n']} ({r['stable_share']:.2f}; Wilson 95% "
             f"[{r['stable_ci95'][0]:.2f}, {r['stable_ci95'][1]:.2f}]) |",
             f"| configurations covering 8/8 modes at hq_fraction >= 0.8 | {r['good']} of {r['n']} ({r['good_share']:.2f}; Wilson 95% "
             f"[{r['good_ci95'][0]:.2f}, {r['good_ci95'][1]:.2f}]) |",
             f"| median modes covered by the configurations that did not collapse | {r['stable_modes_median']} |",
             f"| best configuration (G lr {best.get('lr')}, G betas {best.get('optimizer.betas')}, D lr {best.get('train.d_lr')}) | "
             f"{best['modes']:.0f}/8 modes, hq_fraction {best['hq_fraction']:.3f} ({best['stop_reason']}) |",
             *([f"| the vanilla setting (G and D Adam 1e-4, beta1 0.5; Metz et al. 2017) | {vanilla['modes']:.0f}/8 modes, hq_fraction "
                  f"{vanilla['hq_fraction']:.3f} ({vanilla['stop_reason']} after {vanilla['epochs']} evaluations) |"] if (vanilla := r.get("vanilla")) else []),
             f"| collapsed or diverged configurations: where they stopped | {r['collapsed_at']['one mode']} on one mode, "
             f"{r['collapsed_at']['no mode']} on none (the generator never reached the ring) |",
             f"| the literature's vanilla GAN on the ring ({r['literature']['source']}) | {r['literature']['modes']:.0f}/8 modes, "
             f"hq_fraction {r['literature']['hq_fraction']} |", "",
             "Every configuration (modes and hq_fraction at the final evaluation; a collapsed one where it stopped):", "",
             "| G lr | G betas | D lr | end | epochs | modes | hq_fraction | train s |", "|---|---|---|---|---|---|---|---|"]
    for c in r["configurations"]:
        lines.append(f"| {c.get('lr')} | {c.get('optimizer.betas')} | {c.get('train.d_lr')} | {c['stop_reason']} | {c['epochs']} | "
                     f"{c['modes']:.0f} | {c['hq_fraction']:.3f} | {c['train_s']:.1f} |")
    lines += ["", f"Verdict (rule fixed before the run: held when the Wilson 95% interval of the share reaching 8/8 modes at hq >= 0.8 lies "
              f"below one half and some configuration collapses or diverges; not held when it lies above one half): **{r['held']}**.", "",
              "The searched counterpart is `studies/gan_ring8.toml` (WGAN-GP, 5 critic steps, an averaged generator): its measured "
              "search is in the README's GANs section."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


CLAIMS = {"optimizers": ("optimizers",), "init": ("init",), "early_stopping": ("early_stopping",), "batch_size": ("batch_size",),
          "recurrent": ("recurrent",), "transfer": ("transfer_pretrain", "transfer_finetune", "transfer_scratch"),
          "distill": ("distill_teacher", "distill_student"), "gan": ("gan_stability",)}
FNS = {"optimizers": optimizers, "init": init, "early_stopping": early_stopping, "batch_size": batch_size, "recurrent": recurrent,
       "transfer": transfer, "distill": distill, "gan": gan}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated claims: " + ", ".join(CLAIMS))
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "claims")
    ap.add_argument("--no-run", action="store_true", help="only analyse tables an earlier run wrote")
    args = ap.parse_args()
    chosen = [c for c in args.only.split(",") if c] or list(CLAIMS)
    unknown = [c for c in chosen if c not in CLAIMS]
    if unknown:
        ap.error(f"--only: unknown claim {unknown[0]!r}; the claims are {', '.join(CLAIMS)}")
    names = [n for n in ORDER if any(n in CLAIMS[c] for c in chosen)]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    walls = {} if args.no_run else run_studies(names, out, args.cpus)
    previous_file = out / "claims.json"
    previous = json.loads(previous_file.read_text()) if previous_file.is_file() else {"meta": {}, "claims": {}}
    if args.no_run:
        walls = {k: v for k, v in previous["meta"].get("study_wall_s", {}).items() if k in names}
    results: dict[str, Any] = {c: FNS[c](out) for c in chosen}
    load = {"start": round(load_before[0], 1), "end": round(os.getloadavg()[0], 1)}
    for c in chosen:  # each claim keeps the conditions of the run that measured it
        results[c]["run"] = previous["claims"].get(c, {}).get("run") if args.no_run else \
            {"started": started, "load_average_1min": load, "study_wall_s": {n: walls[n] for n in CLAIMS[c] if n in walls}}
    everything = set(chosen) == set(CLAIMS)
    # --only: the other claims stay as their last run measured them (claims.json is the record of all)
    results = results if everything else {**{k: v for k, v in previous["claims"].items() if k != "prediction"}, **results}
    results["prediction"] = prediction(out, names) if everything else previous["claims"].get("prediction", prediction(out, names))
    meta = {**previous["meta"], "machine": platform.platform(), "python": platform.python_version(), "cpus_used": args.cpus,
            "study_wall_s": {**({} if everything else previous["meta"].get("study_wall_s", {})), **walls},
            "seeds": "search with [study] seed 0, repeats with seeds 1-5", "target_accuracy": TARGET}
    if everything or "load_average_1min" not in meta:
        meta["load_average_1min"] = load
    if "gan" in chosen:
        write_gan(out / "gan_stability.md", results["gan"])
    write(out, results, meta)
    print((out / "README.md").read_text(encoding="utf-8").split("## Details")[0])


if __name__ == "__main__":
    main()
