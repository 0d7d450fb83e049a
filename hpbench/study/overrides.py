"""``--set SECTION.KEY=VALUE`` overrides, applied to the raw study before it is validated."""

from __future__ import annotations

import tomllib
from typing import Any

from hpbench.errors import StudyError


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.max_epochs=10"`` -> (``["train", "max_epochs"]``, 10); the value is read as TOML,
    a bare word as a string."""
    key, eq, text = item.partition("=")
    key = key.strip()
    if not eq or not key or "." not in key:
        raise StudyError(source="--set", key=item, rule="must be SECTION.KEY=VALUE, e.g. train.max_epochs=10")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word is a string: --set optimizer.name=adam
    return key.split("."), value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set one ``--set`` override in the raw study (tables created as needed)."""
    parts, value = parse_override(item)
    node = raw
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise StudyError(source="--set", key=item, rule=f"{part!r} is not a table")
        node = nxt
    node[parts[-1]] = value
