"""Expected-output files (``tests/golden/``): render a Rich renderable at a fixed width, with no
colour and no terminal, and compare it with the file; ``pytest --update-golden`` rewrites the
files from the current output (read the diff before committing it)."""

from __future__ import annotations

import difflib
import json
import math
from io import StringIO
from pathlib import Path
from typing import Any

from rich.console import Console

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
WIDTH = 120


def console(width: int = WIDTH) -> Console:
    """A console that renders the same on every machine: fixed width, no colour, not a terminal."""
    return Console(file=StringIO(), width=width, color_system=None, force_terminal=False, force_jupyter=False,
                   force_interactive=False, legacy_windows=False)


def text_of(con: Console) -> str:
    out = con.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in out.splitlines()) + "\n"


def rounded(value: Any, digits: int = 9) -> Any:
    """JSON with floats to ``digits`` significant digits (the last bits of a sum may differ by platform)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value


def json_text(doc: Any) -> str:
    return json.dumps(rounded(doc), indent=1, default=str) + "\n"


def check(name: str, text: str, *, update: bool) -> None:
    """``text`` must equal ``tests/golden/<name>``; with ``update`` the file is (re)written instead."""
    path = GOLDEN / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.is_file():
        raise AssertionError(f"no golden file {path}: run `pytest --update-golden {Path(__file__).parents[1].name}/...` once and read it")
    want = path.read_text(encoding="utf-8")
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), f"golden/{name}", "rendered now"))
        raise AssertionError(f"output differs from golden/{name} (pytest --update-golden rewrites it):\n{diff}")
