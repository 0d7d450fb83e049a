"""The cost model on transformers: predicted vs measured epochs of hpbench's transformer family.

A transformer's attention runs as one fused kernel per layer on a CPU (flash attention for CPU) when
it trains without attention dropout, and as its math path (bmm, softmax, the mask's draws, one op at
a time) when it trains with it: PyTorch's fused attention for CPU takes no dropout. Until session 31
the count priced every attention as the fused kernel, and the device model priced that kernel by
a fit of three terms over eleven shapes measured contiguous, where ``nn.MultiheadAttention`` hands
the kernel q, k and v with a head's positions batch · heads · head dim floats apart. This trains real
epochs of hpbench's trainer (one process, one thread, ``--epochs`` epochs, the fastest after the
first) for transformers on generated signals over sequence lengths 32-128, head dims 4-64, 1-3
layers and attention dropout 0-0.2, and prices each with this machine's device model.

    PYTHONPATH=.:benchmarks OMP_NUM_THREADS=1 .venv/bin/python benchmarks/attention_cost.py [--quick] [--out results/benchmarks]
    # the same configurations priced by another tree and its own device cache, no training:
    PYTHONPATH=TREE:benchmarks XDG_CACHE_HOME=DIR .venv/bin/python benchmarks/attention_cost.py --price-only FILE
    # then the measured run with those prices beside its own:
    ... benchmarks/attention_cost.py --before FILE

Writes ``attention_cost.json``.
"""

from __future__ import annotations

from typing import Any

from epoch_cost import against_another_tree  # type: ignore[import-not-found]
from epoch_cost import study as epoch_study  # type: ignore[import-not-found]

# (sequence length, d_model, heads, layers, dropout, batch): the held-out fresh-transformer study's
# three shapes first, then head dims 4-64 over 16-1,024 (batch, head) blocks
GRID = [(64, 32, 4, 1, 0.0, 64), (64, 16, 2, 2, 0.18, 64), (64, 32, 4, 2, 0.1, 64),
        (32, 64, 4, 2, 0.0, 32), (32, 64, 8, 2, 0.1, 32), (128, 32, 2, 1, 0.0, 64), (128, 64, 4, 1, 0.1, 32),
        (64, 64, 1, 1, 0.0, 128), (64, 128, 8, 2, 0.0, 64), (64, 128, 4, 1, 0.1, 16), (128, 16, 4, 2, 0.0, 128),
        (32, 32, 8, 3, 0.0, 64), (64, 64, 2, 2, 0.2, 64), (96, 48, 6, 1, 0.0, 32)]
QUICK = [(32, 16, 2, 1, 0.1, 32)]


def study(length: int, d_model: int, heads: int, layers: int, dropout: float, batch: int, epochs: int) -> Any:
    """One transformer on 1,500 generated signals of ``length`` steps (Adam at 1e-3), ``epochs`` epochs."""
    return epoch_study("signals", "transformer", {"d_model": d_model, "heads": heads, "layers": layers}, batch, dropout, epochs,
                       data={"n_samples": 1500, "length": length})


def describe(c: tuple[Any, ...]) -> dict[str, Any]:
    length, d_model, heads, layers, dropout, batch = c
    return {"length": length, "d_model": d_model, "heads": heads, "head_dim": d_model // heads, "layers": layers, "dropout": dropout,
            "batch": batch, "blocks": batch * heads}


if __name__ == "__main__":
    against_another_tree("attention_cost", __doc__ or "", grid=GRID, quick=QUICK, build=study, describe=describe,
                         model=lambda dev: {"attention_grid": dev.attention_grid, "attention_grid_s": dev.attention_grid_s})
