"""User data: a CSV/Parquet file with a named target column, or ``"package.module:load"``
returning arrays/tensors ``(x, y)``, a dict ``{"x", "y"[, "task"]}``, a :class:`RawData` or
a ``torch.utils.data.Dataset`` of ``(x, y)`` pairs.

The task is inferred from the target unless given: labels (strings, booleans) are classes;
whole numbers with two distinct values are binary, with up to ``MAX_CLASSES`` multiclass;
anything else is regression. Class labels are mapped to 0..k-1 in sorted order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hpbench.data.datasets import TASKS, RawData
from hpbench.registry import import_object

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


def as_raw(x: Any, y: Any, *, task: str | None, name: str, where: str, image: bool = False) -> RawData:
    """Arrays or tensors → :class:`RawData`, with the targets encoded for ``task``."""
    x = _numpy(x).astype(np.float32)
    y = _numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{where}: needs x shaped (n, ...) and y shaped (n,), but got x {x.shape} and y {y.shape}")
    if len(y) == 0:
        raise ValueError(f"{where}: the data has no rows")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{where}: features must be finite numbers (no missing values), but some are NaN or inf")
    if task is not None and task not in TASKS:
        raise ValueError(f"{where}: data.task must be one of {', '.join(TASKS)}, but got {task!r}")
    task = task or infer_task(y)
    if task == "regression":
        try:
            y = y.astype(np.float32)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: task 'regression' needs a numeric target, but got values like {y[0]!r}") from None
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{where}: the target has missing or infinite values")
    else:
        classes, y = np.unique(y, return_inverse=True)
        if task == "binary" and len(classes) != 2:
            raise ValueError(f"{where}: task 'binary' needs exactly 2 target values, but got {len(classes)}")
        y = y.astype(np.int64)
    return RawData(x=x, y=y, task=task, name=name, image=image)


def _numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor
        return a.detach().cpu().numpy()
    return np.asarray(a)


def load_file(path: str, *, target: str, task: str | None = None) -> RawData:
    """A CSV or Parquet table: ``target`` is the label column, every other column a feature
    (non-numeric feature columns are one-hot encoded)."""
    import pandas as pd

    p = Path(path)
    df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
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
    feats = pd.get_dummies(feats, dtype=np.float32)
    if df[target].isna().any():
        raise ValueError(f"{path}: data.target: column {target!r} has missing values")
    return as_raw(feats.to_numpy(dtype=np.float32), y, task=task, name=p.stem, where=str(path))


def load_callable(spec: str, options: dict[str, Any]) -> RawData:
    """``"package.module:load"`` called with the dataset options (``task`` and ``image`` are
    hpbench's own and not passed on)."""
    opts = dict(options)
    task = opts.pop("task", None)
    image = bool(opts.pop("image", False))
    out = import_object(spec)(**opts)
    if isinstance(out, RawData):
        return out
    if isinstance(out, dict):
        if "x" not in out or "y" not in out:
            raise ValueError(f"{spec}: a returned dict needs keys 'x' and 'y', but got {sorted(out)}")
        return as_raw(out["x"], out["y"], task=out.get("task", task), name=spec, where=spec, image=bool(out.get("image", image)))
    if isinstance(out, tuple) and len(out) == 2:
        return as_raw(out[0], out[1], task=task, name=spec, where=spec, image=image)
    if hasattr(out, "__getitem__") and hasattr(out, "__len__"):  # a map-style torch Dataset
        pairs = [out[i] for i in range(len(out))]
        xs = np.stack([_numpy(p[0]) for p in pairs])
        ys = np.stack([_numpy(p[1]).reshape(()) for p in pairs])
        return as_raw(xs, ys, task=task, name=spec, where=spec, image=image)
    raise ValueError(f"{spec}: must return (x, y), a dict with 'x' and 'y', or a torch Dataset, but got {type(out).__name__}")
