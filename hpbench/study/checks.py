"""The rules that tie keys together, one function each; the docstring says the rule.

Each takes the validated pieces it relates and raises a :class:`~hpbench.errors.StudyError`
naming the key to change. :func:`hpbench.study.parse.parse_study` calls each of them whose inputs
were read without problems, and reports every rule broken (not only the first).
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from hpbench.data.datasets import DATASETS
from hpbench.errors import Problem, StudyError, did_you_mean, shown
from hpbench.models import FAMILIES, family_reads
from hpbench.space.space import MAX_GRID_POINTS, SearchSpace
from hpbench.study import names as N
from hpbench.study.reader import Reader
from hpbench.study.schema import Resources
from hpbench.tracking import LOGGERS
from hpbench.train.early_stopping import infer_mode

MAX_PAIRS = 1_000_000  # searched (d_model, heads) pairs checked one by one up to this many
REGRESSION_RULE = "applies to classification tasks only, but the dataset is a regression task"


def not_for_task(r: Reader, task: str, section: str, table: Mapping[str, Any]) -> None:
    """A section holds only keys the study's task takes: the common keys a task does not take
    (rl: ``data.dataset``, ``train.batch_size``, ...) and another task's own keys
    (``train.n_envs`` without ``task = "rl"``) are refused, each named."""
    problems: list[Problem] = []
    for key in table:
        path = f"{section}.{key}"
        owner = N.task_owner(path)
        if path in N.task_rejects(task):
            problems += r.fail(path, f"does not apply to task {task!r}", table[key]).problems
        elif owner is not None and owner != task and key not in N.task_keys(task, section):
            problems += r.fail(path, f"applies to task {owner!r} only (set [model] task = {owner!r})", table[key]).problems
    if problems:
        raise StudyError.of(problems)


def split_fractions(r: Reader, data: Mapping[str, Any]) -> None:
    """The validation and test splits leave samples to train on: val_fraction + test_fraction < 1."""
    if data["val_fraction"] + data["test_fraction"] >= 1.0:
        raise r.fail("data.val_fraction", "val_fraction + test_fraction must be < 1", data["val_fraction"] + data["test_fraction"])


def freeze_needs_init_from(r: Reader, model: Mapping[str, Any]) -> None:
    """``model.freeze`` (fixed or searched) needs ``model.init_from``: freezing the layers of a
    fresh model trains a random feature extractor."""
    if ("freeze" in model or "model.freeze" in r.searched()) and "init_from" not in model:
        raise r.fail("model.freeze", "needs model.init_from (freezing layers of a fresh model trains a random feature extractor)")


def devices_listed_once(r: Reader, train: Mapping[str, Any]) -> None:
    """``train.devices`` lists each device once."""
    devices = train["devices"]
    if len(set(devices)) != len(devices):
        raise r.fail("train.devices", "must list each device once", list(devices))


def device_is_first_of_devices(r: Reader, train: Mapping[str, Any], table: Mapping[str, Any]) -> None:
    """With ``train.devices``, ``train.device`` (the one the search runs on) is left out or is the first listed."""
    first = train["devices"][0]
    if "device" in table and table["device"] != first:
        raise r.fail("train.device", f"must be the first of train.devices ({first!r}) or left out: the search runs there", table["device"])


def classification_only(
    r: Reader, *, task: str | None, data: Mapping[str, Any], train: Mapping[str, Any], distill: Mapping[str, Any] | None
) -> None:
    """Distillation, temperature calibration and label smoothing need class outputs: not on a regression task."""
    if task != "regression":
        return
    if distill is not None:
        raise r.fail("distill", REGRESSION_RULE, shown(str(data["dataset"])))
    if train.get("calibration", "none") != "none":
        raise r.fail("train.calibration", REGRESSION_RULE, train["calibration"])
    if train.get("label_smoothing", 0.0) or "train.label_smoothing" in r.searched():
        key = "train.label_smoothing" if train.get("label_smoothing", 0.0) else f"space.{r.searched()['train.label_smoothing']}"
        raise r.fail(key, REGRESSION_RULE, train.get("label_smoothing", shown("searched")))


def milestones_increase(r: Reader, schedule: Mapping[str, Any]) -> None:
    """``lr_schedule.milestones`` (multistep) lists epochs in increasing order, and a multistep
    schedule has them."""
    milestones = schedule.get("milestones")
    uses_multistep = schedule["name"] == "multistep" or "multistep" in r.searched_names("lr_schedule.name")
    if milestones is None:
        if uses_multistep and "lr_schedule.milestones" not in r.searched():
            raise r.fail("lr_schedule.milestones", "is required by the multistep schedule (the epochs after which the lr decays)")
        return
    if any(b <= a for a, b in itertools.pairwise(milestones)):
        raise r.fail("lr_schedule.milestones", "must be increasing epochs", list(milestones))


def schedule_monitor(r: Reader, schedule: Mapping[str, Any], *, metrics: tuple[str, ...]) -> None:
    """A plateau schedule's ``monitor`` is a metric the trainer reports, whose direction
    ``mode = "auto"`` can infer."""
    monitor = schedule.get("monitor")
    if monitor is None:
        return
    if monitor not in metrics:
        raise r.fail("lr_schedule.monitor", f"must be a metric the trainer reports ({', '.join(metrics)})", monitor, hint=_close(monitor, metrics))
    if schedule.get("mode", "auto") == "auto":
        try:
            infer_mode(monitor)
        except ValueError as err:
            raise r.fail("lr_schedule.mode", str(err).split(": ", 1)[1], monitor) from None


def warmup_ends_before_the_last_epoch(r: Reader, schedule: Mapping[str, Any], train: Mapping[str, Any], space: SearchSpace) -> None:
    """A warm-up (``lr_schedule.warmup_epochs``) ends before ``train.max_epochs``: checked for every
    combination of fixed values and finite searched values."""
    uses = schedule["name"] == "warmup_cosine" or "warmup_cosine" in r.searched_names("lr_schedule.name")
    if not uses:
        return

    def values(path: str, fixed: Any) -> Sequence[Any] | None:
        dim = next((d for d in space if d.path == path), None)
        return dim.dist.grid_values() if dim is not None else (fixed,)

    warmups = values("lr_schedule.warmup_epochs", schedule.get("warmup_epochs", 1.0))
    epochs = values("train.max_epochs", train["max_epochs"])
    if isinstance(epochs, range):  # a randint's, ascending: its first value is the one a warm-up can reach
        epochs = epochs[:1]
    for w in warmups or ():
        for e in epochs or ():
            if w >= e:
                raise r.fail("lr_schedule.warmup_epochs", f"must be < train.max_epochs ({e}: the cosine needs steps after the warm-up)", w)


# the optimizers with a momentum or beta1 that one-cycle's cycle_momentum may drive
CYCLED_MOMENTUM = ("momentum", "nesterov", "adam", "adamw", "amsgrad")


def cycle_momentum_needs_momentum(r: Reader, schedule: Mapping[str, Any]) -> None:
    """One-cycle's ``cycle_momentum`` cycles the optimizer's momentum (or Adam's beta1) between
    ``base_momentum`` and ``max_momentum`` in place of its own: only an optimizer that has one,
    for every fixed or searched combination. torch sets a momentum on plain SGD and RMSprop (whose
    own is 0: the trial would run another optimizer than its name) and fails on Adagrad."""
    one_cycle = schedule["name"] == "one_cycle" or "one_cycle" in r.searched_names("lr_schedule.name")
    searched = r.searched().get("lr_schedule.cycle_momentum")
    entry = r.raw["space"][searched] if searched is not None else None
    choices = [v for kind in ("choice", "grid") if isinstance(entry, dict) and isinstance(entry.get(kind), list) for v in entry[kind]]
    if not one_cycle or not (schedule.get("cycle_momentum") is True or True in choices):
        return
    without = [name for name in N.optimizers_named(r) if isinstance(name, str) and name not in CYCLED_MOMENTUM]
    if without:
        key = "lr_schedule.cycle_momentum" if searched is None else f"space.{searched}"
        raise r.fail(key, f"must be false with optimizer {without[0]!r}, which has no momentum or beta1 to cycle (one-cycle replaces "
                          f"the optimizer's own by a cycle between base_momentum and max_momentum; optimizers with one: {', '.join(CYCLED_MOMENTUM)})",
                     True)


def _close(name: Any, metrics: tuple[str, ...]) -> str:
    """'did you mean ...?' for a metric close to one of ``metrics`` (the list is in the rule already)."""
    hint = did_you_mean(str(name), metrics)
    return hint if hint.startswith("did you mean") else ""


def metric_is_reported(r: Reader, study: Mapping[str, Any], *, task: str | None, metrics: tuple[str, ...]) -> None:
    """``study.metric`` is a metric the trainer reports for the dataset's task."""
    if study["metric"] not in metrics:
        raise r.fail(
            "study.metric",
            f"must be a metric the trainer reports for this {task or 'dataset'} task ({', '.join(metrics)})",
            study["metric"], hint=_close(study["metric"], metrics),
        )


def study_mode(r: Reader, study: Mapping[str, Any]) -> str:
    """``study.mode`` as set, or inferred from the metric (losses minimize, accuracies maximize)."""
    if "mode" in study:
        try:
            known = infer_mode(study["metric"])
        except ValueError:  # a metric of no known direction: the mode is the user's to say
            return str(study["mode"])
        if study["mode"] != known:  # a search that minimizes an accuracy ranks its worst trials first
            better = "higher" if known == "max" else "lower"
            raise r.fail("study.mode", f"must be {known!r} for {study['metric']} ({better} is better), or left out to infer it", study["mode"])
        return str(study["mode"])
    try:
        return infer_mode(study["metric"])
    except ValueError:
        raise r.fail("study.mode", "must be set ('min' or 'max'): it cannot be inferred from the metric", study["metric"]) from None


def early_stopping_monitor(r: Reader, train: Mapping[str, Any], *, metrics: tuple[str, ...]) -> None:
    """Early stopping monitors a reported metric, whose direction ``mode = "auto"`` can infer."""
    es = train.get("early_stopping")
    if es is None:
        return
    if es["monitor"] not in metrics:
        raise r.fail("train.early_stopping.monitor", f"must be a metric the trainer reports ({', '.join(metrics)})", es["monitor"],
                     hint=_close(es["monitor"], metrics))
    if es["mode"] == "auto":
        try:
            infer_mode(es["monitor"])
        except ValueError as err:
            raise r.fail("train.early_stopping.mode", str(err).split(": ", 1)[1], es["monitor"]) from None


def augment_needs_images(r: Reader, data: Mapping[str, Any], kind: str | None = None) -> None:
    """``preprocess = ["augment"]`` (random shift, flip, noise) applies to image data only (a
    built-in image dataset, or data whose kind is known to be ``image`` before loading)."""
    dataset = data["dataset"]
    if "augment" in data["preprocess"] and kind is not None and kind != "image":
        raise r.fail("data.preprocess", f"'augment' (random shift, flip, noise) applies to image data only, but the data is {kind}", dataset)
    if "augment" in data["preprocess"] and dataset in DATASETS and not DATASETS.get(dataset).meta.get("image"):
        raise r.fail(
            "data.preprocess",
            "'augment' (random shift, flip, noise) applies to image data only",
            dataset,
            hint="image datasets: " + ", ".join(n for n in DATASETS if DATASETS.get(n).meta.get("image")),
        )


def family_reads_kind(r: Reader, model: Mapping[str, Any], space: SearchSpace, kind: str | None) -> None:
    """Every family the study may build (fixed or searched) reads the data's kind (when the kind
    is known before loading): a CNN convolves images, signals and sequences, not tables."""
    if kind is None:
        return
    searched = next((d for d in space if d.path == "model.family"), None)
    families = [model["family"]] if "family" in model else []
    values = searched.dist.grid_values() if searched is not None else None
    for family in [*families, *(values or ())]:
        reads = family_reads(str(family))
        if reads is not None and kind not in reads:
            key = f"space.{searched.key}" if searched is not None and family not in families else "model.family"
            raise r.fail(key, f"model family {family!r} reads {', '.join(reads)} data, but the data is {kind}"
                         + (" (declare [data] kind and shape if its columns are a signal or an image)" if kind == "tabular" else ""), family)


RECURRENT = ("rnn", "lstm", "gru")


def recurrent_dropout_needs_layers(r: Reader, model: Mapping[str, Any], space: SearchSpace) -> None:
    """A recurrent family's ``dropout`` acts between its stacked layers (PyTorch's ``dropout=``),
    so with ``layers = 1`` it does nothing: refused where every family is recurrent and no trial
    can have two layers (a searched dropout then showed an importance it could not have)."""
    searched_families = next((d.dist.grid_values() or () for d in space if d.path == "model.family"), ())
    families = {f for f in (model.get("family"), *searched_families) if f is not None}
    if not families or not families <= set(RECURRENT):
        return
    dropout_searched = next((d for d in space if d.path == "model.dropout"), None)
    if not (model.get("dropout", 0.0) or dropout_searched is not None):
        return
    layers_dim = next((d for d in space if d.path == "model.layers"), None)
    layers = layers_dim.dist.grid_values() if layers_dim is not None else (model.get("layers", 1),)
    if layers is not None and (layers[-1] if isinstance(layers, range) else max(layers)) <= 1:
        key = "model.dropout" if dropout_searched is None else f"space.{r.searched()['model.dropout']}"
        raise r.fail(key, f"acts between stacked recurrent layers ({', '.join(sorted(families))}), so it does nothing with "
                          "model.layers = 1: set model.layers >= 2 (or search it) or leave dropout out",
                     model.get("dropout", shown("searched")))


def heads_divide_d_model(r: Reader, model: Mapping[str, Any], space: SearchSpace) -> None:
    """A transformer's ``heads`` divides its ``d_model``: checked for every combination the study
    can produce from fixed values and finite searched values (a continuous range is checked when
    a trial builds its model)."""
    searched_families = next((d.dist.grid_values() or () for d in space if d.path == "model.family"), ())
    if "transformer" not in {model.get("family"), *searched_families}:
        return
    defaults = FAMILIES.get("transformer").defaults()

    def values(name: str) -> Sequence[Any] | None:
        dim = next((d for d in space if d.path == f"model.{name}"), None)
        if dim is not None:
            return dim.dist.grid_values()
        return (model.get(name, defaults[name]),)

    d_models, heads = values("d_model"), values("heads")
    if d_models is None or heads is None or len(d_models) * len(heads) > MAX_PAIRS:
        return  # a continuous range, or too many pairs to list: each trial's model checks its own
    bad = [f"d_model={dm} with heads={h}" for dm in d_models for h in heads if dm % h]
    if bad:  # every pair at once: a fix of the first alone met the next
        raise r.fail("model.heads", "must divide model.d_model (transformer)", shown(", ".join(bad)))


def grid_needs_finite_space(r: Reader, study: Mapping[str, Any], space: SearchSpace) -> None:
    """Grid search enumerates the space: every dimension is finite (choice, grid or randint), and
    the points, counted without listing them, are at most :data:`~hpbench.space.space.MAX_GRID_POINTS`
    (a grid over ``randint = [1, 1000000000]`` grew past 4 GB and failed with a MemoryError, bug hunt s49/h2)."""
    if study["searcher"] != "grid":
        return
    if not space.is_finite():
        bad = next(d for d in space if d.dist.grid_values() is None)
        raise r.fail(f"space.{bad.key}", "grid search needs finite values (choice, grid or randint)", shown(bad.dist.describe()))
    n = space.grid_size() or 0
    if n > MAX_GRID_POINTS:
        widest = max(space, key=lambda d: d.dist.n_values() or 0)
        raise r.fail(f"space.{widest.key}", f"grid search runs every point of the space, at most {MAX_GRID_POINTS:,} "
                     f"({widest.key} alone has {widest.dist.n_values():,} values: {widest.dist.describe()})", shown(f"{n:,} points"),
                     hint="list fewer values, or use a searcher that samples (random, tpe) with [study] trials")


def cuda_needs_gpus(r: Reader, train: Mapping[str, Any], resources: Resources) -> None:
    """Training on ``cuda`` (``train.device`` or one of ``train.devices``) needs
    ``resources.gpus_per_trial > 0``: Ray gives a trial a GPU only when it asks for one."""
    if "cuda" in train.get("devices", ()) and resources.gpus_per_trial <= 0:
        raise r.fail("train.devices", "lists 'cuda', which needs resources.gpus_per_trial > 0", list(train["devices"]))
    if train["device"] == "cuda" and resources.gpus_per_trial <= 0:
        raise r.fail(
            "train.device", "'cuda' needs resources.gpus_per_trial > 0 (Ray gives a trial a GPU only when it asks for one)", "cuda"
        )


def gpus_whole_or_fraction(r: Reader, resources: Resources) -> None:
    """``resources.gpus_per_trial`` is a fraction below 1 (trials share a GPU) or a whole number."""
    if resources.gpus_per_trial > 1 and resources.gpus_per_trial != int(resources.gpus_per_trial):
        raise r.fail("resources.gpus_per_trial", "must be a fraction below 1 or a whole number", resources.gpus_per_trial)


def loggers_installed(r: Reader, study: Mapping[str, Any]) -> None:
    """Each logger's packages are installed (found, not imported: the driver stays light)."""
    for name in study.get("loggers", ()):
        missing = [m for m in LOGGERS.get(name).meta.get("needs", ()) if importlib.util.find_spec(m) is None]
        if missing:  # hpbench's own loggers' packages come with its extra; a plugin's are its own (bug hunt s48/h5)
            install = "pip install 'hpbench[tracking]'" if not LOGGERS.is_plugin(name) else f"pip install {' '.join(missing)}"
            raise r.fail("study.loggers", f"logger {name!r} needs the {', '.join(missing)} package ({install})", list(study["loggers"]))
