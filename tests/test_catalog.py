"""The JSON Schema of study files (``hpbench schema``) and the study reference
(docs/study-reference.md), both generated from the key tables and registries the parser reads.

Every study under studies/ validates against the schema; known-bad studies fail it *and* the
parser; valid variants pass both (the schema never flags a study hpbench accepts); every rule
class, section and key is covered and documented; the checked-in reference matches the code.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from hpbench.catalog.json_schema import study_schema
from hpbench.catalog.markdown import study_reference
from hpbench.catalog.registries import REGISTRIES
from hpbench.catalog.rules import CONVERTERS
from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.rules import Rule
from hpbench.study import keys as K
from hpbench.study import names as N
from hpbench.study.parse import parse_study
from hpbench.study.paths import UNSEARCHABLE, searchable

ROOT = Path(__file__).resolve().parents[1]
STUDY_FILES = sorted((ROOT / "studies").rglob("*.toml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = study_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, study: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(study)]


def test_there_are_study_files_to_check():
    assert len(STUDY_FILES) >= 5 and ROOT / "studies" / "quickstart.toml" in STUDY_FILES


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_study_file_validates_against_the_schema(validator, path):
    assert _errors(validator, tomllib.loads(path.read_text(encoding="utf-8"))) == []


BASE: dict[str, Any] = {
    "study": {"name": "x", "metric": "val_accuracy", "trials": 3},
    "data": {"dataset": "iris"},
    "model": {"family": "mlp", "depth": 1},
    "train": {"max_epochs": 3, "early_stopping": {"patience": 2}},
    "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "model.width": {"choice": [8, 16]}, "optimizer": {"choice": ["adam", "momentum"]},
              "optimizer.momentum": {"uniform": [0.5, 0.9], "when": {"optimizer": ["momentum"]}}},
}


def _with(*changes: tuple[str, Any]) -> dict[str, Any]:
    """BASE with ``("section.key", value)`` set (``None``: removed)."""
    out = copy.deepcopy(BASE)
    for path, value in changes:
        section, _, key = path.partition(".")
        table = out.setdefault(section, {})
        if value is None:
            table.pop(key, None)
        elif key:
            table[key] = value
        else:
            out[section] = value
    return out


BAD = {
    "unknown section": _with(("trian", {})),
    "unknown [study] key": _with(("study.trails", 3)),
    "unknown optimizer": _with(("optimizer", {"name": "adamm"})),
    "unknown searcher": _with(("study.searcher", "bayes")),
    "a cnn parameter on an mlp": _with(("model.kernel", 3)),
    "a dataset option another dataset has": _with(("data.classes", [1, 2])),
    "an integer below its minimum": _with(("train.batch_size", 0)),
    "a fraction at its open bound": _with(("data.val_fraction", 1.0)),
    "a misspelt early-stopping key": _with(("train.early_stopping", {"patiense": 2})),
    "no model family at all": _with(("model.family", None)),
    "one bound of a range": _with(("space.lr", {"loguniform": [1e-4]})),
    "two distributions in one entry": _with(("space.lr", {"choice": [0.1], "uniform": [0.1, 0.2]})),
    "a misspelt searched key": _with(("space.model.dept", {"randint": [1, 3]})),
    "uniform over an integer key": _with(("space.model.width", {"uniform": [8, 16]})),
    "a user dataset's option searched": _with(("data", {"dataset": "mypkg.data:load", "rows": 10}), ("space.data.rows", {"choice": [10, 20]})),
    "an unsearchable key searched": _with(("space.train.devices", {"choice": [["cpu"]]})),
    "a choice outside the key's rule": _with(("space.optimizer", {"choice": ["adam", "adamm"]})),
}

GOOD = {
    "the base study": BASE,
    "a user model with its own keys, searched too": _with(("model.family", "mypkg.models:build"), ("model.anything", 3),
                                                          ("space.model.whatever", {"choice": [1, 2]})),
    "a family searched instead of fixed": _with(("model.family", None), ("space.family", {"choice": ["mlp", "cnn"]}),
                                                ("data.dataset", "digits")),
    "an optimizer's parameter for a searched optimizer": _with(("optimizer", {"name": "sgd", "betas": [0.9, 0.99]}),
                                                               ("space.optimizer", {"choice": ["sgd", "adam"]}), ("space.optimizer.momentum", None)),
    "a dataset's own option": _with(("data.dataset", "digits"), ("data.classes", [1, 2])),
    "grid search with conditions": _with(("study.searcher", "grid"), ("space.lr", {"grid": [0.01, 0.1]}),
                                         ("space.optimizer.momentum", {"choice": [0.5, 0.9], "when": {"optimizer": ["momentum"]}})),
    "a user dataset's options": _with(("data", {"dataset": "mypkg.data:load", "rows": 10})),
}


@pytest.mark.parametrize("name", BAD)
def test_known_bad_studies_fail_the_schema_and_the_parser(validator, name):
    assert _errors(validator, BAD[name]), f"the schema accepts: {name}"
    with pytest.raises(StudyError):
        parse_study(BAD[name])


@pytest.mark.parametrize("name", GOOD)
def test_valid_variants_pass_the_schema_and_the_parser(validator, name):
    assert _errors(validator, GOOD[name]) == []
    parse_study(GOOD[name])


def _value(schema: dict[str, Any]) -> Any:
    """A value inside a schema fragment (its default, or one built from its type and bounds)."""
    if "default" in schema:
        return schema["default"]
    for alternatives in ("anyOf", "allOf"):
        if alternatives in schema:
            return _value(schema[alternatives][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "array":
        item = _value(schema["items"])
        return [item + i if isinstance(item, int) else item for i in range(schema.get("minItems", 1))]
    if kind == "boolean":
        return True
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0.0))
        return (low + schema.get("maximum", schema.get("exclusiveMaximum", low + 1.0))) / 2
    return "val_loss"


# A study of the rl task: the base for searching a key that task adds (train.n_envs, model.algorithm, ...).
RL_BASE: dict[str, Any] = {"study": {"name": "x", "trials": 3}, "data": {"env": "CartPole-v1"}, "model": {"task": "rl", "family": "mlp"},
                           "train": {"max_epochs": 2}}


def _study_searching(path: str) -> dict[str, Any]:
    """BASE with ``path`` searched, its section set up so that ``path`` applies there (a key of
    the rl task: RL_BASE)."""
    section, _, key = path.partition(".")
    values = study_schema(plugins=False)["properties"]["space"]["properties"][path]["properties"]["choice"]["items"]
    if N.task_owner(path) is not None:
        return {**copy.deepcopy(RL_BASE), "space": {path: {"choice": [_value(values)]}}}
    study = _with(("space", {path: {"choice": [_value(values)]}}))
    for named in REGISTRIES:
        reg_section, _, reg_key = named.key.partition(".")
        if reg_section == section and "." not in key and key not in dict(getattr(K, section.upper())):
            owner = next(n for n in named.registry.names(plugins=False) if key in named.registry.get(n).params)
            study[section] = {reg_key: owner}
    return study


@pytest.mark.parametrize("path", [p for p in searchable(plugins=False) if p.split(".")[0] != "distill"
                                  and p not in ("data.target", "data.task", "data.keep_text", "model.freeze")])
def test_every_key_the_schema_offers_in_space_is_searchable(validator, path):
    study = _study_searching(path)
    assert _errors(validator, study) == []
    try:
        parse_study(study)
    except StudyError as err:  # a rule across keys may refuse the value, never the key itself
        assert all("unknown key" not in p.rule and "cannot be searched" not in p.rule for p in err.problems), str(err)


@pytest.mark.parametrize("path", UNSEARCHABLE)
def test_the_keys_the_schema_refuses_in_space_are_refused_by_the_parser(path):
    with pytest.raises(StudyError, match="cannot be searched"):
        parse_study(_with(("space", {path: {"choice": ["x"]}})))


def test_the_schema_covers_every_section_and_documents_every_key():
    schema = study_schema(plugins=False)
    assert list(schema["properties"]) == list(K.SECTIONS)
    undocumented = []
    for section, sch in schema["properties"].items():
        for key, prop in sch["properties"].items():
            if not prop.get("description"):
                undocumented.append(f"{section}.{key}")
    for named in REGISTRIES:
        for name in named.registry.names(plugins=False):
            entry = named.registry.get(name)
            undocumented += [f"{named.key}={name}"] if not entry.doc else []
            undocumented += [f"{named.key}={name}: {k}" for k, p in entry.params.items() if not p.doc]
    assert undocumented == []


def _subclasses(cls: type) -> set[type]:
    return {s for c in cls.__subclasses__() for s in (c, *_subclasses(c))}


def test_every_rule_class_has_a_json_schema_converter():
    import hpbench.study.names  # noqa: F401  (imports every module that defines rules)

    missing = sorted(c.__name__ for c in _subclasses(Rule) if not any(k in CONVERTERS for k in c.__mro__ if k is not Rule))
    assert missing == []


def test_hpbench_schema_prints_the_schema():
    res = CliRunner().invoke(app, ["schema", "--builtin"])
    assert res.exit_code == 0
    assert json.loads(res.output) == json.loads(json.dumps(study_schema(plugins=False)))


def test_the_checked_in_reference_is_up_to_date():
    """docs/study-reference.md is what `hpbench schema --markdown` prints (regenerate: make reference)."""
    checked_in = (ROOT / "docs" / "study-reference.md").read_text(encoding="utf-8")
    assert checked_in == study_reference(), "docs/study-reference.md drifted from the code: run `make reference`"
    for named in REGISTRIES:
        assert f"## {named.title}" in checked_in
    for section in K.SECTIONS:
        assert f"## [{section}]" in checked_in


def test_the_readme_links_the_reference():
    assert "docs/study-reference.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_schema_markdown_lists_installed_plugins_unless_builtin(monkeypatch):
    """--markdown printed the built-in entries only, whatever --builtin said (its help: "leave out
    installed plugins"), while the JSON schema listed plugins (bug hunt s47h1)."""
    from hpbench.registry import Entry
    from hpbench.train.optimizers import OPTIMIZERS

    monkeypatch.setitem(OPTIMIZERS._entries, "contract-sgd", Entry(name="contract-sgd", build=lambda **_: None, params={}, doc="a plugin's SGD", meta={}))
    monkeypatch.setattr(OPTIMIZERS, "_loaded", True)
    res = CliRunner().invoke(app, ["schema", "--markdown"])
    assert res.exit_code == 0 and "`contract-sgd`" in res.output
    res = CliRunner().invoke(app, ["schema", "--markdown", "--builtin"])
    assert res.exit_code == 0 and "contract-sgd" not in res.output
