"""Whether something answers at a Ray address (its GCS port): a TCP connection, with a short
timeout. Ray's own connect retries for minutes, deaf to Ctrl-C, when nothing listens there: an
``--address`` (:func:`hpbench.api.search.check_options`) and the warm runtime's recorded address
(:func:`hpbench.dispatch.backend.init_ray`) are checked with this first."""

from __future__ import annotations

REACH_TIMEOUT_S = 5.0


def unreachable(host: str, port: int, *, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """Why nothing answers a TCP connection to ``host:port`` ('' when something does)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return ""
    except socket.gaierror as err:
        return f"the name {host!r} does not resolve ({err.strerror or err})"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except OSError as err:
        return f"{host}:{port} refused the connection ({err.strerror or err})"


def address_unreachable(address: str, *, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """:func:`unreachable` for ``HOST:PORT`` ('' when something answers)."""
    host, _, port = address.rpartition(":")
    try:
        return unreachable(host, int(port), timeout_s=timeout_s)
    except ValueError:
        return f"{address!r} is not HOST:PORT"
