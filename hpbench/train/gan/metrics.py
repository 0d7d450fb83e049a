"""Sample-quality metrics of a generator (numpy/scipy only; pure functions of arrays).

Mixture metrics (Srivastava et al. 2017, VEEGAN §5.1; Metz et al. 2017): a generated sample is
*high quality* when it lies within 3σ (Euclidean) of some mode centre; a mode is *covered* when at
least ``min_share`` of the samples are high-quality samples of that mode. The modes of ring8 and
grid25 are ≥ 38σ apart, so "within 3σ of mode k" never holds for two modes at once.

Fréchet distance (Heusel et al. 2017, eq. 6 — FID without the Inception network): between
Gaussians fitted to two feature sets,
    d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^{1/2}).
Tr (Σ₁Σ₂)^{1/2} is computed as Σ √λᵢ(Σ₁^{1/2} Σ₂ Σ₁^{1/2}): the same eigenvalues (similar
matrices), but of a symmetric PSD matrix, so ``eigh`` gives real values and rounding's tiny
negative eigenvalues are clipped to 0 — no complex parts to discard as ``sqrtm`` would give.
"""

from __future__ import annotations

import numpy as np

SIGMAS = 3.0  # "within 3 standard deviations" (VEEGAN §5.1)


def _as_samples(samples: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centers, dtype=np.float64)
    if x.ndim != 2 or c.ndim != 2 or x.shape[1] != c.shape[1]:
        raise ValueError(f"samples and centers must be (n, d) and (k, d) arrays, but got shapes {x.shape} and {c.shape}")
    return x, c


def _hits(samples: np.ndarray, centers: np.ndarray, std: float) -> np.ndarray:
    """(n, k) bool: sample i lies within 3σ of centre k (non-finite samples hit nothing)."""
    if not std > 0:
        raise ValueError(f"std must be > 0, but got std={std!r}")
    x, c = _as_samples(samples, centers)
    dist = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))
    return dist <= SIGMAS * std  # NaN compares False


def hq_fraction(samples: np.ndarray, *, centers: np.ndarray, std: float) -> float:
    """Share of samples within 3σ of some mode (0.0 for no samples)."""
    hits = _hits(samples, centers, std)
    return float(hits.any(axis=1).mean()) if len(hits) else 0.0


def modes_covered(samples: np.ndarray, *, centers: np.ndarray, std: float, min_share: float) -> int:
    """Number of modes that at least ``min_share`` of the samples lie within 3σ of."""
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], but got min_share={min_share!r}")
    hits = _hits(samples, centers, std)
    if not len(hits):
        return 0
    return int((hits.mean(axis=0) >= min_share).sum())


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, features in columns) of an (n, d) array, n ≥ 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be an (n, d) array with n >= 2, but got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"features must be finite, but {int((~np.isfinite(f)).sum())} values are NaN or infinite")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric PSD matrix (eigenvalues < 0 from rounding clipped to 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(μ₁, Σ₁) and N(μ₂, Σ₂); see the module docstring."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"frechet_distance: shapes must be (d,), (d, d), (d,), (d, d), but got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    root1 = _psd_sqrt(s1)
    cross = np.linalg.eigvalsh(_sym(root1 @ s2 @ root1))
    tr_covmean = float(np.sqrt(np.clip(cross, 0.0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical inputs


def frechet_distance_of(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two (n, d) feature arrays."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))


def _sym(m: np.ndarray) -> np.ndarray:
    return (m + m.T) / 2


def class_coverage(predicted: np.ndarray, *, n_classes: int, min_share: float = 0.0) -> float:
    """Share of the ``n_classes`` classes that at least ``min_share`` of the predictions (and at least
    one) fall in. A generator collapsed on one class scores 1/n_classes."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, but got n_classes={n_classes}")
    p = np.asarray(predicted).astype(np.int64).ravel()
    if p.size == 0:
        return 0.0
    if p.min() < 0 or p.max() >= n_classes:
        raise ValueError(f"predicted classes must be in [0, {n_classes}), but got values from {p.min()} to {p.max()}")
    counts = np.bincount(p, minlength=n_classes)
    return float(((counts > 0) & (counts / p.size >= min_share)).sum() / n_classes)
