"""What the rl cost model times and how it prices it: the environment's step without the random
action's draw, the rollout's and evaluation's own loops (measured once, cached, versioned), each
entering the predicted epoch once per vector step, and what the rl trials' cost columns hold."""

from __future__ import annotations

import types
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from hpbench.train.rl import cost
from hpbench.train.rl.config import RLConfig
from hpbench.train.rl.cost import env_cache_key, measure_env_step_s

torch.set_num_threads(1)


class _Clock:
    """A fake clock that only action draws advance (one second each)."""

    def __init__(self) -> None:
        self.now = 0.0

    def read(self) -> float:
        return self.now


class _DrawCosts(gym.spaces.Box):
    def __init__(self, clock: _Clock) -> None:
        super().__init__(low=-1.0, high=1.0, shape=(1,), dtype=np.float32)
        self.clock = clock
        self.draws = 0

    def sample(self, *args: Any, **kwargs: Any) -> Any:
        self.clock.now += 1.0
        self.draws += 1
        return super().sample(*args, **kwargs)


class _Env(gym.Env):
    """A Box-action env whose steps take no (fake) time and end every 3 steps."""

    def __init__(self, clock: _Clock) -> None:
        self.observation_space = gym.spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)
        self.action_space = _DrawCosts(clock)
        self.t = 0

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return np.zeros(2, np.float32), 0.0, self.t >= 3, False, {}


def test_the_env_step_timing_leaves_the_random_action_draw_out_of_the_clock(monkeypatch):
    """The rollout never calls action_space.sample(); a Box's draw (30-45 us) cost 2-6x a classic-control step."""
    clock = _Clock()
    fake_time = types.SimpleNamespace(perf_counter=clock.read, thread_time=clock.read, process_time=clock.read, strftime=lambda *_: "")
    monkeypatch.setattr(cost, "time", fake_time)
    env = _Env(clock)
    assert cost._steps(env, 10) == 0.0  # ten draws of a second each, none of them timed
    assert env.action_space.draws == 10  # the steps still took random actions


def test_an_env_time_cached_by_other_rules_is_measured_again():
    """Records of TIMING_RULES 1 (the draw inside the clock) are wrong for Box actions: not read back."""
    cache: dict = {}
    measure_env_step_s("CartPole-v1", n=50, repeats=1, cache=cache)
    entry = cache[env_cache_key("CartPole-v1")]
    assert entry["rules"] == cost.TIMING_RULES
    entry["seconds_per_step"] = 123.0
    assert measure_env_step_s("CartPole-v1", n=50, repeats=1, cache=cache) == 123.0  # this machine's, these rules: kept
    del entry["rules"]  # as the records before session 49 were written
    assert measure_env_step_s("CartPole-v1", n=50, repeats=1, cache=cache) != 123.0
    assert cache[env_cache_key("CartPole-v1")]["rules"] == cost.TIMING_RULES


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])  # a categorical head and a Gaussian one
def test_the_loop_timing_runs_the_rollout_and_evaluation_code_and_caches_it(monkeypatch, env):
    from hpbench.train.rl import looptime

    cfg = RLConfig(env_id=env, n_envs=2, n_steps=8, steps_per_epoch=16, eval_episodes=3, normalize_obs=True)
    calls = {"collect": 0, "update": 0, "eval_step": 0}
    for name in calls:
        real = getattr(looptime, name)

        def counted(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(looptime, name, counted)
    cache: dict = {}
    times = looptime.measure_loop_step_s(cfg, min_steps=20, repeats=2, cache=cache)
    assert times.rollout_step_s > 0 and times.update_step_s > 0 and times.eval_step_s > 0
    # warm-ups, then 2 runs of 3 rollouts of 8 steps, of one update round, of 20 evaluation steps
    assert calls == {"collect": 1 + 2 * 3, "update": 1 + 2, "eval_step": 10 + 2 * 20}
    entry = cache[looptime.loop_cache_key(cfg)]
    assert entry["rules"] == cost.TIMING_RULES and entry["rollout_step_s"] == times.rollout_step_s
    entry["rollout_step_s"] = 7.0
    assert looptime.measure_loop_step_s(cfg, cache=cache).rollout_step_s == 7.0  # measured once
    other = RLConfig(env_id=env, n_envs=4, n_steps=8, steps_per_epoch=32, eval_episodes=3, normalize_obs=True)
    assert looptime.loop_cache_key(other) != looptime.loop_cache_key(cfg)  # another copy count: its own entry
    assert torch.get_num_threads() == 1
    slim = looptime.slim_policy(RLConfig(hidden=(64, 32, 16)), looptime.env_info("CartPole-v1"))
    assert [m.out_features for m in slim.actor if isinstance(m, torch.nn.Linear)] == [1, 1, 1, 2]  # the study's layers, one unit wide


def test_the_loops_seconds_enter_the_priced_epoch_once_per_step(tmp_path, monkeypatch):
    """rollout_step_s per rollout vector step, update_step_s per gradient step, eval_step_s per evaluation vector step:
    the loops around the env and the network (sampling, log-probs, conversions, bookkeeping, clipping) were left out
    (CartPole PPO with CleanRL's settings priced at ~0.4x its CPU time)."""
    from hpbench.cost import envtime
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.predict import FEATURES
    from hpbench.cost.rl import predict_trial
    from hpbench.study.parse import parse_study
    from hpbench.study.resolve import trial_config
    from hpbench.train.rl import looptime

    seen: list[RLConfig] = []
    times = {"a": looptime.LoopTimes(rollout_step_s=1e-3, update_step_s=2e-3, eval_step_s=3e-3),
             "b": looptime.LoopTimes(rollout_step_s=2e-3, update_step_s=4e-3, eval_step_s=6e-3)}
    which = ["a"]

    def loop_times(cfg: RLConfig, **_: Any) -> Any:
        seen.append(cfg)
        return times[which[0]]

    monkeypatch.setattr(envtime, "env_step_seconds", lambda *_a, **_k: 5e-6)
    monkeypatch.setattr(envtime, "loop_step_seconds", loop_times)
    raw = {"study": {"name": "rl_tiny"}, "data": {"env": "CartPole-v1"}, "model": {"task": "rl", "algorithm": "ppo", "family": "mlp", "width": 16},
           "optimizer": {"name": "adam", "lr": 1e-3},
           "train": {"max_epochs": 3, "n_envs": 4, "n_steps": 32, "steps_per_epoch": 256, "eval_episodes": 2}}
    cfg = trial_config(parse_study(raw, source="rl.toml"), {})
    device = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1.0, 1e9), matmul_flops_per_s=(1e10, 1e10), peak_flops_per_s=1e10,
                         bandwidth_bytes=(1e6, 64e6), bandwidth_curve=(1e11, 1e10), coef=dict.fromkeys(FEATURES, 1e-9))
    a = predict_trial(cfg, device_model=device, env_cache_dir=tmp_path)
    which[0] = "b"
    b = predict_trial(cfg, device_model=device, env_cache_dir=tmp_path)
    assert [(c.n_envs, c.n_steps, c.eval_episodes) for c in seen] == [(4, 32, 2)] * 2  # timed at the study's own copies and rollout
    assert a["steps_per_epoch"] == 2 * 4 * 4  # 2 rollouts x 4 update epochs x 4 minibatches
    # 256 / 4 = 64 rollout vector steps, 32 gradient steps; CartPole's evaluation: 2 copies to its 500-step limit = 500 vector steps
    loops = 64 * 1e-3 + 32 * 2e-3 + 500 * 3e-3
    assert b["predicted_env_epoch_s"] - a["predicted_env_epoch_s"] == pytest.approx(loops, rel=1e-5)
    assert b["predicted_epoch_s"] - a["predicted_epoch_s"] == pytest.approx(loops, rel=1e-5)
    assert loops - 1e-3 < a["predicted_env_epoch_s"] < loops  # less the slim policy's network, which the device model prices
    assert a["env_step_s"] == 5e-6  # the env's own step, reported (inside the loops' seconds)
    network = a["predicted_epoch_s"] - a["predicted_env_epoch_s"]
    assert 0 < network < 1e-3  # the study's forward passes and updates, priced by the device model as before


def test_rl_prices_kept_across_searches_are_made_again_under_new_timing_rules(monkeypatch):
    from hpbench.dispatch import cost_keys
    from hpbench.study.parse import parse_study

    raw = {"study": {"name": "rl_tiny"}, "data": {"env": "CartPole-v1"}, "model": {"task": "rl", "algorithm": "ppo", "family": "mlp"},
           "optimizer": {"name": "adam", "lr": 1e-3}, "train": {"max_epochs": 3}}
    study = parse_study(raw, source="rl.toml")
    key = cost_keys.price_key(study, {}, None)
    monkeypatch.setattr(cost, "TIMING_RULES", cost.TIMING_RULES + 1)
    assert key is not None and cost_keys.price_key(study, {}, None) != key


def test_the_trials_steps_per_epoch_column_says_what_it_holds_per_task():
    """An rl trial's steps_per_epoch is its gradient steps, not the study's train.steps_per_epoch (env steps)."""
    from hpbench.results.columns import TRIALS

    doc = TRIALS["steps_per_epoch"]
    assert "rl: gradient steps" in doc and "not train.steps_per_epoch" in doc and "gan" in doc
