"""The configuration of one GAN trial, as a frozen keyword-only dataclass (torch-free).

Defaults follow the 2-D mixture setup of Metz et al. 2017 (unrolled GANs, appendix A: G with two
ReLU layers of 128, D with one of 128, Adam β1 = 0.5) unless a comment says otherwise.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from hpbench.config import OptimizerConfig


class GANLoss(enum.StrEnum):
    """The adversarial objective (``[train] loss``)."""

    NON_SATURATING = "non_saturating"  # Goodfellow et al. 2014, §3 (the -log D(G(z)) generator trick)
    HINGE = "hinge"  # Lim & Ye 2017; Miyato et al. 2018
    WASSERSTEIN_GP = "wasserstein_gp"  # Gulrajani et al. 2017


ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")


def _adam_05() -> OptimizerConfig:
    return OptimizerConfig(name="adam", lr=1e-3, params={"betas": (0.5, 0.999)})


@dataclass(frozen=True, kw_only=True)
class GANConfig:
    """Everything one GAN trial's training needs besides its data."""

    seed: int = 0
    latent_dim: int = 16  # > data dim, so a smooth G can tear unimodal noise into disjoint modes; small for CPU cost
    g_hidden: int = 128  # Metz et al. 2017
    g_depth: int = 2  # Metz et al. 2017
    d_hidden: int = 128  # Metz et al. 2017
    d_depth: int = 2  # one more than Metz's 1: a 1-layer D under-fits 25 modes (grid25)
    activation: str = "relu"  # for both networks; one of ACTIVATIONS
    loss: GANLoss = GANLoss.NON_SATURATING  # the textbook GAN, the baseline the others are measured against
    gp_weight: float = 10.0  # λ of Gulrajani et al. 2017 (their every experiment); used by wasserstein_gp only
    d_steps: int = 1  # D updates per G update: 1 in Goodfellow's experiments, 5 in Gulrajani's (n_critic)
    batch_size: int = 256  # toy-GAN custom (Gulrajani's 8-Gaussians: 256); cheap on CPU
    steps_per_epoch: int = 250  # G steps between two evaluations; ~1 s of CPU for the default nets
    g_optimizer: OptimizerConfig = field(default_factory=_adam_05)  # Adam(β1 = 0.5): Radford et al. 2016 (DCGAN)
    d_optimizer: OptimizerConfig = field(default_factory=_adam_05)  # searched separately (TTUR: Heusel et al. 2017)
    g_ema: float = 0.0  # 0 = off; else evaluate/sample an exponential moving average of G's weights (Yazıcı et al. 2019: 0.999)
    n_eval_samples: int = 2500  # samples per evaluation, as in VEEGAN's and PacGAN's tables
    mode_min_share: float = 0.01  # a mode counts when ≥ 1 % of samples are within 3σ of it (≈ PacGAN's 20 of 2500)
    collapse_patience: int = 3  # evaluations in a row that must look collapsed before stopping
    collapse_warmup: int = 8  # evaluations before the modes rule applies: at Adam 1e-3 G finds its first modes after ~1500 G steps (measured on ring8)
    d_loss_floor: float = 1e-3  # D loss below this = D wins outright (G's gradient vanishes); not for wasserstein_gp

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss", _loss(self.loss))
        for name in ("latent_dim", "g_hidden", "d_hidden", "d_steps", "batch_size", "steps_per_epoch", "n_eval_samples", "collapse_patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"gan.{name} must be an integer >= 1, but got {name}={value!r}")
        for name in ("g_depth", "d_depth", "collapse_warmup"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"gan.{name} must be an integer >= 0, but got {name}={value!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"gan.activation must be one of {', '.join(ACTIVATIONS)}, but got activation={self.activation!r}")
        if not (math.isfinite(self.gp_weight) and self.gp_weight >= 0):
            raise ValueError(f"gan.gp_weight must be a finite number >= 0, but got gp_weight={self.gp_weight!r}")
        if not 0 < self.mode_min_share <= 1:
            raise ValueError(f"gan.mode_min_share must be in (0, 1], but got mode_min_share={self.mode_min_share!r}")
        if not 0 <= self.g_ema < 1:
            raise ValueError(f"gan.g_ema must be in [0, 1), but got g_ema={self.g_ema!r}")
        if not self.d_loss_floor >= 0:
            raise ValueError(f"gan.d_loss_floor must be >= 0, but got d_loss_floor={self.d_loss_floor!r}")
        for name in ("g_optimizer", "d_optimizer"):
            opt = getattr(self, name)
            if not isinstance(opt, OptimizerConfig):
                raise ValueError(f"gan.{name} must be an OptimizerConfig, but got {type(opt).__name__}")
            if not (math.isfinite(opt.lr) and opt.lr > 0):
                raise ValueError(f"gan.{name}.lr must be a finite number > 0, but got lr={opt.lr!r}")


def _loss(value: object) -> GANLoss:
    try:
        return GANLoss(str(value)) if not isinstance(value, GANLoss) else value
    except ValueError:
        choices = ", ".join(m.value for m in GANLoss)
        raise ValueError(f"gan.loss must be one of {choices}, but got loss={value!r}") from None
