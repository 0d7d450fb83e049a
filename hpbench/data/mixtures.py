"""The 2-D Gaussian mixtures of the mode-collapse literature, seeded (numpy only).

- ``ring8``:  8 Gaussians, means evenly spaced on a circle of radius 2, σ = 0.02
  (Metz et al. 2017, "Unrolled generative adversarial networks", §3.1 / appendix A).
- ``grid25``: 25 Gaussians, means on the grid {-4, -2, 0, 2, 4}², σ = 0.05
  (Srivastava et al. 2017, "VEEGAN", §5.1; the same grid in Lin et al. 2018, PacGAN).

All modes carry equal weight. A :class:`Mixture` knows its mode centres and σ, which is what
the metrics (``modes_covered``, ``hq_fraction``) need; :func:`train_val` turns one into a
dataset (fixed train and validation arrays) for code that wants arrays rather than a sampler.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians with a shared σ."""

    name: str
    centers: np.ndarray  # (n_modes, dim) float64
    std: float

    @property
    def n_modes(self) -> int:
        return int(self.centers.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    def sample(self, n: int, *, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples (float32, shape (n, dim)): a uniformly drawn mode plus N(0, σ²I) noise."""
        return self.sample_labelled(n, rng=rng)[0]

    def sample_labelled(self, n: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`sample` and each sample's mode index (int64): the dataset registry's ``ring8`` / ``grid25``."""
        if n < 0:
            raise ValueError(f"mixture {self.name}: n must be >= 0, but got n={n}")
        modes = rng.integers(0, self.n_modes, size=n)
        noise = rng.standard_normal((n, self.dim)) * self.std
        return (self.centers[modes] + noise).astype(np.float32), modes.astype(np.int64)


def ring(*, n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    """Means at radius·(cos 2πk/K, sin 2πk/K), k = 0..K-1 (Metz et al. 2017's defaults)."""
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return Mixture(name=f"ring{n_modes}", centers=centers, std=std)


def grid(*, side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """Means on a side x side grid centred at 0, ``spacing`` apart (VEEGAN: 5 x 5, spacing 2, σ = 0.05)."""
    axis = (np.arange(side) - (side - 1) / 2) * spacing
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    centers = np.stack([xx.ravel(), yy.ravel()], axis=1)
    return Mixture(name=f"grid{side * side}", centers=centers, std=std)


MIXTURES: dict[str, Callable[[], Mixture]] = {"ring8": ring, "grid25": grid}


def mixture(name: str) -> Mixture:
    """The named benchmark mixture; an unknown name is an error with a did-you-mean."""
    if name not in MIXTURES:
        close = difflib.get_close_matches(name, list(MIXTURES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"data.dataset: unknown mixture {name!r}{hint}; known: {', '.join(MIXTURES)}")
    return MIXTURES[name]()


def train_val(name: str, *, n_train: int = 50_000, n_val: int = 2500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed ``(x_train, x_val)`` arrays drawn from the named mixture; the same seed gives the same arrays.

    Train and validation come from independent streams of one seed, so changing ``n_val`` does
    not change ``x_train``.
    """
    mix = mixture(name)
    train_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return mix.sample(n_train, rng=train_rng), mix.sample(n_val, rng=val_rng)
