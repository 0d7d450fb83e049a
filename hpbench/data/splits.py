"""Deterministic train/validation/test indices from the labels and the seed (numpy alone:
scikit-learn's ``train_test_split`` cost the driver ~1 s of imports). Used alike for data in
memory and for streamed data, whose labels are the one thing held in memory."""

from __future__ import annotations

import math

import numpy as np


def split_indices(y: np.ndarray, *, task: str, val_fraction: float, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic (train, val, test) indices, each sorted: the test split first, then the
    validation split from the rest. Classification splits are stratified (each class keeps
    its share in every split); a split of fraction ``f`` of ``n`` samples holds ``ceil(f * n)``.
    Computed with numpy alone (scikit-learn's ``train_test_split`` cost the driver ~1 s of imports)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(len(y))
    stratify = task != "regression"
    test = np.array([], dtype=np.int64)
    if test_fraction > 0:
        idx, test = _split(idx, y, stratify=stratify, n_take=_share(test_fraction, len(y)), rng=rng)
    train, val = _split(idx, y, stratify=stratify, n_take=min(len(idx), _share(val_fraction, len(y))), rng=rng)
    return np.sort(train), np.sort(val), np.sort(test)


def _share(fraction: float, n: int) -> int:
    return math.ceil(round(fraction * n, 6))  # 0.2 * 100 is 20, not 21 from a float's last digit


def _split(idx: np.ndarray, y: np.ndarray, *, stratify: bool, n_take: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, taken): ``n_take`` of ``idx`` taken at random; stratified, each class gives its
    proportional share (largest remainders settle the rounding)."""
    if not stratify:
        perm = rng.permutation(idx)
        return perm[n_take:], perm[:n_take]
    classes, inverse = np.unique(y[idx], return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = counts * (n_take / len(idx))
    share = np.floor(quota).astype(np.int64)
    for c in np.argsort(-(quota - share), kind="stable")[: n_take - int(share.sum())]:
        share[c] += 1
    kept, taken = [], []
    for c in range(len(classes)):
        members = rng.permutation(idx[inverse == c])
        taken.append(members[: share[c]])
        kept.append(members[share[c] :])
    return np.concatenate(kept), np.concatenate(taken)
