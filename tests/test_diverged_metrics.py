"""A diverged epoch has no metric values (bug hunt s48h3): a classifier's NaN outputs still scored
an accuracy (argmax over NaN is class 0, a NaN binary logit reads as class 0: the share of class 0,
the majority's on imbalanced data), which ranked a diverged trial first and kept its NaN weights as
its best. Here the epoch that diverged reads NaN for every metric and is never the best epoch; the
single trainer and the fused repeats alike. No Ray."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from test_models import cfg

torch = pytest.importorskip("torch")

from hpbench.train import tasks  # noqa: E402
from hpbench.train.best import BestWeights  # noqa: E402
from hpbench.train.fused import train_fused  # noqa: E402
from hpbench.train.trainer import StopReason, end_of_epoch, train  # noqa: E402

# outputs multiplied by NaN (the hunt's mymodel:nan_out); nan_after: NaN once it has taken `after` training steps
MODULE = '''
import torch
from torch import nn


class NanAfter(nn.Module):
    def __init__(self, n_in, n_out, after):
        super().__init__()
        self.l, self.after, self.steps = nn.Linear(n_in, n_out), after, 0

    def forward(self, x):
        if self.training:
            self.steps += 1
        out = self.l(x)
        return out * float("nan") if self.steps > self.after else out


def nan_out(*, input_shape, n_outputs, params):
    return NanAfter(input_shape[0], n_outputs, -1)


def nan_after(*, input_shape, n_outputs, params):
    return NanAfter(input_shape[0], n_outputs, 10)
'''


@pytest.fixture
def nan_models(tmp_path, monkeypatch):
    (tmp_path / "nan_models_s48.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "nan_models_s48"


def imbalanced_csv(folder, *, classes=2, n=200):
    """The hunt's csv_imbalanced.csv (4 normal features, 5% positives) or a 3-class one (class 0 the majority)."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    d["label"] = (rng.random(n) < 0.05).astype(int) if classes == 2 else rng.choice(3, n, p=[0.8, 0.1, 0.1])
    path = folder / f"imbalanced{classes}.csv"
    d.to_csv(path, index=False)
    return str(path)


def by_accuracy(c):
    return dataclasses.replace(c, metric="val_accuracy", mode="max")


def finite(model):
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


@pytest.mark.parametrize("classes", [2, 3])
def test_a_model_whose_outputs_are_nan_scores_no_accuracy(nan_models, tmp_path, classes):
    c = by_accuracy(cfg(family=f"{nan_models}:nan_out", dataset=imbalanced_csv(tmp_path, classes=classes), options={"target": "label"}, epochs=3))
    out = train(c)
    assert out.stop_reason == StopReason.DIVERGED
    assert [math.isnan(r["val_accuracy"]) for r in out.history] == [True] * len(out.history)  # was 0.95 (binary), 0.8 (3 classes)
    assert all(math.isnan(out.history[-1][k]) for k in ("val_ece", "val_nll"))


def test_sgd_at_a_huge_lr_on_imbalanced_binary_data_does_not_score_the_majority_share(tmp_path):
    c = by_accuracy(cfg(dataset=imbalanced_csv(tmp_path), options={"target": "label"}, model={"width": 512}, optimizer="sgd", lr=1e6,
                        epochs=5))
    out = train(c)
    assert out.stop_reason == StopReason.DIVERGED
    last = out.history[-1]
    assert math.isnan(last["val_accuracy"])  # was 0.95: every NaN logit read as class 0
    finite_epochs = [r["epoch"] for r in out.history if math.isfinite(r["val_accuracy"])]
    assert out.best_epoch == (finite_epochs[-1] if finite_epochs else None)  # no finite epoch: no weights, NA in the tables


def test_the_best_weights_are_the_last_finite_epochs_never_the_diverged_ones(nan_models, tmp_path):
    """Finite for two epochs (10 steps of 32 rows of 160), NaN from the third: the diverged epoch's
    majority share (0.95) beat the trained epochs and its NaN weights were kept as the best."""
    c = by_accuracy(cfg(family=f"{nan_models}:nan_after", dataset=imbalanced_csv(tmp_path), options={"target": "label"}, epochs=5))
    out = train(c)
    assert out.stop_reason == StopReason.DIVERGED and len(out.history) == 3
    values = [r["val_accuracy"] for r in out.history]
    assert all(math.isfinite(v) for v in values[:2]) and math.isnan(values[2])
    assert out.best_epoch == values.index(max(values[:2])) + 1
    assert finite(out.model)


class _Run:
    """A task run whose epochs are given rows (:meth:`diverged` as the supervised task's)."""

    model = torch.nn.Linear(1, 1)

    def diverged(self, row):
        return not (math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"]))

    def stop_reason(self):
        return None


def test_an_epoch_whose_training_loss_diverged_has_no_metrics_even_where_validation_is_finite():
    best = BestWeights(metric="val_accuracy", mode="max", by_monitor=False)
    rows = [{"train_loss": 0.4, "val_loss": 0.5, "val_accuracy": 0.6}, {"train_loss": math.inf, "val_loss": 0.3, "val_accuracy": 0.95}]
    reasons = [end_of_epoch(_Run(), epoch=i, row=r, es=None, best=best) for i, r in enumerate(rows)]
    assert reasons == [None, StopReason.DIVERGED]
    assert best.epoch == 1 and best.value == pytest.approx(0.6, rel=1e-5)
    assert rows[1]["train_loss"] == math.inf and math.isnan(rows[1]["val_loss"]) and math.isnan(rows[1]["val_accuracy"])


@pytest.mark.parametrize(("task", "n_out"), [("binary", 1), ("multiclass", 3)])
def test_a_classifiers_nan_outputs_have_no_metrics_alone_or_as_a_fused_member(task, n_out):
    y = torch.tensor([0] * 19 + [1])
    out = torch.randn(2, 20, n_out)
    out[1] = math.nan  # member 1 diverged, member 0 did not
    alone = tasks.metrics(task, out[1], y, float(tasks.loss_fn(task)(out[1], y)))
    assert math.isnan(alone["loss"]) and all(math.isnan(alone[k]) for k in ("accuracy", "ece", "nll"))
    ok, nan = tasks.member_metrics(task, out, torch.stack([y, y]))
    assert all(math.isfinite(v) for v in ok.values())
    assert all(math.isnan(v) for v in nan.values())


def test_fused_members_that_diverge_score_no_accuracy(tmp_path):
    c = by_accuracy(cfg(dataset=imbalanced_csv(tmp_path), options={"target": "label"}, model={"width": 512}, optimizer="sgd", lr=1e6,
                        epochs=4))
    outs = train_fused([dataclasses.replace(c, seed=s) for s in (1, 2)])
    assert [o.stop_reason for o in outs] == [StopReason.DIVERGED] * 2
    for o in outs:
        assert math.isnan(o.history[-1]["val_accuracy"])
        if o.best_epoch is not None:  # a finite epoch before: its weights, finite (none: diverged in its first epoch, no weights)
            assert finite(o.model)
