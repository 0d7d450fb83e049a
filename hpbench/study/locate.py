"""Where a relative path in a study (a data file, a saved trial's results directory) is looked up.

Beside the study file, as config files resolve their paths (pyproject, docker-compose), or in the
working directory, where a study given without a folder has always found its files. When both
hold one and they are not the same, the study is refused rather than one chosen silently: a
same-named file in the folder the command runs from replaced the study's own data (bug hunt s51/h3
#4). ``~`` is the user's home, as pandas and the shell read it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hpbench.study.reader import Reader


def locate(r: Reader, key: str, value: str, *, found: Callable[[Path], bool] = Path.exists, what: str = "files") -> Path | None:
    """The absolute path ``value`` names (``found``: what counts as there), or None when neither
    place has it; a StudyError naming ``key`` when both hold different ones."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path.resolve() if found(path) else None
    here, beside = Path.cwd() / path, r.base_dir.resolve() / path
    places = [p for p in dict.fromkeys((here.resolve(), beside.resolve())) if found(p)]
    if len(places) == 2 and not _same(*places):
        raise r.fail(key, f"is ambiguous: it names {places[1]} beside the study file and {places[0]} in the working directory, two "
                     f"different {what}; give an absolute path, or run hpbench from the study's folder", value)
    return places[0] if places else None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a == b
