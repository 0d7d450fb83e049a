"""Datasets, user data (CSV/Parquet, loaders), splits and preprocessing. No training."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hpbench.data.datasets import DATASETS
from hpbench.data.prepare import load_raw, prepare, split_indices
from hpbench.data.user import infer_task


@pytest.mark.parametrize(
    ("name", "task", "shape", "n_out"),
    [("digits", "multiclass", (1, 8, 8), 10), ("breast_cancer", "binary", (30,), 1), ("wine", "multiclass", (13,), 3),
     ("iris", "multiclass", (4,), 3), ("diabetes", "regression", (10,), 1), ("adding", "regression", (50, 2), 1),
     ("temporal_order", "multiclass", (50, 6), 4)],
)
def test_builtin_datasets(name, task, shape, n_out):
    raw = load_raw(name, {"n_samples": 100} if name in ("adding", "temporal_order") else {})
    assert raw.task == task == DATASETS.get(name).meta["task"]
    assert raw.input_shape == shape and raw.n_outputs == n_out and raw.x.dtype == np.float32
    assert raw.y.dtype == (np.float32 if task == "regression" else np.int64)


def test_adding_problem_targets():
    raw = load_raw("adding", {"seq_len": 20, "n_samples": 50})
    values, markers = raw.x[:, :, 0], raw.x[:, :, 1]
    assert (markers.sum(axis=1) == 2).all()
    assert np.allclose((values * markers).sum(axis=1), raw.y, rtol=1e-5, atol=1e-7)
    assert np.array_equal(load_raw("adding", {"seq_len": 20, "n_samples": 50}).x, raw.x)  # fixed data seed


def test_seq_len_validates(write_study):
    from hpbench.errors import StudyError
    from hpbench.study.parse import load_study

    text = '[study]\nname = "s"\nmetric = "val_loss"\n[data]\ndataset = "adding"\nseq_len = {}\n[model]\nfamily = "lstm"\n'
    assert load_study(write_study(text.format(50))).config["data"]["seq_len"] == 50
    with pytest.raises(StudyError, match=r"data\.seq_len"):
        load_study(write_study(text.format(1)))


def test_splits_deterministic_stratified_disjoint():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    a = split_indices(y, task="multiclass", val_fraction=0.2, test_fraction=0.1, seed=3)
    b = split_indices(y, task="multiclass", val_fraction=0.2, test_fraction=0.1, seed=3)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    tr, va, te = a
    assert len(set(tr) | set(va) | set(te)) == 100 and len(va) == 20 and len(te) == 10
    assert np.bincount(y[va]).tolist() == [12, 6, 2]


def test_preprocessing_fitted_on_train_only():
    s = prepare(dataset="diabetes", options={}, val_fraction=0.3, test_fraction=0.0, preprocess=("standardize",), seed=0)
    assert np.allclose(s.x_train.mean(axis=0), 0, atol=1e-5) and np.allclose(s.x_train.std(axis=0), 1, atol=1e-4)
    assert not np.allclose(s.x_val.mean(axis=0), 0, atol=1e-3)
    m = prepare(dataset="iris", options={}, val_fraction=0.3, test_fraction=0.0, preprocess=("minmax",), seed=0)
    assert m.x_train.min() == 0 and m.x_train.max() == 1


@pytest.mark.parametrize(
    ("y", "task"),
    [(np.array([0, 1, 1, 0]), "binary"), (np.array(["a", "b", "c"]), "multiclass"), (np.array([True, False]), "binary"),
     (np.array([1.0, 2.0, 3.0]), "multiclass"), (np.array([0.5, 1.2, 3.3]), "regression"), (np.arange(100), "regression")],
)
def test_infer_task(y, task):
    assert infer_task(y) == task


@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.random(40), "b": rng.integers(0, 5, 40), "color": ["red", "blue"] * 20,
                         "label": ["yes", "no", "maybe", "no"] * 10, "price": rng.random(40) * 10})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_dataset(tmp_path, table, suffix):
    path = tmp_path / f"t{suffix}"
    table.to_csv(path, index=False) if suffix == ".csv" else table.to_parquet(path)
    raw = load_raw(str(path), {"target": "label"})
    assert raw.task == "multiclass" and raw.n_outputs == 3
    assert raw.input_shape == (5,)  # a, b, price + one-hot color (2)
    reg = load_raw(str(path), {"target": "price"})
    assert reg.task == "regression" and reg.y.dtype == np.float32
    forced = load_raw(str(path), {"target": "b", "task": "regression"})
    assert forced.task == "regression"


def test_file_dataset_errors(tmp_path, table):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"no column 'lable'.*label"):
        load_raw(str(path), {"target": "lable"})
    table.loc[3, "a"] = np.nan
    table.to_csv(path, index=False)
    with pytest.raises(ValueError, match="missing values, but a do"):
        load_raw(str(path), {"target": "label"})


def test_file_study_trains(tmp_path, write_study, table):
    from hpbench.study.parse import load_study
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    table.to_csv(tmp_path / "t.csv", index=False)
    study = load_study(write_study('[study]\nname = "f"\nmetric = "val_accuracy"\n[data]\ndataset = "t.csv"\ntarget = "label"\ntask = "multiclass"\n'
                                   '[model]\nfamily = "mlp"\n[train]\nmax_epochs = 1\n'))
    out = train(trial_config(study, {}))
    assert "val_accuracy" in out.history[-1]


def load_arrays(n=30):
    rng = np.random.default_rng(0)
    return rng.random((n, 3)), (rng.random(n) > 0.5).astype(int)


def load_dict():
    import torch

    return {"x": torch.randn(20, 2, 4), "y": torch.rand(20), "task": "regression"}


def load_torch_dataset():
    import torch

    return torch.utils.data.TensorDataset(torch.randn(12, 3), torch.tensor([0, 1, 2] * 4))


@pytest.mark.parametrize(("fn", "opts", "task", "shape"), [("load_arrays", {"n": 24}, "binary", (3,)), ("load_dict", {}, "regression", (2, 4)),
                                                            ("load_torch_dataset", {}, "multiclass", (3,))])
def test_user_loader(fn, opts, task, shape):
    raw = load_raw(f"{__name__}:{fn}", opts)
    assert raw.task == task and raw.input_shape == shape


def test_user_loader_task_override_and_bad_return():
    assert load_raw(f"{__name__}:load_arrays", {"task": "regression"}).task == "regression"
    with pytest.raises(ValueError, match="must return"):
        load_raw(f"{__name__}:bad_loader", {})


def bad_loader():
    return 42


def load_continuous():
    rng = np.random.default_rng(0)
    return rng.random((40, 3)), rng.random(40) * 10


def test_a_continuous_target_is_refused_as_classes():
    """``task = "multiclass"`` (or binary) on a continuous target made one class per distinct value
    (40 outputs for 40 rows) without a word; it is refused by name, whole-number floats still read."""
    for task in ("multiclass", "binary"):
        with pytest.raises(ValueError, match=rf"data.task: '{task}' needs class labels, but the target holds numbers that are not whole"):
            load_raw(f"{__name__}:load_continuous", {"task": task})
    assert load_raw(f"{__name__}:load_continuous", {"task": "regression"}).task == "regression"
    assert load_raw(f"{__name__}:load_arrays", {"task": "multiclass", "n": 24}).n_outputs == 2  # whole numbers: classes


def test_splits_cover_every_sample_once_and_follow_the_seed():
    y = np.array([0] * 50 + [1] * 7 + [2] * 1)  # a class of one sample must not break the split
    tr, va, te = split_indices(y, task="multiclass", val_fraction=0.25, test_fraction=0.1, seed=0)
    assert sorted([*tr, *va, *te]) == list(range(58))
    assert (len(te), len(va)) == (6, 15)
    other = split_indices(y, task="multiclass", val_fraction=0.25, test_fraction=0.1, seed=1)
    assert not np.array_equal(va, other[1])
    r = np.linspace(0.0, 1.0, 40)
    rtr, rva, rte = split_indices(r, task="regression", val_fraction=0.2, test_fraction=0.0, seed=0)
    assert len(rva) == 8 and len(rte) == 0 and len(set(rtr) | set(rva)) == 40


def test_bundled_datasets_match_scikit_learn_without_importing_it():
    code = (
        "import sys; from hpbench.data.prepare import load_raw\n"
        "for n in ('digits', 'breast_cancer', 'wine', 'iris', 'diabetes'): load_raw(n, {})\n"
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    import sklearn.datasets as skd

    digits = load_raw("digits", {})
    ref = skd.load_digits()
    assert np.array_equal(digits.x, ref.images.astype(np.float32)[:, None]) and np.array_equal(digits.y, ref.target)
    for name, loader in [("breast_cancer", skd.load_breast_cancer), ("wine", skd.load_wine), ("iris", skd.load_iris), ("diabetes", skd.load_diabetes)]:
        raw, ref = load_raw(name, {}), loader()
        assert np.allclose(raw.x, ref.data.astype(np.float32), rtol=1e-5, atol=1e-7), name
        assert np.array_equal(raw.y, ref.target.astype(raw.y.dtype)), name


@pytest.mark.parametrize(("n", "val", "test", "fragment"), [
    (3, 0.5, 0.5, "3 samples: 1 for validation (data.val_fraction = 0.5), 2 for test (data.test_fraction = 0.5), which leaves 0 to train on"),
    (2, 0.6, 0.0, "2 samples: 2 for validation (data.val_fraction = 0.6), which leaves 0 to train on"),
])
def test_tiny_data_that_leaves_nothing_to_train_on_is_refused_naming_the_sizes(n, val, test, fragment):
    from hpbench.data.splits import SplitError

    with pytest.raises(SplitError) as info:
        split_indices(np.arange(n, dtype=np.float32), task="regression", val_fraction=val, test_fraction=test, seed=0)
    assert fragment in str(info.value)


def test_a_class_too_small_to_stratify_is_named_before_the_search(tmp_path):
    """A class of one sample lands in one split only: the search says so (a warning naming the
    class and the split it is missing from) instead of mis-stratifying silently."""
    from hpbench.preflight.run import check_data
    from hpbench.study.parse import load_study

    rows = [f"{i % 7 / 7},{i % 5 / 5},{i % 2}" for i in range(40)] + ["0.5,0.5,2"]  # class 2: one sample
    csv = tmp_path / "rare.csv"
    csv.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    study = tmp_path / "rare.toml"
    study.write_text(f'[data]\ndataset = "{csv}"\ntarget = "y"\ntask = "multiclass"\n[model]\nfamily = "mlp"\n')
    checked = check_data(load_study(study))
    warnings = checked.warnings
    assert not checked.problems
    assert len(warnings) == 1 and "class 2 has 1 sample, too few to stratify: none in the" in warnings[0], warnings
    assert warnings[0].startswith(f"{csv}: data.target: ")  # the data file and its target, as the other data warnings say


def test_a_search_on_tiny_data_exits_2_naming_the_sizes_before_anything_starts(tmp_path, monkeypatch):
    """A 4-row CSV whose validation and test fractions (rounded up) take every row: exit 2, the
    sizes named, no results folder, no Ray."""
    from typer.testing import CliRunner

    import hpbench.dispatch.search_phase as search_phase
    from hpbench.cli import app

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: (_ for _ in ()).throw(AssertionError("Ray was started")))
    csv = tmp_path / "tiny.csv"
    csv.write_text("a,b,y\n0.1,0.2,0.5\n0.3,0.1,0.7\n0.5,0.9,0.1\n0.2,0.4,0.3\n")
    study = tmp_path / "tiny.toml"
    study.write_text(f'[data]\ndataset = "{csv}"\ntarget = "y"\ntask = "regression"\nval_fraction = 0.5\ntest_fraction = 0.4\n'
                     '[model]\nfamily = "mlp"\n')
    res = CliRunner().invoke(app, ["search", str(study), "--out", str(tmp_path / "out")])
    text = " ".join(res.stderr.split())
    assert res.exit_code == 2, res.output
    assert "4 samples: 2 for validation (data.val_fraction = 0.5), 2 for test (data.test_fraction = 0.4), which leaves 0 to train on" in text
    assert not (tmp_path / "out").exists()
