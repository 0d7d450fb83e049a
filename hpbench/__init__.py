"""hpbench: hyperparameter search and benchmarking for PyTorch training.

The Python API (every ``hpbench`` command is a thin layer over it)::

    import hpbench

    study = hpbench.Study.from_toml("studies/quickstart.toml", overrides={"study.trials": 8})
    results = hpbench.search(study, out="results/q")   # blocks, with the CLI's live progress
    results.trials, results.epochs                     # pandas DataFrames (as hpbench.load)
    results.best                                       # the best trial: params, metrics, weights
    results.report()                                   # the Rich report; results.report_json()
    model = results.load_model()                       # the best trial's trained torch.nn.Module
    labels = results.load_predictor().predict(new_rows)  # ... applied to new raw data (its encoding kept)
    hpbench.estimate(study)                            # predicted cost per configuration
    final = hpbench.train_study(hpbench.Study.from_dict(results.best_study()))  # retrain the winner
    hpbench.load_predictor("results/q-best")           # `hpbench train`'s model.pt (its folder or the file)

``import hpbench`` is light: it imports neither Ray nor torch (each name is loaded on first use),
and ``hpbench.load`` and :class:`Results`' tables read the results with pandas alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpbench._version import __version__

if TYPE_CHECKING:
    import os

    import pandas as pd

    from hpbench.api.estimate import estimate
    from hpbench.api.predict import load_model, load_predictor
    from hpbench.api.results import Results
    from hpbench.api.retrain import Trained, train_study
    from hpbench.api.search import search
    from hpbench.api.study import Study
    from hpbench.api.trial_result import TrialResult
    from hpbench.errors import StudyError
    from hpbench.train.early_stopping import EarlyStopping

__all__ = ["EarlyStopping", "Results", "Study", "StudyError", "Trained", "TrialResult", "__version__", "estimate", "load", "load_model", "load_predictor", "search", "train_study"]

# name -> the module that defines it, imported on first use
_LAZY = {
    "Study": "hpbench.api.study",
    "search": "hpbench.api.search",
    "Results": "hpbench.api.results",
    "TrialResult": "hpbench.api.trial_result",
    "estimate": "hpbench.api.estimate",
    "train_study": "hpbench.api.retrain",
    "Trained": "hpbench.api.retrain",
    "StudyError": "hpbench.errors",
    "EarlyStopping": "hpbench.train.early_stopping",
    "load_model": "hpbench.api.predict",
    "load_predictor": "hpbench.api.predict",
}


def load(path: str | os.PathLike[str], table: str | None = None) -> pd.DataFrame:
    """Load a results table as a pandas DataFrame (see :func:`hpbench.results.load.load`)."""
    from hpbench.results.load import load as _load

    return _load(path, table=table)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
