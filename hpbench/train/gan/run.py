"""One GAN trial's training state and its epoch loop: :class:`GANRun`.

An epoch is ``steps_per_epoch`` generator steps, each preceded by ``d_steps`` discriminator steps
(Goodfellow et al. 2014, Algorithm 1; Gulrajani et al. 2017, Algorithm 1), then one evaluation on
``n_eval_samples`` samples from a fixed noise batch (the same z every epoch, so epochs compare).
Everything random comes from the config's seed: initial weights (drawn inside ``fork_rng``, so
the global RNG is left alone), and one ``torch.Generator`` for batches, noise and the penalty's ε,
whose state is part of :meth:`state_dict` — a resumed run continues bit for bit.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from hpbench.train.build import shared_tensor
from hpbench.train.gan import losses
from hpbench.train.gan.collapse import CollapseDetector, GANStop
from hpbench.train.gan.config import GANConfig, GANLoss
from hpbench.train.gan.evaluate import Evaluator
from hpbench.train.gan.networks import discriminator, generator
from hpbench.train.gan.optim import OptimizerBuilder, torch_optimizer

_EVAL_SEED_OFFSET = 7919  # the fixed evaluation noise uses its own stream: seed + this prime


class GANRun:
    """Training state of one GAN trial on ``x_train`` (float array shaped (n, *sample_shape))."""

    def __init__(self, config: GANConfig, *, x_train: np.ndarray, evaluator: Evaluator,
                 build_optimizer: OptimizerBuilder = torch_optimizer, device: str = "cpu") -> None:
        x = np.asarray(x_train, np.float32)
        if x.ndim < 2 or len(x) < 1 or not np.isfinite(x).all():
            raise ValueError(f"x_train must be a finite (n, ...) array with n >= 1, but got shape {x.shape}")
        self.config, self.evaluator, self.device = config, evaluator, torch.device(device)
        self.sample_shape = tuple(x.shape[1:])
        dim = math.prod(self.sample_shape)
        self.x_train = shared_tensor(x, dtype=torch.float32, device=self.device)  # read-only from Ray's object store: no copy, no warning
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generator = generator(latent_dim=config.latent_dim, out_dim=dim, hidden=config.g_hidden,
                                       depth=config.g_depth, activation=config.activation).to(self.device)
            self.discriminator = discriminator(in_dim=dim, hidden=config.d_hidden, depth=config.d_depth,
                                               activation=config.activation).to(self.device)
        # the generator that is evaluated and sampled: G itself, or a moving average of its weights
        self.g_average = copy.deepcopy(self.generator).requires_grad_(False) if config.g_ema > 0 else None
        g_opt, d_opt = config.g_optimizer, config.d_optimizer
        self.g_optimizer = build_optimizer(g_opt.name, self.generator.parameters(), lr=g_opt.lr, params=dict(g_opt.params))
        self.d_optimizer = build_optimizer(d_opt.name, self.discriminator.parameters(), lr=d_opt.lr, params=dict(d_opt.params))
        self.rng = torch.Generator(device="cpu").manual_seed(config.seed)
        eval_rng = torch.Generator(device="cpu").manual_seed(config.seed + _EVAL_SEED_OFFSET)
        self._eval_z = torch.randn(config.n_eval_samples, config.latent_dim, generator=eval_rng).to(self.device)
        self.detector = CollapseDetector(
            patience=config.collapse_patience, warmup=config.collapse_warmup,
            d_loss_floor=None if config.loss is GANLoss.WASSERSTEIN_GP else config.d_loss_floor)
        self.epoch = 0
        self.g_steps = 0

    @property
    def stop_reason(self) -> GANStop | None:
        """``diverged`` / ``collapsed`` once the detector has said so, else None."""
        return self.detector.verdict

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=self.rng).to(self.device)

    def _real(self, n: int) -> torch.Tensor:
        idx = torch.randint(len(self.x_train), (n,), generator=self.rng).to(self.device)  # with replacement
        return self.x_train[idx]

    def _fake(self, z: torch.Tensor, *, net: torch.nn.Module | None = None) -> torch.Tensor:
        return (net or self.generator)(z).view(len(z), *self.sample_shape)

    @property
    def _evaluated(self) -> torch.nn.Module:
        return self.g_average if self.g_average is not None else self.generator

    def _d_step(self) -> tuple[float, float]:
        cfg = self.config
        real = self._real(cfg.batch_size)
        with torch.no_grad():
            fake = self._fake(self._noise(cfg.batch_size))
        loss = losses.d_loss(cfg.loss, real=self.discriminator(real), fake=self.discriminator(fake))
        gp = 0.0
        if cfg.loss is GANLoss.WASSERSTEIN_GP and cfg.gp_weight > 0:
            eps = torch.rand(cfg.batch_size, generator=self.rng).to(self.device)
            penalty = losses.gradient_penalty(self.discriminator, real=real, fake=fake, eps=eps)
            loss = loss + cfg.gp_weight * penalty
            gp = penalty.item()
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return loss.item(), gp

    def _g_step(self) -> float:
        self.discriminator.requires_grad_(False)  # G's step needs D's input gradient only
        try:
            loss = losses.g_loss(self.config.loss, fake=self.discriminator(self._fake(self._noise(self.config.batch_size))))
            self.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.g_optimizer.step()
        finally:
            self.discriminator.requires_grad_(True)
        self.g_steps += 1
        if self.g_average is not None:
            # θ̄ ← β·θ̄ + (1 − β)·θ with β = min(g_ema, (1 + t) / (10 + t)): the warm-up of TensorFlow's
            # ExponentialMovingAverage(num_updates), so early averages are not dragged back to the init
            beta = min(self.config.g_ema, (1 + self.g_steps) / (10 + self.g_steps))
            with torch.no_grad():
                for avg, p in zip(self.g_average.parameters(), self.generator.parameters(), strict=True):
                    avg.lerp_(p, 1.0 - beta)
        return loss.item()

    def train_epoch(self) -> dict[str, float]:
        """One epoch and its evaluation: mean ``g_loss``, ``d_loss`` (with the penalty) and ``gp``, the
        evaluator's metrics, and ``diverged`` / ``collapsed`` flags (1.0 or 0.0). A non-finite loss
        ends the epoch at once (metrics are then NaN)."""
        if self.stop_reason is not None:
            raise RuntimeError(f"GANRun: training already stopped ({self.stop_reason}) after epoch {self.epoch}")
        cfg = self.config
        self.generator.train()
        self.discriminator.train()
        g_sum = d_sum = gp_sum = 0.0
        n_g = n_d = 0
        for _ in range(cfg.steps_per_epoch):
            for _ in range(cfg.d_steps):
                d, gp = self._d_step()
                d_sum, gp_sum, n_d = d_sum + d, gp_sum + gp, n_d + 1
            g_sum, n_g = g_sum + self._g_step(), n_g + 1
            if not math.isfinite(g_sum + d_sum):
                break
        self.epoch += 1
        g_loss, d_loss = g_sum / n_g, d_sum / n_d
        samples = self._eval_samples()
        finite = bool(np.isfinite(samples).all()) and math.isfinite(g_loss + d_loss)
        evaluation = self.evaluator(samples) if finite else None
        verdict = self.detector.update(g_loss=g_loss, d_loss=d_loss, samples_finite=finite,
                                       modes=None if evaluation is None else evaluation.modes)
        out = {"g_loss": g_loss, "d_loss": d_loss, "gp": gp_sum / n_d}
        out.update(evaluation.metrics if evaluation is not None else {})
        out["diverged"] = float(verdict is GANStop.DIVERGED)
        out["collapsed"] = float(verdict is GANStop.COLLAPSED)
        return out

    @torch.no_grad()
    def _eval_samples(self) -> np.ndarray:
        self._evaluated.eval()
        return self._fake(self._eval_z, net=self._evaluated).cpu().numpy()

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0) -> np.ndarray:
        """``n`` generated samples (float32, shaped like ``x_train``'s rows) from noise seeded by ``seed``
        (for plots; the training generator's state is not touched). With ``g_ema`` > 0 the
        averaged generator draws them, as in evaluation."""
        self._evaluated.eval()
        z = torch.randn(n, self.config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        return self._fake(z, net=self._evaluated).cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "g_steps": self.g_steps,
            "generator": self.generator.state_dict(),
            "g_average": None if self.g_average is None else self.g_average.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "rng": self.rng.get_state(),
            "detector": self.detector.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.g_steps = int(state["epoch"]), int(state["g_steps"])
        self.generator.load_state_dict(state["generator"])
        if self.g_average is not None:
            self.g_average.load_state_dict(state["g_average"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.rng.set_state(state["rng"])
        self.detector.load_state_dict(state["detector"])
