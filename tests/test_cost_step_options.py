"""The count runs the trainer's options a step runs beyond the network (hpbench.cost.step_options):
gradient clipping between the backward pass and the update, the smoothed training loss, the
augmented image batch; and configurations that differ in them do not share a price. No Ray."""

from __future__ import annotations

import pytest

from hpbench.api.study import Study
from hpbench.cost.annotate import epoch_steps
from hpbench.cost.step_options import StepOptions
from hpbench.dispatch.cost_keys import cost_key
from hpbench.study.resolve import trial_config


def _study(train: dict | None = None, preprocess: list[str] | None = None, family: str = "mlp") -> Study:
    data = {"dataset": "digits", **({"preprocess": preprocess} if preprocess else {})}
    return Study.from_dict({"study": {"name": "options", "seed": 0, "metric": "val_accuracy", "trials": 1}, "data": data,
                            "model": {"family": family}, "optimizer": {"name": "adam", "lr": 1e-3},
                            "train": {"batch_size": 64, "max_epochs": 2, **(train or {})}})


def _ops(study: Study) -> list:
    return list(epoch_steps(trial_config(study, {}))[2].ops)


def _names(ops: list, phase: str) -> list[str]:
    return [op.name for op in ops if op.phase == phase and op.kind not in ("module", "free")]


def test_the_options_of_a_configuration():
    assert StepOptions.of(trial_config(_study(), {})) == StepOptions()
    got = StepOptions.of(trial_config(_study({"clip_norm": 1.0, "clip_value": 0.5, "label_smoothing": 0.1}, ["augment"], "cnn"), {}))
    assert got == StepOptions(clip_norm=1.0, clip_value=0.5, label_smoothing=0.1, augment=True)
    # the count depends on which run, not on their thresholds
    assert StepOptions(clip_norm=1.0).key() == StepOptions(clip_norm=5.0).key() != StepOptions().key()


@pytest.mark.parametrize("train", [{"clip_norm": 1.0}, {"clip_value": 0.5}])
def test_clipping_runs_between_the_backward_pass_and_the_update(train):
    plain, clipped = _ops(_study()), _ops(_study(train))
    assert _names(clipped, "forward") == _names(plain, "forward") and _names(clipped, "backward") == _names(plain, "backward")
    extra = len(_names(clipped, "optimizer")) - len(_names(plain, "optimizer"))
    n_grads = 6  # the default MLP's two hidden layers and head: a weight and a bias each
    assert extra >= n_grads  # at least one op per gradient (a clamp, or a norm then a scale)
    if "clip_norm" in train:
        assert "linalg_vector_norm" in _names(clipped, "optimizer")
    else:
        assert "clamp_" in _names(clipped, "optimizer")


def test_label_smoothing_counts_the_smoothed_training_loss_not_the_evaluation():
    plain, smooth = _ops(_study()), _ops(_study({"label_smoothing": 0.1}))
    assert len(_names(smooth, "forward")) > len(_names(plain, "forward"))
    assert _names(smooth, "eval") == _names(plain, "eval")


def test_augmentation_counts_its_draws_and_moves_on_image_batches():
    plain, augmented = _ops(_study(family="cnn")), _ops(_study(preprocess=["augment"], family="cnn"))
    drawn = [op.name for op in augmented if op.kind == "random"]
    assert sorted(drawn) == ["rand", "randint", "randint", "randn"]  # two shifts, a flip, the noise
    assert len(_names(augmented, "forward")) > len(_names(plain, "forward"))
    assert _names(augmented, "eval") == _names(plain, "eval")
    assert not [op for op in plain if op.kind == "random"]


def test_configurations_that_differ_in_an_option_do_not_share_a_price():
    base = cost_key(_study(), {})
    assert cost_key(_study({"clip_norm": 1.0}), {}) != base
    assert cost_key(_study({"label_smoothing": 0.1}), {}) != base
    assert cost_key(_study({"clip_norm": 1.0}), {}) == cost_key(_study({"clip_norm": 3.0}), {})
