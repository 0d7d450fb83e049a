"""A toy hpbench plugin: a one-hidden-layer MLP family, a synthetic blobs dataset and plain SGD.

Like hpbench's own entries, it imports torch only inside the builders: the driver validates a
study (and lists plugins) without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpbench.data.datasets import RawData
from hpbench.registry import Param, entry
from hpbench.rules import Int, OneOf


def _build_mlp(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> Any:
    import torch.nn as nn

    n_in = int(np.prod(input_shape))
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[params["activation"]]
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, params["hidden"]), act(), nn.Linear(params["hidden"], n_outputs))


TOY_MLP = entry(
    _build_mlp,
    params={
        "hidden": Param(Int(min=1, max=4096), 16, "units of the one hidden layer"),
        "activation": Param(OneOf(("relu", "tanh"), "activation"), "relu", "its nonlinearity"),
    },
    doc="toy one-hidden-layer MLP (a plugin)",
)


def _blobs(*, n_samples: int = 300, data_seed: int = 0, **_: Any) -> RawData:
    """Three Gaussian blobs in 4 dimensions, well separated."""
    rng = np.random.default_rng(data_seed)
    y = rng.integers(0, 3, n_samples)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    x = centres[y] + rng.normal(0, 0.7, (n_samples, 4)).astype(np.float32)
    return RawData(x=x.astype(np.float32), y=y.astype(np.int64), task="multiclass", name="toy_blobs")


TOY_BLOBS = entry(
    _blobs,
    params={
        "n_samples": Param(Int(min=30, max=100_000), 300, "samples generated"),
        "data_seed": Param(Int(min=0), 0, "seed of the generator"),
    },
    doc="three Gaussian blobs in 4-D, 3 classes (a plugin)",
    task="multiclass",
)


def toy_sgd(params: Any, *, lr: float, **_: Any) -> Any:
    """plain SGD (a plugin's bare builder)"""
    import torch

    return torch.optim.SGD(params, lr=lr)
