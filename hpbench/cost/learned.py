"""The wall-time figures (:class:`~hpbench.cost.figures.Figures`) learned from this machine's
search history (:mod:`hpbench.cost.history`).

:func:`figures` turns the records into :class:`~hpbench.cost.figures.Figures`: each figure the
median of the newest records that measured it, divided by the contention it was measured under; the
prior where none did. Best epochs come from the same study's records when there are any (where
early stopping ends trials is the study's own), from every study's otherwise.

The speed ratio and the first epoch's extra are read from contention-free seconds where the
epochs' CPU time was measured (``speed_free`` records: each epoch's wall seconds capped at its
training thread's CPU seconds), with the contention the trials met beside them
(``speed_contention``); such records replace the wall-clock ones of the same pool. The figures
then carry that contention (``trials_contention``), and the live ETA replaces it with the one its
own trials measure: a run at load teaches the same speed as a quiet one.

Each record names the device model its predictions came from
(:class:`~hpbench.cost.history.ModelTag`: the cached model's schema and calibration time). The
figures that are ratios to a prediction (the speed ratio, its spread, the first epoch's extra) are
read from the records of the current model only:
against another model they are meaningless (a recalibration halved gan_stability's predicted
epoch, 1.09 -> 0.58 s, while its speed figure, measured against the old model, stayed: -45%).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from hpbench.cost import own_runs
from hpbench.cost.figures import IMPORTANCE_MIN_TRIALS, OF_THIS_STUDY, PRIOR_BEST, Figures

RECENT = 10  # records a figure is read from


class ModelTag(Protocol):
    """A device model's tag (:class:`hpbench.cost.history.ModelTag`), as the figures use it."""

    def measured(self, r: Mapping[str, Any]) -> bool:
        """Whether record ``r``'s predictions came from this model."""


def record_contention(r: Mapping[str, Any], name: str = "") -> float:
    """The contention the record's search was priced at (from its probe, as an estimate's; 1 when
    unknown), that its figure ``name`` is divided by: 1 for a speed figure measured contention-free."""
    c = r.get("contention")
    return 1.0 if name in OF_THE_MODEL and r.get("speed_free") else max(1.0, float(c)) if isinstance(c, (int, float)) else 1.0


def free_first(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records whose speed was measured contention-free when there are any (a wall-clock
    speed carries its run's load, which a contention-free one is priced at afresh); all otherwise."""
    return [r for r in records if r.get("speed_free")] or list(records)


# the figures read as a ratio to the device model's predictions (of the current model's records only)
OF_THE_MODEL = ("speed", "first_epoch_s")
# Records written before they said whether early trials ran (``early_trials``): a search of fewer
# trials than this ran none (hpbench.dispatch.early_launch.MIN_TRIALS)
EARLY_MIN_TRIALS = 4


def early_trials(r: Mapping[str, Any]) -> bool:
    """Whether the record's search trained early trials in the helper while Ray started (as most
    do: assumed where the record says nothing of it, nor of its size)."""
    said, n = r.get("early_trials"), r.get("n_search")
    if isinstance(said, bool):
        return said
    return not isinstance(n, int) or n >= EARLY_MIN_TRIALS


# figure -> which records may measure it
_FIGURES: dict[str, Any] = {
    "startup_s": lambda r: r.get("command") and r.get("ray_started") and early_trials(r),
    "startup_solo_s": lambda r: r.get("command") and r.get("ray_started") and not early_trials(r),
    "startup_warm_s": lambda r: r.get("command") and r.get("warm_runtime"),  # joined the warm local runtime
    "ray_s": lambda r: r.get("command") and r.get("ray_started"),
    "data_s": lambda r: _FIGURES["startup_s"](r),  # the start-up's part that is the study's data: read with it (figures())
    "fresh_worker_s": lambda r: True, "setup_s": lambda r: True, "turnover_s": lambda r: True, "speed": lambda r: True,
    "first_epoch_s": lambda r: True,
    # a replay phase's start, to its first trial: fused repeats' groups start ~3 s later than single runs (their
    # members' models built and stacked first); a record keeps it under the name of its kind
    "tail_s": lambda r: True, "replay_start_s": lambda r: True, "fused_start_s": lambda r: True, "test_s": lambda r: True,
    "test_cold_s": lambda r: True,  # the test split where the driver loads torch for it (no repeats ran before), test_s after
    "report_s": lambda r: r.get("command") and importance(r) and clean_report(r),
    "report_small_s": lambda r: r.get("command") and not importance(r) and clean_report(r),
    "exit_s": lambda r: r.get("command"),
}
_RECORDED_AS = {"startup_solo_s": "startup_s", "startup_warm_s": "startup_s", "report_small_s": "report_s"}  # a figure a record keeps under another name


def measured(records: Sequence[Mapping[str, Any]], name: str) -> list[float]:
    """Figure ``name`` of each record that measures it, oldest first, each divided by the
    contention its search was priced at (:func:`record_contention`)."""
    usable, key = _FIGURES[name], _RECORDED_AS.get(name, name)
    return [float(r[key]) / record_contention(r, name) for r in records if usable(r) and isinstance(r.get(key), (int, float))]


def clean_report(r: Mapping[str, Any]) -> bool:
    """Whether the record's final table (``report_s``) is known to hold no calibration wait: the
    command's wait for its last predictions behind a calibration it ran is in ``report_s`` unless
    the record kept it apart (``calibration_wait_s``, 0 where none; written since bug hunt s47h1),
    or unless the search ran on a model cached before it started (its ``model`` tag's
    ``measured_at`` not after its start: nothing calibrated). Records of older versions (no tag)
    cannot tell: a first search's 25.5 s of calibration wait priced the final table at 19.7 min
    after an upgrade, where the machine's others took 2-5 s (bug hunt s52h4 #2); likewise a tagged
    record whose search recalibrated a stale model (116.7 s)."""
    if isinstance(r.get("calibration_wait_s"), (int, float)):
        return True
    m, started = r.get("model"), r.get("started_at", r.get("at"))
    return (isinstance(m, Mapping) and isinstance(m.get("measured_at"), (int, float)) and isinstance(started, (int, float))
            and float(m["measured_at"]) <= float(started))


def importance(r: Mapping[str, Any]) -> bool:
    """Whether the record's final table scored parameter importances (a search of
    IMPORTANCE_MIN_TRIALS trials or more; assumed where the record does not say its size)."""
    n = r.get("n_search")
    return not isinstance(n, int) or n >= IMPORTANCE_MIN_TRIALS


def figures(records: Sequence[Mapping[str, Any]], *, study: str | None = None, prior: Figures | None = None,
            model: ModelTag | None = None, repriced: Mapping[str, float] | None = None, study_key: str | None = None) -> Figures:
    """This machine's figures (see the module's docstring); ``prior`` where nothing was measured.
    ``model``: the device model the predictions come from (its records only for the figures
    :data:`OF_THE_MODEL`; None: every record's); ``repriced``: the speeds of other models'
    records re-priced against it (run id -> speed, :mod:`hpbench.cost.reprice`), read as its own;
    ``study_key``: the study's fingerprint (:meth:`hpbench.study.schema.Study.fingerprint`), whose
    earlier runs' search spans the estimate moves toward (:mod:`hpbench.cost.own_runs`)."""
    base = prior or Figures()
    values: dict[str, Any] = {}
    sources: dict[str, str] = dict(base.sources)  # a figure nothing here measured keeps the prior's source (a probe's: startup_probe)
    again = repriced or {}
    mine = [r if model is None or model.measured(r) else {**r, "speed": again[r["run_id"]], "first_epoch_s": None, "repriced": True}
            for r in records if model is None or model.measured(r) or r.get("run_id") in again]
    for name in (n for n in _FIGURES if n not in ("data_s", "startup_solo_s")):  # those two below, from the start-up's records
        # The machine's last searches, whatever their study: replayed over the 30 searches
        # recorded here, each figure predicted from the ones before it, this read the start-up
        # within 20% (median), the speed ratio within 31%; the same study's records first read
        # them within 29% and 37% (the load drifting between runs mattered more than the study),
        # and a fitted growth with contention (c^a) within 20% and 41%.
        seen = measured(free_first(mine) if name in OF_THE_MODEL else records, name)[-RECENT:]
        if seen:
            values[name] = statistics.median(seen)
            sources[name] = f"{len(seen)} earlier searches here"
    # The start-up's part that is its study's data (the pre-flight's, before Ray starts), over the same searches as the
    # start-up figure: a search recorded before searches kept it counts at the prior's (its studies are the prior's)
    ups = [r for r in records if _FIGURES["startup_s"](r) and isinstance(r.get("startup_s"), (int, float))][-RECENT:]
    if any(isinstance(r.get("data_s"), (int, float)) for r in ups):
        values["data_s"] = statistics.median(float(r["data_s"]) / record_contention(r) if isinstance(r.get("data_s"), (int, float))
                                             else base.data_s for r in ups)
        sources["data_s"] = f"{len(ups)} earlier searches here"
    # A start-up without early trials is priced less the same data figure (Figures.startup): each such search's own
    # data is taken out and that figure's put in its place. The race's digits study (a loader importing scikit-learn,
    # 0.89 s of data), the only such search here, priced the transfer and distillation studies' (no data to speak of)
    # 6.9 s for 4.7-5.0 s measured (session 26).
    solo = [r for r in records if _FIGURES["startup_solo_s"](r) and isinstance(r.get("startup_s"), (int, float))][-RECENT:]
    if solo:
        data = values.get("data_s", base.data_s)
        values["startup_solo_s"] = statistics.median(
            (float(r["startup_s"]) - (float(r["data_s"]) if isinstance(r.get("data_s"), (int, float)) else base.data_s)) / record_contention(r) + data
            for r in solo)
        sources["startup_solo_s"] = f"{len(solo)} earlier searches here"
    # The speed ratio is the cost model's bias on this study's networks as much as the machine's:
    # measured here, a study's own ratio moved little between two runs (optimizers 0.87 / 0.97,
    # init 0.88 / 0.98, schedules 1.14 / 1.37) where studies differed from 0.32 to 1.71 (the
    # transfer studies' CNNs vs signals' GRUs): the same study's last runs first.
    # The final table's seconds too (it loads and prints the study's results): replayed over the 150
    # commands recorded here at nice 0 with an earlier run of their study, the same study's last 3
    # read it within 17.5% (P90 80%), the machine's last 10 within 19.8% (P90 86%; 13 s at 03:50 UTC
    # after a cost-model benchmark's commands, where the ETA studies' took 1-3 s); the exit not (6.4% vs 5.2%).
    # The test split's too (its size and network are the study's): replayed over the 15 nice-0 searches
    # recorded here with an earlier one of their study, off by 0.18 s (median; mean 0.34 s) where the
    # machine's last 10 were off by 0.33 s (0.58 s: eta-repeats' 0.05-s split priced at signals' 1.6 s).
    values["speed_free"] = "speed" in values and any(r.get("speed_free") for r in mine)
    seen_c = [float(r["speed_contention"]) for r in free_first(mine)[-RECENT:] if r.get("speed_free") and isinstance(r.get("speed_contention"), (int, float))]
    values["trials_contention"] = statistics.median(seen_c) if seen_c and values["speed_free"] else None
    commands = [r for r in records if r.get("command") and clean_report(r)]  # (the speed's pool is its own: mine)
    for name, pool in (("speed", mine), ("report_s", [r for r in commands if importance(r)]), ("report_small_s", [r for r in commands if not importance(r)]),
                       ("test_s", records), ("test_cold_s", records)):
        key = _RECORDED_AS.get(name, name)
        kept = free_first([r for r in pool if r.get("study") == study and isinstance(r.get(key), (int, float))])[-3:]
        if study is not None and kept:
            values[name] = statistics.median(float(r[key]) / record_contention(r, name) for r in kept)
            sources[name] = f"{len(kept)} earlier runs {OF_THIS_STUDY}"
            if name == "speed":
                values["speed_free"] = all(r.get("speed_free") for r in kept)
                values["family_speeds"] = family_speeds(kept)
                # the contention its trials met (their own: two at max_concurrent = 2 on 2 cores with the driver,
                # the helper, Ray), at which its contention-free speed is priced until the live search measures its own
                met = [float(r["speed_contention"]) for r in kept if isinstance(r.get("speed_contention"), (int, float))]
                values["trials_contention"] = statistics.median(met) if met and values["speed_free"] else None
    # Which configurations run long (hpbench.cost.quality): the study's own, from its last runs; none from the
    # other studies (the quickstart's 0.12 against signals' 0.80: the machine's median mispriced both)
    rhos = [float(r["quality_rho"]) for r in records if r.get("study") == study and isinstance(r.get("quality_rho"), (int, float))][-3:]
    if study is not None and rhos:
        values["quality_rho"] = statistics.median(rhos)
        sources["quality_rho"] = f"{len(rhos)} earlier runs {OF_THIS_STUDY}"
    # Where its trials without early stopping end (a GAN's collapse): the study's own last runs' only
    ends = tuple(f for r in [r for r in records if r.get("study") == study and r.get("end_fractions")][-3:] for f in r["end_fractions"])
    if study is not None and any(f < 1.0 for f in ends):
        values["end_fractions"] = ends
        sources["end_fractions"] = f"earlier runs {OF_THIS_STUDY}"
    same = [r for r in records if r.get("study") == study and r.get("best_fractions")][-3:]
    pool = same or [r for r in records if r.get("best_fractions")][-RECENT:]
    fractions = tuple(f for r in pool for f in r["best_fractions"])
    if fractions:
        values["best_fractions"] = fractions
        # the study's own runs' with the learning rate each was seen at (another study's rates are not this one's)
        lrs = tuple(a for r in pool for a in (r.get("best_lrs") or [0.0] * len(r["best_fractions"])))
        values["best_lrs"] = lrs if same and any(lrs) and len(lrs) == len(fractions) else ()
        # and the batch size each was seen at (any study's: a batch's rows are comparable; 0 where a record kept none)
        batches = tuple(b for r in pool for b in (r.get("best_batches") or [0.0] * len(r["best_fractions"])))
        values["best_batches"] = batches if any(batches) and len(batches) == len(fractions) else ()
        values["best_own"] = bool(same)
        sources["best_fractions"] = f"{len(pool)} earlier {'runs ' + OF_THIS_STUDY if same else 'searches here'}"
    else:
        values["best_fractions"], values["best_batches"] = PRIOR_BEST, Figures().best_batches
    if study_key is not None:  # the same study's own searches, as commands ran them (hpbench.cost.own_runs)
        runs = [r for r in records if r.get("study_key") == study_key and r.get("command") and isinstance(r.get("search_s"), (int, float))
                and r["search_s"] > 0][-own_runs.RUNS:]
        if runs:
            values["study_search_s"] = tuple(float(r["search_s"]) / record_contention(r) for r in runs)
            sources["study_search_s"] = f"{len(runs)} earlier run{'s' if len(runs) > 1 else ''} {OF_THIS_STUDY}"
    speeds = [r["speed"] / record_contention(r, "speed") for r in free_first(mine) if isinstance(r.get("speed"), (int, float))][-RECENT:]
    if len(speeds) >= 3:
        mid = statistics.median(speeds)
        values["spread"] = min(0.5, max(0.1, 1.5 * statistics.median(abs(s - mid) for s in speeds) / mid))
    return replace(base, **values, sources=sources)


def family_speeds(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per family the study searched, the median of its speed in ``records`` (the same study's
    latest runs): the study-wide figure moved with the families its searcher chose (signals'
    re-priced 2.80 from a GRU-heavy run, where the next run's CNNs and MLPs ran 1.04x). Records
    re-priced against another model keep none (their families were priced by the old one)."""
    got: dict[str, list[float]] = {}
    for r in records:
        for f, v in (r.get("family_speeds") or {}).items() if not r.get("repriced") else ():
            if isinstance(v, (int, float)) and v > 0:
                got.setdefault(str(f), []).append(float(v) / record_contention(r, "speed"))
    return {f: statistics.median(v) for f, v in got.items()}
