"""Gradient clipping (``[train] clip_norm`` / ``clip_value``), applied between the backward
pass and the optimizer update (after unscaling, under fp16's gradient scaler).

``clip_value`` clamps every gradient element to ``[-clip_value, clip_value]``
(``torch.nn.utils.clip_grad_value_``, Keras's ``clipvalue``); ``clip_norm`` rescales the
gradients so that their global L2 norm over all parameters is at most ``clip_norm``
(``torch.nn.utils.clip_grad_norm_``, Keras's ``global_clipnorm``). With both, values are
clamped first, then the norm is clipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True, kw_only=True)
class GradClip:
    """A trial's clipping of its trainable parameters' gradients."""

    params: Sequence[torch.Tensor]
    norm: float | None = None
    value: float | None = None

    @classmethod
    def of(cls, params: Sequence[torch.Tensor], *, norm: float | None, value: float | None) -> GradClip | None:
        """The clipping ``[train]`` asks for; ``None`` when it asks for none."""
        if norm is None and value is None:
            return None
        return cls(params=tuple(params), norm=norm, value=value)

    def __call__(self) -> None:
        if self.value is not None:
            torch.nn.utils.clip_grad_value_(self.params, self.value)
        if self.norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.norm)
