"""Deterministic train/validation/test indices from the labels and the seed (numpy alone:
scikit-learn's ``train_test_split`` cost the driver ~1 s of imports). Used alike for data in
memory and for streamed data, whose labels are the one thing held in memory."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHOWN_CLASSES = 3  # classes named in the "too few to stratify" warning (the rest counted)


def split_indices(y: np.ndarray, *, task: str, val_fraction: float, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic (train, val, test) indices, each sorted: the test split first, then the
    validation split from the rest. Classification splits are stratified (each class keeps
    its share in every split); a split of fraction ``f`` of ``n`` samples holds ``ceil(f * n)``.
    Computed with numpy alone (scikit-learn's ``train_test_split`` cost the driver ~1 s of imports)."""
    check_split_sizes(len(y), val_fraction=val_fraction, test_fraction=test_fraction)
    rng = np.random.default_rng(seed)
    idx = np.arange(len(y))
    stratify = task != "regression"
    test = np.array([], dtype=np.int64)
    if test_fraction > 0:
        idx, test = _split(idx, y, stratify=stratify, n_take=_share(test_fraction, len(y)), rng=rng)
    train, val = _split(idx, y, stratify=stratify, n_take=min(len(idx), _share(val_fraction, len(y))), rng=rng)
    return np.sort(train), np.sort(val), np.sort(test)


class SplitError(ValueError):
    """The data cannot be split as asked; the message names the sizes (and the keys to change)."""


def check_split_sizes(n: int, *, val_fraction: float, test_fraction: float) -> None:
    """Every split carved out of ``n`` samples gets some, and the training split keeps some: the
    validation and test splits are rounded up against the whole set, so tiny data could leave
    none to train on (a fraction of 0: that split came with the data, or there is none)."""
    n_test = _share(test_fraction, n) if test_fraction > 0 else 0
    n_val = min(n - n_test, _share(val_fraction, n)) if val_fraction > 0 else 0
    n_train = n - n_test - n_val
    if n_train < 1 or (val_fraction > 0 and n_val < 1):
        carved = [f"{n_val} for validation (data.val_fraction = {val_fraction})"] if val_fraction > 0 else []
        carved += [f"{n_test} for test (data.test_fraction = {test_fraction})"] if test_fraction > 0 else []
        raise SplitError(f"{n} samples: {', '.join(carved) or 'none carved out'}, which leaves {n_train} to train on; "
                         "it needs at least 1 each (more data, or smaller fractions)")


def unstratified(task: str, parts: dict[str, np.ndarray | None], *, classes: tuple[Any, ...] | None = None) -> list[str]:
    """The classes a stratified split could not put in every split (``parts``: split name -> its
    labels; too few samples: a class of one sample is in one split only), in one message (a few
    named, and their count: one line per class was 298 warnings for a target of prices read as
    text); none for a regression task. ``classes``: the labels as the data holds them, by class
    index (the message names ``'zebra'``, not class 3)."""
    if task == "regression":
        return []
    present = {name: set(np.unique(y).tolist()) for name, y in parts.items() if y is not None}
    short: list[tuple[Any, int, str]] = []  # (label, samples, the splits it is missing from)
    for c in sorted(set().union(*present.values())):
        lacking = [name for name, have in present.items() if c not in have]
        if lacking:
            k = sum(int((y == c).sum()) for y in parts.values() if y is not None)
            short.append((classes[c] if classes is not None and 0 <= c < len(classes) else c, k, " or ".join(lacking)))
    if len(short) == 1:
        label, k, where = short[0]
        return [f"class {label!r} has {k} sample{'s' if k != 1 else ''}, too few to stratify: none in the {where} split"]
    if not short:
        return []
    lo, hi = min(k for _, k, _ in short), max(k for _, k, _ in short)
    splits = {s for _, _, s in short}
    where = f" (none in the {next(iter(splits))} split)" if len(splits) == 1 else ""
    named = ", ".join(f"{label!r}" + ("" if where else f" (none in the {s} split)") for label, _, s in short[:SHOWN_CLASSES])
    more = f" and {len(short) - SHOWN_CLASSES} more" if len(short) > SHOWN_CLASSES else ""
    return [f"{len(short)} classes have {lo if lo == hi else f'{lo} to {hi}'} sample{'s' if hi != 1 else ''}, too few to stratify{where}: {named}{more}"]


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
