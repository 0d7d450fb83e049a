"""What the cost benchmarks of single configurations share (``dropout_cost.py``, ``activation_cost.py``,
``train_options_cost.py``): their data sets, a one-configuration study, real epochs of hpbench's
trainer on one thread, this machine's device model at one thread, and the report they write."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LONG = "benchmarks.eta_unseen.data:long_table"  # 48,000 training rows x 30 (the held-out "long" study's loader)
TABULAR = "benchmarks.race_peers.problems:tabular"  # 4,000 x 20 (the race's tabular problem)


def parser(doc: str, *, quick: str | None = None) -> argparse.ArgumentParser:
    """The options these benchmarks share: ``--epochs``, ``--out`` and, given its help, ``--quick``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    if quick is not None:
        ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--epochs", type=int, default=4, help="epochs per run (the fastest after the first is kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    return ap


def study(dataset: str, family: str, model: dict[str, Any], batch: int, dropout: float, epochs: int) -> Any:
    """One configuration of ``family`` on ``dataset`` (Adam at 1e-3), trained ``epochs`` epochs."""
    from hpbench.api.study import Study

    return Study.from_dict({"study": {"name": "dropout-cost", "seed": 0, "metric": "val_accuracy", "trials": 1},
                            "data": {"dataset": dataset}, "model": {"family": family, **model, "dropout": dropout},
                            "optimizer": {"name": "adam", "lr": 1e-3}, "train": {"batch_size": batch, "max_epochs": epochs}})


def measured_epoch_s(s: Any) -> float:
    """The fastest epoch after the first of one real run of the trainer."""
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    history = train(trial_config(s, {}), report=lambda _row: None).history
    return min(r["epoch_s"] for r in history[1:])


def one_thread_device() -> Any:
    """This machine's device model at one thread, torch set to one thread (as the timed epochs run)."""
    import torch

    from hpbench.cost.calibrate import device_model

    torch.set_num_threads(1)
    return device_model(threads=1)


def write_report(name: str, *, dev: Any, rows: list[dict[str, Any]], summary: dict[str, Any], out: Path,
                 model: dict[str, Any] | None = None) -> None:
    """``<out>/<name>.json``: the machine, the device model (and ``model``'s fields of it), the rows and the summary."""
    report = {"benchmark": name, "host": platform.node(), "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "device_model": {"name": dev.name, "measured_at": dev.measured_at, **(model or {})}, "load_avg": os.getloadavg(),
              "rows": rows, **summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
