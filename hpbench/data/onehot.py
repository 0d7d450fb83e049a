"""A table's feature columns as a model's inputs, by position: the numeric columns first, as
numbers, then each text column one-hot over the categories training saw (the layout
``pandas.get_dummies`` gives, and its names: ``color_red`` for the value ``red`` of ``color``).

Training and prediction both encode through :func:`encode`, with the categories training recorded
(:func:`categories_of`): an input is found by its column's position, never looked up by name, so
the two cannot disagree. Names still must not clash (:func:`clashes`): a numeric column
``color_red`` beside the text column ``color`` would be two inputs of one name, which the weights
file's list of inputs, a report and a user reading them cannot tell apart, so such a table is
refused before training (:mod:`hpbench.preflight.table`).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

Categories = tuple[tuple[str, ...] | None, ...]  # per feature column: None for a number, else its categories as named
SHOWN = 5  # rows or values a message lists


def is_numeric(values: Any) -> bool:
    """Whether a column is a number to training (booleans too); anything else is a text category."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values.dtype))


def categories_of(feats: Any) -> Categories:
    """Each column's categories as ``pandas.get_dummies`` orders and names them (a categorical
    column's declared categories, else its sorted distinct values; ``f"{value}"``), None for a
    numeric column."""
    import pandas as pd

    out: list[tuple[str, ...] | None] = []
    for col in feats.columns:
        values = feats[col]
        if is_numeric(values):
            out.append(None)
            continue
        levels = values.cat.categories if isinstance(values.dtype, pd.CategoricalDtype) else pd.Categorical(values.dropna()).categories
        out.append(tuple(f"{v}" for v in levels))
    return tuple(out)


def input_names(columns: Sequence[str], categories: Categories) -> tuple[str, ...]:
    """The model's inputs, in order: the numeric columns, then ``<column>_<value>`` per category."""
    numeric = [c for c, cats in zip(columns, categories, strict=True) if cats is None]
    return (*numeric, *(f"{c}_{v}" for c, cats in zip(columns, categories, strict=True) if cats is not None for v in cats))


def clashes(columns: Sequence[str], categories: Categories) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """The input names that more than one input would bear, each with where its inputs come from:
    ``(column, None)`` for a numeric column, ``(column, value)`` for a text column's category."""
    origins: dict[str, list[tuple[str, str | None]]] = {}
    for c, cats in zip(columns, categories, strict=True):
        for v in (None,) if cats is None else cats:
            origins.setdefault(c if v is None else f"{c}_{v}", []).append((c, v))
    return [(name, found) for name, found in origins.items() if len(found) > 1]


def clash_text(name: str, found: list[tuple[str, str | None]]) -> tuple[str, str, str]:
    """(the column to name, what clashes, what to rename) for one of :func:`clashes`: the numeric
    column if one is among them (its name is the one to change), else the last text column."""
    at = next((i for i, (_, v) in enumerate(found) if v is None), len(found) - 1)
    column = found[at][0]
    each = [f"numeric column {c!r}" if v is None else f"the value {v!r} of text column {c!r}" for c, v in [found[at], *found[:at], *found[at + 1:]]]
    suffix = "_value" if found[at][1] is None else "_text"
    return column, f"{len(found)} inputs named {name!r}: {' and '.join(each)}", f"rename column {column!r}, e.g. to {column + suffix!r}"


CLASH_RULE = ("must not share a name with another of the model's inputs (a text column's value v is one-hot encoded as the input "
              "'<column>_<v>')")


def encode(x: Any, *, columns: Sequence[str], categories: Categories) -> np.ndarray:
    """A DataFrame holding ``columns`` -> the float32 inputs, by position: numbers (numbers written
    as text converted), then one-hot categories. ``ValueError`` naming the column for text that is
    no number and for missing or infinite values; a ``UserWarning`` for categories training never
    saw (they get no input of their own: every one-hot input of their column is 0)."""
    numeric = [c for c, cats in zip(columns, categories, strict=True) if cats is None]
    parts = [_numbers(x, numeric)] if numeric else []
    for c, cats in zip(columns, categories, strict=True):
        if cats is not None:
            parts.append(_one_hot(x[c], c, cats))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(x), 0), dtype=np.float32)


def _numbers(x: Any, columns: list[str]) -> np.ndarray:
    frame = x[columns].copy()
    converted = {c: _as_numbers(frame[c], c) for c in columns if not is_numeric(frame[c])}
    for c, numbers in converted.items():  # numbers given as text (rows from JSON or a form): the numbers training read
        frame[c] = numbers
    with np.errstate(over="ignore", invalid="ignore"):  # a value float32 cannot hold becomes inf: refused below
        a = frame.to_numpy(dtype=np.float32, na_value=np.nan)
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError("; ".join(_not_finite(c, a[:, i]) for i, c in enumerate(columns) if bad[:, i].any()))
    return a


def _as_numbers(values: Any, column: str) -> Any:
    import pandas as pd

    numbers = pd.to_numeric(values.astype(object), errors="coerce")
    wrong = values.notna().to_numpy() & numbers.isna().to_numpy()
    if wrong.any():
        first = values.to_numpy()[wrong][0]
        raise ValueError(f"column {column!r}: the model was trained on numbers there, but got {first!r} ({_rows(wrong)}): "
                         "give numbers (or text that reads as one)")
    return numbers.astype(np.float64)


def _not_finite(column: str, v: np.ndarray) -> str:
    nan, inf = np.isnan(v), np.isinf(v)
    what = ", ".join(f"{n} {word} ({_rows(m)})" for n, word, m in ((int(nan.sum()), "missing", nan), (int(inf.sum()), "infinite or too large for float32", inf)) if n)
    return f"column {column!r}: must hold finite numbers, as training's did, but got {what}"


def _one_hot(values: Any, column: str, cats: tuple[str, ...]) -> np.ndarray:
    import pandas as pd

    missing = values.isna().to_numpy()
    if missing.any():
        raise ValueError(f"column {column!r}: must have no missing values, as training's had none, but got {int(missing.sum())} ({_rows(missing)})")
    codes = pd.Index(list(cats), dtype=object).get_indexer(values.astype(str).to_numpy(dtype=object))  # -1: a category training never saw
    unseen = codes < 0
    if unseen.any():
        _warn_unseen(values.to_numpy()[unseen], column, cats, n_rows=len(values))
    out = np.zeros((len(values), len(cats)), dtype=np.float32)
    seen = np.flatnonzero(~unseen)
    out[seen, codes[seen]] = 1.0
    return out


def _warn_unseen(unseen: np.ndarray, column: str, cats: tuple[str, ...], *, n_rows: int) -> None:
    values = list(dict.fromkeys(str(v) for v in unseen))
    shown = ", ".join(repr(v) for v in values[:SHOWN]) + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")
    known = ", ".join(repr(v) for v in cats[:10]) + (f" and {len(cats) - 10} more" if len(cats) > 10 else "")
    warnings.warn(f"column {column!r}: {len(unseen)} of {n_rows} rows hold categories training never saw ({shown}): they get no input "
                  f"of their own (every one-hot input of the column is 0); training saw {known}", UserWarning, stacklevel=callers_level())


def callers_level() -> int:
    """The ``stacklevel`` (from the function calling this) of the first frame outside hpbench: a
    warning names the user's line that predicted, not this module's."""
    root = str(Path(__file__).resolve().parents[1])
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(root):
        frame, level = frame.f_back, level + 1
    return level


def _rows(mask: np.ndarray) -> str:
    """Where: the rows' positions in the table given (from 0), not its index labels."""
    at = np.flatnonzero(mask)
    more = f" and {len(at) - SHOWN} more" if len(at) > SHOWN else ""
    return f"row{'s' if len(at) > 1 else ''} {', '.join(str(int(i)) for i in at[:SHOWN])}{more}"


def categories_from_names(columns: Sequence[str], names: Sequence[str]) -> Categories | None:
    """The categories of a weights file written before they were recorded, read back from its
    input names (the numeric columns first, then ``<column>_<value>`` per text column, as
    ``pandas.get_dummies`` laid them out); None when the names allow more than one reading (or none)."""
    columns, names = tuple(columns), tuple(names)
    readings: list[Categories] = []
    for k in range(len(names) + 1):
        numeric = names[:k]
        if len(set(numeric)) < k or [c for c in columns if c in set(numeric)] != list(numeric):
            break  # not the numeric columns in order: no longer prefix is either
        text = tuple(c for c in columns if c not in set(numeric))
        try:
            ways = _cuts(text, names[k:])
        except RecursionError:  # thousands of text columns: not read back
            return None
        readings += [tuple(dict(zip(text, way, strict=True)).get(c) for c in columns) for way in ways]
        if len(readings) > 1:
            return None
    return readings[0] if readings else None


def _cuts(text: tuple[str, ...], names: tuple[str, ...]) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """The ways (at most 2 of them) to cut ``names`` into one run of ``<column>_<value>`` per text
    column in order, each run holding at least one value, each value once."""
    @cache
    def ways(j: int, i: int) -> tuple[tuple[tuple[str, ...], ...], ...]:
        if j == len(text):
            return ((),) if i == len(names) else ()
        prefix, seen = f"{text[j]}_", set()
        out: list[tuple[tuple[str, ...], ...]] = []
        for end in range(i + 1, len(names) + 1):
            if not names[end - 1].startswith(prefix) or names[end - 1] in seen or len(out) > 1:
                break
            seen.add(names[end - 1])
            out += [(tuple(n[len(prefix):] for n in names[i:end]), *rest) for rest in ways(j + 1, end)]
        return tuple(out[:2])

    return ways(0, 0)
