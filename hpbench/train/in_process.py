"""Training in a caller's process (``hpbench.train_study``, ``hpbench train``): the caller's
process is left as it was found.

A trial worker sets process-wide what makes it train fast: torch's thread count
(``[resources] cpus_per_trial``), the optimizers' ``step`` without TorchDynamo's import
(:mod:`hpbench.train.eager`) and glibc's allocator keeping freed memory (:mod:`hpbench.train.allocator`).
In a worker that lasts as long as its trials; in a notebook's process it stayed after
``train_study`` returned: the user's own torch code ran on one thread, and about 1 GB of arrays
the user deleted stayed resident (bug hunt s50/h2, finding 2). Inside :func:`caller_process` the
allocator is left alone, and the thread count and the optimizers are put back when the block ends
(an exception included). None of them changes the numbers a training gives: the patched ``step``
does the same arithmetic (:mod:`hpbench.train.eager`), so a retrained configuration repeats its
trial's numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hpbench.train import allocator


@contextlib.contextmanager
def caller_process() -> Iterator[None]:
    """Train in this block; torch's threads and optimizers are the caller's again after it, and
    the allocator is not tuned in it (a process it had tuned stays tuned)."""
    import torch

    from hpbench.train import eager

    threads = torch.get_num_threads()
    patched = eager.installed()  # the caller's process had it already (an earlier hpbench call): kept
    try:
        with allocator.untouched():
            yield
    finally:
        torch.set_num_threads(threads)
        if not patched:
            eager.uninstall()
