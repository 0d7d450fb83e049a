"""The rules across keys of a gan study (``[model] task = "gan"``), one function each; the
docstring says the rule. Like :mod:`hpbench.study.checks_rl`, each raises a
:class:`~hpbench.errors.StudyError` naming the key to change, and :func:`check_all` reports every
rule broken, before any trial starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpbench.data.mixtures import MIXTURES
from hpbench.errors import shown
from hpbench.space.space import SearchSpace
from hpbench.study import names as N
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
    if data is not None:
        r.attempt(metric_fits_data, r, data)
        r.attempt(in_memory, r, data)
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
