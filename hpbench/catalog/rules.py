"""A value rule (:mod:`hpbench.rules`, :class:`~hpbench.registry.Registered`) as a JSON Schema
fragment, and that fragment in words for the study reference.

One converter per rule class; ``tests/test_catalog.py`` checks that every rule class has one, so
a new rule cannot slip past the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from hpbench.registry import Registered
from hpbench.rules import Any_, Bool, Either, Float, Int, ListOf, Literal, OneOf, Rule, Str

# "package.module:attr" (hpbench.registry.is_import_spec)
IMPORT_SPEC = r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$"

Schema = dict[str, Any]


def _int(rule: Int, plugins: bool) -> Schema:
    out: Schema = {"type": "integer"}
    if rule.min is not None:
        out["minimum"] = rule.min
    if rule.max is not None:
        out["maximum"] = rule.max
    return out


def _float(rule: Float, plugins: bool) -> Schema:
    out: Schema = {"type": "number"}
    if rule.min is not None:
        out["exclusiveMinimum" if rule.min_open else "minimum"] = rule.min
    if rule.max is not None:
        out["exclusiveMaximum" if rule.max_open else "maximum"] = rule.max
    return out


def _list(rule: ListOf, plugins: bool) -> Schema:
    out: Schema = {"type": "array", "items": schema_of(rule.item, plugins=plugins)}
    if rule.min_len:
        out["minItems"] = rule.min_len
    if rule.max_len is not None:
        out["maxItems"] = rule.max_len
    return out


def suffix_pattern(suffixes: Iterable[str]) -> str:
    """A pattern matching names that end in one of ``suffixes``, in any case (``DATA.CSV``): JSON
    Schema's regular expressions (ECMA-262) have no case-insensitive flag."""
    def any_case(suffix: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in suffix)

    return "(" + "|".join(any_case(s) for s in suffixes) + ")$"


def _registered(rule: Registered, plugins: bool) -> Schema:
    names: Schema = {"enum": list(rule.registry.names(plugins=plugins))}
    other: list[Schema] = []
    if rule.imports:
        other.append({"type": "string", "pattern": IMPORT_SPEC})
    if rule.suffixes:
        other.append({"type": "string", "pattern": suffix_pattern(rule.suffixes)})
    return {"anyOf": [names, *other]} if other else names


CONVERTERS: dict[type[Rule], Callable[[Any, bool], Schema]] = {
    Int: _int,
    Float: _float,
    Str: lambda rule, plugins: {"type": "string", "minLength": 1},
    Bool: lambda rule, plugins: {"type": "boolean"},
    OneOf: lambda rule, plugins: {"enum": list(rule.names)},
    Either: lambda rule, plugins: {"anyOf": [schema_of(r, plugins=plugins) for r in rule.rules]},
    Literal: lambda rule, plugins: {"const": rule.value},
    ListOf: _list,
    Any_: lambda rule, plugins: {},
    Registered: _registered,
}


def schema_of(rule: Rule, *, plugins: bool = True) -> Schema:
    """The JSON Schema of the values ``rule`` accepts (``plugins``: registries' names include
    installed plugins'). A rule class without a converter is a programming error."""
    for cls in type(rule).__mro__:
        if cls in CONVERTERS:
            return CONVERTERS[cls](rule, plugins)
    raise TypeError(f"no JSON Schema converter for rule {type(rule).__name__} (add one to hpbench/catalog/rules.py)")


def in_words(schema: Schema) -> str:
    """A schema fragment in words: ``integer >= 1``, ``one of "a", "b"``, ``list of ...``."""
    if "enum" in schema:
        return "one of " + ", ".join(_lit(v) for v in schema["enum"])
    if "const" in schema:
        return _lit(schema["const"])
    if "anyOf" in schema:
        return " or ".join(in_words(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        size = ""
        if schema.get("minItems") is not None and schema.get("minItems") == schema.get("maxItems"):
            size = f"{schema['minItems']} "
        elif schema.get("minItems"):
            size = f">= {schema['minItems']} "
        return f"list of {size}({in_words(schema['items'])})"
    if kind in ("integer", "number"):
        bounds = [f"{op} {_num(schema[k])}" for k, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
                  if k in schema]
        return " ".join([kind, *(" and ".join(bounds),)]) if bounds else kind
    if kind == "string":
        pattern = schema.get("pattern")
        if pattern == IMPORT_SPEC:
            return "'package.module:attr'"
        if pattern:  # suffix_pattern's: ([cC][sS][vV]|...)$
            suffixes = re.sub(r"\[([a-z0-9])[A-Z0-9]\]", r"\1", pattern).strip("()$").replace("\\", "").split("|")
            return "a file name ending " + " or ".join(suffixes) + " (in any case)"
        return "string"
    if kind == "boolean":
        return "true or false"
    return "any value"


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _lit(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
