"""Where early stopping ends a trial, against its batch size (hpbench.cost.ends.batch_fraction): the
estimate and the live ETA draw best epochs seen at one batch size (the prior's at about 64 rows, a
search's own at theirs) for trials at another. Without Ray."""

from __future__ import annotations

import random
from concurrent.futures import Future

import pytest

REL = 1e-5

BATCH_STUDY = """
[study]
name = "batch-sizes"
seed = 0
metric = "val_accuracy"
searcher = "random"
scheduler = "none"
trials = 12
max_concurrent = 2

[data]
dataset = "digits"

[model]
family = "mlp"
depth = 1
width = 16

[optimizer]
name = "adam"
lr = 0.003

[train]
max_epochs = 40
batch_size = BATCH
early_stopping = { monitor = "val_loss", patience = 3 }

[space]
"model.width" = { choice = [16, 32] }
"""


def test_a_best_epoch_seen_at_one_batch_size_moves_to_another_by_the_elasticity():
    from hpbench.cost.ends import BATCH_ELASTICITY, batch_fraction, moved_fraction

    assert batch_fraction(0.2, at=64, to=512) == pytest.approx(0.2 * 8 ** BATCH_ELASTICITY, rel=REL)  # larger batches: later
    assert batch_fraction(0.5, at=64, to=16) == pytest.approx(0.5 * 0.25 ** BATCH_ELASTICITY, rel=REL)
    assert batch_fraction(0.8, at=16, to=1437) == 1.0  # at most every epoch
    for at, to in ((None, 64), (0.0, 64), (64, None)):  # a batch size not known: unchanged
        assert batch_fraction(0.3, at=at, to=to) == 0.3
    both = moved_fraction(0.2, lr_at=0.001, lr_to=0.004, batch_at=64, batch_to=256)
    assert both == pytest.approx(0.2 * 4 ** -0.4 * 4 ** BATCH_ELASTICITY, rel=REL)


def test_a_trials_rows_per_step_are_its_batch_or_its_whole_training_split(write_study):
    from hpbench.cost.annotate import batch_rows, data_shape
    from hpbench.cost.estimate import config_rows
    from hpbench.study.parse import load_study
    from hpbench.study.resolve import trial_config

    study = load_study(write_study(BATCH_STUDY.replace("BATCH", '"full"')))
    cfg = trial_config(study, {"model.width": 16})
    n_train = data_shape(cfg)[0]
    assert 1000 < n_train < 1797 and batch_rows(cfg) == n_train == config_rows(study, {"model.width": 16})
    s64 = load_study(write_study(BATCH_STUDY.replace("BATCH", "64"), name="b64.toml"))
    assert batch_rows(trial_config(s64, {"model.width": 16})) == 64 == config_rows(s64, {"model.width": 32})
    huge = load_study(write_study(BATCH_STUDY.replace("BATCH", "100000"), name="huge.toml"))
    assert batch_rows(trial_config(huge, {"model.width": 16})) == n_train  # at most every row


def test_the_prior_draws_later_ends_for_a_larger_batch():
    from hpbench.cost.ends import PRIOR_BATCH, batch_fraction
    from hpbench.cost.figures import PRIOR_BEST, Figures
    from hpbench.cost.walltime import TrialPlan, drawn_epochs, natural_epochs

    prior = Figures()
    assert prior.best_batches == (PRIOR_BATCH,) * len(PRIOR_BEST)

    def mean_end(batch: float | None) -> float:
        plan = TrialPlan(epoch_s=0.01, max_epochs=40, patience=3, batch=batch)
        return sum(drawn_epochs(plan, random.Random(s), prior) for s in range(400)) / 400

    at_prior, large, small, unknown = mean_end(PRIOR_BATCH), mean_end(512.0), mean_end(16.0), mean_end(None)
    assert at_prior == pytest.approx(unknown, rel=REL)  # the prior's own batch size: as before
    assert small < at_prior < large
    plan = TrialPlan(epoch_s=0.01, max_epochs=40, patience=3, batch=512.0)
    assert {drawn_epochs(plan, random.Random(s), prior) for s in range(200)} == \
        {natural_epochs(plan, batch_fraction(f, at=PRIOR_BATCH, to=512.0)) for f in PRIOR_BEST}


def test_the_estimate_prices_a_larger_batch_to_more_epochs(write_study):
    """The same study at batches of 32 and of 512 rows: the prior's best epochs (seen at about 64)
    put the larger batch's early stopping later, so it is priced at a larger share of its epochs."""
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.estimate import configurations, estimate_study
    from hpbench.study.parse import load_study

    fractions = {}
    for batch in (32, 512):
        study = load_study(write_study(BATCH_STUDY.replace("BATCH", str(batch)), name=f"b{batch}.toml"))
        est = estimate_study(study, device_model=DeviceModel.hypothetical_device(flops_per_s=1e10), configs=configurations(study, n=4))
        assert {r["batch_rows"] for r in est.rows} == {batch}
        fractions[batch] = est.summary["epoch_fraction"]
    assert 0 < fractions[32] < fractions[512] <= 1.0


def test_the_record_and_the_figures_keep_the_batch_sizes_of_any_study():
    from hpbench.cost import history
    from hpbench.cost.record import TrialTimes, search_record

    def trial(best: int, rows: float) -> TrialTimes:
        return TrialTimes(started_at=1.0, ended_at=2.0, train_s=1.0, epochs=best + 3, max_epochs=40, stop_reason="early_stopped",
                          best_epoch=best, params={"model.width": 16}, batch_rows=rows)

    rec = search_record(run_id="a", study="batch-sizes", trials=[trial(36, 512.0), trial(8, 32.0)], started_at=0.0, command=True,
                        ray_started=True, cpus=2, concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert rec["best_fractions"] == pytest.approx([0.9, 0.2], rel=REL) and rec["best_batches"] == [512.0, 32.0]
    unpriced = search_record(run_id="b", study="x", trials=[trial(8, 0.0)], started_at=0.0, command=True, ray_started=True, cpus=2,
                             concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert "best_batches" not in unpriced
    other = history.figures([rec], study="another")  # another study's fractions keep their batch sizes (rows are rows)
    assert other.best_fractions == pytest.approx((0.9, 0.2), rel=REL) and other.best_batches == (512.0, 32.0)
    old = history.figures([unpriced], study="another")  # a record from before: fractions without batch sizes, drawn unmoved
    assert old.best_fractions == pytest.approx((0.2,), rel=REL) and old.best_batches == ()
    assert history.figures([], study="another").best_batches == history.figures([], study=None).best_batches != ()


def _live_clock(tmp_path, write_study, monkeypatch, elasticity: float):
    from hpbench.cost import ends
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    monkeypatch.setattr(ends, "BATCH_ELASTICITY", elasticity)
    text = BATCH_STUDY.replace("batch_size = BATCH\n", "").replace('"model.width" = { choice = [16, 32] }',
                                                                     'batch_size = { choice = [32, 512] }')
    study = load_study(write_study(text))
    store = ResultsStore(out=tmp_path / f"out-{elasticity}", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    for tid, batch, best in (("a", 512, 35), ("b", 32, 7)):
        store.start(tid, {"batch_size": batch})
        store.epoch(tid, {"epoch": 1, "epoch_s": 0.1, "val_accuracy": 0.5})
        store.annotate(tid, {"es_best_epoch": best, "stop_reason": "early_stopped", "batch_rows": batch, "predicted_epoch_s": 0.01,
                             "predicted_spent_s": 0.01, "regime": "compute"})
        store.finish(tid)
    sc = SearchClock(study=study, n_trials=12)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 12)
    sc.plan = plan
    for tid in ("a", "b"):
        sc.trial_started(tid)
    return sc, store


def test_the_live_search_reads_its_trials_batch_sizes_and_prices_the_rest_at_the_sampled_ones(tmp_path, write_study, monkeypatch):
    """Its ended trials' ends carry their rows per step; the trials not started stand at the
    geometric mean of the sampled configurations' (here between 32 and 512: later than the prior's
    64), so with the elasticity the trials left are priced longer than without it."""
    from hpbench.dispatch import timings

    sc, store = _live_clock(tmp_path, write_study, monkeypatch, 0.37)
    read = timings.best_fractions(store, ["a", "b"], max_epochs=lambda t: 40)
    assert read == [(pytest.approx(0.9, rel=REL), 0.0, 512.0), (pytest.approx(0.2, rel=REL), 0.0, 32.0)]
    lrs, batches = sc._sampled_paces()
    assert lrs == [] and set(batches) == {32.0, 512.0}
    with_batches = sc.eta_s(store)
    flat, flat_store = _live_clock(tmp_path, write_study, monkeypatch, 0.0)
    without = flat.eta_s(flat_store)
    assert with_batches is not None and without is not None
    assert with_batches > 1.05 * without
