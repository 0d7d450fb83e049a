"""``hpbench devices``: measure each local device (matmul FLOP/s, memory bandwidth, per-op
overhead, step-time coefficients) and cache the result per machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail, folder_path
from hpbench.console_text import literal


def devices(
    threads: Annotated[int, typer.Option("--threads", min=1, help="CPU threads to measure at (a trial's cpus_per_trial).")] = 1,
    recalibrate: Annotated[bool, typer.Option("--recalibrate", help="Measure again even if a cached model matches this machine.")] = False,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", parser=folder_path, metavar="DIR", help="Where device models are cached \\[default: $XDG_CACHE_HOME/hpbench/devices, else ~/.cache/hpbench/devices].")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Time a small real search and its repeats here (~20 s, once; again with --recalibrate): the start-up, repeats, final table and exit an estimate prices before any search ran on this machine.")] = True,
) -> None:
    """Measure (or show the cached model of) each local device."""
    from rich.markup import escape
    from rich.table import Table

    from hpbench.api.cache_check import check_default_cache
    from hpbench.api.estimate import check_cache_dir
    from hpbench.cost import startup_probe, warmup
    from hpbench.cost.calibrate import device_model, local_devices
    from hpbench.cost.history import default_cache_dir
    from hpbench.results.files import OutputError

    try:  # before the calibration (minutes): a file there failed at its end
        check_cache_dir(cache_dir, cli=True) if cache_dir is not None else check_default_cache(flag="--cache-dir")
    except OutputError as err:
        fail(str(err))
    con = console()
    log = None if as_json else (lambda m: con.print(f"[dim]{literal(m)}[/]", highlight=False))
    models = [device_model(device=d, threads=threads, cache_dir=cache_dir, recalibrate=recalibrate, log=log) for d in local_devices()]
    cache = cache_dir or default_cache_dir()
    probed = startup_probe.load(cache)
    if probe and (recalibrate or probed is None):
        probed = startup_probe.measure(cache, log=log) or probed
    if as_json:
        typer.echo(json.dumps([m.to_dict() for m in models], indent=2))
        return
    table = Table(title="Devices", header_style="bold")
    for c in ("device", "hardware", "threads", "peak GFLOP/s", "GB/s", "op overhead µs", "fit error", "measured in"):
        table.add_column(c)
    for m in models:
        table.add_row(literal(m.device), literal(m.name), str(m.threads), f"{m.peak_flops_per_s / 1e9:.1f}", f"{m.bandwidth_bytes_per_s / 1e9:.1f}",
                      f"{m.op_overhead_s * 1e6:.2f}", f"{m.fit_error:.1%}" if m.fit_error is not None else "-", f"{m.calibration_s:.1f}s")
    con.print(table)
    for m in models:
        if (held := warmup.describe(m)) is not None:
            con.print(f"[yellow]{escape(held)}[/]", highlight=False)
    figs = startup_probe.probed_figures(startup_probe.probed(probed)) if probed else {}
    if figs:
        con.print("this machine's start-up (its probe search): " + ", ".join(f"{name} {figs[key]:.1f} s" for key, name in _SHOWN if key in figs),
                  highlight=False)


_SHOWN = (("startup_s", "to the first trial"), ("ray_s", "Ray up"), ("fresh_worker_s", "a fresh worker"), ("fused_start_s", "repeats' first group"),
          ("report_s", "final table"), ("exit_s", "exit"))
