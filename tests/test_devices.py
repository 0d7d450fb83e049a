"""Mixed precision and the device comparison ([train] precision / devices). No GPU on CI: the
code paths run on the CPU here (bf16/fp16 autocast and the replay of every configuration on a
second device); the CUDA path itself is verified on a GPU machine only."""

from __future__ import annotations

import dataclasses
from io import StringIO

import pytest
from rich.console import Console

from hpbench.errors import StudyError
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config
from tests.conftest import STUDIES, TINY_STUDY

QUICK = {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "init": "xavier_uniform",
         "model.depth": 1, "model.width": 32, "model.activation": "relu"}


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_differs_from_fp32(precision):
    from hpbench.train.trainer import train

    study = load_study(STUDIES / "quickstart.toml")
    base = trial_config(study, QUICK)
    runs = {}
    for p in ("fp32", precision):
        cfg = dataclasses.replace(base, train=dataclasses.replace(base.train, precision=p, max_epochs=3, early_stopping=None))
        runs[p] = train(cfg).history
    acc, ref = runs[precision][-1]["val_accuracy"], runs["fp32"][-1]["val_accuracy"]
    assert acc > 0.4 and abs(acc - ref) < 0.05  # it learns, as fp32 does (chance is 0.1)
    assert runs[precision][0]["train_loss"] != runs["fp32"][0]["train_loss"]  # autocast really ran
    assert runs[precision][0]["device"] == "cpu"


def test_precision_is_validated_and_searchable(write_study):
    study = load_study(write_study(TINY_STUDY + '"train.precision" = { choice = ["fp32", "bf16"] }\n'))
    assert study.space.dim("train.precision").dist.grid_values() == ("fp32", "bf16")
    with pytest.raises(StudyError, match=r"train\.precision.*'fp8'"):
        load_study(write_study(TINY_STUDY.replace("batch_size = 64", 'batch_size = 64\nprecision = "fp8"')))


@pytest.mark.parametrize(
    ("train_lines", "resources", "expected"),
    [
        ('devices = ["cpu", "cuda"]', "", ["train.devices", "gpus_per_trial > 0"]),
        ('devices = ["cpu", "cpu"]', "", ["train.devices", "once"]),
        ('devices = ["cpu", "tpu"]', "", ["train.devices", "'tpu'"]),
        ('device = "cuda"', "", ["train.device", "gpus_per_trial > 0"]),
        ('devices = ["cuda", "cpu"]\ndevice = "cpu"', "gpus_per_trial = 1", ["train.device", "first of train.devices"]),
    ],
)
def test_device_settings_are_validated(write_study, train_lines, resources, expected):
    text = TINY_STUDY.replace("batch_size = 64", f"batch_size = 64\n{train_lines}")
    if resources:
        text = text.replace("[space]", f"[resources]\n{resources}\n\n[space]")
    with pytest.raises(StudyError) as info:
        load_study(write_study(text))
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_devices_first_entry_is_where_the_search_runs(write_study):
    text = TINY_STUDY.replace("batch_size = 64", 'batch_size = 64\ndevices = ["cpu", "cuda"]').replace("[space]", "[resources]\ngpus_per_trial = 0.5\n\n[space]")
    study = load_study(write_study(text))
    assert study.config["train"]["device"] == "cpu" and study.config["train"]["devices"] == ("cpu", "cuda")


@pytest.mark.slow
def test_every_configuration_replays_on_another_device(ray_local, tmp_path):
    """The replay path of ``[train] devices`` (here onto the CPU again: CI has no GPU)."""
    from concurrent.futures import ThreadPoolExecutor
    from functools import partial

    from hpbench.dispatch.after_search import AfterSearch
    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.dispatch.search_phase import _recorder
    from hpbench.report.data import load_report
    from hpbench.report.devices import summary

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path, trials=3)
    opts = SearchOptions(out=tmp_path / "out")
    con = Console(file=StringIO())
    store = run_search(study, opts, console=con)
    predictions = AsyncPredictions(study=study, predict=lambda study, params, device: {}, executor=ThreadPoolExecutor(max_workers=1))
    from hpbench.dispatch.eta import SearchClock
    from hpbench.dispatch.interrupt import Interrupt

    with Interrupt() as stop:
        after = AfterSearch(study=study, opts=opts, store=store, console=con, stop=stop, clock=SearchClock(study=study, n_trials=0),
                            recorder=partial(_recorder, predictions=predictions, trackers=None))
        after.on_device("cpu")
    predictions.close(store)
    store.flush(force=True)
    data = load_report(opts.out)
    assert len(data.trials) == 3 and len(data.device_runs) == 3
    assert sorted(data.device_runs["device_of"].astype(int)) == sorted(data.trials["trial"].astype(int))
    s = summary(data)
    assert len(s["speedups"]) == 3 and all(x["speedup"] > 0 for x in s["speedups"])
