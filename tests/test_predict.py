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
