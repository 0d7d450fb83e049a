"""Fused repeats in the dispatcher: the repeats of one configuration grouped as the cost model
decides (:mod:`hpbench.cost.fusion`), one Tune trial per group, its members' rows reported one
by one and labelled ``member`` so that the recorder files each under its own trial (rows, weights
and labels as an unfused repeat's).

A group runs :func:`hpbench.train.fused.train_fused` in its worker; a group that turns out not to
fuse there (a layer without a ``vmap`` batching rule, a model that draws random numbers through
``vmap``: :mod:`hpbench.train.fused_checks`) trains its members one after another,
reporting the same rows. A member's final weights are handed over as a file on the driver's
node (:class:`~hpbench.dispatch.trainable.Handoff`); a group on another node saves none. A failed
group is retried from its first epoch, every member with it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hpbench.dispatch.trainable import WEIGHTS_HANDOFF, Handoff, Replay, place, run_trial
from hpbench.results.columns import REPEAT_OF
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study

MEMBER = "member"  # a fused group's report: which member the row is of


def member_id(trial_id: str, member: int) -> str:
    """The results-table trial id of a fused group's member."""
    return f"{trial_id}.m{member}"


def n_runs(replays: list[Replay]) -> int:
    """Trials the replays add to the tables (a group: one per member)."""
    return sum(len(r.group) or 1 for r in replays)


def fuse_repeats(study: Study, replays: list[Replay]) -> list[Replay]:
    """The repeats with those of one configuration grouped where the cost model says fusing
    pays (as many members per group as it says, and no more than leave every one of the study's
    ``max_concurrent`` slots a group: a group trains on its trial's threads, so one group of 8
    would leave a second slot, and its cores, idle); the others unchanged."""
    from hpbench.config import unfusable
    from hpbench.cost.fusion import fuse_members, repeat_groups, step_flops

    by_config: dict[Any, list[Replay]] = {}
    for r in replays:
        by_config.setdefault(r.labels.get(REPEAT_OF), []).append(r)
    fuse = [1 if of is None or unfusable(cfg := trial_config(study, runs[0].params, seed=runs[0].seed))
            else fuse_members(n_repeats=len(runs), flops_per_step=step_flops(cfg), threads=cfg.threads) for of, runs in by_config.items()]
    out: list[Replay] = []
    sizes = repeat_groups(fuse, n_repeats=[len(runs) for runs in by_config.values()], max_concurrent=study.settings.max_concurrent)
    for runs, groups in zip(by_config.values(), sizes, strict=True):
        i = 0
        for n in groups:
            chunk, i = runs[i : i + n], i + n
            out.append(chunk[0] if len(chunk) == 1 else Replay(params=chunk[0].params, seed=chunk[0].seed, labels={}, group=tuple(chunk)))
    return out


def run_replay(config: dict[str, Any], *, study: Study, replays: list[Replay] | None = None, data: tuple[Any, Any] | None = None,
               handoff: Handoff | None = None, decide_at: frozenset[int] = frozenset()) -> None:
    """The trainable of a search or replay trial (:func:`~hpbench.dispatch.trainable.run_trial`),
    or of a fused group of repeats."""
    replay = replays[int(config["replay"])] if replays is not None and "replay" in config else None
    if replay is None or not replay.group:
        run_trial(config, study=study, replays=replays, data=data, handoff=handoff, decide_at=decide_at)
        return
    import ray

    if data is not None:
        from hpbench.data.prepare import prime

        prime(*data)
    gpus = ray.get_gpu_ids()
    cfgs = [place(trial_config(study, m.params, seed=m.seed), gpus) for m in replay.group]
    _run_group(cfgs, handoff=handoff)


def _run_group(cfgs: list[Any], *, handoff: Handoff | None) -> None:

    import ray
    from ray import tune

    from hpbench.train import weights
    from hpbench.train.fused import train_fused
    from hpbench.train.trainer import train

    node_id = ray.get_runtime_context().get_node_id()

    def report(member: int, row: dict[str, Any], record: Any) -> None:
        metrics = {**row, MEMBER: member, "node_id": node_id}
        if record is not None and handoff is not None and handoff.node_id == node_id:
            metrics[WEIGHTS_HANDOFF] = weights.save_new(record, handoff.incoming)
        tune.report(metrics)

    try:
        train_fused(cfgs, report=report, record=True)
        return
    except ValueError:  # not fusable after all (found when the group was built): the members one by one
        pass
    for k, c in enumerate(cfgs):
        final: dict[str, Any] = {}

        def keep(state: dict[str, Any], final: dict[str, Any] = final) -> None:
            final["weights"] = state.get("final_model")

        def one(row: dict[str, Any], k: int = k, final: dict[str, Any] = final) -> None:
            report(k, row, final.get("weights") if "stop_reason" in row else None)

        train(dataclasses.replace(c), report=one, on_state=keep)
