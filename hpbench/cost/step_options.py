"""The trainer's options that change what a training step runs beyond the network, as the count
runs them (:mod:`hpbench.cost.count`).

Until session 25 the count ran the network, its loss and its update only, and every option
below priced as nothing: gradient clipping walks every gradient between the backward pass and
the update (``clip_norm`` +8% to +29% an epoch on one thread here, ``clip_value`` +4% to +9%),
label smoothing builds the smoothed targets in the loss (+5% to +24%), augmentation shifts, flips
and adds noise to each image batch (+9% for the digits CNN; ``benchmarks/train_options_cost.py``).
Mixed precision is not among them: a step under autocast runs other kernels (bf16 matmuls,
casts) whose rates the calibration does not measure; it is priced as fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    clip_norm: float | None = None  # [train] clip_norm: the gradients' global norm clipped (torch.nn.utils.clip_grad_norm_)
    clip_value: float | None = None  # [train] clip_value: each gradient element clamped
    label_smoothing: float = 0.0  # [train] label_smoothing: the training loss's targets smoothed
    augment: bool = False  # [data] preprocess has "augment": each training batch of images augmented

    @classmethod
    def of(cls, cfg: Any) -> StepOptions:
        """The options of a trial's configuration (a :class:`hpbench.config.TrialConfig`)."""
        t = cfg.train
        return cls(clip_norm=t.clip_norm, clip_value=t.clip_value, label_smoothing=float(t.label_smoothing or 0.0),
                   augment="augment" in tuple(cfg.data.preprocess))

    def key(self) -> tuple[Any, ...]:
        """What the count depends on: whether each clipping runs (not its threshold), the smoothing
        on or off, augmentation on or off."""
        return (self.clip_norm is not None, self.clip_value is not None, self.label_smoothing > 0, self.augment)


NO_OPTIONS = StepOptions()  # a step that runs the network, its loss and its update only
