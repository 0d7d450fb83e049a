"""What was priced here before is kept for the searches after (hpbench.cost.prices): by device model,
for hpbench's own families, and a search's predictions take it without asking the helper."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import TINY_STUDY

from hpbench.cost import prices
from hpbench.cost.history import ModelTag
from hpbench.dispatch.cost_keys import price_key
from hpbench.dispatch.predictions import AsyncPredictions
from hpbench.study.parse import load_study

OLD, NEW = ModelTag(schema=11, measured_at=1_000.0), ModelTag(schema=11, measured_at=2_000.0)
COLS = {"predicted_epoch_s": 0.25, "predicted_s": 0.75, "regime": "overhead-bound", "flops_per_step": 1e6}


def test_prices_round_trip_by_device_model_and_keep_only_good_ones(tmp_path):
    prices.save(tmp_path, model=OLD, columns={"a": COLS, "bad": {"cost_note": "cannot count"}, "none": {}}, at=1.0)
    prices.save(tmp_path, model=NEW, columns={"b": {**COLS, "predicted_epoch_s": 0.5}}, at=2.0)
    assert prices.load(tmp_path, model=OLD) == {"a": COLS}
    assert prices.load(tmp_path, model=NEW) == {"b": {**COLS, "predicted_epoch_s": 0.5}}
    assert prices.load(tmp_path, model=None) == {} and prices.load(tmp_path / "nothing-here", model=OLD) == {}
    prices.cache_file(tmp_path).write_text("{not json")  # a damaged file is an empty cache, rewritten whole
    assert prices.load(tmp_path, model=OLD) == {}
    prices.save(tmp_path, model=OLD, columns={"c": COLS}, at=3.0)
    assert json.loads(prices.cache_file(tmp_path).read_text())["prices"].keys() == {"c"}


def test_prices_keep_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(prices, "KEEP", 3)
    for i in range(5):
        prices.save(tmp_path, model=OLD, columns={f"k{i}": COLS}, at=float(i))
    assert sorted(prices.load(tmp_path, model=OLD)) == ["k2", "k3", "k4"]


def test_the_key_holds_what_the_price_depends_on(write_study, tmp_path):
    study = load_study(write_study(TINY_STUDY))
    base = price_key(study, {"optimizer": "adam", "lr": 0.01}, None)
    assert base is not None and base == price_key(study, {"optimizer": "adam", "lr": 0.05}, None)  # the learning rate costs nothing
    assert base != price_key(study, {"optimizer": "sgd", "lr": 0.01}, None)  # another optimizer's update
    assert base != price_key(study, {"optimizer": "adam", "lr": 0.01}, "cuda:0")  # another device
    wider = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1"), name="one.toml"))
    assert base != price_key(wider, {"optimizer": "adam", "lr": 0.01}, None)  # the concurrency slowdown differs
    # a family that is not hpbench's own (a plugin's code may change under its name): not kept
    assert prices.price_key("k", study=study, dataset="digits", family="my_plugin_net") is None
    # a data file: its size and modification time
    f = tmp_path / "data.csv"
    f.write_text("x,y\n1,0\n")
    first = prices.price_key("k", study=study, dataset=str(f), family="mlp")
    f.write_text("x,y\n1,0\n2,1\n")
    assert first is not None and prices.price_key("k", study=study, dataset=str(f), family="mlp") not in (None, first)


def test_a_search_takes_a_known_price_at_once_and_keeps_the_ones_it_made(write_study):
    study = load_study(write_study(TINY_STUDY))
    asked: list[dict] = []
    lock = threading.Lock()

    def predict(st, params, device):
        with lock:
            asked.append(dict(params))
        return {**COLS, "predicted_epoch_s": 0.1 if params["optimizer"] == "adam" else 0.2}

    known_params, new_params = {"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.01}
    known = {price_key(study, known_params, None): {**COLS, "predicted_epoch_s": 0.3}}
    with ThreadPoolExecutor(1) as pool:
        live = AsyncPredictions(study=study, predict=predict, executor=pool, known=known)
        live.submit("t0", known_params)
        assert live.pending["t0"].done() and live.pending["t0"].result()["predicted_epoch_s"] == pytest.approx(0.3, rel=1e-5)
        assert live.epoch_seconds({"optimizer": "adam", "lr": 0.02}) == pytest.approx(0.3, rel=1e-5)  # the same cost key
        live.submit("t1", new_params)
        live.pending["t1"].result(timeout=30)
    assert asked == [new_params]  # only the unknown configuration went to the helper
    assert live.new_prices() == {price_key(study, new_params, None): {**COLS, "predicted_epoch_s": 0.2}}
