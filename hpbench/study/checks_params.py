"""The rule that a searched parameter of an optimizer, a model family, a learning-rate schedule or
an initialization is active only where it is taken (:func:`searched_params_are_taken`), with what
it needs: which values of the searched optimizer / family / schedule / initialization a dimension
can be active with, following its ``when`` and its parents', and the ``when`` to write. Raises a :class:`~hpbench.errors.StudyError` naming the key to change, as
the other rules across keys (:mod:`hpbench.study.checks`) do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hpbench.errors import Problem, StudyError, shown
from hpbench.models import family_params
from hpbench.space.space import Dimension, SearchSpace
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.reader import Reader
from hpbench.train.initializers import INITIALIZERS
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES


def searched_params_are_taken(r: Reader, model: Mapping[str, Any], optimizer: Mapping[str, Any], space: SearchSpace, *,
                              lr_schedule: Mapping[str, Any] | None = None, train: Mapping[str, Any] | None = None) -> None:
    """A searched parameter of an optimizer (``optimizer.momentum``), of a model family
    (``model.hidden_size``), of a learning-rate schedule (``lr_schedule.gamma``) or of an
    initialization (``train.init_std``) is active only for the optimizers / families / schedules /
    initializations that take it: with those searched, its ``when`` leaves out every one that
    does not. Each is built with the parameters it takes, the others dropped (``build_optimizer``,
    ``build_model``, ``build_schedule``, ``initialize``), so an Adam trial recorded a momentum it
    never used, ranked by it, and fANOVA gave it an importance (a constant schedule's gamma, a
    Xavier initialization's std alike). A user family (``package.module:build``) is given every
    parameter: it takes them all."""
    problems: list[Problem] = []
    common = {"optimizer": set(K.OPTIMIZER), "model": {*K.MODEL, *N.task_keys(N.task_named(r), "model")}, "lr_schedule": set(K.LR_SCHEDULE)}
    owners = (("optimizer", "optimizer", "optimizer.name", optimizer.get("name"), _optimizer_takes),
              ("model", "model family", "model.family", model.get("family"), _family_takes),
              ("lr_schedule", "learning-rate schedule", "lr_schedule.name", (lr_schedule or {}).get("name"), _schedule_takes),
              ("train", "initialization", "train.init", (train or {}).get("init"), _init_takes))
    for section, what, owner_path, fixed, takes in owners:
        owner = next((d for d in space if d.path == owner_path), None)
        if owner is None:  # one fixed optimizer / family / schedule / initialization: [space] refused a parameter it does not take
            continue
        for dim in space:
            head, _, name = dim.path.partition(".")
            if head != section or "." in name or name in common.get(section, ()) or (section == "train" and name not in INIT_PARAMS):
                continue
            names = possible_values(space, dim, owner, fixed)
            taking = [n for n in names if takes(n, name)]
            if len(taking) == len(names):
                continue
            left = [n for n in names if n not in taking]
            if taking:
                rule = (f"is taken by the {_named(what, taking)} only, but is searched with {_named(what, left)} too, which "
                        f"{'does' if len(left) == 1 else 'do'} not take it (their trials would record a value they never used, and the "
                        "value would get an importance)")
                hint = when_hint(dim, owner.key, taking)
            else:
                rule = f"is taken by none of the {_named(what, names)} it is searched with (every trial would record a value it never used)"
                hint = f"remove it, or search {owner.key} over {_PLURAL[what]} that take it"
            problems += r.fail(f"space.{dim.key}", rule, shown(dim.dist.describe()), hint=hint).problems
    problems += _init_std_taken(r, train or {}, space)
    if problems:
        raise StudyError.of(problems)


def _init_std_taken(r: Reader, train: Mapping[str, Any], space: SearchSpace) -> list[Problem]:
    """``train.init_std`` (set in [train] or searched) with an initialization that is not searched
    and takes no standard deviation: every trial would train alike, its value ignored (bug hunt
    s48/h5: a grid over init_std with init = "xavier_uniform" ran three identical trials). With
    ``init`` searched, the rule above holds (a ``when`` on it)."""
    if any(d.path == "train.init" for d in space):
        return []
    init = train.get("init", "default")
    if not isinstance(init, str) or _init_takes(init, "init_std"):
        return []
    rule = f"is the standard deviation of init = \"normal\" only, but the study's init is {init!r}, which takes none (every trial would ignore it)"
    hint = 'set [train] init = "normal", or remove it'
    problems: list[Problem] = []
    for dim in space:
        if dim.path == "train.init_std":
            problems += r.fail(f"space.{dim.key}", rule, shown(dim.dist.describe()), hint=hint).problems
    if train.get("init_std") is not None:
        problems += r.fail("train.init_std", rule, train["init_std"], hint=hint).problems
    return problems


_PLURAL = {"optimizer": "optimizers", "model family": "model families", "learning-rate schedule": "learning-rate schedules",
           "initialization": "initializations"}
INIT_PARAMS = {"init_std": "std"}  # [train] keys that are an initialization's parameters -> the parameter


def _named(what: str, names: list[Any]) -> str:
    """``optimizer 'adam'``, ``optimizers 'adam', 'sgd'``."""
    return f"{what if len(names) == 1 else _PLURAL[what]} {', '.join(map(repr, names))}"


def _optimizer_takes(name: Any, param: str) -> bool:
    """Whether optimizer ``name`` is built with ``param`` (an unknown name is refused elsewhere)."""
    return not isinstance(name, str) or name not in OPTIMIZERS or param in OPTIMIZERS.get(name).params


def _schedule_takes(name: Any, param: str) -> bool:
    """Whether schedule ``name`` is built with ``param`` (an unknown name is refused elsewhere)."""
    return not isinstance(name, str) or name not in SCHEDULES or param in SCHEDULES.get(name).params


def _init_takes(name: Any, param: str) -> bool:
    """Whether initialization ``name`` takes the [train] key ``param`` (``init_std``: ``normal``'s std)."""
    return not isinstance(name, str) or name not in INITIALIZERS or INIT_PARAMS[param] in INITIALIZERS.get(name).params


def _family_takes(name: Any, param: str) -> bool:
    """Whether family ``name`` is built with ``param`` (a user family is given every parameter)."""
    params = family_params(name) if isinstance(name, str) else None
    return params is None or param in params


def possible_values(space: SearchSpace, dim: Dimension, owner: Dimension, fixed: Any) -> list[Any]:
    """The values of ``owner`` (the searched optimizer or family) a trial with ``dim`` active may
    have: those its conditions, and its parents' (transitively), allow; the fixed one too while
    ``owner`` itself may be inactive."""
    allowed = _allowed(space, dim, owner.key)
    if allowed is not None:
        return allowed
    values = list(owner.dist.grid_values() or ())
    return [*values, fixed] if owner.when and fixed is not None and fixed not in values else values


def _allowed(space: SearchSpace, dim: Dimension, key: str) -> list[Any] | None:
    """The values of dimension ``key`` with which ``dim`` can be active (None: any)."""
    allowed: list[Any] | None = None
    for parent, values in dim.when.items():
        up = list(values) if parent == key else _allowed(space, space.dim(parent), key)
        if up is not None:
            allowed = up if allowed is None else [v for v in allowed if v in up]
    return allowed


def when_hint(dim: Dimension, owner_key: str, taking: list[Any]) -> str:
    """The ``when`` that makes ``dim`` active for the ``taking`` values of ``owner_key`` only."""
    when = {**{k: list(v) for k, v in dim.when.items() if k != owner_key}, owner_key: taking}
    table = "{ " + ", ".join(f"{_toml_key(k)} = {json.dumps(v)}" for k, v in when.items()) + " }"
    return f"add when = {table}" if not dim.when else f"make it when = {table}"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
