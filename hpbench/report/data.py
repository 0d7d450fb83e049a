"""What a report reads: the study record and a consistent snapshot of the results tables.

The tables are replaced atomically by the driver (rename over), so reading them while a
search runs gives a complete, if slightly old, view; epochs may be a moment newer than trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from hpbench.results.columns import DEVICE_OF, FLOPS_SPENT, PREDICTED_FLOPS, PREDICTED_S, REPEAT
from hpbench.results.files import OPTUNA_DB, read_record
from hpbench.results.load import load
from hpbench.results.ranking import rankable, ranked_frame, yet
from hpbench.results.status import is_search_trial
from hpbench.train.task import SUPERVISED


@dataclass(frozen=True, kw_only=True)
class ReportData:
    path: Path
    name: str
    metric: str
    mode: str
    params: list[str]  # searched dimensions, in [space] order
    space: dict[str, str]  # key -> description ("loguniform [0.0001, 0.1]", "... when ...")
    max_epochs: int
    trials: pd.DataFrame  # search trials only (repeats and device comparisons removed)
    repeats: pd.DataFrame  # repeat rows (empty without repeats)
    device_runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # search configurations re-run on the other [train] devices
    epochs: pd.DataFrame
    storage: str  # Optuna storage URL
    data: dict[str, Any] = field(default_factory=dict)  # the data record of study.json (kind, shape, splits given or carved)
    task: str = SUPERVISED  # the study's [model] task (rl and gan have no classes: no calibration)
    settings: dict[str, Any] = field(default_factory=dict)  # study.json's [study] settings (keep_weights: which trials kept their weights)

    @property
    def key(self) -> str:
        return f"best_{self.metric}"

    def has(self, column: str) -> bool:
        return column in self.trials.columns and bool(self.trials[column].notna().any())

    def cost_column(self) -> tuple[str, str] | None:
        """The cost to rank by: predicted FLOPs, spent FLOPs, predicted or measured seconds."""
        for col, label in ((PREDICTED_FLOPS, "predicted FLOPs"), (FLOPS_SPENT, "FLOPs spent"),
                           (PREDICTED_S, "predicted s"), ("train_s", "measured s")):
            if self.has(col):
                return col, label
        return None

    def ranked(self) -> pd.DataFrame:
        """The ranked search trials, best first (:func:`ranked`)."""
        return ranked(self.trials, metric=self.metric, mode=self.mode)

    def yet(self) -> str:
        """" yet" while a trial may still add a value (:func:`hpbench.results.ranking.yet`)."""
        return yet(self.trials["status"] if "status" in self.trials.columns else ())

    def scored(self) -> pd.DataFrame:
        """The ranked search trials in table order: the rows whose value of the metric a section
        may compare (the cost ranking, what matters, the figures)."""
        return self.trials[rankable(self.trials, metric=self.metric)] if not self.trials.empty else self.trials


def ranked(trials: pd.DataFrame, *, metric: str, mode: str) -> pd.DataFrame:
    """The ranked trials (finished, with a finite ``best_<metric>``: :mod:`hpbench.results.ranking`),
    best first; a failed, interrupted or running trial never is, whatever value its epochs left."""
    return ranked_frame(trials, metric=metric, mode=mode)


def split_trials(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(search trials, repeats, device comparisons) of a trials table (see :func:`is_search_trial`)."""
    marks = trials[[c for c in (REPEAT, DEVICE_OF) if c in trials.columns]].to_dict(orient="records")
    search = pd.Series([is_search_trial(m) for m in marks], index=trials.index, dtype=bool)
    on_other_device = trials[DEVICE_OF].notna() if DEVICE_OF in trials.columns else pd.Series(False, index=trials.index)
    return trials[search].copy(), trials[~search & ~on_other_device].copy(), trials[on_other_device].copy()


def load_report(path: str | Path, *, storage: str | None = None) -> ReportData:
    """Read ``study.json`` and the tables of a results directory (``FileNotFoundError`` when
    the search has not written its first table yet)."""
    p = Path(path)
    record = read_record(p)  # DamagedRecord for a study.json that is not one
    trials = load(p, "trials")
    try:
        epochs = load(p, "epochs")
    except FileNotFoundError:
        epochs = pd.DataFrame(columns=["trial", "trial_id", "epoch"])
    space = dict(record.get("space", {}))
    trials = _list_cells_as_text(trials, list(space))
    trials, repeats, device_runs = split_trials(trials)
    settings = record["settings"]
    return ReportData(
        path=p, name=record["name"], metric=settings["metric"], mode=settings["mode"],
        params=list(space), space=space,
        max_epochs=int(record.get("config", {}).get("train", {}).get("max_epochs") or 0),
        trials=trials, repeats=repeats, device_runs=device_runs, epochs=epochs,
        storage=storage or f"sqlite:///{(p / OPTUNA_DB).resolve()}", data=dict(record.get("data") or {}),
        task=str((record.get("config", {}).get("model") or {}).get("task") or SUPERVISED), settings=dict(settings),
    )


def _list_cells_as_text(trials: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """List-valued parameters (``optimizer.betas``, read back from parquet as arrays) as text
    ``[0.5, 0.999]``: one value the report's grouping, comparison and tables treat like any other."""
    out = trials
    for p in params:
        if p in trials and trials[p].dtype == object and trials[p].map(lambda v: hasattr(v, "__len__") and not isinstance(v, str)).any():
            out = out.copy() if out is trials else out
            out[p] = trials[p].map(lambda v: fmt(v) if hasattr(v, "__len__") and not isinstance(v, str) else v)
    return out


def finite(v: Any) -> bool:
    """A number (not a bool) that is neither NaN nor infinite: a value a table can rank."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: Any, digits: int = 3) -> str:
    """A cell: '-' for missing, lists as [a, b], floats to ``digits`` significant digits, big numbers as 1.2e9."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (list, tuple)) or (hasattr(v, "ndim") and v.ndim > 0):  # a list-valued parameter (optimizer.betas)
        return "[" + ", ".join(fmt(x, digits) for x in list(v)) + "]"
    if isinstance(v, float) or (hasattr(v, "dtype") and "float" in str(v.dtype)):
        v = float(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:.{digits}g}"
    return str(v)


def jsonable(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "ndim") and v.ndim > 0:  # a list-valued parameter (optimizer.betas), read back as an array
        return [jsonable(x) for x in v.tolist()]
    if hasattr(v, "item"):
        v = v.item()
        return None if isinstance(v, float) and v != v else v
    return v


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): jsonable(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
