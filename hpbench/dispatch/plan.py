"""What a search will do, decided before Ray starts: its options, the earlier run in the results
directory it continues (refused when the search space changed, unless forced), how many new
trials it runs, and the study record it writes there.

No Ray here: everything in this module runs (and can refuse) before any trial starts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpbench.dispatch.searchers import n_trials
from hpbench.dispatch.storage import shown_url, sqlite_url, stored_direction
from hpbench.errors import StudyError
from hpbench.results.files import (
    OPTUNA_DB,
    STUDY_JSON,
    STUDY_TOML,
    OutputError,
    atomic_write_json,
    atomic_write_text,
    check_fresh_folder,
    check_writable,
)
from hpbench.results.record_format import written_by
from hpbench.results.resume import Previous, load_previous, space_diff, sqlite_damage
from hpbench.results.study_changes import FILE_KEYS, data_changes, ranking_changed, study_changes
from hpbench.study.schema import Study


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    out: Path
    address: str | None = None
    verbose: bool = False
    storage_path: str | None = None
    num_cpus: int | None = None
    optuna_storage: str | None = None  # any SQLAlchemy URL [default: sqlite file in the results directory]
    resume: bool = False  # require an earlier run to continue from (re-running continues anyway)
    force: bool = False  # continue even though the search space changed
    budget_flops: float | None = None  # stop launching trials once this many predicted FLOPs are spent
    budget_s: float | None = None  # ... or once the command's clock (plus the predicted after-search work) reaches this
    repeats: int = 0  # after the search, re-run the top configurations with this many other seeds
    preflight: bool = True  # load the data and try the networks before anything starts (hpbench.preflight)
    started_at: float | None = None  # when the command started (epoch seconds; the ETA's and budget's clock) [default: when the search starts]
    history_dir: Path | None = None  # this machine's search history: read for the ETA, this search's record appended [default: neither]
    early_trials: bool = True  # train the first trials in the helper while Ray starts, where it is safe (hpbench.dispatch.early)


class ResumeRefused(RuntimeError):
    """The results directory holds a different study (or none, with ``--resume``)."""


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What a search will do, decided before Ray starts: the earlier run it continues from
    (if any) and how many new trials it runs."""

    previous: Previous | None
    n_total: int
    n_new: int
    storage_damage: str | None = None  # the results folder's own Optuna database is damaged: moved aside, started afresh


def plan_search(study: Study, opts: SearchOptions) -> Plan:
    """Check the output location and any earlier run; raises before anything is written (an
    earlier run it cannot read: an :class:`OutputError`). A search plans while it holds the
    folder's lock (:func:`hpbench.dispatch.runner.run_search`): the folder cannot change under the plan."""
    try:
        return _plan(study, opts)
    except StudyError:
        raise
    except (OSError, ValueError) as err:  # an unreadable earlier record
        raise OutputError(f"{opts.out}: cannot read the earlier run: {err}") from err


def _plan(study: Study, opts: SearchOptions) -> Plan:
    check_writable(opts.out)
    if not (opts.out / STUDY_JSON).is_file():  # not a results folder: the search's files would go among the user's own
        check_fresh_folder(opts.out, kind=f"an hpbench results folder (holding {STUDY_JSON})")
    previous = load_previous(opts.out) if opts.out.is_dir() else None
    if previous is None and opts.resume:
        raise ResumeRefused(f"--resume: nothing to resume in {opts.out} (no {STUDY_JSON}); run without --resume to start")
    if previous is not None:
        changed = previous.record.get("space_fingerprint") != study.space.fingerprint()
        diff = space_diff(previous.record.get("space", {}), study.space.describe()) if changed else []
        # another study first: --force never gets past another metric or direction, so it is not offered for the space
        if previous.n_done:  # a folder whose run trained nothing (a join refused) holds no trials to mix with
            _check_same_study(study, opts, previous.record, space=diff)
        if changed and not opts.force:
            lines = "\n".join(diff)
            raise ResumeRefused(f"{opts.out}: the search space changed since the earlier run:\n{lines}\n"
                                "(use --force to continue anyway, or --out DIR for a new study)")
    if opts.optuna_storage is not None:
        _check_direction(study, opts.optuna_storage, where=f"--storage {shown_url(opts.optuna_storage)}")
    elif previous is not None and not previous.n_done:  # else the record's metric and mode were compared (_check_same_study)
        _check_direction(study, sqlite_url(opts.out / OPTUNA_DB), where=str(opts.out / OPTUNA_DB))
    total = n_trials(study)
    done = previous.n_done if previous else 0
    damage = sqlite_damage(opts.out / OPTUNA_DB) if previous is not None and opts.optuna_storage is None else None
    # a search extended before (--trials 11 on an 8-trial study) holds more than the file asks: all of them are its trials
    return Plan(previous=previous, n_total=max(total, done), n_new=max(0, total - done), storage_damage=damage)


def _check_same_study(study: Study, opts: SearchOptions, record: dict[str, Any], *, space: list[str]) -> None:
    """The earlier run's trials mean what this study's would: the same data, split, fixed
    configuration, metric, direction and seed (:mod:`hpbench.results.study_changes`); else their
    rows and this search's would share one table, one leaderboard and one Optuna study (which keeps
    the direction it was created with). ``--force`` continues past the others, never past another
    metric or direction. ``space``: the search space's changes (:func:`space_diff`), listed too."""
    settings = asdict(study.settings)
    changes = study_changes(record, name=study.name, settings=settings, config=study.config,
                            searched=frozenset(d.path for d in study.space), data_files=data_files(study),
                            data_choices=study.data_choices)
    if not changes:
        return
    ranking = ranking_changed(record, settings)
    if opts.force and not ranking:
        return
    listed = [*changes, *(["the search space:", *space] if space else [])]
    raise _refused(opts.out, "holds the trials of another study, trained or ranked otherwise than this one", listed, force=not ranking)


def _check_direction(study: Study, url: str, *, where: str) -> None:
    """An Optuna storage (a shared ``--storage``, or the results folder's own) whose study of this
    name ranks the other way is refused: Optuna would load it with the stored direction."""
    stored = stored_direction(url, study.name)
    if stored is not None and stored != study.settings.mode:
        raise ResumeRefused(f"{where}: its Optuna study {study.name!r} ranks its trials by mode {stored!r}, "
                            f"this study by {study.settings.metric} {study.settings.mode!r}: Optuna would keep the stored direction "
                            "(give this study another study.name, or use another storage or --out DIR)")


def check_same_data(plan: Plan, opts: SearchOptions, record: dict[str, Any]) -> None:
    """Once the data is read (before anything is written): the earlier run's trials were trained
    on data that its record describes as this run's does (its kind, shape, task and split sizes),
    unless ``--force``. A file replaced under the same name continued the old results before."""
    previous = plan.previous
    if previous is None or not previous.n_done or opts.force:
        return
    changes = data_changes(previous.record, record)
    if changes:
        raise _refused(opts.out, "holds trials trained on other data than this study's", changes, force=True)


def _refused(out: Path, what: str, changes: list[str], *, force: bool) -> ResumeRefused:
    """The refusal naming each change, one per line, and the way out (``--force`` where it may continue)."""
    lines = "\n".join(f"  {line}" for line in changes)
    way_out = "use --out DIR for a new study" + (", or --force to continue anyway" if force else "")
    return ResumeRefused(f"{out}: {what}; changed since the earlier run:\n{lines}\n({way_out})")


def data_record_or_none(study: Study, shipped: Any) -> dict[str, Any]:
    """:func:`data_record` of the data the driver prepared (``shipped``: (key, splits) or None);
    empty where it cannot be read (each trial then reports the data's error)."""
    try:
        return data_record(study, shipped[1] if shipped is not None else None)
    except Exception:
        return {}


def data_files(study: Study) -> dict[str, str]:
    """The study's data files as absolute paths, by key (``data.dataset``): what a later run compares
    (a built-in dataset or a loader names no file)."""
    data = study.config.get("data", {})
    out = {}
    for key in sorted(FILE_KEYS):
        value = data.get(key.split(".", 1)[1])
        if isinstance(value, str) and Path(value).is_file():
            out[key] = str(Path(value).resolve())
    return out


def write_study_record(study: Study, out: Path) -> None:
    """``study.json`` (the validated study, its space and the space's fingerprint, which a later run
    compares before it continues), then ``study.toml`` (the study file as given). ``study.json`` is
    written first: it marks the folder as a search's results (:func:`plan_search` refuses a folder
    of other files), so a search killed between the two is continued, not refused."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        out / STUDY_JSON,
        {
            "name": study.name,
            "source": study.source,
            "settings": study.settings.__dict__,
            "resources": study.resources.__dict__,
            "config": study.config,
            "space": study.space.describe(),
            "space_fingerprint": study.space.fingerprint(),
            "raw": study.raw,
            **written_by(),  # its format (every key the study set is here: hpbench.results.study_changes) and the hpbench writing it
            "data_files": data_files(study),
            "data_choices": study.data_choices,  # searched data files as written -> absolute (best --study-out)
        },
    )
    src = Path(study.source)
    if src.is_file():
        atomic_write_text(out / STUDY_TOML, src.read_text(encoding="utf-8"))


def data_record(study: Study, splits: Any) -> dict[str, Any]:
    """What the report says about the data: its kind and shape, its size, and which splits were
    given with it (used as given) or carved out. ``splits``: the study's data prepared in the
    driver (in memory), or None for streamed data, which is only peeked at (headers, a few rows)."""
    from hpbench.study.resolve import trial_config

    d = trial_config(study, {}).data
    rec: dict[str, Any] = {"dataset": d.dataset, "val_fraction": d.val_fraction, "test_fraction": d.test_fraction, "seed": study.settings.seed}
    if splits is not None:
        n_test = len(splits.x_test) if splits.x_test is not None else 0
        return {**rec, "kind": str(splits.kind), "input_shape": list(splits.input_shape), "task": splits.task, "streamed": False,
                "given": list(splits.given), "n_train": len(splits.x_train), "n_val": len(splits.x_val), "n_test": n_test}
    from hpbench.data.sources import peek

    info = peek(d.dataset, dict(d.options), shape=d.shape, kind=d.kind, stream=d.stream)
    return {**rec, "kind": info.kind.value, "input_shape": list(info.input_shape), "task": info.task, "streamed": True,
            "given": list(info.given), "n": info.n, "num_workers": d.num_workers, "note": info.note}


def write_data_record(out: Path, record: dict[str, Any]) -> None:
    """Add the data record to ``study.json`` (rewritten atomically)."""
    path = out / STUDY_JSON
    study = json.loads(path.read_text(encoding="utf-8"))
    atomic_write_json(path, {**study, "data": record})
