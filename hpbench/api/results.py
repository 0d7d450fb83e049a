"""``hpbench.Results``: a results directory from Python — its tables, its best trial, its report
and its trained models.

Reading the tables and the best trial needs pandas only (no Ray, no torch); :meth:`Results.load_model`
imports torch, :meth:`Results.report` the report's modules.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpbench.api.fixed import fixed_study, plain, study_toml, typed_params
from hpbench.api.repeat_origin import RepeatOrigin, repeat_origin
from hpbench.api.trial_result import TrialResult, as_float, as_int, is_number, metric_column, trial_number
from hpbench.errors import StudyError
from hpbench.results.deleted_weights import read_deleted
from hpbench.results.failures import Failures, failures
from hpbench.results.files import STUDY_JSON, atomic_write_text, check_output, read_record
from hpbench.results.keep import diverged_without_weights, no_weights, not_kept
from hpbench.results.load import load
from hpbench.results.ranking import ranked_frame, yet
from hpbench.results.status import is_search_trial
from hpbench.results.weights import weights_path
from hpbench.study.names import families_named
from hpbench.study.reader import Reader

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from rich.console import Console

    from hpbench.api.predict import Predictor


class Results:
    """A results directory (``results/<study>``), written by :func:`hpbench.search` or ``hpbench search``.

    ``storage`` is the Optuna storage URL the search used when it was not the default
    (``RESULTS/optuna.db``); the report's importance section reads it."""

    def __init__(self, path: str | Path, *, storage: str | None = None) -> None:
        self.path = Path(path)
        self.storage = storage
        self.record: dict[str, Any] = read_record(self.path)  # FileNotFoundError, DamagedRecord

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    @property
    def name(self) -> str:
        return str(self.record["name"])

    @property
    def metric(self) -> str:
        return str(self.record["settings"]["metric"])

    @property
    def mode(self) -> str:
        return str(self.record["settings"]["mode"])

    @property
    def params(self) -> list[str]:
        """The searched dimensions, in ``[space]`` order (each a column of :attr:`trials`)."""
        return list(self.record.get("space", {}))

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial, as ``hpbench.load(path)`` (columns: :mod:`hpbench.results.columns`)."""
        return load(self.path, "trials")

    @property
    def epochs(self) -> pd.DataFrame:
        """One row per trial and epoch, as ``hpbench.load(path, table="epochs")``."""
        return load(self.path, "epochs")

    # -- trials ----------------------------------------------------------------------------------
    def ranking(self) -> pd.DataFrame:
        """The finished search trials with a finite ``best_<metric>``, best first (ties: the
        earlier trial first): the leaderboard's order, repeats and device comparisons left out."""
        return ranked_frame(self.trials, metric=self.metric, mode=self.mode)

    @property
    def best(self) -> TrialResult:
        """The best finished search trial (the leaderboard's first). ``LookupError`` when no
        trial has finished with a value of the study metric."""
        ranking = self.ranking()
        if ranking.empty:
            trials = self.trials
            raise LookupError(f"{self.path}: no finished trial with a value of best_{self.metric}"
                              f"{yet(trials['status'] if 'status' in trials.columns else ())}")
        return self.trial(int(ranking.iloc[0]["trial"]))

    def trial(self, number: int | str) -> TrialResult:
        """Trial ``number`` (the ``trial`` column; ``"3"`` as 3, as :meth:`load_model`) as a :class:`TrialResult`."""
        number = trial_number(number)
        df = self.trials
        rows = df[df["trial"] == number] if "trial" in df.columns else df.iloc[0:0]
        if rows.empty:
            held = f"trials {int(df['trial'].min())}..{int(df['trial'].max())}" if len(df) and "trial" in df.columns else "no trials"
            raise LookupError(f"{self.path}: no trial {number} ({held})")
        row = {str(k): plain(v) for k, v in rows.iloc[0].items()}
        best_epoch = as_int(row.get("best_epoch"))
        metrics: dict[str, float] = {}
        epochs = self._epochs_or_empty()
        if best_epoch is not None and not epochs.empty:
            at = epochs[(epochs["trial"] == number) & (epochs["epoch"] == best_epoch)]
            if not at.empty:
                metrics.update({str(k): float(v) for k, v in at.iloc[0].items() if metric_column(str(k)) and is_number(v)})
        metrics.update({k: float(v) for k, v in row.items() if k.startswith("test_") and is_number(v)})
        path = weights_path(self.path, number)
        return TrialResult(
            trial=number, metric=self.metric, mode=self.mode, value=as_float(row.get(f"best_{self.metric}")),
            params=typed_params(row, self.record.get("raw", {}).get("space", {}), self.params),
            metrics=metrics, best_epoch=best_epoch, epochs=as_int(row.get("epochs")), status=row.get("status"),
            stop_reason=row.get("stop_reason"), weights=path if path.is_file() else None,
        )

    def _epochs_or_empty(self) -> pd.DataFrame:
        try:
            return self.epochs
        except FileNotFoundError:
            import pandas as pd

            return pd.DataFrame(columns=["trial", "epoch"])

    # -- models ----------------------------------------------------------------------------------
    def load_model(self, trial: int | str | None = None) -> torch.nn.Module:
        """The trained model of ``trial`` (default: :attr:`best`), rebuilt from its saved weights,
        on the CPU, in eval mode: the network a supervised trial trained, an rl trial's policy (its
        actor-critic), a gan trial's generator. Trials save their final model when they end by themselves
        (completed, early stopped, diverged), not when the scheduler pruned them. A user family
        (``package.module:build``) that the study names imports as the search's trials imported it."""
        from hpbench.api.predict import load_model

        return load_model(self._weights(trial), user_families=self.families)

    def load_predictor(self, trial: int | str | None = None) -> Predictor:
        """``trial``'s (default: :attr:`best`) supervised model with its data's encoding, for new raw
        data: ``predict(x)`` gives the labels the data held (or values), ``predict_proba(x)`` the
        class probabilities (:class:`hpbench.api.predict.Predictor`)."""
        from hpbench.api.predict import load_predictor

        return load_predictor(self._weights(trial), user_families=self.families)

    @property
    def families(self) -> tuple[str, ...]:
        """The model families the searched study names: its ``[model] family`` and those its
        ``[space]`` chooses among (the user families among them are the ones its weights may build)."""
        raw = self.record.get("raw")
        if not isinstance(raw, dict) or not isinstance(raw.get("model", {}), dict):  # a record without the study as read names none
            return ()
        return tuple(families_named(Reader(raw=raw, source=str(self.path / STUDY_JSON), base_dir=self.path)))

    def _weights(self, trial: int | str | None) -> Path:
        number = self.best.trial if trial is None else trial_number(trial)
        path = weights_path(self.path, number)
        if not path.is_file():
            self.trial(number)  # a trial the search never had is named as such (LookupError), not as one without weights
            diverged = diverged_without_weights(self._row(number))
            if diverged:
                raise FileNotFoundError(f"{self.path}: {diverged}")
            why = self.not_kept(number)
            if why:
                raise FileNotFoundError(f"{self.path}: {why}; `hpbench best --trial {number} --study-out FILE` + `hpbench train FILE` retrains it")
            raise FileNotFoundError(f"{self.path}: trial {number} has no saved weights ({path}): only trials that ran to their own end "
                                    "save one (a pruned or failed trial does not); `hpbench best` + `hpbench train` retrains it")
        return path

    def not_kept(self, trial: int | str) -> str | None:
        """Why ``trial`` has no weights file where ``[study] keep_weights`` deleted it, naming the
        value that deleted it (``weights/deleted.json``; an older folder's: the study record's);
        ``None`` otherwise, also for a trial that never saved one (:meth:`no_weights` tells why)."""
        number = trial_number(trial)
        if weights_path(self.path, number).is_file():
            return None
        return not_kept(self.record, self._row(number), deleted=read_deleted(self.path))

    def no_weights(self, trial: int | str) -> str | None:
        """Why ``trial`` has no weights file, where that can be told: it diverged before any
        epoch's weights were kept (in its first epoch), or ``keep_weights`` deleted it."""
        number = trial_number(trial)
        if weights_path(self.path, number).is_file():
            return None
        return no_weights(self.record, self._row(number), deleted=read_deleted(self.path))

    def _row(self, number: int) -> dict[str, Any] | None:
        df = self.trials
        rows = df[df["trial"] == number].to_dict("records") if "trial" in df.columns else []
        return {str(k): v for k, v in rows[0].items()} if rows else None

    # -- the winner as a study ------------------------------------------------------------------
    def best_study(self, trial: int | None = None) -> dict[str, Any]:
        """The study of this search with the best (or ``trial``'s) hyperparameters fixed and no
        ``[space]``: what ``hpbench train`` trains (``hpbench.Study.from_dict(...)`` reads it)."""
        chosen = self.best if trial is None else self.trial(trial)
        fixed = fixed_study(self.record, chosen.params)
        origin = self.repeat_origin(chosen.trial)
        if origin is not None:  # a repeat ran the configuration with its own seed (its splits, initialization, shuffling)
            fixed.setdefault("study", {})["seed"] = origin.seed
        return fixed

    def repeat_origin(self, trial: int | str) -> RepeatOrigin | None:
        """Which search trial ``trial`` repeats, with which seed, and whether it trained fused
        (:mod:`hpbench.api.repeat_origin`); ``None`` where it is no repeat."""
        return repeat_origin(self._row(trial_number(trial)))

    def write_best_study(self, path: str | Path, trial: int | None = None) -> Path:
        """Write :meth:`best_study` as a TOML study file (atomically; checked to parse first).
        ``StudyError`` for a directory or a file of the results, ``OutputError``
        (:mod:`hpbench.results.files`) where it cannot be written, before anything is."""
        from hpbench.api.study import Study

        target = Path(path)
        check_output(self.path, target, source="hpbench.Results.write_best_study", key="path")
        number = self.best.trial if trial is None else trial
        raw = self.best_study(number)
        try:  # never write a study that does not validate
            Study.from_dict(raw, source=str(target), base_dir=target.parent)
        except StudyError as err:  # the record's own study breaks a rule (one an earlier hpbench did not have): name the record, not target
            raise StudyError.of([replace(p, source=str(self.path / STUDY_JSON), hint=_recorded_hint(p.hint, target))
                                 if p.source == str(target) else p for p in err.problems]) from None
        origin = self.repeat_origin(number)
        repeat = f" ({origin.label()})" if origin else ""
        header = f"Trial {number} of {self.path}{repeat}: the searched hyperparameters fixed, no [space] (hpbench best)."
        note = origin.fused_note() if origin else None
        if note:
            header += f"\nIt {note}."
        atomic_write_text(target, study_toml(raw, header=header))
        return target

    # -- reports ---------------------------------------------------------------------------------
    def report(self, console: Console | None = None, *, sections: list[str] | None = None, top: int = 10,
               budget_flops: float | None = None, budget_s: float | None = None) -> None:
        """Print the report (``hpbench report``) on ``console`` (default: a new Rich console)."""
        from rich.console import Console

        from hpbench.report.data import load_report
        from hpbench.report.sections import print_report

        _check_report("hpbench.Results.report", sections, top)
        print_report(console or Console(emoji=False), load_report(self.path, storage=self.storage), sections=sections, top=top,
                     budgets={"budget_flops": budget_flops, "budget_s": budget_s})

    def report_json(self, *, sections: list[str] | None = None, top: int = 10, budget_flops: float | None = None,
                    budget_s: float | None = None) -> dict[str, Any]:
        """The report as plain data (``hpbench report --json``)."""
        from hpbench.report.data import load_report
        from hpbench.report.sections import report_json

        _check_report("hpbench.Results.report_json", sections, top)
        return report_json(load_report(self.path, storage=self.storage), sections=sections, top=top,
                           budgets={"budget_flops": budget_flops, "budget_s": budget_s})

    def plots(self, directory: str | Path, *, top: int = 8, html: bool = False) -> list[Path]:
        """Write the report's PNG figures into ``directory`` (and ``report.html`` with ``html``); a
        figure with nothing to draw (e.g. every trial failed) is left out of the returned list.
        ``StudyError`` when ``directory`` is a file, ``OutputError`` (:mod:`hpbench.results.files`)
        when it cannot be written (under a file, read-only), before anything is drawn."""
        from hpbench.report.data import load_report
        from hpbench.report.html_page import write_html
        from hpbench.report.plots import check_plots_dir, write_plots

        check_plots_dir(Path(directory), source="hpbench.Results.plots", key="directory")
        data = load_report(self.path, storage=self.storage)
        written = write_plots(data, Path(directory), top=top)
        if html:
            written.append(write_html(data, Path(directory), written))
        return written

    def failures(self) -> Failures:
        """How many trials failed, and each distinct error with the number of trials it ended."""
        df = self.trials
        return failures(df.to_dict(orient="records") if not df.empty else [])

    def summary(self) -> dict[str, Any]:
        """A machine-readable summary (``hpbench search --json``): counts, the best trial, where."""
        df = self.trials
        search = df[_search_mask(df)] if not df.empty else df
        try:
            best: dict[str, Any] | None = self.best.to_dict()
        except LookupError:
            best = None
        return {
            "study": self.name, "results": str(self.path), "metric": self.metric, "mode": self.mode,
            "n_trials": len(search), "n_other_runs": len(df) - len(search),
            "status": _counts(search, "status"), "stop_reason": _counts(search, "stop_reason"),
            "train_s": float(df["train_s"].sum()) if "train_s" in df.columns else None,
            "best": best,
            "failed": {"n": (failed := self.failures()).n_failed, "errors": [{"error": e, "trials": n} for e, n in failed.errors]},
        }


def _recorded_hint(hint: str, target: Path) -> str:
    """A problem of the study a results folder recorded: this version's rule, broken by the record
    (an earlier hpbench may have accepted it), and the study file that was therefore not written."""
    said = f"the study this folder recorded breaks this rule of this version of hpbench; {target} was not written"
    return f"{hint}; {said}" if hint else said


def _search_mask(df: pd.DataFrame) -> pd.Series:
    """True for the search trials' rows (not repeats, not device comparisons)."""
    import pandas as pd

    return pd.Series([is_search_trial(r) for r in df.to_dict(orient="records")], index=df.index, dtype=bool)


def _counts(df: pd.DataFrame, column: str) -> dict[str, int]:
    if column not in df.columns:
        return {}
    return {str(k): int(v) for k, v in sorted(df[column].dropna().value_counts().items())}


def _check_report(source: str, sections: list[str] | None, top: int) -> None:
    """What ``hpbench report`` refuses at its options: an unknown section, ``top`` below 1."""
    from hpbench.errors import did_you_mean
    from hpbench.report.names import SECTION_NAMES

    for name in sections or ():
        if name not in SECTION_NAMES:
            hint = did_you_mean(str(name), SECTION_NAMES)
            raise StudyError(source=source, key="sections", rule=f"must name sections among {', '.join(SECTION_NAMES)}", value=name,
                             hint=hint if hint.startswith("did you mean") else "")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise StudyError(source=source, key="top", rule="must be an integer of at least 1", value=top)
