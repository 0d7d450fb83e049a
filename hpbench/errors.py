"""User-facing errors.

Every problem with user input is raised as :class:`StudyError` at the edge (study parsing,
CLI options) and turned into exit code 2 by the CLI. The message always names where the
value came from, the key, the rule it breaks and the bad value, e.g.::

    studies/quickstart.toml: space.lr: loguniform needs 0 < low < high, but got low=0.0
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StudyError(ValueError):
    """Invalid user input: a study file, an override or a CLI option."""

    def __init__(self, *, source: str, key: str, rule: str, value: object = None, hint: str = "") -> None:
        self.source = source
        self.key = key
        self.rule = rule
        self.value = value
        self.hint = hint
        got = "" if value is None else f", but got {_show(value)}"
        tail = f" ({hint})" if hint else ""
        super().__init__(f"{source}: {key}: {rule}{got}{tail}")


def _show(value: object) -> str:
    if isinstance(value, str) and value.startswith("\x00"):  # pre-formatted, e.g. "low=0.0"
        return value[1:]
    return repr(value)


def shown(text: str) -> str:
    """Mark ``text`` as already formatted so that StudyError prints it without quotes."""
    return "\x00" + text


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """A 'did you mean' hint for an unknown name, or an empty string."""
    options = list(options)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "expected one of: " + ", ".join(sorted(options)) if options else ""
