"""User code that is wrong in the ways a new user's code is: the pre-flight tests name these as
``"tests.helpers.bad_user_code:<function>"`` (datasets and model families)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def _fetch(url: str) -> Any:
    raise ConnectionError(f"cannot reach {url}")


def load_raises(**_: Any) -> Any:
    """A dataset loader whose own code raises (two user frames deep)."""
    return _fetch("https://example.invalid/data.csv")


def load_ok(**_: Any) -> Any:
    rng = np.random.default_rng(0)
    x = rng.random((60, 5)).astype(np.float32)
    return x, (x[:, 0] > 0.5).astype(np.int64)


def load_nan_features(**_: Any) -> Any:
    x, y = load_ok()
    x[[4, 17], 2] = np.nan
    return x, y


def load_one_class(**_: Any) -> Any:
    x, _ = load_ok()
    return {"x": x, "y": np.ones(len(x), dtype=np.int64), "task": "binary"}


def load_one_label(**_: Any) -> Any:
    """Every row labelled 0 and no task named: a gan's unlabelled data (a supervised study's is refused)."""
    x, _ = load_ok()
    return x, np.zeros(len(x), dtype=np.int64)


def load_wrong_return(**_: Any) -> Any:
    return "data.csv"


def build_wrong_shape(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    """Ignores the data's shape: expects 10 features whatever the data has."""
    return nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, n_outputs))


class _Picky(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"expected flat rows, got a batch shaped {tuple(x.shape)}")
        return self.fc(x)


def build_picky(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    """Its own forward raises on image batches (a user frame in the forward pass)."""
    return _Picky(int(np.prod(input_shape)), n_outputs)


def build_raises(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    raise KeyError("hidden")


def build_wrong_outputs(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    """Two outputs whatever the number of classes."""
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(input_shape)), 2))


def build_pooling(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    """``depth`` conv + 2x2 pooling blocks: on 8x8 images, more than 3 blocks pool the map away."""
    layers: list[nn.Module] = []
    c = input_shape[0]
    for _ in range(int(params.get("depth", 1))):
        layers += [nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c = 4
    return nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(n_outputs))


class _BrokenDataset:
    """A map-style dataset whose own ``__getitem__`` raises."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> Any:
        raise ValueError(f"row {i}: the image file is missing")


def load_broken_dataset(**_: Any) -> Any:
    return _BrokenDataset()


SETTINGS = {"rows": 10}  # not a function


def load_slowly(**_: Any) -> Any:
    """A loader that takes a while (a large file, a slow disk): the pre-flight's data seconds."""
    import time

    time.sleep(0.3)
    return load_ok()


def load_val_class_unseen(**_: Any) -> Any:
    """A validation split whose labels the training data never has (a mislabelled file)."""
    x, y = load_ok()
    return {"x": x, "y": y, "x_val": x[:10], "y_val": np.full(10, 5, dtype=np.int64)}


def load_exits(**_: Any) -> Any:
    import sys

    sys.exit(3)


class _RaggedDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> Any:
        return torch.zeros(3 if i == 4 else 2), i % 2


def load_ragged_dataset(**_: Any) -> Any:
    return _RaggedDataset()


def load_one_frame(**_: Any) -> Any:
    """Features and target in one DataFrame (what a notebook has at hand)."""
    import pandas as pd

    x, y = load_ok()
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["label"] = y
    return frame


class _BrokenBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("my backward is broken")


class _BadBackward(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _BrokenBackward.apply(self.fc(x.flatten(1)))


def build_bad_backward(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    """Its forward accepts any batch; its own autograd function's backward raises."""
    return _BadBackward(int(np.prod(input_shape)), n_outputs)


def exploding_optimizer(params: Any, *, lr: float, **_: Any) -> Any:
    """A plugin optimizer whose builder raises (registered by the test that names it)."""
    raise RuntimeError("plugin optimizer exploded")


class _StepFails(torch.optim.SGD):
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        raise ValueError("no step for you")


def failing_step_optimizer(params: Any, *, lr: float, **_: Any) -> Any:
    """A plugin optimizer that builds but raises on its first step."""
    return _StepFails(params, lr=lr)


def load_no_options() -> Any:
    """A loader that takes no options (a study's unknown [data] key is passed to it)."""
    return load_ok()
