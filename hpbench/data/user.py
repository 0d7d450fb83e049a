"""User data: a CSV/Parquet file with a named target column, NumPy arrays (``.npz``/``.npy``,
:mod:`hpbench.data.arrays`), or ``"package.module:load"`` returning arrays/tensors ``(x, y)``, a
dict ``{"x", "y"[, "task", "x_val", "y_val", "x_test", "y_test"]}``, a :class:`RawData` or a
``torch.utils.data.Dataset`` of ``(x, y)`` pairs (small ones are stacked here; large ones and
``IterableDataset`` s are streamed: :mod:`hpbench.data.stream`).

Samples keep the shape they come in, or take the declared ``[data] shape``/``kind``
(:func:`hpbench.data.kinds.resolve_layout`); a CSV/Parquet file's feature columns are flat.

The task is inferred from the target unless given: labels (strings, booleans) are classes;
whole numbers with two distinct values are binary, with up to ``MAX_CLASSES`` multiclass;
anything else is regression. Class labels are mapped to 0..k-1 in sorted order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from hpbench.data import onehot
from hpbench.data.arrays import ArrayError
from hpbench.data.datasets import GIVEN_SPLITS, TASKS, RawData
from hpbench.data.encoding import Encoding, plain
from hpbench.data.files import is_parquet, kept_na_values, stem
from hpbench.data.kinds import Layout, arrange, resolve_layout

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the largest magnitude the trials' float32 inputs hold
MAX_CLASSES = 20  # more distinct whole-number targets than this: regression (override with task)


def infer_task(y: np.ndarray) -> str:
    """Labels (strings, booleans) → binary/multiclass; whole numbers → binary if 2 distinct,
    multiclass if at most ``MAX_CLASSES``; anything else → regression."""
    y = np.asarray(y)
    if y.dtype.kind in "OUSb":
        return "binary" if len(np.unique(y.astype(str))) == 2 else "multiclass"
    uniq = np.unique(y[np.isfinite(y)]) if y.dtype.kind == "f" else np.unique(y)
    integral = y.dtype.kind in "iu" or bool(np.all(np.mod(uniq, 1) == 0))
    if integral and len(uniq) == 2:
        return "binary"
    if integral and len(uniq) <= MAX_CLASSES:
        return "multiclass"
    return "regression"


def as_raw(x: Any, y: Any, *, task: str | None, name: str, where: str, image: bool = False, kind: str | None = None,
           shape: tuple[int, ...] | None = None, splits: dict[str, tuple[Any, Any]] | None = None) -> RawData:
    """Arrays or tensors → :class:`RawData`, laid out by the declared ``shape``/``kind`` (or as
    they come: :func:`hpbench.data.kinds.resolve_layout`), with the targets encoded for ``task``.
    ``splits`` are the validation/test splits the data came with (``{"val": (x, y), ...}``); the
    classes are numbered over every split together."""
    parts = {"": (x, y), **{s: splits[s] for s in GIVEN_SPLITS if splits and s in splits}}
    raw_xs = {s: numpy_of(a) for s, (a, _) in parts.items()}
    for s, a in raw_xs.items():  # finite as given, infinite once float32 (read as "NaN or inf" before)
        if a.dtype.kind == "f" and a.dtype.itemsize > 4 and a.size:
            with np.errstate(invalid="ignore"):
                huge = np.flatnonzero((np.abs(a.reshape(len(a), -1)) > FLOAT32_MAX).any(axis=1))
            if len(huge):
                raise ArrayError(f"{where}: {f'x_{s}' if s else 'x'}: features must be numbers float32 holds (at most "
                                 f"{FLOAT32_MAX:.4g} in magnitude), but {_rows_at(huge, len(a))} exceed it", array=f"x_{s}" if s else "x")
    xs = {s: a.astype(np.float32) for s, a in raw_xs.items()}
    ys = {s: _flat_labels(numpy_of(b)) for s, (_, b) in parts.items()}
    for s in parts:
        label = f"x_{s} / y_{s}" if s else "x / y"
        if xs[s].ndim < 2 or ys[s].ndim != 1 or len(xs[s]) != len(ys[s]):
            raise ValueError(f"{where}: needs {label} shaped (n, ...) and (n,), but got {xs[s].shape} and {ys[s].shape}")
        if len(ys[s]) == 0:
            raise ValueError(f"{where}: {label}: the data has no rows")
        bad = np.flatnonzero(~np.isfinite(xs[s].reshape(len(xs[s]), -1)).all(axis=1))
        if len(bad):
            raise ArrayError(f"{where}: {f'x_{s}' if s else 'x'}: features must be finite numbers (no missing values): "
                             f"NaN or inf in {_rows_at(bad, len(xs[s]))}", array=f"x_{s}" if s else "x")
        if s and xs[s].shape[1:] != xs[""].shape[1:]:
            raise ArrayError(f"{where}: x_{s} must have samples shaped like x {xs[''].shape[1:]}, but has {xs[s].shape[1:]}", array=f"x_{s}")
    y_all = np.concatenate(list(ys.values())) if len(ys) > 1 else ys[""]
    _check_labels(ys, task=task or infer_task(y_all), where=where)
    task, y_all, classes = encode_targets(y_all, task=task, where=where)
    ends = np.cumsum([len(v) for v in ys.values()])[:-1]
    ys = dict(zip(ys, np.split(y_all, ends), strict=True))
    try:
        layout = resolve_layout(xs[""].shape[1:], shape=shape, kind=kind or ("image" if image else None))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    stored = tuple(int(d) for d in xs[""].shape[1:])  # a sample as given: what the predictor checks new samples against
    xs = {s: apply_layout(a, layout) for s, a in xs.items()}
    encoding = Encoding(classes=None if classes is None else tuple(plain(c) for c in classes), stored=stored, reshape=layout.reshape,
                        order=layout.order)
    return RawData(x=xs[""], y=ys[""], task=task, name=name, kind=layout.kind, x_val=xs.get("val"), y_val=ys.get("val"),
                   x_test=xs.get("test"), y_test=ys.get("test"), encoding=encoding)


def encode_targets(y: np.ndarray, *, task: str | None, where: str) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(task, encoded targets, classes): the task as given or inferred (:func:`infer_task`);
    regression targets as float32; class labels as 0..k-1 in sorted order of ``classes``."""
    if task is not None and task not in TASKS:
        raise ValueError(f"{where}: data.task must be one of {', '.join(TASKS)}, but got {task!r}")
    task = task or infer_task(y)
    if task == "regression":
        try:
            y = y.astype(np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: data.task: 'regression' needs a numeric target, but got values like {y[0]!r}") from None
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{where}: the target has missing or infinite values")
        return task, y, None
    if y.dtype.kind == "f" and not bool(np.all(np.mod(y[np.isfinite(y)], 1) == 0)):  # a continuous target read as classes
        odd = np.unique(y[np.isfinite(y) & (np.mod(y, 1) != 0)])  # distinct: one value repeated read "like 1.5, 1.5, 1.5"
        raise ValueError(f"{where}: data.task: {task!r} needs class labels, but the target holds numbers that are not whole, like "
                         f"{_labels([float(v) for v in odd[:3]])} ({len(np.unique(y))} distinct values: a regression target? "
                         "set data.task = \"regression\" or leave it out)")
    classes, codes = np.unique(y, return_inverse=True)
    if task == "binary" and len(classes) != 2:
        raise ValueError(f"{where}: data.task: 'binary' needs exactly 2 target values, but got {len(classes)}")
    return task, codes.astype(np.int64).reshape(-1), classes


def _rows_at(idx: np.ndarray, n: int) -> str:
    """``row 3`` / ``rows 3, 7, 9, 10, 11 and 12 more (of 60, counting from 0)``."""
    shown = ", ".join(str(int(i)) for i in idx[:5])
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more} (of {n}, counting from 0)"


def _labels(values: list[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _check_labels(ys: dict[str, np.ndarray], *, task: str, where: str) -> None:
    """The targets of every split (``""``: the training data; ``"val"``/``"test"``: splits the data
    came with) as a classification reads them: no missing label, and no class in a given split
    that the training data lacks (the network would never learn it; its outputs counted the
    training data's classes, and every trial failed on the first such label)."""
    if task == "regression":
        return
    for s, y in ys.items():
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ArrayError(f"{where}: {f'y_{s}' if s else 'y'}: a class label is missing (NaN or inf) in "
                             f"{_rows_at(np.flatnonzero(~np.isfinite(y)), len(y))}", array=f"y_{s}" if s else "y")
    text = any(y.dtype.kind in "OUS" for y in ys.values())

    def distinct(y: np.ndarray) -> set[Any]:
        return {v.item() if hasattr(v, "item") else v for v in np.unique(y.astype(str) if text else y)}

    seen = distinct(ys[""])
    for s in [s for s in ys if s]:
        extra = sorted(distinct(ys[s]) - seen, key=str)
        if extra:
            raise ArrayError(f"{where}: y_{s} holds {len(extra)} class{'es' if len(extra) > 1 else ''} the training data (y) has none of: "
                             f"{_labels(extra)} (a network never learns a class it never trains on; y's classes: {_labels(sorted(seen, key=str))})",
                             array=f"y_{s}")


def apply_layout(x: np.ndarray, layout: Layout) -> np.ndarray:
    """Samples ``(n, *stored)`` in ``layout`` (reshaped, axes reordered; contiguous)."""
    return arrange(x, reshape=layout.reshape, order=layout.order)  # type: ignore[no-any-return]


def _flat_labels(y: np.ndarray) -> np.ndarray:
    return y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y


def numpy_of(a: Any) -> np.ndarray:
    """An array of a numpy array, a torch tensor (to the CPU) or a list. A list of items of two
    shapes is refused naming both and their items, where NumPy's words ("an inhomogeneous shape
    after 3 dimensions") name neither, as a Dataset's items are (:mod:`hpbench.data.stream`)."""
    if hasattr(a, "detach"):  # a torch tensor
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except ValueError:
        odd = _odd_item(a) if isinstance(a, (list, tuple)) else None
        if odd is None:
            raise
        raise ValueError(odd) from None


def _odd_item(items: list[Any] | tuple[Any, ...]) -> str | None:
    """``every item must have one shape, but item 1 is shaped (8, 8, 3) where item 0 is shaped
    (8, 8, 1)``, or None when the items' own shapes agree (the difference is deeper)."""
    try:
        shapes = [numpy_of(v).shape for v in items]
    except ValueError:
        return None
    odd = next((i for i, s in enumerate(shapes) if s != shapes[0]), None)
    if odd is None:
        return None
    return f"every item must have one shape, but item {odd} is shaped {shapes[odd]} where item 0 is shaped {shapes[0]}"


def read_table(path: str, *, keep_text: tuple[str, ...] = ()) -> Any:
    """A CSV (plain or compressed: pandas decompresses by the suffix) or Parquet file as a pandas
    DataFrame (the parser's own errors propagate). ``keep_text``: texts pandas reads as missing
    by default (``NA``, ``None``, ...) kept as text in a CSV (``[data] keep_text``)."""
    import warnings

    import pandas as pd

    if is_parquet(path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        df = pd.read_parquet(path)
        # a decimal column (databases, Spark) comes as Python Decimal objects, an object column pandas' checks
        # read as text (and training one-hot encoded): read as numbers
        decimals = [f.name for f in pq.read_schema(path) if pa.types.is_decimal(f.type) and f.name in df.columns]
        return df.astype(dict.fromkeys(decimals, "float64")) if decimals else df
    with warnings.catch_warnings():
        # A row with more fields than the header: pandas would silently make the extra leading
        # fields the index (index_col=None) or drop data (index_col=False); it is an error here.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        if keep_text:
            return pd.read_csv(path, index_col=False, keep_default_na=False, na_values=kept_na_values(keep_text))
        return pd.read_csv(path, index_col=False)


def missing_texts(path: str, columns: list[Any]) -> Any:
    """The cells of a CSV's ``columns`` as written (no text read as missing): what a cell pandas
    read as missing held, an empty string or a text such as 'NA'."""
    import pandas as pd

    return pd.read_csv(path, index_col=False, usecols=columns, dtype=str, keep_default_na=False)


def load_file(path: str, *, target: str, task: str | None = None, shape: tuple[int, ...] | None = None, kind: str | None = None,
              keep_text: tuple[str, ...] = ()) -> RawData:
    """A CSV or Parquet table: ``target`` is the label column, every other column a feature
    (non-numeric feature columns are one-hot encoded; with a declared ``shape`` every feature
    column must be numeric, in the order the shape reads them: row-major)."""
    return table_to_raw(read_table(path, keep_text=keep_text), path=path, target=target, task=task, shape=shape, kind=kind)


def table_to_raw(df: Any, *, path: str, target: str, task: str | None = None, shape: tuple[int, ...] | None = None,
                 kind: str | None = None) -> RawData:
    """A table read from ``path`` -> :class:`RawData` (the first problem found raises; the
    pre-flight checks, :mod:`hpbench.preflight.data`, report all of them before this runs)."""
    import pandas as pd

    if target not in df.columns:
        from hpbench.errors import did_you_mean

        raise ValueError(f"{path}: data.target: no column {target!r} in the file ({did_you_mean(target, [str(c) for c in df.columns])})")
    y = df[target].to_numpy()
    feats = df.drop(columns=[target])
    if feats.shape[1] == 0:
        raise ValueError(f"{path}: the file has no feature columns besides the target {target!r}")
    missing = [str(c) for c in feats.columns if feats[c].isna().any()]
    if missing:
        raise ValueError(f"{path}: feature columns must have no missing values, but {', '.join(missing)} do")
    dates = [str(c) for c in feats.columns if feats[c].dtype.kind in "Mm"]
    if dates:
        raise ValueError(f"{path}: column {dates[0]!r}: must hold numbers or text categories, not dates or durations (derive numbers from it first)")
    text = [str(c) for c in feats.columns if not pd.api.types.is_numeric_dtype(feats[c])]
    if shape is not None and text:
        raise ValueError(f"{path}: data.shape: needs numeric feature columns (read as one sample of that shape), but {', '.join(text[:3])} are not")
    columns = tuple(str(c) for c in feats.columns)
    feats = feats.set_axis(list(columns), axis=1)
    categories = onehot.categories_of(feats)
    for name, found in onehot.clashes(columns, categories)[:1]:
        column, what, rename = onehot.clash_text(name, found)
        raise ValueError(f"{path}: column {column!r}: {onehot.CLASH_RULE}, but got {what} ({rename})")
    if df[target].isna().any():
        raise ValueError(f"{path}: data.target: column {target!r} has missing values")
    # by position, as the predictor encodes new rows (the same function: the two cannot disagree)
    x = onehot.encode(feats, columns=columns, categories=categories)
    raw = as_raw(x, y, task=task, name=stem(path), where=str(path), shape=shape, kind=kind)
    return replace(raw, encoding=replace(raw.encoding, columns=columns, dummies=onehot.input_names(columns, categories), categories=categories))
