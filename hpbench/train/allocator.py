"""glibc's allocator set for training: large tensors kept on the heap between steps.

A training step allocates and frees the same large tensors every step (a [256, 4096] activation
and its gradient are 4 MB each). glibc serves a block above its mmap threshold with a fresh
``mmap`` (its threshold starts at 128 KB and rises to the largest block freed) and gives the top
of the heap back to the system above its trim threshold, so each step pays the kernel's page
faults to zero-fill those pages again: ReLU's backward on a 4 MB tensor read 5 ms a call in a
profile, 0.2 GB/s. With the mmap threshold at its ceiling (32 MB) and the heap never trimmed, the
pages stay mapped: one step of an MLP 30 -> 4096 -> 1 at batch 256 on one thread took 5.1-6.4 ms
against 6.5-7.7 ms (three alternating runs, session 43, loaded machine); networks whose tensors
stay under 128 KB allocate as before. Setting only the trim threshold turns glibc's adjustment
of the mmap threshold off and doubled that step (12.8-13.8 ms): both are set, or neither.
The cost: a process keeps the heap its largest step used until it exits (a trial worker's).

:func:`tune` is called where a process starts training (the trainer, the fused trainer, the
calibration that prices them); a no-op where the C library is not glibc, and inside
:func:`untouched` (training in a caller's process: ``hpbench.train_study``, whose caller keeps
its own allocator).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD = 1 << 30

_tuned: bool | None = None
_untouched = 0  # > 0 inside untouched()


OFF_ENV = "HPBENCH_ALLOCATOR"  # "default": glibc's own settings (less memory kept; benchmarks/allocator.py's other arm)


def tune() -> bool:
    """Set this process's allocator as the module describes (once); whether it is set."""
    global _tuned
    if _untouched:
        return bool(_tuned)
    if _tuned is None:
        _tuned = os.environ.get(OFF_ENV, "") != "default" and _mallopt()
    return _tuned


@contextlib.contextmanager
def untouched() -> Iterator[None]:
    """:func:`tune` sets nothing while this block runs (a process it had set stays set)."""
    global _untouched
    _untouched += 1
    try:
        yield
    finally:
        _untouched -= 1


def _mallopt() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
