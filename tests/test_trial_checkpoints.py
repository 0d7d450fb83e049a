"""Which reports of a trial carry a Tune checkpoint (hpbench.dispatch.trainable): with retries
(``max_failures > 0``) every ``checkpoint_s``; without (the default) only the last epoch's, whose
final weights the driver saves; the epoch rows reported are the same either way. Tune's report
is replaced by a recorder (no Ray runtime started); the trainer trains for real."""

from __future__ import annotations

import math

from ray import tune

from hpbench.dispatch.trainable import EPOCH_ROWS, run_trial
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY


class _Context:
    def get_node_id(self) -> str:
        return "node-a"


def _reports(monkeypatch, write_study, *, max_failures: int) -> list[tuple[dict, bool]]:
    import ray

    text = TINY_STUDY.replace("max_concurrent = 2", f"max_concurrent = 2\nmax_failures = {max_failures}\ncheckpoint_s = 0")
    study = load_study(write_study(text.replace("max_epochs = 3", "max_epochs = 5"), name=f"f{max_failures}.toml"))
    seen: list[tuple[dict, bool]] = []
    monkeypatch.setattr(ray, "get_runtime_context", lambda: _Context())
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: seen.append((dict(metrics), checkpoint is not None)))
    run_trial({"optimizer": "adam", "lr": 0.01}, study=study)
    return seen


def _rows(reports: list[tuple[dict, bool]]) -> list[dict]:
    rows = []
    for metrics, _ in reports:
        for r in [*metrics.get(EPOCH_ROWS, ()), {k: v for k, v in metrics.items() if k != EPOCH_ROWS}]:
            rows.append({k: v for k, v in r.items() if k not in ("epoch_s", "epoch_cpu_s", "reported_at", "objective", "node_id")})
    return rows


def test_checkpoints_only_where_a_retry_could_read_them(monkeypatch, write_study):
    retried = _reports(monkeypatch, write_study, max_failures=1)
    single = _reports(monkeypatch, write_study, max_failures=0)
    assert [c for _, c in retried] == [True] * 5  # checkpoint_s = 0: every epoch, for a retry to resume from
    assert [c for _, c in single] == [False] * 4 + [True]  # no retry: the last epoch's only (the final weights)
    a, b = _rows(retried), _rows(single)
    assert [r["epoch"] for r in b] == [1, 2, 3, 4, 5] and b[-1]["stop_reason"] == "completed"
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):  # the same training, the same rows
        assert ra.keys() == rb.keys()
        for k, v in ra.items():
            if isinstance(v, float) and not isinstance(rb[k], str):
                assert math.isclose(v, rb[k], rel_tol=1e-5) or (math.isnan(v) and math.isnan(rb[k])), k
            else:
                assert v == rb[k], k

