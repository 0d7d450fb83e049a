"""The example of a user's own model (examples/resnet1d): built for every data kind it reads,
its FLOPs counted from the module against the closed form, and a real search with its own
study file (slow: Ray)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from examples.resnet1d.model import DEFAULTS, build  # noqa: E402
from hpbench.cost.count import count_step  # noqa: E402
from tests.helpers.studies import ROOT  # noqa: E402

FAMILY = "examples.resnet1d.model:build"
STUDY = ROOT / "examples" / "resnet1d" / "study.toml"


@pytest.mark.parametrize(("shape", "kind", "batch"), [((3, 40), "signal", (5, 3, 40)), ((40, 3), "sequence", (5, 40, 3)),
                                                     ((40,), "tabular", (5, 40))])
def test_it_reads_signals_sequences_and_tables(shape, kind, batch):
    model = build(input_shape=shape, n_outputs=4, params={"channels": 8, "blocks": 2}, kind=kind)
    assert model(torch.randn(*batch)).shape == (5, 4)


def test_its_own_checks_name_the_parameter():
    with pytest.raises(ValueError, match=r"model\.kernel.*odd.*4"):
        build(input_shape=(3, 40), n_outputs=2, params={"kernel": 4}, kind="signal")
    with pytest.raises(ValueError, match="unknown parameter 'width'"):
        build(input_shape=(3, 40), n_outputs=2, params={"width": 4}, kind="signal")
    with pytest.raises(ValueError, match="images"):
        build(input_shape=(1, 8, 8), n_outputs=2, params={}, kind="image")


def conv_flops(*, c_in: int, c_out: int, k: int, length: int, batch: int) -> int:
    return 2 * c_in * c_out * k * length * batch  # a same-padded Conv1d: one multiply-add per weight and output position


def test_flops_are_counted_from_the_module_and_match_the_closed_form():
    """Forward matmul/conv FLOPs of the counted step equal the network's closed form: the stem,
    two convolutions per block at the block's length (halved after each block), the head."""
    c, k, n, length, blocks = 16, 7, 32, 64, 3
    step = count_step(family=FAMILY, model_params={"channels": c, "kernel": k, "blocks": blocks}, input_shape=(3, length), n_outputs=6,
                      task="multiclass", batch_size=n, kind="signal")
    assert step.counted_on == "meta" and step.uncounted == ()
    expect = conv_flops(c_in=3, c_out=c, k=k, length=length, batch=n)
    for b in range(blocks):
        expect += 2 * conv_flops(c_in=c, c_out=c, k=k, length=length >> b, batch=n)
    expect += 2 * c * 6 * n  # the linear head
    forward = sum(op.flops for op in step.ops if op.phase == "forward" and op.kind == "matmul")
    assert forward == expect
    assert step.n_params == sum(p.numel() for p in build(input_shape=(3, length), n_outputs=6,
                                                          params={"channels": c, "kernel": k, "blocks": blocks}).parameters())


def test_the_study_names_the_example_and_its_parameters():
    from hpbench.study.parse import load_study

    study = load_study(STUDY)
    assert study.config["model"]["family"] == FAMILY
    assert {"model.channels", "model.blocks", "model.kernel", "model.dropout"} <= set(study.space.keys())
    assert set(DEFAULTS) >= {d.key.split(".", 1)[1] for d in study.space if d.key.startswith("model.")}


@pytest.mark.slow
def test_a_real_search_with_the_example_study(ray_local, tmp_path):
    """The example's own study, made small (--set), through Ray: trials train the user's model,
    its cost is predicted from the module with every layer counted, and the best trials are
    evaluated on the test split."""
    from io import StringIO

    from rich.console import Console

    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    overrides = ["data.n_samples=600", "train.max_epochs=3", "study.scheduler=none", 'model.channels=8']
    study = load_study(STUDY, overrides=overrides, trials=2)
    run_search(study, SearchOptions(out=tmp_path / "out", num_cpus=2), console=Console(file=StringIO()))
    trials = hpbench.load(tmp_path / "out")
    assert len(trials) == 2 and set(trials["stop_reason"]) <= {"completed", "early_stopped"}
    assert trials["best_val_accuracy"].max() > 1 / 6 + 0.1  # 6 waveforms: above chance
    assert trials["predicted_flops"].notna().all() and (trials["predicted_flops"] > 0).all()
    assert "uncounted_layers" not in trials.columns  # every layer of the example is counted
    assert trials["test_accuracy"].notna().sum() == min(2, study.settings.repeats_top)  # the final best configurations, once each
