"""Built-in datasets, registered by name. Nothing is downloaded: each loader uses data that a
package ships (scikit-learn's bundled sets, read from its data files with numpy: the same
arrays as its ``load_*`` functions, without importing scikit-learn) or makes it
synthetically from the seed.

A loader returns :class:`RawData`: features ``x`` (float32, shaped per sample as
``input_shape`` in the layout of its :class:`~hpbench.data.kinds.DataKind`), targets ``y``, the
task, and the validation/test splits the data came with (used as given).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.data.encoding import Encoding
from hpbench.data.kinds import DataKind, default_kind
from hpbench.registry import Param, Registry
from hpbench.rules import Float, Int, ListOf

DATASETS: Registry[Any] = Registry(what="dataset", group="hpbench.datasets")

TASKS = ("multiclass", "binary", "regression")


GIVEN_SPLITS = ("val", "test")  # the splits a dataset may come with (x_val/y_val, x_test/y_test)


@dataclass(frozen=True)
class RawData:
    x: np.ndarray  # (n, *input_shape) float32
    y: np.ndarray  # (n,) int64 for classification, float32 for regression
    task: str  # one of TASKS
    name: str
    image: bool = False  # samples are images (C, H, W): augmentation applies (the same as kind = "image")
    kind: str | None = None  # a DataKind; None: "image" when ``image``, else hpbench's default for the shape
    x_val: np.ndarray | None = None  # a validation split the data came with (used as given)
    y_val: np.ndarray | None = None
    x_test: np.ndarray | None = None  # a test split the data came with (used as given)
    y_test: np.ndarray | None = None
    encoding: Encoding = field(default_factory=Encoding)  # how the data as given became x and y (kept with a trained model)

    def __post_init__(self) -> None:
        kind = DataKind(self.kind) if self.kind is not None else (DataKind.IMAGE if self.image else default_kind(self.x.shape[1:]))
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "image", kind is DataKind.IMAGE)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def given(self) -> tuple[str, ...]:
        """The splits the data came with: "val", "test" (in that order)."""
        return tuple(s for s in GIVEN_SPLITS if getattr(self, f"x_{s}") is not None)

    @property
    def n_outputs(self) -> int:
        if self.task == "multiclass":  # every split's classes: a class only a given split holds still has its output
            return max(int(y.max()) for y in (self.y, self.y_val, self.y_test) if y is not None and len(y)) + 1
        return 1


_DIGITS = {
    "classes": Param(ListOf(Int(min=0, max=9), min_len=2, max_len=10), None,
                     "keep only these digits, relabelled 0..k-1 in the order given (e.g. [5, 6, 7, 8, 9] for transfer studies)"),
}


@DATASETS.register("digits", params=_DIGITS, doc="scikit-learn's 8x8 digits: 1797 images, 10 classes", task="multiclass", image=True,
                   kind="image")
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


@DATASETS.register("breast_cancer", kind="tabular", doc="scikit-learn's Wisconsin breast cancer: 569 x 30, binary", task="binary")
def _breast_cancer(**_: Any) -> RawData:
    return _bundled_table("breast_cancer.csv", "breast_cancer", "binary")


@DATASETS.register("wine", kind="tabular", doc="scikit-learn's wine: 178 x 13, 3 classes", task="multiclass")
def _wine(**_: Any) -> RawData:
    return _bundled_table("wine_data.csv", "wine", "multiclass")


@DATASETS.register("iris", kind="tabular", doc="scikit-learn's iris: 150 x 4, 3 classes", task="multiclass")
def _iris(**_: Any) -> RawData:
    return _bundled_table("iris.csv", "iris", "multiclass")


@DATASETS.register("diabetes", kind="tabular", doc="scikit-learn's diabetes: 442 x 10, regression", task="regression")
def _diabetes(**_: Any) -> RawData:
    x = np.loadtxt(_bundled("diabetes_data_raw.csv.gz"))
    y = np.loadtxt(_bundled("diabetes_target.csv.gz"))
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0) / np.sqrt(len(x))  # scikit-learn's scaled=True
    return RawData(x=x.astype(np.float32), y=y.astype(np.float32), task="regression", name="diabetes")


_MIXTURE = {
    "n_samples": Param(Int(min=10, max=10_000_000), 50_000, "samples drawn (before the validation/test split)"),
    "data_seed": Param(Int(min=0), 0, "seed of the draw (the same data for every trial)"),
}


def _mixture(name: str, n_samples: int, data_seed: int) -> RawData:
    from hpbench.data.mixtures import mixture

    x, y = mixture(name).sample_labelled(n_samples, rng=np.random.default_rng(data_seed))
    return RawData(x=x, y=y, task="multiclass", name=name, kind="tabular")


@DATASETS.register("ring8", params=_MIXTURE, task="multiclass", kind="tabular",
                   doc="8 Gaussians (sigma 0.02) on a circle of radius 2, labelled by mode: the GAN mode-collapse benchmark (Metz et al. 2017)")
def _ring8(*, n_samples: int = 50_000, data_seed: int = 0, **_: Any) -> RawData:
    return _mixture("ring8", n_samples, data_seed)


@DATASETS.register("grid25", params=_MIXTURE, task="multiclass", kind="tabular",
                   doc="25 Gaussians (sigma 0.05) on a 5x5 grid 2 apart, labelled by mode: the GAN benchmark of VEEGAN (Srivastava et al. 2017)")
def _grid25(*, n_samples: int = 50_000, data_seed: int = 0, **_: Any) -> RawData:
    return _mixture("grid25", n_samples, data_seed)


_SEQ = {
    "seq_len": Param(Int(min=2, max=100_000), 50, "time steps per sequence"),
    "n_samples": Param(Int(min=10, max=10_000_000), 4000, "sequences generated"),
    "data_seed": Param(Int(min=0), 0, "seed of the generator (the same data for every trial)"),
}


@DATASETS.register(
    "adding", params=_SEQ, task="regression", kind="sequence",
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
    return RawData(x=np.stack([values, markers], axis=2), y=y, task="regression", name="adding", kind="sequence")


@DATASETS.register(
    "temporal_order", params=_SEQ, task="multiclass", kind="sequence",
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
    return RawData(x=x, y=y.astype(np.int64), task="multiclass", name="temporal_order", kind="sequence")


_SIGNALS = {
    "n_samples": Param(Int(min=10, max=10_000_000), 3000, "signals generated"),
    "length": Param(Int(min=8, max=1_000_000), 128, "samples per signal (L)"),
    "channels": Param(Int(min=1, max=64), 3, "channels per signal (C)"),
    "n_classes": Param(Int(min=2, max=6), 6, "waveforms to tell apart (the first k of WAVEFORMS)"),
    "noise": Param(Float(min=0.0), 0.6, "standard deviation of the Gaussian noise (the waveforms' amplitude is 0.5 to 1.5)"),
    "data_seed": Param(Int(min=0), 0, "seed of the generator (the same data for every trial)"),
}
WAVEFORMS = ("sine", "square", "triangle", "sawtooth", "chirp", "damped")


@DATASETS.register(
    "signals", params=_SIGNALS, task="multiclass", kind="signal",
    doc="generated 1-D signals (C, L): which waveform (sine, square, triangle, sawtooth, chirp, damped sine) under noise",
)
def _signals(*, n_samples: int = 3000, length: int = 128, channels: int = 3, n_classes: int = 6, noise: float = 0.6,
             data_seed: int = 0, **_: Any) -> RawData:
    """Each signal is one waveform, the class, at a random frequency (1.5 to 6 cycles per
    window), amplitude (0.5 to 1.5) and offset; each channel sees it at its own random phase,
    under its own Gaussian noise. The phase varies, so a model must recognise the shape wherever
    it sits (what convolutions do); at the default noise the waveforms overlap visibly."""
    rng = np.random.default_rng(data_seed)
    y = rng.integers(0, n_classes, n_samples)
    t = np.arange(length, dtype=np.float64) / length  # one window, [0, 1)
    cycles = rng.uniform(1.5, 6.0, (n_samples, 1, 1))
    phase = rng.uniform(0.0, 1.0, (n_samples, channels, 1))
    amp = rng.uniform(0.5, 1.5, (n_samples, 1, 1))
    u = (cycles * t[None, None, :] + phase) % 1.0  # position within the cycle, per channel
    wave = np.empty((n_samples, channels, length))
    for c, name in enumerate(WAVEFORMS[:n_classes]):
        m = y == c
        if not m.any():
            continue
        um, tm = u[m], t[None, None, :]
        if name == "sine":
            wave[m] = np.sin(2 * np.pi * um)
        elif name == "square":
            wave[m] = np.where(um < 0.5, 1.0, -1.0)
        elif name == "triangle":
            wave[m] = 4 * np.abs(um - 0.5) - 1
        elif name == "sawtooth":
            wave[m] = 2 * um - 1
        elif name == "chirp":  # frequency rising over the window
            wave[m] = np.sin(2 * np.pi * (phase[m] + cycles[m] * 0.5 * tm * (1 + 2 * tm)))
        else:  # "damped": a sine decaying over the window
            wave[m] = np.sin(2 * np.pi * um) * np.exp(-3.0 * tm)
    x = amp * wave + rng.normal(0.0, noise, wave.shape) + rng.normal(0.0, 0.2, (n_samples, 1, 1))
    return RawData(x=x.astype(np.float32), y=y.astype(np.int64), task="multiclass", name="signals", kind="signal")
