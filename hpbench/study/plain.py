"""A study given as Python values -> the same study as TOML would read it: string keys only,
NumPy scalars as plain ``int``/``float``/``bool``/``str``.

A study file read by ``tomllib`` holds nothing else; a dict given to ``Study.from_dict`` may
(an int key from a JSON round trip, ``np.int64`` from a DataFrame row). :func:`plain` runs once,
where a study enters (:func:`hpbench.study.parse.parse_study`), so every later check, the stored
record (``study.json``) and the trials see plain values. Lists and tuples stay what they are
(a tuple is refused later as "must be a list", as before); NumPy arrays are left as given.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any

from hpbench.errors import Problem, StudyError, shown


def plain(raw: Any, *, source: str, key: str = "") -> Any:
    """``raw`` (the value of ``key``; empty: the whole study) with NumPy scalars converted, in
    nested dicts, lists and tuples too. Raises :class:`~hpbench.errors.StudyError` naming every
    table whose key is not a string."""
    problems: list[Problem] = []
    out = _walk(raw, key, source, problems)
    if problems:
        raise StudyError.of(problems)
    return out


def plain_scalar(value: Any) -> Any:
    """A NumPy scalar as the plain Python value (``np.int64(2)`` -> ``2``, ``np.bool_`` ->
    ``bool``); any other value as it is. NumPy is not imported: a value of it means it was."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(value, np.generic):
        return value
    if isinstance(value, np.bool_):  # before Integral: a Python bool is an int, np.bool_ is neither
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):  # np.float64 is a float already: as float, for study.json
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value  # complex, datetime64, ...: refused later as what they are


def _walk(node: Any, path: str, source: str, problems: list[Problem]) -> Any:
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            if not isinstance(k, str):
                problems.append(Problem(source=source, key=path or "(study)", rule="keys must be strings", value=shown(repr(k))))
                continue
            out[str(k)] = _walk(v, f"{path}.{k}" if path else k, source, problems)  # np.str_ as str
        return out
    if isinstance(node, list | tuple):
        items = [_walk(v, f"{path}[{i}]", source, problems) for i, v in enumerate(node)]
        return items if isinstance(node, list) else tuple(items)
    return plain_scalar(node)
