"""Data larger than memory: rows read where they are (``.npy`` by pread, user Datasets and
IterableDatasets), split and fitted from the labels alone, trained through DataLoaders with
worker processes, and never loaded by the driver. No Ray."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, IterableDataset

from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
from hpbench.data.arrays import npy_header
from hpbench.data.kinds import DataKind, resolve_layout
from hpbench.data.prepare import load_raw, prepare
from hpbench.data.sources import peek
from hpbench.data.stream import NpyRows, StreamSplits, position_split
from hpbench.train.trainer import train


@pytest.fixture
def signals_npy(tmp_path):
    raw = load_raw("signals", {"n_samples": 900, "length": 48, "channels": 2})
    np.save(tmp_path / "x.npy", raw.x)
    np.save(tmp_path / "y.npy", raw.y)
    return tmp_path / "x.npy", tmp_path / "y.npy", raw


def _cfg(dataset: str, options: dict, *, stream, num_workers=0, epochs=2, preprocess=("standardize",), family="cnn", test_fraction=0.0):
    return TrialConfig(
        seed=0, data=DataConfig(dataset=dataset, options=options, stream=stream, num_workers=num_workers, preprocess=preprocess,
                                test_fraction=test_fraction),
        model=ModelConfig(family=family, params={"channels": 8, "width": 16} if family == "cnn" else {"hidden_size": 8}),
        optimizer=OptimizerConfig(name="adam", lr=3e-3), train=TrainConfig(max_epochs=epochs, batch_size=64),
        metric="val_accuracy", mode="max",
    )


def _history(out):
    return [(r["train_loss"], r["val_loss"], r["val_accuracy"]) for r in out.history]


@pytest.mark.parametrize("dtype", ["<f4", "<f8", "|u1", ">f4", "<i2"])
def test_npy_rows_read_exactly_the_rows_asked_for(tmp_path, dtype):
    a = (np.arange(50 * 3 * 4) % 200).reshape(50, 3, 4).astype(dtype)
    np.save(tmp_path / "a.npy", a)
    h = npy_header(tmp_path / "a.npy")
    assert h.shape == (50, 3, 4) and h.n == 50 and h.sample_shape == (3, 4)
    rows = NpyRows(header=h, layout=resolve_layout((3, 4)))
    idx = np.array([0, 1, 2, 7, 9, 10, 11, 49])  # runs of consecutive rows and single rows
    got = rows.read(idx)
    assert got.dtype == np.float32 and np.array_equal(got, a[idx].astype(np.float32))


def test_npy_rows_in_a_declared_layout(tmp_path):
    a = np.arange(10 * 64, dtype=np.float32).reshape(10, 64)
    np.save(tmp_path / "a.npy", a)
    rows = NpyRows(header=npy_header(tmp_path / "a.npy"), layout=resolve_layout((64,), shape=[1, 8, 8]))
    assert np.array_equal(rows.read(np.array([3, 4])), a[[3, 4]].reshape(2, 1, 8, 8))


def test_streamed_npy_splits_and_statistics_match_the_in_memory_path(signals_npy):
    x, y, _ = signals_npy
    kw = dict(dataset=str(x), options={"y": str(y)}, val_fraction=0.2, test_fraction=0.1, preprocess=("standardize",), seed=3)
    mem, st = prepare(**kw, stream=False), prepare(**kw, stream=True)
    assert isinstance(st, StreamSplits) and st.kind is DataKind.SIGNAL and st.input_shape == mem.input_shape == (2, 48)
    assert st.n_train == len(mem.x_train) and len(st.val) == len(mem.x_val) and len(st.test) == len(mem.x_test)
    assert np.array_equal(st.train.y, mem.y_train) and np.array_equal(st.val.y, mem.y_val)
    shift, scale = st.stats
    first = (st.train.rows.read(st.train.index[:5]) - shift) / scale
    np.testing.assert_allclose(first, mem.x_train[:5], rtol=1e-5, atol=1e-5)


def test_streamed_training_equals_in_memory_training(signals_npy):
    """Same seed, same batches (the order drawn from the trial's generator either way): the
    losses agree to float32 rounding, with DataLoader workers or without."""
    x, y, _ = signals_npy
    mem = _history(train(_cfg(str(x), {"y": str(y)}, stream=False)))
    for workers in (0, 2):
        st = _history(train(_cfg(str(x), {"y": str(y)}, stream=True, num_workers=workers)))
        np.testing.assert_allclose(np.array(st), np.array(mem), rtol=1e-5, atol=1e-6)


def test_a_streamed_trial_resumes_where_it_stopped(signals_npy):
    x, y, _ = signals_npy
    c = _cfg(str(x), {"y": str(y)}, stream=True, epochs=3)
    states: list = []
    whole = train(c, on_state=lambda s: states.append(copy.deepcopy(s)))
    resumed = train(c, start_state=copy.deepcopy(states[0]))
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("epoch_s", "epoch_cpu_s", "reported_at")} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(whole.history)


def test_the_driver_never_loads_streamed_data(signals_npy, monkeypatch, write_study):
    """The driver ships data in memory to its trials but only peeks at streamed data: headers
    and a few rows; the training rows are never read there."""
    from hpbench.dispatch.plan import data_record
    from hpbench.dispatch.trainable import study_data
    from hpbench.study.parse import load_study

    x, y, _ = signals_npy
    text = ('[study]\nname = "s"\nmetric = "val_accuracy"\n[data]\nx = "{x}"\ny = "{y}"\nstream = {stream}\n'
            '[model]\nfamily = "cnn"\n')
    reads: list[int] = []
    real = NpyRows.read
    monkeypatch.setattr(NpyRows, "read", lambda self, idx: reads.append(len(idx)) or real(self, idx))
    assert study_data(load_study(write_study(text.format(x=x, y=y, stream="true")))) is None
    rec = data_record(load_study(write_study(text.format(x=x, y=y, stream="true"))), None)
    assert rec["streamed"] and rec["kind"] == "signal" and rec["input_shape"] == [2, 48] and rec["n"] == 900
    assert sum(reads) <= 8  # the peek's sample rows
    _key, splits = study_data(load_study(write_study(text.format(x=x, y=y, stream="false"))))
    assert len(splits.x_train) == 720


class CountingSignals(Dataset):
    """A map-style user dataset that counts the items read."""

    def __init__(self, n: int = 300, length: int = 24, with_targets: bool = False) -> None:
        rng = np.random.default_rng(0)
        self.labels = rng.integers(0, 3, n)
        self.x = (rng.normal(0, 0.3, (n, 2, length)) + self.labels[:, None, None]).astype(np.float32)
        self.reads = 0
        if with_targets:
            self.targets = list(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        self.reads += 1
        return torch.from_numpy(self.x[i]), int(self.labels[i])


class OrderedStream(IterableDataset):
    """An IterableDataset yielding the same samples in the same order on every pass."""

    def __init__(self, n: int = 300) -> None:
        self.inner = CountingSignals(n)

    def __iter__(self):
        for i in range(len(self.inner)):
            yield self.inner[i]


LAST: dict[str, CountingSignals] = {}


def load_counting(n: int = 300, targets: bool = False) -> CountingSignals:
    LAST["ds"] = CountingSignals(n, with_targets=targets)
    return LAST["ds"]


def load_stream(n: int = 300) -> OrderedStream:
    return OrderedStream(n)


def load_given_splits() -> dict:
    return {"train": CountingSignals(240), "val": CountingSignals(60), "test": OrderedStream(45)}


def test_peek_reads_a_few_items_of_a_user_dataset():
    info = peek(f"{__name__}:load_counting", {}, stream=True)
    assert info.streamed and info.kind is DataKind.SIGNAL and info.input_shape == (2, 24) and info.n == 300
    assert info.task is None and LAST["ds"].reads <= 9  # its first item, then the sample
    info = peek(f"{__name__}:load_counting", {"targets": True}, stream=True)
    assert info.task == "multiclass" and info.n_outputs == 3 and LAST["ds"].reads <= 9  # labels from ``targets``, no item read


def test_a_small_user_dataset_is_stacked_and_a_large_one_streamed():
    small = prepare(dataset=f"{__name__}:load_counting", options={}, val_fraction=0.2, test_fraction=0.0, preprocess=(), seed=0)
    assert not isinstance(small, StreamSplits) and len(small.x_train) == 240  # "auto": 300 x 2 x 24 floats is small
    big = prepare(dataset=f"{__name__}:load_counting", options={}, val_fraction=0.2, test_fraction=0.0, preprocess=(), seed=0, stream=True)
    assert isinstance(big, StreamSplits) and big.n_train == 240
    assert np.array_equal(big.train.y, small.y_train)


@pytest.mark.parametrize("workers", [0, 2])
def test_user_dataset_streamed_trains_like_the_same_data_in_memory(workers):
    spec = f"{__name__}:load_counting"
    mem = _history(train(_cfg(spec, {}, stream=False)))
    st = _history(train(_cfg(spec, {}, stream=True, num_workers=workers)))
    np.testing.assert_allclose(np.array(st), np.array(mem), rtol=1e-5, atol=1e-6)


def test_position_split_is_seeded_disjoint_and_near_the_fractions():
    pos = np.arange(20_000)
    a = position_split(pos, val_fraction=0.2, test_fraction=0.1, seed=0)
    assert np.array_equal(a, position_split(pos, val_fraction=0.2, test_fraction=0.1, seed=0))
    assert not np.array_equal(a, position_split(pos, val_fraction=0.2, test_fraction=0.1, seed=1))
    share = np.bincount(a, minlength=3) / len(pos)
    np.testing.assert_allclose(share, [0.7, 0.2, 0.1], atol=0.01)
    # a position keeps its split when the stream is read in pieces (by DataLoader workers)
    assert np.array_equal(position_split(pos[7::3], val_fraction=0.2, test_fraction=0.1, seed=0), a[7::3])


@pytest.mark.parametrize("workers", [0, 2])
def test_iterable_dataset_is_split_by_position_and_trains(workers):
    spec = f"{__name__}:load_stream"
    s = prepare(dataset=spec, options={}, val_fraction=0.2, test_fraction=0.1, preprocess=("standardize",), seed=0)
    assert isinstance(s, StreamSplits) and s.task == "multiclass" and s.n_outputs == 3
    assert sum(s.counts.values()) == 300 and s.counts["val"] > 30 and s.counts["test"] > 10
    out = train(_cfg(spec, {}, stream="auto", num_workers=workers, epochs=3, test_fraction=0.1))
    assert out.history[-1]["val_accuracy"] > 0.9  # three well-separated classes
    from hpbench.train.evaluate import evaluate_test

    assert evaluate_test(_cfg(spec, {}, stream="auto", test_fraction=0.1), out.model)["test_accuracy"] > 0.9


def test_given_dataset_splits_are_used_as_given():
    spec = f"{__name__}:load_given_splits"
    s = prepare(dataset=spec, options={}, val_fraction=0.2, test_fraction=0.0, preprocess=(), seed=0, stream=True)
    assert s.given == ("val", "test") and s.n_train == 240 and len(s.val) == 60 and s.test is not None
    out = train(_cfg(spec, {}, stream=True, epochs=2))
    from hpbench.train.evaluate import evaluate_test

    assert "test_accuracy" in evaluate_test(_cfg(spec, {}, stream=True), out.model)


def test_an_iterable_dataset_cannot_be_loaded_into_memory():
    with pytest.raises(ValueError, match="an iterable dataset cannot be loaded into memory"):
        load_raw(f"{__name__}:load_stream", {})


def test_auto_streams_a_npy_above_the_threshold_and_loads_one_below(signals_npy, monkeypatch):
    import hpbench.data.sources as sources

    x, y, _ = signals_npy
    kw = dict(dataset=str(x), options={"y": str(y)}, val_fraction=0.2, test_fraction=0.0, preprocess=(), seed=0)
    assert not isinstance(prepare(**kw), StreamSplits)  # 900 x 2 x 48 floats: well below 256 MiB
    monkeypatch.setattr(sources, "STREAM_AUTO_BYTES", 1024)
    assert isinstance(prepare(**{**kw, "seed": 1}), StreamSplits)  # another seed: not the cached in-memory splits


def test_the_report_says_where_each_split_came_from():
    from hpbench.report.sections import data_line

    rec = {"dataset": "d.npz", "kind": "signal", "input_shape": [2, 48], "task": "multiclass", "n_train": 640, "n_val": 160, "n_test": 200,
           "given": ["test"], "val_fraction": 0.2, "test_fraction": 0.0, "seed": 3}
    assert data_line(rec) == ("data: d.npz: signal 2x48, 640 train / 160 val / 200 test; val split carved out (0.2, stratified, seed 3); "
                              "test split as given with the data")
    streamed = {"dataset": "x.npy", "kind": "image", "input_shape": [1, 8, 8], "task": "regression", "n": 1000, "given": [],
                "val_fraction": 0.1, "test_fraction": 0.0, "seed": 0, "streamed": True, "num_workers": 2}
    assert data_line(streamed) == ("data: x.npy: image 1x8x8, 1000 rows; val split carved out (0.1, seed 0); no test split; "
                                   "streamed (num_workers=2)")
    # an iterable dataset is split by a seeded hash of each sample's position, not stratified (it said "stratified")
    iterable = {**streamed, "n": None, "task": "multiclass", "kind": "tabular", "input_shape": [12], "dataset": "m:iterds"}
    assert data_line(iterable) == ("data: m:iterds: tabular 12, rows unknown (iterable); val split carved out (0.1, by position, seed 0); "
                                   "no test split; streamed (num_workers=2)")


def test_peek_is_exported_for_preflight_checks(signals_npy):
    from hpbench.data import DataKind as Kind
    from hpbench.data import peek as exported

    x, y, _ = signals_npy
    info = exported(str(x), {"y": str(y)}, stream=True, n_sample=3)
    assert (info.kind, info.input_shape, info.n, info.task, info.n_outputs) == (Kind.SIGNAL, (2, 48), 900, "multiclass", 6)
    assert info.x_sample.shape == (3, 2, 48) and len(info.y_sample) == 3 and info.streamed


def load_stream_with_val() -> dict:
    return {"train": OrderedStream(300), "val": CountingSignals(60)}


def test_an_iterable_with_a_given_validation_split_trains_on_every_position_not_held_for_test():
    spec = f"{__name__}:load_stream_with_val"
    s = prepare(dataset=spec, options={}, val_fraction=0.2, test_fraction=0.1, preprocess=(), seed=0)
    assert s.given == ("val",) and s.counts["val"] == 60 and s.counts["train"] + s.counts["test"] == 300
    from hpbench.data.loader import StreamLoaders

    loaders = StreamLoaders(s, device=torch.device("cpu"), num_workers=0)
    seen = sum(len(xb) for xb, _ in loaders.train_batches(64, torch.Generator().manual_seed(0)))
    assert seen == s.counts["train"]  # the loader keeps exactly the positions the split counted


def test_full_batch_is_refused_for_streamed_data(signals_npy):
    x, y, _ = signals_npy
    c = _cfg(str(x), {"y": str(y)}, stream=True)
    c = TrialConfig(**{**c.__dict__, "train": TrainConfig(max_epochs=1, batch_size="full")})
    with pytest.raises(ValueError, match=r"train\.batch_size: \"full\" makes the whole training split one batch"):
        train(c)


def load_train_stream() -> dict:
    return {"train": OrderedStream(200), "val": CountingSignals(60)}


@pytest.mark.parametrize(("spec", "workers", "batch", "partial"), [("load_stream", 3, 16, True), ("load_stream", 2, 64, False),
                                                                    ("load_train_stream", 3, 50, True), ("load_stream", 0, 16, False)])
def test_the_steps_of_an_epoch_are_counted_as_the_workers_batch_them(spec, workers, batch, partial):
    """Each DataLoader worker batches its own share of an IterableDataset, so an epoch may hold a
    partial batch per worker: the count sizes the per-step schedules."""
    from hpbench.data.loader import StreamLoaders

    s = prepare(dataset=f"{__name__}:{spec}", options={}, val_fraction=0.2, test_fraction=0.1, preprocess=(), seed=0)
    loaders = StreamLoaders(s, device=torch.device("cpu"), num_workers=workers)
    batches = sum(1 for _ in loaders.train_batches(batch, torch.Generator().manual_seed(0)))
    assert loaders.steps_per_epoch(batch) == batches
    # more than ceil(n_train / batch) where the workers' last batches are partial (these sizes)
    assert (batches > -(-s.n_train // batch)) == partial


def test_one_cycle_runs_to_its_end_on_an_iterable_read_by_several_workers():
    """torch's OneCycleLR fails when stepped past its total: sized by ceil(n_train / batch), the
    trial failed in its last epoch after training all the others."""
    import dataclasses

    from hpbench.config import ScheduleConfig

    spec = f"{__name__}:load_stream"
    c = dataclasses.replace(_cfg(spec, {}, stream="auto", num_workers=3, epochs=3, test_fraction=0.1),
                            lr_schedule=ScheduleConfig(name="one_cycle", params={}))
    c = dataclasses.replace(c, train=TrainConfig(max_epochs=3, batch_size=16))
    out = train(c)
    assert len(out.history) == 3
    assert out.history[-1]["learning_rate"] < out.history[1]["learning_rate"]  # annealing towards the end


def test_streamed_evaluation_batches_take_the_rows_the_model_allows(signals_npy):
    """Streamed evaluation batches were capped by their inputs' bytes only (64 MiB: 8,192 rows of
    500-step sequences, whatever the model's activations); they now take the rows the trial sizes
    for its model (hpbench.train.build.eval_rows), the same rows in the same order at any size."""
    from hpbench.data.loader import StreamLoaders

    x, y, _ = signals_npy
    s = prepare(dataset=str(x), options={"y": str(y)}, val_fraction=0.2, test_fraction=0.0, preprocess=("standardize",), seed=3, stream=True)
    loaders = StreamLoaders(s, device=torch.device("cpu"), num_workers=0)
    small, whole = list(loaders.eval_batches("val", rows=7)), list(loaders.eval_batches("val", rows=8192))
    assert max(len(b[0]) for b in small) == 7 and len(whole) == 1 and sum(len(b[0]) for b in small) == len(s.val) == len(whole[0][0])
    assert torch.equal(torch.cat([b[0] for b in small]), whole[0][0]) and torch.equal(torch.cat([b[1] for b in small]), whole[0][1])


def test_streamed_standardize_keeps_the_spread_of_values_whose_mean_dwarfs_it():
    """A streamed fit summed x and x**2 and took E[x^2] - E[x]^2: for values near 1e8 with a std of
    1 (timestamps, ids) that lost every digit (std 0, read as 1, or several times the true one;
    bug hunt s51/h4). Chunk-wise deviations combined pairwise keep the float64 answer."""
    from hpbench.data.stream import fit_stats

    rng = np.random.default_rng(0)
    x = np.concatenate([1e8 + rng.normal(size=(1000, 2)), rng.normal(loc=5.0, scale=3.0, size=(1000, 2))], axis=1)
    chunks = [x[i : i + 300] for i in range(0, len(x), 300)]  # uneven chunks, the last a short one
    shift, scale = fit_stats(("standardize",), iter(chunks))
    np.testing.assert_allclose(shift, x.mean(axis=0).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(scale, x.std(axis=0), rtol=1e-5)
    lo, span = fit_stats(("minmax",), iter(chunks))
    np.testing.assert_allclose(lo, x.min(axis=0).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(span, (x.max(axis=0) - x.min(axis=0)).astype(np.float32), rtol=1e-5)
    assert fit_stats(("standardize",), iter([np.full((4, 1), 7.0)]))[1].tolist() == [1.0]  # a constant value's scale is 1
