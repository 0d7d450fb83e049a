"""Adversarial losses, as functions of the discriminator's scores (the mean over the batch).

``real``/``fake`` are D's unbounded outputs on real and generated samples. Each loss is minimized:
D minimizes ``d_loss``, G minimizes ``g_loss``.

- non-saturating (Goodfellow et al. 2014, §3): D: −log σ(D(x)) − log(1 − σ(D(G(z))));
  G: −log σ(D(G(z))) instead of log(1 − σ(D(G(z)))), which saturates early in training.
  Written with softplus: −log σ(s) = softplus(−s), −log(1 − σ(s)) = softplus(s), stable for any s.
- hinge (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN eq. 16–17):
  D: max(0, 1 − D(x)) + max(0, 1 + D(G(z))); G: −D(G(z)).
- wasserstein_gp (Gulrajani et al. 2017, Algorithm 1): D: D(G(z)) − D(x) + λ·GP; G: −D(G(z)).
  The penalty is added by the caller (it needs D itself, see :func:`gradient_penalty`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hpbench.train.gan.config import GANLoss


def d_loss(kind: GANLoss, *, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (without the gradient penalty)."""
    if kind is GANLoss.NON_SATURATING:
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind is GANLoss.HINGE:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind is GANLoss.WASSERSTEIN_GP:
        return fake.mean() - real.mean()
    raise ValueError(f"gan.loss: no discriminator loss for {kind!r}")


def g_loss(kind: GANLoss, *, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss."""
    if kind is GANLoss.NON_SATURATING:
        return F.softplus(-fake).mean()
    if kind in (GANLoss.HINGE, GANLoss.WASSERSTEIN_GP):
        return -fake.mean()
    raise ValueError(f"gan.loss: no generator loss for {kind!r}")


def gradient_penalty(discriminator: torch.nn.Module, *, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """E[(‖∇_x̂ D(x̂)‖₂ − 1)²] at x̂ = ε·x + (1 − ε)·x̃ (Gulrajani et al. 2017, eq. 3).

    ``eps`` holds one ε ~ U[0, 1] per sample (shape (batch,)); the caller draws it from its seeded
    generator. The graph is kept (``create_graph``) so the penalty trains D's parameters.
    """
    shape = (-1,) + (1,) * (real.dim() - 1)
    x_hat = (eps.view(shape) * real.detach() + (1 - eps.view(shape)) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()
