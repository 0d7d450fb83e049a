"""Opening a study's data: a built-in dataset, a CSV/Parquet file, NumPy arrays or a user entry
point, either read into memory (:class:`~hpbench.data.datasets.RawData`) or left where it is to
be streamed (:class:`Source`).

``[data] stream = "auto"`` (the default) streams a ``.npy`` input or a user ``Dataset`` larger
than :data:`~hpbench.data.stream.STREAM_AUTO_BYTES` and every ``IterableDataset``; ``true``
streams what can be streamed, ``false`` loads everything (an ``IterableDataset`` is always
streamed). :func:`peek` reads what a driver or a pre-flight check needs (shapes, kind, task, a
few samples) without loading the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.data import arrays, files
from hpbench.data.datasets import DATASETS, GIVEN_SPLITS, RawData
from hpbench.data.kinds import DataKind, Layout, resolve_layout
from hpbench.data.stream import STREAM_AUTO_BYTES, DatasetRows, IterRows, NpyRows, flat
from hpbench.data.user import as_raw, encode_targets, load_file, numpy_of
from hpbench.registry import import_object

FILE_SUFFIXES = files.TABLE_SUFFIXES  # CSV (plain or compressed) and Parquet, in any case
Stream = bool | str  # [data] stream: True, False or "auto"


@dataclass(frozen=True, kw_only=True)
class SourcePart:
    rows: Any  # NpyRows | DatasetRows | IterRows
    y_path: str | None = None  # the labels' .npy file (NumPy data); else the rows give their labels

    def raw_labels(self) -> np.ndarray | None:
        """Every row's label as stored (None for an iterable: its labels come with its items)."""
        if self.y_path is not None:
            return flat(np.load(self.y_path, allow_pickle=False))
        if isinstance(self.rows, DatasetRows):
            return self.rows.raw_labels()
        return None


@dataclass(frozen=True, kw_only=True)
class Source:
    """Data to stream: the rows (not loaded), the splits it came with, its layout."""

    name: str
    main: SourcePart
    layout: Layout
    task: str | None  # declared ([data] task), else inferred from the labels
    given: dict[str, SourcePart] = field(default_factory=dict)  # "val" / "test" splits the data came with

    @property
    def iterable(self) -> bool:
        return isinstance(self.main.rows, IterRows)


def is_file_dataset(dataset: str) -> bool:
    return files.is_table(dataset)


def open_data(dataset: str, options: dict[str, Any], *, shape: tuple[int, ...] | None = None, kind: str | None = None,
              stream: Stream = "auto") -> RawData | Source:
    """The data of ``[data]``: in memory, or a :class:`Source` to stream (see the module's docstring)."""
    opts = dict(options)
    if dataset in DATASETS:
        entry = DATASETS.get(dataset)
        return entry.build(**{**entry.defaults(), **opts})  # type: ignore[no-any-return]
    if is_file_dataset(dataset):
        if "target" not in opts:
            raise ValueError(f"{dataset}: data.target is required for a data file (the name of the target column)")
        return load_file(dataset, target=opts["target"], task=opts.get("task"), shape=shape, kind=kind, keep_text=tuple(opts.get("keep_text", ())))
    if arrays.is_numpy_dataset(dataset):
        return _numpy(dataset, opts, shape=shape, kind=kind, stream=stream)
    return _callable(dataset, opts, shape=shape, kind=kind, stream=stream)


def _numpy(dataset: str, opts: dict[str, Any], *, shape: tuple[int, ...] | None, kind: str | None, stream: Stream) -> RawData | Source:
    heads = arrays.headers(dataset, opts)
    arrays.check_arrays(dataset, heads)
    x = heads["x"]
    f32_bytes = math.prod(x.shape) * 4
    if arrays.is_npy(dataset) and (stream is True or (stream == "auto" and f32_bytes > STREAM_AUTO_BYTES)):
        for name, h in heads.items():
            if h.fortran and name.startswith("x"):
                raise ValueError(f"{h.path}: a streamed array must be in C order, but {name!r} is Fortran-ordered "
                                 "(save np.ascontiguousarray(x), or set data.stream = false)")
        layout = _layout(x.sample_shape, shape=shape, kind=kind, where=dataset)
        given = {s: SourcePart(rows=NpyRows(header=heads[f"x_{s}"], layout=layout), y_path=heads[f"y_{s}"].path)
                 for s in GIVEN_SPLITS if f"x_{s}" in heads}
        return Source(name=Path(dataset).stem, main=SourcePart(rows=NpyRows(header=x, layout=layout), y_path=heads["y"].path),
                      layout=layout, task=opts.get("task"), given=given)
    a = arrays.load_arrays(dataset, opts)
    splits = {s: (a[f"x_{s}"], a[f"y_{s}"]) for s in GIVEN_SPLITS if f"x_{s}" in a}
    return as_raw(a["x"], a["y"], task=opts.get("task"), name=Path(dataset).stem, where=dataset, shape=shape, kind=kind, splits=splits)


def _layout(stored: tuple[int, ...], *, shape: tuple[int, ...] | None, kind: str | None, where: str) -> Layout:
    try:
        return resolve_layout(stored, shape=shape, kind=kind)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _is_iterable_dataset(obj: Any) -> bool:
    """A ``torch.utils.data.IterableDataset`` (told by its class, without importing torch)."""
    return any(c.__name__ == "IterableDataset" for c in type(obj).__mro__)


def _is_map_dataset(obj: Any) -> bool:
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and not isinstance(obj, (dict, tuple, list, str))


def _callable(spec: str, opts: dict[str, Any], *, shape: tuple[int, ...] | None, kind: str | None, stream: Stream) -> RawData | Source:
    """``"package.module:load"`` called with the dataset options (``task`` and ``image`` are
    hpbench's own and not passed on). It returns arrays ``(x, y)``; a dict ``{"x", "y"[, "task",
    "x_val", "y_val", "x_test", "y_test"]}``; a :class:`RawData`; a ``Dataset`` or
    ``IterableDataset`` of ``(x, y)`` pairs; or ``{"train": dataset[, "val": ..., "test": ...]}``."""
    kwargs, task, image = loader_options(opts)
    return loader_data(spec, import_object(spec)(**kwargs), task=task, kind=kind or ("image" if image else None), shape=shape, stream=stream)


def loader_options(options: dict[str, Any]) -> tuple[dict[str, Any], str | None, bool]:
    """(the keyword arguments a user loader is called with, data.task, data.image)."""
    opts = dict(options)
    task = opts.pop("task", None)
    image = bool(opts.pop("image", False))
    return opts, task, image


def loader_data(spec: str, out: Any, *, task: str | None, kind: str | None, shape: tuple[int, ...] | None, stream: Stream) -> RawData | Source:
    """What a user loader returned, in memory or to stream (see :func:`_callable`)."""
    if isinstance(out, RawData):
        return out
    if isinstance(out, dict) and "train" in out:
        return _datasets(spec, out, task=task, shape=shape, kind=kind, stream=stream)
    if isinstance(out, dict):
        if "x" not in out or "y" not in out:
            raise ValueError(f"{spec}: a returned dict needs keys 'x' and 'y' (or 'train' with datasets), but got {sorted(out)}")
        splits = {s: (out[f"x_{s}"], out[f"y_{s}"]) for s in GIVEN_SPLITS if f"x_{s}" in out}
        return as_raw(out["x"], out["y"], task=out.get("task", task), name=spec, where=spec, kind=kind, shape=shape, splits=splits)
    if isinstance(out, tuple) and len(out) == 2:
        return as_raw(out[0], out[1], task=task, name=spec, where=spec, kind=kind, shape=shape)
    if _is_table(out):
        raise ValueError(f"{spec}: {ACCEPTED}, but got {_table_returned(out)}")
    if _is_iterable_dataset(out) or _is_map_dataset(out):
        return _datasets(spec, {"train": out}, task=task, shape=shape, kind=kind, stream=stream)
    raise ValueError(f"{spec}: {ACCEPTED}, but got {type(out).__name__}")


ACCEPTED = ("must return (x, y), a dict with 'x' and 'y', a torch Dataset or IterableDataset of (x, y) pairs, "
            "or {'train': dataset, 'val': ..., 'test': ...}")


def _is_table(obj: Any) -> bool:
    """A pandas DataFrame or Series (told by its class, without importing pandas): indexed by column
    label, it looks like a map-style dataset, and ``df[0]`` raised a bare ``KeyError: 0``."""
    return any(c.__name__ in ("DataFrame", "Series") and c.__module__.startswith("pandas") for c in type(obj).__mro__)


def _table_returned(table: Any) -> str:
    """What a loader that returned a table is told: the table, and the line that splits it into (x, y)."""
    if type(table).__name__ != "DataFrame":
        return f"a pandas {type(table).__name__} alone (return the features with it: (x, y))"
    columns = [str(c) for c in table.columns]
    target = columns[-1] if columns else "target"
    shown_cols = ", ".join(repr(c) for c in columns[:6]) + (f" and {len(columns) - 6} more" if len(columns) > 6 else "")
    return (f"one pandas DataFrame (columns {shown_cols}), features and target together: return (df.drop(columns=[{target!r}]), "
            f"df[{target!r}]) with your target column, or save it as a CSV file and set data.dataset to it and data.target")


def _datasets(spec: str, parts: dict[str, Any], *, task: str | None, shape: tuple[int, ...] | None, kind: str | None,
              stream: Stream) -> RawData | Source:
    """User datasets (the training data and the splits given with it): streamed, or stacked into
    memory when small (``stream = "auto"``) or when ``stream = false``."""
    unknown = sorted(set(parts) - {"train", *GIVEN_SPLITS})
    if unknown:
        raise ValueError(f"{spec}: a returned dict of datasets takes 'train', 'val' and 'test', but got {unknown}")
    first = _first_item(spec, parts["train"])
    layout = _layout(numpy_of(first[0]).shape, shape=shape, kind=kind, where=spec)
    rows = {s: IterRows(dataset=d, layout=layout) if _is_iterable_dataset(d) else DatasetRows(dataset=d, layout=layout) for s, d in parts.items()}
    source = Source(name=spec, main=SourcePart(rows=rows["train"]), layout=layout, task=task,
                    given={s: SourcePart(rows=r) for s, r in rows.items() if s != "train"})
    if any(isinstance(r, IterRows) for r in rows.values()):
        return source
    f32_bytes = len(parts["train"]) * math.prod(layout.input_shape) * 4
    if stream is True or (stream == "auto" and f32_bytes > STREAM_AUTO_BYTES):
        return source
    return stack(source, where=spec)


def _first_item(spec: str, dataset: Any) -> Any:
    try:
        item = next(iter(dataset)) if _is_iterable_dataset(dataset) else dataset[0]
    except (StopIteration, IndexError):
        raise ValueError(f"{spec}: the dataset is empty") from None
    except KeyError as err:  # a mapping by label, not a dataset read by position
        raise ValueError(f"{spec}: a returned dataset must be read by position (dataset[0], dataset[1], ...), "
                         f"but dataset[0] raised KeyError: {err}") from None
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"{spec}: dataset items must be (x, y) pairs, but got {type(item).__name__}")
    return item


def stack(source: Source, *, where: str) -> RawData:
    """A small map-style source read into memory."""
    def arrays_of(part: SourcePart) -> tuple[np.ndarray, np.ndarray]:
        x, y = part.rows.read_pairs(np.arange(part.rows.n))
        return x, flat(y)

    x, y = arrays_of(source.main)
    splits = {s: arrays_of(p) for s, p in source.given.items()}
    return as_raw(x, y, task=source.task, name=source.name, where=where, kind=source.layout.kind, splits=splits)


@dataclass(frozen=True, kw_only=True)
class DataInfo:
    """What can be known of a study's data cheaply: :func:`peek`'s answer."""

    name: str
    kind: DataKind
    input_shape: tuple[int, ...]
    n: int | None  # rows of the training data before splitting (None: an iterable without a length)
    task: str | None  # None: not known before the labels are read (a streamed dataset without ``targets``)
    n_outputs: int | None
    given: tuple[str, ...]  # the splits the data came with ("val", "test")
    streamed: bool
    note: str  # how the kind and shape were decided
    x_sample: np.ndarray  # up to n_sample rows, in the layout (not preprocessed)
    y_sample: np.ndarray  # their labels as stored


def peek(dataset: str, options: dict[str, Any], *, shape: tuple[int, ...] | None = None, kind: str | None = None,
         stream: Stream = "auto", n_sample: int = 8) -> DataInfo:
    """Shapes, kind, task and a few samples of a study's data, reading no more than it must:
    data in memory is loaded (it is small); streamed data gives its headers, its labels when
    they are a separate array or the dataset's ``targets``, and its first ``n_sample`` rows.
    For a pre-flight check and for the driver, which never loads streamed data."""
    data = open_data(dataset, options, shape=shape, kind=kind, stream=stream)
    if isinstance(data, RawData):
        return DataInfo(name=data.name, kind=DataKind(str(data.kind)), input_shape=data.input_shape, n=len(data.x), task=data.task,
                        n_outputs=data.n_outputs, given=data.given, streamed=False, note=f"{data.kind} {data.input_shape}",
                        x_sample=data.x[:n_sample], y_sample=data.y[:n_sample])
    rows = data.main.rows
    if isinstance(rows, IterRows):
        items = []
        for _, x, y in rows.pairs():
            items.append((x, y))
            if len(items) >= n_sample:
                break
        xs, ys = np.stack([i[0] for i in items]), np.asarray([i[1] for i in items])
    else:
        idx = np.arange(min(n_sample, rows.n))
        if isinstance(rows, DatasetRows):
            xs, ys = rows.read_pairs(idx)
        else:
            xs, ys = rows.read(idx), flat(np.load(str(data.main.y_path), mmap_mode="r")[: len(idx)].copy())
    task, n_out = data.task, None
    labels = data.main.raw_labels() if data.main.y_path is not None or getattr(getattr(rows, "dataset", None), "targets", None) is not None else None
    if labels is not None:
        task, _, classes = encode_targets(labels, task=task, where=dataset)
        n_out = len(classes) if task == "multiclass" and classes is not None else 1
    return DataInfo(name=data.name, kind=data.layout.kind, input_shape=data.layout.input_shape, n=rows.n, task=task, n_outputs=n_out,
                    given=tuple(s for s in GIVEN_SPLITS if s in data.given), streamed=True,
                    note=data.layout.note or f"{data.layout.kind} {data.layout.input_shape}", x_sample=xs, y_sample=ys)
