"""A device model in a test's cache folder, as a calibration leaves it: read by the estimate and
the search in place of this machine's (no calibration in the tests that use it)."""

from __future__ import annotations

import json
from pathlib import Path

from hpbench.cost import calibrate
from hpbench.cost.device import DeviceModel


def device_cache(folder: Path, measured_at: float) -> DeviceModel:
    model = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                        bandwidth_bytes_per_s=1e10, coef={"epoch": 1e-3, "step": 1e-4, "op": 5e-6, "matmul": 1.0, "memory": 1.0},
                        versions=calibrate.identity("cpu"), measured_at=measured_at)
    calibrate.cache_file(folder, "cpu", 1).write_text(json.dumps(model.to_dict()))
    return model


def logged_calibration(monkeypatch) -> None:
    """The calibration replaced by one that logs a step and returns a small model at once (a real one
    takes a minute or two): for the tests of what a first calibration says."""
    def logged(*, device, threads, log=None, quick=False):
        if log is not None:
            log(f"{device}: a step of the calibration")
        return DeviceModel(device=device, name="fake", threads=threads, matmul_flops=(1.0,), matmul_flops_per_s=(1e9,),
                           peak_flops_per_s=1e9, bandwidth_bytes_per_s=1e10, coef={"op": 1e-6}, versions=calibrate.identity(device))

    monkeypatch.setattr(calibrate, "calibrate", logged)
    monkeypatch.setattr(calibrate, "calibrate_as_worker", logged)  # a process whose thread environment is not a worker's calibrates in a child
