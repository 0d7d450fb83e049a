"""The data checks: one small function per rule, each returning the problems it finds.

``ARRAY_CHECKS`` read the arrays any kind of dataset gives (features, targets, the task) and the
study's split and batch settings; a data file's table has its own checks first
(:mod:`hpbench.preflight.table`). A new kind of data adds its own checks to these lists.
Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hpbench.config import DataConfig
from hpbench.errors import shown
from hpbench.preflight.load import Arrays
from hpbench.preflight.problems import Problem

MIN_TRAIN_ROWS = 2  # a training step on one row: batch norm fails, standardizing divides by a zero spread
MIN_EVAL_ROWS = 2  # a metric over one row is 0 or 1 (accuracy), undefined (r2): no ranking
MAX_SHOWN = 5  # rows / values / columns named in a message


@dataclass(frozen=True, kw_only=True)
class DataContext:
    """What the checks know besides the data: where it comes from and how the study uses it."""

    source: str  # the data file, the entry point or the study file
    data: DataConfig
    seed: int
    batch_sizes: tuple[int | str, ...] = ()  # the batch sizes the study searches
    batch_key: str = "train.batch_size"  # where they are set ("space.batch_size" when searched)
    metrics: tuple[tuple[str, str], ...] = ()  # (key, metric) the study names: study.metric, early stopping's monitor
    learns_labels: bool = True  # the labels are what the networks learn (supervised); a gan's only count its class coverage


# -- any data as arrays ----------------------------------------------------------------------------
ArrayCheck = Callable[[Arrays, DataContext], list[Problem]]


def _rows(a: Arrays, idx: np.ndarray) -> str:
    """``lines 5, 9`` (a data file) or ``indices 3, 7`` (arrays, counting from 0)."""
    shown_ = ", ".join(str(int(i) + a.first_row) for i in idx[:MAX_SHOWN])
    more = f" and {len(idx) - MAX_SHOWN} more" if len(idx) > MAX_SHOWN else ""
    word = a.row_word if len(idx) == 1 else ("indices" if a.row_word == "index" else f"{a.row_word}s")
    return f"{word} {shown_}{more}"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def finite_features(a: Arrays, ctx: DataContext) -> list[Problem]:
    bad = np.flatnonzero(~np.isfinite(a.x.reshape(len(a.x), -1)).all(axis=1)) if a.x.size else np.array([], dtype=np.int64)
    if not len(bad):
        return []
    return [Problem(source=ctx.source, key=a.x_key, rule="features must be finite numbers (no missing values)",
                    value=shown(f"NaN or inf in {_n(len(bad), 'row')} ({_rows(a, bad)})"))]


def finite_target(a: Arrays, ctx: DataContext) -> list[Problem]:
    if a.y.dtype.kind != "f":
        return []
    bad = np.flatnonzero(~np.isfinite(a.y))
    if not len(bad):
        return []
    return [Problem(source=a.y_source or ctx.source, key=a.y_key, rule="the target must have no missing or infinite values",
                    value=shown(f"{_n(len(bad), 'value')} ({_rows(a, bad)})"))]


def classes(a: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct target values, each row's class index) of a classification target."""
    y = a.y[np.isfinite(a.y)] if a.y.dtype.kind == "f" else a.y
    try:
        values, codes = np.unique(y, return_inverse=True)
    except TypeError:  # mixed types (e.g. numbers and text): compare as text
        values, codes = np.unique(y.astype(str), return_inverse=True)
    return values, codes.reshape(-1)


def target_classes(a: Arrays, ctx: DataContext) -> list[Problem]:
    if a.task == "regression" or not len(a.y) or a.n_rows is not None or not ctx.learns_labels:  # (streamed data: a few rows only)
        return []  # a gan's data of one class (or none named: zeros) is data to generate, not a target
    values, _ = classes(a)
    if len(values) < 2:
        only = f"every row is {values[0].item() if hasattr(values[0], 'item') else values[0]!r}" if len(values) else "no labelled rows"
        return [Problem(source=a.y_source or ctx.source, key=a.y_key, rule="a classification target needs at least 2 classes (nothing to learn from one)",
                        value=shown(f"1 class: {only}"))]
    if a.task == "binary" and len(values) != 2:
        return [Problem(source=a.y_source or ctx.source, key=a.y_key, rule="a binary target needs exactly 2 classes",
                        value=shown(f"{len(values)} classes"), hint="set data.task = \"multiclass\"")]
    return []


def numeric_target(a: Arrays, ctx: DataContext) -> list[Problem]:
    if a.task != "regression" or a.y.dtype.kind in "biuf":
        return []
    import pandas as pd

    bad = a.y[pd.to_numeric(pd.Series(a.y), errors="coerce").isna().to_numpy()]
    if not len(bad):
        return []
    examples = ", ".join(repr(str(v)) for v in list(dict.fromkeys(bad.tolist()))[:MAX_SHOWN])
    return [Problem(source=a.y_source or ctx.source, key=a.y_key, rule="a regression target must be numbers", value=shown(f"values like {examples}"),
                    hint='set data.task = "multiclass" if they are classes')]


def target_varies(a: Arrays, ctx: DataContext) -> list[Problem]:
    if a.task != "regression" or a.y.dtype.kind not in "biuf" or a.n_rows is not None:
        return []
    y = a.y[np.isfinite(a.y)] if a.y.dtype.kind == "f" else a.y
    if len(y) < 2 or float(np.ptp(y)) > 0:
        return []
    return [Problem(source=a.y_source or ctx.source, key=a.y_key, rule="a regression target must vary (r2 is undefined, nothing to learn)",
                    value=shown(f"every row is {float(y[0]):g}"))]


def _share(fraction: float, n: int) -> int:
    return math.ceil(round(fraction * n, 6))  # as hpbench.data.splits carves a split


def split_sizes(a: Arrays, ctx: DataContext) -> dict[str, int]:
    """The rows each split will hold (as :func:`hpbench.data.splits.split_indices` carves them:
    the test split, then the validation split, each of ``ceil(fraction * n)`` rows; a split the
    data came with is used as given)."""
    d, n = ctx.data, a.n
    sizes = {"test": a.given.get("test", _share(d.test_fraction, n) if d.test_fraction > 0 else 0)}
    carved_test = 0 if "test" in a.given else sizes["test"]
    sizes["validation"] = a.given.get("val", min(n - carved_test, _share(d.val_fraction, n)) if d.val_fraction > 0 else 0)
    sizes["training"] = n - carved_test - (0 if "val" in a.given else sizes["validation"])
    return sizes


def enough_rows(a: Arrays, ctx: DataContext) -> list[Problem]:
    if not a.sized:
        return []
    sizes = split_sizes(a, ctx)
    least = {"training": MIN_TRAIN_ROWS, "validation": MIN_EVAL_ROWS, "test": MIN_EVAL_ROWS if sizes["test"] else 0}
    if all(sizes[s] >= least[s] for s in sizes):
        return []
    d = ctx.data
    carved = [f"{sizes['validation']} {'given ' if 'val' in a.given else ''}for validation"
              + ("" if "val" in a.given else f" (data.val_fraction = {d.val_fraction})")]
    if sizes["test"]:
        carved.append(f"{sizes['test']} {'given ' if 'test' in a.given else ''}for test"
                      + ("" if "test" in a.given else f" (data.test_fraction = {d.test_fraction})"))
    return [Problem(source=ctx.source, key="data", rule=f"needs at least {MIN_TRAIN_ROWS} rows to train on and {MIN_EVAL_ROWS} in each "
                    "evaluation split (more data, or smaller fractions)",
                    value=shown(f"{a.n} samples: {', '.join(carved)}, which leaves {sizes['training']} to train on"))]


def batch_sizes_fit(a: Arrays, ctx: DataContext) -> list[Problem]:
    """A batch larger than the training split is the whole split: the same as ``"full"``."""
    if not a.sized:
        return []
    n_train = split_sizes(a, ctx)["training"]
    big = sorted({b for b in ctx.batch_sizes if isinstance(b, int) and b > n_train})
    if not big or n_train < MIN_TRAIN_ROWS:
        return []
    return [Problem(source=ctx.source, key=ctx.batch_key, rule=f"must be at most the {n_train} training rows (or \"full\")",
                    value=big[0] if len(big) == 1 else big)]


def augment_needs_images(a: Arrays, ctx: DataContext) -> list[Problem]:
    if "augment" not in ctx.data.preprocess or a.image:
        return []
    return [Problem(source=ctx.source, key="data.preprocess", rule="'augment' applies to image data only", value="augment",
                    hint='a user loader marks images with data.kind = "image"')]


def metrics_fit_task(a: Arrays, ctx: DataContext) -> list[Problem]:
    """The metrics the study names are reported for the data's task, as set or inferred: a target
    of more than ``MAX_CLASSES`` whole numbers reads as regression, and a search ranking trials by
    ``val_accuracy`` then ranked none (every trial "completed", no value, exit 0)."""
    from hpbench.data.user import MAX_CLASSES
    from hpbench.study.metrics import reported

    if not ctx.learns_labels:  # a gan's metrics: class_coverage_needs_classes
        return []
    names = reported(a.task)
    wrong = [(key, metric) for key, metric in ctx.metrics if metric not in names]
    if not wrong:
        return []
    hint = ""
    y = a.y[np.isfinite(a.y)] if a.y.dtype.kind == "f" else a.y
    if a.task == "regression" and a.y.dtype.kind in "iuf" and len(y) and bool(np.all(np.mod(y, 1) == 0)):
        hint = f'its {len(np.unique(y))} whole-number values read as a regression target (more than {MAX_CLASSES}): set data.task = "multiclass" to classify them'
    out = []
    for key, metric in wrong:
        out.append(Problem(source=a.y_source or ctx.source, key=key, rule=f"must be a metric of the data's {a.task} task ({', '.join(names)})", value=metric,
                           hint=hint))
    return out


def class_coverage_needs_classes(a: Arrays, ctx: DataContext) -> list[Problem]:
    """A gan's ``val_class_coverage`` counts the classes its samples cover: the data's target must
    be classes (a data file's float column reads as regression, and a search ranked by it ranked
    no trial: every trial "completed" with no value, exit 0)."""
    from hpbench.train.gan.keys import CLASS_TASKS, FRECHET_METRICS

    if ctx.learns_labels or a.task in CLASS_TASKS:
        return []
    return [Problem(source=a.y_source or ctx.source, key=key, rule=f"must be {FRECHET_METRICS[0]} for a gan on data of a {a.task} task (no classes to cover)",
                    value=metric, hint='if the target is classes, set [data] task = "multiclass"' if a.task == "regression" else "")
            for key, metric in ctx.metrics if metric == FRECHET_METRICS[1]]


def no_test_split_for_a_gan(a: Arrays, ctx: DataContext) -> list[Problem]:
    """A gan has no test split (its model is a generator; :func:`hpbench.study.checks_gan.no_test_split`
    refuses the study keys and NumPy archives that give one): a user loader's is refused once it loads."""
    if ctx.learns_labels or "test" not in a.given:
        return []
    return [Problem(source=ctx.source, key="data.dataset", rule="comes with a test split, which the gan task has no use for "
                    "(a generator has no test evaluation)", value=shown(f"a test split of {_n(a.given['test'], 'sample')}"),
                    hint="return the data without its test split")]


# a regression target far from unit scale trains badly with no word: the network's outputs start near unit scale
TARGET_SCALE = (1e-3, 1e4)


def target_scale(a: Arrays, ctx: DataContext) -> list[str]:
    """Warnings (not problems): a regression target whose spread is far from 1 (hpbench scales the
    features, not the target: a target in micro-units or millions gave an R^2 of -7e6 or -1.6)."""
    if a.task != "regression" or a.y.dtype.kind not in "biuf" or len(a.y) < 2:
        return []
    y = a.y[np.isfinite(a.y)] if a.y.dtype.kind == "f" else a.y
    spread = float(np.std(y)) if len(y) > 1 else 0.0
    if spread == 0 or TARGET_SCALE[0] <= spread <= TARGET_SCALE[1]:
        return []
    return [f"{a.y_source or ctx.source}: {a.y_key}: the regression target's standard deviation is {spread:.3g}: networks train best on a target "
            "near unit scale (hpbench scales the features, not the target); express it in other units, or standardize it in your data"]


FEATURE_SCALE = (1e-3, 100.0)  # a feature's standard deviation outside these, unscaled, is a warning
SCALE_ROWS = 10_000  # the rows a feature's scale is read from
PIXEL_SCALE = 100.0  # ... and samples of several axes whose values reach beyond this (digits' pixels read 0-16)


def feature_scale(a: Arrays, ctx: DataContext) -> list[str]:
    """A warning (not a problem): vector features far from unit scale and not scaled by
    ``data.preprocess`` (a CSV's 'mean area', standard deviation 352, beside features of 0.01,
    trained as given: the first layer's weights see one column)."""
    if {"standardize", "minmax"} & set(ctx.data.preprocess) or len(a.x) < 2 or a.x.dtype.kind not in "biuf":
        return []
    if a.x.ndim != 2 or a.image or a.kind == "image":  # samples of several axes (images, sequences): their values' range
        top = float(np.max(np.abs(a.x[:1000])))
        if top <= PIXEL_SCALE:
            return []
        return [f"{ctx.source}: data.preprocess: the samples are not scaled, and their values reach {top:.4g} (8-bit pixels read 0-255): "
                'networks train best on inputs near unit scale; add preprocess = ["minmax"] (or "standardize")']
    spread = np.std(a.x[:SCALE_ROWS].astype(np.float64), axis=0)  # a scale needs no more rows (all of 200,000 x 50 took 0.26 s)
    wide = [i for i in np.argsort(-spread) if spread[i] > FEATURE_SCALE[1]]
    narrow = [i for i in np.argsort(spread) if 0 < spread[i] < FEATURE_SCALE[0]]
    if not wide and not narrow:
        return []
    i = (wide or narrow)[0]
    name = repr(a.x_names[i]) if i < len(a.x_names) else f"feature {i}"
    others = len(wide or narrow) - 1
    return [f"{ctx.source}: data.preprocess: the features are not scaled, and {name} has a standard deviation of {spread[i]:.3g}"
            + (f" ({others} more outside {FEATURE_SCALE[0]:g}-{FEATURE_SCALE[1]:g})" if others else "")
            + ': networks train best on features near unit scale; add preprocess = ["standardize"] (or "minmax")']


MAJORITY_WARNED = 0.8  # a class holding this share of the rows makes accuracy read high for any network


def majority_class(a: Arrays, ctx: DataContext) -> list[str]:
    """A warning (not a problem): a classification target whose largest class holds most rows,
    ranked or stopped by accuracy. Always answering that class scores its share: on a 95 / 5
    split a network that learned nothing reads val_accuracy 0.95, and the search ranks such
    networks level with those that learned the rare class."""
    accuracy = [name for _, name in ctx.metrics if name.endswith("accuracy")]
    if a.task == "regression" or not accuracy or not len(a.y) or a.n_rows is not None:
        return []
    values, codes = classes(a)
    if len(values) < 2:
        return []
    counts = np.bincount(codes)
    share = float(counts.max()) / len(codes)
    if share < MAJORITY_WARNED:
        return []
    top = values[int(counts.argmax())]
    top = top.item() if hasattr(top, "item") else top
    return [f"{a.y_source or ctx.source}: {a.y_key}: the largest class, {top!r}, holds {share:.0%} of the rows: always answering it scores "
            f"{accuracy[0]} {share:.3g}; read the ranking against that, or rank by val_nll (study.metric)"]


def many_whole_classes(a: Arrays, ctx: DataContext) -> list[str]:
    """A warning (not a problem): whole-number labels with more distinct values than hpbench reads
    as classes are a regression target unless the study says otherwise (30 classes of an npz
    trained as one MSE output, without a word, under the default val_loss)."""
    from hpbench.data.user import MAX_CLASSES

    if a.task != "regression" or ctx.data.options.get("task") or a.y.dtype.kind not in "iuf":
        return []
    y = a.y[np.isfinite(a.y)] if a.y.dtype.kind == "f" else a.y
    values = np.unique(y)
    # classes repeat: at most one distinct value per 10 rows (diabetes' whole-number target has 214 in 442 rows)
    if len(values) <= MAX_CLASSES or not bool(np.all(np.mod(values, 1) == 0)) or len(values) * 10 > len(y):
        return []
    return [f"{a.y_source or ctx.source}: {a.y_key}: {len(values)} distinct whole numbers, read as a regression target (more than {MAX_CLASSES}); "
            'if they are classes, set [data] task = "multiclass"']


ARRAY_CHECKS: list[ArrayCheck] = [finite_features, finite_target, target_classes, numeric_target, target_varies, enough_rows, batch_sizes_fit,
                                  augment_needs_images, metrics_fit_task, class_coverage_needs_classes, no_test_split_for_a_gan]


def check_arrays(a: Arrays, ctx: DataContext) -> list[Problem]:
    return [p for check in ARRAY_CHECKS for p in check(a, ctx)]
