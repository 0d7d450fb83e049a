"""Split and preprocess a dataset, deterministically from the seed: arrays in memory
(:class:`Splits`), or for streamed data the indices, labels and statistics that a
``DataLoader`` reads by (:class:`~hpbench.data.stream.StreamSplits`,
:mod:`hpbench.data.stream_prepare`).

Splits are stratified for classification; a split the data came with (``x_val``/``x_test``
...) is used as given and only the missing ones are carved out; preprocessing statistics come
from the training split only (no leakage into validation or test).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpbench.config import DataConfig
from hpbench.data.datasets import RawData
from hpbench.data.encoding import Encoding
from hpbench.data.kinds import DataKind
from hpbench.data.sources import FILE_SUFFIXES, Source, Stream, open_data, peek
from hpbench.data.splits import split_indices
from hpbench.data.stream import StreamSplits
from hpbench.data.stream_prepare import prepare_stream

__all__ = ["FILE_SUFFIXES", "Splits", "StreamSplits", "data_key", "data_shape", "load_raw", "prepare", "prepare_config", "prepare_in_memory", "prime", "split_indices"]


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
    kind: DataKind = DataKind.TABULAR
    given: tuple[str, ...] = ()  # the splits the data came with, used as given ("val", "test")
    name: str = ""
    encoding: Encoding = field(default_factory=Encoding)  # the data as given -> these arrays (kept with a trained model)

    @property
    def n_train(self) -> int:
        return len(self.x_train)


def load_raw(dataset: str, options: dict[str, Any], *, shape: tuple[int, ...] | None = None, kind: str | None = None) -> RawData:
    """A dataset read into memory: built-in (its defaults filled in), a CSV/Parquet/NumPy file or a user loader."""
    data = open_data(dataset, options, shape=shape, kind=kind, stream=False)
    if not isinstance(data, RawData):  # an IterableDataset
        raise ValueError(f"{dataset}: an iterable dataset cannot be loaded into memory (it is streamed)")
    return data


def _preprocess(steps: tuple[str, ...], x_train: np.ndarray, *others: np.ndarray | None,
                fitted: list[tuple[str, np.ndarray, np.ndarray]] | None = None) -> list[np.ndarray | None]:
    """``x_train`` and ``others`` with each step fitted on ``x_train``; each step's (name, shift,
    divisor) appended to ``fitted`` where given (a trained model's encoding keeps them)."""
    out: list[np.ndarray | None] = [x_train, *others]
    for step in steps:
        if step == "standardize":
            shift, div = x_train.mean(axis=0), x_train.std(axis=0)
        elif step == "minmax":
            shift, hi = x_train.min(axis=0), x_train.max(axis=0)
            div = hi - shift
        else:
            continue
        div = np.where(div > 0, div, 1.0)
        out = [None if a is None else ((a - shift) / div).astype(np.float32) for a in out]
        if fitted is not None:
            fitted.append((step, shift, div))
        x_train = out[0]  # type: ignore[assignment]
    return out


@functools.lru_cache(maxsize=8)
def _prepare_cached(dataset: str, options: tuple[tuple[str, Any], ...], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...],
                    seed: int, shape: tuple[int, ...] | None = None, kind: str | None = None, stream: Stream = "auto") -> Splits | StreamSplits:
    data = open_data(dataset, dict(options), shape=shape, kind=kind, stream=stream)
    if isinstance(data, Source):
        return prepare_stream(data, val_fraction=val_fraction, test_fraction=test_fraction, preprocess=preprocess, seed=seed)
    return split_raw(data, val_fraction=val_fraction, test_fraction=test_fraction, preprocess=preprocess, seed=seed)


def split_raw(raw: RawData, *, val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> Splits:
    """Data in memory split (the splits it came with used as given) and preprocessed."""
    given = raw.given
    tr, va, te = split_indices(raw.y, task=raw.task, val_fraction=0.0 if "val" in given else val_fraction,
                               test_fraction=0.0 if "test" in given else test_fraction, seed=seed)
    x_va, y_va = (raw.x_val, raw.y_val) if "val" in given else (raw.x[va], raw.y[va])
    x_te, y_te = (raw.x_test, raw.y_test) if "test" in given else ((raw.x[te], raw.y[te]) if len(te) else (None, None))
    steps = tuple(s for s in preprocess if s in ("standardize", "minmax"))
    fitted: list[tuple[str, np.ndarray, np.ndarray]] = []
    x_tr, x_va, x_te = _preprocess(steps, raw.x[tr], x_va, x_te, fitted=fitted)
    if x_tr is None or x_va is None or y_va is None:
        raise RuntimeError("internal: preprocessing lost the training or validation inputs")
    return Splits(
        x_train=x_tr, y_train=raw.y[tr], x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te,
        task=raw.task, input_shape=raw.input_shape, n_outputs=raw.n_outputs, image=raw.image,
        kind=DataKind(str(raw.kind)), given=given, name=raw.name, encoding=raw.encoding.with_scale(fitted),
    )


DataKey = tuple[Any, ...]  # (dataset, options, val_fraction, test_fraction, preprocess, seed, shape, kind, stream)
_primed: dict[DataKey, Splits] = {}


def data_key(*, dataset: str, options: dict[str, Any], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int,
             shape: tuple[int, ...] | None = None, kind: str | None = None, stream: Stream = "auto") -> DataKey:
    opts = tuple(sorted((k, _hashable(v)) for k, v in options.items()))
    return (dataset, opts, float(val_fraction), float(test_fraction), tuple(preprocess), int(seed),
            tuple(shape) if shape is not None else None, kind, stream)


def config_kwargs(data: DataConfig, seed: int) -> dict[str, Any]:
    """:func:`prepare`'s keyword arguments for a trial's ``[data]``."""
    return dict(dataset=data.dataset, options=dict(data.options), val_fraction=data.val_fraction, test_fraction=data.test_fraction,
                preprocess=tuple(data.preprocess), seed=seed, shape=data.shape, kind=data.kind, stream=data.stream)


def prime(key: DataKey, splits: Splits) -> None:
    """Hand this process splits prepared elsewhere (the dispatcher prepares a study's data once
    in the driver and ships it to the trial workers, which then import neither scikit-learn
    nor the loaders: measured here, ~1 s per worker). Streamed data is never shipped."""
    _primed[key] = splits


def prepare(*, dataset: str, options: dict[str, Any], val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int,
            shape: tuple[int, ...] | None = None, kind: str | None = None, stream: Stream = "auto") -> Splits | StreamSplits:
    """Load (or open, to stream), split and preprocess; cached per process so that a reused Ray actor loads once."""
    key = data_key(dataset=dataset, options=options, val_fraction=val_fraction, test_fraction=test_fraction, preprocess=preprocess, seed=seed,
                   shape=shape, kind=kind, stream=stream)
    if key in _primed:
        return _primed[key]
    return _prepare_cached(*key)


def prepare_in_memory(**kw: Any) -> Splits | None:
    """:func:`prepare` for data that is held in memory; None (nothing read beyond headers and a
    first item) for data that is streamed. The driver ships the first kind to its trials and
    never loads the second."""
    key = data_key(**kw)
    if key in _primed:
        return _primed[key]
    data = open_data(kw["dataset"], dict(kw["options"]), shape=kw.get("shape"), kind=kw.get("kind"), stream=kw.get("stream", "auto"))
    if isinstance(data, Source):
        return None
    _primed[key] = split_raw(data, val_fraction=kw["val_fraction"], test_fraction=kw["test_fraction"], preprocess=tuple(kw["preprocess"]),
                             seed=kw["seed"])
    return _primed[key]


@dataclass(frozen=True, kw_only=True)
class DataShape:
    """What the cost model needs of a study's data: split sizes, sample shape and kind, outputs, task."""

    n_train: int
    n_val: int
    input_shape: tuple[int, ...]
    kind: DataKind
    n_outputs: int
    task: str


def data_shape(**kw: Any) -> DataShape:
    """:class:`DataShape` of :func:`prepare`'s data: from the prepared arrays for data in memory;
    for streamed data from :func:`~hpbench.data.sources.peek` (nothing loaded), the split sizes
    from the fractions (exact up to the rounding of stratified splits) and, where the labels
    cannot be read cheaply, two outputs of a classification (the head is a negligible cost)."""
    splits = prepare_in_memory(**kw)
    if splits is not None:
        return DataShape(n_train=len(splits.x_train), n_val=len(splits.x_val), input_shape=tuple(splits.input_shape), kind=splits.kind,
                         n_outputs=int(splits.n_outputs), task=splits.task)
    info = peek(kw["dataset"], dict(kw["options"]), shape=kw.get("shape"), kind=kw.get("kind"), stream=kw.get("stream", "auto"))
    if info.n is None:
        raise ValueError(f"{kw['dataset']}: an iterable dataset without a length: its cost cannot be predicted")
    n_val = 0 if "val" in info.given else math.ceil(round(kw["val_fraction"] * info.n, 6))
    n_test = 0 if "test" in info.given else math.ceil(round(kw["test_fraction"] * info.n, 6))
    return DataShape(n_train=info.n - n_val - n_test, n_val=n_val or info.n, input_shape=info.input_shape, kind=info.kind,
                     n_outputs=info.n_outputs or 2, task=info.task or "multiclass")


def prepare_config(data: DataConfig, *, seed: int) -> Splits | StreamSplits:
    """:func:`prepare` for a trial's ``[data]``."""
    return prepare(**config_kwargs(data, seed))


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v
