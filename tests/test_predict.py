"""A trained model applied to new raw data (hpbench.api.predict, hpbench.data.encoding): the
weights file keeps how the data as given became the model's inputs and classes (a table's
columns and one-hot categories, the samples' layout, the training split's scaling, the labels),
and the predictor applies it; a tampered encoding is refused. No Ray: ``hpbench.train_study``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hpbench
from hpbench.data.encoding import Encoding
from hpbench.data.prepare import prepare_config

torch = pytest.importorskip("torch")

LABELS = np.array(["maybe", "no", "yes"])


def table(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    color = rng.choice(["red", "green", "blue"], n)
    age = rng.integers(18, 90, n).astype(float)
    income = rng.random(n) * 1000
    score = (age - 50) / 20 + (color == "red") * 1.5 + rng.normal(0, 0.3, n)
    return pd.DataFrame({"age": age, "color": color, "income": income, "answer": LABELS[np.digitize(score, [-0.5, 0.7])]})


def trained(tmp_path: Path, data: str, **study: object):
    spec = {"study": {"name": "p", "seed": 0, "metric": "val_accuracy", "mode": "max", **study}, "data": eval(data),
            "model": {"family": "mlp", "depth": 1, "width": 32}, "optimizer": {"name": "adam", "lr": 0.01}, "train": {"max_epochs": 15}}
    from rich.console import Console

    s = hpbench.Study.from_dict(spec)
    return s, hpbench.train_study(s, out=tmp_path / "out", console=Console(quiet=True))


def test_a_table_study_predicts_its_labels_from_raw_rows(tmp_path):
    df = table()
    df.to_csv(tmp_path / "t.csv", index=False)
    study, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "t.csv"}", "target": "answer", "preprocess": ["standardize"]}}')
    p = run.load_predictor()
    assert p.task == "multiclass" and p.classes == ("maybe", "no", "yes")
    enc = p.encoding
    assert enc is not None and enc.columns == ("age", "color", "income") and [s for s, _, _ in enc.scale] == ["standardize"]
    splits = prepare_config(_data_config(study), seed=0)
    x = df.drop(columns=["answer"])
    # the encoded inputs of every raw row are the rows the trial trained and validated on
    whole = p.inputs(x)
    assert whole.shape == (len(df), splits.x_train.shape[1])
    for part in (splits.x_train, splits.x_val):
        nearest = np.abs(whole[:, None, :] - part[None, :, :]).max(axis=2).min(axis=0)
        assert nearest.max() < 1e-4
    labels = p.predict(x)
    assert set(labels) <= set(LABELS) and labels.dtype.kind == "U"
    assert (labels == df["answer"].to_numpy()).mean() > 0.8  # it learned the rule (the labels as the file spells them)
    proba = p.predict_proba(x)
    assert proba.shape == (len(df), 3) and np.allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (LABELS[proba.argmax(axis=1)] == labels).all()
    new = x.head(3).assign(color=["purple", "red", "blue"])  # a category training never held: no input of its own
    with pytest.warns(UserWarning, match="column 'color': 1 of 3 rows hold categories training never saw \\('purple'\\)") as said:
        assert len(p.predict(new)) == 3
    assert said[0].filename == __file__  # the user's line that predicted
    with pytest.raises(ValueError, match="lacks the feature columns \\['income'\\]"):
        p.predict(x.drop(columns=["income"]))
    with pytest.raises(ValueError, match="give a pandas DataFrame"):
        p.predict(x.to_numpy())


def _data_config(study):
    from hpbench.study.resolve import trial_config

    return trial_config(study, {}).data


def test_an_array_study_applies_its_scaling_and_answers_in_its_own_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 3.0, (300, 4)).astype(np.float32)
    y = np.where(x[:, 0] + x[:, 1] > 10, 7, 3)  # whole-number labels, numbered 0..1 for the network
    np.savez(tmp_path / "a.npz", x=x, y=y)
    study, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "a.npz"}", "preprocess": ["minmax"]}}')
    p = run.load_predictor()
    assert p.task == "binary" and p.classes == (3, 7) and p.encoding is not None and p.encoding.columns is None
    splits = prepare_config(_data_config(study), seed=0)
    whole = p.inputs(x)  # min-max scaled with the training split's bounds, as the trial's inputs were
    nearest = np.abs(whole[:, None, :] - splits.x_val[None, :, :]).max(axis=2).min(axis=0)
    assert nearest.max() < 1e-5 and whole.min() < 0.05 and whole.max() > 0.95
    out = p.predict(x)
    assert set(out.tolist()) == {3, 7} and (out == y).mean() > 0.75  # its own labels (chance: 0.5)
    assert p.predict_proba(x).shape == (300, 2)
    with pytest.raises(ValueError, match=r"shaped \(n, 4\)"):
        p.predict(x[:, :3])


def test_a_regression_study_predicts_values(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.random((200, 3)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=(x @ np.array([1.0, 2.0, -1.0])).astype(np.float32))
    _, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "r.npz"}", "preprocess": ["standardize"]}}', metric="val_loss", mode="min")
    p = run.load_predictor()
    assert p.task == "regression" and p.classes is None and p.predict(x).shape == (200,)
    with pytest.raises(ValueError, match="predicts values"):
        p.predict_proba(x)


def test_a_tampered_encoding_is_refused(tmp_path):
    from hpbench.results.weights import WeightsFileError
    from hpbench.train import weights

    df = table(60)
    df.to_csv(tmp_path / "t.csv", index=False)
    _, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "t.csv"}", "target": "answer"}}')
    rec = weights.load_record(run.weights)
    assert Encoding.from_record(rec["encoding"]).classes == ("maybe", "no", "yes")
    for bad in ({"classes": {"a": 1}}, {"scale": [["whiten", [0.0], [1.0]]]}, {"columns": [1, 2]}, {"categories": [None, ["red"], None]}):
        weights.save({**rec, "encoding": {**rec["encoding"], **bad}}, tmp_path / "bad.pt")
        with pytest.raises(WeightsFileError, match="encoding"):
            weights.load_record(tmp_path / "bad.pt")
    old = {k: v for k, v in rec.items() if k != "encoding"}  # a file written before the encoding was kept
    weights.save(old, tmp_path / "old.pt")
    from hpbench.api.predict import load_predictor

    with pytest.warns(UserWarning, match="keeps no record of how the data was encoded"):  # tests/test_old_folders.py
        p = load_predictor(tmp_path / "old.pt")
    assert p.encoding is None and p.classes is None
    codes = p.predict(run.load_predictor().inputs(df.drop(columns=["answer"])))
    assert set(codes.tolist()) <= {0, 1, 2}  # class indices, as the model answers


def test_a_numeric_column_named_like_a_one_hot_input_is_refused_and_old_files_encode_by_position(tmp_path):
    """'color' holding 'red' is one-hot encoded as the input 'color_red': a numeric column of that
    name beside it trained as a second 'color_red', and the predictor, looking inputs up by name,
    fed the one-hot input the numeric column's values. Such a table is refused before training; a
    weights file written before (its inputs ('color_red', 'color_blue', 'color_red')) is encoded
    by position, as it trained."""
    from hpbench.data.user import table_to_raw
    from hpbench.preflight.run import check_study

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"color": rng.choice(["red", "blue"], 60), "color_red": rng.normal(size=60), "label": np.arange(60) % 2})
    df.to_csv(tmp_path / "c.csv", index=False)
    spec = {"study": {"name": "c", "metric": "val_loss"}, "data": {"dataset": str(tmp_path / "c.csv"), "target": "label"},
            "model": {"family": "mlp", "depth": 1, "width": 8}, "train": {"max_epochs": 1}}
    found = [str(p) for p in check_study(hpbench.Study.from_dict(spec))]
    assert any("column 'color_red': must not share a name with another of the model's inputs" in p
               and "numeric column 'color_red' and the value 'red' of text column 'color'" in p and "rename column 'color_red'" in p
               for p in found), found
    with pytest.raises(ValueError, match="column 'color_red': must not share a name"):
        table_to_raw(df, path="c.csv", target="label")  # --no-preflight, or the library: refused all the same
    old = Encoding.from_record({"columns": ["color", "color_red"], "dummies": ["color_red", "color_blue", "color_red"]})
    x = df.drop(columns=["label"]).head(4)
    expect = np.stack([x["color_red"], x["color"] == "blue", x["color"] == "red"], axis=1).astype(np.float32)
    assert np.array_equal(old.inputs(x, input_shape=(3,)), expect)


def test_a_table_predictor_reads_numbers_given_as_text_and_names_what_it_cannot_encode(tmp_path):
    """Rows from JSON or a form hold numbers as text: they are the numbers (one-hot encoded as
    text, they were dropped, every number 0). A missing or infinite value is refused as training
    refused it, naming its column and rows; a category training never saw is a warning."""
    df = table(60)
    df.to_csv(tmp_path / "t.csv", index=False)
    _, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "t.csv"}", "target": "answer", "preprocess": ["standardize"]}}')
    p = run.load_predictor()
    x = df.drop(columns=["answer"]).head(8).reset_index(drop=True)
    assert np.array_equal(p.predict_proba(x.astype(str)), p.predict_proba(x))
    with pytest.raises(ValueError, match=r"column 'age': the model was trained on numbers there, but got '40 years' \(row 2\)"):
        p.predict(x.astype(str).assign(age=lambda f: f["age"].where(f.index != 2, "40 years")))
    for bad, what in ((np.nan, "1 missing"), (np.inf, "1 infinite or too large for float32")):
        with pytest.raises(ValueError, match=rf"column 'income': must hold finite numbers.*{what} \(row 5\)"):
            p.predict_proba(x.assign(income=x["income"].where(x.index != 5, bad)))
    with pytest.raises(ValueError, match=r"column 'color': must have no missing values.*\(rows 0, 1\)"):
        p.predict(x.assign(color=[None, None, *x["color"][2:]]))
    with pytest.warns(UserWarning, match=r"column 'color': 8 of 8 rows hold categories training never saw \('Red'\).*training saw 'blue', 'green', 'red'"):
        assert len(p.predict(x.assign(color="Red"))) == 8
    # a file written before the categories were kept reads them back from its input names: the same inputs
    from hpbench.api.predict import load_predictor
    from hpbench.train import weights

    rec = weights.load_record(run.weights)
    assert rec["encoding"]["categories"] == [None, ["blue", "green", "red"], None]
    weights.save({**rec, "encoding": {k: v for k, v in rec["encoding"].items() if k != "categories"}}, tmp_path / "old.pt")
    assert np.array_equal(load_predictor(tmp_path / "old.pt").predict_proba(x.astype(str)), p.predict_proba(x))


def _image_encoding(stored: tuple[int, ...]):
    """The encoding and model input shape of images stored as ``(n, *stored)`` (hpbench.data.user.as_raw)."""
    from hpbench.data.user import as_raw

    raw = as_raw(np.zeros((6, *stored), np.uint8), np.arange(6) % 2, task=None, name="i", where="i.npz", image=True)
    return raw.encoding, tuple(raw.x.shape[1:])


def test_a_wrongly_laid_out_image_is_refused_naming_the_shapes_as_given_not_as_encoded():
    """The shape check ran after the samples were arranged (a channels-last image transposed, an
    MNIST image given its channel axis), so its message named hpbench's own transpose of the input
    ("shaped (n, 3, 32, 32) once encoded, but got (3, 32, 3, 32)" for (3, 3, 32, 32) given), or
    NumPy's ("axes don't match array", "cannot reshape array of size 784 into shape (28,1,28,28)").
    Now the input is checked as given, against the training data's samples; one sample without the
    batch axis is told to add it (the README's predict takes an array shaped like the data's x)."""
    enc, shape = _image_encoding((32, 32, 3))
    assert shape == (3, 32, 32)
    assert enc.inputs(np.zeros((2, 32, 32, 3)), input_shape=shape).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"shaped \(n, 32, 32, 3\) as the training data's x, but got \(3, 3, 32, 32\)") as e:
        enc.inputs(np.zeros((3, 3, 32, 32)), input_shape=shape)
    assert "(3, 32, 3, 32)" not in str(e.value) and "how the model reads them" in str(e.value)  # the model's own layout, named as such
    with pytest.raises(ValueError, match=r"one sample shaped \(32, 32, 3\) without the batch axis: give x\[None\]"):
        enc.inputs(np.zeros((32, 32, 3)), input_shape=shape)
    mnist, mshape = _image_encoding((28, 28))
    assert mshape == (1, 28, 28) and mnist.inputs(np.zeros((2, 28, 28)), input_shape=mshape).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"one sample shaped \(28, 28\) without the batch axis: give x\[None\]"):
        mnist.inputs(np.zeros((28, 28)), input_shape=mshape)
    with pytest.raises(ValueError, match=r"shaped \(n, 28, 28\) as the training data's x, but got \(5, 32, 32\)"):
        mnist.inputs(np.zeros((5, 32, 32)), input_shape=mshape)
    # the weights file keeps the samples' shape as given
    assert Encoding.from_record(enc.to_record()) == enc and enc.stored == (32, 32, 3)


def test_an_old_weights_file_without_the_stored_shape_still_checks_what_it_can():
    """A weights file written before the samples' shape was kept: where the layout only reorders
    axes that shape is the model's read back through the order; where it reshapes, the sample's size."""
    enc, shape = _image_encoding((32, 32, 3))
    old = Encoding.from_record({k: v for k, v in enc.to_record().items() if k != "stored"})
    assert old.stored is None
    with pytest.raises(ValueError, match=r"shaped \(n, 32, 32, 3\) as the training data's x, but got \(3, 3, 32, 32\)"):
        old.inputs(np.zeros((3, 3, 32, 32)), input_shape=shape)
    mnist, mshape = _image_encoding((28, 28))
    old = Encoding.from_record({k: v for k, v in mnist.to_record().items() if k != "stored"})
    assert old.inputs(np.zeros((2, 28, 28)), input_shape=mshape).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"784 values each .* but got \(5, 32, 32\)"):
        old.inputs(np.zeros((5, 32, 32)), input_shape=mshape)


def test_a_trained_image_predictor_names_the_shape_training_saw(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x=x, y=rng.integers(0, 2, 60))
    _, run = trained(tmp_path, f'{{"dataset": "{tmp_path / "img.npz"}", "preprocess": ["minmax"]}}')
    p = run.load_predictor()
    assert p.input_shape == (3, 8, 8) and p.predict(x[:3]).shape == (3,)
    with pytest.raises(ValueError, match=r"shaped \(n, 8, 8, 3\) as the training data's x, but got \(3, 3, 8, 8\)"):
        p.predict(x[:3].transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"one sample shaped \(8, 8, 3\) without the batch axis: give x\[None\]"):
        p.predict_proba(x[0])
    # a file that keeps no encoding takes the model's inputs: one of them without the batch axis is told so too
    from hpbench.api.predict import load_predictor
    from hpbench.train import weights

    weights.save({k: v for k, v in weights.load_record(run.weights).items() if k != "encoding"}, tmp_path / "old.pt")
    with pytest.warns(UserWarning, match="keeps no record of how the data was encoded"):
        old = load_predictor(tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"as the model reads them, but got \(3, 8, 8\): one sample shaped \(3, 8, 8\) .* give x\[None\]"):
        old.predict(np.zeros((3, 8, 8), np.float32))


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("encoded", [True, False])
def test_array_samples_holding_nan_or_inf_are_refused_naming_them(task, encoded):
    """An array sample holding NaN got NaN probabilities and, from their argmax, class 0's label (a
    table's missing value was refused): now every array path refuses it, as training's data did
    (bug hunt s51/h5), with or without the encoding (streamed data's and older files' keep none)."""
    from hpbench.api.predict import Predictor

    out = 3 if task == "multiclass" else 1
    enc = Encoding(classes=None if task == "regression" else ("a", "b", "c")[: max(out, 2)], stored=(4,),
                   scale=(("standardize", (1.0,) * 4, (2.0,) * 4),)) if encoded else None
    p = Predictor(model=torch.nn.Linear(4, out).eval(), task=task, input_shape=(4,), encoding=enc)
    x = np.random.default_rng(0).normal(size=(8, 4))
    assert p.predict(x).shape == (8,)
    x[2, 1], x[4, 0], x[5, 3] = np.nan, np.inf, 1e39  # 1e39: beyond float32's range, inf once read as float32
    said = (r"the samples must hold finite numbers, as training's did, but got NaN \(missing\) in sample 2; "
            r"inf \(or beyond float32's range\) in samples 4, 5 \(of 8, counting from 0\)")
    with pytest.raises(ValueError, match=said):
        p.predict(x)
    if task != "regression":
        with pytest.raises(ValueError, match=said):
            p.predict_proba(x)
    with pytest.raises(ValueError, match=r"NaN \(missing\) in samples 0, 1, 2, 3, 4 and 3 more \(of 8"):
        p.predict(np.full((8, 4), np.nan))
