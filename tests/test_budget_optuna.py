"""A trial a spent budget stopped (``--budget-s`` / ``--budget-flops``) is ranked in the tables with
the value of the epochs it ran, and Optuna's storage now records it so too: COMPLETE with its
``best_<metric>``, so that ``optuna.load_study(...).best_trial`` is ``hpbench best``'s (bug hunt
s52/v1, finding 2: Ray Tune stops the experiment at the budget without calling its searcher's
``on_trial_complete``, and those trials were settled FAIL with no value; ``best_trial`` raised
when every trial was). The decision (no Ray), then one real search cut by its budget."""

from __future__ import annotations

import math

import pytest

from hpbench.dispatch.budget import tell_stopped


def _ended(trial_id: str, status: str, stop: str | None, best: float | None) -> dict[str, object]:
    return {"trial_id": trial_id, "status": status, "stop_reason": stop, "best_val_accuracy": best}


def test_budget_stopped_trials_are_told_as_the_tables_rank_them():
    import optuna
    from optuna.storages import InMemoryStorage
    from optuna.trial import TrialState

    storage = InMemoryStorage()
    ostudy = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    asked = {name: ostudy.ask()._trial_id for name in ("a", "b", "c", "d")}
    ostudy.tell(storage.get_trial(asked["d"]).number, 0.1)  # told already (its trainer ended it): left as it is
    rows = [_ended("a", "finished", "budget", 0.97), _ended("b", "finished", "budget", math.nan), _ended("d", "finished", "budget", 0.5),
            _ended("never-asked", "finished", "budget", 0.99)]
    assert tell_stopped(storage, study_name="s", asked=asked, rows=rows, metric="val_accuracy") == 1
    got = {name: storage.get_trial(tid) for name, tid in asked.items()}
    assert got["a"].state == TrialState.COMPLETE and got["a"].value == pytest.approx(0.97, rel=1e-5)
    assert got["b"].state == TrialState.FAIL  # no finite value: not ranked, not a value for the sampler
    assert got["c"].state == TrialState.RUNNING  # not among the stopped: the storage settles it at the end
    assert got["d"].state == TrialState.COMPLETE and got["d"].value == pytest.approx(0.1, rel=1e-5)
    assert ostudy.best_trial.number == got["a"].number


@pytest.mark.slow
def test_a_search_cut_by_its_budget_records_its_ranked_trials_complete_in_optuna(ray_local, tmp_path, monkeypatch):
    """Each epoch sleeps 0.1 s (tests.helpers.flaky) and a trial runs up to 1000: none ends by
    itself. The budget counts the training seconds the driver was reported (the real search's clock,
    the command's wall time, is swapped out for that count so that the cut comes after reported
    epochs on any machine): the trials running then are stopped with stop_reason budget."""
    import optuna
    from optuna.trial import TrialState

    import hpbench
    from hpbench.dispatch import search_phase
    from hpbench.dispatch.budget import Budget
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.results.ranking import value
    from hpbench.results.status import missing
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    marks = tmp_path / "marks"
    marks.mkdir()
    path = tmp_path / "b.toml"
    path.write_text(TINY_STUDY.replace("trials = 4", "trials = 6").replace("max_epochs = 3", "max_epochs = 1000")
                    .replace('family = "mlp"\ndepth = 1\nwidth = 32', f'family = "tests.helpers.flaky:build"\ndir = "{marks}"\nsleep = 0.1'))
    monkeypatch.setattr(search_phase, "Budget", lambda **kw: Budget(**{**kw, "clock": None}))  # seconds: the epochs' reported
    out = tmp_path / "out"
    run_search(load_study(path), SearchOptions(out=out, budget_s=0.5))
    trials = hpbench.load(out)
    assert "budget" in set(trials["stop_reason"]), trials[["status", "stop_reason"]]
    ostudy = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'optuna.db'}")
    by_number = {t.number: t for t in ostudy.trials}
    for row in trials.to_dict("records"):
        v = value(row, metric="val_accuracy")
        if missing(row.get("optuna_trial")):  # never reached the storage: never ranked either
            assert v is None, row
            continue
        told = by_number[int(row["optuna_trial"])]
        if v is None:  # not ranked (interrupted before its first epoch)
            assert told.state in (TrialState.FAIL, TrialState.PRUNED), (row, told.state)
        else:
            assert told.state == TrialState.COMPLETE and told.value == pytest.approx(v, rel=1e-5), (row, told.state, told.value)
    assert ostudy.best_trial.value == pytest.approx(hpbench.Results(out).best.value, rel=1e-5)
