"""``--set SECTION.KEY=VALUE`` overrides, applied to the raw study before it is validated."""

from __future__ import annotations

import tomllib
from typing import Any

from hpbench.errors import StudyError


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.max_epochs=10"`` -> (``["train", "max_epochs"]``, 10); the key is read as a TOML
    dotted key (a quoted part keeps its dots: ``space."train.d_lr"`` -> ``["space", "train.d_lr"]``),
    the value as TOML, a bare word as a string."""
    rule = "must be SECTION.KEY=VALUE, e.g. train.max_epochs=10 (a key with dots quoted, as in the study file: space.\"train.d_lr\"={grid=[0.001]})"
    key, eq, text = _split(item)
    parts = _key_parts(key) if eq else None
    if parts is None or len(parts) < 2:
        raise StudyError(source="--set", key=item, rule=rule)
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word is a string: --set optimizer.name=adam
    except RecursionError:  # tomllib recurses per nesting level
        raise StudyError(source="--set", key=item, rule="its value is nested too deeply to read") from None
    return parts, value


def _split(item: str) -> tuple[str, str, str]:
    """The key, ``=`` and the value: the first ``=`` outside quotes (``space."a=b"=...``)."""
    quote = ""
    for i, ch in enumerate(item):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return item[:i], "=", item[i + 1:]
    return item, "", ""


def _key_parts(key: str) -> list[str] | None:
    """The parts of a TOML dotted key (None when it is not one)."""
    try:
        node: Any = tomllib.loads(f"{key.strip()} = 0")
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        part, node = next(iter(node.items()))
        parts.append(part)
    return parts if node == 0 else None


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
