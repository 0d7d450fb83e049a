"""Data larger than memory: rows read on demand, never stacked (numpy only; the torch
``DataLoader`` around them is :mod:`hpbench.data.loader`'s).

* :class:`NpyRows` reads rows of a ``.npy`` file with ``pread`` into a buffer the size of the
  batch. Not ``np.memmap``: every page a memory map touches counts in the process's resident
  set until the kernel evicts it, so one epoch over a 4 GiB map grows the RSS by 4 GiB;
  ``pread`` goes through the page cache without mapping anything into the process.
* :class:`DatasetRows` reads items of a user's map-style ``torch.utils.data.Dataset``.
* :class:`IterRows` iterates a user's ``IterableDataset``; as it cannot be indexed, its
  samples are split by position (:func:`position_split`: seeded, the same every pass, so the
  stream must yield the same samples in the same order each time it is iterated).

The labels (one number per sample) are the one thing held in memory: splits are drawn from
them as for in-memory data (stratified, seeded), and preprocessing statistics come from one
chunked pass over the training rows (:func:`fit_stats`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpbench.data.arrays import NpyHeader
from hpbench.data.kinds import DataKind, Layout
from hpbench.data.user import apply_layout, numpy_of

STREAM_AUTO_BYTES = 256 * 2**20  # stream = "auto": inputs larger than this are streamed (smaller ones are loaded into memory)
CHUNK_ROWS = 4096  # rows per read of the statistics and labels passes

_FDS: dict[tuple[str, int], int] = {}  # (path, pid) -> an open file: one per process (DataLoader workers fork)


def _fd(path: str) -> int:
    key = (path, os.getpid())
    if key not in _FDS:
        _FDS[key] = os.open(path, os.O_RDONLY)
    return _FDS[key]


@dataclass(frozen=True, kw_only=True)
class NpyRows:
    """The rows of a C-ordered ``.npy`` array, read with ``pread`` (one call per run of consecutive rows)."""

    header: NpyHeader
    layout: Layout

    @property
    def n(self) -> int:
        return self.header.n

    def read(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` (ascending) as float32 samples in the layout."""
        h = self.header
        dtype = np.dtype(h.dtype)
        row = int(np.prod(h.sample_shape)) * dtype.itemsize
        out = np.empty((len(idx), *h.sample_shape), dtype=dtype)
        flat = out.reshape(len(idx), -1).view(np.uint8).reshape(len(idx), row)
        fd = _fd(h.path)
        starts = np.flatnonzero(np.diff(idx, prepend=-2) != 1)  # where a run of consecutive rows begins
        ends = np.append(starts[1:], len(idx))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            buf = memoryview(flat[a:b]).cast("B")  # type: ignore[arg-type]  # a C-contiguous uint8 array is a buffer
            pos, done = h.offset + int(idx[a]) * row, 0
            while done < len(buf):
                got = os.preadv(fd, [buf[done:]], pos + done)
                if got <= 0:
                    raise OSError(f"{h.path}: file ends before row {int(idx[b - 1])} (truncated?)")
                done += got
        return apply_layout(out.astype(np.float32, copy=False), self.layout)


@dataclass(frozen=True, kw_only=True)
class DatasetRows:
    """The items of a user's map-style ``Dataset`` of ``(x, y)`` pairs."""

    dataset: Any
    layout: Layout

    @property
    def n(self) -> int:
        return len(self.dataset)

    def items(self, idx: np.ndarray) -> list[Any]:
        getitems = getattr(self.dataset, "__getitems__", None)
        return list(getitems(idx.tolist())) if getitems else [self.dataset[int(i)] for i in idx]

    def read(self, idx: np.ndarray) -> np.ndarray:
        return self.read_pairs(idx)[0]

    def read_pairs(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (float32, in the layout) and raw labels of items ``idx``, each item read once."""
        items = self.items(idx)
        xs = [numpy_of(item[0]) for item in items]
        odd = next((k for k, a in enumerate(xs) if a.shape != xs[0].shape), None)
        if odd is not None:  # np.stack's own words name neither the item nor the shapes
            raise ValueError(f"every item's input must have one shape, but item {int(idx[odd])} is shaped {xs[odd].shape} "
                             f"where item {int(idx[0])} is shaped {xs[0].shape}")
        x = np.stack(xs).astype(np.float32, copy=False)
        return apply_layout(x, self.layout), np.asarray([numpy_of(item[1]).reshape(()) for item in items])

    def raw_labels(self) -> np.ndarray:
        """Every item's label: the dataset's ``targets`` when it has them (torchvision's
        convention), else read item by item (one pass over the data, its inputs dropped)."""
        targets = getattr(self.dataset, "targets", None)
        if targets is not None and len(targets) == self.n:
            return flat(numpy_of(targets))
        parts = [np.asarray([numpy_of(item[1]).reshape(()) for item in self.items(np.arange(a, min(a + CHUNK_ROWS, self.n)))])
                 for a in range(0, self.n, CHUNK_ROWS)]
        return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True, kw_only=True)
class IterRows:
    """A user's ``IterableDataset`` of ``(x, y)`` pairs, iterated from the start each pass."""

    dataset: Any
    layout: Layout

    @property
    def n(self) -> int | None:
        try:
            return len(self.dataset)
        except TypeError:
            return None

    def pairs(self) -> Iterator[tuple[int, np.ndarray, Any]]:
        """(position, x as float32 in the layout, raw label) of every sample."""
        for i, item in enumerate(self.dataset):
            x = numpy_of(item[0]).astype(np.float32, copy=False)
            yield i, apply_layout(x[None], self.layout)[0], numpy_of(item[1]).reshape(())


def flat(y: np.ndarray) -> np.ndarray:
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def position_split(positions: np.ndarray, *, val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """The split of each stream position (0 train, 1 val, 2 test): a seeded hash of the position
    (splitmix64, Steele et al. 2014) read as a uniform number in [0, 1), compared with the
    fractions. The same position always lands in the same split."""
    z = positions.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(2**53)
    return np.where(u < test_fraction, 2, np.where(u < test_fraction + val_fraction, 1, 0)).astype(np.int8)


@dataclass(frozen=True, kw_only=True)
class Part:
    """One split of streamed data: rows of ``rows`` (``index``, ascending) with their labels
    ``y``; for an iterable, the positions whose :func:`position_split` is ``split_id``
    (``index`` None: every item of its own iterable when the split was given)."""

    rows: Any  # NpyRows | DatasetRows | IterRows
    y: np.ndarray | None  # encoded labels, aligned with index (None for an iterable: encoded per batch)
    index: np.ndarray | None = None
    split_id: int | None = None  # an iterable's split carved by position

    def __len__(self) -> int:
        if self.index is not None:
            return len(self.index)
        if self.y is not None:
            return len(self.y)
        raise TypeError("the length of a split of an iterable dataset is known after its first pass")


@dataclass(frozen=True, kw_only=True)
class StreamSplits:
    """A study's data split for streaming: what :class:`hpbench.data.prepare.Splits` is for data in memory."""

    name: str
    task: str
    input_shape: tuple[int, ...]
    n_outputs: int
    kind: DataKind
    train: Part
    val: Part
    test: Part | None
    stats: tuple[np.ndarray, np.ndarray] | None = None  # (shift, scale): x' = (x - shift) / scale, fitted on train
    classes: np.ndarray | None = None  # an iterable's raw labels in class order (its batches are encoded with them)
    counts: dict[str, int] = field(default_factory=dict)  # rows per split, counted by the labels pass
    given: tuple[str, ...] = ()
    note: str = ""
    positions: tuple[float, float, int] = (0.0, 0.0, 0)  # an iterable's (val_fraction, test_fraction, seed) of position_split

    @property
    def image(self) -> bool:
        return self.kind is DataKind.IMAGE

    @property
    def n_train(self) -> int:
        return self.counts["train"] if "train" in self.counts else len(self.train)


def fit_stats(steps: tuple[str, ...], chunks: Iterator[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """(shift, scale) of ``standardize`` (mean, std) or ``minmax`` (min, max - min) per input
    value over the training rows, read chunk by chunk (a constant value's scale is 1).
    A study lists one scaling at most (hpbench.study.keys.Steps), as data in memory applies them all.

    The variance is each chunk's sum of squared deviations from its own mean, combined over the
    chunks in float64 (Chan, Golub and LeVeque's pairwise update): ``E[x^2] - E[x]^2`` loses every
    digit where a value's mean dwarfs its spread (timestamps, ids: a mean of 1e8 with a std of 1
    read 0 or several times the std)."""
    step = next((s for s in steps if s in ("standardize", "minmax")), None)
    if step is None:
        return None
    n, mean, m2, lo, hi = 0, None, None, None, None
    for x in chunks:
        if len(x) == 0:
            continue
        x64 = x.astype(np.float64)
        k, mean_k = len(x64), x64.mean(axis=0)
        m2_k = ((x64 - mean_k) ** 2).sum(axis=0)
        if mean is None or m2 is None:
            mean, m2 = mean_k, m2_k
        else:
            delta = mean_k - mean
            mean = mean + delta * (k / (n + k))
            m2 = m2 + m2_k + delta**2 * (n * k / (n + k))
        n += k
        lo = x.min(axis=0) if lo is None else np.minimum(lo, x.min(axis=0))
        hi = x.max(axis=0) if hi is None else np.maximum(hi, x.max(axis=0))
    if n == 0 or mean is None or m2 is None or lo is None or hi is None:
        return None
    if step == "standardize":
        std = np.sqrt(np.maximum(m2 / n, 0.0))
        return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)
    span = (hi - lo).astype(np.float32)
    return lo.astype(np.float32), np.where(span > 0, span, 1.0).astype(np.float32)


def row_chunks(rows: Any, index: np.ndarray) -> Iterator[np.ndarray]:
    """Rows ``index`` (ascending) of a map-style source, ``CHUNK_ROWS`` at a time."""
    for a in range(0, len(index), CHUNK_ROWS):
        yield rows.read(index[a : a + CHUNK_ROWS])
