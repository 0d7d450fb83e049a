"""On-the-fly augmentation of image batches (N, C, H, W), training batches only: a random
shift of up to ``max_shift`` pixels each way (zero fill), a random horizontal flip (p=0.5)
and Gaussian noise, drawn per sample from the trial's generator (deterministic per seed).

Everything stays on the batch's device; no host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, kw_only=True)
class Augment:
    max_shift: int = 1  # pixels; 8x8 digits shifted by one keep their class
    flip: bool = True
    noise_std: float = 0.05  # in units of the (standardized) inputs

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"augment needs image batches (N, C, H, W), but got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        dev = x.device
        if self.max_shift > 0:
            s = self.max_shift
            padded = torch.nn.functional.pad(x, (s, s, s, s))
            dy = torch.randint(0, 2 * s + 1, (n, 1), generator=gen, device=dev)
            dx = torch.randint(0, 2 * s + 1, (n, 1), generator=gen, device=dev)
            rows = (torch.arange(h, device=dev)[None, :] + dy)[:, :, None]  # (N, H, 1)
            cols = (torch.arange(w, device=dev)[None, :] + dx)[:, None, :]  # (N, 1, W)
            batch = torch.arange(n, device=dev)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (N, C, H, W)
        if self.flip:
            flip = torch.rand((n, 1, 1, 1), generator=gen, device=dev) < 0.5
            x = torch.where(flip, x.flip(3), x)
        if self.noise_std > 0:
            x = x + self.noise_std * torch.randn(x.shape, generator=gen, device=dev)
        return x.contiguous()
