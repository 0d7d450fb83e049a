"""The calibration suite's timed rows, kept: (features, fastest epoch s, first epoch s, kind) of
every probe of :mod:`hpbench.cost.suite`, measured with the cached device model's rates, written
to results/benchmarks/calib_rows.json. The fits (:func:`hpbench.cost.suite.fit_rows`) can then be
compared offline on the same measurements (``--fit``: each fit's coefficients, and a device model
per fit written to a cache dir of its own, for ``benchmarks/cost_model.py --replay --cache-dir``).

    OMP_NUM_THREADS=1 benchmarks/exclusive.sh .venv/bin/python benchmarks/calib_rows.py   # ~1 min, timed
    .venv/bin/python benchmarks/calib_rows.py --fit results/benchmarks/calib_rows.json     # offline
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/calib_rows.json"))
    ap.add_argument("--fit", type=Path, default=None, help="fit these rows (no timing): old and anchored coefficients, a model dir each")
    ap.add_argument("--models", type=Path, default=Path("/tmp/hpbench-calib-fits"), help="where --fit writes each fit's device model")
    args = ap.parse_args()
    import torch

    from hpbench.cost import suite
    from hpbench.cost.calibrate import cache_file, device_model

    dm = device_model(device="cpu", threads=1, log=print)
    if args.fit is None:
        torch.set_num_threads(1)
        load0 = os.getloadavg()[0]
        rows = suite.measure_rows(dm, device="cpu", probes=suite.PROBES)
        data = {"measured_at": time.time(), "load_average": [load0, os.getloadavg()[0]], "threads": 1,
                "rows": [{"kind": p.kind, "features": f, "fastest_s": t, "first_s": first}
                         for p, (f, t, first) in zip(suite.PROBES, rows, strict=True)]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=1), encoding="utf-8")
        print(f"{len(rows)} probes, load {data['load_average']}: {args.out}")
        return
    data = json.loads(args.fit.read_text(encoding="utf-8"))
    rows = [(r["features"], r["fastest_s"], r["first_s"]) for r in data["rows"]]
    kinds = [r["kind"] for r in data["rows"]]
    for name, prior in (("plain", None), ("anchored", suite.priors(dm))):
        fitted = suite.fit_rows(rows, kinds=kinds, prior=prior)
        print(f"{name}: fit error {fitted.fit_error:.3f}, coef {({k: float(f'{v:.3g}') for k, v in fitted.coef.items()})}")
        model = dataclasses.replace(dm, coef=fitted.coef, fit_error=fitted.fit_error, intervals=fitted.intervals)
        path = cache_file(args.models / name, "cpu", 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(model.to_dict()), encoding="utf-8")
        print(f"  model: {path}")


if __name__ == "__main__":
    main()
