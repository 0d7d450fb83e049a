"""Split and fit streamed data (:class:`~hpbench.data.sources.Source` → :class:`StreamSplits`)
without holding its inputs: the labels are read (a ``.npy`` of labels, the dataset's
``targets``, or one pass over the items), split like data in memory (stratified, seeded; the
splits the data came with used as given), and the preprocessing statistics fitted by one
chunked pass over the training rows.

An ``IterableDataset`` is read once here for its labels (and statistics): each position's
split comes from :func:`~hpbench.data.stream.position_split`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from hpbench.data.sources import Source, SourcePart
from hpbench.data.splits import split_indices
from hpbench.data.stream import CHUNK_ROWS, IterRows, Part, StreamSplits, fit_stats, position_split, row_chunks
from hpbench.data.user import encode_targets

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def prepare_stream(source: Source, *, val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> StreamSplits:
    if source.iterable:
        return _prepare_iterable(source, val_fraction=val_fraction, test_fraction=test_fraction, preprocess=preprocess, seed=seed)
    labels = {"train": _labels(source.main), **{s: _labels(p) for s, p in source.given.items()}}
    task, codes, classes = encode_targets(np.concatenate(list(labels.values())), task=source.task, where=source.name)
    ends = np.cumsum([len(v) for v in labels.values()])[:-1]
    y = dict(zip(labels, np.split(codes, ends), strict=True))
    tr, va, te = split_indices(y["train"], task=task, val_fraction=0.0 if "val" in source.given else val_fraction,
                               test_fraction=0.0 if "test" in source.given else test_fraction, seed=seed)
    rows = source.main.rows
    train = Part(rows=rows, y=y["train"][tr], index=tr)

    def given_or(split: str, idx: np.ndarray) -> Part | None:
        if split in source.given:
            part = source.given[split]
            if isinstance(part.rows, IterRows):  # labels encoded per batch (``classes``)
                return Part(rows=part.rows, y=None)
            return Part(rows=part.rows, y=y[split], index=np.arange(len(y[split])))
        return Part(rows=rows, y=y["train"][idx], index=idx) if len(idx) else None

    val = given_or("val", va)
    if val is None:
        raise ValueError(f"{source.name}: the validation split is empty (data.val_fraction of {len(y['train'])} rows)")
    stats = fit_stats(preprocess, row_chunks(rows, tr))
    n_out = len(classes) if task == "multiclass" and classes is not None else 1
    return StreamSplits(name=source.name, task=task, input_shape=source.layout.input_shape, n_outputs=n_out, kind=source.layout.kind,
                        train=train, val=val, test=given_or("test", te), stats=stats, given=tuple(source.given),
                        classes=classes if task != "regression" else None, note=source.layout.note)


def _prepare_iterable(source: Source, *, val_fraction: float, test_fraction: float, preprocess: tuple[str, ...], seed: int) -> StreamSplits:
    """One pass over the iterable: each position's split, the labels (for the task and the
    classes) and the training rows' statistics."""
    carve_val, carve_test = "val" not in source.given, "test" not in source.given
    vf, tf = (val_fraction if carve_val else 0.0), (test_fraction if carve_test else 0.0)
    counts = dict.fromkeys(SPLIT_IDS, 0)
    labels: list[Any] = []
    train_x: list[np.ndarray] = []

    def train_chunks() -> Iterator[np.ndarray]:
        for i, x, y in _pairs(source.main):
            split = int(position_split(np.array([i]), val_fraction=vf, test_fraction=tf, seed=seed)[0])
            counts[("train", "val", "test")[split]] += 1
            labels.append(y)
            if split == 0:
                train_x.append(x)
                if len(train_x) == CHUNK_ROWS:
                    yield np.stack(train_x)
                    train_x.clear()
        if train_x:
            yield np.stack(train_x)

    stats = fit_stats(preprocess, train_chunks())
    if stats is None:  # no preprocessing: the pass above did not run
        for _ in train_chunks():
            pass
    given_raw = {split: _labels(p) for split, p in source.given.items()}
    counts.update({split: len(raw) for split, raw in given_raw.items()})
    task, _, classes = encode_targets(np.concatenate([np.asarray(labels), *given_raw.values()]), task=source.task, where=source.name)
    if counts["val"] == 0:
        raise ValueError(f"{source.name}: the validation split of the iterable dataset is empty (data.val_fraction = {val_fraction})")

    def part(split: str) -> Part | None:
        if split in source.given:
            given = source.given[split]
            if isinstance(given.rows, IterRows):
                return Part(rows=given.rows, y=None)
            codes = _encode(given_raw[split], task=task, classes=classes)
            return Part(rows=given.rows, y=codes, index=np.arange(len(codes)))
        return Part(rows=source.main.rows, y=None, split_id=SPLIT_IDS[split]) if counts[split] else None

    train, val = part("train"), part("val")
    if train is None or val is None:
        raise ValueError(f"{source.name}: the iterable dataset left no training rows")
    n_out = len(classes) if task == "multiclass" and classes is not None else 1
    return StreamSplits(name=source.name, task=task, input_shape=source.layout.input_shape, n_outputs=n_out, kind=source.layout.kind,
                        train=train, val=val, test=part("test"), stats=stats, classes=classes if task != "regression" else None,
                        counts=counts, given=tuple(source.given), note=source.layout.note, positions=(vf, tf, seed))


def _labels(part: SourcePart) -> np.ndarray:
    """A split's labels as stored (an iterable split: read by one pass over it)."""
    raw = part.raw_labels()
    return raw if raw is not None else np.asarray([y for _, _, y in _pairs(part)])


def _pairs(part: SourcePart) -> Iterator[tuple[int, np.ndarray, Any]]:
    rows = part.rows
    if not isinstance(rows, IterRows):
        raise TypeError("internal: a map-style split given with an iterable dataset")
    return rows.pairs()


def _encode(raw: np.ndarray, *, task: str, classes: np.ndarray | None) -> np.ndarray:
    """Labels as the training labels were encoded (class numbers by ``classes``)."""
    if task == "regression" or classes is None:
        return raw.astype(np.float32)
    return np.searchsorted(classes, raw).astype(np.int64)
