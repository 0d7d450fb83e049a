"""An environment's own time per step, and the seconds per step of the rl loops around it, measured
once per environment and machine and cached as JSON beside the device models
(``~/.cache/hpbench/envs/<host>.json``), the way :mod:`hpbench.cost.calibrate` caches a device: an
entry measured with another gymnasium version, on another kind of machine or by other rules
(:data:`hpbench.train.rl.cost.TIMING_RULES`) is measured again. The measurements themselves are
:func:`hpbench.train.rl.cost.measure_env_step_s` (random actions drawn before the clock starts,
resets included, the median of three runs of 2000 steps after 100 warm-up steps: about 30 ms for
CartPole-v1, 0.5 s for Pendulum-v1) and :func:`hpbench.train.rl.looptime.measure_loop_step_s`
(once per environment, copies, rollout length and options).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hpbench.cost.history import default_cache_dir as default_devices_dir

if TYPE_CHECKING:
    from hpbench.train.rl.config import RLConfig
    from hpbench.train.rl.looptime import LoopTimes

T = TypeVar("T")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hpbench/envs`` (``~/.cache/hpbench/envs`` when it is unset or empty), beside
    the device models (:func:`hpbench.cost.history.default_cache_dir`): it wrote to ~/.cache whatever
    XDG_CACHE_HOME said, so a test or a private cache left this machine's env timings behind."""
    return default_devices_dir().parent / "envs"


def cache_file(cache_dir: Path) -> Path:
    return cache_dir / f"{platform.node() or 'host'}.json"


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The cached entries (none when the file is missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def env_step_seconds(env_id: str, *, cache_dir: Path | None = None) -> float:
    """Seconds per step of ``env_id`` on this machine: the cached measurement, or a new one (then cached)."""
    from hpbench.train.rl.cost import measure_env_step_s

    return _cached(lambda cache: measure_env_step_s(env_id, cache=cache), cache_dir)


def loop_step_seconds(cfg: RLConfig, *, cache_dir: Path | None = None) -> LoopTimes:
    """Seconds per vector step of the run's rollout and evaluation loops on this machine (networks left
    out: :mod:`hpbench.train.rl.looptime`): the cached measurement, or a new one (then cached)."""
    from hpbench.train.rl.looptime import measure_loop_step_s

    return _cached(lambda cache: measure_loop_step_s(cfg, cache=cache), cache_dir)


def _cached(measure: Callable[[dict[str, dict[str, Any]]], T], cache_dir: Path | None) -> T:
    path = cache_file(cache_dir or default_cache_dir())
    cache = load(path)
    before = json.dumps(cache, sort_keys=True)
    out = measure(cache)
    if json.dumps(cache, sort_keys=True) != before:
        _write(path, cache)
    return out


def _write(path: Path, cache: dict[str, dict[str, Any]]) -> None:
    """Atomically (two trials' predictions may measure at once: the last complete file wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(cache, f, indent=2, sort_keys=True)
    os.replace(tmp, path)
