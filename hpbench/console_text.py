"""Text from outside hpbench in what the commands print through Rich, whose markup is on.

Paths, study and parameter values, device names and messages are the user's: a ``[v2]`` in a
folder's name is a markup tag to Rich and vanished from the printed path (and from the command
printed to copy, which then failed), a ``[/b]`` raised MarkupError after a whole search had run
(bug hunt s51/h3 #2). Such text goes through :func:`literal` wherever it is formatted into a line
or a table cell; a command the user copies through :func:`shell_command`, quoted for a shell.
"""

from __future__ import annotations

import shlex

from rich.markup import escape


def literal(value: object) -> str:
    """``value`` as text that Rich's markup prints as it is."""
    return escape(str(value))


def shell_command(*words: object) -> str:
    """A command to copy (``hpbench report RESULTS``): each word quoted for a POSIX shell (a path
    with spaces pastes as one argument), then escaped for markup."""
    return escape(shlex.join(str(w) for w in words))
