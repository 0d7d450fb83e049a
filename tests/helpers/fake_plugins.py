"""Objects that fake entry points name in tests/test_plugins.py (no package installed)."""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param, entry
from hpbench.rules import Int

LOADED: list[str] = []  # what the registry has imported from here, in order


def _build(**kw: Any) -> Any:
    return ("built", kw)


GOOD = entry(_build, params={"size": Param(Int(min=1), 3, "a size")}, doc="a good plugin", task="multiclass")


def bare(**kw: Any) -> Any:
    """a bare builder

    (only the first line is its doc)"""
    return ("bare", kw)


NOT_A_BUILDER = 42
LOADED.append("module")
