"""Study file (TOML) -> validated :class:`~hpbench.study.schema.Study`.

This is the one place user input is checked, section by section (:mod:`~hpbench.study.sections`),
then [space] (:func:`hpbench.space.parse.parse_space`), then the rules across sections
(:mod:`~hpbench.study.checks`). Every rule raises :class:`~hpbench.errors.StudyError` naming the
file, the key, the rule and the bad value; none uses ``assert`` (they hold under ``python -O``).
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpbench.errors import Problem, StudyError, did_you_mean
from hpbench.space.defaults import default_point
from hpbench.space.distributions import KINDS
from hpbench.space.parse import parse_space
from hpbench.space.points import parse_points
from hpbench.space.space import SearchSpace
from hpbench.study import checks, checks_gan, checks_params, checks_rl, data_files, sections
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.metrics import TASK_METRICS, reported, task_of
from hpbench.study.overrides import apply_override, parse_override
from hpbench.study.paths import path_param
from hpbench.study.plain import plain
from hpbench.study.reader import Reader
from hpbench.study.schema import Study, StudySettings
from hpbench.train.task import SUPERVISED

__all__ = ["TASK_METRICS", "load_study", "parse_override", "parse_study"]  # TASK_METRICS, parse_override: their old home

# The rules across sections of a task's own keys, by task (the supervised task's are the ones below).
TASK_CHECKS = {"rl": checks_rl.check_all, "gan": checks_gan.check_all}


def load_study(path: str | Path, *, overrides: Sequence[str] = (), trials: int | None = None) -> Study:
    """Read and validate a study file; ``overrides`` are ``--set key=value`` strings."""
    source = str(path)
    p = Path(path)
    if p.is_dir():
        raise StudyError(source=source, key="(file)", rule="must be a study file (.toml), not a folder", value=source)
    if not p.is_file():  # /dev/null exists: not "must exist" of it
        rule = "must be a study file (.toml), not a device or other special file" if p.exists() else "study file must exist"
        raise StudyError(source=source, key="(file)", rule=rule, value=source)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8-sig"))  # a byte-order mark (Windows editors) is not TOML's: read past it
    except tomllib.TOMLDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"malformed TOML: {err}") from None
    except RecursionError:  # tomllib recurses per nesting level: ~1,000 nested arrays ended in a traceback
        raise StudyError(source=source, key="(file)", rule="malformed TOML: values nested too deeply to read") from None
    except UnicodeDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"must be UTF-8 text: {err}") from None
    for item in overrides:
        apply_override(raw, item)
    if trials is not None:
        raw.setdefault("study", {})["trials"] = trials
    try:
        return parse_study(raw, source=source, default_name=p.stem, base_dir=p.parent)
    except StudyError as err:
        raise _blame_overrides(err, overrides, source=source) from None


def _blame_overrides(err: StudyError, overrides: Sequence[str], *, source: str) -> StudyError:
    """``err`` with each problem of a key a ``--set`` gave named as the override's (``s.toml
    (--set): train.max_epochs: ...``): the file's own value of that key is not the one refused."""
    keys = [".".join(parse_override(item)[0]) for item in overrides]
    if not keys:
        return err

    def blamed(p: Problem) -> Problem:
        hit = any(p.key == k or p.key.startswith(k + ".") for k in keys) and p.source == source
        return dataclasses.replace(p, source=f"{source} (--set)") if hit else p
    return StudyError.of(tuple(blamed(p) for p in err.problems))


def parse_study(raw: Mapping[str, Any], *, source: str = "<study>", default_name: str = "study", base_dir: Path | None = None) -> Study:
    """Validate a study read from TOML (sections, then [space], then the rules across sections).

    Every problem found is reported, not only the first: each section, each [space] entry and
    each rule across sections is checked on its own (a rule whose inputs already failed is
    skipped), and one :class:`~hpbench.errors.StudyError` carries them all (``.problems``).
    ``raw`` may hold NumPy scalars (read as plain values); a key that is no string is refused."""
    raw = plain(dict(raw), source=source)  # from here on: str keys and plain values only, as TOML reads them
    r = Reader(raw=raw, source=source, base_dir=base_dir or Path("."))
    r.attempt(_known_sections, r)
    has_space, space_raw = r.attempt(r.section, "space")
    _, study = r.attempt(sections.study_table, r, default_name=default_name)
    _, data = r.attempt(sections.data_table, r)
    _, model = r.attempt(sections.model_table, r)
    _, optimizer = r.attempt(sections.optimizer_table, r)
    _, lr_schedule = r.attempt(sections.lr_schedule_table, r)
    _, train = r.attempt(sections.train_table, r)
    _, resources = r.attempt(sections.resources_table, r)
    has_distill, distill = r.attempt(sections.distill_table, r)
    space = r.attempt(_space, r, space_raw or {}, dataset=data.get("dataset") if data is not None else None)[1] if has_space else None
    choices = r.attempt(data_files.resolve_choices, r, space)[1] if space is not None else None  # searched data files, made absolute
    if study is not None and space is not None:
        r.attempt(_enqueue, r, study, space, fixed={"optimizer": optimizer or {}})
    learns = N.task_named(r)  # the trainer's task: supervised, rl
    task = task_of(data) if data is not None and learns == SUPERVISED else None  # a dataset's kind: multiclass, binary, regression
    metrics = N.task_metrics(learns) or reported(task)
    if learns in TASK_CHECKS:
        TASK_CHECKS[learns](r, data=data, model=model, train=train, lr_schedule=lr_schedule, space=space, has_distill="distill" in r.raw)
    if data is not None and train is not None and has_distill and learns == SUPERVISED:
        r.attempt(checks.classification_only, r, task=task, data=data, train=train, distill=distill)
    if study is not None and data is not None:
        r.attempt(checks.metric_is_reported, r, study, task=task, metrics=metrics)
    if study is not None:
        _, study["mode"] = r.attempt(checks.study_mode, r, study)
    if train is not None:
        r.attempt(checks.early_stopping_monitor, r, train, metrics=metrics)
    if lr_schedule is not None:
        r.attempt(checks.schedule_monitor, r, lr_schedule, metrics=metrics)
        r.attempt(checks.cycle_momentum_needs_momentum, r, lr_schedule)
    if lr_schedule is not None and train is not None and space is not None:
        r.attempt(checks.warmup_ends_before_the_last_epoch, r, lr_schedule, train, space)
    layout = r.attempt(data_files.layout, r, data)[1] if data is not None and N.reads_dataset(learns) else None
    data_kind = layout.kind.value if layout is not None else None
    if data is not None and learns == SUPERVISED:
        r.attempt(checks.augment_needs_images, r, data, data_kind)
    if model is not None and space is not None and learns == SUPERVISED:
        r.attempt(checks.family_reads_kind, r, model, space, data_kind)
    if model is not None and space is not None:
        r.attempt(checks.heads_divide_d_model, r, model, space)
        r.attempt(checks.recurrent_dropout_needs_layers, r, model, space)
    if model is not None and optimizer is not None and space is not None:
        r.attempt(checks_params.searched_params_are_taken, r, model, optimizer, space, lr_schedule=lr_schedule, train=train)
    if study is not None and space is not None:
        r.attempt(checks.grid_needs_finite_space, r, study, space)
    if train is not None and resources is not None:
        r.attempt(checks.cuda_needs_gpus, r, train, resources)
    if resources is not None:
        r.attempt(checks.gpus_whole_or_fraction, r, resources)
    r.raise_problems()
    if (study is None or data is None or model is None or optimizer is None or lr_schedule is None or train is None or resources is None
            or space is None):
        raise StudyError(source=source, key="(file)", rule="could not be read")  # unreachable: a failed part left a problem
    config: dict[str, Any] = {"data": data, "model": model, "optimizer": optimizer, "lr_schedule": lr_schedule, "train": train}
    if distill is not None:
        config["distill"] = distill
    return Study(
        source=source,
        settings=StudySettings(**study),
        resources=resources,
        config=config,
        space=space,
        raw=copy.deepcopy(dict(raw)),
        data_choices=choices or {},
    )


def _known_sections(r: Reader) -> None:
    unknown = [k for k in r.raw if k not in K.SECTIONS]
    if unknown:
        raise StudyError.of([p for k in unknown for p in r.fail(k, "unknown section", hint=did_you_mean(k, K.SECTIONS)).problems])


def _enqueue(r: Reader, study: dict[str, Any], space: SearchSpace, *, fixed: Mapping[str, Any]) -> None:
    study["enqueue"] = parse_points(study.get("enqueue", ()), space, source=r.source, key="study.enqueue", aliases=K.ALIASES)
    if len(space):  # the first configuration, should nothing be enqueued (StudySettings.first_points)
        study["default_point"] = default_point(space, fixed=fixed, task=N.task_named(r), written=r.raw)  # as written: nothing filled in


def _space(r: Reader, space_raw: Mapping[str, Any], *, dataset: str | None) -> SearchSpace:
    """[space], with the rule of each searched path from the study's keys and registries
    (``dataset`` None: [data] failed, so a dataset's own options are not checked)."""
    for key, entry in space_raw.items():  # space.train.d_lr = {...} (or --set space.train.d_lr=...): a table "train", not a key
        if isinstance(entry, dict) and entry and not entry.keys() & {*KINDS, "when"} and all(isinstance(v, dict) for v in entry.values()):
            inner = next(iter(entry))
            raise r.fail(f"space.{key}.{inner}", f'unknown key: a dotted [space] key is quoted, "{key}.{inner}" = {{ ... }} '
                         f"(with --set: space.\"{key}.{inner}\"=...)")
    return parse_space(
        space_raw,
        source=r.source,
        aliases=K.ALIASES,
        names=N.SEARCHED,
        rule_for=lambda key, path: path_param(r, key, path, dataset=dataset).rule,
    )
