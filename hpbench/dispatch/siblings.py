"""Sibling trials: configurations equal but for their learning rate and initialization, asked
together so that the helper trains them as one stacked model (:mod:`hpbench.dispatch.early_group`).

The searcher draws each sibling with the leader's other values fixed (Optuna's enqueued partial
point: the sampler fills in the keys it leaves out), so every sibling is the searcher's own
proposal and is told to it like any trial. How many: as many as the cost model fuses for the
leader's step on the trial's threads (:func:`hpbench.cost.fusion.fuse_members`), at most the
study's ``fuse_siblings``. This module runs in the driver (no torch).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from hpbench.space.space import SearchSpace
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study

SIBLING_PATHS = ("optimizer.lr", "train.init")  # what fused members may differ in (hpbench.config.siblings_differ)


def sibling_keys(space: SearchSpace, params: dict[str, Any], *, lr_scalable: bool) -> tuple[str, ...]:
    """The searched keys a sibling of ``params`` draws afresh (the others it takes from ``params``):
    the learning rate (where the schedule scales it) and the initialization, when searched without
    a condition."""
    paths = SIBLING_PATHS if lr_scalable else SIBLING_PATHS[1:]
    return tuple(d.key for d in space if d.path in paths and not d.when and d.key in params)


def ask_siblings(study: Study, ostudy: Any, params: dict[str, Any], *, n: int, quota: Any = None) -> list[tuple[Any, dict[str, Any]]]:
    """The Optuna trials (and their configurations) asked from ``ostudy`` to train fused with
    ``params``: a group of at most ``n`` with it (and ``fuse_siblings``), each taking one from
    ``quota`` (the search's count) where given; none where the configuration cannot fuse, the
    space leaves nothing to vary, or the searcher is a grid (it runs its points, and only those)."""
    n = min(study.settings.fuse_siblings, n)
    if n < 2 or study.settings.searcher == "grid":
        return []
    from hpbench.config import lr_scalable, unfusable
    from hpbench.cost.fusion import fuse_members, step_flops

    cfg = trial_config(study, params)
    keys = sibling_keys(study.space, params, lr_scalable=lr_scalable(cfg))
    if not keys or unfusable(cfg) is not None:
        return []
    fixed = study.space.encode({k: v for k, v in params.items() if k not in keys})
    out = []
    for _ in range(fuse_members(n_repeats=n, flops_per_step=step_flops(cfg), threads=cfg.threads) - 1):
        if quota is not None and not quota.take():
            break
        ostudy.enqueue_trial(fixed)
        trial = ostudy.ask()
        out.append((trial, study.space.define_by_run(trial)))
    return out


def member_futures(group: Future[list[dict[str, Any]]], n: int) -> list[Future[dict[str, Any]]]:
    """One future per member of a fused group's call (its ``n`` outcomes, in order), each settled as the call ends."""
    members: list[Future[dict[str, Any]]] = [Future() for _ in range(n)]

    def settle(f: Future[list[dict[str, Any]]]) -> None:
        try:
            outcomes = f.result()
        except BaseException as err:  # the helper died, or the call was cancelled: every member failed
            for m in members:
                m.set_exception(err)
            return
        for m, o in zip(members, outcomes, strict=True):
            m.set_result(o)

    group.add_done_callback(settle)
    return members
