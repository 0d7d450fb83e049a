"""The feature network of the Fréchet distance for data other than the 2-D mixtures.

FID measures distances in the penultimate layer of an Inception network trained on ImageNet
(Heusel et al. 2017). hpbench's datasets are small and varied (8x8 digits, user tables and
signals), so each gets its own small MLP classifier, trained once on that dataset's labelled
training split; its penultimate activations are the features and its predictions give the class
coverage. The state_dict is cached under a directory the caller gives, keyed by the dataset key
and a fingerprint of the arrays and settings, so every trial of a study (and every later study on
the same data) loads the same network instead of training its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

FEATURE_VERSION = 1  # bump when the architecture or training below changes: old caches are then ignored


@dataclass(frozen=True, kw_only=True)
class FeatureSettings:
    hidden: int = 128  # two ReLU layers of 128: >97 % val accuracy on digits, ~1 s to train on one CPU core
    n_features: int = 64  # penultimate width; kept small so covariances from a few hundred samples are meaningful
    epochs: int = 30  # digits: 1797 samples x 30 epochs at batch 64 ≈ 850 steps
    batch_size: int = 64
    lr: float = 1e-3  # Adam's default
    seed: int = 0


class FeatureClassifier:
    """A trained classifier with standardized inputs: :meth:`features` (penultimate) and :meth:`predict`."""

    def __init__(self, *, net: nn.Sequential, mean: np.ndarray, std: np.ndarray, n_classes: int) -> None:
        self.net = net.eval()
        self.mean, self.std, self.n_classes = mean.astype(np.float32), std.astype(np.float32), n_classes

    def _input(self, x: np.ndarray) -> torch.Tensor:
        flat = np.asarray(x, np.float32).reshape(len(x), -1)
        return torch.from_numpy((flat - self.mean) / self.std)

    @torch.no_grad()
    def features(self, x: np.ndarray) -> np.ndarray:
        """(n, n_features) penultimate activations of samples shaped like the training data."""
        return self.net[:-1](self._input(x)).numpy().astype(np.float64)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.net(self._input(x)).argmax(dim=1).numpy()


def _net(n_in: int, n_classes: int, s: FeatureSettings) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, s.hidden), nn.ReLU(), nn.Linear(s.hidden, s.n_features), nn.ReLU(), nn.Linear(s.n_features, n_classes))


def fingerprint(x: np.ndarray, y: np.ndarray, settings: FeatureSettings) -> str:
    """A short hash of the training arrays and settings (a changed dataset never reuses a stale cache)."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps({**settings.__dict__, "version": FEATURE_VERSION}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def feature_classifier(*, key: str, x: np.ndarray, y: np.ndarray, cache_dir: Path | str, settings: FeatureSettings = FeatureSettings()) -> FeatureClassifier:
    """The classifier of dataset ``key`` trained on ``(x, y)``: loaded from ``cache_dir`` when cached, else
    trained (seeded, deterministic on CPU) and cached. ``y`` holds class indices 0..k-1."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y).astype(np.int64).ravel()
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"feature classifier {key!r}: x and y must have the same length >= 2, but got {len(x)} and {len(y)}")
    if not key or any(c in key for c in "/\\") or key.startswith("."):
        raise ValueError(f"feature classifier: key must be a plain file-name stem, but got {key!r}")
    if y.min() < 0:
        raise ValueError(f"feature classifier {key!r}: labels must be class indices >= 0, but got {y.min()}")
    n_classes, flat = int(y.max()) + 1, x.reshape(len(x), -1)
    path = Path(cache_dir) / f"{key}-{fingerprint(x, y, settings)}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        net = _net(flat.shape[1], n_classes, settings)
        net.load_state_dict(saved["state_dict"])
        return FeatureClassifier(net=net, mean=saved["mean"].numpy(), std=saved["std"].numpy(), n_classes=n_classes)
    mean, std = flat.mean(axis=0), safe_std(flat)
    net = _train(((flat - mean) / std).astype(np.float32), y, n_classes, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # one per process: concurrent trials may train the same classifier
    torch.save({"state_dict": net.state_dict(), "mean": torch.from_numpy(mean), "std": torch.from_numpy(std)}, tmp)
    tmp.replace(path)  # atomic: a concurrent trial never reads half a file
    return FeatureClassifier(net=net, mean=mean, std=std, n_classes=n_classes)


def safe_std(flat: np.ndarray) -> np.ndarray:
    """Per-feature std, floored at 10 % of the mean std over features (1 where all are constant).

    Digits' border pixels are (almost) always 0 in the data: dividing a generated sample's stray
    value there by a ~0 std made Fréchet distances of ~1e10 for an early generator (measured)."""
    std = flat.std(axis=0)
    floor = 0.1 * float(std.mean())
    return np.maximum(std, floor) if floor > 0 else np.ones_like(std)


def _train(x: np.ndarray, y: np.ndarray, n_classes: int, s: FeatureSettings) -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        net = _net(x.shape[1], n_classes, s)
    gen = torch.Generator().manual_seed(s.seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    for _ in range(s.epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(s.batch_size):
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()
