"""The helper's cost predictions run below the trials (issue 13): at nice 0 the helper's counting
took a core from two trials at max_concurrent = 2 on a 2-core machine; at nice 19 still ~30% of one
(now SCHED_IDLE as well). Read from the kernel
(``/proc/<pid>/task/<tid>/stat``), in this process and in a real helper process."""

from __future__ import annotations

import sys
import threading

import pytest

from hpbench.cost import clock
from hpbench.dispatch import predictions
from hpbench.dispatch.helper import HelperProcess

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own nice is Linux's")


def _where() -> tuple[int, int, int | None]:
    return threading.get_native_id(), clock.thread_nice(), clock.thread_policy()


def test_below_trials_runs_on_a_thread_at_nice_19_and_idle_and_leaves_the_caller_as_it_was():
    before, policy = clock.thread_nice(), clock.thread_policy()
    tid, nice, idle = clock.below_trials(_where)
    assert tid != threading.get_native_id()
    assert nice == clock.BACKGROUND_NICE == 19
    assert idle == clock.SCHED_IDLE == 5  # weight 3 against a nice-15 trial's 36 (nice 19 alone: 15)
    assert clock.thread_nice() == before and clock.thread_policy() == policy == 0
    assert clock.below_trials(lambda a, *, b: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        clock.below_trials(lambda: 1 / 0)


def test_predict_columns_prices_below_the_trials(monkeypatch):
    """The helper's pricing call (predictions.predict_columns) runs at nice 19, not on its caller."""
    study = type("S", (), {"name": "s", "config": {}})()
    key = (study.name, repr(study.config), None)
    monkeypatch.setitem(predictions._predictors, key, lambda params: {"nice": clock.thread_nice(), "params": params})
    out = predictions.predict_columns(study, {"lr": 0.1}, None)  # type: ignore[arg-type]
    assert out == {"nice": 19, "params": {"lr": 0.1}}


def test_in_a_real_helper_the_main_thread_keeps_its_nice_and_the_background_thread_is_at_19():
    pool = HelperProcess()
    try:
        main_nice = pool.submit(clock.thread_nice).result(timeout=120)
        assert pool.submit(clock.below_trials, clock.thread_nice).result(timeout=120) == 19
        assert pool.submit(clock.below_trials, clock.thread_policy).result(timeout=120) == clock.SCHED_IDLE
        assert pool.submit(clock.thread_policy).result(timeout=120) == 0
        assert pool.submit(clock.thread_nice).result(timeout=120) == main_nice  # early trials train there, unchanged
    finally:
        pool.shutdown(wait=True)
