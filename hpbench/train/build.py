"""What a trial trains: its device, its data as tensors on that device and its initialized model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hpbench.config import TrialConfig
from hpbench.data.augment import Augment
from hpbench.data.prepare import Splits, prepare
from hpbench.models import build_model, family_activation
from hpbench.train.initializers import initialize


def resolve_device(name: str) -> torch.device:
    """``auto``: the first GPU when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Prepared:
    """A trial's data as tensors on its device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    splits: Splits
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    augment: Augment | None = None  # applied to training batches only


def load_data(cfg: TrialConfig, device: torch.device) -> Prepared:
    d = cfg.data
    s = prepare(dataset=d.dataset, options=dict(d.options), val_fraction=d.val_fraction, test_fraction=d.test_fraction, preprocess=d.preprocess, seed=cfg.seed)
    ydtype = torch.float32 if s.task == "regression" else torch.int64
    augment = None
    if "augment" in d.preprocess:
        if not s.image:
            raise ValueError(f"data.preprocess: 'augment' applies to image data only, but dataset {d.dataset!r} is not images")
        augment = Augment()

    def t(a: Any, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype).to(device)

    has_test = s.x_test is not None and s.y_test is not None
    return Prepared(
        t(s.x_train, torch.float32), t(s.y_train, ydtype), t(s.x_val, torch.float32), t(s.y_val, ydtype), s,
        x_test=t(s.x_test, torch.float32) if has_test else None, y_test=t(s.y_test, ydtype) if has_test else None, augment=augment,
    )


def build(cfg: TrialConfig, splits: Splits, device: torch.device) -> torch.nn.Module:
    """The trial's model, initialized (seeded by the trial's seed) and on ``device``."""
    torch.manual_seed(cfg.seed)
    params = dict(cfg.model.params)
    model = build_model(cfg.model.family, input_shape=splits.input_shape, n_outputs=splits.n_outputs, params=params)
    initialize(model, cfg.train.init, activation=family_activation(cfg.model.family, params), params=dict(cfg.train.init_params))
    return model.to(device)
