"""The keys a study file may hold, section by section, with the rule each value must satisfy.

``model`` and ``optimizer`` (and ``data`` for a dataset's own options) also accept the
parameters of the chosen family / optimizer / dataset; those come from the registries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpbench.data.kinds import KINDS
from hpbench.registry import Param, Registered
from hpbench.rules import Any_, Bool, Either, Float, Int, ListOf, Literal, OneOf, RuleError, Str
from hpbench.space.space import MAX_GRID_POINTS
from hpbench.strategies import SCHEDULERS, SEARCHERS
from hpbench.tracking import LOGGERS
from hpbench.train.task import SUPERVISED, TASKS

SCALES = ("standardize", "minmax")  # per-feature affine scalings fitted on the training split
PREPROCESS = (*SCALES, "augment")
DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16", "fp16")
CALIBRATION = ("none", "temperature")

# Upper bounds far beyond any search a machine runs, which keep the counts within what the searchers,
# Ray and the cost model take (``trials = 10**30`` or ``max_epochs = 10**30`` hung the estimate, bug hunt s49/h2)
MAX_TRIALS = 1_000_000_000
MAX_EPOCHS = 1_000_000
# the estimate prices each repeat (``repeats = 10**30`` hung it; 100,000 took 75 s here), and numpy's
# logarithms in the rung schedules take no integer beyond int64 (``reduction_factor = 10**30`` crashed a
# search with a traceback): bounds a study never meets, so each is refused with its key and value instead
MAX_REPEATS = 10_000
MAX_COUNT = 1_000_000  # concurrency, retries, grace epochs, reduction factors


@dataclass(frozen=True)
class Steps(ListOf):
    """``data.preprocess``: known steps, each listed once, and one scaling at most. Both scalings
    fitted on the training split, the second would replace the first: data in memory applied
    both (the last one counted), streamed data the first only (bug hunt s51/h4); a searched
    preprocess is held to it choice by choice, as its choices are checked by this rule."""

    def check(self, value: Any) -> tuple[Any, ...]:
        steps = super().check(value)
        twice = next((s for i, s in enumerate(steps) if s in steps[:i]), None)
        if twice is not None:
            raise RuleError(f"lists {twice!r} twice: list each step once")
        if all(s in steps for s in SCALES):
            raise RuleError(f"{' and '.join(SCALES)} both scale the features (the second would replace the first): list one")
        return steps

STUDY = {
    "name": Param(Str(), doc="names the results folder (results/<name>/) and the Optuna study; default: the file's stem, each character other than a letter, digit, '-', '_' or '.' read as '_'"),
    "seed": Param(Int(min=0, max=2**32 - 1), 0, "seeds the splits, initialization, shuffling and the searcher (below 2**32: Optuna's samplers take no larger seed; "
                  "a built-in searcher draws each trial from the seed and its trial number: random draws do not depend on timing)"),
    "metric": Param(Str(), "val_loss", "what ranks trials: a validation metric the task reports (val_loss, val_accuracy, ...; task rl: val_return, its default; task gan: val_modes_hq on ring8/grid25, else val_frechet_distance)"),
    "mode": Param(OneOf(("min", "max"), "mode"), doc="whether a lower or higher metric is better; inferred from the metric if omitted"),
    "trials": Param(Int(min=1, max=MAX_TRIALS), 10, f"trials to run (grid search runs its whole grid instead, at most {MAX_GRID_POINTS:,} points); "
                    "with --budget-s, a large count searches until the budget is spent"),
    "searcher": Param(Registered(SEARCHERS), "tpe", "what configuration runs next (see Searchers)"),
    "scheduler": Param(Registered(SCHEDULERS), "asha-rank", "which running trials are pruned (see Schedulers)"),
    "max_concurrent": Param(Int(min=1, max=MAX_COUNT), 1, "trials running at once"),
    "max_failures": Param(Int(min=0, max=MAX_COUNT), 0, "retries of a failed trial (from its last checkpoint) before it counts as failed"),
    "checkpoint_s": Param(Float(min=0.0), 1.0, "seconds between a trial's checkpoints; 0 = every epoch"),
    "grace_period": Param(Int(min=1, max=MAX_COUNT), 1, "epochs a trial runs before the scheduler may prune it"),
    "reduction_factor": Param(Int(min=2, max=MAX_COUNT), 3, "ASHA keeps the top 1/reduction_factor of trials at each rung"),
    "enqueue": Param(ListOf(Any_(), min_len=1), (), "points of the space evaluated first: tables of searched keys (omitted keys are sampled)"),
    "default_first": Param(Bool(), True, "without enqueue, run a default configuration first: the study's own values of searched keys, "
                           "else Adam at its default learning rate, batch size near 32, the library's initialization, the middle "
                           "of the other ranges (README: Study files)"),
    "fuse_siblings": Param(Int(min=1, max=64), 1, "the early trials trained while Ray starts: up to this many configurations equal but for "
                           "their learning rate and initialization train as one stacked model, where the cost model says one step "
                           "is small enough to gain (1, the default: one at a time; README: Fused siblings)"),
    "repeats": Param(Int(min=0, max=MAX_REPEATS), 0, "after the search, re-run the top configurations with this many other seeds"),
    "repeats_top": Param(Int(min=1, max=MAX_TRIALS), 3, "how many top configurations the repeats re-run"),
    "keep_weights": Param(Either((Int(min=1, max=MAX_TRIALS), Literal("all")), f'an integer from 1 to {MAX_TRIALS:,} or "all"'), "all",
                          "the finished search trials whose weights files (results/<name>/weights/) are kept: all, or the N best by the "
                          "metric (at least repeats_top, which the test split reads); the others' files are deleted as the search goes "
                          "(README: Reports)"),
    "loggers": Param(ListOf(Registered(LOGGERS)), (), "experiment tracking: tensorboard, mlflow, csv (see Loggers; none by default)"),
}

DATA = {
    "dataset": Param(Str(), doc="a built-in dataset (see Datasets), a .csv/.parquet/.npz/.npy file or 'package.module:load' (required; .npy inputs may be named by x instead)"),
    "val_fraction": Param(Float(min=0.0, max=1.0, min_open=True, max_open=True), 0.2, "share of the samples held out for validation (stratified for classification)"),
    "test_fraction": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "share held out as a test split, evaluated once for the best configurations"),
    "preprocess": Param(Steps(OneOf(PREPROCESS, "preprocessing step")), (), "steps fitted on the training split: standardize or minmax (one of them), "
                        "augment (images); each listed once"),
    "shape": Param(ListOf(Int(min=1), min_len=1, max_len=3), doc="each sample's shape in its kind's layout: [L] or [C, L] (signal), [L, C] (sequence), [C, H, W] (image); reshapes flat feature columns"),
    "kind": Param(OneOf(KINDS, "data kind"), doc="how models read a sample: tabular, signal (C, L), sequence (L, C), image (C, H, W); inferred when left out"),
    "stream": Param(Either((Bool(), Literal("auto")), 'true, false or "auto"'), "auto",
                    "read batches from where the data is (.npy files, user datasets) instead of loading it; auto: when larger than 256 MiB"),
    "num_workers": Param(Int(min=0, max=256), 0, "DataLoader worker processes reading streamed data (0: the trial's own process)"),
}

MODEL = {
    "task": Param(Registered(TASKS), SUPERVISED, "what the trial learns: supervised (a dataset's classification or regression), rl (a policy on a Gymnasium environment) or gan (a generator of the dataset's samples)"),
    "family": Param(Str(), doc="a model family (see Model families) or 'package.module:build' (required, fixed here or searched)"),
    "init_from": Param(Str(), doc="'RESULTS_DIR:TRIAL': start from a saved trial's weights"),
    "freeze": Param(Int(min=1), doc="with init_from: freeze all but the last k layers (k >= the layer count freezes nothing)"),
}

OPTIMIZER = {
    "name": Param(Str(), "adam", "the optimizer (see Optimizers)"),
    "lr": Param(Float(min=0.0, min_open=True), 1e-3, "learning rate"),
}

EARLY_STOPPING = {
    "monitor": Param(Str(), "val_loss", "the validation metric watched"),
    "min_delta": Param(Float(), 0.0, "smallest change that counts as an improvement"),
    "patience": Param(Int(min=0), 0, "epochs without improvement before training stops"),
    "mode": Param(OneOf(("auto", "min", "max"), "mode"), "auto", "whether lower or higher is better; auto: from the monitored metric's name"),
    "baseline": Param(Float(), doc="stop if the monitored value does not beat this within patience epochs"),
    "restore_best_weights": Param(Bool(), False, "end with the weights of the best epoch"),
    "start_from_epoch": Param(Int(min=0), 0, "epochs of warm-up before improvements are watched"),
}

TRAIN = {
    "max_epochs": Param(Int(min=1, max=MAX_EPOCHS), 20, "epochs a trial runs at most"),
    "max_time_s": Param(Float(min=0.0, min_open=True), doc="seconds a trial trains at most: it ends after the first epoch whose "
                        "cumulative seconds (training and validation) reach this, stop reason time_limit, as at max_epochs "
                        "(its best weights kept, saved, the test split evaluated); default: no limit"),
    "batch_size": Param(Either((Int(min=1), Literal("full")), 'a positive integer or "full"'), 32, 'samples per step; "full" = full-batch gradient descent'),
    "init": Param(Str(), "default", "weight initialization of every layer's kernel (see Initializations); biases are zeroed, a learned positional embedding keeps its own"),
    "init_std": Param(Float(min=0.0, min_open=True), doc='the standard deviation of init = "normal" (default 0.05)'),
    "device": Param(OneOf(DEVICES, "device"), "cpu", "where trials train; auto: cuda when available"),
    "calibration": Param(OneOf(CALIBRATION, "calibration"), "none", "temperature: fit a temperature on the validation split after training"),
    "precision": Param(OneOf(PRECISIONS, "precision"), "fp32", "bf16/fp16: autocast mixed precision"),
    "devices": Param(ListOf(OneOf(("cpu", "cuda"), "device"), min_len=1), doc="run the same configurations on each device listed (the first one searches)"),
    "clip_norm": Param(Float(min=0.0, min_open=True), doc="clip the global gradient norm to this (clip_grad_norm_)"),
    "clip_value": Param(Float(min=0.0, min_open=True), doc="clip each gradient element to [-v, v]"),
    "label_smoothing": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "smooth the training loss's targets (classification only)"),
}

# [lr_schedule]: a registered schedule (hpbench.train.schedules) and the parameters of every schedule the study may use.
LR_SCHEDULE = {
    "name": Param(Str(), "constant", "the learning-rate schedule (see Learning-rate schedules)"),
}

DISTILL = {
    "teacher": Param(Str(), doc="'RESULTS_DIR:TRIAL': a finished trial of another study (required)"),
    "alpha": Param(Float(min=0.0, max=1.0), 0.5, "weight of the teacher's soft targets in the loss"),
    "temperature": Param(Float(min=0.0, min_open=True), 4.0, "softening temperature of both models' outputs"),
}

RESOURCES = {
    "cpus_per_trial": Param(Float(min=0.0, min_open=True), 1.0, "CPUs Ray reserves per trial (= torch threads in the trial)"),
    "gpus_per_trial": Param(Float(min=0.0), 0.0, "GPUs Ray reserves per trial (fractions share a GPU)"),
}

SECTIONS = ("study", "data", "model", "optimizer", "lr_schedule", "train", "resources", "space", "distill")

# Short names for the dimensions people search most: key in [space] -> configuration path.
ALIASES = {
    "optimizer": "optimizer.name",
    "lr": "optimizer.lr",
    "batch_size": "train.batch_size",
    "init": "train.init",
    "family": "model.family",
    "max_epochs": "train.max_epochs",
    "lr_schedule": "lr_schedule.name",
}
