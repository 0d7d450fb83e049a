"""The default cache folder (this machine's device models and search history), checked before
a command that may calibrate there: ``hpbench devices``, ``hpbench estimate``, ``hpbench search``."""

from __future__ import annotations


def check_default_cache(*, flag: str | None) -> None:
    """Refuse, before any work, a default cache folder (``$XDG_CACHE_HOME/hpbench/devices``) that
    does not exist and cannot be made (a file in its path, a read-only parent): an :class:`~hpbench.results.files.OutputError` naming it and how to change it
    (``XDG_CACHE_HOME``, or ``flag`` where the command has one). Before, ``hpbench devices``
    calibrated for minutes and then failed writing the model, and a search calibrated again for
    each trial's prediction (s50/h8 #2)."""
    from hpbench.cost.history import default_cache_dir
    from hpbench.results.files import OutputError, check_writable

    where = default_cache_dir()
    if where.is_dir():  # an existing folder, even read-only: the models it holds are read (a missing one fails where it is written)
        return
    try:
        check_writable(where, key="the cache folder", min_free_bytes=0)
    except OutputError as err:
        other = f", or give {flag} DIR" if flag else ""
        raise OutputError(f"{err} (the default, under $XDG_CACHE_HOME or ~/.cache: set XDG_CACHE_HOME to a writable folder{other})") from None
