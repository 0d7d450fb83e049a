"""``hpbench.Study``: a validated study read from a TOML file or built from a dict.

Both constructors run the same validation as ``hpbench search`` (:mod:`hpbench.study.parse`):
the same rules, the same :class:`~hpbench.errors.StudyError` naming the file, the key, the rule
and the bad value. ``overrides`` are what ``--set`` does on the command line.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hpbench.errors import StudyError
from hpbench.study import schema
from hpbench.study.overrides import apply_override
from hpbench.study.parse import load_study, parse_study
from hpbench.study.plain import plain

Overrides = Mapping[str, Any] | Sequence[str]
"""``{"study.trials": 8, "train.max_epochs": 5}``, or ``--set`` strings: ``["study.trials=8"]``."""


@dataclass(frozen=True, kw_only=True)
class Study(schema.Study):
    """A validated study: its settings, its fixed configuration and its search space.

    Build it with :meth:`from_toml` or :meth:`from_dict`; pass it to :func:`hpbench.search`,
    :func:`hpbench.estimate` or (without ``[space]``) :func:`hpbench.train_study`::

        study = hpbench.Study.from_toml("studies/quickstart.toml", overrides={"study.trials": 8})
    """

    @classmethod
    def from_toml(cls, path: str | Path, *, overrides: Overrides | None = None) -> Study:
        """Read and validate a study file. Raises :class:`~hpbench.errors.StudyError` (a
        ``ValueError``) naming the file, the key, the rule and the bad value."""
        return cls.of(load_study(path, overrides=override_strings(overrides)))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, overrides: Overrides | None = None, source: str = "<dict>",
                  name: str = "study", base_dir: str | Path | None = None) -> Study:
        """Validate a study given as nested dicts, as ``tomllib`` reads a study file
        (``{"study": {...}, "data": {...}, "space": {...}}``). ``source`` names it in error
        messages, ``name`` is the study's name when ``[study] name`` is absent and ``base_dir``
        is where relative data files and results directories are looked up (default: the
        current directory)."""
        if not isinstance(raw, Mapping):
            raise StudyError(source=source, key="(study)", rule="must be a mapping of sections ({'study': {...}, ...})", value=type(raw).__name__)
        data = copy.deepcopy(dict(raw))
        for item in override_strings(overrides):
            apply_override(data, item)
        return cls.of(parse_study(data, source=source, default_name=name, base_dir=Path(base_dir) if base_dir is not None else None))

    @classmethod
    def of(cls, study: schema.Study) -> Study:
        """The public view of a study validated by :mod:`hpbench.study.parse` (same fields)."""
        if isinstance(study, cls):
            return study
        return cls(**{f.name: getattr(study, f.name) for f in fields(schema.Study)})


def override_strings(overrides: Overrides | None) -> list[str]:
    """``--set`` strings for ``overrides``: a mapping's values are written as TOML, so they read
    back as the same value (``{"train.batch_size": "full"}`` -> ``'train.batch_size="full"'``)."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        return [overrides]
    if not isinstance(overrides, Mapping):
        return [str(item) for item in overrides]
    import tomli_w

    out = []
    for key, value in overrides.items():
        if not isinstance(key, str) or "." not in key.strip(".") or not all(key.split(".")):
            raise StudyError(source="overrides", key=str(key), rule="must be SECTION.KEY, e.g. 'train.max_epochs'", value=value)
        value = plain(value, source="overrides", key=key)  # np.int64(8) as 8, as in the study's own dict
        try:
            text = tomli_w.dumps({"v": value}).strip()
        except TypeError:
            raise StudyError(source="overrides", key=key, rule="must be a TOML value (str, int, float, bool, list or dict)", value=value) from None
        if not text.startswith("v = "):  # a dict: tomli_w writes a [v] table, so write it inline
            text = "v = " + _inline(value)
        out.append(f"{key}={text[len('v = '):]}")
    return out


def _inline(value: Any) -> str:
    """A TOML inline value (dicts as ``{ k = v }``), for overrides that are tables."""
    import tomli_w

    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{tomli_w.dumps({str(k): 0}).split(' = ')[0]} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip()[len("v = "):]
