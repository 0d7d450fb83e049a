"""The pre-flight's loading errors in one line naming the right file and key (bug hunt s48h3):
a .npy ``y``/``y_val``'s problem names that array's file and ``data.y``/``data.y_val`` (not the x
file and ``data.dataset``); a continuous target read as classes names ``data.task`` once, its
distinct values, no exception name; a loader's ragged images name the two shapes. No Ray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_preflight import one, study_file

LOADERS = '''
import numpy as np


def ragged_images():
    return [np.zeros((8, 8, 3 if i % 2 else 1)) for i in range(20)], np.arange(20) % 2


def four_axes():
    return np.zeros((20, 2, 2, 2, 2), dtype=np.float32), np.arange(20) % 2
'''


def npy(tmp_path, **arrays: np.ndarray) -> dict[str, str]:
    paths = {}
    for name, a in arrays.items():
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], a)
    return paths


def xy(n: int = 40, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((n, 3)).astype(np.float32)
    return x, (x[:, 0] > 0.5).astype(np.float64)


def test_a_npy_label_problem_names_the_label_file_and_data_y(tmp_path):
    x, y = xy()
    y[4] = np.nan
    p = npy(tmp_path, x=x, y=y)
    msg = one(study_file(tmp_path, data=f'x = "{p["x"]}"\ny = "{p["y"]}"'))
    # was: <x.npy>: data.dataset: cannot be loaded: y: a class label is missing ...
    assert msg == f"{p['y']}: data.y: cannot be loaded: a class label is missing (NaN or inf) in row 4 (of 40, counting from 0)"


def test_a_class_only_the_npy_validation_labels_hold_names_y_val_and_its_file(tmp_path):
    x, y = xy()
    xv, yv = xy(10, seed=1)
    yv[3] = 7
    p = npy(tmp_path, x=x, y=y, x_val=xv, y_val=yv)
    msg = one(study_file(tmp_path, data="\n".join(f'{k} = "{v}"' for k, v in p.items())))
    assert msg.startswith(f"{p['y_val']}: data.y_val: cannot be loaded: y_val holds 1 class the training data (y) has none of: 7.0"), msg


def test_a_target_rule_of_npy_inputs_names_the_label_file_and_data_y(tmp_path):
    """The data checks' target rules (one class, a majority warning, ...) named the x file and
    ``y`` for .npy inputs (bug hunt s48h3, npy_oneclass); they name the y file and ``data.y``."""
    x, y = xy()
    y[:] = 0
    p = npy(tmp_path, x=x, y=y)
    msg = one(study_file(tmp_path, data=f'x = "{p["x"]}"\ny = "{p["y"]}"'))
    assert msg.startswith(f"{p['y']}: data.y: a classification target needs at least 2 classes"), msg


def test_a_continuous_target_read_as_classes_is_one_line_naming_data_task_and_distinct_values(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": np.arange(40.0), "label": [0.5, 1.5] * 20}).to_csv(path, index=False)
    msg = one(study_file(tmp_path, data=f'dataset = "{path}"\ntarget = "label"\ntask = "multiclass"', metric="val_accuracy"))
    # was: <d.csv>: data.dataset: cannot be used, but got ValueError: <d.csv>: task 'multiclass' ... like 1.5, 1.5, 1.5
    assert msg.startswith(f"{path}: data.task: 'multiclass' needs class labels, but the target holds numbers that are not whole, "
                          "like 0.5, 1.5 (2 distinct values"), msg
    assert msg.count(str(path)) == 1 and "ValueError" not in msg


@pytest.fixture
def loaders(tmp_path, monkeypatch):
    (tmp_path / "loaders_s48.py").write_text(LOADERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "loaders_s48"


def test_a_loaders_images_of_two_shapes_are_named_by_item_and_shape(tmp_path, loaders):
    msg = one(study_file(tmp_path, data=f'dataset = "{loaders}:ragged_images"'))
    assert msg == (f"{loaders}:ragged_images: data.dataset: the loader's return value is not usable: every item must have one shape, "
                   "but item 1 is shaped (8, 8, 3) where item 0 is shaped (8, 8, 1)"), msg  # was NumPy's "inhomogeneous shape after 3 dimensions"


def test_a_loaders_rule_naming_its_key_is_one_line_with_that_key(tmp_path, loaders):
    msg = one(study_file(tmp_path, data=f'dataset = "{loaders}:four_axes"'))
    assert msg.startswith(f"{loaders}:four_axes: data.shape: must be declared for the samples"), msg
    assert msg.count(f"{loaders}:four_axes") == 1 and "ValueError" not in msg


def test_a_metric_the_npy_labels_task_cannot_report_names_the_label_file(tmp_path):
    """A metric that does not fit the task the .npy labels read as named the x file (bug hunt
    s49/h3: 100 whole-number classes read as regression, ``val_accuracy`` refused with the x
    file's name); it names the y file, which decides the task, as the other target rules do."""
    x = np.random.default_rng(0).random((200, 3)).astype(np.float32)
    y = (np.arange(200) % 50).astype(np.int64)  # 50 whole-number values: read as a regression target
    p = npy(tmp_path, x=x, y=y)
    msg = one(study_file(tmp_path, data=f'x = "{p["x"]}"\ny = "{p["y"]}"', metric="val_accuracy"))
    assert msg.startswith(f"{p['y']}: study.metric: must be a metric of the data's regression task"), msg
    assert 'set data.task = "multiclass"' in msg and p["x"] not in msg
