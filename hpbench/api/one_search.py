"""One :func:`hpbench.search` at a time in a process.

A search's Ray runtime, its loggers' levels and the environment variables Ray reads belong to the
process (:mod:`hpbench.dispatch.ray_runtime`, :mod:`hpbench.dispatch.backend`): two searches in two
threads of one process shared them. The second call's ``ray.init`` failed inside Ray ("Perhaps
you called ray.init twice") after its pre-flight and its early trials, its results folder left
holding a trial "running", and its end restored the loggers the first search had quieted (bug
hunt s51/h2 #2). A call made while another runs in this process is refused at once, before it
reads or writes anything: searches in one process run one after another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SearchRunning(RuntimeError):
    """Another :func:`hpbench.search` is running in this process (another thread)."""


_GUARD = threading.Lock()
_HOLDER: list[str] = []  # what the running search is, for the refusal's message


@contextmanager
def one_search(*, source: str, what: str) -> Iterator[None]:
    """Hold this process's search for the block; raises :class:`SearchRunning` at once, naming the
    search that holds it, when another call does. ``what``: this search, as the refusal names it."""
    if not _GUARD.acquire(blocking=False):
        holder = _HOLDER[0] if _HOLDER else "a search that is starting"
        raise SearchRunning(f"{source}: another search is running in this process ({holder}); searches in one process "
                            "run one after another: call again once it has returned, or run this one in a process of its own")
    try:
        _HOLDER[:] = [f"{what}, in thread {threading.current_thread().name!r}"]
        yield
    finally:
        _HOLDER.clear()
        _GUARD.release()
