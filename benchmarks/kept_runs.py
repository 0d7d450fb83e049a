"""The kept searches an offline replay reads (``benchmarks/eta.py --keep DIR`` writes them): the
command-line arguments both replays take, and their study folders in order."""

from __future__ import annotations

import argparse
import glob
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def arguments(doc: str | None, *, at_help: str, out: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--runs", required=True, action="append", help="glob of kept study folders (DIR/*/results/*); repeatable")
    ap.add_argument("--at", type=float, default=0.25, help=at_help)
    ap.add_argument("--out", type=Path, default=Path(out))
    return ap.parse_args()


def replayed(patterns: list[str], one: Callable[[Path], dict[str, Any] | None]) -> Iterator[dict[str, Any]]:
    """``one(folder)`` of every kept study folder the globs match, where it gives a row."""
    for pattern in patterns:
        for d in sorted(glob.glob(pattern)):
            row = one(Path(d))
            if row is not None:
                yield row
