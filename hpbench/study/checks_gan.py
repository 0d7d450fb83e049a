"""The rules across keys of a gan study (``[model] task = "gan"``), one function each; the
docstring says the rule. Like :mod:`hpbench.study.checks_rl`, each raises a
:class:`~hpbench.errors.StudyError` naming the key to change, and :func:`check_all` reports every
rule broken, before any trial starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpbench.data import arrays
from hpbench.data.mixtures import MIXTURES
from hpbench.errors import Problem, StudyError, shown
from hpbench.space.space import SearchSpace
from hpbench.study import names as N
from hpbench.study.checks_params import possible_values, when_hint
from hpbench.study.metrics import task_of
from hpbench.study.reader import Reader
from hpbench.train.gan import keys as GK


def check_all(r: Reader, *, data: Mapping[str, Any] | None, model: Mapping[str, Any] | None, train: Mapping[str, Any] | None,
              lr_schedule: Mapping[str, Any] | None, space: SearchSpace | None, has_distill: bool) -> None:
    """Every gan rule whose inputs were read without problems (the problems are gathered by ``r``)."""
    if model is not None:
        r.attempt(mlp_networks, r, model)
    if train is not None:
        r.attempt(batch_of_samples, r, train)
        r.attempt(d_betas_need_adam, r, train)
        r.attempt(loss_params_are_used, r, train, space)
    if data is not None:
        r.attempt(metric_fits_data, r, data)
        r.attempt(in_memory, r, data)
        r.attempt(no_test_split, r, data)
    if lr_schedule is not None:
        r.attempt(constant_lr, r, lr_schedule)
    if has_distill:
        r.attempt(no_distill, r)


def _key(r: Reader, path: str, table: Mapping[str, Any], name: str) -> str:
    return f"space.{r.searched()[path]}" if name not in table and path in r.searched() else path


def mlp_networks(r: Reader, model: Mapping[str, Any]) -> None:
    """The generator and the discriminator are MLPs (``[model] family = "mlp"``, not searched
    over other families), without dropout (it would make D's real and fake passes differ)."""
    for family in N.families_named(r):
        if family != "mlp":
            raise r.fail("model.family", "the gan task's generator and discriminator are MLPs (family 'mlp')", family)
    if "dropout" in model or "model.dropout" in r.searched():
        raise r.fail(_key(r, "model.dropout", model, "dropout"), "does not apply to the gan task's networks", model.get("dropout", shown("searched")))


def batch_of_samples(r: Reader, train: Mapping[str, Any]) -> None:
    """``train.batch_size`` is a number of samples per step (real and generated alike), not 'full'."""
    values = [train.get("batch_size"), *r.searched_names("train.batch_size")]
    if "full" in values:
        raise r.fail(_key(r, "train.batch_size", train, "batch_size"), "the gan task draws a batch of samples per step: give a number", "full")


def d_betas_need_adam(r: Reader, train: Mapping[str, Any]) -> None:
    """``train.d_betas`` (set or searched) needs an Adam-like discriminator optimizer (adam, amsgrad, adamw)."""
    if "d_betas" not in train and "train.d_betas" not in r.searched():
        return
    for name in [train.get("d_optimizer", "adam"), *r.searched_names("train.d_optimizer")]:
        if name not in GK.ADAM_LIKE:
            raise r.fail(_key(r, "train.d_optimizer", train, "d_optimizer"), f"train.d_betas needs one of {', '.join(GK.ADAM_LIKE)}", name)


def loss_params_are_used(r: Reader, train: Mapping[str, Any], space: SearchSpace | None) -> None:
    """``train.gp_weight`` is read by loss wasserstein_gp only (its gradient penalty), and
    ``train.d_loss_floor`` by every other loss (the collapse rule's floor is off for
    wasserstein_gp): searched beside a loss that ignores it, every trial trained alike and the
    tables recorded, and ranked by, a value it never used (bug hunt s49/h5). With the loss fixed,
    the key is refused, set or searched; with the loss searched, a searched key's ``when`` leaves
    out the losses that ignore it (as :func:`hpbench.study.checks_params.searched_params_are_taken`
    does for an optimizer's parameters), and a set one needs a searched loss that reads it."""
    dims = list(space) if space is not None else []
    owner = next((d for d in dims if d.path == "train.loss"), None)
    fixed = train.get("loss", GK.TRAIN["loss"].default)
    searched = list(owner.dist.grid_values() or ()) if owner is not None else []
    problems: list[Problem] = []
    for param, takers in GK.LOSS_PARAMS.items():
        used_by = f"loss{'' if len(takers) == 1 else 'es'} {', '.join(map(repr, takers))}"
        hint = f"set [train] loss = {_quoted(takers)}, or remove it" if owner is None else f"remove it, or search {owner.key} over {used_by}"
        for dim in (d for d in dims if d.path == f"train.{param}"):
            names = possible_values(space, dim, owner, fixed) if space is not None and owner is not None else [fixed]
            left = [n for n in names if n not in takers]
            if not left:
                continue
            taking = [n for n in names if n in takers]
            if owner is None:
                rule = f"is read by {used_by} only, but the study's loss is {fixed!r}, which ignores it (every trial would train alike)"
            elif taking:
                rule = (f"is read by {used_by} only, but is searched with loss{'' if len(left) == 1 else 'es'} {', '.join(map(repr, left))} "
                        "too (their trials would record a value they never used, and the value would get an importance)")
            else:
                rule = (f"is read by {used_by} only: none of the losses it is searched with, {', '.join(map(repr, names))}, reads it "
                        "(every trial would record a value it never used)")
            problems += r.fail(f"space.{dim.key}", rule, shown(dim.dist.describe()),
                               hint=when_hint(dim, owner.key, taking) if owner is not None and taking else hint).problems
        names = [fixed] if owner is None else [*searched, fixed] if owner.when and fixed not in searched else searched
        if param in train and not any(n in takers for n in names):
            what = f"the study's loss is {fixed!r}, which ignores it" if owner is None else f"none of the losses searched, {', '.join(map(repr, names))}, reads it"
            problems += r.fail(f"train.{param}", f"is read by {used_by} only, but {what}", train[param], hint=hint).problems
    if problems:
        raise StudyError.of(problems)


def _quoted(names: tuple[str, ...]) -> str:
    return " or ".join(f'"{n}"' for n in names)


def no_test_split(r: Reader, data: Mapping[str, Any]) -> None:
    """A gan has no test split: its model is a generator, ranked by its samples against the
    validation split, and the supervised test evaluation fed it the test split's samples as noise
    and crashed after every trial had trained (bug hunt s49/h5). ``data.test_fraction`` and a
    ``.npy`` test split (``x_test``) are refused as keys the task does not take
    (:data:`~hpbench.train.gan.keys.NOT_FOR_GAN`), a NumPy archive holding one here (from its
    header), and a user loader returning one by the pre-flight
    (:func:`hpbench.preflight.data.no_test_split_for_a_gan`)."""
    dataset = str(data.get("dataset", ""))
    if not arrays.is_npz(dataset):
        return
    try:
        heads = arrays.headers(dataset, dict(data))
    except ValueError:  # an unreadable archive is data_table's problem, reported there
        return
    held = [name for name in arrays.SPLIT_ARRAYS["test"] if name in heads]
    if held:
        raise r.fail("data.dataset", "comes with a test split, which the gan task has no use for (a generator has no test evaluation)",
                     shown(f"{dataset} holds {' and '.join(held)}"), hint="re-save the archive without its test arrays")


def metric_fits_data(r: Reader, data: Mapping[str, Any]) -> None:
    """The study metric is one the data gives: ``val_modes_covered`` / ``val_hq_fraction`` /
    ``val_modes_hq`` on the 2-D mixtures (ring8, grid25), ``val_frechet_distance`` (and
    ``val_class_coverage``, data labelled by class) on any other dataset; the same for early
    stopping's monitor. A dataset whose task is known here to be regression (``data.task``, a
    built-in) has no classes to cover: a search ranked by ``val_class_coverage`` ranked no trial.
    A data file's task is known once it loads: the pre-flight checks it
    (:func:`hpbench.preflight.data.class_coverage_needs_classes`)."""
    mixture = data.get("dataset") in MIXTURES
    task = task_of(data) if "dataset" in data else None
    wanted = GK.MIXTURE_METRICS if mixture else GK.FRECHET_METRICS if task in (None, *GK.CLASS_TASKS) else GK.FRECHET_METRICS[:1]
    study, train = r.section("study"), r.section("train")
    es = train.get("early_stopping") if isinstance(train.get("early_stopping"), dict) else {}
    named = [("study.metric", study.get("metric", GK.default_metric(data.get("dataset")))), ("train.early_stopping.monitor", (es or {}).get("monitor"))]
    for key, metric in named:
        if metric is None or metric not in GK.MIXTURE_METRICS + GK.FRECHET_METRICS:
            continue
        if metric not in wanted:
            what = ("a 2-D mixture" if mixture else f"dataset {data.get('dataset')!r} (not a 2-D mixture)" if metric not in GK.FRECHET_METRICS
                    else f"dataset {data.get('dataset')!r} (a {task} task: no classes to cover)")
            raise r.fail(key, f"must be {'one of ' if len(wanted) > 1 else ''}{', '.join(wanted)} for a gan on {what}", metric,
                         hint="" if key != "study.metric" or "metric" in study else f'set [study] metric = "{wanted[0]}"')


def in_memory(r: Reader, data: Mapping[str, Any]) -> None:
    """A gan trial reads its data in memory (``data.stream`` is not true)."""
    if data.get("stream") is True:
        raise r.fail("data.stream", "the gan task reads its data in memory (set it to false or leave it out)", True)


def constant_lr(r: Reader, lr_schedule: Mapping[str, Any]) -> None:
    """A gan trial keeps both optimizers' learning rates: ``[lr_schedule]`` stays ``constant``."""
    if lr_schedule.get("name", "constant") != "constant" or "lr_schedule.name" in r.searched():
        raise r.fail(_key(r, "lr_schedule.name", lr_schedule, "name"), "the gan task keeps its optimizers' lr (schedules are for the supervised task)",
                     lr_schedule.get("name", shown("searched")))


def no_distill(r: Reader) -> None:
    """Distillation learns from a supervised teacher's outputs: not in a gan study."""
    raise r.fail("distill", "does not apply to task 'gan'")
