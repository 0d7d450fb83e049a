"""The actor-critic network: an MLP (vector observations) or a small CNN (image observations),
a categorical or diagonal-Gaussian action head and a value head.

Vector observations get separate actor and critic MLPs (CleanRL's ``ppo.py``: sharing a trunk
couples the value loss scale to the policy); images share one conv encoder between the two
heads (CleanRL's ``ppo_atari.py``), which would otherwise be computed twice. Gaussian policies
have a state-independent log-std parameter (Schulman et al. 2017, §6.1).

Initialization is orthogonal, gain √2 for hidden layers, 0.01 for the policy output (a near-uniform
first policy) and 1 for the value output, biases 0 (Engstrom et al. 2020, "Implementation
Matters", §3; Andrychowicz et al. 2021, "What Matters in On-Policy RL", §3.2). Layers are built on
the ``meta`` device and initialized from the run's own generator, so building a policy neither
reads nor advances torch's global random state.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from hpbench.train.rl.config import Activation
from hpbench.train.rl.envs import EnvInfo, HeadKind, ObsKind

_ACTIVATIONS: dict[Activation, type[nn.Module]] = {Activation.TANH: nn.Tanh, Activation.RELU: nn.ReLU, Activation.GELU: nn.GELU,
                                                   Activation.SIGMOID: nn.Sigmoid, Activation.LEAKY_RELU: nn.LeakyReLU,
                                                   Activation.ELU: nn.ELU, Activation.SILU: nn.SiLU}
_LOG_2PI = math.log(2 * math.pi)


def mlp(sizes: list[int], activation: Activation, *, last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2 or last_activation:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def conv_encoder(obs_shape: tuple[int, ...], channels: tuple[int, ...], width: int, activation: Activation) -> nn.Sequential:
    """3x3 stride-2 convolutions (each halves H and W), flatten, one linear layer to ``width`` features."""
    c, h, w = obs_shape
    layers: list[nn.Module] = []
    for c_out in channels:
        layers += [nn.Conv2d(c, c_out, kernel_size=3, stride=2, padding=1), _ACTIVATIONS[activation]()]
        c, h, w = c_out, (h + 1) // 2, (w + 1) // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, width), _ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    def __init__(self, info: EnvInfo, *, hidden: tuple[int, ...], activation: Activation, cnn_channels: tuple[int, ...],
                 log_std_init: float, generator: torch.Generator) -> None:
        super().__init__()
        self.obs_kind, self.head_kind = info.obs_kind, info.head_kind
        n_out = info.n_actions
        with torch.device("meta"):
            if info.obs_kind is ObsKind.IMAGE:
                self.encoder: nn.Module | None = conv_encoder(info.obs_shape, cnn_channels, hidden[-1], activation)
                self.actor = nn.Sequential(nn.Linear(hidden[-1], n_out))
                self.critic = nn.Sequential(nn.Linear(hidden[-1], 1))
            else:
                self.encoder = None
                self.actor = mlp([info.obs_shape[0], *hidden, n_out], activation)
                self.critic = mlp([info.obs_shape[0], *hidden, 1], activation)
        self.to_empty(device="cpu")
        self.log_std = nn.Parameter(torch.full((n_out,), float(log_std_init))) if info.head_kind is HeadKind.GAUSSIAN else None
        self._init(generator)

    @torch.no_grad()
    def _init(self, generator: torch.Generator) -> None:
        last = {id(self.actor[-1]): 0.01, id(self.critic[-1]): 1.0}
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.orthogonal_(m.weight, gain=last.get(id(m), math.sqrt(2)), generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:  # (N, H, W, C) uint8 → (N, C, H, W) in [0, 1]
            return self.encoder(obs.permute(0, 3, 1, 2).float() / 255.0)
        return obs.reshape(len(obs), -1).float()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action logits or Gaussian mean, value) for a batch of observations."""
        x = self.features(obs)
        return self.actor(x), self.critic(x).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(obs)).squeeze(-1)

    # -- the action distribution, written out so that sampling takes the run's generator --------

    def sample(self, head: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.log_std is None:
            return torch.multinomial(torch.softmax(head, dim=-1), 1, generator=generator).squeeze(-1)
        noise = torch.randn(head.shape, generator=generator, dtype=head.dtype)
        return head + self.log_std.exp() * noise

    def mode(self, head: torch.Tensor) -> torch.Tensor:
        """The deterministic action: the most likely one, or the Gaussian mean."""
        return head.argmax(dim=-1) if self.log_std is None else head

    def log_prob(self, head: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        if self.log_std is None:
            return torch.log_softmax(head, dim=-1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        z = (actions - head) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * _LOG_2PI).sum(-1)

    def entropy(self, head: torch.Tensor) -> torch.Tensor:
        if self.log_std is None:
            logp = torch.log_softmax(head, dim=-1)
            return -(logp.exp() * logp).sum(-1)
        return (0.5 + 0.5 * _LOG_2PI + self.log_std).sum().expand(len(head))


def build_policy(info: EnvInfo, *, hidden: tuple[int, ...], activation: Activation, cnn_channels: tuple[int, ...],
                 log_std_init: float, seed: int) -> ActorCritic:
    return ActorCritic(info, hidden=hidden, activation=activation, cnn_channels=cnn_channels, log_std_init=log_std_init,
                       generator=torch.Generator().manual_seed(seed))
