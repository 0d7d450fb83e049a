"""Tables at the terminal's width: optional columns left out, least wanted first, until the rest
fit, instead of Rich squeezing every column to an ellipsis. What a reader ranks by stays; the
JSON outputs keep every column.

:func:`left_out` picks the columns; :class:`AtWidth` builds a table when Rich renders it, at the
width it is rendered at (a report's sections do not know the console they will be printed on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult

BOX = 3  # a column's border and the space either side of its cells (Rich's default box and padding)


def natural(header: str, cells: Iterable[str]) -> int:
    """Characters a column takes without wrapping: its widest cell or header."""
    return max([len(header), *(len(c) for c in cells)])


def span(needs: Mapping[str, int]) -> int:
    """Characters a table of columns needing ``needs`` characters each takes, borders included."""
    return 1 + sum(n + BOX for n in needs.values())


def left_out(needs: Mapping[str, int], *, width: int | None, order: Sequence[str]) -> list[str]:
    """The columns of ``order`` (the least wanted first) to leave out so that columns needing
    ``needs`` characters each fit in ``width`` (None: all fit); as few as possible."""
    if width is None:
        return []
    total = span(needs)
    out: list[str] = []
    for c in order:
        if total <= width:
            break
        if c in needs:
            total -= needs[c] + BOX
            out.append(c)
    return out


class AtWidth:
    """A renderable built at the width it is rendered at: ``build(width)``."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)
