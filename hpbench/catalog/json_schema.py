"""The JSON Schema of study files (``hpbench schema``), generated from the key tables the parser
reads (:mod:`hpbench.study.keys`, :mod:`hpbench.study.names`) and the registries, so a key added
there appears here by itself.

Editors use it to complete and check study files. It is a little looser than ``hpbench``'s own
validation, which stays the judge: rules across keys (a metric the task reports, ``heads``
dividing ``d_model``, ...) and the parameters of the families or optimizers *searched* in
``[space]`` (the schema accepts any registered one's) are checked by ``hpbench`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpbench.catalog.registries import REGISTRIES
from hpbench.catalog.rules import IMPORT_SPEC, Schema, schema_of, suffix_pattern
from hpbench.data.arrays import NPY_SUFFIX, NPZ_SUFFIX
from hpbench.data.datasets import DATASETS
from hpbench.data.prepare import FILE_SUFFIXES
from hpbench.models import FAMILIES
from hpbench.registry import Param, Registry
from hpbench.rules import Any_, Int, Rule
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.paths import searchable, union
from hpbench.train.optimizers import OPTIMIZERS
from hpbench.train.schedules import SCHEDULES
from hpbench.train.task import TASKS

DRAFT = "http://json-schema.org/draft-07/schema#"
SECTION_DOCS = {
    "study": "the search: its name, metric, budget of trials, searcher and scheduler",
    "data": "the dataset, its splits and preprocessing (plus the dataset's own options); task rl: the environment",
    "model": "the task, the model family and its parameters (task rl: the policy network and the algorithm; task gan: the generator, latent_dim and the discriminator's d_depth / d_width)",
    "optimizer": "the optimizer, its learning rate and its own hyperparameters",
    "lr_schedule": "the learning-rate schedule (PyTorch's own schedulers) and its parameters",
    "train": "the training loop: epochs, batch size, initialization, device, early stopping (task rl: rollouts, discount, PPO's clipping, ...; task gan: loss, d_steps, gp_weight and the discriminator's optimizer d_optimizer / d_lr / d_betas)",
    "resources": "what Ray reserves for each trial",
    "space": "the search space: a dotted key (or short name) of the study -> a distribution",
    "distill": "knowledge distillation from a finished trial of another study",
}
NESTED = {"train": {"early_stopping": (K.EARLY_STOPPING, "Keras-exact early stopping, e.g. { monitor = \"val_loss\", patience = 3 }; "
                                                         "false (or leaving it out): off; true: Keras' defaults")}}
FILE_PATTERN = suffix_pattern(FILE_SUFFIXES)
NPZ_PATTERN, NPY_PATTERN = suffix_pattern([NPZ_SUFFIX]), suffix_pattern([NPY_SUFFIX])
WHEN: Schema = {"type": "object", "minProperties": 1, "description": "present only where these searched keys take these values",
                "additionalProperties": {}}


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def _rule(path: str, param: Param) -> Rule:
    """The rule of a key: the registry-name rule for the keys that name registry entries."""
    return N.SEARCHED.get(path, param.rule)


def param_schema(path: str, param: Param, *, plugins: bool) -> Schema:
    out = {**schema_of(_rule(path, param), plugins=plugins)}
    if param.doc:
        out["description"] = param.doc
    if param.default is not None:
        out["default"] = _jsonable(param.default)
    return out


def _props(section: str, spec: Mapping[str, Param], *, plugins: bool) -> dict[str, Schema]:
    return {k: param_schema(f"{section}.{k}", p, plugins=plugins) for k, p in spec.items()}


def task_keys(section: str) -> dict[str, Param]:
    """The keys the trainer's tasks add to ``section`` (rl: data.env, model.algorithm, train.n_envs, ...);
    the schema accepts them whatever the task (hpbench refuses a task's keys in another task's study)."""
    return union(TASKS.get(t).meta.get(section) or {} for t in TASKS)


def _entries(registry: Registry[Any], *, plugins: bool) -> list[tuple[str, dict[str, Param]]]:
    return [(name, registry.get(name).params) for name in registry.names(plugins=plugins)]


def _table(section: str, spec: Mapping[str, Param], *, plugins: bool) -> Schema:
    props = _props(section, spec, plugins=plugins)
    for key, (sub, doc) in NESTED.get(section, {}).items():
        props[key] = {"type": ["object", "boolean"], "description": doc, "properties": _props(f"{section}.{key}", sub, plugins=plugins),
                      "additionalProperties": False}
    return {"type": "object", "description": SECTION_DOCS[section], "properties": props, "additionalProperties": False}


def _by_name(section: str, key: str, common: Mapping[str, Param], entries: list[tuple[str, dict[str, Param]]], *, plugins: bool,
             open_: bool, extra: tuple[tuple[str, Mapping[str, Param]], ...] = ()) -> tuple[Schema, list[Schema]]:
    """A section whose ``key`` names a registry entry that brings its own parameters: the section
    with every registered entry's parameters, and the cases that allow exactly the named one's
    when ``key`` is set (``extra``: patterns of values and the parameters they bring). ``open_``:
    a value naming user code (``package.module:attr``) brings parameters of its own."""
    every = union([common, *(params for _, params in entries), *(brings for _, brings in extra)])
    cases: list[Schema] = []
    for name, params in entries:
        cases.append({"if": {"properties": {key: {"const": name}}, "required": [key]},
                      "then": {"properties": {k: {} for k in {**common, **params}}, "additionalProperties": False}})
    for pattern, brings in extra:
        cases.append({"if": {"properties": {key: {"type": "string", "pattern": pattern}}, "required": [key]},
                      "then": {"properties": {k: {} for k in {**common, **brings}}, "additionalProperties": False}})
    out: Schema = {"type": "object", "description": SECTION_DOCS[section], "properties": _props(section, every, plugins=plugins)}
    if not open_:
        out["additionalProperties"] = False
    return out, cases


def _unless_searched(section: str, key: str, cases: list[Schema]) -> Schema:
    """``cases`` apply to [section] unless [space] searches ``section.key`` too: a section then
    accepts the parameters of every entry searched (the schema: of any registered one)."""
    path = f"{section}.{key}"
    names = [path, *(alias for alias, p in K.ALIASES.items() if p == path)]
    searched = {"properties": {"space": {"anyOf": [{"required": [n]} for n in names]}}, "required": ["space"]}
    return {"if": searched, "else": {"properties": {section: {"allOf": cases}}}}


def dimension(rule: Rule, doc: str = "") -> Schema:
    """A [space] entry: exactly one distribution over values that obey ``rule``, and an optional ``when``."""
    values = schema_of(rule)
    kinds: Schema = {"choice": {"type": "array", "minItems": 1, "items": values, "description": "sampled from these values"},
                     "grid": {"type": "array", "minItems": 1, "items": values, "description": "every one of these values (grid search)"}}
    if rule.numeric or isinstance(rule, Any_):
        def bounds(kind: str, words: str) -> Schema:
            return {"type": "array", "minItems": 2, "maxItems": 2, "items": {"allOf": [values, {"type": kind}]}, "description": words}
        kinds["randint"] = bounds("integer", "an integer in [low, high], both inclusive")
        if not isinstance(rule, Int):
            kinds["uniform"] = bounds("number", "a real number uniform in [low, high]")
            kinds["loguniform"] = bounds("number", "a real number log-uniform in [low, high], 0 < low")
    out: Schema = {"type": "object", "properties": {**kinds, "when": WHEN}, "additionalProperties": False,
                   "oneOf": [{"required": [k]} for k in kinds]}
    if doc:
        out["description"] = doc
    return out


def _space(*, plugins: bool) -> tuple[Schema, list[str]]:
    paths = searchable(plugins=plugins)
    named = {**{alias: (path, paths[path]) for alias, path in K.ALIASES.items()}, **{p: (p, param) for p, param in paths.items()}}
    props = {key: dimension(_rule(path, param), f"searches {path}" + (f": {param.doc}" if param.doc else "")) for key, (path, param) in named.items()}
    schema: Schema = {"type": "object", "description": SECTION_DOCS["space"], "properties": props,
                      "propertyNames": {"anyOf": [{"enum": list(named)}, {"pattern": r"^model\.[A-Za-z_]\w*$"}]},
                      "additionalProperties": dimension(Any_(), "a parameter of a user model")}
    return schema, [k for k in named if k.startswith("model.")]


def _user_code_opens_space(section: str, key: str, known: list[str]) -> Schema:
    """Unless ``[section] key`` names user code, [space] searches only the known ``section.*`` keys."""
    user = {"properties": {section: {"properties": {key: {"type": "string", "pattern": IMPORT_SPEC}}, "required": [key]}}, "required": [section]}
    return {"if": user, "else": {"properties": {"space": {"propertyNames": {"if": {"pattern": rf"^{section}\."}, "then": {"enum": known}}}}}}


def study_schema(*, plugins: bool = True) -> Schema:
    """The JSON Schema (draft-07) of a study file; ``plugins``: include installed plugins' names."""
    space, model_paths = _space(plugins=plugins)
    data, data_cases = _by_name("data", "dataset", {**K.DATA, **task_keys("data")}, _entries(DATASETS, plugins=plugins), plugins=plugins,
                                open_=True, extra=((FILE_PATTERN, N.FILE_PARAMS), (NPZ_PATTERN, N.NPZ_PARAMS), (NPY_PATTERN, N.NPY_PARAMS)))
    model, model_cases = _by_name("model", "family", {**K.MODEL, **task_keys("model")}, _entries(FAMILIES, plugins=plugins), plugins=plugins,
                                  open_=True)
    optimizer, optimizer_cases = _by_name("optimizer", "name", K.OPTIMIZER, _entries(OPTIMIZERS, plugins=plugins), plugins=plugins, open_=False)
    schedule, schedule_cases = _by_name("lr_schedule", "name", K.LR_SCHEDULE, _entries(SCHEDULES, plugins=plugins), plugins=plugins,
                                        open_=False)
    props: dict[str, Schema] = {
        "study": _table("study", K.STUDY, plugins=plugins),
        "data": {**data, "allOf": data_cases},
        "model": model,
        "optimizer": optimizer,
        "lr_schedule": schedule,
        "train": _table("train", {**K.TRAIN, **task_keys("train")}, plugins=plugins),
        "resources": _table("resources", K.RESOURCES, plugins=plugins),
        "distill": _table("distill", K.DISTILL, plugins=plugins),
        "space": space,
    }
    family_given = {"anyOf": [{"properties": {"model": {"required": ["family"]}}, "required": ["model"]},
                              {"properties": {"space": {"anyOf": [{"required": [a]} for a in ("family", "model.family")]}}, "required": ["space"]}]}
    return {
        "$schema": DRAFT,
        "title": "hpbench study file",
        "description": "A study for `hpbench search` (TOML). Generated by `hpbench schema` from hpbench's key tables and registries ("
                       + ", ".join(n.title.lower() for n in REGISTRIES) + ").",
        "type": "object",
        "properties": {s: props[s] for s in K.SECTIONS},
        "additionalProperties": False,
        "required": ["data"],
        "allOf": [family_given, _unless_searched("model", "family", model_cases), _unless_searched("optimizer", "name", optimizer_cases),
                  _unless_searched("lr_schedule", "name", schedule_cases),
                  _user_code_opens_space("model", "family", model_paths)],
    }
