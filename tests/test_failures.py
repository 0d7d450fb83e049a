"""Failed trials in brief, and user code errors in one line: the logic without Ray or training."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest

import hpbench
from hpbench.dispatch.recorder import error_line
from hpbench.results.failures import MAX_ERRORS, failures
from hpbench.user_code import exception_line, is_user_file, user_frames, user_frames_in_text

ROOT = Path(__file__).resolve().parents[1]


def row(status: str, error: object = None) -> dict[str, object]:
    return {"status": status, "stop_reason": status if status == "failed" else "completed", "error": error}


def test_some_failed():
    f = failures([row("finished"), row("failed", "ValueError: a"), row("failed", "ValueError: a"), row("failed", "KeyError: 'b'"),
                  row("running")])
    assert (f.n_ended, f.n_failed, f.all_failed) == (4, 3, False)
    assert f.headline() == "3 of 4 trials failed"
    assert f.lines() == ["2 trials: ValueError: a", "1 trial: KeyError: 'b'"]


def test_all_failed_and_errors_without_text():
    f = failures([row("failed", None), row("failed", float("nan")), row("failed", "OSError: disk")])
    assert f.all_failed and f.headline() == "all 3 trials failed"
    assert f.errors == (("unknown error", 2), ("OSError: disk", 1))


def test_nothing_ended_is_not_all_failed():
    assert not failures([row("running")]).all_failed and not failures([]).all_failed


def test_many_distinct_errors_are_cut():
    f = failures([row("failed", f"ValueError: {i}") for i in range(MAX_ERRORS + 3)])
    assert len(f.lines()) == MAX_ERRORS + 1 and f.lines()[-1].startswith("... and 3 other errors")


def _bad_json() -> object:
    return json.loads("{not json")


def test_user_frames_leave_out_the_standard_library_and_hpbench():
    with pytest.raises(json.JSONDecodeError) as err:
        _bad_json()
    frames = user_frames(err.value.__traceback__)
    assert [f.function for f in frames] == ["test_user_frames_leave_out_the_standard_library_and_hpbench", "_bad_json"]
    assert frames[-1].where.startswith("tests/test_failures.py:")
    assert exception_line(err.value).startswith("JSONDecodeError: Expecting property name")
    assert not is_user_file(hpbench.__file__) and not is_user_file(json.__file__) and not is_user_file("<frozen importlib._bootstrap>")


def test_a_trials_error_text_becomes_one_line_with_the_users_frame():
    """A Ray trial's error file: Ray's frames, hpbench's frames, then the user's model."""
    ray_file = Path(sysconfig.get_paths()["purelib"]) / "ray" / "tune" / "trainable" / "function_trainable.py"
    ours = Path(hpbench.__file__).parent / "train" / "epoch.py"
    user = ROOT / "tests" / "helpers" / "flaky.py"
    text = (
        "ray.exceptions.RayTaskError(RuntimeError): ray::ImplicitFunc.train() (pid=1, ip=127.0.0.1)\n"
        f'  File "{ray_file}", line 249, in _trainable_func\n    output = fn()\n             ^^^^\n'
        f'  File "{ours}", line 34, in train_epoch\n    model.train()\n'
        f'  File "{user}", line 59, in train\n    raise RuntimeError(f"flaky trial {{self.slot}} fails at epoch {{epoch}}")\n'
        "RuntimeError: flaky trial 0 fails at epoch 3\n"
    )
    frames = user_frames_in_text(text)
    assert [(f.function, f.line) for f in frames] == [("train", 59)] and frames[0].code.startswith("raise RuntimeError")
    assert error_line(text) == "RuntimeError: flaky trial 0 fails at epoch 3 (at tests/helpers/flaky.py:59 in train)"
    assert error_line("") == "trial failed"
    assert error_line("ValueError: no frames\n") == "ValueError: no frames"
