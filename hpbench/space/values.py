"""How a choice's values travel, and how they are read back.

A choice may hold values that neither Optuna nor a parquet column keeps as they are: a list or
tuple (Adam's ``betas = [[0.5, 0.999], [0.9, 0.999]]``), or numbers mixed with strings
(``batch_size = [64, "full"]``). Each value therefore has a *label*, the form it takes outside
Python: the value itself when it is a plain scalar (None, bool, int, float, str), else its JSON
text (``"[0.5, 0.999]"``). Optuna's categorical choices are the labels (its storage keeps JSON
scalars only: an enqueued or resumed ``[0.5, 0.999]`` came back as a list and was refused against
the tuple choices), and a whole-table write stores a list-valued column as its labels (a part
written during a search, hpbench.results.writer, may hold the lists themselves).

Reading back goes through :func:`resolve`: whatever form a value took on the way (a label, a
list, a numpy array from a parquet list column, the string ``"64"`` from a column mixing numbers
and strings, a numpy scalar) maps to the choice's own value. Every reader does this: the
searcher (grid points, enqueued points, resumed trials), repeats and replays, the trial's
configuration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

SCALARS = (type(None), bool, int, float, str)


def plain(value: Any) -> Any:
    """``value`` with tuples, numpy arrays and numpy scalars turned into lists and Python scalars
    (JSON's forms); dicts keep their keys."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist) and not isinstance(value, SCALARS):
        return plain(tolist())
    return value


def label(value: Any) -> Any:
    """The form ``value`` takes in Optuna and in the tables: itself when a plain scalar, else its
    JSON text, e.g. ``(0.5, 0.999)`` -> ``"[0.5, 0.999]"``."""
    if isinstance(value, SCALARS):
        return value
    return json.dumps(plain(value), sort_keys=True)


def _key(value: Any) -> str:
    """An identity that ignores the container's type (tuple, list, array) and numpy scalars,
    but not the kind of a scalar (``64``, ``64.0``, ``"64"`` and ``True`` differ)."""
    return json.dumps([type(v).__name__ for v in _leaves(plain(value))] + [plain(value)], sort_keys=True)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def same(value: Any, choice: Any) -> bool:
    """``value`` (as a study file writes it) is ``choice``: equal and of the same type, or a list
    for a tuple of equal, same-typed items."""
    if type(value) is type(choice):
        return bool(value == choice)
    return isinstance(value, (list, tuple)) and isinstance(choice, (list, tuple)) and _key(value) == _key(choice)


def resolve(values: Sequence[Any], raw: Any) -> Any:
    """The one of ``values`` that ``raw`` stands for; ``raw`` itself when none does (e.g. a
    resumed trial of a space that changed)."""
    for v in values:  # the value itself
        if type(v) is type(raw) and v == raw:
            return v
    key = _key(raw)
    for v in values:  # a list for a tuple, a numpy array or scalar
        if _key(v) == key:
            return v
    if isinstance(raw, str):  # a label, or a column mixing numbers and strings ("64" for 64)
        for v in values:
            if not isinstance(v, str) and (label(v) == raw or str(v) == raw):
                return v
    number = plain(raw)
    if isinstance(number, (int, float)) and not isinstance(number, bool):  # 64.0 from a float column for 64
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == number:
                return v
    return raw
