"""The ``gan`` task (:mod:`hpbench.train.task`): the shared trainer drives a :class:`GANRun` one
epoch (``g_steps_per_epoch`` generator steps, each after ``d_steps`` discriminator steps, then the
evaluation) at a time.

A trial's :class:`~hpbench.config.TrialConfig` becomes a :class:`GANConfig`: the generator from
``[model]`` (mlp ``depth`` / ``width`` / ``activation``, ``latent_dim``), the discriminator from
``d_depth`` / ``d_width``, ``[optimizer]`` for G and ``[train] d_optimizer`` / ``d_lr`` /
``d_betas`` for D (both built by hpbench's optimizer registry), ``[train] batch_size`` and the
task's own ``[train]`` keys. The data: the training split of ``[data] dataset``; the evaluator is
the mixture's (``ring8`` / ``grid25``: modes covered, high-quality share) or a Fréchet distance to
the validation split in the features of a classifier trained once per dataset and cached (class
coverage too, for labelled classification data).

Epoch rows: ``train_g_loss``, ``train_d_loss`` (with the penalty), ``train_gp``, ``train_loss``
(their sum, for the generic loss curves), and ``val_modes_covered`` / ``val_hq_fraction`` /
``val_modes_hq`` (modes covered + hq_fraction) or ``val_frechet_distance`` / ``val_class_coverage``.
A trial whose detector sees collapse stops as ``collapsed``; a non-finite loss or sample as ``diverged``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpbench.config import OptimizerConfig, TrialConfig
from hpbench.data.mixtures import MIXTURES, mixture
from hpbench.data.prepare import Splits, prepare_config
from hpbench.results.status import StopReason
from hpbench.train.build import resolve_device
from hpbench.train.gan import keys
from hpbench.train.gan.collapse import GANStop
from hpbench.train.gan.config import GANConfig
from hpbench.train.gan.evaluate import Evaluator, FrechetEvaluator, MixtureEvaluator
from hpbench.train.gan.features import feature_classifier
from hpbench.train.gan.run import GANRun
from hpbench.train.optimizers import build_optimizer

STATE_KEY = "gan"  # the run's state inside the trainer's
N_RECORD_SAMPLES = 512  # generated samples kept in the weights record (the report's sample grid)
_MLP_DEFAULTS = {"depth": 2, "width": 128, "activation": "relu"}  # the mlp family's defaults = Metz et al. 2017's G


def gan_config(cfg: TrialConfig) -> GANConfig:
    """The :class:`GANConfig` of a trial (its keys validated by the study parser; GANConfig checks them again)."""
    own = {**{k: p.default for k, p in {**keys.MODEL, **keys.TRAIN}.items()}, **cfg.task_params}
    g = {**_MLP_DEFAULTS, **cfg.model.params}
    d_params: dict[str, Any] = {"betas": tuple(own["d_betas"])} if own["d_optimizer"] in keys.ADAM_LIKE else {}
    if isinstance(cfg.train.batch_size, str):
        raise ValueError("train.batch_size: the gan task needs a number of samples per step, but got 'full'")
    return GANConfig(
        seed=cfg.seed, latent_dim=int(own["latent_dim"]), g_hidden=int(g["width"]), g_depth=int(g["depth"]),
        d_hidden=int(own["d_width"]), d_depth=int(own["d_depth"]), activation=str(g["activation"]), loss=own["loss"],
        gp_weight=float(own["gp_weight"]), d_steps=int(own["d_steps"]), batch_size=int(cfg.train.batch_size),
        steps_per_epoch=int(own["g_steps_per_epoch"]), g_optimizer=cfg.optimizer,
        d_optimizer=OptimizerConfig(name=str(own["d_optimizer"]), lr=float(own["d_lr"]), params=d_params),
        g_ema=float(own["g_ema"]), n_eval_samples=int(own["n_eval_samples"]), mode_min_share=float(own["mode_min_share"]),
        collapse_patience=int(own["collapse_patience"]), collapse_warmup=int(own["collapse_warmup"]),
        d_loss_floor=float(own["d_loss_floor"]))


def features_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hpbench/gan_features`` (``~/.cache/hpbench/gan_features``): the Fréchet feature classifiers."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "hpbench" / "gan_features"


def evaluator(dataset: str, splits: Splits, *, min_share: float) -> Evaluator:
    """The mixture's evaluator for ``ring8`` / ``grid25``; else the Fréchet distance to the validation
    split (with class coverage when the data is labelled for classification)."""
    if dataset in MIXTURES:
        return MixtureEvaluator(mixture=mixture(dataset), min_share=min_share)
    classifier = None
    if splits.task in keys.CLASS_TASKS and len(splits.x_train) >= 2:
        key = "".join(c if c.isalnum() or c in "-_" else "_" for c in (splits.name or dataset))[-60:] or "data"
        classifier = feature_classifier(key=key, x=splits.x_train, y=splits.y_train, cache_dir=features_cache_dir())
    return FrechetEvaluator(x_ref=splits.x_val, classifier=classifier, min_share=min_share)


class _Pair(nn.Module):
    """G, D (and G's average) as one module: the weights the trainer keeps for the best epoch."""

    def __init__(self, run: GANRun) -> None:
        super().__init__()
        self.generator, self.discriminator = run.generator, run.discriminator
        self.g_average = run.g_average


class GANTaskRun:
    """One gan trial (:class:`hpbench.train.task.TaskRun`)."""

    def __init__(self, cfg: TrialConfig) -> None:
        if not cfg.data.dataset:
            raise ValueError("data.dataset: the gan task needs a dataset to learn to sample")
        self.cfg = cfg
        self.gan = gan_config(cfg)
        self.device = resolve_device(cfg.train.device)
        splits = prepare_config(cfg.data, seed=cfg.seed)
        if not isinstance(splits, Splits):
            raise ValueError("data.stream: the gan task reads its data in memory (set data.stream = false)")
        self.splits = splits
        self.mixture = cfg.data.dataset in MIXTURES
        ev = evaluator(cfg.data.dataset, splits, min_share=self.gan.mode_min_share)
        self.run = GANRun(self.gan, x_train=splits.x_train, evaluator=ev, build_optimizer=build_optimizer, device=str(self.device))
        if self.mixture:  # the collapse rule reads modes; with Fréchet data classes (or nothing, unlabelled)
            self.run.detector.max_modes = 1
        self.model = _Pair(self.run)
        self.n_params = sum(p.numel() for p in (*self.run.generator.parameters(), *self.run.discriminator.parameters()))

    def first_fields(self) -> dict[str, Any]:
        return {"device": str(self.device)}

    def run_epoch(self) -> dict[str, Any]:
        m = self.run.train_epoch()
        row: dict[str, Any] = {"train_loss": m["g_loss"] + m["d_loss"], "train_g_loss": m["g_loss"], "train_d_loss": m["d_loss"],
                               "train_gp": m["gp"], "g_steps": self.run.g_steps}
        if self.mixture:
            modes, hq = m.get("modes_covered", math.nan), m.get("hq_fraction", math.nan)
            row.update(val_modes_covered=modes, val_hq_fraction=hq, val_modes_hq=modes + hq)
        else:
            row["val_frechet_distance"] = m.get("frechet_distance", math.nan)
            if "class_coverage" in m:
                row["val_class_coverage"] = m["class_coverage"]
        return row

    def diverged(self, row: Mapping[str, Any]) -> bool:
        return self.run.stop_reason is GANStop.DIVERGED or not math.isfinite(row["train_loss"])

    def stop_reason(self) -> StopReason | None:
        return StopReason.COLLAPSED if self.run.stop_reason is GANStop.COLLAPSED else None

    def final_fields(self, *, diverged: bool) -> dict[str, Any]:
        return {"g_steps": self.run.g_steps}

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The weights file of a gan trial: the evaluated generator's weights, what rebuilds it, and
        :data:`N_RECORD_SAMPLES` generated samples (seed 0) for the report (plain values: weights_only loads it)."""
        g = self.run.g_average if self.run.g_average is not None else self.run.generator
        samples = self.run.sample(N_RECORD_SAMPLES, seed=0)
        return {"state_dict": {k: v.detach().to("cpu", copy=True) for k, v in g.state_dict().items()},
                "task": "gan", "family": self.cfg.model.family, "params": dict(self.cfg.model.params),
                "input_shape": tuple(self.splits.input_shape), "n_outputs": int(math.prod(self.splits.input_shape)),
                "latent_dim": self.gan.latent_dim, "dataset": self.cfg.data.dataset, "kind": str(self.splits.kind),
                "samples": torch.from_numpy(samples), "temperature": None}

    def state_dict(self) -> dict[str, Any]:
        return {STATE_KEY: self.run.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.run.load_state_dict(state[STATE_KEY])

    def close(self) -> None:
        pass
