"""Data in the shapes users have: declared shape and kind, NumPy files with the splits they come
with, every family reading every kind it can, and the cost of the new layers against closed
forms. No Ray, no training beyond a step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from hpbench.cost import formulas as F
from hpbench.cost.count import count_module_step, count_step
from hpbench.data.kinds import DataKind, resolve_layout
from hpbench.data.prepare import load_raw, prepare
from hpbench.errors import StudyError
from hpbench.models import FAMILIES, build_model, family_reads
from hpbench.study.parse import load_study

HEAD = '[study]\nname = "s"\nmetric = "val_accuracy"\n'


# -- layout ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stored", "shape", "kind", "want_kind", "want_shape"),
    [
        ((64,), [1, 8, 8], None, "image", (1, 8, 8)),  # declared [C, H, W]: an image
        ((40,), [40], None, "signal", (1, 40)),  # [L]: a one-channel signal
        ((120,), [3, 40], None, "signal", (3, 40)),  # [C, L]: a signal
        ((120,), [40, 3], "sequence", "sequence", (40, 3)),  # [L, C] declared a sequence
        ((64,), [8, 8], "image", "image", (1, 8, 8)),  # [H, W] image: one channel
        ((10,), None, None, "tabular", (10,)),  # arrays keep their shape: flat is tabular
        ((3, 100), None, None, "signal", (3, 100)),  # channels (the shorter axis) first: a signal
        ((100, 3), None, None, "sequence", (100, 3)),  # channels last: a sequence
        ((28, 28), None, None, "image", (1, 28, 28)),  # square: a one-channel image
        ((32, 32, 3), None, None, "image", (3, 32, 32)),  # channels-last image, moved first
        ((3, 32, 32), None, None, "image", (3, 32, 32)),
        ((32, 32, 6), None, None, "image", (6, 32, 32)),  # 6 bands channels-last: square first, fewer last
        ((64, 64, 2), None, None, "image", (2, 64, 64)),
        ((6, 32, 32), None, None, "image", (6, 32, 32)),
        ((32, 32, 6), [6, 32, 32], None, "image", (6, 32, 32)),  # [C, H, W] declared for channels-last samples: moved
        ((3, 100), None, "tabular", "tabular", (300,)),  # declared tabular: flattened
        ((40,), None, "signal", "signal", (1, 40)),
    ],
)
def test_layout_from_declared_shape_and_kind_or_inferred(stored, shape, kind, want_kind, want_shape):
    lay = resolve_layout(stored, shape=shape, kind=kind)
    assert (lay.kind, lay.input_shape) == (DataKind(want_kind), want_shape)


def test_layout_applies_to_the_arrays_exactly():
    x = np.arange(2 * 6 * 5 * 3, dtype=np.float32).reshape(2, 6, 5, 3)  # (n, H, W, C)
    raw = load_raw("tests.test_kinds:channels_last_images", {})
    assert raw.kind is DataKind.IMAGE and raw.input_shape == (3, 6, 5)
    assert np.array_equal(raw.x, x.transpose(0, 3, 1, 2))
    flat = load_raw("tests.test_kinds:flat_rows", {}, shape=(2, 6), kind="signal")
    assert flat.input_shape == (2, 6) and np.array_equal(flat.x[1], np.arange(12, 24, dtype=np.float32).reshape(2, 6))


def test_a_declared_shape_moves_channels_last_samples_instead_of_reshaping_them():
    """``data.shape = [6, 8, 8]`` for samples stored (8, 8, 6) moves their axes; a reshape
    scrambled every image (each 'channel' a strip of rows)."""
    x = np.random.default_rng(0).random((2, 8, 8, 6)).astype(np.float32)
    lay = resolve_layout((8, 8, 6), shape=[6, 8, 8])
    assert lay.order == (2, 0, 1) and lay.reshape is None
    from hpbench.data.user import apply_layout

    assert np.array_equal(apply_layout(x, lay), x.transpose(0, 3, 1, 2))


def channels_last_images():
    x = np.arange(2 * 6 * 5 * 3, dtype=np.float32).reshape(2, 6, 5, 3)
    return x, np.array([0, 1])


def flat_rows():
    return np.arange(36, dtype=np.float32).reshape(3, 12), np.array([0, 1, 0])


# -- models read every kind they can ---------------------------------------------------------------
SAMPLES = {"tabular": (12,), "signal": (3, 40), "sequence": (40, 3), "image": (2, 8, 8)}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
@pytest.mark.parametrize("family", FAMILIES.names())
def test_each_family_reads_the_kinds_it_registers_and_refuses_the_others(family, kind):
    shape = SAMPLES[kind]
    if kind not in family_reads(family):
        with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
            build_model(family, input_shape=shape, n_outputs=3, params={}, kind=kind)
        return
    torch.manual_seed(0)
    model = build_model(family, input_shape=shape, n_outputs=3, params={}, kind=kind)
    out = model(torch.randn(4, *shape))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_cnn_convolves_signals_in_1d_and_images_in_2d():
    sig = build_model("cnn", input_shape=(3, 40), n_outputs=2, params={}, kind="signal")
    img = build_model("cnn", input_shape=(1, 8, 8), n_outputs=2, params={}, kind="image")
    assert any(isinstance(m, nn.Conv1d) for m in sig.modules()) and not any(isinstance(m, nn.Conv2d) for m in sig.modules())
    assert any(isinstance(m, nn.Conv2d) for m in img.modules())
    assert sig.body[0].in_channels == 3  # channels first: C of (C, L)


@pytest.mark.parametrize("family", ["cnn", "lstm", "gru", "rnn", "transformer", "mlp"])
def test_a_signal_and_its_transposed_sequence_give_the_same_outputs(family):
    """A family reads a signal (C, L) and the same data stored as a sequence (L, C) alike: with
    the same weights, the outputs agree (the MLP flattens, so its weights see another order)."""
    torch.manual_seed(0)
    a = build_model(family, input_shape=(3, 20), n_outputs=2, params={}, kind="signal")
    b = build_model(family, input_shape=(20, 3), n_outputs=2, params={}, kind="sequence")
    if family == "mlp":
        assert a(torch.randn(2, 3, 20)).shape == (2, 2)
        return
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = torch.randn(5, 3, 20)
    torch.testing.assert_close(a(x), b(x.transpose(1, 2).contiguous()), rtol=1e-5, atol=1e-6)


def test_recurrent_reads_a_signal_as_L_steps_of_C_channels():
    m = build_model("lstm", input_shape=(3, 20), n_outputs=2, params={"hidden_size": 4}, kind="signal")
    assert m.rnn.input_size == 3


# -- the cost model covers the new layers ----------------------------------------------------------
def _matmul(cost, phase):
    return sum(op.flops for op in cost.ops if op.phase == phase and op.kind == "matmul")


def test_conv1d_closed_form_forward_and_backward():
    c = count_module_step(nn.Conv1d(3, 8, 5, padding=2), x=torch.zeros(4, 3, 50, requires_grad=True))
    fwd = F.conv1d_forward(c_in=3, c_out=8, kernel=5, out_len=50, n_samples=4)
    assert fwd == 2 * 3 * 5 * 8 * 50 * 4
    assert _matmul(c, "forward") == fwd
    assert _matmul(c, "backward") == F.conv_backward(forward=fwd) == 2 * fwd  # input and weight gradients


def test_norm_and_pool_1d_are_counted_per_element():
    c = count_module_step(nn.Sequential(nn.BatchNorm1d(4), nn.MaxPool1d(2), nn.AvgPool1d(2)), x=torch.zeros(2, 4, 16))
    norm = [op for op in c.ops if op.phase == "forward" and op.kind == "norm"]
    assert sum(op.flops for op in norm) == F.NORM_FORWARD_PER_ELEMENT * 2 * 4 * 16
    pools = [op for op in c.ops if op.phase == "forward" and "pool" in op.name]
    assert [op.flops for op in pools] == [2 * 4 * 16, 2 * 4 * 8]  # one op per input element (the window's compare / add)


@pytest.mark.parametrize("kind", ["signal", "sequence"])
def test_cnn_on_signals_matches_the_closed_form_layer_by_layer(kind):
    """The CNN family on a 3-channel, 40-step signal: two conv blocks (kernel 3, 'same', max
    pool 2), a 64-unit head, 4 classes; forward matmul FLOPs = the closed forms summed."""
    n, c, length = 8, 3, 40
    shape = (c, length) if kind == "signal" else (length, c)
    cost = count_step(family="cnn", model_params={"conv_depth": 2, "channels": 16, "kernel": 3, "width": 64}, input_shape=shape,
                      n_outputs=4, task="multiclass", batch_size=n, kind=kind)
    want = (F.conv1d_forward(c_in=3, c_out=16, kernel=3, out_len=40, n_samples=n)
            + F.conv1d_forward(c_in=16, c_out=32, kernel=3, out_len=20, n_samples=n)
            + F.linear_forward(n_in=32 * 10, n_out=64, n_samples=n) + F.linear_forward(n_in=64, n_out=4, n_samples=n))
    assert _matmul(cost, "forward") == want
    assert cost.n_params == (3 * 3 * 16 + 2 * 16) + (16 * 3 * 32 + 2 * 32) + (320 * 64 + 64) + (64 * 4 + 4)


def test_recurrent_on_a_signal_counts_L_steps_of_C_features():
    cost = count_step(family="gru", model_params={"hidden_size": 16}, input_shape=(3, 40), n_outputs=2, task="multiclass",
                      batch_size=4, kind="signal")
    gates = F.recurrent_forward(gates=3, n_in=3, hidden=16, seq_len=40, n_samples=4)
    assert _matmul(cost, "forward") == gates + F.linear_forward(n_in=16, n_out=2, n_samples=4)


def test_predicted_seconds_cover_a_signal_cnn():
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.predict import features, predict_epoch

    dm = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                     conv_flops=(1e3, 1e9), conv_flops_per_s=(1e8, 1e10), conv_backward_flops_per_s=(5e7, 5e9), bandwidth_bytes_per_s=1e10,
                     coef={"step": 1e-4, "op": 5e-6, "matmul": 1.0, "conv": 1.0, "memory": 1.0, "memory_strided": 1.0})
    cost = count_step(family="cnn", model_params={}, input_shape=(3, 40), n_outputs=4, task="multiclass", batch_size=32, kind="signal")
    f = features(cost.ops, device=dm)
    assert f["conv"] > 0 and f["memory_strided"] > 0  # conv kernels and the 1-D pooling/norm are timed
    ep = predict_epoch(full=cost, last=None, n_steps=10, device=dm)
    assert ep.epoch_s > 10 * f["conv"] > 0


# -- study files: shape, kind, NumPy files ---------------------------------------------------------
def _csv(tmp_path, n_features=12, rows=30):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(rows, n_features)), columns=[f"f{i}" for i in range(n_features)])
    df["label"] = rng.integers(0, 2, rows)
    path = tmp_path / "sig.csv"
    df.to_csv(path, index=False)
    return path


def test_csv_shape_reshapes_the_columns_and_a_wrong_shape_is_refused(tmp_path, write_study):
    path = _csv(tmp_path)
    text = HEAD + f'[data]\ndataset = "{path}"\ntarget = "label"\nshape = {{}}\n[model]\nfamily = "cnn"\n'
    study = load_study(write_study(text.format("[3, 4]")))
    assert study.config["data"]["shape"] == (3, 4)
    s = prepare(dataset=str(path), options={"target": "label"}, val_fraction=0.2, test_fraction=0.0, preprocess=(), seed=0, shape=(3, 4))
    assert s.kind is DataKind.SIGNAL and s.input_shape == (3, 4)
    with pytest.raises(StudyError, match=r"data\.shape: must hold the 12 feature values of each sample of .*sig\.csv .*but got \[3, 5\]"):
        load_study(write_study(text.format("[3, 5]")))


def test_cnn_on_a_table_is_refused_at_validation_with_the_way_out(tmp_path, write_study):
    path = _csv(tmp_path)
    text = HEAD + f'[data]\ndataset = "{path}"\ntarget = "label"\n[model]\nfamily = "cnn"\n'
    with pytest.raises(StudyError, match=r"model\.family: model family 'cnn' reads signal, sequence, image data, but the data is tabular"):
        load_study(write_study(text))
    searched = HEAD + f'[data]\ndataset = "{path}"\ntarget = "label"\n[model]\nfamily = "mlp"\n[space]\nfamily = {{ choice = ["mlp", "cnn"] }}\n'
    with pytest.raises(StudyError, match=r"space\.family: model family 'cnn'"):
        load_study(write_study(searched))


def test_shape_and_kind_do_not_apply_to_builtin_datasets(write_study):
    with pytest.raises(StudyError, match=r"data\.kind: applies to data files and user loaders"):
        load_study(write_study(HEAD + '[data]\ndataset = "digits"\nkind = "signal"\n[model]\nfamily = "mlp"\n'))
    with pytest.raises(StudyError, match=r"data\.kind: unknown data kind"):
        load_study(write_study(HEAD + '[data]\ndataset = "a.npz"\nkind = "sound"\n[model]\nfamily = "mlp"\n'))


def _npz(tmp_path, *, val=False, test=False, name="d.npz"):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(60, 2, 16)).astype(np.float32), "y": np.repeat([3, 7, 9], 20)}
    if val:
        arrays |= {"x_val": rng.normal(size=(9, 2, 16)), "y_val": np.array([3, 7, 9] * 3)}
    if test:
        arrays |= {"x_test": rng.normal(size=(12, 2, 16)), "y_test": np.array([3, 7, 9, 9] * 3)}
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_npz_given_test_split_is_used_as_given_and_only_validation_is_carved(tmp_path):
    path = _npz(tmp_path, test=True)
    s = prepare(dataset=str(path), options={}, val_fraction=0.25, test_fraction=0.0, preprocess=(), seed=0)
    assert s.given == ("test",) and s.kind is DataKind.SIGNAL and s.input_shape == (2, 16)
    assert len(s.x_test) == 12 and len(s.x_val) == 15 and len(s.x_train) == 45
    with np.load(path) as z:
        assert np.allclose(s.x_test, z["x_test"])
        assert s.y_test.tolist() == [0, 1, 2, 2] * 3  # labels 3/7/9 numbered over every split together
    assert np.bincount(s.y_val).tolist() == [5, 5, 5]  # the carved split is stratified


def test_npz_both_splits_given_leaves_all_rows_to_train(tmp_path):
    s = prepare(dataset=str(_npz(tmp_path, val=True, test=True)), options={}, val_fraction=0.2, test_fraction=0.1, preprocess=("standardize",),
                seed=0)
    assert s.given == ("val", "test") and len(s.x_train) == 60 and len(s.x_val) == 9 and len(s.x_test) == 12
    assert np.allclose(s.x_train.mean(axis=0), 0, atol=1e-5)  # statistics from the training rows only


def test_npz_study_refuses_a_fraction_for_a_given_split(tmp_path, write_study):
    path = _npz(tmp_path, test=True)
    ok = HEAD + f'[data]\ndataset = "{path.name}"\n[model]\nfamily = "cnn"\n'
    study = load_study(write_study(ok))  # relative to the study file's folder
    assert study.config["data"]["dataset"] == str(path)
    with pytest.raises(StudyError, match=r"data\.test_fraction: must be left out: the data comes with a test split"):
        load_study(write_study(HEAD + f'[data]\ndataset = "{path.name}"\ntest_fraction = 0.2\n[model]\nfamily = "cnn"\n'))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((5, 3))}, r"needs arrays 'x' .* and 'y' .*, but 'y' is missing: the file holds 'x' \(5, 3\) float64"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(4)}, r"'x' and 'y' must have one row per sample, but have 5 and 4"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(5), "x_test": np.zeros((2, 3))}, r"needs both 'x_test' and 'y_test'"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(5), "x_val": np.zeros((2, 4)), "y_val": np.zeros(2)}, r"'x_val' must have samples shaped like 'x'"),
        ({"x": np.array([["a", "b"]] * 5), "y": np.zeros(5)}, r"array 'x' must hold numbers"),
    ],
)
def test_npz_arrays_that_do_not_fit_are_refused_at_validation(tmp_path, write_study, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(StudyError, match=r"data\.dataset: .*bad\.npz\S*: .*" + message) as err:
        load_study(write_study(HEAD + f'[data]\ndataset = "{path}"\n[model]\nfamily = "mlp"\n'))
    assert str(err.value).count("bad.npz") == 1 and ", but got" not in str(err.value)  # the file named once, one "but"


def test_npy_pair_by_x_and_y_keys(tmp_path, write_study):
    x, y = np.random.default_rng(0).normal(size=(40, 64)).astype(np.float32), np.arange(40) % 4
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    text = HEAD + '[data]\nx = "x.npy"\ny = "y.npy"\nshape = [1, 8, 8]\n[model]\nfamily = "cnn"\n'
    study = load_study(write_study(text))
    from hpbench.study.resolve import trial_config

    d = trial_config(study, {}).data
    assert d.dataset == str(tmp_path / "x.npy") and d.options["y"] == str(tmp_path / "y.npy") and "x" not in d.options
    assert d.shape == (1, 8, 8) and d.stream == "auto"
    with pytest.raises(StudyError, match=r"data\.y: is required with \.npy inputs"):
        load_study(write_study(HEAD + '[data]\nx = "x.npy"\n[model]\nfamily = "mlp"\n'))
    with pytest.raises(StudyError, match=r"data\.y: data file must exist, but got 'nope\.npy'"):
        load_study(write_study(HEAD + '[data]\nx = "x.npy"\ny = "nope.npy"\n[model]\nfamily = "mlp"\n'))


def test_signals_dataset_is_seeded_and_balanced():
    a = load_raw("signals", {"n_samples": 600, "length": 64, "channels": 2})
    b = load_raw("signals", {"n_samples": 600, "length": 64, "channels": 2})
    assert a.kind is DataKind.SIGNAL and a.input_shape == (2, 64) and a.n_outputs == 6
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert np.bincount(a.y).min() > 600 / 6 * 0.7
    c = load_raw("signals", {"n_samples": 600, "length": 64, "channels": 2, "data_seed": 1})
    assert not np.array_equal(a.x, c.x)


@pytest.mark.parametrize(("kind", "shape"), [("signal", (3, 40)), ("image", (1, 8, 8))])
def test_cnn_global_pool_averages_each_channel_before_the_head(kind, shape):
    m = build_model("cnn", input_shape=shape, n_outputs=2, params={"global_pool": True, "conv_depth": 2, "channels": 16, "width": 8}, kind=kind)
    head = next(mod for mod in m.modules() if isinstance(mod, nn.Linear))
    assert head.in_features == 32  # the last block's channels, one value each
    assert m(torch.randn(3, *shape)).shape == (3, 2)
