"""MLP generator and discriminator (Goodfellow et al. 2014 used MLPs for both; so do the 2-D
mixture benchmarks of Metz et al. 2017 and Gulrajani et al. 2017).

The generator maps ``latent_dim`` noise to a flat sample (linear output: data is not squashed to
[-1, 1]); the discriminator maps a sample, flattened, to one unbounded score (a logit for the
non-saturating and hinge losses, a critic value for WGAN-GP). No normalization layers: batch norm
in D would couple the samples of a batch, which the gradient penalty assumes independent
(Gulrajani et al. 2017, §4). Later any hpbench model family may stand in for either network.
"""

from __future__ import annotations

from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def _mlp(*, n_in: int, n_out: int, hidden: int, depth: int, activation: str) -> list[nn.Module]:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"gan.activation must be one of {', '.join(_ACTIVATIONS)}, but got {activation!r}")
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), _ACTIVATIONS[activation]()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return layers


def generator(*, latent_dim: int, out_dim: int, hidden: int, depth: int, activation: str) -> nn.Module:
    """z (batch, latent_dim) → x (batch, out_dim)."""
    return nn.Sequential(*_mlp(n_in=latent_dim, n_out=out_dim, hidden=hidden, depth=depth, activation=activation))


def discriminator(*, in_dim: int, hidden: int, depth: int, activation: str) -> nn.Module:
    """x (batch, ...) → score (batch,): flattened input, one output unit, squeezed."""
    return nn.Sequential(nn.Flatten(), *_mlp(n_in=in_dim, n_out=1, hidden=hidden, depth=depth, activation=activation), nn.Flatten(0))
