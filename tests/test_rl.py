"""The RL core: returns and losses against hand-computed cases, seeded determinism, one short epoch
per algorithm and observation/action kind, reproducible resume from a weights-only checkpoint, the cost functions."""

from __future__ import annotations

import io
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from hpbench.train.rl.config import RLConfig
from hpbench.train.rl.cost import config_epoch_flops, env_cache_key, epoch_flops, forward_flops_per_sample, measure_env_step_s
from hpbench.train.rl.envs import HeadKind, ObsKind, check_env, env_info, make_vector_env, reward_threshold, stream_seeds
from hpbench.train.rl.normalize import ObsNormalizer, RewardScaler
from hpbench.train.rl.optim import torch_optimizer
from hpbench.train.rl.policy import build_policy
from hpbench.train.rl.ppo import approx_kl, clip_fraction, clipped_surrogate, ppo_loss, value_loss
from hpbench.train.rl.reinforce import policy_gradient_loss
from hpbench.train.rl.returns import discounted_returns, gae
from hpbench.train.rl.rollout import EpisodeTracker, collect
from hpbench.train.rl.run import METRICS, RLRun

torch.set_num_threads(1)
TINY = {"n_envs": 2, "n_steps": 32, "steps_per_epoch": 64, "eval_episodes": 2, "hidden": (16,)}
_T = torch.tensor


def col(*xs: float) -> torch.Tensor:
    """A (T, 1) tensor: one environment."""
    return _T(xs, dtype=torch.float32).unsqueeze(1)


# -- returns and GAE ---------------------------------------------------------------------------

def test_discounted_returns_terminal_in_the_middle_and_bootstrap_at_the_end():
    # episode ends (terminal) at t=1; t=2..3 belong to the next episode, cut by the rollout: bootstrap V=10
    g = discounted_returns(rewards=col(1, 1, 1, 1), next_values=col(9, 99, 9, 10), terminated=col(0, 1, 0, 0), ended=col(0, 1, 0, 0), gamma=0.5)
    assert torch.allclose(g, col(1.5, 1.0, 4.0, 6.0))  # G3 = 1 + .5*10, G2 = 1 + .5*6, G1 = 1, G0 = 1 + .5*1


def test_discounted_returns_truncation_bootstraps_from_the_final_state():
    # same, but t=1 is a time-limit truncation: G1 = 1 + .5*V(final obs) = 1 + .5*4
    g = discounted_returns(rewards=col(1, 1, 1, 1), next_values=col(9, 4, 9, 10), terminated=col(0, 0, 0, 0), ended=col(0, 1, 0, 0), gamma=0.5)
    assert torch.allclose(g, col(2.5, 3.0, 4.0, 6.0))


def test_gae_hand_computed_truncation_and_termination():
    kw = {"rewards": col(1, 2, 3), "values": col(0.5, 1.0, 1.5), "next_values": col(1.0, 7.0, 2.0), "gamma": 0.9, "gae_lambda": 0.5}
    # deltas: 1 + .9*1 - .5 = 1.4; 2 + .9*7 - 1 = 7.3; 3 + .9*2 - 1.5 = 3.3. Truncated at t=1: A1 = δ1, A0 = δ0 + .45*δ1
    adv, ret = gae(**kw, terminated=col(0, 0, 0), ended=col(0, 1, 0))
    assert torch.allclose(adv, col(1.4 + 0.45 * 7.3, 7.3, 3.3))
    assert torch.allclose(ret, adv + kw["values"])
    # terminal at t=1: no bootstrap, δ1 = 2 - 1 = 1
    adv, _ = gae(**kw, terminated=col(0, 1, 0), ended=col(0, 1, 0))
    assert torch.allclose(adv, col(1.4 + 0.45 * 1.0, 1.0, 3.3))


def test_gae_limits_lambda_one_is_returns_minus_values_lambda_zero_is_td_error():
    g = torch.Generator().manual_seed(0)
    shape = (7, 3)
    rewards, values, next_values = torch.randn(shape, generator=g), torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    ended = torch.rand(shape, generator=g) < 0.3
    terminated = ended & (torch.rand(shape, generator=g) < 0.5)
    # within an episode V(s_{t+1}) is the next step's value, as a rollout records it (the identity needs it)
    next_values[:-1] = torch.where(ended[:-1], next_values[:-1], values[1:])
    parts = {"rewards": rewards, "next_values": next_values, "terminated": terminated, "ended": ended}
    adv1, _ = gae(**parts, values=values, gamma=0.9, gae_lambda=1.0)
    assert torch.allclose(adv1, discounted_returns(**parts, gamma=0.9) - values, atol=1e-6)
    adv0, _ = gae(**parts, values=values, gamma=0.9, gae_lambda=0.0)
    assert torch.allclose(adv0, rewards + 0.9 * (~terminated) * next_values - values, atol=1e-6)


def test_returns_reject_bad_input():
    with pytest.raises(ValueError, match="terminated implies ended"):
        discounted_returns(rewards=col(1), next_values=col(0), terminated=col(1), ended=col(0), gamma=0.9)
    with pytest.raises(ValueError, match=r"next_values must have the rewards' shape \(2, 1\)"):
        discounted_returns(rewards=col(1, 1), next_values=col(0), terminated=col(0, 0), ended=col(0, 0), gamma=0.9)


# -- losses ------------------------------------------------------------------------------------

def test_ppo_loss_hand_computed():
    old = torch.zeros(3)
    new = torch.log(_T([1.5, 0.5, 1.1]))  # ratios 1.5, 0.5, 1.1
    adv = _T([1.0, -1.0, 2.0])
    # min(1.5, 1.2) = 1.2; min(-0.5, -0.8) = -0.8; min(2.2, 2.2) = 2.2 → loss = -(2.6 / 3)
    assert clipped_surrogate(logprob=new, old_logprob=old, advantages=adv, clip_range=0.2).item() == pytest.approx(-2.6 / 3)
    assert clip_fraction(logprob=new, old_logprob=old, clip_range=0.2).item() == pytest.approx(2 / 3)
    v, r, v_old = _T([1.0, 2.0]), _T([0.0, 4.0]), _T([1.5, 1.5])
    assert value_loss(values=v, returns=r).item() == pytest.approx(0.5 * (1 + 4) / 2)
    # clipped values 1.3 and 1.7: errors max(1, 1.69) and max(4, 5.29)
    assert value_loss(values=v, returns=r, old_values=v_old, clip_range_vf=0.2).item() == pytest.approx(0.5 * (1.69 + 5.29) / 2)
    parts = ppo_loss(logprob=new, old_logprob=old, advantages=adv, entropy=_T([1.0, 0.5, 0.3]), values=v, returns=r, old_values=v_old,
                     clip_range=0.2, clip_range_vf=None)
    assert parts.total(value_coef=0.5, entropy_coef=0.01).item() == pytest.approx(-2.6 / 3 + 0.5 * 1.25 - 0.01 * 0.6)


def test_approx_kl_is_the_ratio_minus_one_minus_log_ratio_estimator():
    old = torch.zeros(3)
    ratios = _T([1.5, 0.5, 1.1])
    expected = float(np.mean([(x - 1) - math.log(x) for x in (1.5, 0.5, 1.1)]))  # 0.094535, 0.193147, 0.004690
    assert approx_kl(logprob=ratios.log(), old_logprob=old).item() == pytest.approx(expected, rel=1e-6)
    assert approx_kl(logprob=old, old_logprob=old).item() == 0.0
    # it estimates KL(old || new): for two categorical distributions, the mean under old samples converges to it
    p, q = _T([0.7, 0.3]), _T([0.4, 0.6])
    a = torch.multinomial(p, 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    est = approx_kl(logprob=q.log()[a], old_logprob=p.log()[a]).item()
    assert est == pytest.approx(float((p * (p / q).log()).sum()), abs=3e-3)


def test_policy_gradient_loss_holds_advantages_constant():
    logp = torch.log(_T([0.5, 0.25])).requires_grad_()
    adv = _T([2.0, 1.0]).requires_grad_()
    loss = policy_gradient_loss(logprob=logp, advantages=adv)
    assert loss.item() == pytest.approx(-(2 * math.log(0.5) + math.log(0.25)) / 2)
    loss.backward()
    assert adv.grad is None and torch.allclose(logp.grad, _T([-1.0, -0.5]))


# -- policy, envs, rollouts --------------------------------------------------------------------

def test_spaces_choose_the_head_and_the_threshold():
    assert reward_threshold("CartPole-v1") == 475.0 and reward_threshold("Pendulum-v1") is None
    cp, pend = env_info("CartPole-v1"), env_info("Pendulum-v1")
    assert (cp.obs_kind, cp.head_kind, cp.obs_shape, cp.n_actions) == (ObsKind.VECTOR, HeadKind.CATEGORICAL, (4,), 2)
    assert (pend.head_kind, pend.n_actions, pend.action_low, pend.action_high) == (HeadKind.GAUSSIAN, 1, (-2.0,), (2.0,))
    with pytest.raises(ValueError, match="'NoSuchEnv-v0'"):
        env_info("NoSuchEnv-v0")
    with pytest.raises(ValueError, match="'NoSuchEnv-v0'"):
        reward_threshold("NoSuchEnv-v0")


def _rollout(seed: int, *, env_kwargs=None, n_steps: int = 40):
    info = env_info("CartPole-v1", env_kwargs)
    envs, obs = make_vector_env("CartPole-v1", seeds=stream_seeds(seed, 0, 3), env_kwargs=env_kwargs)
    policy = build_policy(info, hidden=(16,), activation="tanh", cnn_channels=(), log_std_init=0.0, seed=seed)
    tracker = EpisodeTracker(n_envs=3)
    rollout, _ = collect(envs=envs, obs=obs, policy=policy, info=info, n_steps=n_steps, generator=torch.Generator().manual_seed(seed),
                         obs_norm=ObsNormalizer((4,), enabled=False), reward_scaler=RewardScaler(3, gamma=0.99, enabled=False), tracker=tracker)
    return rollout, tracker.pop(), policy


def test_seeded_rollout_is_deterministic():
    (a, ep_a, _), (b, ep_b, _), (c, _, _) = _rollout(1), _rollout(1), _rollout(2)
    assert ep_a == ep_b and len(ep_a) > 0
    for name in ("obs", "actions", "logprobs", "values", "rewards", "next_values", "terminated", "ended"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.obs, c.obs)


def test_rollout_bootstraps_truncations_from_the_final_observation():
    rollout, episodes, policy = _rollout(0, env_kwargs={"max_episode_steps": 5}, n_steps=12)
    cut = rollout.ended & ~rollout.terminated
    assert cut.any() and all(length <= 5 for _, length in episodes)
    # replay the same actions on fresh copies to recover each truncated episode's final observation
    envs, _ = make_vector_env("CartPole-v1", seeds=stream_seeds(0, 0, 3), env_kwargs={"max_episode_steps": 5})
    for t in range(len(rollout.actions)):
        _, _, _, _, info = envs.step(rollout.actions[t].numpy())
        for i in torch.nonzero(cut[t]).flatten().tolist():
            v = policy.value(torch.as_tensor(info["final_obs"][i]).unsqueeze(0)).item()
            assert rollout.next_values[t, i].item() == pytest.approx(v, abs=1e-6)
            assert rollout.next_values[t, i].item() != pytest.approx(rollout.values[t + 1, i].item())  # not the reset state's value
    inner = ~rollout.ended[:-1]
    assert torch.equal(rollout.next_values[:-1][inner], rollout.values[1:][inner])


# -- whole epochs --------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["ppo", "a2c", "reinforce"])
def test_one_cartpole_epoch_reports_every_metric(algorithm):
    with RLRun(RLConfig(algorithm=algorithm, **TINY)) as run:
        m = run.train_epoch()
    assert tuple(m) == METRICS
    assert m["env_steps"] == 64 and m["n_updates"] == (4 * 4 if algorithm == "ppo" else 1)
    for key in ("eval_return", "eval_length", "train_return", "episode_length", "entropy", "approx_kl", "value_loss", "policy_loss"):
        assert math.isfinite(m[key]), key
    assert 0 < m["entropy"] <= math.log(2) + 1e-6 and m["approx_kl"] >= 0
    assert m["solved"] == 0.0 and math.isnan(m["steps_to_solve"])


def test_same_seed_same_numbers_and_solved_is_recorded():
    cfg = RLConfig(**TINY, seed=3, reward_threshold=1.0)  # any episode's return beats 1: solved after the first epoch
    timing = {"rollout_s", "update_s", "eval_s"}
    results = []
    for _ in range(2):
        with RLRun(cfg) as run:
            results.append([{k: v for k, v in run.train_epoch().items() if k not in timing} for _ in range(2)])
            assert run.solved and run.steps_to_solve == 64
    assert results[0] == results[1]
    assert results[0][1]["steps_to_solve"] == 64.0 and results[0][1]["solved"] == 1.0


def test_gaussian_policy_on_pendulum_one_epoch():
    cfg = RLConfig(env_id="Pendulum-v1", **{**TINY, "n_steps": 200, "steps_per_epoch": 400}, normalize_obs=True, normalize_rewards=True)
    with RLRun(cfg) as run:
        assert run.policy.log_std is not None and run.threshold is None
        m = run.train_epoch()
        assert run.obs_norm.stats.count > 400
    assert tuple(m) == METRICS and m["eval_length"] == 200 and m["n_episodes"] == 2
    assert -2000 < m["eval_return"] < 0 and m["entropy"] == pytest.approx(0.5 + 0.5 * math.log(2 * math.pi), abs=0.05)


def test_resume_from_a_checkpoint_is_reproducible_and_loads_weights_only():
    """A checkpoint holds tensors and plain values only (weights_only=True reads it; no pickled envs).
    Resuming re-creates the envs seeded from (seed, epoch): two resumes from one checkpoint give the
    same numbers; they continue the run (counters, networks, optimizer) but start new episodes, so
    they need not equal the uninterrupted run's second epoch."""
    cfg = RLConfig(**TINY, seed=5, normalize_obs=True, normalize_rewards=True)  # the reward scaler's statistics are scalars
    timing = {"rollout_s", "update_s", "eval_s"}
    with RLRun(cfg) as run:
        run.train_epoch()
        buf = io.BytesIO()
        torch.save(run.state_dict(), buf)
        saved = {k: v.clone() for k, v in run.policy.state_dict().items()}
    seconds = []
    for _ in range(2):
        with RLRun(cfg) as resumed:
            buf.seek(0)
            resumed.load_state_dict(torch.load(buf, weights_only=True))
            assert all(torch.equal(v, resumed.policy.state_dict()[k]) for k, v in saved.items())
            seconds.append({k: v for k, v in resumed.train_epoch().items() if k not in timing})
            assert resumed.epoch == 2 and resumed.env_steps == 128
    assert seconds[0] == seconds[1] and seconds[0]["env_steps"] == 128.0


class TinyImageEnv(gym.Env):
    """8x8 RGB frames with one bright column; reward 1 for the action naming its half. 10 steps."""

    observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {}

    def _frame(self):
        self.col = int(self.np_random.integers(8))
        frame = np.zeros((8, 8, 3), np.uint8)
        frame[:, self.col] = 255
        return frame

    def step(self, action):
        reward = float(int(action) == int(self.col >= 4))
        return self._frame(), reward, False, False, {}


def test_image_observations_use_the_conv_encoder():
    gym.register("hpbench-test/TinyImage-v0", entry_point=TinyImageEnv, max_episode_steps=10)
    info = env_info("hpbench-test/TinyImage-v0")
    assert (info.obs_kind, info.obs_shape) == (ObsKind.IMAGE, (3, 8, 8))
    with RLRun(RLConfig(env_id="hpbench-test/TinyImage-v0", **{**TINY, "n_steps": 20, "steps_per_epoch": 40}, cnn_channels=(4, 8))) as run:
        assert run.policy.encoder is not None
        m = run.train_epoch()
        assert m["eval_length"] == 10 and 0 <= m["eval_return"] <= 10
        flops = forward_flops_per_sample(run.policy, (8, 8, 3), image=True)
    with pytest.raises(ValueError, match="normalize_obs applies to vector observations, but env 'hpbench-test/TinyImage-v0' has images"):
        check_env(RLConfig(env_id="hpbench-test/TinyImage-v0", normalize_obs=True))
    # convs 3→4 on 4x4 and 4→8 on 2x2 outputs, linear 32→16, heads 16→2 and 16→1 (2 FLOPs per multiply-add)
    assert flops == 2 * (3 * 9 * 4 * 16 + 4 * 9 * 8 * 4 + 32 * 16 + 16 * 2 + 16 * 1)


# -- config, optimizer, cost ---------------------------------------------------------------------

def test_config_errors_name_the_value():
    with pytest.raises(ValueError, match=r"steps_per_epoch must be a multiple of n_envs x n_steps = 8 x 256 = 2048, but got steps_per_epoch=3000"):
        RLConfig(steps_per_epoch=3000)
    with pytest.raises(ValueError, match=r"algorithm must be one of ppo, a2c, reinforce, but got algorithm='dqn'"):
        RLConfig(algorithm="dqn")
    with pytest.raises(ValueError, match=r"gamma must be a finite number >= 0.0 and <= 1.0, but got gamma=1.5"):
        RLConfig(gamma=1.5)
    assert RLConfig(algorithm="reinforce").epochs_per_update == 1 and RLConfig().epochs_per_update == 4


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw"])
def test_every_optimizer_builds_and_steps(name):
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch_optimizer(name, [p], lr=0.1, params={})
    p.sum().backward()
    opt.step()
    assert (p < 1).all()


def test_optimizer_rejects_unknown_keywords():
    with pytest.raises(ValueError, match=r"'sgd' does not accept the parameters \{'eps': 1e-05\}"):
        torch_optimizer("sgd", [torch.nn.Parameter(torch.ones(1))], lr=0.1, params={"eps": 1e-5})


def test_epoch_flops_counts():
    f = epoch_flops(forward_flops_per_sample=10, n_envs=2, n_steps=4, steps_per_epoch=16, update_epochs=3, n_minibatches=2, eval_steps=5)
    # 16 steps + 2 rollouts x 2 bootstrap forwards; 3 passes over 16 samples; backward 2x; 5 eval steps
    assert (f.rollout_forward, f.update_forward, f.update_backward, f.eval_forward, f.optimizer_steps) == (200, 480, 960, 50, 12)
    assert (f.forward, f.backward) == (730, 960)
    cfg = RLConfig()
    g = config_epoch_flops(cfg, forward_flops_per_sample=10)
    assert g.update_forward == 4 * 2048 * 10 and g.optimizer_steps == 16
    info = env_info("CartPole-v1")
    policy = build_policy(info, hidden=(64, 64), activation="tanh", cnn_channels=(), log_std_init=0.0, seed=0)
    mlp = 4 * 64 + 64 * 64  # per network, both actor (+64·2) and critic (+64·1)
    assert forward_flops_per_sample(policy, (4,)) == 2 * (2 * mlp + 64 * 2 + 64)


def test_env_step_time_is_measured_once_and_cached():
    cache: dict = {}
    s = measure_env_step_s("CartPole-v1", n=200, repeats=1, cache=cache)
    entry = cache[env_cache_key("CartPole-v1")]
    assert 0 < s < 1e-2 and entry["seconds_per_step"] == s and entry["gymnasium"] == gym.__version__
    entry["seconds_per_step"] = 123.0  # a cached value is returned as is
    assert measure_env_step_s("CartPole-v1", n=200, cache=cache) == 123.0
    assert env_cache_key("X-v0", {"b": 1, "a": 2}) == 'X-v0 {"a": 2, "b": 1}'
