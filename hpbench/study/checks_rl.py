"""The rules across keys of an rl study (``[model] task = "rl"``), one function each; the
docstring says the rule. Like :mod:`hpbench.study.checks`, each raises a
:class:`~hpbench.errors.StudyError` naming the key to change, and :func:`check_all` reports every
rule broken. The environment is made once here (Gymnasium is imported only for rl studies), so a
study naming an environment that cannot be made, or whose spaces the policy cannot read, stops
before any trial starts.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hpbench.errors import Problem, StudyError, did_you_mean, shown
from hpbench.space.space import SearchSpace
from hpbench.study import names as N
from hpbench.study.reader import Reader
from hpbench.train.rl import keys as RK
from hpbench.train.rl.config import RLConfig

_MAX_COMBINATIONS = 1_000_000  # searched rollout shapes checked one by one up to this many


def check_all(r: Reader, *, data: Mapping[str, Any] | None, model: Mapping[str, Any] | None, train: Mapping[str, Any] | None,
              lr_schedule: Mapping[str, Any] | None, space: SearchSpace | None, has_distill: bool) -> None:
    """Every rl rule whose inputs were read without problems (the problems are gathered by ``r``)."""
    if model is not None and space is not None:
        r.attempt(policy_family, r, model, space)
    if data is not None and model is not None:
        r.attempt(env_can_be_made, r, data, model, train or {})
    if model is not None and train is not None:
        r.attempt(algorithm_keys, r, model, train)
    if train is not None and space is not None:
        r.attempt(rollouts_fill_an_epoch, r, train, space)
    if train is not None:
        r.attempt(cpu_only, r, train)
    if lr_schedule is not None:
        r.attempt(constant_lr, r, lr_schedule)
    if has_distill:
        r.attempt(no_distill, r)


def _values(space: SearchSpace, path: str, fixed: Any) -> Sequence[Any] | None:
    """The values ``path`` takes: its finite searched values, or its fixed one (None: a continuous range)."""
    dim = next((d for d in space if d.path == path), None)
    return dim.dist.grid_values() if dim is not None else (fixed,)


def policy_family(r: Reader, model: Mapping[str, Any], space: SearchSpace) -> None:
    """The policy network is an ``mlp`` (vector observations) or a ``cnn`` (image observations),
    fixed or searched, with at least one hidden layer, and without a parameter the rl networks do
    not have (dropout, kernel, pool, batch_norm)."""
    for family in N.families_named(r):
        if family not in RK.FAMILIES:
            raise r.fail("model.family", "the rl task's policy and value networks are " + " or ".join(
                f"{f} ({kind} observations)" for f, kind in RK.FAMILIES.items()), family)
    for name, why in RK.UNSUPPORTED_FAMILY_PARAMS.items():
        if name in model or f"model.{name}" in r.searched():
            key = f"model.{name}" if name in model else f"space.{r.searched()[f'model.{name}']}"
            raise r.fail(key, f"does not apply to task 'rl': {why}", model.get(name, shown("searched")))
    for depth in _values(space, "model.depth", model.get("depth", RK.MLP_DEFAULTS["depth"])) or ():
        if depth < 1:
            raise r.fail("model.depth", "must be >= 1 for an rl policy (the actor and the critic need a hidden layer)", depth)


def env_can_be_made(r: Reader, data: Mapping[str, Any], model: Mapping[str, Any], train: Mapping[str, Any]) -> None:
    """``data.env`` is a Gymnasium id that the installed gymnasium can make (or ``"module:EnvId"``,
    whose module registers it), with Box observations (vectors or HxWxC uint8 images) and Discrete
    or 1-D Box actions; the policy family reads its observations; ``normalize_obs`` is for vectors only."""
    from hpbench.train.rl.envs import HeadKind, ObsKind, env_info

    env = data["env"]
    _env_is_registered(r, env)
    try:
        info = env_info(env)
    except ValueError as err:
        raise r.fail("data.env", f"cannot be used: {err}", env) from None
    for family in N.families_named(r):
        if family in RK.FAMILIES and RK.FAMILIES[family] != info.obs_kind.value:
            other = next(f for f, kind in RK.FAMILIES.items() if kind == info.obs_kind.value)
            raise r.fail("model.family", f"reads {RK.FAMILIES[family]} observations, but {env} has {info.obs_kind.value} observations "
                                         f"{info.obs_shape} (use {other!r})", family)
    if info.head_kind is not HeadKind.GAUSSIAN and ("log_std_init" in train or "train.log_std_init" in r.searched()):
        raise r.fail(_searched_or("log_std_init", r, train, ("log_std_init",)),
                     f"applies to continuous (Box) actions only (a Gaussian policy's log-std), but {env} has discrete actions",
                     train.get("log_std_init", shown("searched")))
    if info.obs_kind is ObsKind.IMAGE and (train.get("normalize_obs") or "train.normalize_obs" in r.searched()):
        raise r.fail("train.normalize_obs", f"applies to vector observations, but {env} has images (the encoder scales them to [0, 1])",
                     train.get("normalize_obs", shown("searched")))


def _env_is_registered(r: Reader, env: str) -> None:
    """``env`` (its module imported first, for ``"module:EnvId"``) is in Gymnasium's registry; the
    error names a close id, or how to register one's own."""
    import gymnasium as gym

    from hpbench.train.rl.envs import REGISTER_HINT, EnvModuleError, import_env_module, split_env_id

    try:
        name = import_env_module(env)
    except EnvModuleError as err:
        cause = err.__cause__ or err
        raise r.fail("data.env", f"the module of a 'module:EnvId' id must import ({type(cause).__name__}: {cause})", env,
                     hint="a package.module importable from the study's folder, an installed package or PYTHONPATH") from None
    if name in gym.registry:
        return
    module = split_env_id(env)[0]
    if module:  # a close id among those the module registers (gym's others cannot be named as module:EnvId)
        own = registered_by(module, gym.registry)
        close = difflib.get_close_matches(name, own, n=1, cutoff=0.6)
        ids = [f"{module}:{i}" for i in (close or own)]
        hint = (f"did you mean {ids[0]!r}?" if close else "it registers " + ", ".join(repr(i) for i in ids[:5])
                + (f" and {len(ids) - 5} more" if len(ids) > 5 else "") if ids else "it registers no environment")
        raise r.fail("data.env", f"module {module!r} does not register {name!r} (gymnasium.register({name!r}, entry_point=...))",
                     env, hint=hint)
    close = difflib.get_close_matches(name, list(gym.registry), n=1, cutoff=0.6)
    known = did_you_mean(env, close) if close else "the ids gymnasium.pprint_registry() lists"
    raise r.fail("data.env", "unknown Gymnasium environment", env, hint=f"{known}; {REGISTER_HINT}")


def registered_by(module: str, registry: Mapping[str, Any]) -> list[str]:
    """The ids in Gymnasium's ``registry`` whose entry point lives in ``module``'s top-level package
    (``gym.register("LineEnv-v0", entry_point=Line)`` in ``mycode/envs.py``: ``mycode.envs.Line``)."""
    package = module.split(".")[0]
    out = []
    for env_id, spec in registry.items():
        ep = getattr(spec, "entry_point", None)
        where = ep.partition(":")[0] if isinstance(ep, str) else getattr(ep, "__module__", "")
        if isinstance(where, str) and (where == package or where.startswith(package + ".")):
            out.append(env_id)
    return sorted(out)


def algorithm_keys(r: Reader, model: Mapping[str, Any], train: Mapping[str, Any]) -> None:
    """With ``model.algorithm`` fixed (not searched), a [train] key it does not read (``clip_range``
    and ``clip_range_vf`` are PPO's, ``gae_lambda`` PPO's and A2C's) is neither set nor searched: it
    would be ignored silently. A searched algorithm accepts them (gate them with ``when``)."""
    if "model.algorithm" in r.searched():
        return
    algorithm = model.get("algorithm", RK.MODEL["algorithm"].default)
    problems: list[Problem] = []
    for name, users in RK.ALGORITHM_KEYS.items():
        if algorithm not in users and (name in train or f"train.{name}" in r.searched()):
            key = _searched_or(name, r, train, (name,))
            value = r.raw["space"][key.removeprefix("space.")] if key.startswith("space.") else train[name]  # the named key's own value
            problems += r.fail(key, f"applies to algorithm {' and '.join(repr(u) for u in users)} only, not {algorithm!r} (it would be ignored)",
                               value).problems
    if problems:
        raise StudyError.of(problems)


def rollouts_fill_an_epoch(r: Reader, train: Mapping[str, Any], space: SearchSpace) -> None:
    """An epoch is a whole number of rollouts: ``steps_per_epoch`` is a multiple of ``n_envs x
    n_steps``, and ``n_minibatches`` is at most ``n_envs x n_steps``, for every combination of the
    fixed and searched values (search them with ``choice`` over divisors; a searched combination
    that breaks the rule is refused here, never adjusted)."""
    default = RLConfig()
    names = ("n_envs", "n_steps", "steps_per_epoch", "n_minibatches")
    fixed = {"n_envs": default.n_envs, "n_steps": default.n_steps, "steps_per_epoch": default.steps_per_epoch, "n_minibatches": 1}
    values = {n: _values(space, f"train.{n}", train.get(n, fixed[n])) for n in names}
    if any(v is None for v in values.values()) or math.prod(len(v or ()) for v in values.values()) > _MAX_COMBINATIONS:
        return  # a continuous range: the trial's RLConfig checks its own values
    for n_envs, n_steps, per_epoch, minibatches in itertools.product(*(values[n] or () for n in names)):
        rollout = n_envs * n_steps
        if per_epoch % rollout:  # named at the first of them searched, with that key's own value
            related = ("n_envs", "n_steps", "steps_per_epoch")
            key = _searched_or("steps_per_epoch", r, train, related)
            name = next((n for n in related if f"train.{n}" in r.searched()), "steps_per_epoch")
            rule = (f"must be a multiple of n_envs x n_steps (here {n_envs} x {n_steps} = {rollout})" if name == "steps_per_epoch" else
                    f"must make n_envs x n_steps (here {n_envs} x {n_steps} = {rollout}) divide train.steps_per_epoch ({per_epoch})")
            raise r.fail(key, rule, {"n_envs": n_envs, "n_steps": n_steps, "steps_per_epoch": per_epoch}[name],
                         hint="search n_envs and n_steps with choice over values whose products divide steps_per_epoch")
        if minibatches > rollout:
            raise r.fail(_searched_or("n_minibatches", r, train, ("n_minibatches",)),
                         f"train.n_minibatches must be <= n_envs x n_steps = {rollout}", minibatches)


def _searched_or(name: str, r: Reader, train: Mapping[str, Any], related: tuple[str, ...]) -> str:
    """The key to name: the first of ``related`` searched in [space] (as written there), else ``train.<name>``."""
    searched = r.searched()
    hit = next((searched[f"train.{n}"] for n in related if f"train.{n}" in searched), None)
    return f"space.{hit}" if hit is not None else f"train.{name}"


def cpu_only(r: Reader, train: Mapping[str, Any]) -> None:
    """An rl trial trains on the CPU: its environments step there, and its small policy networks
    would spend a GPU's time on transfers (``train.device`` is ``cpu``, or ``auto``, which means the CPU)."""
    if train.get("device") == "cuda":
        raise r.fail("train.device", "the rl task trains on the CPU (environments step there; small policies gain nothing from a GPU)", "cuda")


def constant_lr(r: Reader, lr_schedule: Mapping[str, Any]) -> None:
    """An rl trial keeps the optimizer's learning rate: ``[lr_schedule]`` stays ``constant``."""
    if lr_schedule.get("name", "constant") != "constant" or "lr_schedule.name" in r.searched():
        key = "lr_schedule.name" if "lr_schedule.name" not in r.searched() else f"space.{r.searched()['lr_schedule.name']}"
        raise r.fail(key, "the rl task keeps the optimizer's lr (learning-rate schedules are for the supervised task)",
                     lr_schedule.get("name", shown("searched")))


def no_distill(r: Reader) -> None:
    """Distillation learns from a supervised teacher's outputs: not in an rl study."""
    raise r.fail("distill", "does not apply to task 'rl'")
