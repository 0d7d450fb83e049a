"""The types of an API call's arguments, checked at its entry (before anything starts): a study
that is a :class:`~hpbench.study.schema.Study`, counts that are integers, amounts that are numbers.
What the values must be (at least 1, > 0) is each call's own check."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hpbench.errors import StudyError
from hpbench.study.schema import Study


def check_call(source: str, study: object, *, ints: Mapping[str, object] = {}, numbers: Mapping[str, object] = {}) -> None:
    """``TypeError`` for a study that is not a :class:`Study` (a path: what to call instead);
    :class:`StudyError` naming ``source`` and the key for an ``ints`` value that is not an integer
    or a ``numbers`` value that is not a number (``None``: the default, fine; a bool is neither)."""
    if isinstance(study, (str, Path)):
        raise TypeError(f"{source}: study must be a hpbench.Study, but got the path {str(study)!r}: "
                        f"pass hpbench.Study.from_toml({str(study)!r})")
    if not isinstance(study, Study):
        raise TypeError(f"{source}: study must be a hpbench.Study (hpbench.Study.from_toml(path) or .from_dict(d)), "
                        f"but got {type(study).__name__}")
    for kinds, rule, values in (((int,), "must be an integer", ints), ((int, float), "must be a number", numbers)):
        for key, value in values.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
                raise StudyError(source=source, key=key, rule=rule, value=value)
