"""The 2-D benchmark mixtures live in :mod:`hpbench.data.mixtures` (the dataset registry builds
``ring8`` and ``grid25`` from them); re-exported here for the GAN core's users."""

from hpbench.data.mixtures import MIXTURES, Mixture, grid, mixture, ring, train_val

__all__ = ["MIXTURES", "Mixture", "grid", "mixture", "ring", "train_val"]
