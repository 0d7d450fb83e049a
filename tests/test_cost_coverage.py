"""FLOPs of user models, counted from the module: the layers a count cannot see are reported by
name with how much the count may be short, never a silent zero. No Ray."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from hpbench.cli import app  # noqa: E402
from hpbench.cost.annotate import COST_NOTE, not_predicted, predict_trial  # noqa: E402
from hpbench.cost.count import count_step  # noqa: E402
from hpbench.cost.coverage import DENSE_FLOPS_PER_WEIGHT, FORWARD_FLOPS_PER_WEIGHT  # noqa: E402
from hpbench.cost.device import DeviceModel  # noqa: E402
from hpbench.models import FAMILIES  # noqa: E402
from hpbench.report.cost import coverage_notes  # noqa: E402

HERE = __name__  # this module, as pytest imports it (the user families below are "HERE:name")


# A custom op nobody gave a FLOP formula: what a user's fused kernel looks like to torch.
@torch.library.custom_op("hpbench_tests::scale_mix", mutates_args=())
def scale_mix(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ w)


@scale_mix.register_fake
def _(x, w):
    return x.new_empty((x.shape[0], w.shape[1]))


def _scale_mix_backward(ctx, grad):
    x, w = ctx.saved_tensors
    g = grad * (1 - torch.tanh(x @ w) ** 2)
    return g @ w.T, x.T @ g


scale_mix.register_autograd(_scale_mix_backward, setup_context=lambda ctx, inputs, output: ctx.save_for_backward(*inputs))


class Mix(torch.nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n, n) / n**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scale_mix(x, self.weight)


class NumpyDense(torch.nn.Module):
    """Its arithmetic runs in NumPy: invisible to torch (and impossible on meta)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.detach().cpu().numpy() @ self.weight.detach().cpu().numpy().T)


def custom_build(*, input_shape, n_outputs, params):
    n = math.prod(input_shape)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n, 16), Mix(16), torch.nn.Linear(16, n_outputs))


def numpy_build(*, input_shape, n_outputs, params):
    n = math.prod(input_shape)
    return torch.nn.Sequential(torch.nn.Flatten(), NumpyDense(n, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs))


def broken_build(*, input_shape, n_outputs, params):
    raise RuntimeError("this model cannot be built anywhere")


def test_built_in_families_are_counted_in_full():
    shapes = {"mlp": (10,), "cnn": (1, 8, 8), "rnn": (12, 3), "lstm": (12, 3), "gru": (12, 3), "transformer": (12, 3)}
    assert set(shapes) <= set(FAMILIES)
    for family, shape in shapes.items():
        step = count_step(family=family, model_params={}, input_shape=shape, n_outputs=3, task="multiclass", batch_size=8, eval_size=8)
        assert step.uncounted == () and step.counted_on == "meta", family


def test_a_custom_op_is_reported_with_its_layer_and_the_estimated_shortfall():
    step = count_step(family=f"{HERE}:custom_build", model_params={}, input_shape=(10,), n_outputs=3, task="multiclass", batch_size=32)
    assert step.counted_on == "meta"  # the op has a fake (meta) kernel
    (u,) = step.uncounted
    assert (u.module, u.type, u.n_params) == ("2", "Mix", 16 * 16)
    assert "hpbench_tests::scale_mix" in u.reason and "register_flop_formula" in u.reason
    # its backward runs torch ops (counted): only the forward may be missing, 2·P·B, which is
    # exactly what it misses here (x @ w: 2·32·16·16)
    assert u.short_flops == FORWARD_FLOPS_PER_WEIGHT * 256 * 32 == 2 * 32 * 16 * 16
    linears = 3 * 2 * 32 * (10 * 16 + 16 * 3) - 2 * 32 * 10 * 16  # forward + backward, no input gradient for the first layer
    backward_of_mix = 3 * 2 * 32 * 16 * 16  # recomputes x @ w, then g @ w.T and x.T @ g
    assert step.flop_counter_flops == linears + backward_of_mix


def test_a_formula_registered_with_torch_makes_the_op_counted():
    from torch.utils.flop_counter import register_flop_formula

    def formula(x_shape, w_shape, *args, **kwargs) -> int:
        return 2 * x_shape[0] * x_shape[1] * w_shape[1]

    register_flop_formula(torch.ops.hpbench_tests.scale_mix)(formula)
    try:
        step = count_step(family=f"{HERE}:custom_build", model_params={}, input_shape=(10,), n_outputs=3, task="multiclass", batch_size=32)
        assert step.uncounted == ()
        assert any(op.name == "hpbench_tests::scale_mix" and op.flops == 2 * 32 * 16 * 16 for op in step.ops)
    finally:
        from torch.utils.flop_counter import flop_registry

        flop_registry.pop(torch.ops.hpbench_tests.scale_mix, None)


def test_a_model_meta_cannot_run_is_counted_on_the_cpu_and_its_numpy_layer_reported():
    step = count_step(family=f"{HERE}:numpy_build", model_params={}, input_shape=(10,), n_outputs=3, task="multiclass", batch_size=16,
                      n_source=1000)
    assert step.counted_on == "cpu"
    (u,) = step.uncounted
    assert (u.module, u.type, u.n_params) == ("1", "NumpyDense", 80)
    assert "no counted op" in u.reason and u.short_flops == DENSE_FLOPS_PER_WEIGHT * 80 * 16
    assert step.total_flops > 0  # the torch layers are counted


def _cfg(family: str):
    from test_models import cfg

    return cfg(family=family, dataset="iris", batch_size=30, epochs=2)


def test_predicted_columns_name_the_layers_and_the_share():
    dev = DeviceModel.hypothetical_device(flops_per_s=1e12)
    cols = predict_trial(_cfg(f"{HERE}:custom_build"), device_model=dev)
    step = count_step(family=f"{HERE}:custom_build", model_params={}, input_shape=(4,), n_outputs=3, task="multiclass", batch_size=30,
                      n_source=120)  # iris: 120 training rows
    short = FORWARD_FLOPS_PER_WEIGHT * 256 * 30
    assert "2 (Mix): ran hpbench_tests::scale_mix" in cols["uncounted_layers"]
    assert cols["flops_short_per_step"] == short
    assert cols["flops_short_share"] == pytest.approx(short / (cols["flops_per_step"] + short), rel=1e-9)
    assert cols["flops_per_step"] == step.total_flops and COST_NOTE not in cols
    numpy_cols = predict_trial(_cfg(f"{HERE}:numpy_build"), device_model=dev)
    assert "counted on the CPU" in numpy_cols[COST_NOTE] and "1 (NumpyDense)" in numpy_cols["uncounted_layers"]
    plain = predict_trial(_cfg("mlp"), device_model=dev)
    assert "uncounted_layers" not in plain and COST_NOTE not in plain  # the usual case adds no columns


def test_a_model_that_cannot_be_counted_says_why():
    with pytest.raises(ValueError, match=r"could not be counted on meta .* nor on the CPU .*cannot be built anywhere"):
        count_step(family=f"{HERE}:broken_build", model_params={}, input_shape=(4,), n_outputs=3, task="multiclass", batch_size=8)
    assert not_predicted(RuntimeError("boom")) == {COST_NOTE: "cost not predicted: RuntimeError: boom"}


def test_report_and_estimate_show_the_notes(write_study):
    import pandas as pd

    trials = pd.DataFrame({"trial": [0, 1, 2], "uncounted_layers": ["2 (Mix): ran x::y; may be short by ~1e3 FLOPs per step", None, None],
                           "flops_short_share": [0.25, None, None], COST_NOTE: [None, None, "cost not predicted: ValueError: z"]})
    notes = coverage_notes(trials)
    assert notes == ["FLOPs may be short (up to ~25% of the FLOPs) for trial 0: 2 (Mix): ran x::y; may be short by ~1e3 FLOPs per step",
                     "trial 2: cost not predicted: ValueError: z"]
    study = write_study(f"""
[study]
name = "custom"
metric = "val_accuracy"
trials = 2
searcher = "random"
[data]
dataset = "iris"
[model]
family = "{HERE}:custom_build"
[train]
max_epochs = 2
batch_size = 30
[space]
lr = {{ loguniform = [1e-3, 1e-1] }}
""")
    res = CliRunner().invoke(app, ["estimate", str(study), "--device-flops", "1e12"])
    assert res.exit_code == 0, res.output
    assert "FLOPs may be short" in res.output and "2 (Mix)" in res.output and "hpbench_tests::scale_mix" in res.output
    res = CliRunner().invoke(app, ["estimate", str(study), "--device-flops", "1e12", "--json"])
    rows = json.loads(res.output)["configurations"]
    assert all(r["flops_short_per_step"] == FORWARD_FLOPS_PER_WEIGHT * 256 * 30 for r in rows)
