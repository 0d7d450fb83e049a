"""What every column of the results tables means (also in the README's "Results tables").

``hpbench.load(path)`` returns ``trials`` (one row per trial) and ``hpbench.load(path,
table="epochs")`` one row per trial and epoch. Every searched hyperparameter is its own typed
column named as in ``[space]`` (``lr`` float, ``model.depth`` Int64, ``optimizer`` string, a
mixed choice such as ``batch_size = [16, "full"]`` string); a conditional dimension is
missing (NA) in the trials where it was inactive.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Cost columns written by the cost model (hpbench/cost/); reports handle their absence.
PREDICTED_FLOPS = "predicted_flops"
FLOPS_SPENT = "flops_spent"
PREDICTED_S = "predicted_s"
# Repeats (re-runs of the top configurations with other seeds after the search).
REPEAT = "repeat"
REPEAT_OF = "repeat_of"
SEED = "seed"
DEVICE_OF = "device_of"
FUSED_MEMBERS = "fused_members"  # repeats trained together as one stacked model (hpbench/train/fused.py)
# Reinforcement learning (task rl).
STEPS_TO_SOLVE = "steps_to_solve"
ENV_STEPS = "env_steps"
# When the trainer reported an epoch (wall clock, seconds since the epoch): the race
# (benchmarks/race.py) places each epoch at it, finished trial or not, as it does a peer's report.
REPORTED_AT = "reported_at"
OPTUNA_TRIAL = "optuna_trial"  # a search trial's number in the Optuna storage (hpbench.dispatch.optuna_numbers)
EPOCH_CPU_S = "epoch_cpu_s"  # the epoch's CPU seconds (hpbench.train.trainer): epoch_s over it is the contention the trial met

TRIALS: dict[str, str] = {
    "trial": "trial number in start order (0, 1, ...); repeats continue the numbering",
    OPTUNA_TRIAL: "the search trial's number in the Optuna storage (optuna.db or --storage, as optuna-dashboard shows it), which "
                  "numbers trials as it receives them, each once it has finished (hpbench/dispatch/optuna_numbers.py): with "
                  "max_concurrent > 1 it may differ from trial. Written when the search ends (after a kill -9, by the resumed search, "
                  "from the Optuna trial's user attribute hpbench_trial_id = this row's trial_id); NA for repeats and device re-runs "
                  "(not Optuna trials), a trial the storage did not receive, and rows recorded before this column",
    "trial_id": "Ray Tune's trial id",
    "status": "running | finished | failed | interrupted (stopped by Ctrl-C before it ended: its epochs so far are kept; --resume runs it again)",
    "stop_reason": "completed (max_epochs) | solved (rl: val_return reached the reward threshold) | early_stopped | time_limit ([train] max_time_s) | pruned (by the scheduler) | diverged | failed",
    "error": "last line of the error of a failed trial",
    "<hyperparameter>": "one typed column per [space] key (NA where a conditional dimension was inactive)",
    "epochs": "epochs run",
    "best_epoch": "epoch (1-based) whose weights the trial ended with: saved (weights/<trial>.pt) and evaluated on the test split. "
                  "The epoch with the best value of the study metric; with restore_best_weights, early stopping's best epoch of its "
                  "monitor (hpbench/train/best.py). A trial stopped before its last epoch (pruned, failed) saves none: its epoch with "
                  "the best value of the study metric. NA for a trial that diverged before any epoch's weights were kept (in its "
                  "first epoch): its weights were not finite, and it saved none",
    "best_<metric>": "the study metric at best_epoch, i.e. of the saved model (what ranks trials; the best over the epochs run "
                     "unless restore_best_weights kept another monitor's best epoch)",
    "<metric>": "the study metric at best_epoch (best_<metric> is the same value where it is finite)",
    "train_s": "measured seconds of training (sum of epoch_s); NA for a trial that never trained an epoch",
    "wall_s": "seconds from trial start to end as seen by the driver (includes scheduling)",
    "started_at / ended_at": "Unix timestamps",
    "n_params": "trainable parameters of the model",
    "node_ip / hostname / pid": "where the trial ran",
    "es_best / es_best_epoch / es_wait / es_stopped_epoch": "early-stopping state at the end, as Keras' EarlyStopping keeps it: the "
    "monitored value's best, its epoch and the stopping epoch counted from 0 (Keras' count; best_epoch and the epochs table's "
    "epoch count from 1: es_best_epoch + 1 is the epoch whose weights restore_best_weights keeps), the epochs waited since",
    PREDICTED_FLOPS: "FLOPs the cost model predicted for the trial (when the cost model ran)",
    FLOPS_SPENT: "FLOPs actually spent (epochs run x FLOPs per epoch)",
    PREDICTED_S: "seconds the cost model predicted for the trial: every epoch to max_epochs, the first epoch's warm-up and the "
                 "slowdown of max_concurrent trials sharing the machine included (hpbench/cost/trial_time.py)",
    "flops_per_step / flops_per_epoch / predicted_step_s / predicted_epoch_s": "the cost model's FLOPs and seconds of one optimizer "
                                                                              "(gradient) step and of one epoch (supervised: the epoch's "
                                                                              "training steps, the last partial batch as its rows, and the "
                                                                              "validation split's forward passes; rl: of one update step, its "
                                                                              "epoch including the rollout and the evaluation)",
    "steps_per_epoch": "the optimizer (gradient) steps per epoch the cost model priced: supervised: batches per epoch; rl: gradient "
                       "steps (rollouts per epoch x update_epochs x n_minibatches), not train.steps_per_epoch, which counts "
                       "environment steps; gan: generator steps (g_steps_per_epoch, each after d_steps discriminator steps)",
    "env_step_s / predicted_env_epoch_s": "rl: the environment's own seconds per step (random actions drawn before the clock, "
                                          "measured once per machine, ~/.cache/hpbench/envs/), and the epoch's predicted seconds the "
                                          "device model does not price: hpbench's rollout, update and evaluation loops measured with a "
                                          "slim policy (the environment in them), less that policy's network (hpbench/train/rl/looptime.py)",
    "regime": "what bounds the trial's step in the cost model: compute-bound | memory-bound | overhead-bound (hpbench/cost/regime.py)",
    "predicted_s_p10 / predicted_s_p90": "the prediction's interval: P10 and P90 of measured / predicted over the device calibration's "
                                         "probes of the same regime (leave-one-out)",
    "predicted_spent_s (_p10 / _p90)": "predicted seconds (and interval) of the epochs the trial actually ran; prediction_error is "
                                       "(predicted_spent_s - train_s) / train_s",
    "corrected_s / correction": "predicted_s scaled by the study's measured / predicted ratio for the trial's regime, from the trials "
                                "ended before it was predicted (\"corrected from N trials\"; absent before 4 trials ended)",
    "corrected_s_p10 / corrected_s_p90": "the corrected prediction's interval: P10 and P90 of one trial's measured / predicted from the "
                                         "same ended trials' ratios (a Student-t prediction interval, hpbench/cost/correct.py)",
    "uncounted_layers": "layers whose FLOPs the count could not see, with why and the estimated shortfall (absent when all were counted)",
    "flops_short_per_step / flops_short_share": "estimated FLOPs per step the count may miss, and that as a share of the FLOPs (NaN: unknown)",
    "cost_note": "why a trial has no predicted cost, or how it was counted (absent when all went as usual)",
    REPEAT: "NA for search trials (select them with trials.repeat.isna()); 1..N for re-runs of a top configuration with another seed",
    REPEAT_OF: "the search trial a repeat re-runs (NA for search trials)",
    SEED: "the seed of a repeat (search trials use [study] seed)",
    FUSED_MEMBERS: "repeats only: how many seeds of the configuration trained together as one stacked model in one worker "
                   "(hpbench/train/fused.py; NA: trained alone). Each member's epoch_s is its share of the fused epoch",
    DEVICE_OF: "the search trial a device comparison re-runs on another device ([train] devices; NA for search trials)",
    "device": "the device type the trial trained on (cpu, cuda)",
    STEPS_TO_SOLVE: "rl: training environment steps when val_return first reached the reward threshold (NA: never solved)",
    ENV_STEPS: "rl: training environment steps run (evaluation steps not included)",
}

EPOCHS: dict[str, str] = {
    "trial / trial_id": "the trial (joins with the trials table)",
    "epoch": "1-based epoch",
    "train_loss": "mean training loss of the epoch (rl: policy + value_coef x value - entropy_coef x entropy)",
    "val_<metric>": "validation metrics after the epoch (val_loss, val_accuracy, ...)",
    "epoch_s": "measured seconds of the epoch",
    EPOCH_CPU_S: "CPU seconds the epoch took: the training thread's (time.thread_time) when the trial ran one thread, the trial process's "
                 "(time.process_time) otherwise; epoch_s / epoch_cpu_s is the contention the trial met (2: it got half a core). "
                 "NA: recorded before this column",
    REPORTED_AT: "when the trainer reported the epoch (after its validation), wall clock in seconds since the Unix epoch, on the trial's node; "
                 "a trial interrupted by Ctrl-C keeps the epochs it reported",
    "learning_rate": "the learning rate of the epoch ([lr_schedule]; with a per-step schedule, the rate at the epoch's first step)",
    "val_return / val_length": "rl: mean return and length of the evaluation's episodes (eval_episodes, deterministic policy, the same seeds every epoch)",
    "train_return / train_episode_length / train_episodes": "rl: the training episodes that ended in the epoch (raw rewards)",
    "train_entropy / train_approx_kl / train_clip_fraction": "rl: the update's policy entropy, approximate KL to the rollout's policy, share of clipped ratios",
    "train_policy_loss / train_value_loss / train_explained_variance / train_updates": "rl: the update's losses, the critic's explained variance, gradient steps",
    ENV_STEPS: "rl: training environment steps so far",
    "eval_env_steps": "rl: environment steps the evaluation took",
    "rollout_s / update_s / eval_s": "rl: the epoch's seconds collecting rollouts, updating, evaluating",
}


def value_dtype(values: Iterable[Any]) -> str | None:
    """The column type of a searched key holding ``values`` (None and NaN left out): ``"string"``
    for names, lists (their JSON labels) or numbers mixed with names, ``"boolean"``, ``"Int64"``,
    ``"float64"`` for numbers with a fraction; None for no values."""
    from hpbench.space.values import SCALARS

    kinds = {type(v) if isinstance(v, SCALARS) else str for v in values}
    if len(kinds) > 1 and not kinds <= {int, float}:
        return "string"
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "Int64"
    if kinds == {str}:
        return "string"
    return "float64" if kinds else None


# whole numbers among the trials table's own columns (the searched keys are typed by param_dtypes)
_INT_COLUMNS = frozenset({"epochs", "best_epoch", "es_best_epoch", "es_wait", "es_stopped_epoch", "n_params", "pid", "steps_per_epoch",
                          "batch_rows", OPTUNA_TRIAL, REPEAT, REPEAT_OF, SEED, DEVICE_OF, STEPS_TO_SOLVE, ENV_STEPS})
_TEXT_COLUMNS = frozenset({"trial_id", "status", "stop_reason", "error", "cost_note", "regime", "device"})
_FLOAT_PREFIXES = ("best_", "val_", "train_", "test_", "es_best")  # the metrics, their best values, the test split's


def empty_dtype(column: str) -> str | None:
    """The type of a trials-table column (not a searched key) that no row holds a value of, as it is
    where a row does: ``best_epoch`` Int64, the metric and ``best_<metric>`` float64 in a study whose
    every trial failed or diverged (an ``object`` column of None before, which ``nlargest`` refused).
    None for a column not known here (left as pandas reads it)."""
    if column in _INT_COLUMNS:
        return "Int64"
    if column in _TEXT_COLUMNS:
        return "string"
    if column.startswith(_FLOAT_PREFIXES) or column.endswith("_s"):
        return "float64"
    return None


def param_dtypes(space: Iterable[Any]) -> dict[str, str]:
    """Each searched key's column type as the trials that drew it hold it (a ``uniform``'s float64,
    a ``randint``'s Int64, a choice of names' string): the type a conditional key's column keeps
    where no trial had it active (an ``object`` column of None before, its type hanging on what the
    searcher happened to draw)."""
    import random

    out = {}
    for d in space:
        values = d.dist.grid_values() or (d.dist.sample(random.Random(0)),)
        dtype = value_dtype(values[:1] if isinstance(values, range) else values)  # a randint's: ints, never listed
        if dtype is not None:
            out[d.key] = dtype
    return out
