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
