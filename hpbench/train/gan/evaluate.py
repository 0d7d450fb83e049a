"""From generated samples to metrics: one evaluator per kind of data.

- :class:`MixtureEvaluator` (ring8, grid25): ``modes_covered`` and ``hq_fraction``.
- :class:`FrechetEvaluator` (anything else): ``frechet_distance`` between held-out real samples
  and generated ones in a feature space, plus ``class_coverage`` when a classifier is given (a
  class counts when at least ``min_share`` of the samples are predicted as it).
  Without labels the features are the standardized raw values (no classifier can be trained).

Each returns an :class:`Evaluation`: the metrics and the ``modes`` count the collapse rule reads
(modes covered, or classes found; None when the data has neither).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hpbench.train.gan import metrics
from hpbench.train.gan.features import FeatureClassifier, safe_std
from hpbench.train.gan.mixtures import Mixture


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    metrics: dict[str, float]
    modes: int | None  # modes covered / classes found, for the collapse rule


class Evaluator(Protocol):
    def __call__(self, samples: np.ndarray) -> Evaluation: ...


@dataclass(frozen=True, kw_only=True)
class MixtureEvaluator:
    mixture: Mixture
    min_share: float = 0.01

    def __call__(self, samples: np.ndarray) -> Evaluation:
        x = samples.reshape(len(samples), -1)
        covered = metrics.modes_covered(x, centers=self.mixture.centers, std=self.mixture.std, min_share=self.min_share)
        hq = metrics.hq_fraction(x, centers=self.mixture.centers, std=self.mixture.std)
        return Evaluation(metrics={"modes_covered": float(covered), "hq_fraction": hq}, modes=covered)


class FrechetEvaluator:
    """Fréchet distance to ``x_ref`` (real, held out); the reference statistics are computed once."""

    def __init__(self, *, x_ref: np.ndarray, classifier: FeatureClassifier | None = None, min_share: float = 0.01) -> None:
        self.classifier, self.min_share = classifier, min_share
        flat = np.asarray(x_ref, np.float64).reshape(len(x_ref), -1)
        self._mean, self._std = flat.mean(axis=0), safe_std(flat)
        self._ref = metrics.gaussian_stats(self._features(x_ref))

    def _features(self, x: np.ndarray) -> np.ndarray:
        if self.classifier is not None:
            return self.classifier.features(x)
        return (np.asarray(x, np.float64).reshape(len(x), -1) - self._mean) / self._std

    def __call__(self, samples: np.ndarray) -> Evaluation:
        fd = metrics.frechet_distance(*self._ref, *metrics.gaussian_stats(self._features(samples)))
        if self.classifier is None:
            return Evaluation(metrics={"frechet_distance": fd}, modes=None)
        n = self.classifier.n_classes
        coverage = metrics.class_coverage(self.classifier.predict(samples), n_classes=n, min_share=self.min_share)
        return Evaluation(metrics={"frechet_distance": fd, "class_coverage": coverage}, modes=round(coverage * n))
