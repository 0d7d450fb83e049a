"""The Ray runtime of this process between searches: the one hpbench started (and how), and
whether a call's ``address`` / ``num_cpus`` fit the runtime that is up.

``ray.init`` connects a process once. A search in a process where Ray was already up (a
notebook's second ``hpbench.search``, or one after the user's own ``ray.init()``) used that
runtime whatever its ``address`` and ``num_cpus`` asked: a search meant for a cluster trained on
the laptop (bug hunt s50/h2, finding 1). Now the runtime hpbench started stays up between calls
(a later search spares Ray's start-up) as long as a call asks for nothing else; one asking for
another address or other CPUs gets what it asks for (:func:`make_way` shuts the old one down), and
one asking for other than a runtime hpbench did not start is refused before anything starts
(:func:`hpbench.api.search.check_runtime`). Ray is imported only where it already is.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from dataclasses import dataclass

from hpbench.dispatch import leftovers

LOCAL = "local"  # a local runtime of the search's own
WARM = "warm"  # the warm local runtime, joined (hpbench.dispatch.local_ray)
CLUSTER = "cluster"  # a cluster joined at the search's address


@dataclass(frozen=True, kw_only=True)
class Started:
    """A runtime this process's hpbench started (or joined), as the search asked for it."""

    driver: str  # the driver's connection (:func:`_connection`): another after a ray.shutdown() and a new ray.init()
    address: str | None  # the search's address option (None, "local", HOST:PORT, "auto", ray://HOST:PORT)
    kind: str  # LOCAL, WARM or CLUSTER
    session: str = ""  # a LOCAL runtime's session folder, removed when the command shuts it down (:func:`shutdown`)


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """The Ray runtime this process is connected to."""

    gcs: str  # its GCS address ('' where Ray cannot say: a Ray Client connection)
    cpus: float  # the CPUs of all its nodes
    largest_node: float  # the CPUs of its largest live node (a trial runs on one)
    started: Started | None  # None: not started by hpbench (the user's ray.init())
    gpus: float = 0.0  # the GPUs of all its nodes

    def describe(self) -> str:
        where = f"at {self.gcs} " if self.gcs else ""
        by = "started by an earlier search" if self.started is not None else "not started by hpbench: ray.init()"
        return f"{where}with {self.cpus:g} CPUs, {by}"


_started: Started | None = None


def current() -> Runtime | None:
    """The runtime this process is connected to; None when Ray is not up here."""
    if "ray" not in sys.modules:
        return None
    import ray

    if not ray.is_initialized():
        return None
    gcs, driver = "", ""
    with contextlib.suppress(Exception):  # a Ray Client connection has no GCS address of its own here
        gcs = str(ray.get_runtime_context().gcs_address or "")
        driver = _connection()
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))
    nodes = [float(n.get("Resources", {}).get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")]
    ours = _started if _started is not None and driver and _started.driver == driver else None
    return Runtime(gcs=gcs, cpus=cpus, largest_node=max(nodes, default=cpus), started=ours, gpus=gpus)


def record(*, address: str | None, kind: str) -> None:
    """Note the runtime this search just started (or joined) as hpbench's own."""
    global _started
    driver = ""
    with contextlib.suppress(Exception):
        driver = _connection()
    session = leftovers.session_folder() if kind == LOCAL else ""
    _started = Started(driver=driver, address=address, kind=kind, session=session)


def _connection() -> str:
    """This driver's connection to Ray: its runtime (GCS address), its job (numbered by the
    runtime per connection) and its node (a fresh local runtime's is new). A driver's worker id is
    not one: Ray derives it from the job id, the same for the first driver of every runtime."""
    import ray

    ctx = ray.get_runtime_context()
    return f"{ctx.gcs_address}/{ctx.get_job_id()}/{ctx.get_node_id()}"


def shutdown(*, drop_session: bool) -> None:
    """``ray.shutdown()`` of the runtime this process is connected to (nothing when Ray is not up);
    ``drop_session``: then the session folder of a local runtime this process's hpbench started
    removed (:mod:`hpbench.dispatch.leftovers`; a command whose search ended well or was interrupted)."""
    ray = sys.modules.get("ray")
    # a Ctrl-C in the first seconds can come while a thread still imports Ray: a module without
    # is_initialized yet has started nothing to shut down
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return
    session = ""
    if drop_session and _started is not None and _started.session:
        with contextlib.suppress(Exception):
            session = _started.session if _connection() == _started.driver else ""  # not a runtime started since by the caller
    ray.shutdown()
    forget()
    leftovers.remove_session(session)


def forget() -> None:
    global _started
    _started = None


def differs(runtime: Runtime, *, address: str | None, num_cpus: int | None) -> str:
    """What a call with this ``address`` and ``num_cpus`` asks for that ``runtime`` is not ('' when
    it fits: neither given, or both what is up). ``address="auto"``: give what it resolves to
    where it can (a runtime hpbench joined with "auto" fits "auto")."""
    if address is None and num_cpus is None:
        return ""
    kind = runtime.started.kind if runtime.started is not None else None
    cpus = f" of {num_cpus} CPUs" if num_cpus is not None else ""
    if address in (None, LOCAL):
        if address == LOCAL and kind != LOCAL:
            return f"a local Ray runtime of the search's own{cpus} (address='local')"
        if kind == CLUSTER:
            return f"a local Ray runtime{cpus}"
        if num_cpus is not None and runtime.cpus != num_cpus:
            return f"a local Ray runtime{cpus}"
        return ""
    if runtime.started is not None and runtime.started.address == address:
        return ""
    return "" if same_endpoint(address, runtime.gcs) else f"the Ray cluster at {address}"


def same_endpoint(address: str, gcs: str) -> bool:
    """Whether ``address`` (HOST:PORT) names the GCS at ``gcs`` (IP:PORT), its host resolved."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    ghost, _, gport = gcs.rpartition(":")
    if not gcs or port != gport:
        return False
    if host == ghost:
        return True
    try:
        ips = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    if ghost in ips:
        return True
    loopback = any(ip.startswith("127.") or ip == "::1" for ip in ips)
    return loopback and _local_ip(ghost)


def _local_ip(ip: str) -> bool:
    """Whether ``ip`` is one of this machine's addresses (a runtime on this machine, named by localhost)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
    except OSError:
        return False
    return True


def make_way(*, address: str | None, num_cpus: int | None) -> bool:
    """Before a search starts Ray: False when the runtime up here serves it (nothing to start),
    True when Ray is to be started (none up, or hpbench's own runtime shut down here because the
    call asks for another address or other CPUs: its hold on the warm runtime released too). A
    runtime hpbench did not start serves whatever is asked (:func:`hpbench.api.search.check_runtime`
    refused a call it does not fit before anything started)."""
    runtime = current()
    if runtime is None:
        forget()
        return True
    if runtime.started is None or not differs(runtime, address=address, num_cpus=num_cpus):
        return False
    import ray

    from hpbench.dispatch import local_ray

    ray.shutdown()
    local_ray.release()
    forget()
    return True
