"""Data: built-in and user datasets (any kind: tabular, signal, sequence, image; in memory or
streamed) → deterministic splits (those the data came with used as given) → preprocessing
fitted on the training split only → tensors on the trial's device, or DataLoaders.

:func:`peek` tells what a study's data is (kind, shape, size, task, given splits, a few rows)
without loading it: for pre-flight checks and the driver."""

from hpbench.data.datasets import DATASETS, TASKS, RawData
from hpbench.data.kinds import DataKind
from hpbench.data.sources import DataInfo, peek

__all__ = ["DATASETS", "TASKS", "DataInfo", "DataKind", "RawData", "peek"]
