"""User code errors that read like errors: the exception in one line, plus the user's own frames.

A user's dataset loader or model builder (``"package.module:function"``) that raises is shown
as one line naming the entry point and the exception, followed by the frames of the user's own
files, innermost last. Frames of hpbench, of the Python installation (the standard library and
every installed package: Ray, torch, pandas ...) and of generated code are left out; the full
traceback is kept for ``--debug``. A leaf module: it imports nothing from hpbench.
"""

from __future__ import annotations

import re
import sys
import sysconfig
import traceback
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType

MAX_MESSAGE = 300  # characters of an exception message shown on its one line
MAX_FRAMES = 5  # the innermost user frames shown (a deep user stack is cut from the outside)


@dataclass(frozen=True, kw_only=True)
class Frame:
    path: str
    line: int
    function: str
    code: str = ""

    @property
    def where(self) -> str:
        return f"{_short(self.path)}:{self.line} in {self.function}"

    def __str__(self) -> str:
        return f"{self.where}: {self.code}" if self.code else self.where


@cache
def _internal_roots() -> tuple[str, ...]:
    """Folders whose files are not the user's: hpbench itself and the Python installation."""
    roots = {str(Path(__file__).resolve().parent)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(str(Path(path).resolve()))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        roots.add(str(Path(prefix).resolve() / "lib"))
    return tuple(sorted(roots))


def is_user_file(path: str) -> bool:
    """True for a real file outside hpbench and the Python installation."""
    if not path or path.startswith("<"):  # <frozen importlib._bootstrap>, <string>, <stdin>
        return False
    try:
        resolved = str(Path(path).resolve())
    except OSError:
        return False
    return not any(resolved == root or resolved.startswith(root + "/") for root in _internal_roots())


def user_frames(tb: TracebackType | None) -> tuple[Frame, ...]:
    """The user's own frames of a traceback, innermost last (at most ``MAX_FRAMES``)."""
    frames = [Frame(path=f.filename, line=f.lineno or 0, function=f.name, code=(f.line or "").strip())
              for f in traceback.extract_tb(tb) if is_user_file(f.filename)]
    return tuple(frames[-MAX_FRAMES:])


_FRAME_LINE = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<function>.+?)\s*$')


def user_frames_in_text(text: str) -> tuple[Frame, ...]:
    """The user's own frames of a traceback printed as text (a Ray trial's error file)."""
    lines = text.splitlines()
    frames = []
    for i, line in enumerate(lines):
        m = _FRAME_LINE.match(line)
        if m and is_user_file(m["path"]):
            nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
            code = "" if nxt.startswith("File ") or set(nxt) <= set("^~ ") else nxt
            frames.append(Frame(path=m["path"], line=int(m["line"]), function=m["function"], code=code))
    return tuple(frames[-MAX_FRAMES:])


def exception_line(err: BaseException) -> str:
    """``ValueError: the message`` on one line (a long or multi-line message is cut)."""
    message = " ".join(str(err).split())
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    name = type(err).__name__
    return f"{name}: {message}" if message else name


def full_traceback(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


def _short(path: str) -> str:
    """A path relative to the working directory when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return path
