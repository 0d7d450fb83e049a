"""Built-in datasets, registered by name. Nothing is downloaded: each loader uses data that a
package ships (scikit-learn's bundled sets) or makes it synthetically from the seed.

A loader returns :class:`RawData`: features ``x`` (float32, shaped per sample as
``input_shape``), targets ``y`` and the task kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpbench.registry import Registry

DATASETS: Registry[Any] = Registry(what="dataset")

TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class RawData:
    x: np.ndarray  # (n, *input_shape) float32
    y: np.ndarray  # (n,) int64 for classification, float32 for regression
    task: str  # one of TASKS
    name: str
    image: bool = False  # samples are images (C, H, W): augmentation applies

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_outputs(self) -> int:
        if self.task == "multiclass":
            return int(self.y.max()) + 1
        return 1


@DATASETS.register("digits", doc="scikit-learn's 8x8 digits: 1797 images, 10 classes", task="multiclass")
def _digits(**_: Any) -> RawData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :]  # (n, 1, 8, 8)
    return RawData(x=x, y=d.target.astype(np.int64), task="multiclass", name="digits", image=True)
