"""Dispatcher logic without a Ray runtime: when trials report, and the cost predictions'
helper process."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from hpbench.dispatch.schedulers import decision_epochs


@pytest.mark.parametrize(("grace", "rf", "max_t"), [(1, 3, 30), (1, 3, 27), (1, 2, 100), (2, 3, 30), (3, 4, 48), (5, 3, 5), (1, 3, 1), (4, 2, 64)])
def test_asha_decision_epochs_are_rays_rungs(grace, rf, max_t):
    import math

    from ray.tune.schedulers.async_hyperband import _Bracket  # the layout hpbench must agree with

    rungs = {math.ceil(m) for m, _ in _Bracket(min_t=grace, max_t=max_t, reduction_factor=rf, s=0)._rungs}
    study = SimpleNamespace(settings=SimpleNamespace(scheduler="asha", grace_period=grace, reduction_factor=rf))
    assert decision_epochs(study, max_t=max_t) == rungs


@pytest.mark.parametrize("scheduler", ["none", "median"])
def test_other_schedulers_need_no_decision_epochs(scheduler):
    study = SimpleNamespace(settings=SimpleNamespace(scheduler=scheduler, grace_period=1, reduction_factor=3))
    assert decision_epochs(study, max_t=30) == frozenset()


PREDICT_SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from hpbench.study.parse import load_study
from hpbench.dispatch.predictions import AsyncPredictions
from hpbench.results.store import ResultsStore

study = load_study(sys.argv[1])
store = ResultsStore(out=Path(tempfile.mkdtemp()), metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
preds = AsyncPredictions(study=study)
for tid, lr in [("a", 0.01), ("b", 0.001)]:
    store.start(tid, {"optimizer": "adam", "lr": lr})
    preds.submit(tid, {"optimizer": "adam", "lr": lr})
preds.close(store)
print(json.dumps({"torch_in_driver": "torch" in sys.modules, "distinct_predictions": len(preds.by_key),
                  "a": store.trials["a"].get("predicted_s"), "b": store.trials["b"].get("predicted_s"),
                  "flops": store.trials["a"].get("flops_per_step")}))
"""


def test_predictions_run_in_a_helper_process_once_per_architecture(write_study):
    """The driver never loads torch for predictions, and two trials differing only in the
    learning rate share one prediction."""
    from tests.conftest import TINY_STUDY

    path = write_study(TINY_STUDY)
    out = subprocess.run([sys.executable, "-c", PREDICT_SCRIPT, str(path)], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["torch_in_driver"] is False
    assert got["distinct_predictions"] == 1
    assert got["a"] is not None and got["a"] > 0 and got["a"] == got["b"]
    assert got["flops"] > 0


def test_a_late_prediction_never_blocks_and_still_fills_the_spent_columns(tmp_path):
    """The driver harvests without waiting; a prediction landing after its trial finished
    still yields the trial's FLOPs spent and prediction error."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    study = load_study(path)
    release = threading.Event()

    def slow_predict(study, params, device):
        release.wait(timeout=30)
        return {"flops_per_epoch": 1e6, "predicted_epoch_s": 0.5}

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    preds = AsyncPredictions(study=study, predict=slow_predict, executor=ThreadPoolExecutor(max_workers=1))
    store.start("t", {"optimizer": "adam", "lr": 0.01})
    preds.submit("t", {"optimizer": "adam", "lr": 0.01})
    for e in (1, 2):
        store.epoch("t", {"epoch": e, "val_accuracy": 0.5, "epoch_s": 0.25})
    assert preds.harvest(store) == [] and preds.is_pending("t")  # not ready: returns at once
    store.finish("t")
    assert store.trials["t"].get("flops_spent") is None
    release.set()
    preds.close(store)
    t = store.trials["t"]
    assert t["flops_spent"] == 2e6 and t["measured_s"] == 0.5
    assert t["prediction_error"] == pytest.approx((1.0 - 0.5) / 0.5)
