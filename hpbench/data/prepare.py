"""Split and preprocess a dataset into device tensors, deterministically from the seed.

Splits are stratified for classification; preprocessing statistics come from the training
split only (no leakage into validation or test).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpbench.data.datasets import DATASETS, RawData
from hpbench.data.user import load_callable, load_file

FILE_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class Splits:
    """Arrays of one study's data, split and preprocessed (numpy, device-agnostic)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    task: str
    input_shape: tuple[int, ...]
    n_outputs: int
    image: bool


def load_raw(dataset: str, options: dict[str, Any]) -> RawData:
    """A built-in dataset (its defaults filled in), a CSV/Parquet file or a user loader."""
    if dataset in DATASETS:
        entry = DATASETS.get(dataset)
        return entry.build(**{**entry.defaults(), **options})  # type: ignore[no-any-return]
    if dataset.endswith(FILE_SUFFIXES):
        if "target" not in options:
            raise ValueError(f"{dataset}: data.target is required for a data file (the name of the target column)")
        return load_file(dataset, target=options["target"], task=options.get("task"))
    return load_callable(dataset, options)


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


def _preprocess(steps: tuple[str, ...], x_train: np.ndarray, *others: np.ndarray | None) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = [x_train, *others]
    for step in steps:
        if step == "standardize":
            mean, std = x_train.mean(axis=0), x_train.std(axis=0)
            std = np.where(std > 0, std, 1.0)
            out = [None if a is None else ((a - mean) / std).astype(np.float32) for a in out]
        elif step == "minmax":
            lo, hi = x_train.min(axis=0), x_train.max(axis=0)
            span = np.where(hi - lo > 0, hi - lo, 1.0)
            out = [None if a is None else ((a - lo) / span).astype(np.float32) for a in out]
        x_train = out[0]  # type: ignore[assignment]
    return out


@functools.lru_cache(maxsize=8)
def _prepare_cached(dataset: str, options: tuple[tuple[str, Any], ...], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> Splits:
    raw = load_raw(dataset, dict(options))
    tr, va, te = split_indices(raw.y, task=raw.task, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    steps = tuple(s for s in preprocess if s in ("standardize", "minmax"))
    x_tr, x_va, x_te = _preprocess(steps, raw.x[tr], raw.x[va], raw.x[te] if len(te) else None)
    assert x_tr is not None and x_va is not None  # internal: _preprocess keeps the inputs it got
    return Splits(
        x_train=x_tr, y_train=raw.y[tr], x_val=x_va, y_val=raw.y[va],
        x_test=x_te, y_test=raw.y[te] if len(te) else None,
        task=raw.task, input_shape=raw.input_shape, n_outputs=raw.n_outputs, image=raw.image,
    )


DataKey = tuple[str, tuple[tuple[str, Any], ...], float, float, tuple[str, ...], int]
_primed: dict[DataKey, Splits] = {}


def data_key(*, dataset: str, options: dict[str, Any], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> DataKey:
    opts = tuple(sorted((k, _hashable(v)) for k, v in options.items()))
    return (dataset, opts, float(val_fraction), float(test_fraction), tuple(preprocess), int(seed))


def prime(key: DataKey, splits: Splits) -> None:
    """Hand this process splits prepared elsewhere (the dispatcher prepares a study's data once
    in the driver and ships it to the trial workers, which then import neither scikit-learn
    nor the loaders: measured here, ~1 s per worker)."""
    _primed[key] = splits


def prepare(*, dataset: str, options: dict[str, Any], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> Splits:
    """Load, split and preprocess; cached per process so that a reused Ray actor loads once."""
    key = data_key(dataset=dataset, options=options, val_fraction=val_fraction, test_fraction=test_fraction, preprocess=preprocess, seed=seed)
    if key in _primed:
        return _primed[key]
    return _prepare_cached(*key)


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
