"""The cost model on recurrent networks: predicted vs measured epochs of hpbench's rnn, gru and lstm families.

A recurrent layer is priced from its cell's grid of measured one-layer shapes (:mod:`hpbench.cost.recurrent`).
Until session 31 the CPU grid's batches stopped at 128, and a larger batch's further samples were
charged at the marginal rate from 16 to 128, where past 128 a sample's gates no longer stay in the
caches (one thread: an LSTM of 64 units over 17 steps trained 2.1x its price at batch 512). This
trains real epochs of hpbench's trainer (one process, one thread, ``--epochs`` epochs, the fastest
after the first) for the three cells on generated sequences at batches 32-1,024, hidden sizes
16-128 and 1-2 layers, and prices each with this machine's device model.

    PYTHONPATH=.:benchmarks OMP_NUM_THREADS=1 .venv/bin/python benchmarks/recurrent_cost.py [--quick] [--out results/benchmarks]
    # the same configurations priced by another tree and its own device cache, no training:
    PYTHONPATH=TREE:benchmarks XDG_CACHE_HOME=DIR .venv/bin/python benchmarks/recurrent_cost.py --price-only FILE
    # then the measured run with those prices beside its own:
    ... benchmarks/recurrent_cost.py --before FILE

Writes ``recurrent_cost.json``.
"""

from __future__ import annotations

from typing import Any

from epoch_cost import against_another_tree  # type: ignore[import-not-found]
from epoch_cost import study as epoch_study  # type: ignore[import-not-found]

# (family, hidden units, layers, batch, sequence length, features): batches from 32 to 1,024
GRID = [(fam, h, layers, b, t, f) for fam in ("lstm", "gru", "rnn") for h, layers, b, t, f in (
    (64, 1, 32, 24, 8), (64, 1, 256, 24, 8), (64, 2, 512, 24, 8), (32, 1, 1024, 24, 8), (128, 1, 512, 24, 8), (16, 2, 128, 48, 3))]
QUICK = [("lstm", 16, 1, 256, 12, 3)]


def study(family: str, hidden: int, layers: int, batch: int, length: int, features: int, epochs: int) -> Any:
    """One recurrent network on 3,000 generated signals (``length`` steps, ``features`` channels; Adam at 1e-3), ``epochs`` epochs."""
    return epoch_study("signals", family, {"hidden_size": hidden, "layers": layers}, batch, 0.0, epochs,
                       data={"n_samples": 3000, "length": length, "channels": features})


def describe(c: tuple[Any, ...]) -> dict[str, Any]:
    family, hidden, layers, batch, length, features = c
    return {"family": family, "hidden": hidden, "layers": layers, "batch": batch, "length": length, "features": features}


if __name__ == "__main__":
    against_another_tree("recurrent_cost", __doc__ or "", grid=GRID, quick=QUICK, build=study, describe=describe,
                         model=lambda dev: {"recurrent_grid": dev.recurrent_grid})
