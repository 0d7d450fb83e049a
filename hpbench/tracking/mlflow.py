"""MLflow: one run per trial in the experiment named after the study, in a SQLite store in the
results directory (``mlflow.db``; MLflow 3 keeps its file store for old data only). Parameters:
the trial's hyperparameters; metrics: every epoch's by step = epoch, then the summary; tags:
``hpbench.trial``, ``hpbench.status``, ``hpbench.stop_reason``. Works offline (no server)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.tracking.base import metrics_of

STORE = "mlflow.db"


def tracking_uri(out: Path) -> str:
    return f"sqlite:///{(out / STORE).resolve()}"


class MlflowTracker:
    def __init__(self, *, out: Path, study_name: str, **_: Any) -> None:
        import logging

        from mlflow.tracking import MlflowClient

        # its store's set-up says "INFO mlflow.store.db.utils: Creating initial MLflow database tables..."
        # in the middle of the search's progress (bug hunt s47h1): its warnings still show
        logging.getLogger("mlflow.store").setLevel(logging.WARNING)
        out.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=tracking_uri(out))
        found = self.client.get_experiment_by_name(study_name)
        self.experiment_id = found.experiment_id if found is not None else self.client.create_experiment(study_name)
        self.study_name = study_name
        self.runs: dict[int, str] = {}
        self.last_epoch: dict[int, int] = {}

    def start(self, trial: int, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=f"trial {trial}",
                                     tags={"hpbench.trial": str(trial), "hpbench.study": self.study_name})
        self.runs[trial] = run.info.run_id
        self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def _log(self, trial: int, values: Mapping[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.runs[trial], metrics=[Metric(k, v, now, step) for k, v in values.items()])

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None:
        step = int(row["epoch"])
        self.last_epoch[trial] = step
        self._log(trial, metrics_of(row, skip=("epoch", "trial")), step)

    def end(self, trial: int, summary: Mapping[str, float], *, status: str, stop_reason: str) -> None:
        run_id = self.runs[trial]
        self._log(trial, summary, self.last_epoch.get(trial, 0))
        self.client.set_tag(run_id, "hpbench.status", status)
        self.client.set_tag(run_id, "hpbench.stop_reason", stop_reason)
        self.client.set_terminated(run_id, status="FAILED" if status == "failed" else "FINISHED")

    def close(self) -> None:
        return None
