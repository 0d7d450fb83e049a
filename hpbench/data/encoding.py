"""How a study's raw data became model inputs and class indices, kept with a trained model.

A trained network reads encoded inputs: a table's text columns one-hot encoded, the samples laid
out (reshaped, a channels-last image's axes reordered), standardized or min-max scaled with the
training split's statistics; and it predicts class indices 0..k-1, not the labels the data held.
:class:`Encoding` records each of these steps as data preparation applied them
(:func:`hpbench.data.user.as_raw`, :func:`~hpbench.data.user.table_to_raw`,
:func:`hpbench.data.prepare.split_raw`); the weights file keeps it (plain lists and strings: it
loads with ``torch.load(weights_only=True)``), and :class:`hpbench.api.predict.Predictor` applies
it to new raw data, as a scikit-learn pipeline or a Keras preprocessing layer would. Streamed data
(read batch by batch) records none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hpbench.data import onehot
from hpbench.data.kinds import arrange

SCALES = ("standardize", "minmax")
Label = str | int | float | bool


@dataclass(frozen=True, kw_only=True)
class Encoding:
    classes: tuple[Label, ...] | None = None  # the label of each class index (None: regression, or unknown)
    columns: tuple[str, ...] | None = None  # a table's feature columns as read (the target left out)
    dummies: tuple[str, ...] | None = None  # the encoded columns, in order (text columns one-hot: "color_red", ...)
    # per column of ``columns``: None for a number, else its one-hot categories (hpbench.data.onehot); None: not
    # recorded and not readable from ``dummies``, which are then looked up by name (weights files from before it was kept)
    categories: onehot.Categories | None = None
    # a sample's shape as the data held it, before ``reshape`` and ``order``: what new samples are checked against
    # (None: a table's, or a weights file written before it was kept: :meth:`_check_stored` checks what the layout tells)
    stored: tuple[int, ...] | None = None
    reshape: tuple[int, ...] | None = None  # a sample's shape before ``order`` (hpbench.data.kinds.Layout)
    order: tuple[int, ...] | None = None
    scale: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = field(default=())  # (step, shift, divisor) per step

    def with_scale(self, steps: Sequence[tuple[str, np.ndarray, np.ndarray]]) -> Encoding:
        return replace(self, scale=tuple((s, tuple(float(v) for v in np.ravel(a)), tuple(float(v) for v in np.ravel(b))) for s, a, b in steps))

    # -- applied to new data --------------------------------------------------------------------
    def inputs(self, x: Any, *, input_shape: Sequence[int]) -> np.ndarray:
        """Raw samples (a pandas DataFrame of the feature columns for a table's data, else an
        array shaped like the data's ``x``) -> the float32 inputs the model reads."""
        if self.columns is not None:
            x = self._table(x)  # its columns' missing and infinite values named by column (hpbench.data.onehot)
        a = float32_samples(x)
        if self.columns is None:
            self._check_stored(a.shape, input_shape=tuple(input_shape))
            check_finite(a)
        a = arrange(a, reshape=self.reshape, order=self.order)
        if tuple(a.shape[1:]) != tuple(input_shape):
            raise ValueError(f"the samples must be laid out as the model was trained: shaped (n, {', '.join(map(str, input_shape))}) once "
                             f"encoded, but got {tuple(a.shape)}")
        for _, shift, div in self.scale:
            flat = a.reshape(len(a), math.prod(a.shape[1:]))  # not -1: no rows (an empty DataFrame) leave it undefined
            a = ((flat - np.asarray(shift, dtype=np.float32)) / np.asarray(div, dtype=np.float32)).reshape(a.shape).astype(np.float32)
        return a

    def _check_stored(self, given: tuple[int, ...], *, input_shape: tuple[int, ...]) -> None:
        """New samples shaped ``given`` checked as given, against the training data's samples, before
        :func:`~hpbench.data.kinds.arrange` moves their axes: checked after it, the message named
        hpbench's own transpose of the input (``(3, 32, 3, 32)`` for ``(3, 3, 32, 32)`` given) or
        NumPy's (``axes don't match array``, ``cannot reshape array of size 784``)."""
        stored = self.stored
        if stored is None and self.reshape is None:  # an older file: the stored shape is the model's, its axes put back
            stored = input_shape if self.order is None else tuple(input_shape[self.order.index(i)] for i in range(len(input_shape)))
        if stored is not None:
            if tuple(given[1:]) == stored:
                return
            raise ValueError(shape_message(given, stored=stored, input_shape=input_shape, moved=self.reshape is not None or self.order is not None))
        size = math.prod(self.reshape or ())  # an older file that reshapes its samples: only their size is known
        if len(given) >= 2 and math.prod(given[1:]) == size:
            return
        reads = ", ".join(map(str, input_shape))
        raise ValueError(f"the samples must be shaped like the training data's x, {size} values each (the model reads each as ({reads})), "
                         f"but got {tuple(given)}" + (single_hint(given) if math.prod(given) == size else ""))

    def _table(self, x: Any) -> Any:
        import pandas as pd

        if not isinstance(x, pd.DataFrame):
            raise ValueError(f"the model was trained on a table: give a pandas DataFrame with its feature columns {list(self.columns or ())[:6]}")
        columns = list(self.columns or ())
        missing = [c for c in columns if c not in x.columns]
        if missing:
            raise ValueError(f"the table lacks the feature columns {missing[:6]} the model was trained on")
        twice = sorted({str(c) for c in x.columns[x.columns.duplicated()]} & set(columns))
        if twice:
            raise ValueError(f"the table has more than one column named {twice[:6]}: give each feature column once")
        if self.categories is not None:  # by position, as training encoded it (hpbench.data.onehot)
            return onehot.encode(x, columns=columns, categories=self.categories)
        feats = pd.get_dummies(x[columns], dtype=np.float32)
        # an old file whose input names allow more than one reading: looked up by name, as it always was
        return feats.reindex(columns=list(self.dummies or ()), fill_value=0.0).to_numpy(dtype=np.float32)

    def labels(self, codes: np.ndarray) -> np.ndarray:
        """Class indices -> the labels the data held (as they are where none were recorded)."""
        if self.classes is None:
            return codes
        return np.asarray(self.classes, dtype=object)[codes].astype(np.asarray(self.classes).dtype)

    # -- in the weights file ----------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        return {"classes": None if self.classes is None else list(self.classes), "columns": _list(self.columns), "dummies": _list(self.dummies),
                "categories": None if self.categories is None else [_list(c) for c in self.categories],
                "stored": _list(self.stored), "reshape": _list(self.reshape), "order": _list(self.order), "scale": [[s, list(a), list(b)] for s, a, b in self.scale]}

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Encoding:
        """The encoding a weights file holds; ``ValueError`` naming the field that is not one hpbench writes."""
        def names(key: str) -> tuple[str, ...] | None:
            v = rec.get(key)
            if v is None:
                return None
            if not isinstance(v, (list, tuple)) or not all(isinstance(c, str) for c in v):
                raise ValueError(f"encoding.{key} must be a list of names, but got {v!r}"[:200])
            return tuple(v)

        def ints(key: str) -> tuple[int, ...] | None:
            v = rec.get(key)
            if v is None:
                return None
            if not isinstance(v, (list, tuple)) or not all(isinstance(i, int) and i >= 0 for i in v):
                raise ValueError(f"encoding.{key} must be a list of whole numbers, but got {v!r}"[:200])
            return tuple(v)

        classes = rec.get("classes")
        if classes is not None and (not isinstance(classes, (list, tuple)) or not all(isinstance(c, (str, int, float, bool)) for c in classes)):
            raise ValueError(f"encoding.classes must be a list of labels, but got {classes!r}"[:200])
        scale = []
        for item in rec.get("scale") or ():
            ok = isinstance(item, (list, tuple)) and len(item) == 3 and item[0] in SCALES and all(
                isinstance(part, (list, tuple)) and all(isinstance(v, (int, float)) for v in part) for part in item[1:])
            if not ok:
                raise ValueError(f"encoding.scale must hold [step, shift, divisor] lists, but got {item!r}"[:200])
            scale.append((str(item[0]), tuple(float(v) for v in item[1]), tuple(float(v) for v in item[2])))
        columns, dummies = names("columns"), names("dummies")
        return cls(classes=None if classes is None else tuple(classes), columns=columns, dummies=dummies,
                   categories=_categories(rec.get("categories"), columns, dummies), stored=ints("stored"), reshape=ints("reshape"), order=ints("order"), scale=tuple(scale))


def shape_message(given: tuple[int, ...], *, stored: tuple[int, ...], input_shape: tuple[int, ...], moved: bool) -> str:
    """Why samples shaped ``given`` are refused by a model trained on samples ``stored`` (read as
    ``input_shape`` once encoded; ``moved``: the encoding reshapes or reorders them)."""
    shown = ", ".join(map(str, stored))
    msg = f"the samples must be shaped (n, {shown}) as the training data's x, but got {tuple(given)}"
    if tuple(given) == stored:
        return msg + single_hint(given)
    if moved and tuple(given[1:]) == input_shape:
        msg += (f": ({', '.join(map(str, input_shape))}) per sample is how the model reads them once encoded; "
                "predict takes them as the training data held them")
    return msg


def float32_samples(x: Any) -> np.ndarray:
    """New samples as float32, a value beyond float32's range read as inf (refused by :func:`check_finite`)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32)


def check_finite(a: np.ndarray) -> None:
    """Array samples hold finite numbers, as training's did (:func:`hpbench.data.user.as_raw` refuses
    NaN and inf): a NaN sample's probabilities are NaN, and their argmax, class 0, was returned as its
    label (bug hunt s51/h5). One ``np.isfinite`` pass where all are finite; a ``ValueError`` naming the samples."""
    flat = a.reshape(len(a), math.prod(a.shape[1:]))  # not -1: no samples leave it undefined
    finite = np.isfinite(flat)
    if finite.all():
        return
    nan = np.isnan(flat)
    nan, inf = nan.any(axis=1), (~finite & ~nan).any(axis=1)
    what = "; ".join(f"{word} in {_samples(np.flatnonzero(m))}" for word, m in (("NaN (missing)", nan), ("inf (or beyond float32's range)", inf))
                     if m.any())
    raise ValueError(f"the samples must hold finite numbers, as training's did, but got {what} (of {len(flat)}, counting from 0)")


def _samples(idx: np.ndarray) -> str:
    """``sample 3`` / ``samples 3, 7, 9, 10, 11 and 12 more``."""
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return f"sample{'s' if len(idx) > 1 else ''} {', '.join(str(int(i)) for i in idx[:5])}{more}"


def single_hint(given: tuple[int, ...]) -> str:
    """For one sample given without the batch axis: how to add it."""
    return f": one sample shaped {tuple(given)} without the batch axis: give x[None] (shaped {(1, *given)})"


def _categories(v: Any, columns: tuple[str, ...] | None, dummies: tuple[str, ...] | None) -> onehot.Categories | None:
    """A record's categories, checked against its columns and input names; read back from the
    names where the record predates them (None where the names allow more than one reading)."""
    if columns is None or dummies is None:
        return None
    if v is None:
        return onehot.categories_from_names(columns, dummies)
    ok = isinstance(v, (list, tuple)) and len(v) == len(columns) and all(
        c is None or (isinstance(c, (list, tuple)) and all(isinstance(s, str) for s in c)) for c in v)
    cats = tuple(None if c is None else tuple(c) for c in v) if ok else None
    if cats is None or onehot.input_names(columns, cats) != dummies or len(set(dummies)) < len(dummies):
        raise ValueError(f"encoding.categories must hold each column's categories (none for a number), matching encoding.dummies, but got {v!r}"[:200])
    return cats


def _list(v: Sequence[Any] | None) -> list[Any] | None:
    return None if v is None else list(v)


def plain(v: Any) -> Label:
    """A label as a plain Python value (NumPy's scalars are not what a weights file may hold)."""
    return v.item() if hasattr(v, "item") else v
