"""The Ray Tune function trainable: resolves the trial's configuration and runs the shared
trainer, reporting its epochs (plus the running best of the study metric, ``objective``,
which the scheduler acts on and Optuna records as the intermediate values; the final report adds
the trial's value, ``final_value``: its ``best_<metric>``, which Optuna is told) and checkpoints.

Costs measured here set two rhythms:

* a report blocks the trial until the driver has taken it (Tune's function trainables report
  synchronously): about 5 ms on 2 busy cores. Epochs are therefore reported together, at
  most every ``REPORT_EVERY_S`` (the report carries the earlier rows under ``epoch_rows``;
  the scheduler acts on ``epoch``, not on the report count), except the epochs at which the
  scheduler decides (ASHA's rungs, ``decide_at``), the last epoch, and every epoch when
  ``checkpoint_s = 0``: those are reported at once, so batching never delays a pruning. A trial
  that raises reports the epochs it holds before its error;
* a checkpoint costs about 14 ms (15 ms per report with one vs 1 ms without), so a trial
  checkpoints at most every ``[study] checkpoint_s`` seconds (0: every epoch) and at its last
  epoch. A trial that raised, or whose worker died, is retried by Tune from its last checkpoint;
  without retries (``max_failures = 0``, the default) no checkpoint is ever read, and a trial
  takes none before its last epoch (whose final weights the driver saves).

Each report also names the Ray node the trial runs on (``node_id``: two nodes on one machine
share an IP).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import time
from typing import Any

from hpbench.config import TrialConfig
from hpbench.dispatch.searchers import FINAL_VALUE, OBJECTIVE
from hpbench.results.ranking import trial_value
from hpbench.results.weights import WEIGHTS_FILE
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study

STATE_FILE = "trainer_state.pt"
EPOCH_ROWS = "epoch_rows"  # earlier epochs carried by a report
WEIGHTS_HANDOFF = "weights_file"  # the final weights, left on the driver's node
REPORT_EVERY_S = 1.0


def place(cfg: TrialConfig, gpu_ids: list[Any]) -> TrialConfig:
    """``device = "auto"`` means the trial's GPU when Ray gave it one (Ray sets
    ``CUDA_VISIBLE_DEVICES``, so that GPU is ``cuda``), else the CPU: a trial without a GPU
    share never lands on a GPU another trial holds."""
    if cfg.train.device != "auto":
        return cfg
    device = "cuda" if gpu_ids else "cpu"
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=device))


def epoch_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The epochs one report carries, oldest first (the report itself is the latest)."""
    latest = {k: v for k, v in result.items() if k != EPOCH_ROWS}
    return [*result.get(EPOCH_ROWS, ()), latest]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Replay:
    """A configuration run again after the search: with another seed (repeats) or on another
    device (``[train] devices``)."""

    params: dict[str, Any]
    seed: int
    labels: dict[str, Any]  # extra trial columns, e.g. repeat / repeat_of / seed
    device: str | None = None  # another device than the search's ([train] devices)
    group: tuple[Replay, ...] = ()  # fused repeats: these members trained together in one trial (hpbench.dispatch.fused)


def study_data(study: Study) -> tuple[Any, Any] | None:
    """The study's data prepared in the driver (key, splits), for :func:`run_trial`'s ``data``;
    None for streamed data, which the driver never loads (each trial streams its own), and for a
    task without a dataset (rl: each trial makes its own environments)."""
    from hpbench.data.prepare import config_kwargs, data_key, prepare_in_memory

    d = trial_config(study, {}).data
    if not d.dataset:
        return None
    kw = config_kwargs(d, study.settings.seed)
    splits = prepare_in_memory(**kw)
    return (data_key(**kw), splits) if splits is not None else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Handoff:
    """Where a trial on the driver's own node leaves its final weights: a plain file the driver
    moves into the results directory. Measured here, that saves ~30 ms per trial over a Tune
    checkpoint, which remains the path for trials on other nodes."""

    node_id: str
    incoming: str  # a folder on the driver's filesystem


def study_data_or_none(study: Study) -> tuple[Any, Any] | None:
    """:func:`study_data`, or None when the driver cannot load it (each trial then loads its own
    and reports its own error; the pre-flight makes that rare)."""
    try:
        return study_data(study)
    except Exception:
        return None


def run_trial(config: dict[str, Any], *, study: Study, replays: list[Replay] | None = None, data: tuple[Any, Any] | None = None,
              handoff: Handoff | None = None, decide_at: frozenset[int] = frozenset()) -> None:
    """A search trial (``config`` = the sampled parameters) or, with ``replays``, the replay
    ``config["replay"]``. ``data`` is the study's data prepared by the driver (a trial whose
    data settings differ, e.g. a searched ``data.*`` key or another seed, loads its own).
    ``decide_at``: the epochs at which the scheduler decides, reported at once."""
    import ray

    if data is not None:
        from hpbench.data.prepare import prime

        prime(*data)

    if replays is not None:
        replay = replays[int(config["replay"])]
        cfg = trial_config(study, replay.params, seed=replay.seed)
        if replay.device is not None:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, device=replay.device))
    else:
        cfg = trial_config(study, config)
    _run(place(cfg, ray.get_gpu_ids()), study=study, handoff=handoff, decide_at=decide_at)


def _run(cfg: TrialConfig, *, study: Study, handoff: Handoff | None, decide_at: frozenset[int]) -> None:
    import ray
    from ray import tune

    from hpbench.train import resume, weights
    from hpbench.train.trainer import train

    node_id = ray.get_runtime_context().get_node_id()
    best: list[float] = []
    values: dict[int, Any] = {}  # the study metric by epoch, for the trial's final value
    sign = 1.0 if study.settings.mode == "max" else -1.0
    pending: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    every_epoch = study.settings.checkpoint_s == 0
    retried = study.settings.max_failures > 0  # else only the last epoch's weights are ever read
    last_checkpoint = [time.monotonic()]
    last_report = [time.monotonic()]

    start_state = None
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            path = os.path.join(d, STATE_FILE)
            start_state = resume.load_state(path) if os.path.exists(path) else None  # tensors and plain data only
        best[:] = start_state.get("objective_best", []) if start_state else []
        values.update((int(r["epoch"]), r.get(study.settings.metric)) for r in (start_state or {}).get("history", ()))

    def on_state(state: dict[str, Any]) -> None:
        pending[:] = [state]

    def held() -> dict[str, Any]:
        """The report of the epochs held back (the latest, carrying the earlier ones); none held after it."""
        metrics = {**rows[-1], OBJECTIVE: best[0] if best else (-math.inf if sign > 0 else math.inf), "node_id": node_id}
        if len(rows) > 1:
            metrics[EPOCH_ROWS] = rows[:-1]
        rows.clear()
        return metrics

    def report(row: dict[str, Any]) -> None:
        value = row.get(study.settings.metric)
        if value is not None and math.isfinite(value) and (not best or sign * value > sign * best[0]):
            best[:] = [value]
        values[int(row["epoch"])] = value
        rows.append(row)
        now = time.monotonic()
        final = "stop_reason" in row
        # the last epoch checkpoints the final weights only: a trial that diverged before any epoch's
        # weights were kept has none (hpbench.train.best), and nothing is left to resume from
        checkpoint = bool(pending) and ("final_model" in pending[0] if final else retried and now - last_checkpoint[0] >= study.settings.checkpoint_s)
        if not (final or checkpoint or every_epoch or row["epoch"] in decide_at or now - last_report[0] >= REPORT_EVERY_S):
            return
        metrics = held()
        if final:  # what Optuna is told: the trials table's best_<metric>, of the weights the trial ended with
            metrics[FINAL_VALUE] = final_value(values, best_epoch=row.get("best_epoch"), mode=study.settings.mode)
        last_report[0] = now
        if final and pending and handoff is not None and handoff.node_id == node_id and "final_model" in pending[0]:
            tune.report({**metrics, WEIGHTS_HANDOFF: weights.save_new(pending[0]["final_model"], handoff.incoming)})
            return
        if not checkpoint:
            tune.report(metrics)
            return
        last_checkpoint[0] = now
        with tempfile.TemporaryDirectory(prefix="hpbench-ckpt-") as d:
            state = dict(pending[0])
            final_model = state.pop("final_model", None)  # the last epoch's: the driver saves it (results/<name>/weights/)
            if final_model is not None:  # training is over: only the weights are needed now
                weights.save(final_model, os.path.join(d, WEIGHTS_FILE))
            else:
                resume.save_state({**state, "objective_best": list(best)}, os.path.join(d, STATE_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    try:
        train(cfg, report=report, on_state=on_state, start_state=start_state)
    except Exception:
        # the epochs it finished but held back (short epochs are reported together) are reported
        # before the error, as Tune keeps every result of a trial that errored: the failed trial
        # lost them, and its line said "failed after 0 epochs" (bug hunt s52h2, finding 2)
        if rows:
            with contextlib.suppress(Exception):  # the trial's own error is the one to raise
                tune.report(held())
        raise


def final_value(values: dict[int, Any], *, best_epoch: int | None, mode: str) -> float:
    """A finished trial's value for Optuna from its study metric by epoch (``values``: epoch ->
    value, the epochs before a restored checkpoint included) and the trainer's ``best_epoch``: the
    trials table's ``best_<metric>`` (:func:`~hpbench.results.ranking.trial_value`), or the worst
    value where it has none. The running best it was told before differed under
    ``restore_best_weights`` with another monitor (bug hunt s52h2, finding 1)."""
    _, value = trial_value([values.get(e) for e in range(1, max(values, default=0) + 1)], best_epoch=best_epoch, mode=mode)
    if value is None:
        return -math.inf if mode == "max" else math.inf
    return value
