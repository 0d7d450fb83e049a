"""The shared trainer on tiny data: determinism, divergence, best-weight restoring, the
test split, full batch and augmentation. No Ray."""

from __future__ import annotations

import pytest
from test_models import cfg

from hpbench.config import EarlyStoppingConfig

torch = pytest.importorskip("torch")

from hpbench.train import tasks  # noqa: E402
from hpbench.train.trainer import StopReason, evaluate, evaluate_test, load_data, train  # noqa: E402


def val_loss_of(c, model):
    data = load_data(c, torch.device("cpu"))
    return evaluate(model, data.x_val, data.y_val, data.splits.task, tasks.loss_fn(data.splits.task))["loss"]


def test_same_seed_same_metrics():
    c = cfg(family="mlp", dataset="wine", model={"depth": 1, "width": 16, "dropout": 0.2}, epochs=3, init="kaiming_uniform")
    a, b = train(c).history, train(c).history
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("epoch_s", "epoch_cpu_s", "reported_at")} for r in h]  # noqa: E731
    assert strip(a) == strip(b)
    other = train(cfg(family="mlp", dataset="wine", model={"depth": 1, "width": 16, "dropout": 0.2}, epochs=3, init="kaiming_uniform", seed=1))
    assert strip(other.history) != strip(a)


def test_huge_lr_ends_as_diverged_not_a_crash():
    c = cfg(family="mlp", dataset="diabetes", model={"depth": 2, "width": 32}, optimizer="sgd", lr=1e6, epochs=5)
    out = train(c)
    assert out.stop_reason == StopReason.DIVERGED
    assert out.history[-1]["stop_reason"] == "diverged" and len(out.history) < 5


def test_diverged_with_early_stopping():
    es = EarlyStoppingConfig(monitor="val_loss", patience=10)
    out = train(cfg(dataset="diabetes", optimizer="sgd", lr=1e6, epochs=5, es=es))
    assert out.stop_reason == StopReason.DIVERGED and out.early_stopping is not None


@pytest.mark.parametrize(("patience", "epochs", "reason"), [(1, 6, StopReason.EARLY_STOPPED), (10, 3, StopReason.COMPLETED)])
def test_restore_best_weights_early_stopped_or_max_epochs(patience, epochs, reason):
    # mode "max" on val_loss makes the worst (first) epoch the best: restoring is observable.
    es = EarlyStoppingConfig(monitor="val_loss", mode="max", patience=patience, restore_best_weights=True)
    c = cfg(dataset="iris", model={"depth": 1, "width": 16}, lr=0.05, epochs=epochs, es=es)
    out = train(c)
    assert out.stop_reason == reason
    last = out.history[-1]
    best = max(r["val_loss"] for r in out.history)
    assert out.best_epoch == last["best_epoch"] == last["es_best_epoch"] + 1 == 1
    assert last["es_best"] == pytest.approx(best, rel=1e-5)
    assert val_loss_of(c, out.model) == pytest.approx(best, rel=1e-5)
    assert val_loss_of(c, out.model) != pytest.approx(last["val_loss"], rel=1e-5)


def test_without_restore_the_model_ends_at_the_study_metrics_best_epoch():
    """The leaderboard ranks a trial by its best epoch's metric; the model it saves, returns and
    evaluates on the test split is that epoch's too (it was the last epoch's), and best_epoch says
    so. Here the study metric is val_loss maximised, so the first (worst-trained) epoch is best."""
    import copy
    import dataclasses

    es = EarlyStoppingConfig(monitor="val_loss", mode="max", patience=10)
    c = dataclasses.replace(cfg(dataset="iris", model={"depth": 1, "width": 16}, lr=0.05, epochs=3, es=es), mode="max")
    states: list = []
    out = train(c, on_state=lambda s: states.append(copy.deepcopy(s)))
    values = [r["val_loss"] for r in out.history]
    assert values.index(max(values)) == 0 and values[-1] != values[0]
    assert out.best_epoch == out.history[-1]["best_epoch"] == 1
    assert val_loss_of(c, out.model) == pytest.approx(values[0], rel=1e-5)
    saved = states[-1]["final_model"]["state_dict"]  # what the dispatcher saves as weights/<trial>.pt
    first = states[0]["model"]  # the weights after epoch 1
    assert all(torch.equal(saved[k], first[k]) for k in first)


def test_the_model_ends_with_its_last_weights_when_the_last_epoch_is_best():
    c = cfg(dataset="iris", model={"depth": 1, "width": 16}, lr=0.05, epochs=3)
    out = train(c)
    values = [r["val_loss"] for r in out.history]
    assert out.best_epoch == values.index(min(values)) + 1
    assert val_loss_of(c, out.model) == pytest.approx(min(values), rel=1e-5)


def test_final_row_carries_es_state():
    es = EarlyStoppingConfig(monitor="val_accuracy", patience=1)
    rows = []
    out = train(cfg(dataset="iris", epochs=4, es=es), report=rows.append)
    assert rows == out.history
    assert {"es_best", "es_best_epoch", "es_wait", "es_stopped_epoch", "stop_reason", "best_epoch"} <= set(rows[-1])
    assert "n_params" in rows[0] and all("stop_reason" not in r for r in rows[:-1])


def test_full_batch():
    out = train(cfg(dataset="iris", batch_size="full", epochs=2))
    assert len(out.history) == 2


def test_evaluate_test_once():
    c = cfg(dataset="wine", test_fraction=0.2, epochs=2)
    out = train(c)
    metrics = evaluate_test(c, out.model)
    assert set(metrics) == {"test_loss", "test_accuracy", "test_ece", "test_nll"}
    data = load_data(c, torch.device("cpu"))
    assert len(data.x_test) + len(data.x_val) + len(data.x_train) == 178
    with pytest.raises(ValueError, match="test_fraction"):
        evaluate_test(cfg(dataset="wine"), out.model)


def test_augment_images_only():
    c = cfg(family="cnn", dataset="digits", model={"channels": 4, "width": 8}, preprocess=("standardize", "augment"), batch_size=128)
    assert train(c).history[0]["train_loss"] > 0
    with pytest.raises(ValueError, match="augment"):
        train(cfg(dataset="iris", preprocess=("augment",)))


def test_augment_is_deterministic_and_shifts_flips_noises():
    from hpbench.data.augment import Augment

    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    a = Augment()(x, torch.Generator().manual_seed(0))
    b = Augment()(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape and not torch.equal(a, x)
    flip_only = Augment(max_shift=0, noise_std=0.0)(x, torch.Generator().manual_seed(0))
    for i in range(2):
        assert torch.equal(flip_only[i], x[i]) or torch.equal(flip_only[i], x[i].flip(2))
    shift_only = Augment(flip=False, noise_std=0.0)(torch.ones(64, 1, 4, 4), torch.Generator().manual_seed(0))
    assert shift_only.sum() < 64 * 16  # some samples shifted in zeros


def test_train_epoch_is_the_trainers_epoch():
    """One epoch loop: train_epoch on the trial's own objects gives the trainer's first train_loss."""
    from hpbench.train.build import build
    from hpbench.train.epoch import train_epoch
    from hpbench.train.optimizers import build_optimizer
    from hpbench.train.precision import MixedPrecision

    c = cfg(family="mlp", dataset="wine", model={"depth": 1, "width": 16, "dropout": 0.2}, epochs=1, batch_size=16)
    dev = torch.device("cpu")
    data = load_data(c, dev)
    model = build(c, data.splits, dev)
    opt = build_optimizer("adam", model.parameters(), lr=c.optimizer.lr, params={})
    loss = train_epoch(model, opt, x=data.x_train, y=data.y_train, batch_size=16, loss_fn=tasks.loss_fn(data.splits.task),
                       generator=torch.Generator().manual_seed(c.seed), precision=MixedPrecision.of("fp32", dev))
    assert loss == train(c).history[0]["train_loss"]


def test_precision_names_the_bad_value():
    from hpbench.train.precision import MixedPrecision, Precision

    assert MixedPrecision.of("bf16", torch.device("cpu")).precision is Precision.BF16
    assert MixedPrecision.of("fp16", torch.device("cpu")).scaler is not None
    with pytest.raises(ValueError, match=r"train\.precision must be one of fp32, bf16, fp16, but got 'fp8'"):
        MixedPrecision.of("fp8", torch.device("cpu"))


def test_resume_restores_early_stopping_from_old_and_new_states():
    """A trial resumed from epoch 2's state ends as the uninterrupted one, whether the early
    stopping state is state_dict()'s or the full ``vars(es)`` older checkpoints held."""
    es = EarlyStoppingConfig(monitor="val_loss", patience=1, restore_best_weights=True)
    c = cfg(dataset="wine", model={"depth": 1, "width": 16}, epochs=6, es=es)
    import copy

    states: list = []
    whole = train(c, on_state=lambda s: states.append(copy.deepcopy(s)))  # the state holds live tensors: copy it now
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("epoch_s", "epoch_cpu_s", "reported_at")} for r in h]  # noqa: E731
    old = {**states[1], "early_stopping": {"monitor": "val_loss", "min_delta": 0.0, "patience": 1, "mode": "min", "baseline": None,
                                           "restore_best_weights": True, "start_from_epoch": 0, **states[1]["early_stopping"]}}
    for start in (states[1], old):  # each resumed trial trains its state's tensors in place: a copy each
        assert strip(train(c, start_state=copy.deepcopy(start)).history) == strip(whole.history)


def test_weights_record_rebuilds_the_model(tmp_path):
    from hpbench.train.weights import build_saved_model, load_record, save

    states: list = []
    out = train(cfg(dataset="wine", model={"depth": 1, "width": 8}, epochs=1), on_state=states.append)
    save(states[-1]["final_model"], tmp_path / "w.pt")
    rec = load_record(tmp_path / "w.pt")
    assert rec["family"] == "mlp" and rec["n_outputs"] == 3 and rec["temperature"] is None
    model = build_saved_model(rec)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), out.model.state_dict().values(), strict=True))


def test_a_checkpoint_file_loads_with_weights_only_and_resumes_the_same(tmp_path):
    """The dispatcher's checkpoint (resume.save_state / load_state, as a retried trial reads it)
    holds tensors and plain data only: torch's weights_only loader takes it, and the trial resumed
    from it ends as the uninterrupted one (with early stopping and temperature scaling)."""
    import copy

    from hpbench.train import resume

    es = EarlyStoppingConfig(monitor="val_loss", patience=2, restore_best_weights=True)
    c = cfg(dataset="wine", model={"depth": 1, "width": 16}, epochs=4, es=es)
    c = type(c)(**{**c.__dict__, "train": type(c.train)(**{**c.train.__dict__, "calibration": "temperature"})})
    states: list = []
    whole = train(c, on_state=lambda s: states.append(copy.deepcopy(s)))
    resume.save_state(states[1], tmp_path / "state.pt")
    loaded = resume.load_state(tmp_path / "state.pt")
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("epoch_s", "epoch_cpu_s", "reported_at")} for r in h]  # noqa: E731
    assert strip(train(c, start_state=loaded).history) == strip(whole.history)
    assert "temperature" in whole.history[-1]


def _long_sequences(*, seq_len, n_samples=40, model=None, batch_size=64, test_fraction=0.0):
    return cfg(family="transformer", dataset="adding", options={"seq_len": seq_len, "n_samples": n_samples}, model=model or {},
               batch_size=batch_size, test_fraction=test_fraction, preprocess=())


def test_evaluation_passes_are_sized_by_what_a_row_of_activations_costs():
    """Evaluation took 8,192 rows per forward pass whatever a row cost: the transformer's defaults
    (4 heads) on sequences of 500 steps hold 4 x 500 x 500 float32 attention weights a row, and
    peaked at 4.2 GiB with 800 validation rows, 16.7 GiB with 3,600 (bug hunt s47h4). A pass now
    takes what a few hundred MB of a row's activations hold, at least the training batch; an MLP's
    row costs bytes, so its passes stay at 8,192 rows (fast there)."""
    from hpbench.train.build import EVAL_CHUNK, build, eval_rows
    from hpbench.train.eval_memory import BUDGET_BYTES, row_bytes

    cpu = torch.device("cpu")
    c = _long_sequences(seq_len=500)
    data = load_data(c, cpu)
    model = build(c, data.splits, cpu)
    maps = 4 * 500 * 500 * 4  # one layer's attention weights of a row, float32
    per_row = row_bytes(model, sample_shape=data.splits.input_shape)
    assert 2 * maps <= per_row <= 2.1 * maps  # the scores and their softmax, and the layer's inputs and outputs
    assert eval_rows(model, data.splits, batch_size=64) == 64  # the training batch: the budget holds ~32 rows
    assert eval_rows(model, data.splits, batch_size=8) == BUDGET_BYTES // per_row == 32
    assert model.training  # the model left in the mode it was in
    mlp = cfg(dataset="digits", model={"depth": 2, "width": 128}, batch_size=64)
    d = load_data(mlp, cpu)
    assert eval_rows(build(mlp, d.splits, cpu), d.splits, batch_size=64) == EVAL_CHUNK == 8192
    short = _long_sequences(seq_len=20)  # the same transformer on short sequences: cheap rows again
    d = load_data(short, cpu)
    assert eval_rows(build(short, d.splits, cpu), d.splits, batch_size=64) > 2000


def test_the_test_split_of_long_sequences_is_evaluated_in_the_passes_its_memory_allows():
    """evaluate_test runs the model's passes at the rows :func:`eval_rows` gives, not all the test rows
    at once (8.06 MB a row counted here, mostly the scores and their softmax: 33 rows to the budget)."""
    from hpbench.train.build import build

    cpu = torch.device("cpu")
    c = _long_sequences(seq_len=1000, n_samples=100, batch_size=8, test_fraction=0.5,
                        model={"d_model": 8, "heads": 1, "ff_width": 16, "layers": 1})
    data = load_data(c, cpu)
    model = build(c, data.splits, cpu)
    seen = []
    # the evaluation's passes (under no_grad; the sizing's own pass of a few rows runs with autograd on)
    model.register_forward_pre_hook(lambda m, a: None if torch.is_grad_enabled() else seen.append(len(a[0])))
    metrics = evaluate_test(c, model)
    assert sum(seen) == len(data.x_test) == 50 and max(seen) == 33 and "test_loss" in metrics  # was one pass of 50

    from hpbench.train.eval_memory import BUDGET_BYTES

    assert BUDGET_BYTES // (2 * 1000 * 1000 * 4 + 2 * 1000 * 8 * 4) == 33  # the maps, the attention's input and output


def test_evaluation_metrics_do_not_depend_on_the_rows_per_pass():
    """Inference in eval mode (BatchNorm's running statistics, no dropout): the metrics of passes of
    7 rows are those of one pass, up to float32 rounding; so are the trainer's, whatever rows it takes."""
    from hpbench.train.evaluate import evaluate_batches

    c = cfg(family="cnn", dataset="digits", model={"conv_depth": 1, "channels": 4, "width": 16, "batch_norm": True, "dropout": 0.5},
            epochs=1, batch_size=64)
    out = train(c)
    data = load_data(c, torch.device("cpu"))
    loss = tasks.loss_fn(data.splits.task)
    whole = evaluate(out.model, data.x_val, data.y_val, data.splits.task, loss)
    for rows in (7, 64, len(data.x_val) - 1):
        small = evaluate_batches(out.model, data.eval_batches("val", rows=rows), data.splits.task, loss)
        assert small.keys() == whole.keys()
        for k in whole:
            assert small[k] == pytest.approx(whole[k], rel=1e-5, abs=1e-7), (rows, k)
    assert out.history[-1]["val_loss"] == pytest.approx(whole["loss"], rel=1e-5)  # the trainer's own passes


def test_sizing_the_evaluation_passes_leaves_the_models_mode_without_calling_its_train():
    """The probe runs the model in eval mode and puts each module's mode back as it was, by its
    flag: a user model's own train() (tests/helpers/flaky.py counts its training epochs there) was
    called once more per trial, and a retried trial's epoch count read 8 where 6 ran."""
    from hpbench.train.eval_memory import row_bytes

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
            self.calls = 0

        def train(self, mode: bool = True):
            self.calls += 1
            return super().train(mode)

        def forward(self, x):
            return self.net(x)

    model = Counting()
    model.calls = 0
    assert row_bytes(model, sample_shape=(4,)) is not None
    assert model.calls == 0 and model.training and all(m.training for m in model.modules())
    model.eval()
    model.calls = 0
    row_bytes(model, sample_shape=(4,))
    assert model.calls == 0 and not any(m.training for m in model.modules())
