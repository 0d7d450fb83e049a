"""Keras-exact early stopping, driven by lists of values (no training)."""

from __future__ import annotations

import math

import pytest

from hpbench import EarlyStopping


def run(values, **kw):
    """Feed values epoch by epoch (0-based); returns (stopping, epoch it stopped at or None)."""
    es = EarlyStopping(**kw)
    for epoch, v in enumerate(values):
        es.update(epoch, v)
        if es.stop_training:
            return es, epoch
    return es, None


def test_public_class():
    import hpbench
    from hpbench.train.early_stopping import EarlyStopping as inner

    assert hpbench.EarlyStopping is inner


def test_first_value_is_an_improvement():
    es = EarlyStopping("val_loss")
    assert es.update(0, 5.0) is True
    assert es.best == 5.0 and es.best_epoch == 0 and es.wait == 0


@pytest.mark.parametrize(
    ("values", "kw", "best", "best_epoch"),
    [
        ([1.0, 1.0], {"patience": 5}, 1.0, 0),  # equal is not an improvement (strict)
        ([1.0, 0.95], {"patience": 5, "min_delta": 0.1}, 1.0, 0),  # needs < best - |min_delta|
        ([1.0, 0.89], {"patience": 5, "min_delta": 0.1}, 0.89, 1),
        ([1.0, 0.89], {"patience": 5, "min_delta": -0.1}, 0.89, 1),  # |min_delta|
        ([1.0, 0.9], {"patience": 5, "min_delta": 0.1}, 1.0, 0),  # exactly best - delta: not strict
    ],
)
def test_min_mode_strict_improvement(values, kw, best, best_epoch):
    es, _ = run(values, monitor="val_loss", **kw)
    assert es.best == best and es.best_epoch == best_epoch


@pytest.mark.parametrize(
    ("values", "min_delta", "best"),
    [([0.5, 0.5], 0.0, 0.5), ([0.5, 0.55], 0.1, 0.5), ([0.5, 0.61], 0.1, 0.61), ([0.5, 0.61], -0.1, 0.61)],
)
def test_max_mode_strict_improvement(values, min_delta, best):
    es, _ = run(values, monitor="val_accuracy", patience=5, min_delta=min_delta)
    assert es.mode == "max" and es.best == best


def test_wait_grows_and_resets_on_improvement():
    es = EarlyStopping("val_loss", patience=10)
    waits = []
    for epoch, v in enumerate([3.0, 3.1, 3.2, 2.0, 2.5, 2.6]):
        es.update(epoch, v)
        waits.append(es.wait)
    assert waits == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize(("patience", "stop_at"), [(0, 1), (1, 1), (2, 2), (3, 3)])
def test_stops_when_wait_reaches_patience(patience, stop_at):
    # Never improves after epoch 0: wait is epoch, and stop needs epoch > 0 (patience 0 acts like 1).
    es, stopped = run([1.0] * 10, monitor="val_loss", patience=patience)
    assert stopped == stop_at
    assert es.stopped_epoch == stop_at and es.wait == max(patience, 1)


def test_patience_zero_does_not_stop_at_epoch_zero():
    es = EarlyStopping("val_loss", patience=0)
    es.update(0, 1.0)
    assert not es.stop_training


def test_improvement_never_stops():
    _, stopped = run([5.0, 4.0, 3.0, 2.0, 1.0], monitor="val_loss", patience=0)
    assert stopped is None


def test_baseline_wait_only_resets_when_beating_baseline():
    # Improvements that miss the baseline still become best, but wait keeps growing; as in
    # Keras, the stop check only runs on epochs without improvement.
    es = EarlyStopping("val_loss", patience=3, baseline=0.5)
    waits = []
    for epoch, v in enumerate([1.0, 0.9, 0.8, 0.85]):
        es.update(epoch, v)
        waits.append(es.wait)
    assert waits == [1, 2, 3, 4]
    assert es.stop_training and es.stopped_epoch == 3
    assert es.best == 0.8 and es.best_epoch == 2


def test_improving_epochs_never_stop_even_without_baseline_reset():
    _, stopped = run([1.0, 0.9, 0.8, 0.7], monitor="val_loss", patience=2, baseline=0.5)
    assert stopped is None


def test_baseline_beaten_resets_wait():
    es, stopped = run([0.4, 0.45, 0.3, 0.35, 0.36], monitor="val_loss", patience=2, baseline=0.5)
    assert es.best == 0.3 and es.best_epoch == 2 and stopped == 4


def test_baseline_max_mode():
    _, stopped = run([0.5, 0.6, 0.7, 0.65], monitor="val_accuracy", patience=3, baseline=0.9)
    assert stopped == 3


def test_start_from_epoch_ignores_early_epochs():
    es, stopped = run([0.1, 0.2, 5.0, 5.0, 5.0], monitor="val_loss", patience=1, start_from_epoch=2)
    assert es.best == 5.0 and es.best_epoch == 2
    assert stopped == 3


def test_none_value_is_ignored():
    es = EarlyStopping("val_loss", patience=1)
    assert es.on_epoch_end(0, {"train_loss": 1.0}) is False
    assert es.best is None and es.wait == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_stops_as_diverged_and_is_never_best(bad):
    es, stopped = run([1.0, bad, 0.1], monitor="val_loss", patience=10)
    assert stopped == 1 and es.diverged
    assert es.best == 1.0 and es.best_epoch == 0


def test_nan_first_value_is_not_best():
    es, stopped = run([math.nan], monitor="val_loss", patience=3)
    assert stopped == 0 and es.diverged and es.best is None


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [("val_loss", "min"), ("train_loss", "min"), ("val_error", "min"), ("val_rmse", "min"),
     ("val_accuracy", "max"), ("val_acc", "max"), ("val_r2", "max")],
)
def test_auto_mode(monitor, mode):
    assert EarlyStopping(monitor).mode == mode


def test_auto_mode_unknown_metric_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cannot tell whether 'val_widgets'.*mode = 'min' or 'max'"):
        EarlyStopping("val_widgets")
    assert EarlyStopping("val_widgets", mode="max").mode == "max"


@pytest.mark.parametrize(("kw", "msg"), [({"mode": "up"}, "mode"), ({"patience": -1}, "patience"), ({"start_from_epoch": -1}, "start_from_epoch")])
def test_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        EarlyStopping("val_loss", **kw)


def test_state_records_best_wait_and_stopped_epoch():
    es, _ = run([1.0, 0.5, 0.6, 0.7], monitor="val_loss", patience=2)
    st = es.state()
    assert (st.best, st.best_epoch, st.wait, st.stopped_epoch, st.diverged) == (0.5, 1, 2, 3, False)


def test_reset():
    es, _ = run([1.0, 2.0, 3.0], monitor="val_loss", patience=1)
    es.reset()
    assert (es.best, es.wait, es.stop_training, es.stopped_epoch) == (None, 0, False, 0)


STUDY = """
[study]
name = "es"
metric = "val_loss"
[data]
dataset = "{dataset}"
[model]
family = "mlp"
[train]
early_stopping = {{ monitor = "{monitor}", patience = 2 }}
"""


@pytest.mark.parametrize(("dataset", "monitor"), [("digits", "val_rmse"), ("diabetes", "val_accuracy"), ("digits", "val_widgets")])
def test_unknown_monitor_is_a_validation_error(write_study, dataset, monitor):
    from hpbench.errors import StudyError
    from hpbench.study.parse import load_study

    with pytest.raises(StudyError, match=r"train\.early_stopping\.monitor"):
        load_study(write_study(STUDY.format(dataset=dataset, monitor=monitor)))


def test_known_monitor_validates(write_study):
    from hpbench.study.parse import load_study

    study = load_study(write_study(STUDY.format(dataset="diabetes", monitor="val_r2")))
    assert study.config["train"]["early_stopping"]["monitor"] == "val_r2"


def test_state_dict_round_trip_keeps_progress_not_settings():
    es, _ = run([3.0, 2.0, 2.5], patience=5)
    saved = es.state_dict()
    assert set(saved) == {"wait", "stopped_epoch", "best", "best_epoch", "stop_training", "diverged"}
    other = EarlyStopping(patience=5)
    other.load_state_dict({**saved, "patience": 99})  # settings in an older checkpoint are ignored
    assert other.state() == es.state() and other.patience == 5
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({"wait": 1})
