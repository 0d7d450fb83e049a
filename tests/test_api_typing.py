"""What a type checker sees of ``hpbench``'s root names (the package ships ``py.typed``): the
lazily loaded names are typed as what they load, not ``Any``. Read without running mypy (over
30 s cold): the annotations and the ``TYPE_CHECKING`` imports themselves."""

from __future__ import annotations

import ast
import os
import typing

import pandas as pd

import hpbench
import hpbench.results.load
from tests.helpers.studies import ROOT


def test_root_load_has_the_reader_s_signature():
    # pandas and os are imported for the type checker only (import hpbench stays light): given here
    hints = typing.get_type_hints(hpbench.load, localns={"pd": pd, "os": os})
    assert hints == typing.get_type_hints(hpbench.results.load.load)
    assert hints["return"] is pd.DataFrame
    assert hints["path"] == str | os.PathLike[str]


def test_every_lazy_name_is_imported_for_the_type_checker():
    tree = ast.parse((ROOT / "hpbench" / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    typed = {alias.asname or alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert {name: typed.get(name) for name in hpbench._LAZY} == hpbench._LAZY
