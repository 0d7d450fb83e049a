"""Recurrent calls longer, or with larger batches, than the device model's grid: measured against the
prediction with the grid's edge rate held and with the edge's marginal step and sample
(:func:`hpbench.cost.recurrent.call_seconds`). One thread, one layer, training calls (forward +
backward), shapes that are not on the grid.

    PYTHONPATH=. python benchmarks/recurrent_length.py --out results/benchmarks/recurrent_length/NAME.json
    PYTHONPATH=. python benchmarks/recurrent_length.py --shapes "((234, 8, 22), (1000, 3, 29))"   # (batch, inputs, hidden)
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
from pathlib import Path

DEFAULT_SHAPES = ((28, 3, 11), (64, 3, 25), (234, 8, 22), (64, 3, 64), (32, 16, 48))
LENGTHS = (4, 16, 32, 46, 128)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shapes", default=repr(DEFAULT_SHAPES), help="(batch, inputs, hidden) triples, a Python literal")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/recurrent_length/latest.json"))
    args = ap.parse_args()
    shapes = ast.literal_eval(args.shapes)

    import torch
    from torch import nn

    from hpbench.cost import recurrent
    from hpbench.cost.calibrate import device_model
    from hpbench.cost.microbench import fastest_call, timer

    torch.set_num_threads(1)
    dm = device_model(device="cpu", threads=1)
    now = timer("cpu")
    gen = torch.Generator().manual_seed(1)
    rows = []
    for cell in recurrent.CELLS:
        for batch, n_in, hidden in shapes:
            m = getattr(nn, cell)(n_in, hidden, batch_first=True)
            for seq in LENGTHS:
                x = torch.randn(batch, seq, n_in, generator=gen)
                t = fastest_call(lambda m=m, x=x: m(x)[0].sum().backward(), now=now, min_s=0.005)
                shape = (seq, batch, n_in, hidden, 1, 1)
                held = recurrent.module_seconds(cell=cell, shape=shape, train=True, rate=dm.recurrent_rate)
                marginal = recurrent.module_seconds(cell=cell, shape=shape, train=True, rate=dm.recurrent_rate, axes=dm.recurrent_grid)
                rows.append({"cell": cell, "batch": batch, "n_in": n_in, "hidden": hidden, "seq": seq, "measured": t, "held": held,
                             "linear": marginal})
                print(f"{cell:4s} b{batch:5d} in{n_in:3d} h{hidden:3d} L{seq:4d} measured {t * 1e3:8.3f} ms  held {held * 1e3:8.3f} "
                      f"({100 * (held / t - 1):+5.0f}%)  marginal {marginal * 1e3:8.3f} ({100 * (marginal / t - 1):+5.0f}%)", flush=True)
    for cell in (*recurrent.CELLS, "all"):
        sel = [r for r in rows if cell in ("all", r["cell"])]
        parts = []
        for key in ("held", "linear"):
            errs = [r[key] / r["measured"] - 1 for r in sel]
            parts.append(f"{key}: median |error| {100 * statistics.median(abs(e) for e in errs):.0f}%, "
                         f"signed {100 * statistics.median(errs):+.0f}%")
        print(f"{cell:4s} n={len(sel)}  " + "  ".join(parts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
