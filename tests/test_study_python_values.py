"""A study built in Python (``Study.from_dict``): what a dict may hold that a TOML file cannot.

Keys that are no strings are refused with a StudyError naming where; NumPy scalars (a value
taken from a DataFrame row) are read as the plain values they are, everywhere downstream."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hpbench


def _study() -> dict:
    return {"study": {"name": "py", "trials": 2}, "data": {"dataset": "iris"}, "model": {"family": "mlp"}, "train": {"max_epochs": 1}}


def _with_space(space: dict) -> dict:
    raw = _study()
    raw["space"] = space
    return raw


def _put(section: str, values: dict) -> dict:
    raw = _study()
    raw.setdefault(section, {}).update(values)
    return raw


def _enqueued() -> dict:
    raw = _with_space({"optimizer.lr": {"loguniform": [1e-3, 1e-1]}})
    raw["study"]["enqueue"] = [{1: 0.01}]
    return raw


def _top_level() -> dict:
    raw = _study()
    raw[1] = {}  # type: ignore[index]
    return raw


MOMENTUM = {"optimizer": {"choice": ["adam", "momentum"]}}


@pytest.mark.parametrize(("raw", "key", "bad"), [
    (_with_space({5: {"choice": [1, 2]}}), "space", "5"),
    (_with_space({None: {"choice": [1, 2]}}), "space", "None"),
    (_with_space({("optimizer",): {"choice": ["adam"]}}), "space", "('optimizer',)"),
    (_put("study", {1: 2}), "study", "1"),
    (_put("model", {2.5: 2}), "model", "2.5"),
    (_put("train", {1: 2}), "train", "1"),
    (_top_level(), "(study)", "1"),
    (_enqueued(), "study.enqueue[0]", "1"),
    (_with_space({**MOMENTUM, "optimizer.momentum": {"uniform": [0.5, 0.9], "when": {3: ["momentum"]}}}),
     "space.optimizer.momentum.when", "3"),
], ids=["space-int", "space-none", "space-tuple", "study", "model-float", "train", "top-level", "enqueue", "when"])
def test_a_key_that_is_no_string_is_a_study_error_naming_where(raw, key, bad):
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Study.from_dict(raw, source="nb")
    assert str(err.value) == f"nb: {key}: keys must be strings, but got {bad}"


def test_every_bad_key_is_reported():
    raw = _put("train", {1: 2})
    raw["model"][None] = 3
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Study.from_dict(raw)
    assert [p.key for p in err.value.problems] == ["model", "train"]


def _plain_only(node, where="raw"):
    """Every value in ``node`` is a plain Python value (no NumPy scalar), every key a str."""
    if isinstance(node, dict):
        for k, v in node.items():
            assert type(k) is str, f"{where}: key {k!r}"
            _plain_only(v, f"{where}.{k}")
    elif isinstance(node, list | tuple):
        for i, v in enumerate(node):
            _plain_only(v, f"{where}[{i}]")
    else:
        assert not isinstance(node, np.generic), f"{where}: {node!r}"


def test_numpy_scalars_are_read_as_plain_values():
    raw = _study()
    raw["study"].update(trials=np.int64(3), seed=np.int32(7), enqueue=[{"optimizer.lr": np.float32(0.01)}])
    raw["data"]["val_fraction"] = np.float64(0.3)
    raw["train"].update(max_epochs=np.int64(2), early_stopping={"patience": np.int16(1), "restore_best_weights": np.bool_(True)})
    raw["optimizer"] = {"name": np.str_("adam")}
    raw["space"] = {"optimizer.lr": {"uniform": [np.float32(0.001), np.float32(0.1)]},
                    "model.depth": {"randint": [np.int64(1), np.int64(3)]},
                    "model.width": {"choice": [np.int64(16), np.int64(32)]}}
    study = hpbench.Study.from_dict(raw)
    assert study.settings.trials == 3 and type(study.settings.trials) is int
    assert type(study.settings.seed) is int
    train = study.config["train"]
    assert train["max_epochs"] == 2 and type(train["max_epochs"]) is int
    assert train["early_stopping"]["restore_best_weights"] is True
    assert type(study.config["data"]["val_fraction"]) is float
    assert study.settings.enqueue[0]["optimizer.lr"] == pytest.approx(0.01, rel=1e-5)
    _plain_only(study.raw)  # the record written as study.json
    _plain_only(study.config, "config")
    _plain_only(list(study.settings.enqueue), "enqueue")
    json.dumps(study.raw)  # np.int64 would not serialize
    assert study.raw["space"]["model.width"]["choice"] == [16, 32]
    assert raw["train"]["max_epochs"].dtype == np.int64  # the caller's dict is left as given


def test_numpy_scalars_in_overrides_are_plain_values_too():
    study = hpbench.Study.from_dict(_study(), overrides={"train.max_epochs": np.int64(4), "study.trials": np.uint8(5)})
    assert (study.config["train"]["max_epochs"], study.settings.trials) == (4, 5)


@pytest.mark.parametrize("value", [np.array([16, 32]), (16, 32)], ids=["array", "tuple"])
def test_arrays_and_tuples_are_still_not_lists(value):
    with pytest.raises(hpbench.StudyError, match=r"space\.model\.width\.choice: must be a non-empty list"):
        hpbench.Study.from_dict(_with_space({"model.width": {"choice": value}}))
