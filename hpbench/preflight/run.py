"""The pre-flight step: between the study's validation and the dispatch, load and check the data
(in the calling process, torch-free) and try every distinct network (in ``executor``: the
dispatcher's helper process, where torch is loaded anyway for the cost predictions).

The data it loads is handed to :func:`hpbench.data.prepare.prime`, so the dispatcher's driver
does not load it a second time.
"""

from __future__ import annotations

import dataclasses
import re
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpbench.data.datasets import RawData
from hpbench.data.prepare import config_kwargs, data_key, prime, split_raw
from hpbench.data.sources import loader_data, loader_options
from hpbench.data.splits import unstratified
from hpbench.data.user import table_to_raw
from hpbench.errors import shown
from hpbench.preflight.data import (
    DataContext,
    check_arrays,
    classes,
    feature_scale,
    majority_class,
    many_whole_classes,
    split_sizes,
    target_scale,
)
from hpbench.preflight.load import Arrays, Loaded, load_for_checks
from hpbench.preflight.models import SAMPLE_ROWS, ModelRequest, check_models
from hpbench.preflight.problems import PreflightFailed, Problem
from hpbench.preflight.shapes import Case, batch_sizes, cases, data_variants, init_cases, optimizer_cases, schedule_cases, used_batch_sizes
from hpbench.preflight.strategies import check_strategies
from hpbench.preflight.table import check_table
from hpbench.preflight.table_arrays import table_arrays
from hpbench.preflight.table_copies import label_copies
from hpbench.preflight.table_quirks import table_quirks
from hpbench.study.names import reads_dataset
from hpbench.study.schema import Study
from hpbench.train.task import SUPERVISED
from hpbench.user_code import exception_line


def preflight(study: Study, *, executor: Executor | None = None) -> list[str]:
    """Raise :class:`PreflightFailed` with every problem found; else return the warnings (e.g. a
    class too small to stratify into every split)."""
    pending = start(study, executor=executor)
    problems = pending.result()
    if problems:
        raise PreflightFailed.of(problems)
    return pending.warnings


def check_study(study: Study, *, executor: Executor | None = None) -> list[Problem]:
    """Every problem of the study's data and networks (data first, then the networks).
    ``executor``: where the networks are tried [default: this process]."""
    return start(study, executor=executor).result()


@dataclass(frozen=True, kw_only=True)
class Pending:
    """A pre-flight whose data is checked and whose networks are being tried."""

    source: str  # the study file
    data_problems: list[Problem]
    networks: Future[list[Problem]] | None
    warnings: list[str] = field(default_factory=list)
    data_s: float = 0.0  # the data's loading and checks, here (a search's start-up waits for them: hpbench.cost.figures)

    def result(self) -> list[Problem]:
        """Every problem found, once the networks are tried."""
        found = list(self.data_problems)
        if self.networks is not None:
            try:
                found += self.networks.result()
            except Exception as err:  # the helper process died (a network that crashed it) or a check broke
                found.append(Problem(source=self.source, key="model", rule="trying the networks failed", raised=exception_line(err)))
        return _distinct(found)


def start(study: Study, *, executor: Executor | None = None) -> Pending:
    """Check the data here and now, and submit the networks to ``executor`` [default: try them
    here, at once]: the caller can do its own work while the helper process tries them."""
    began = time.perf_counter()
    checked = check_data(study)
    data_s = time.perf_counter() - began
    networks: Future[list[Problem]] | None = None
    if checked.requests:
        if executor is None:
            networks = Future()
            networks.set_result(check_models(checked.requests))
        else:
            networks = executor.submit(check_models, checked.requests)
    problems = check_strategies(study) + checked.problems  # a plugin searcher's or scheduler's builder is user code too
    return Pending(source=study.source, data_problems=problems, networks=networks, warnings=checked.warnings, data_s=data_s)


@dataclass(frozen=True, kw_only=True)
class DataChecked:
    problems: list[Problem]
    requests: list[ModelRequest]  # the networks to try on each data setting, with a sample of it
    warnings: list[str]


def check_data(study: Study) -> DataChecked:
    """The data's problems (and warnings), and the networks (and optimizers) to try on each data
    setting. The gan task's data is loaded and checked the same way (its networks are hpbench's
    MLPs; its metrics and batch size are checked with the study); the rl task reads no dataset (its
    environment is made by the study's validation, :mod:`hpbench.study.checks_rl`)."""
    checked = DataChecked(problems=[], requests=[], warnings=[])
    task = study.config["model"].get("task", SUPERVISED)  # as hpbench.study.resolve reads it
    if not reads_dataset(task):
        return checked
    supervised = task == SUPERVISED
    sizes, batch_key = batch_sizes(study) if supervised else ((), "train.batch_size")
    used = used_batch_sizes(study)
    for data, group in data_variants(cases(study)):
        ctx = DataContext(source=study.source, data=data, seed=study.settings.seed, batch_sizes=sizes, batch_key=batch_key,
                          metrics=named_metrics(study), learns_labels=supervised)
        try:
            if supervised:
                _check_data(study, ctx, group, used, into=checked)
            else:
                _check_samples(study, ctx, into=checked)
        except Exception as err:  # a check that broke: hpbench's bug, not the user's; --no-preflight gets past it
            checked.problems.append(Problem(source=study.source, key="data", rule="the pre-flight could not check the data "
                                            "(an hpbench error: --no-preflight skips the checks)", raised=exception_line(err)))
    if checked.requests:  # the optimizers, schedules and initializations are built once, over the first data setting's first network that trains
        checked.requests[0] = dataclasses.replace(checked.requests[0], optimizers=tuple(optimizer_cases(study)),
                                                     schedules=tuple(schedule_cases(study)), inits=tuple(init_cases(study)))
    checked.warnings[:] = dict.fromkeys(checked.warnings)  # once each: data settings that differ in another key read the same file
    return checked


def _load_and_check(study: Study, ctx: DataContext) -> tuple[Loaded, DataContext, Arrays | None, list[Problem]]:
    """The data loaded and its rules checked (a data file's table, then any data as arrays), with
    the context naming where it came from."""
    loaded = load_for_checks(ctx.data, study_source=study.source)
    ctx = dataclasses.replace(ctx, source=loaded.source)
    problems = list(loaded.problems)
    arrays = loaded.arrays
    if loaded.table is not None:
        problems += check_table(loaded.table, ctx)
        arrays = table_arrays(loaded.table, ctx, task=ctx.data.options.get("task"))
    if arrays is not None:
        problems += check_arrays(arrays, ctx)
    return loaded, ctx, arrays, problems


def _unusable(ctx: DataContext, err: Exception) -> Problem:
    """A rule of the loaders the checks do not know. Their ``ValueError`` names the data and often
    the key (``path: data.task: ...``): one line naming that file and key once, not the file twice
    around ``ValueError``; any other exception (an hpbench bug) with its name."""
    if not isinstance(err, ValueError):
        return Problem(source=ctx.source, key="data.dataset", rule="cannot be used", value=shown(exception_line(err)))
    message = " ".join(str(err).split()).removeprefix(f"{ctx.source}: ")
    key, sep, rule = message.partition(": ")
    if not (sep and re.fullmatch(r"data\.\w+", key)):
        key, rule = "data.dataset", f"cannot be used: {message}"
    return Problem(source=ctx.source, key=key, rule=rule)


def _check_samples(study: Study, ctx: DataContext, *, into: DataChecked) -> None:
    """A gan's data: the supervised task's loading and rules (a loader's options, what it returns,
    its own errors with their file:line), then handed to the trials as the supervised task's is."""
    loaded, ctx, arrays, problems = _load_and_check(study, ctx)
    into.problems.extend(problems)
    if arrays is None or problems:
        return
    d = ctx.data
    try:
        data = _data(loaded, ctx)
        if isinstance(data, RawData):  # (streamed data is refused with the study: the gan task reads its data in memory)
            prime(data_key(**config_kwargs(d, ctx.seed)),
                  split_raw(data, val_fraction=d.val_fraction, test_fraction=d.test_fraction, preprocess=d.preprocess, seed=ctx.seed))
    except Exception as err:
        into.problems.append(_unusable(ctx, err))


def _check_data(study: Study, ctx: DataContext, group: list[Case], used: tuple[int | str, ...], *, into: DataChecked) -> None:
    loaded, ctx, arrays, problems = _load_and_check(study, ctx)
    if loaded.table is not None:
        into.warnings.extend([*label_copies(loaded.table, ctx), *table_quirks(loaded.table, ctx)])
    if arrays is None:
        into.problems.extend(problems)
        return
    into.warnings.extend([*target_scale(arrays, ctx), *many_whole_classes(arrays, ctx), *majority_class(arrays, ctx), *feature_scale(arrays, ctx)])
    if problems:  # the networks still get a sample, from the arrays as checked
        into.problems.extend(problems)
        _request(study, group, arrays=arrays, ctx=ctx, used=used, into=into)
        return
    d = ctx.data
    try:
        data = _data(loaded, ctx)
        if not isinstance(data, RawData):  # streamed: the trials read it; the networks get the rows peeked
            _request(study, group, arrays=arrays, ctx=ctx, used=used, into=into)
            return
        splits = split_raw(data, val_fraction=d.val_fraction, test_fraction=d.test_fraction, preprocess=d.preprocess, seed=ctx.seed)
    except Exception as err:  # a rule of the loaders the checks above do not know
        into.problems.append(_unusable(ctx, err))
        return
    prime(data_key(**config_kwargs(d, ctx.seed)), splits)
    # the splits hpbench carved (stratified); one the data came with is the user's to shape
    parts = {"training": splits.y_train, **{name: y for name, key, y in (("validation", "val", splits.y_val), ("test", "test", splits.y_test))
                                            if key not in splits.given}}
    into.warnings.extend(f"{arrays.y_source or ctx.source}: {arrays.y_key}: {w}" for w in unstratified(splits.task, parts, classes=splits.encoding.classes))
    into.requests.append(ModelRequest(source=study.source, models=tuple((c.model, c.searched) for c in group), input_shape=tuple(splits.input_shape),
                                      n_outputs=int(splits.n_outputs), task=splits.task, x=splits.x_train[:SAMPLE_ROWS].copy(),
                                      y=splits.y_train[:SAMPLE_ROWS].copy(), n_train=splits.n_train, batch_sizes=used, kind=str(splits.kind)))


def named_metrics(study: Study) -> tuple[tuple[str, str], ...]:
    """The metrics the study ranks and stops by, with their keys (checked against the data's task
    once it is known: :func:`hpbench.preflight.data.metrics_fit_task`)."""
    out = [("study.metric", study.settings.metric)]
    es = study.config["train"].get("early_stopping")
    if es:
        out.append(("train.early_stopping.monitor", str(es["monitor"])))
    return tuple(out)


def _data(loaded: Loaded, ctx: DataContext) -> Any:
    """What the trials will train on, from what the checks loaded (nothing is read twice)."""
    d = ctx.data
    opts = dict(d.options)
    if loaded.table is not None:
        return table_to_raw(loaded.table, path=d.dataset, target=str(opts["target"]), task=opts.get("task"), shape=d.shape, kind=d.kind)
    if loaded.output is not None:
        _, task, image = loader_options(opts)
        return loader_data(d.dataset, loaded.output, task=task, kind=d.kind or ("image" if image else None), shape=d.shape, stream=d.stream)
    return loaded.data


def _request(study: Study, group: list[Case], *, arrays: Arrays, ctx: DataContext, used: tuple[int | str, ...], into: DataChecked) -> None:
    """Networks to try on data that has problems or is streamed (a sample of its rows as they are)."""
    if not len(arrays.y) or arrays.x.ndim < 2:
        return
    y: np.ndarray
    if arrays.task == "regression":
        try:
            y = np.nan_to_num(arrays.y.astype(np.float32))
        except (TypeError, ValueError):  # text targets (a problem of their own): any number tries the networks
            y = np.zeros(len(arrays.y), dtype=np.float32)
        n_out = 1
    else:
        values, codes = classes(arrays)
        if len(codes) != len(arrays.y) or len(values) < 1:
            return
        n_out = arrays.n_outputs or (len(values) if arrays.task == "multiclass" else 1)
        y = codes.astype(np.int64) % max(n_out, 1)
    x = np.nan_to_num(arrays.x[:SAMPLE_ROWS].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    into.requests.append(ModelRequest(source=study.source, models=tuple((c.model, c.searched) for c in group), input_shape=tuple(arrays.x.shape[1:]),
                                      n_outputs=n_out, task=arrays.task, x=x, y=y[:SAMPLE_ROWS], n_train=max(split_sizes(arrays, ctx)["training"], 1),
                                      batch_sizes=used, kind=arrays.kind or ("image" if arrays.image else None)))


def _distinct(problems: list[Problem]) -> list[Problem]:
    """The same problem found for several data settings is reported once."""
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    return list(seen.values())
