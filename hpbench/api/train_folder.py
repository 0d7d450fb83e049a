"""The folder ``hpbench train`` writes (``DIR``): ``model.pt``, ``metrics.json`` and ``study.toml``.

* ``study.toml`` is the study trained (:func:`trained_study`): the study as read, its ``--set``
  overrides applied, ``[train] max_epochs`` from ``--epochs``, its name written out and its data
  files made absolute, as ``hpbench best --study-out`` writes them. Training that file again, from
  anywhere, repeats the training. It was a copy of the source file, without the overrides, and a
  dict-made study wrote none (leaving an earlier training's beside the new model; s51/h5).
* ``metrics.json`` marks the folder as a training's (:mod:`hpbench.results.train_record`, which a
  search's ``--out`` check reads too).
* A folder holds one study's training (:func:`check_folder`). The same study
  (:meth:`~hpbench.study.schema.Study.fingerprint`) trained again replaces it, and says so; another
  study's training there is refused unless forced, as a search refuses another study's results.
* :func:`write` marks the folder first: ``metrics.json`` becomes an unfinished record (the study and
  its fingerprint, no metrics), then ``model.pt`` and ``study.toml`` are written, and the complete
  ``metrics.json`` last. A kill midway leaves the unfinished record, never new metrics beside an old
  model; an unfinished folder is trained into again as a finished one is.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpbench.api.fixed import absolute_paths, study_toml
from hpbench.api.study import Study
from hpbench.errors import StudyError
from hpbench.results.files import STUDY_TOML, OutputError, atomic_write_bytes, atomic_write_json, atomic_write_text
from hpbench.results.study_changes import flat_keys
from hpbench.results.train_record import METRICS_FILE, MODEL_FILE, UNFINISHED, held
from hpbench.study import schema


def trained_study(study: schema.Study, *, epochs: int | None) -> tuple[schema.Study, str]:
    """The study ``hpbench train`` trains and records, and its ``study.toml`` text: ``study`` with
    ``epochs`` as ``[train] max_epochs``, its name written out (a file's default name is its stem:
    ``study.toml`` would name it "study") and its data files made absolute. Validated: what is
    trained is what the file reads back as."""
    raw: dict[str, Any] = copy.deepcopy(dict(study.raw))
    if epochs is not None:
        raw["train"] = {**raw.get("train", {}), "max_epochs": epochs}
    changed = _changes(_source_raw(study.source), raw)  # the overrides and --epochs, named in the header
    raw["study"] = {"name": study.name, **raw.get("study", {})}  # first, where the file gave none
    base = Path(study.source).parent
    absolute_paths(raw, base=base, validated=study.config)
    try:
        trained = Study.from_dict(raw, source=study.source, base_dir=base)
    except StudyError as err:  # the study read before: the epochs asked for break a rule (a warm-up longer than them)
        shown = f"{study.source} (with {epochs} epochs)" if epochs is not None else study.source
        raise StudyError.of(tuple(dataclasses.replace(p, source=shown) for p in err.problems)) from None
    header = (f"The study hpbench train trained into this folder: {study.source}"
              + (f" with {', '.join(changed)} as trained (overrides, --epochs)" if changed else "")
              + ", its data files made absolute.\nTraining this file again repeats the training.")
    return trained, study_toml(raw, header=header)


def check_folder(target: Path, trained: schema.Study, *, force: bool, cli: bool) -> str | None:
    """Where ``target`` holds another study's training: an :class:`OutputError` naming the folder,
    what it holds and the way out, unless ``force``. Returns the line to say when a training there
    is replaced (``None``: nothing is)."""
    there = held(target)
    if there is None:
        return None
    if there.same(fingerprint=trained.fingerprint(), config=trained.config):
        return f"{target}: replacing {there.describe()} there (the same study)"
    if force:
        return f"{target}: replacing {there.describe()} there (another study, forced)"
    diff = _changes(_source_raw(str(target / STUDY_TOML)), trained.raw) if there.finished else []
    differs = f" (differing at {', '.join(diff[:6])}{' and more' if len(diff) > 6 else ''})" if diff else ""
    way_out = "--out DIR for another folder, or --force to replace it" if cli else "out= another folder, or force=True to replace it"
    raise OutputError(f"{'--out' if cli else 'out'} {target}: holds {there.describe()}, another study than the one to train{differs}; "
                      f"use {way_out}")


def write(target: Path, *, trained: schema.Study, record: Mapping[str, Any], model: bytes, study_text: str) -> None:
    """Write the training's three files, ``metrics.json`` marking the folder unfinished first and
    holding the metrics last (each file written atomically)."""
    target.mkdir(parents=True, exist_ok=True)
    fingerprint = trained.fingerprint()
    atomic_write_json(target / METRICS_FILE, {"state": UNFINISHED, "study": trained.name, "fingerprint": fingerprint, "source": trained.source,
                                              "note": f"a training writing this folder did not finish: {MODEL_FILE} and {STUDY_TOML} "
                                                      "may be an earlier training's; train again"})
    atomic_write_bytes(target / MODEL_FILE, model)
    atomic_write_text(target / STUDY_TOML, study_text)
    atomic_write_json(target / METRICS_FILE, {**record, "study": trained.name, "fingerprint": fingerprint})


def _source_raw(source: str) -> dict[str, Any] | None:
    """The study file ``source`` as TOML reads it; ``None`` for a dict-made study or a file that does not read."""
    try:
        return tomllib.loads(Path(source).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def _changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[str]:
    """The ``SECTION.KEY``s whose values differ between two studies as read (``[]`` without ``before``)."""
    if before is None:
        return []
    old, new = flat_keys(before), flat_keys(after)
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
