"""The value Optuna is told for a finished trial is the trials table's ``best_<metric>`` (the study
metric of the weights the trial ended with), for Tune's trials and the early ones alike, while its
intermediate values stay the running best by epoch, which the schedulers judge. Under
``restore_best_weights`` with another monitor the two differ: Optuna was told the running best, so
``optuna.db``'s best trial was not ``hpbench best``'s (bug hunt s52h2, finding 1). No Ray runtime."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

# val_loss (the monitor) is best at epoch 2, val_accuracy (the metric) at epoch 3: restore_best_weights keeps epoch 2
ROWS = [{"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.9}, {"epoch": 2, "val_accuracy": 0.6, "val_loss": 0.4},
        {"epoch": 3, "val_accuracy": 0.8, "val_loss": 0.5, "stop_reason": "early_stopped", "best_epoch": 2}]


def test_the_trial_value_is_the_metric_at_the_trainers_best_epoch_else_the_best_epochs():
    from hpbench.results.ranking import trial_value

    values = [r["val_accuracy"] for r in ROWS]
    assert trial_value(values, best_epoch=2, mode="max") == (2, 0.6)
    assert trial_value(values, best_epoch=None, mode="max") == (3, 0.8)  # pruned or failed: the best epoch's
    assert trial_value(values, best_epoch=None, mode="min") == (1, 0.5)
    assert trial_value([0.5, math.nan], best_epoch=2, mode="max") == (2, None)
    assert trial_value([math.nan], best_epoch=None, mode="max") == (None, None)


def test_a_tune_trials_final_value_counts_the_epochs_before_its_restored_checkpoint():
    from hpbench.dispatch.trainable import final_value

    assert final_value({1: 0.5, 2: 0.6, 3: 0.8}, best_epoch=2, mode="max") == pytest.approx(0.6)
    assert final_value({1: math.nan}, best_epoch=None, mode="max") == -math.inf  # none: the worst, as before
    assert final_value({1: math.nan}, best_epoch=None, mode="min") == math.inf


def test_tunes_searcher_tells_optuna_the_final_value_and_keeps_the_running_best_as_intermediate_values(tmp_path):
    import optuna

    from hpbench.dispatch.searchers import FINAL_VALUE, OBJECTIVE, make_searcher
    from hpbench.study.parse import parse_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = parse_study({"study": {"name": "final", "searcher": "random", "metric": "val_accuracy", "max_concurrent": 2},
                         "data": {"dataset": "iris"}, "model": {"family": "mlp"}, "space": {"lr": {"loguniform": [1e-4, 1e-1]}}})
    storage = optuna.storages.InMemoryStorage()
    searcher = make_searcher(study, storage=storage)
    assert searcher.suggest("t") is not None
    for row, running in zip(ROWS, (0.5, 0.6, 0.8), strict=True):
        searcher.on_trial_result("t", {**row, OBJECTIVE: running})
    searcher.on_trial_complete("t", {**ROWS[-1], OBJECTIVE: 0.8, FINAL_VALUE: 0.6})
    (told,) = optuna.load_study(study_name="final", storage=storage).trials
    assert told.state == optuna.trial.TrialState.COMPLETE and told.value == pytest.approx(0.6, rel=1e-6)
    assert told.intermediate_values == pytest.approx({1: 0.5, 2: 0.6, 3: 0.8}, rel=1e-6)


def test_an_early_trial_is_told_the_metric_of_the_weights_it_kept():
    import optuna

    from hpbench.dispatch.early_helper import running_best, tell_ended

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for direction in ("maximize", "minimize"):
        ostudy = optuna.create_study(direction=direction)
        best = running_best(ROWS, SimpleNamespace(settings=SimpleNamespace(metric="val_accuracy", mode=direction[:3])))  # type: ignore[arg-type]
        tell_ended(ostudy, ostudy.ask(), {"rows": ROWS, "error": None}, best, metric="val_accuracy")
        (told,) = ostudy.trials
        assert told.state.name == "COMPLETE" and told.value == pytest.approx(0.6, rel=1e-6)
        assert told.intermediate_values == dict(best)  # the running best by epoch
