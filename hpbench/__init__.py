"""hpbench: hyperparameter search and benchmarking for PyTorch training.

``import hpbench`` is light: it imports neither Ray nor torch. ``hpbench.load`` reads the
results tables with pandas alone.
"""

from __future__ import annotations

from typing import Any

from hpbench._version import __version__

__all__ = ["EarlyStopping", "__version__", "load"]


def load(path: Any, table: str = "trials") -> Any:
    """Load a results table as a pandas DataFrame (see :func:`hpbench.results.load.load`)."""
    from hpbench.results.load import load as _load

    return _load(path, table=table)


def __getattr__(name: str) -> Any:
    if name == "EarlyStopping":
        from hpbench.train.early_stopping import EarlyStopping

        return EarlyStopping
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")
