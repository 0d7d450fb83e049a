"""Whether a Tune trial's error is the loss of the Ray node it ran on (the infrastructure), not a
failure of its configuration: such a trial is recorded ``interrupted`` (run again by the same
command, as after a Ctrl-C or a SIGKILL), not ``failed`` (done, counted towards ``trials``).

Bug hunt s48/h2, finding 4: a trial whose worker node's raylet was killed ended ``failed`` with
"The actor ... is unavailable: ... Socket closed", and a rerun said every trial was done, though
the README lists a lost node among the interruptions whose running trials run again.

Lost with its node: Ray says the node is unreachable (``NodeDiedError``) or the actor is
unavailable (``ActorUnavailableError``: its raylet gone), or the actor died (``RayActorError``,
``ActorDiedError``) on a node that was preempted or is no longer alive. An actor that died on a
live node (the trial's process killed for its memory, a crash in its own code) and any error the
trial's code raised stay the trial's failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def trial_exception(trial: Any) -> BaseException | None:
    """The exception Tune pickled for the trial (``error.pkl``, written where the trial's error file
    is, for Ray's task and actor errors); None when there is none or it cannot be read."""
    with contextlib.suppress(Exception):
        path = trial.pickled_error_file
        if path and Path(path).is_file():
            from ray import cloudpickle  # Ray's own (Tune pickles the error with it)

            with open(path, "rb") as f:
                exc = cloudpickle.load(f)
            return exc if isinstance(exc, BaseException) else None
    return None


def lost_with_node(exc: BaseException | None, *, node_alive: Callable[[], bool | None]) -> bool:
    """Whether ``exc`` is the loss of the trial's node; ``node_alive()``: whether the node the trial
    ran on is still alive (None: unknown)."""
    from ray.exceptions import ActorUnavailableError, NodeDiedError, RayActorError, RayTaskError

    if isinstance(exc, RayTaskError):
        with contextlib.suppress(Exception):
            exc = exc.as_instanceof_cause()
        if not isinstance(exc, (RayActorError, NodeDiedError)):
            return False  # the trial's own code raised
    if isinstance(exc, (NodeDiedError, ActorUnavailableError)):
        return True
    if isinstance(exc, RayActorError) and not exc.actor_init_failed:
        return exc.preempted or node_alive() is False
    return False


def node_alive(node_id: Any) -> bool | None:
    """Whether the Ray node ``node_id`` (hex) is alive in this driver's cluster; None: unknown."""
    if not isinstance(node_id, str) or not node_id:
        return None
    try:
        import ray

        for node in ray.nodes():
            if node.get("NodeID") == node_id:
                return bool(node.get("Alive"))
    except Exception:
        return None
    return None
