"""Built-in datasets, registered by name. Nothing is downloaded: each loader uses data that a
package ships (scikit-learn's bundled sets, read from its data files with numpy: the same
arrays as its ``load_*`` functions, without importing scikit-learn) or makes it
synthetically from the seed.

A loader returns :class:`RawData`: features ``x`` (float32, shaped per sample as
``input_shape``), targets ``y`` and the task kind.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.registry import Param, Registry
from hpbench.rules import Int, ListOf

DATASETS: Registry[Any] = Registry(what="dataset", group="hpbench.datasets")

TASKS = ("multiclass", "binary", "regression")


@dataclass(frozen=True)
class RawData:
    x: np.ndarray  # (n, *input_shape) float32
    y: np.ndarray  # (n,) int64 for classification, float32 for regression
    task: str  # one of TASKS
    name: str
    image: bool = False  # samples are images (C, H, W): augmentation applies

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def n_outputs(self) -> int:
        if self.task == "multiclass":
            return int(self.y.max()) + 1
        return 1


_DIGITS = {
    "classes": Param(ListOf(Int(min=0, max=9), min_len=2, max_len=10), None,
                     "keep only these digits, relabelled 0..k-1 in the order given (e.g. [5, 6, 7, 8, 9] for transfer studies)"),
}


@DATASETS.register("digits", params=_DIGITS, doc="scikit-learn's 8x8 digits: 1797 images, 10 classes", task="multiclass", image=True)
def _digits(*, classes: tuple[int, ...] | list[int] | None = None, **_: Any) -> RawData:
    table = np.loadtxt(_bundled("digits.csv.gz"), delimiter=",", dtype=np.float32)  # 64 pixels, then the digit
    x = table[:, :-1].reshape(-1, 1, 8, 8)  # (n, 1, 8, 8)
    y = table[:, -1].astype(np.int64)
    if classes is not None:
        keep = list(classes)
        if len(set(keep)) != len(keep):
            raise ValueError(f"data.classes: digits must be distinct, but got {keep}")
        mask = np.isin(y, keep)
        relabel = np.full(10, -1, dtype=np.int64)
        relabel[keep] = np.arange(len(keep))
        x, y = x[mask], relabel[y[mask]]
    return RawData(x=x, y=y, task="multiclass", name="digits", image=True)


def _bundled(filename: str) -> Path:
    """A data file that scikit-learn ships (``sklearn/datasets/data``), found without importing
    scikit-learn (about 1 s of CPU, which every search's driver paid before its first trial)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ValueError(f"data.dataset: the bundled datasets come with scikit-learn, which is not installed (looking for {filename})")
    path = Path(spec.origin).parent / "datasets" / "data" / filename
    if not path.is_file():
        raise ValueError(f"data.dataset: {path} is missing from the installed scikit-learn")
    return path


def _bundled_table(filename: str, name: str, task: str) -> RawData:
    """scikit-learn's small CSV format: a header line (n_samples, n_features, class names), then
    one row per sample: the features, then the target."""
    table = np.loadtxt(_bundled(filename), delimiter=",", skiprows=1, dtype=np.float64)
    y = table[:, -1].astype(np.float32 if task == "regression" else np.int64)
    return RawData(x=table[:, :-1].astype(np.float32), y=y, task=task, name=name)


@DATASETS.register("breast_cancer", doc="scikit-learn's Wisconsin breast cancer: 569 x 30, binary", task="binary")
def _breast_cancer(**_: Any) -> RawData:
    return _bundled_table("breast_cancer.csv", "breast_cancer", "binary")


@DATASETS.register("wine", doc="scikit-learn's wine: 178 x 13, 3 classes", task="multiclass")
def _wine(**_: Any) -> RawData:
    return _bundled_table("wine_data.csv", "wine", "multiclass")


@DATASETS.register("iris", doc="scikit-learn's iris: 150 x 4, 3 classes", task="multiclass")
def _iris(**_: Any) -> RawData:
    return _bundled_table("iris.csv", "iris", "multiclass")


@DATASETS.register("diabetes", doc="scikit-learn's diabetes: 442 x 10, regression", task="regression")
def _diabetes(**_: Any) -> RawData:
    x = np.loadtxt(_bundled("diabetes_data_raw.csv.gz"))
    y = np.loadtxt(_bundled("diabetes_target.csv.gz"))
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0) / np.sqrt(len(x))  # scikit-learn's scaled=True
    return RawData(x=x.astype(np.float32), y=y.astype(np.float32), task="regression", name="diabetes")


_SEQ = {
    "seq_len": Param(Int(min=2, max=100_000), 50, "time steps per sequence"),
    "n_samples": Param(Int(min=10, max=10_000_000), 4000, "sequences generated"),
    "data_seed": Param(Int(min=0), 0, "seed of the generator (the same data for every trial)"),
}


@DATASETS.register(
    "adding", params=_SEQ, task="regression",
    doc="the adding problem (Hochreiter & Schmidhuber 1997): sum the two marked values of a sequence",
)
def _adding(*, seq_len: int = 50, n_samples: int = 4000, data_seed: int = 0, **_: Any) -> RawData:
    """Each step holds (value ~ U[0, 1], marker); exactly two markers are 1, one in each half;
    the target is the sum of the two marked values. Predicting 1.0 gives MSE ~ 1/6; a plain
    RNN stays there at long lengths, where LSTM/GRU learn the task."""
    rng = np.random.default_rng(data_seed)
    values = rng.random((n_samples, seq_len), dtype=np.float32)
    half = max(1, seq_len // 2)
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, seq_len, n_samples) if seq_len > half else first
    markers = np.zeros((n_samples, seq_len), dtype=np.float32)
    rows = np.arange(n_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = (values * markers).sum(axis=1).astype(np.float32)
    return RawData(x=np.stack([values, markers], axis=2), y=y, task="regression", name="adding")


@DATASETS.register(
    "temporal_order", params=_SEQ, task="multiclass",
    doc="the temporal-order problem (Hochreiter & Schmidhuber 1997): classify the order of two symbols in noise",
)
def _temporal_order(*, seq_len: int = 50, n_samples: int = 4000, data_seed: int = 0, **_: Any) -> RawData:
    """Steps are one-hot over 6 symbols: 4 distractors and X/Y. Two of X/Y appear at random
    positions (one in each of the middle fifths); the class (0..3) is their order XX, XY, YX, YY."""
    if seq_len < 10:
        raise ValueError(f"data.seq_len: temporal_order needs seq_len >= 10, but got {seq_len}")
    rng = np.random.default_rng(data_seed)
    sym = rng.integers(0, 4, (n_samples, seq_len))
    t1 = rng.integers(seq_len // 10, 3 * seq_len // 10, n_samples)
    t2 = rng.integers(5 * seq_len // 10, 7 * seq_len // 10, n_samples)
    y = rng.integers(0, 4, n_samples)
    rows = np.arange(n_samples)
    sym[rows, t1] = 4 + y // 2
    sym[rows, t2] = 4 + y % 2
    x = np.eye(6, dtype=np.float32)[sym]
    return RawData(x=x, y=y.astype(np.int64), task="multiclass", name="temporal_order")
