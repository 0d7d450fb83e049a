"""The keys a study file may hold, section by section, with the rule each value must satisfy.

``model`` and ``optimizer`` (and ``data`` for a dataset's own options) also accept the
parameters of the chosen family / optimizer / dataset; those come from the registries.
"""

from __future__ import annotations

from hpbench.registry import Param, Registered
from hpbench.rules import Any_, Bool, Either, Float, Int, ListOf, Literal, OneOf, Str
from hpbench.strategies import SCHEDULERS, SEARCHERS

PREPROCESS = ("standardize", "minmax", "augment")
DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16", "fp16")
CALIBRATION = ("none", "temperature")

STUDY = {
    "name": Param(Str()),
    "seed": Param(Int(min=0), 0),
    "metric": Param(Str(), "val_loss"),
    "mode": Param(OneOf(("min", "max"), "mode")),
    "trials": Param(Int(min=1), 10),
    "searcher": Param(Registered(SEARCHERS), "tpe"),
    "scheduler": Param(Registered(SCHEDULERS), "asha"),
    "max_concurrent": Param(Int(min=1), 1),
    "max_failures": Param(Int(min=0), 0),
    "checkpoint_s": Param(Float(min=0.0), 1.0),  # seconds between a trial's checkpoints; 0 = every epoch
    "grace_period": Param(Int(min=1), 1),
    "reduction_factor": Param(Int(min=2), 3),
    "enqueue": Param(ListOf(Any_(), min_len=1), ()),  # points of the space evaluated first
    "repeats": Param(Int(min=0), 0),  # re-run the top configurations with this many other seeds
    "repeats_top": Param(Int(min=1), 3),  # how many top configurations the repeats re-run
}

DATA = {
    "dataset": Param(Str()),
    "val_fraction": Param(Float(min=0.0, max=1.0, min_open=True, max_open=True), 0.2),
    "test_fraction": Param(Float(min=0.0, max=1.0, max_open=True), 0.0),
    "preprocess": Param(ListOf(OneOf(PREPROCESS, "preprocessing step")), ()),
}

MODEL = {
    "family": Param(Str()),
    "init_from": Param(Str()),  # "RESULTS_DIR:TRIAL": start from a saved trial's weights
    "freeze": Param(Int(min=1)),  # freeze all but the last k layers (k >= the layer count freezes nothing)
}

OPTIMIZER = {
    "name": Param(Str(), "adam"),
    "lr": Param(Float(min=0.0, min_open=True), 1e-3),
}

EARLY_STOPPING = {
    "monitor": Param(Str(), "val_loss"),
    "min_delta": Param(Float(), 0.0),
    "patience": Param(Int(min=0), 0),
    "mode": Param(OneOf(("auto", "min", "max"), "mode"), "auto"),
    "baseline": Param(Float()),
    "restore_best_weights": Param(Bool(), False),
    "start_from_epoch": Param(Int(min=0), 0),
}

TRAIN = {
    "max_epochs": Param(Int(min=1), 20),
    "batch_size": Param(Either((Int(min=1), Literal("full")), 'a positive integer or "full"'), 32),
    "init": Param(Str(), "default"),
    "init_std": Param(Float(min=0.0, min_open=True)),  # the standard deviation of init = "normal" (default 0.05)
    "device": Param(OneOf(DEVICES, "device"), "cpu"),
    "calibration": Param(OneOf(CALIBRATION, "calibration"), "none"),
    "precision": Param(OneOf(PRECISIONS, "precision"), "fp32"),  # bf16/fp16: autocast mixed precision
    "devices": Param(ListOf(OneOf(("cpu", "cuda"), "device"), min_len=1)),  # the same configurations on each device
    "clip_norm": Param(Float(min=0.0, min_open=True)),  # clip the global gradient norm to this
    "clip_value": Param(Float(min=0.0, min_open=True)),  # clip each gradient element to [-v, v]
    "label_smoothing": Param(Float(min=0.0, max=1.0, max_open=True), 0.0),  # classification only
}

# [lr_schedule]: a registered schedule (hpbench.train.schedules) and the parameters of every schedule the study may use.
LR_SCHEDULE = {
    "name": Param(Str(), "constant"),
}

DISTILL = {
    "teacher": Param(Str()),  # "RESULTS_DIR:TRIAL": a finished trial of another study
    "alpha": Param(Float(min=0.0, max=1.0), 0.5),
    "temperature": Param(Float(min=0.0, min_open=True), 4.0),
}

RESOURCES = {
    "cpus_per_trial": Param(Float(min=0.0, min_open=True), 1.0),
    "gpus_per_trial": Param(Float(min=0.0), 0.0),
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
