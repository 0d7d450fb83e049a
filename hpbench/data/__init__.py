"""Data: built-in and user datasets → deterministic splits → preprocessing fitted on the
training split only → tensors preloaded on the trial's device."""

from hpbench.data.datasets import DATASETS, TASKS, RawData

__all__ = ["DATASETS", "TASKS", "RawData"]
