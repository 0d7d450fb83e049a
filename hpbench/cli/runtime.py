"""``hpbench ray start | stop | status``: a local Ray runtime kept warm between searches
(:mod:`hpbench.dispatch.local_ray`). Searches on this machine join it instead of starting Ray."""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from hpbench.cli.common import console, fail

app = typer.Typer(name="ray", help="A local Ray runtime kept warm between searches: searches on this machine join it instead of starting Ray.",
                  no_args_is_help=True)


@app.command("start")
def start(
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", min=1, help="CPUs of the runtime \\[default: all].")] = None,
    idle_minutes: Annotated[float, typer.Option("--idle-minutes", min=0.05, help="Stop after this many minutes without a search.")] = 30.0,
) -> None:
    """Start the warm local Ray runtime (once; it stops by itself after --idle-minutes without a search)."""
    from hpbench.dispatch import local_ray

    cpus = num_cpus or os.cpu_count() or 1
    try:
        runtime, started = local_ray.start(num_cpus=cpus, idle_s=idle_minutes * 60.0, on_wait=lambda: console().print(
            "another hpbench ray start is starting the runtime: waiting for it", highlight=False))
    except local_ray.StartFailed as err:
        fail(f"the warm Ray runtime did not start: {err}")
    con = console()
    if not started:
        con.print(f"already up at {runtime.address} with {runtime.num_cpus} CPUs (hpbench ray stop, then start again to change it)", highlight=False)
        return
    con.print(f"Ray is up at {runtime.address} with {runtime.num_cpus} CPUs: searches on this machine join it "
              f"(--address local: one of their own); it stops after {idle_minutes:g} min without a search, or with hpbench ray stop",
              highlight=False)


@app.command("stop")
def stop() -> None:
    """Stop the warm local Ray runtime; searches running on it stop first, as on Ctrl-C (--resume continues them)."""
    from hpbench.dispatch import local_ray

    runtime = local_ray.stop(on_wait=lambda: console().print(
        "searches are running on it: they stop first, as on Ctrl-C (their finished trials kept; --resume continues them)", highlight=False))
    console().print(f"stopped the runtime at {runtime.address}" if runtime else "no warm Ray runtime is up", highlight=False)


@app.command("status")
def status() -> None:
    """Whether the warm local Ray runtime is up: its address, CPUs and age."""
    from hpbench.dispatch import local_ray

    runtime = local_ray.find()
    if runtime is None:
        console().print("no warm Ray runtime is up (hpbench ray start)", highlight=False)
        raise typer.Exit(1)
    age = time.time() - runtime.started_at
    console().print(f"up at {runtime.address} with {runtime.num_cpus} CPUs for {age / 60:.1f} min (Ray {runtime.ray_version}, "
                    f"process {runtime.pid}); stops after {runtime.idle_s / 60:g} min without a search", highlight=False)
