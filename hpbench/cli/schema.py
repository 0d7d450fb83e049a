"""``hpbench schema``: the JSON Schema of study files, or the study reference in Markdown."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hpbench.catalog.json_schema import study_schema
from hpbench.catalog.markdown import study_reference


def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="print the study reference (docs/study-reference.md) instead")] = False,
    builtin: Annotated[bool, typer.Option("--builtin", help="built-in entries only (leave out installed plugins)")] = False,
) -> None:
    """Print the JSON Schema of study files (with --markdown: the study reference).

    Every key, type, default, allowed values and description, from hpbench's key tables and
    registries, for editors to check and complete study files: hpbench schema > study.schema.json
    """
    if markdown:
        typer.echo(study_reference(plugins=not builtin), nl=False)
        return
    typer.echo(json.dumps(study_schema(plugins=not builtin), indent=2))
