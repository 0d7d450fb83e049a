"""Streamed data through ``torch.utils.data.DataLoader``: batches read where the data is
(:mod:`hpbench.data.stream`), ``[data] num_workers`` worker processes (persistent across
epochs), pinned host memory when the trial trains on a GPU.

Map-style data is fetched a batch at a time: the sampler yields a batch's row numbers
(ascending, so that consecutive rows are read in one call) and the fetch returns the batch's
tensors, so neither a per-item ``__getitem__`` nor a collate step runs per sample. The order of
the training rows is drawn in the trial's process from the trial's generator, exactly as for
data in memory, so a resumed trial continues the same order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, Sampler, get_worker_info

from hpbench.data.stream import IterRows, Part, StreamSplits, position_split

EVAL_BYTES = 64 * 2**20  # at most this many bytes of inputs per evaluation batch (of the rows the model's activations allow)
Batch = tuple[torch.Tensor, torch.Tensor]


def _normalize(x: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    if stats is None:
        return x
    return ((x - stats[0]) / stats[1]).astype(np.float32, copy=False)


class _Fetch(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """One item is one batch: ascending positions in a split → the batch's (x, y) tensors."""

    def __init__(self, part: Part, stats: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.part = part
        self.stats = stats

    def __len__(self) -> int:
        return len(self.part)

    def __getitem__(self, pos: np.ndarray) -> Batch:
        idx = self.part.index[pos] if self.part.index is not None else pos
        x = _normalize(self.part.rows.read(idx), self.stats)
        y = self.part.y[pos] if self.part.y is not None else np.zeros(len(pos))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


class _Order(Sampler[np.ndarray]):
    """The batches of the next pass, set by the trial's process before each pass."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _IterSplit(IterableDataset):  # type: ignore[type-arg]
    """The samples of one split of an ``IterableDataset`` (by position), shared out among the
    DataLoader's workers by position too (each worker iterates the stream, keeps every k-th)."""

    def __init__(self, part: Part, splits: StreamSplits) -> None:
        self.part, self.splits = part, splits

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        n_workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        rows: IterRows = self.part.rows
        classes, regression = self.splits.classes, self.splits.task == "regression"
        for i, x, y in rows.pairs():
            if i % n_workers != worker:
                continue
            if self.part.split_id is not None:
                vf, tf, seed = self.splits.positions
                split = position_split(np.array([i]), val_fraction=vf, test_fraction=tf, seed=seed)[0]
                if split != self.part.split_id:
                    continue
            label = np.float32(y) if regression or classes is None else np.int64(np.searchsorted(classes, y))
            yield torch.from_numpy(_normalize(x, self.splits.stats)), torch.as_tensor(label)


class StreamLoaders:
    """The DataLoaders of a trial's streamed data, made once and kept (persistent workers)."""

    def __init__(self, splits: StreamSplits, *, device: torch.device, num_workers: int) -> None:
        self.splits = splits
        self.device = device
        self.num_workers = num_workers
        self.pin = device.type == "cuda"
        self._loaders: dict[tuple[str, int], tuple[DataLoader[Any], _Order | None]] = {}

    @property
    def n_train(self) -> int:
        return self.splits.n_train

    def steps_per_epoch(self, batch_size: int) -> int:
        """The training batches of one epoch. An ``IterableDataset`` read by k > 1 workers is
        shared out by position (:class:`_IterSplit`) and each worker batches its own share, so an
        epoch has a last, partial batch per worker: the sum over workers of ceil(rows / batch),
        up to k - 1 more than ceil(n_train / batch). A per-step schedule is sized by this count
        (one-cycle fails when stepped past its total)."""
        part = self._part("train")
        if not isinstance(part.rows, IterRows) or self.num_workers <= 1:
            return math.ceil(self.n_train / batch_size)
        if part.split_id is None:  # the training split given as an iterable of its own: all its positions
            positions = np.arange(self.n_train)
        else:  # carved by position from the main iterable, which holds every split not given
            n = sum(c for split, c in self.splits.counts.items() if split not in self.splits.given)
            vf, tf, seed = self.splits.positions
            positions = np.flatnonzero(position_split(np.arange(n), val_fraction=vf, test_fraction=tf, seed=seed) == part.split_id)
        shares = np.bincount(positions % self.num_workers, minlength=self.num_workers)
        return int(sum(math.ceil(int(k) / batch_size) for k in shares))

    def _part(self, split: str) -> Part:
        part = getattr(self.splits, split)
        if part is None:
            raise ValueError(f"the data has no {split} split")
        return part  # type: ignore[no-any-return]

    def _loader(self, split: str, batch_size: int) -> tuple[DataLoader[Any], _Order | None]:
        key = (split, batch_size)
        if key not in self._loaders:
            part = self._part(split)
            common: dict[str, Any] = dict(num_workers=self.num_workers, pin_memory=self.pin, persistent_workers=self.num_workers > 0)
            if isinstance(part.rows, IterRows):
                ds = _IterSplit(part, self.splits)
                self._loaders[key] = (DataLoader(ds, batch_size=batch_size, **common), None)
            else:
                order = _Order()
                self._loaders[key] = (DataLoader(_Fetch(part, self.splits.stats), batch_size=None, sampler=order, **common), order)
        return self._loaders[key]

    def _to_device(self, batches: Any) -> Iterator[Batch]:
        for x, y in batches:
            yield x.to(self.device, non_blocking=self.pin), y.to(self.device, non_blocking=self.pin)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch's training batches in an order drawn from ``generator`` (as the in-memory path draws it)."""
        loader, order = self._loader("train", batch_size)
        if order is not None:
            n = len(self._part("train"))
            perm = torch.randperm(n, generator=generator).numpy() if batch_size < n else np.arange(n)
            order.batches = [np.sort(perm[i : i + batch_size]) for i in range(0, n, batch_size)]
        return self._to_device(loader)

    def eval_batches(self, split: str, *, rows: int) -> Iterator[Batch]:
        """The ``split``'s batches in row order: ``rows`` at a time (:func:`hpbench.train.build.eval_rows`),
        at most ``EVAL_BYTES`` of inputs."""
        rows = max(1, min(rows, EVAL_BYTES // (4 * math.prod(self.splits.input_shape))))
        loader, order = self._loader(split, rows)
        if order is not None:
            n = len(self._part(split))
            order.batches = [np.arange(i, min(i + rows, n)) for i in range(0, n, rows)]
        return self._to_device(loader)

    def has(self, split: str) -> bool:
        return getattr(self.splits, split) is not None
