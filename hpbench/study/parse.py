"""Study file (TOML) -> validated :class:`~hpbench.study.schema.Study`.

This is the one place user input is checked, section by section (:mod:`~hpbench.study.sections`),
then [space] (:func:`hpbench.space.parse.parse_space`), then the rules across sections
(:mod:`~hpbench.study.checks`). Every rule raises :class:`~hpbench.errors.StudyError` naming the
file, the key, the rule and the bad value; none uses ``assert`` (they hold under ``python -O``).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpbench.errors import StudyError, did_you_mean
from hpbench.space.parse import parse_space
from hpbench.space.points import parse_points
from hpbench.space.space import SearchSpace
from hpbench.study import checks, sections
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.metrics import TASK_METRICS, reported, task_of
from hpbench.study.overrides import apply_override, parse_override
from hpbench.study.paths import path_param
from hpbench.study.reader import Reader
from hpbench.study.schema import Study, StudySettings

__all__ = ["TASK_METRICS", "load_study", "parse_override", "parse_study"]  # TASK_METRICS, parse_override: their old home


def load_study(path: str | Path, *, overrides: Sequence[str] = (), trials: int | None = None) -> Study:
    """Read and validate a study file; ``overrides`` are ``--set key=value`` strings."""
    source = str(path)
    p = Path(path)
    if not p.is_file():
        raise StudyError(source=source, key="(file)", rule="study file must exist", value=source)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"malformed TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise StudyError(source=source, key="(file)", rule=f"must be UTF-8 text: {err}") from None
    for item in overrides:
        apply_override(raw, item)
    if trials is not None:
        raw.setdefault("study", {})["trials"] = trials
    return parse_study(raw, source=source, default_name=p.stem, base_dir=p.parent)


def parse_study(raw: Mapping[str, Any], *, source: str = "<study>", default_name: str = "study", base_dir: Path | None = None) -> Study:
    """Validate a study read from TOML (sections, then [space], then the rules across sections)."""
    r = Reader(raw=raw, source=source, base_dir=base_dir or Path("."))
    for k in raw:
        if k not in K.SECTIONS:
            raise r.fail(k, "unknown section", hint=did_you_mean(k, K.SECTIONS))
    space_raw = r.section("space")
    study = sections.study_table(r, default_name=default_name)
    data = sections.data_table(r)
    model = sections.model_table(r)
    optimizer = sections.optimizer_table(r)
    train = sections.train_table(r)
    resources = sections.resources_table(r)
    config: dict[str, Any] = {"data": data, "model": model, "optimizer": optimizer, "train": train}
    distill = sections.distill_table(r)
    if distill is not None:
        config["distill"] = distill

    space = _space(r, space_raw, dataset=data["dataset"])
    study["enqueue"] = parse_points(study.get("enqueue", ()), space, source=source, key="study.enqueue", aliases=K.ALIASES)
    task = task_of(data)
    metrics = reported(task)
    checks.classification_only(r, task=task, data=data, train=train, distill=distill)
    checks.metric_is_reported(r, study, task=task, metrics=metrics)
    study["mode"] = checks.study_mode(r, study)
    checks.early_stopping_monitor(r, train, metrics=metrics)
    checks.augment_needs_images(r, data)
    checks.heads_divide_d_model(r, model, space)
    checks.grid_needs_finite_space(r, study, space)
    checks.cuda_needs_gpus(r, train, resources)
    checks.gpus_whole_or_fraction(r, resources)
    return Study(
        source=source,
        settings=StudySettings(**study),
        resources=resources,
        config=config,
        space=space,
        raw=copy.deepcopy(dict(raw)),
    )


def _space(r: Reader, space_raw: Mapping[str, Any], *, dataset: str) -> SearchSpace:
    """[space], with the rule of each searched path from the study's keys and registries."""
    return parse_space(
        space_raw,
        source=r.source,
        aliases=K.ALIASES,
        names=N.SEARCHED,
        rule_for=lambda key, path: path_param(r, key, path, dataset=dataset).rule,
    )
