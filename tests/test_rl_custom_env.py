"""A user's own Gymnasium environment, named in Gymnasium's ``"module:EnvId"`` form: the module
(beside the study, in the current directory) registers the id, and every step that reads the id
imports it first: validation, the trial, the estimate's env timing and its cache, and a fresh
process whose path lacks the study's folder (a Ray worker, the helper)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from hpbench.errors import StudyError
from hpbench.study.parse import parse_study
from hpbench.study.resolve import trial_config
from hpbench.train.rl.task import rl_config
from hpbench.train.trainer import train

MODULE, ENV_ID = "f5_user_envs.line", "F5Line-v0"
SPEC = f"{MODULE}:{ENV_ID}"
ROOT = Path(__file__).resolve().parents[1]

LINE_ENV = f'''
import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Line(gym.Env):
    """Move a point to 0 on a line: obs = position, actions left/stay/right."""

    def __init__(self):
        self.observation_space = spaces.Box(-10, 10, (1,), np.float32)
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.t = float(self.np_random.uniform(-5, 5)), 0
        return np.array([self.x], np.float32), {{}}

    def step(self, a):
        self.x += (int(a) - 1) * 0.5
        self.t += 1
        return np.array([self.x], np.float32), -abs(self.x), abs(self.x) < 0.3, self.t >= 20, {{}}


gym.register({ENV_ID!r}, entry_point=Line, max_episode_steps=20)
'''

RL: dict[str, Any] = {
    "study": {"name": "rl_line", "trials": 1},
    "data": {"env": SPEC},
    "model": {"task": "rl", "algorithm": "ppo", "family": "mlp", "width": 8},
    "optimizer": {"name": "adam", "lr": 1e-3},
    "train": {"max_epochs": 1, "n_envs": 2, "n_steps": 16, "steps_per_epoch": 32, "eval_episodes": 1},
}


@pytest.fixture
def study_dir(tmp_path, monkeypatch):
    """The user's folder (the current directory) holding ``f5_user_envs/line.py``; afterwards the
    module, its registration and the path entry it added are gone."""
    package = tmp_path / "f5_user_envs"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "line.py").write_text(LINE_ENV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])  # only hpbench's own import finds it
    yield tmp_path
    for name in [m for m in sys.modules if m.split(".")[0] == "f5_user_envs"]:
        del sys.modules[name]
    gym.registry.pop(ENV_ID, None)


def _rule(raw: dict[str, Any]) -> tuple[str, str, str]:
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="rl.toml")
    (p,) = [p for p in err.value.problems if p.key == "data.env"]
    return p.key, p.rule, p.hint


def _with_env(env: str) -> dict[str, Any]:
    raw = copy.deepcopy(RL)
    raw["data"]["env"] = env
    return raw


def test_a_module_env_id_validates_and_trains(study_dir):
    s = parse_study(copy.deepcopy(RL), source="rl.toml")
    cfg = trial_config(s, {})
    assert rl_config(cfg).env_id == SPEC
    out = train(cfg)
    assert out.stop_reason == "completed" and len(out.history) == 1 and out.history[0]["env_steps"] == 32


def test_the_estimate_times_a_module_env_and_caches_it_under_its_id(study_dir):
    from hpbench.cost import envtime
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.rl import predict_trial

    cfg = trial_config(parse_study(copy.deepcopy(RL), source="rl.toml"), {})
    cols = predict_trial(cfg, device_model=DeviceModel.hypothetical_device(flops_per_s=1e9), env_cache_dir=study_dir / "cache")
    assert cols["predicted_flops"] > 0
    seconds = envtime.env_step_seconds(SPEC, cache_dir=study_dir / "cache")
    entry = json.loads(envtime.cache_file(study_dir / "cache").read_text())[SPEC]
    assert 0 < seconds < 0.01 and entry["env_id"] == SPEC


def test_a_fresh_process_started_in_the_study_folder_imports_the_module(study_dir):
    """Python's -P leaves the current directory off the path, as a Ray worker's or an installed command's path may."""
    code = f"from hpbench.train.rl.envs import env_info; print(env_info({SPEC!r}).n_actions)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-P", "-c", code], cwd=study_dir, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "3"


@pytest.mark.parametrize(("env", "rule", "hint"), [
    ("NoSuchEnv-v0", "unknown Gymnasium environment", "gymnasium.register('MyEnv-v0'"),  # says how to register one's own
    ("NoSuchEnv-v0", "unknown Gymnasium environment", "env = 'mycode.envs:MyEnv-v0'"),
    ("f5_no_such_module:F5Line-v0", "the module of a 'module:EnvId' id must import (ModuleNotFoundError", "importable from the study's folder"),
    (f"{MODULE}:F5Lin-v0", f"module '{MODULE}' does not register 'F5Lin-v0'", f"did you mean '{SPEC}'?"),
    # no close id of its own: the ids it registers, not gym's closest id prefixed with the module (which it does not register)
    (f"{MODULE}:Hoppr-v5", f"module '{MODULE}' does not register 'Hoppr-v5'", f"it registers '{SPEC}'"),
])
def test_an_env_that_cannot_be_found_says_how_to_name_one(study_dir, env, rule, hint):
    key, found_rule, found_hint = _rule(_with_env(env))
    assert key == "data.env" and rule in found_rule and hint in found_hint, (found_rule, found_hint)


def test_the_env_timings_cache_follows_xdg_cache_home(tmp_path, monkeypatch):
    """It wrote to ~/.cache/hpbench/envs whatever XDG_CACHE_HOME said (the device models follow it)."""
    from hpbench.cost import envtime
    from hpbench.cost.history import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert envtime.default_cache_dir() == tmp_path / "hpbench" / "envs"
    assert envtime.default_cache_dir().parent == default_cache_dir().parent
