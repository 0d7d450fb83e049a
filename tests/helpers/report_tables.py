"""Results directories written by hand for the report tests: fixed, deterministic tables (no
training, no Ray), typed by the store's own table builders.

``write_full`` is a distillation study with every kind of row a report reads: finished,
early-stopped, pruned, failed and running trials, a conditional dimension, cost and
calibration columns, repeats, device comparisons and a teacher. ``write_bare`` has only what
every search records, so each section shows its fallback text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpbench.results.files import EPOCHS, STUDY_JSON, TRIALS
from hpbench.results.status import StopReason, TrialStatus
from hpbench.results.tables import epochs_frame, trials_frame

MAX_EPOCHS = 4
SPACE = {
    "optimizer": "choice ['adam', 'sgd']",
    "lr": "loguniform [0.0001, 0.1]",
    "momentum": "uniform [0.8, 0.99] when optimizer == 'sgd'",
    "distill.alpha": "choice [0.0, 0.5]",
}
TEACHER = "teacher/weights/3.pt"  # a [distill] teacher as the study record holds it (a weights file)

F, R = TrialStatus.FINISHED, TrialStatus.RUNNING
C, E, P = StopReason.COMPLETED, StopReason.EARLY_STOPPED, StopReason.PRUNED
# trial, optimizer, lr, momentum, alpha, status, stop reason, epochs, best epoch, best value, seconds, FLOPs per epoch
SEARCH: list[tuple[Any, ...]] = [
    (0, "adam", 0.001, None, 0.0, F, C, 4, 4, 0.90, 2.0, 1.0e8),
    (1, "adam", 0.01, None, 0.5, F, C, 4, 3, 0.95, 2.1, 2.0e8),
    (2, "sgd", 0.05, 0.9, 0.5, F, E, 3, 1, 0.80, 1.5, 1.5e8),
    (3, "sgd", 0.02, 0.8, 0.0, F, C, 4, 4, 0.93, 1.9, 3.0e8),
    (4, "adam", 0.0003, None, 0.5, F, P, 1, 1, 0.60, 0.5, 1.0e8),
    (5, "sgd", 0.1, 0.95, 0.0, F, P, 1, 1, 0.55, 0.6, 2.5e8),
    (6, "adam", 0.01, None, 0.0, F, C, 4, 2, 0.94, 2.2, 2.0e8),
    (7, "sgd", 0.0001, 0.85, 0.5, TrialStatus.FAILED, StopReason.FAILED, 0, None, None, None, 1.2e8),
    (8, "adam", 0.005, None, 0.5, R, None, 2, 2, 0.85, 1.0, 1.0e8),
]
REPEATS = [(9, 1, 1, 0.945), (10, 1, 2, 0.952), (11, 3, 1, 0.92), (12, 3, 2, 0.925)]  # trial, repeat of, seed, value
DEVICE_RUNS = [(13, 1, 0.8), (14, 3, 0.7)]  # trial, device of, seconds


def _search_row(t: tuple[Any, ...]) -> dict[str, Any]:
    trial, opt, lr, momentum, alpha, status, stop, epochs, best_epoch, best, seconds, flops = t
    row: dict[str, Any] = {
        "trial": trial, "trial_id": f"golden_{trial:05d}", "status": str(status), "stop_reason": None if stop is None else str(stop),
        "optimizer": opt, "lr": lr, "momentum": momentum, "distill.alpha": alpha, "epochs": epochs, "best_epoch": best_epoch,
        "best_val_accuracy": best, "val_accuracy": best, "train_s": seconds, "measured_s": seconds, "hostname": "host-a",
        "device": "cpu", "n_params": 2_000 + 100 * trial, "flops_per_epoch": flops, "predicted_flops": flops * MAX_EPOCHS,
        "flops_spent": flops * epochs, "predicted_epoch_s": 0.5 + 0.01 * trial, "predicted_s": (0.5 + 0.01 * trial) * MAX_EPOCHS,
        "predicted_spent_s": (0.45 + 0.02 * trial) * epochs if seconds else None, "repeat": 0, "seed": 0,
    }
    if status == TrialStatus.FAILED:
        row["error"] = "RuntimeError: CUDA out of memory (at models/big.py:12 in forward)"
    if stop in (C, E):
        row.update({"temperature": 1.2 + 0.1 * trial, "ece_before": 0.08 + 0.01 * trial, "ece_after": 0.03 + 0.005 * trial,
                    "nll_before": 0.40 + 0.02 * trial, "nll_after": 0.35 + 0.01 * trial})
    if trial in (1, 3):  # the best trials recorded a reliability diagram (15 bins)
        count = [0] * 10 + [2, 5, 10, 20, 60]
        before = [0.0] * 10 + [0.5, 0.6, 0.7, 0.8, 0.95]
        after = [0.0] * 10 + [0.62, 0.71, 0.8, 0.88, 0.97]
        row["reliability"] = json.dumps({"before": {"confidence": [], "accuracy": before, "count": count},
                                         "after": {"confidence": [], "accuracy": after, "count": count}})
    return row


def _epoch_rows(trial: int, epochs: int, best_epoch: int | None, best: float | None, seconds: float | None) -> list[dict[str, Any]]:
    if not epochs or best is None or best_epoch is None or seconds is None:
        return []
    return [{"trial": trial, "trial_id": f"golden_{trial:05d}", "epoch": e, "train_loss": round(1.0 / e, 4),
             "val_accuracy": round(best - 0.02 * abs(e - best_epoch), 4), "val_loss": round(0.3 + 0.05 * abs(e - best_epoch), 4),
             "val_ece": round(0.05 + 0.01 * abs(e - best_epoch), 4), "val_nll": round(0.3 + 0.02 * abs(e - best_epoch), 4),
             "epoch_s": round(seconds / epochs, 4)} for e in range(1, epochs + 1)]


def _write(out: Path, record: dict[str, Any], trials: list[dict[str, Any]], epochs: list[dict[str, Any]]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / STUDY_JSON).write_text(json.dumps(record), encoding="utf-8")
    trials_frame(trials, list(record.get("space", {}))).to_parquet(out / TRIALS)
    if epochs:
        epochs_frame(epochs).to_parquet(out / EPOCHS)
    return out


def write_full(root: Path) -> Path:
    """``root/results/golden`` (and its teacher at ``root/teacher``); returns the results directory."""
    by_trial = {t[0]: _search_row(t) for t in SEARCH}
    trials = list(by_trial.values())
    epochs = [r for t in SEARCH for r in _epoch_rows(t[0], t[7], t[8], t[9], t[10])]
    for trial, of, seed, value in REPEATS:
        base = by_trial[of]
        trials.append({**{k: base[k] for k in ("optimizer", "lr", "momentum", "distill.alpha", "device", "hostname", "n_params")},
                       "trial": trial, "trial_id": f"golden_{trial:05d}", "status": str(F), "stop_reason": str(C), "epochs": 4,
                       "best_epoch": 4, "best_val_accuracy": value, "val_accuracy": value, "train_s": 2.0, "repeat": seed,
                       "repeat_of": of, "seed": seed})
    for trial, of, seconds in DEVICE_RUNS:
        base = by_trial[of]
        trials.append({**{k: base[k] for k in ("optimizer", "lr", "momentum", "distill.alpha", "hostname", "n_params", "best_epoch",
                                               "best_val_accuracy", "val_accuracy", "epochs", "predicted_epoch_s")},
                       "trial": trial, "trial_id": f"golden_{trial:05d}", "status": str(F), "stop_reason": str(C), "train_s": seconds,
                       "device": "cuda", "device_of": of})
    distill = {"teacher": TEACHER, "alpha": 0.5, "temperature": 4.0}
    record = {"name": "golden", "settings": {"metric": "val_accuracy", "mode": "max"}, "space": SPACE,
              "config": {"train": {"max_epochs": MAX_EPOCHS}, "distill": distill}}
    out = _write(root / "results" / "golden", record, trials, epochs)
    teacher = {"trial": 3, "trial_id": "teacher_00003", "status": str(F), "stop_reason": str(C), "epochs": 10, "best_epoch": 9,
               "best_val_accuracy": 0.97, "n_params": 50_000, "flops_per_epoch": 5.0e8, "flops_spent": 5.0e9}
    _write(root / "teacher", {"name": "teacher", "settings": {"metric": "val_accuracy", "mode": "max"}, "space": {}}, [teacher], [])
    return out


def write_bare(root: Path) -> Path:
    """``root/results/bare``: three trials with nothing but the columns every search writes."""
    rows = [{"trial": i, "trial_id": f"bare_{i:05d}", "status": str(F), "stop_reason": str(C), "lr": lr, "epochs": 2,
             "best_epoch": 2, "best_val_loss": loss, "val_loss": loss, "train_s": 1.0}
            for i, (lr, loss) in enumerate([(0.1, 0.5), (0.01, 0.4), (0.001, 0.45)])]
    record = {"name": "bare", "settings": {"metric": "val_loss", "mode": "min"}, "space": {"lr": "loguniform [0.0001, 0.1]"},
              "config": {"train": {"max_epochs": 2}}}
    return _write(root / "results" / "bare", record, rows, [])


def write_tiny(root: Path, name: str = "r", *, fused_members: int | None = None) -> Path:
    """``root/<name>``: a results directory of TINY_STUDY (a searchable study, so ``best --study-out`` writes it):
    trials 0 and 1, and trial 2 repeat 1 (seed 1) of trial 1 (``fused_members``: trained fused with that many)."""
    import tomllib

    from tests.helpers.studies import TINY_STUDY

    raw = tomllib.loads(TINY_STUDY)
    record = {"name": "tiny", "source": str(root / "tiny.toml"), "raw": raw, "config": {"data": {"dataset": "digits"}},
              "settings": {"metric": "val_accuracy", "mode": "max", "seed": 0}, "space": {"optimizer": "choice", "lr": "loguniform"}}
    base = {"status": "finished", "stop_reason": "completed", "epochs": 3, "best_epoch": 3, "optimizer": "adam"}
    rows = [{**base, "trial": 0, "trial_id": "t0", "lr": 0.01, "best_val_accuracy": 0.8},
            {**base, "trial": 1, "trial_id": "t1", "lr": 0.02, "best_val_accuracy": 0.9},
            {**base, "trial": 2, "trial_id": "t2", "lr": 0.02, "best_val_accuracy": 0.91, "repeat": 1, "repeat_of": 1, "seed": 1,
             **({} if fused_members is None else {"fused_members": fused_members})}]
    out = _write(root / name, record, rows, [])
    (out / "study.toml").write_text(TINY_STUDY, encoding="utf-8")
    (out / "weights").mkdir()
    return out
