"""Reinforcement learning through the whole tool: rl study files validated at the edge (exit 2,
the key, the rule and the value named, nothing written), the shared trainer running the rl task
(metrics per epoch, the ``solved`` stop reason and steps to solve, early stopping on the return,
reproducible resume from a weights-only state), the cost model's rl columns and its cached
environment time, and a real tiny search through Ray."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.config import EarlyStoppingConfig
from hpbench.errors import StudyError
from hpbench.study.parse import parse_study
from hpbench.study.resolve import trial_config
from hpbench.train.rl.task import rl_config
from hpbench.train.trainer import train

torch.set_num_threads(1)

# A tiny rl study: 64 env steps per epoch, 2 evaluation episodes.
RL: dict[str, Any] = {
    "study": {"name": "rl_tiny", "trials": 2},
    "data": {"env": "CartPole-v1"},
    "model": {"task": "rl", "algorithm": "ppo", "family": "mlp", "width": 16},
    "optimizer": {"name": "adam", "lr": 1e-3},
    "train": {"max_epochs": 3, "n_envs": 2, "n_steps": 32, "steps_per_epoch": 64, "eval_episodes": 2},
}


def study(**sections: dict[str, Any]) -> dict[str, Any]:
    """RL with some sections' keys replaced (a value None removes the key)."""
    raw = copy.deepcopy(RL)
    for name, table in sections.items():
        merged = {**raw.get(name, {}), **table}
        raw[name] = {k: v for k, v in merged.items() if v is not None}
    return raw


def problems(raw: dict[str, Any]) -> list[tuple[str, str, Any]]:
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="rl.toml")
    return [(p.key, p.rule, p.value) for p in err.value.problems]


# -- the study file ---------------------------------------------------------------------------

def test_an_rl_study_resolves_to_the_rl_config():
    s = parse_study(study(space={"train.gamma": {"uniform": [0.9, 0.99]}, "train.update_epochs": {"choice": [4, 10]}}))
    assert (s.settings.metric, s.settings.mode) == ("val_return", "max")  # the rl task's default metric, maximized
    cfg = trial_config(s, {"train.gamma": 0.95, "train.update_epochs": 10})
    assert cfg.task == "rl" and cfg.data.env == "CartPole-v1" and cfg.model.params == {"width": 16}
    rl = rl_config(cfg)
    assert rl.env_id == "CartPole-v1" and rl.gamma == 0.95 and rl.update_epochs == 10 and rl.n_steps == 32
    assert rl.hidden == (16, 16) and rl.activation == "tanh"  # the family's width; the rl defaults: depth 2, tanh
    assert rl.max_grad_norm == 0.5 and rl.lr == 1e-3 and rl.optimizer == "adam"  # clip_norm unset: CleanRL's 0.5


def test_rl_keys_defaults_are_the_rl_config_defaults():
    from hpbench.train.rl import keys
    from hpbench.train.rl.config import RLConfig

    default = RLConfig()
    for name, param in keys.TRAIN.items():
        assert param.default == getattr(default, name), name
    assert keys.MODEL["algorithm"].default == default.algorithm.value


@pytest.mark.parametrize(("sections", "key", "rule"), [
    ({"data": {"env": "CartPole-v9"}}, "data.env", "unknown Gymnasium environment"),
    ({"model": {"family": "lstm", "width": None}}, "model.family", "the rl task's policy and value networks are mlp"),
    ({"model": {"dropout": 0.1}}, "model.dropout", "does not apply to task 'rl': an rl policy has no dropout"),
    ({"model": {"family": "cnn", "kernel": 5}}, "model.kernel", "the rl cnn's convolutions are fixed (3x3, stride 2"),
    ({"model": {"depth": 0}}, "model.depth", "must be >= 1 for an rl policy"),
    ({"data": {"dataset": "iris"}}, "data.dataset", "does not apply to task 'rl'"),
    ({"train": {"batch_size": 64}}, "train.batch_size", "does not apply to task 'rl'"),
    ({"train": {"device": "cuda"}}, "train.device", "the rl task trains on the CPU"),
    ({"train": {"steps_per_epoch": 100}}, "train.steps_per_epoch", "must be a multiple of n_envs x n_steps"),
    ({"train": {"n_minibatches": 65}}, "train.n_minibatches", "must be <= n_envs x n_steps = 64"),
    ({"train": {"gamma": 1.5}}, "train.gamma", "must be <= 1"),
    ({"model": {"algorithm": "dqn"}}, "model.algorithm", "unknown algorithm"),
    ({"lr_schedule": {"name": "cosine"}}, "lr_schedule.name", "keeps the optimizer's lr"),
    ({"study": {"metric": "val_accuracy"}}, "study.metric", "must be a metric the trainer reports"),
    ({"model": {"task": "rll"}}, "model.task", "unknown task"),
    ({"model": {"algorithm": "reinforce"}, "train": {"gae_lambda": 0.9}}, "train.gae_lambda", "applies to algorithm 'ppo' and 'a2c' only"),
    ({"model": {"algorithm": "reinforce"}, "train": {"clip_range": 0.1}}, "train.clip_range", "applies to algorithm 'ppo' only, not 'reinforce'"),
    ({"model": {"algorithm": "a2c"}, "train": {"clip_range_vf": 0.1}}, "train.clip_range_vf", "applies to algorithm 'ppo' only, not 'a2c'"),
    ({"model": {"algorithm": "a2c"}, "space": {"train.clip_range": {"uniform": [0.1, 0.3]}}}, "space.train.clip_range",
     "applies to algorithm 'ppo' only"),
    ({"train": {"log_std_init": -1.0}}, "train.log_std_init", "applies to continuous (Box) actions only"),
])
def test_bad_rl_studies_name_the_key_rule_and_value(sections, key, rule):
    found = problems(study(**sections))
    assert any(k == key and rule in r for k, r, _ in found), found


def test_an_algorithm_key_set_and_searched_quotes_the_value_of_the_key_it_names():
    """Named space.train.clip_range but quoted the fixed 0.2 of [train] (bug hunt s47h1)."""
    found = problems(study(model={"algorithm": "a2c"}, train={"clip_range": 0.2},
                           space={"train.clip_range": {"uniform": [0.1, 0.3]}}))
    said = [(k, v) for k, r, v in found if "applies to algorithm 'ppo' only" in r]
    assert said == [("space.train.clip_range", {"uniform": [0.1, 0.3]})]
    found = problems(study(model={"algorithm": "a2c"}, train={"clip_range": 0.2}))
    assert [(k, v) for k, r, v in found if "applies to algorithm" in r] == [("train.clip_range", 0.2)]


def test_rollouts_that_do_not_fill_an_epoch_quote_the_value_of_the_key_named():
    """Named space.train.n_steps but quoted steps_per_epoch's 1024, in a sentence with two "but"s (bug hunt s48h1)."""
    space = {"train.n_steps": {"choice": [16, 32]}}
    [(key, rule, value)] = [p for p in problems(study(train={"steps_per_epoch": 32}, space=space)) if "n_envs x n_steps" in p[1]]
    assert (key, value) == ("space.train.n_steps", 32) and "but" not in rule, rule
    assert rule == "must make n_envs x n_steps (here 2 x 32 = 64) divide train.steps_per_epoch (32)"
    [(key, rule, value)] = [p for p in problems(study(train={"steps_per_epoch": 100})) if "n_envs x n_steps" in p[1]]
    assert (key, rule, value) == ("train.steps_per_epoch", "must be a multiple of n_envs x n_steps (here 2 x 32 = 64)", 100)


def test_algorithm_keys_are_accepted_where_the_algorithm_reads_them_or_is_searched():
    """The refusals above are for a fixed algorithm that ignores the key (it trained silently without it)."""
    parse_study(study(train={"clip_range": 0.1, "clip_range_vf": 0.1, "gae_lambda": 0.9}))  # ppo (the default)
    parse_study(study(model={"algorithm": "a2c"}, train={"gae_lambda": 0.9}))
    parse_study(study(model={"algorithm": None}, train={"clip_range": 0.1, "gae_lambda": 0.9},
                      space={"model.algorithm": {"choice": ["ppo", "reinforce"]}}))
    parse_study(study(data={"env": "Pendulum-v1"}, train={"log_std_init": -1.0}))


def test_rl_keys_in_a_supervised_study_are_refused():
    raw = {"data": {"dataset": "iris"}, "model": {"family": "mlp", "algorithm": "ppo"}, "train": {"n_envs": 4},
           "space": {"train.gamma": {"uniform": [0.9, 0.99]}}}
    found = problems(raw)
    for key in ("model.algorithm", "train.n_envs", "space.train.gamma"):
        assert any(k == key and "applies to task 'rl' only" in r for k, r, _ in found), (key, found)


def test_searched_rollout_shapes_that_break_the_epoch_are_refused_not_adjusted():
    """Every combination of the fixed and searched values is checked: 8 x 48 does not divide 2048."""
    raw = study(train={"n_envs": 8, "n_steps": None, "steps_per_epoch": 2048}, space={"train.n_steps": {"choice": [64, 48]}})
    found = problems(raw)
    assert any(k == "space.train.n_steps" and "(here 8 x 48 = 384)" in r and v == 48 for k, r, v in found), found
    parse_study(study(train={"n_envs": 8, "n_steps": None, "steps_per_epoch": 2048}, space={"train.n_steps": {"choice": [64, 128]}}))


def test_the_env_and_the_task_cannot_be_searched():
    for path in ("data.env", "model.task"):
        assert any("cannot be searched" in r for _, r, _ in problems(study(space={path: {"choice": ["x"]}})))


def test_every_problem_is_reported_at_once():
    keys = {k for k, _, _ in problems(study(data={"env": "CartPole-v9"}, train={"batch_size": 8}, model={"dropout": 0.2}))}
    assert {"data.env", "train.batch_size", "model.dropout"} <= keys


class _ImageEnv(gym.Env):
    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros((8, 8, 3), np.uint8), {}

    def step(self, action):
        return np.zeros((8, 8, 3), np.uint8), 1.0, False, False, {}


def test_the_policy_family_must_read_the_observations():
    gym.register("hpbench-test/Image-v0", entry_point=_ImageEnv, max_episode_steps=5)
    found = problems(study(data={"env": "hpbench-test/Image-v0"}))
    assert any(k == "model.family" and "reads vector observations" in r and "use 'cnn'" in r for k, r, _ in found), found
    ok = parse_study(study(data={"env": "hpbench-test/Image-v0"}, model={"family": "cnn", "width": None, "channels": 4}))
    assert rl_config(trial_config(ok, {})).cnn_channels == (4, 8)


def test_a_bad_rl_study_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[data]\nenv = "CartPole-v9"\n[model]\ntask = "rl"\nfamily = "mlp"\n', encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "data.env" in res.output and "unknown Gymnasium environment" in res.output and "CartPole-v1" in res.output
    assert not out.exists()


# -- the trainer ------------------------------------------------------------------------------

def test_the_trainer_runs_the_rl_task_and_reports_its_metrics():
    out = train(trial_config(parse_study(study()), {}))
    assert out.stop_reason == "completed" and len(out.history) == 3
    first, last = out.history[0], out.history[-1]
    for key in ("train_loss", "val_return", "val_length", "train_entropy", "train_approx_kl", "train_value_loss", "train_policy_loss",
                "train_explained_variance", "rollout_s", "update_s", "eval_s", "epoch_s"):
        assert key in first, key
    assert math.isfinite(first["val_return"]) and first["val_return"] >= 8  # a CartPole episode lasts >= 8 steps
    assert [r["env_steps"] for r in out.history] == [64, 128, 192] and first["n_params"] == out.n_params
    best = 1 + int(np.argmax([r["val_return"] for r in out.history]))  # the trial ends with its best epoch's policy
    assert last["steps_to_solve"] is None and last["env_steps"] == 192 and last["best_epoch"] == out.best_epoch == best


def test_reaching_the_reward_threshold_stops_the_trial_as_solved():
    out = train(trial_config(parse_study(study(train={"reward_threshold": 5.0})), {}))
    assert out.stop_reason == "solved" and len(out.history) == 1
    assert out.history[-1]["steps_to_solve"] == 64 and out.history[-1]["stop_reason"] == "solved"
    kept_on = train(trial_config(parse_study(study(train={"reward_threshold": 5.0, "stop_on_solve": False})), {}))
    assert kept_on.stop_reason == "completed" and kept_on.history[-1]["steps_to_solve"] == 64


def test_early_stopping_watches_the_return_and_restores_the_best_policy():
    cfg = trial_config(parse_study(study(train={"max_epochs": 6})), {})
    es = EarlyStoppingConfig(monitor="val_return", patience=1, mode="auto", restore_best_weights=True)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, early_stopping=es))
    states: list[dict[str, Any]] = []
    out = train(cfg, on_state=lambda s: states.append(copy.deepcopy(s)))
    returns = [r["val_return"] for r in out.history]
    best = int(np.argmax(returns))  # the first best (strict improvement)
    assert out.best_epoch == best + 1 and out.early_stopping.mode == "max"
    final = states[-1]["final_model"]
    assert all(torch.equal(v, out.model.state_dict()[k]) for k, v in final["state_dict"].items())


def test_resume_loads_weights_only_and_is_reproducible():
    """The dispatcher's checkpoint of an rl trial is a torch.save of the trainer's state: it loads
    with weights_only=True (no pickled environments) and two resumes from it give the same epochs."""
    cfg = trial_config(parse_study(study()), {})
    states: list[dict[str, Any]] = []
    train(cfg, on_state=lambda s: states.append(copy.deepcopy(s)))
    buf = io.BytesIO()
    torch.save(states[0], buf)
    strip = lambda h: [{k: v for k, v in r.items() if not k.endswith("_s") and k != "reported_at"} for r in h]  # noqa: E731
    runs = []
    for _ in range(2):
        buf.seek(0)
        runs.append(train(cfg, start_state=torch.load(buf, weights_only=True)))
    assert strip(runs[0].history) == strip(runs[1].history)
    assert [r["env_steps"] for r in runs[0].history] == [64, 128, 192]
    assert strip(runs[0].history[:1]) == strip(states[0]["history"])
    rec = io.BytesIO()
    torch.save(states[-1]["final_model"], rec)
    rec.seek(0)
    record = torch.load(rec, weights_only=True)
    assert record["task"] == "rl" and record["env"] == "CartPole-v1" and record["n_outputs"] == 2
    # Results.load_model rebuilds the policy from it (it built a supervised MLP and failed on every rl record)
    from hpbench.train.weights import build_saved_model

    policy = build_saved_model(record)
    assert type(policy).__name__ == "ActorCritic"
    assert all(torch.equal(policy.state_dict()[k], v) for k, v in record["state_dict"].items())


def test_continuous_actions_through_the_trainer_checkpoint_weights_only():
    """Pendulum-v1 (a Gaussian policy) with normalized observations and rewards: one epoch, and its
    checkpoint (the running statistics are numpy scalars for rewards) saved and read back weights-only."""
    raw = study(data={"env": "Pendulum-v1"}, train={"max_epochs": 1, "n_steps": 100, "steps_per_epoch": 200, "eval_episodes": 1,
                                                     "normalize_obs": True, "normalize_rewards": True})
    states: list[dict[str, Any]] = []
    out = train(trial_config(parse_study(raw), {}), on_state=states.append)
    assert -2000 < out.history[0]["val_return"] < 0 and out.history[0]["val_length"] == 200
    buf = io.BytesIO()
    torch.save(states[-1], buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["rl"]["reward_scaler"]["var"].dtype == torch.float64
    from hpbench.train.weights import build_saved_model

    policy = build_saved_model(state["final_model"])  # a Gaussian head: its log_std is a weight of the record too
    assert policy.log_std is not None and torch.equal(policy.log_std.detach(), state["final_model"]["state_dict"]["log_std"])


def test_a_normalize_obs_policy_is_saved_with_its_best_epochs_statistics_and_loads_taking_raw_observations():
    """normalize_obs: the saved policy acts on raw observations as the evaluation did (load_model gave a bare
    ActorCritic that ignored the record's statistics), and those statistics are the best epoch's (they were
    the last epoch's while the weights were the best's). The metric env_steps (min) makes epoch 1 the best."""
    from hpbench.train.rl.envs import env_info
    from hpbench.train.rl.normalize import ObsNormalizer
    from hpbench.train.rl.policy import build_policy
    from hpbench.train.weights import build_saved_model

    cfg = trial_config(parse_study(study(train={"normalize_obs": True, "stop_on_solve": False})), {})
    cfg = dataclasses.replace(cfg, metric="env_steps", mode="min")
    states: list[dict[str, Any]] = []
    out = train(cfg, on_state=lambda s: states.append(copy.deepcopy(s)))
    assert out.best_epoch == 1 and len(out.history) == 3
    rec = io.BytesIO()
    torch.save(states[-1]["final_model"], rec)
    rec.seek(0)
    record = torch.load(rec, weights_only=True)
    first, last = states[0]["rl"]["obs_norm"], states[-1]["rl"]["obs_norm"]
    assert not torch.equal(first["mean"], last["mean"])
    assert torch.equal(record["obs_norm"]["mean"], first["mean"]) and torch.equal(record["obs_norm"]["var"], first["var"])
    assert record["obs_norm"]["count"] == first["count"]
    # the trainer's evaluation path at epoch 1: its policy on ObsNormalizer-normalized observations
    rl = rl_config(cfg)
    policy = build_policy(env_info("CartPole-v1"), hidden=rl.hidden, activation=rl.activation, cnn_channels=(), log_std_init=0.0, seed=0)
    policy.load_state_dict(states[0]["rl"]["policy"])
    norm = ObsNormalizer((4,), enabled=True)
    norm.stats.load_state_dict(first)
    loaded = build_saved_model(record).eval()
    raw = np.random.default_rng(0).normal(0, 2, (64, 4)).astype(np.float32)
    with torch.no_grad():
        (head, value), (want_head, want_value) = loaded(torch.as_tensor(raw)), policy(torch.as_tensor(norm(raw, update=False)))
    assert torch.equal(head, want_head) and torch.equal(value, want_value)
    returns = []  # the loaded policy on the evaluation's own episodes reaches the reported return
    for i in range(rl.eval_episodes):
        env = gym.make("CartPole-v1")
        obs, _ = env.reset(seed=rl.eval_seed + i)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                logits, _ = loaded(torch.as_tensor(obs)[None])
            obs, r, term, trunc, _ = env.step(int(logits.argmax(-1)))
            total, done = total + float(r), term or trunc
        returns.append(total)
    assert float(np.mean(returns)) == out.history[0]["val_return"]


# -- the cost model ---------------------------------------------------------------------------

def test_predicted_columns_count_the_rollout_the_update_and_the_evaluation(tmp_path):
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.rl import predict_trial
    from hpbench.train.rl.cost import config_epoch_flops, forward_flops_per_sample
    from hpbench.train.rl.envs import env_info
    from hpbench.train.rl.policy import build_policy

    cfg = trial_config(parse_study(study()), {})
    dev = DeviceModel.hypothetical_device(flops_per_s=1e9)
    cols = predict_trial(cfg, device_model=dev, env_cache_dir=tmp_path)
    rl = rl_config(cfg)
    f = forward_flops_per_sample(build_policy(env_info("CartPole-v1"), hidden=rl.hidden, activation=rl.activation, cnn_channels=(),
                                              log_std_init=0.0, seed=0), (4,))
    assert f == 2 * (4 * 16 + 16 * 16 + 16 * 2) + 2 * (4 * 16 + 16 * 16 + 16 * 1)  # actor and critic matmuls
    epoch = config_epoch_flops(rl, forward_flops_per_sample=f, eval_steps=2 * 500)  # CartPole's time limit: 500 steps
    per_step = (cols["flops_per_epoch"] - (epoch.forward + epoch.backward)) / epoch.optimizer_steps  # Adam's update, counted op by op
    assert cols["n_params"] == 755 and 5 * 755 <= per_step <= 20 * 755  # Adam: ~10 FLOPs per parameter (moments, bias corrections, step)
    assert cols["steps_per_epoch"] == 16 and cols["predicted_flops"] == pytest.approx(3 * cols["flops_per_epoch"], rel=1e-5)
    assert cols["predicted_s"] == pytest.approx(cols["flops_per_epoch"] * 3 / 1e9, rel=1e-5)  # the hypothetical device: FLOPs / FLOP/s
    assert cols["env_step_s"] == 0.0  # a hypothetical device runs no environment here
    assert cols["regime"] == "compute-bound" and cols["predicted_s_p10"] is None  # the textbook device: FLOPs only, no residuals


def test_rl_trials_get_a_regime_warmup_slowdown_and_interval(tmp_path, monkeypatch):
    from hpbench.cost import envtime
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.predict import FEATURES
    from hpbench.cost.rl import predict_trial

    monkeypatch.setattr(envtime, "env_step_seconds", lambda *_a, **_k: 1e-4)  # an environment step: 0.1 ms
    cfg = trial_config(parse_study(study()), {})
    base = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1.0, 1e9), matmul_flops_per_s=(1e10, 1e10), peak_flops_per_s=1e10,
                       bandwidth_bytes=(1e6, 64e6), bandwidth_curve=(1e11, 1e10), coef=dict.fromkeys(FEATURES, 1e-9))
    plain = predict_trial(cfg, device_model=base, env_cache_dir=tmp_path)
    assert plain["regime"] == "overhead-bound"  # the environment's Python steps outweigh the network's nanoseconds
    env = plain["predicted_env_epoch_s"]
    assert env > 0 and env < plain["predicted_epoch_s"] < env * 1.001  # the environment's seconds, plus the network's few
    dev = dataclasses.replace(base, warmup_fraction=0.5, first_epoch_s=0.01, trainer_epoch_s=0.002,
                              concurrency_slowdown={"overhead-bound": 1.5}, intervals={"all": (0.8, 1.25)})
    one = predict_trial(cfg, device_model=dev, env_cache_dir=tmp_path)
    two = predict_trial(cfg, device_model=dev, env_cache_dir=tmp_path, max_concurrent=2)
    e = plain["predicted_epoch_s"]
    assert one["predicted_epoch_s"] == pytest.approx(e + 0.002, rel=1e-5) and one["predicted_warmup_s"] == pytest.approx(0.01 + 0.5 * e, rel=1e-5)
    assert one["predicted_s"] == pytest.approx(3 * (e + 0.002) + 0.01 + 0.5 * e, rel=1e-5)
    assert two["predicted_s"] == pytest.approx(1.5 * one["predicted_s"], rel=1e-5) and two["concurrency_slowdown"] == 1.5
    assert (one["predicted_s_p10"], one["predicted_s_p90"]) == pytest.approx((0.8 * one["predicted_s"], 1.25 * one["predicted_s"]), rel=1e-5)


def test_the_environment_time_is_measured_once_and_cached(tmp_path, monkeypatch):
    from hpbench.cost import envtime
    from hpbench.train.rl import cost

    first = envtime.env_step_seconds("CartPole-v1", cache_dir=tmp_path)
    entry = json.loads(envtime.cache_file(tmp_path).read_text())["CartPole-v1"]
    assert 0 < first < 0.01 and entry["seconds_per_step"] == first and entry["gymnasium"] == gym.__version__

    def no_measuring(*_: Any) -> float:
        raise AssertionError("measured again")

    monkeypatch.setattr(cost, "_steps", no_measuring)
    assert envtime.env_step_seconds("CartPole-v1", cache_dir=tmp_path) == first


def test_estimate_prices_an_rl_study(tmp_path):
    path = tmp_path / "rl.toml"
    path.write_text('[data]\nenv = "CartPole-v1"\n[model]\ntask = "rl"\nfamily = "mlp"\n[train]\nmax_epochs = 4\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["estimate", str(path), "--device-flops", "1e9", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["configurations"]
    assert rows and rows[0]["predicted_flops"] == pytest.approx(4 * rows[0]["flops_per_epoch"], rel=1e-5)


# -- a real search ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_tiny_rl_search_through_ray(ray_local, tmp_path):
    """4 trials of PPO on CartPole through Ray Tune with ASHA; the low reward threshold (30) makes
    the good ones stop as solved, recording the env steps they took."""
    from io import StringIO

    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search

    raw = study(study={"name": "rl_ray", "trials": 4, "max_concurrent": 2, "scheduler": "asha", "grace_period": 2},
                train={"max_epochs": 6, "reward_threshold": 30.0},
                space={"lr": {"loguniform": [3e-4, 3e-3]}, "train.gamma": {"uniform": [0.9, 0.99]}})
    out = tmp_path / "out"
    run_search(parse_study(raw, source="rl_ray.toml"), SearchOptions(out=out, num_cpus=2), console=Console(file=StringIO()))
    trials, epochs = hpbench.load(out), hpbench.load(out, table="epochs")
    assert len(trials) == 4 and set(trials["status"]) == {"finished"}
    assert set(trials["stop_reason"]) <= {"solved", "completed", "pruned", "early_stopped"}
    solved = trials[trials["stop_reason"] == "solved"]
    assert len(solved) >= 1 and (solved["steps_to_solve"] % 64 == 0).all() and (solved["best_val_return"] >= 30).all()
    assert {"val_return", "train_return", "train_entropy", "train_approx_kl", "train_value_loss", "env_steps"} <= set(epochs.columns)
    assert trials["predicted_flops"].notna().all() and (trials["flops_spent"] > 0).all()
    res = CliRunner().invoke(app, ["report", str(out), "--json"])
    assert res.exit_code == 0, res.output
    curves = json.loads(res.output)["curves"]
    assert curves and all(len(c["env_steps"]) == len(c["val_return"]) for c in curves)
    assert Path(out / "weights").is_dir()
