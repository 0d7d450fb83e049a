"""Whether a device model cached on this machine (:mod:`hpbench.cost.calibrate`) is one this version
uses: one rule, read by the calibration's load (:func:`hpbench.cost.calibrate.load_cached`, which
measures the model again when it is refused) and, without torch, by the driver
(:func:`hpbench.cost.history.model_tag`: the search's notice, the progress's "being calibrated",
the record's model tag, the calibration wait timed apart from the final table). The driver's read
once accepted any JSON with a schema and a time: a schema-6 cache of an older hpbench was
recalibrated without a word, and its wait was recorded as the final table's seconds (116.7 s for
about 2; bug hunt s52h4 #1).

A model is refused when it is unreadable or malformed (any content that is not a device model of
numbers), measured by another hpbench's model schema (older or newer), or with other hardware or
library versions (its identity: :func:`identity`).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hpbench.cost import activations, conv
from hpbench.cost import microbench as mb
from hpbench.cost.device import SCHEMA, DeviceModel

IDENTITY = ("host", "hardware", "cpus", "torch", "python", "hpbench", "schema")  # the keys of a model's identity (its "versions")


class Refusal(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    OLDER = "older"  # measured by an older hpbench (a lower model schema)
    NEWER = "newer"
    OTHER = "other"  # other hardware or library versions


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A cached model (``model``), or why there is none usable (``refusal``): the schema it was
    written with, and for :attr:`Refusal.OTHER` the identity's keys that differ ("torch 2.1.0 -> 2.13.0")."""
    model: DeviceModel | None = None
    refusal: Refusal | None = None
    schema: int | None = None
    changed: tuple[str, ...] = ()

    def why(self) -> str:
        """Why the cached model is measured again, for the user, after "the cached model" ("" when
        there is none, or it is usable)."""
        if self.refusal is Refusal.OLDER:
            return f"is from an older hpbench (model schema {self.schema}, this version's {SCHEMA})"
        if self.refusal is Refusal.NEWER:
            return f"is from a newer hpbench (model schema {self.schema}, this version's {SCHEMA})"
        if self.refusal is Refusal.OTHER:
            return f"was measured with other hardware or versions ({', '.join(self.changed)})"
        return "is unreadable" if self.refusal is Refusal.MALFORMED else ""


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def identity(*, torch_version: str | None, hardware: str | None) -> dict[str, str]:
    """Hardware and library versions a measurement holds for; a key whose value the caller cannot
    know (None: the driver does not load torch nor open CUDA) is left out, and not compared."""
    from hpbench._version import __version__

    out = {"host": platform.node(), "hardware": hardware, "cpus": str(os.cpu_count()), "torch": torch_version,
           "python": platform.python_version(), "hpbench": __version__, "schema": str(SCHEMA)}
    return {k: v for k, v in out.items() if v is not None}


def driver_identity(device: str) -> dict[str, str]:
    """:func:`identity` as the driver knows it without loading torch: torch's version from its
    installed metadata (the version torch reports: ``2.13.0+cpu`` both here), a CPU's name from
    ``/proc/cpuinfo``; a GPU's name is left out (reading it initializes CUDA)."""
    torch = sys.modules.get("torch")
    try:
        version = str(torch.__version__) if torch is not None else importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        version = None
    return identity(torch_version=version, hardware=cpu_name() if device == "cpu" else None)


def read(path: Path, ident: Mapping[str, str]) -> Verdict:
    """The model cached in ``path`` when this version uses it on a machine of identity ``ident``
    (its keys compared; one left out of ``ident`` is not), else why not."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Verdict(refusal=Refusal.MISSING)
    except (OSError, ValueError):
        return Verdict(refusal=Refusal.MALFORMED)
    schema = raw.get("schema") if isinstance(raw, dict) else None
    if isinstance(schema, int) and not isinstance(schema, bool) and schema != SCHEMA:  # before its fields: an older one's may not parse
        return Verdict(refusal=Refusal.OLDER if schema < SCHEMA else Refusal.NEWER, schema=schema)
    try:
        model = DeviceModel.from_dict(raw) if isinstance(raw, dict) else None  # no schema: its identity's says
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        model = None
    if model is None or not well_formed(model):
        return Verdict(refusal=Refusal.MALFORMED, schema=schema if isinstance(schema, int) else None)
    unknown = set(IDENTITY) - set(ident)
    mine = {k: v for k, v in model.versions.items() if k not in unknown}
    if mine != dict(ident):
        changed = tuple(f"{k} {mine.get(k, '?')} -> {ident.get(k, '?')}" for k in sorted(set(mine) | set(ident)) if mine.get(k) != ident.get(k))
        return Verdict(refusal=Refusal.OTHER, schema=schema, changed=changed)
    return Verdict(model=model, schema=schema)


def well_formed(m: DeviceModel) -> bool:
    """Every rate, size, coefficient and time a finite number >= 0 (``bandwidth_bytes_per_s`` may be
    inf), the curves' lengths paired, the texts texts."""
    def nums(*xs: object) -> bool:
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 and x == x for x in xs)

    curves = ((m.matmul_flops, m.matmul_flops_per_s), (m.bandwidth_bytes, m.bandwidth_curve), (m.conv_flops, m.conv_flops_per_s))
    return (isinstance(m.device, str) and isinstance(m.name, str) and isinstance(m.threads, int) and isinstance(m.coef, dict)
            and isinstance(m.versions, dict) and isinstance(m.concurrency_slowdown, dict) and isinstance(m.intervals, dict)
            and nums(m.peak_flops_per_s, m.bandwidth_bytes_per_s, m.op_overhead_s, m.threads)
            and isinstance(m.random_s_per_element, dict) and nums(*m.random_s_per_element.values())
            and isinstance(m.activation_s_per_element, dict)
            and all(isinstance(v, tuple) and len(v) == len(activations.SIZES) and nums(*v) for v in m.activation_s_per_element.values())
            and all(nums(*xs, *ys) and len(xs) == len(ys) for xs, ys in curves)
            and all(isinstance(ax, tuple) and ax and nums(*ax) and min(ax) > 0 for ax in m.matmul_grid)
            and len(m.matmul_grid_flops_per_s) == (math.prod(len(ax) for ax in m.matmul_grid) if m.matmul_grid else 0)
            and nums(*m.matmul_grid_flops_per_s) and all(r > 0 for r in m.matmul_grid_flops_per_s)
            and _grid_well_formed(m.recurrent_grid, m.recurrent_flops_per_s)
            and _grid_well_formed(m.conv_grid, {"Conv2d": m.conv_grid_flops_per_s} if m.conv_grid or m.conv_grid_flops_per_s else {},
                                  n_modes=len(conv.MODES), n_axes=len(conv.CONV_GRID_CPU))
            and len(m.conv_first_call_s) in (0, 2) and nums(*m.conv_first_call_s)
            and len(m.recurrent_cliff) in (0, 3) and nums(*m.recurrent_cliff) and all(x > 0 for x in m.recurrent_cliff)
            and _grid_well_formed(m.attention_grid, {"attention": m.attention_grid_s} if m.attention_grid or m.attention_grid_s else {},
                                  n_axes=len(mb.ATTENTION_GRID_CPU))
            and nums(*m.conv_backward_flops_per_s, *m.coef.values(), m.warmup_fraction, *m.concurrency_slowdown.values(),
                     m.first_epoch_s, m.trainer_epoch_s, *m.bounded.values())
            and all(isinstance(v, tuple) and len(v) == 2 and nums(*v) for v in m.intervals.values())
            and (m.fit_error is None or nums(m.fit_error)) and all(math.isfinite(x) for x in (m.peak_flops_per_s, m.op_overhead_s))
            and nums(m.calibration_s, m.measured_at) and math.isfinite(m.calibration_s))  # shown by `hpbench devices` (a null crashed it: s50/h8 #5)


def _grid_well_formed(axes: tuple[tuple[int, ...], ...], per_cell: Mapping[str, tuple[tuple[float, ...], ...]], *, n_modes: int = 2,
                      n_axes: int = 4) -> bool:
    """A recurrent (or convolution) grid: ``n_axes`` axes of positive sizes and, per cell, ``n_modes`` rate
    lists (training and evaluation; a convolution's first-layer training too) of a positive rate
    per shape (or no grid and no rates)."""
    if not axes:
        return not per_cell
    n = math.prod(len(ax) for ax in axes)
    return (len(axes) == n_axes and all(isinstance(ax, tuple) and ax and all(isinstance(x, int) and x > 0 for x in ax) for ax in axes)
            and all(isinstance(c, str) and isinstance(v, tuple) and len(v) == n_modes
                    and all(len(r) == n and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 for x in r) for r in v)
                    for c, v in per_cell.items()))
