"""Reinforcement learning: policy-gradient agents (PPO, A2C, REINFORCE with a baseline) on
Gymnasium environments, trained one epoch (a fixed number of environment steps) at a time.

The data flow, one module per step: :mod:`config` (every knob) → :mod:`envs` (seeded vector
environments, what the spaces ask for) → :mod:`policy` (actor-critic network) →
:mod:`rollout` (collect steps) → :mod:`returns` (discounted returns, GAE) → :mod:`ppo` /
:mod:`reinforce` (losses) → :mod:`update` (minibatch epochs) → :mod:`evaluate` (deterministic
returns) → :mod:`run` (``RLRun.train_epoch``, checkpoints). :mod:`cost` counts the FLOPs of an
epoch and measures an environment's step time.

Importing this package imports neither torch nor gymnasium; :mod:`config` is free of both.
"""
