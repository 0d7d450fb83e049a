"""The warm local Ray runtime's daemon (``python -m hpbench.dispatch.warm_daemon``, started by
``hpbench ray start``: :func:`hpbench.dispatch.local_ray.start`): it starts Ray, records it, and
holds it until no search has held it for its idle time, or SIGTERM comes."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from dataclasses import asdict
from pathlib import Path

from hpbench.dispatch.local_ray import (
    IDLE_S,
    POLL_S,
    STATE,
    STOPPING,
    TOKEN,
    WarmRuntime,
    idle_for,
    init_kwargs,
    state_dir,
    unused,
    use_token,
)


def _write_token(directory: Path) -> None:
    """A fresh token, readable by this user only."""
    import secrets

    path = directory / TOKEN
    with contextlib.suppress(OSError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32))


def _withdraw(directory: Path) -> None:
    """Remove the record (and ``hpbench ray stop``'s request to its searches) if it is this daemon's."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads((directory / STATE).read_text(encoding="utf-8")).get("pid") == os.getpid():
            (directory / STATE).unlink()
            with contextlib.suppress(OSError):
                (directory / STOPPING).unlink()


def serve(*, num_cpus: int, idle_s: float, directory: Path) -> None:
    """The daemon: start Ray, record it, hold it until ``idle_s`` seconds pass without a search or
    SIGTERM comes, then withdraw the record and shut Ray down."""
    import ray

    from hpbench.results.files import atomic_write_text

    directory.mkdir(parents=True, exist_ok=True)
    _write_token(directory)
    use_token(directory)
    ray.init(**init_kwargs(num_cpus=num_cpus, loopback=False))
    stopping: list[str] = []  # after ray.init, which installs a SIGTERM handler of its own
    signal.signal(signal.SIGTERM, lambda _s, _f: stopping.append("asked to"))
    signal.signal(signal.SIGINT, lambda _s, _f: stopping.append("interrupted"))
    runtime = WarmRuntime(address=ray.get_runtime_context().gcs_address, pid=os.getpid(), num_cpus=num_cpus, started_at=time.time(),
                          idle_s=idle_s, ray_version=ray.__version__)
    atomic_write_text(directory / STATE, json.dumps(asdict(runtime), indent=1) + "\n")
    print(f"up at {runtime.address} with {num_cpus} CPUs; stops after {idle_s:g} s without a search", flush=True)
    last_used = time.time()
    try:
        while not stopping:
            time.sleep(POLL_S)
            with unused(directory) as free:
                if not free:  # a search holds the runtime
                    last_used = time.time()
                elif idle_for(last_used=last_used, now=time.time()) >= idle_s:
                    _withdraw(directory)  # under the exclusive side: a search joining now reads no record
                    stopping.append(f"idle for {idle_s:g} s")
    finally:
        _withdraw(directory)
        print(f"stopping ({stopping[0] if stopping else 'failed'})", flush=True)
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hpbench.dispatch.warm_daemon", description="The warm local Ray runtime's daemon (hpbench ray start).")
    ap.add_argument("--num-cpus", type=int, required=True)
    ap.add_argument("--idle-s", type=float, default=IDLE_S)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args(argv)
    serve(num_cpus=args.num_cpus, idle_s=args.idle_s, directory=args.dir or state_dir())


if __name__ == "__main__":
    main()
