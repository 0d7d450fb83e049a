"""Experiment tracking: ``[study] loggers = ["tensorboard", "mlflow", "csv"]`` (none by default).

Each logger gets every trial's hyperparameters when it starts, every epoch's metrics (the same
rows as the epochs table: every epoch, even when the trainer reports several at once) and, when
it ends, its summary: status, stop reason, best metric and the cost columns (predicted FLOPs and
seconds, FLOPs spent, training seconds). The driver's recorder feeds them
(:mod:`hpbench.dispatch.recorder`) on a thread of their own (:mod:`~hpbench.tracking.base`), so a
slow logger never holds up the search, and a failing one is reported, not fatal.

Where they write, inside the results directory: ``tensorboard/trial_0003/`` (event files:
``tensorboard --logdir results/NAME/tensorboard``), ``mlflow.db`` (an MLflow SQLite store, one
run per trial in an experiment named after the study: ``mlflow ui --backend-store-uri
sqlite:///results/NAME/mlflow.db``), ``csv/trial_0003/`` (``params.json``; ``progress.csv`` and
``result.json``, one line per epoch, as Ray Tune's CSV and JSON loggers lay them out; ``summary.json``:
:mod:`hpbench.tracking.csv`).

More loggers come from plugins (entry-point group ``hpbench.loggers``): a builder
``build(*, out, study_name, metric, mode) -> Tracker``.
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Registry
from hpbench.tracking.base import Trackers

__all__ = ["LOGGERS", "Trackers"]

LOGGERS: Registry[Any] = Registry(what="logger", group="hpbench.loggers")


# ``needs``: the modules a logger imports (checked when the study is read: a missing package
# stops the study before anything starts).
@LOGGERS.register("tensorboard", doc="TensorBoard event files, one run per trial (written with tensorboardX)", needs=("tensorboardX",))
def _tensorboard(**kw: Any) -> Any:
    from hpbench.tracking.tensorboard import TensorBoardTracker

    return TensorBoardTracker(**kw)


@LOGGERS.register("mlflow", doc="MLflow runs in a SQLite store (mlflow.db), one run per trial", needs=("mlflow",))
def _mlflow(**kw: Any) -> Any:
    from hpbench.tracking.mlflow import MlflowTracker

    return MlflowTracker(**kw)


@LOGGERS.register("csv", doc="per-trial params.json, progress.csv and result.json (one line per epoch: Ray Tune's layout), summary.json (the final row)", needs=())
def _csv(**kw: Any) -> Any:
    from hpbench.tracking.csv import CsvTracker

    return CsvTracker(**kw)

