"""A study on the warm local Ray runtime (``hpbench ray start``): refused naming that runtime when
its trials need more CPUs than it has, and estimated at its concurrency (bug hunt s50/h8, #3, #4)."""

from __future__ import annotations

import pytest

from hpbench.dispatch import local_ray
from hpbench.errors import StudyError
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY
from tests.helpers.warm_record import record


@pytest.mark.parametrize("what", ["search", "estimate"])
def test_trials_larger_than_the_warm_runtime_are_refused_naming_it_and_the_ways_out(write_study, tmp_path, monkeypatch, what):
    """s50/h8 #3: the warm runtime's 1 CPU was blamed on "this machine's" (which had 2)."""
    from hpbench.api.search import check_fits
    from hpbench.dispatch import ray_runtime

    record(tmp_path, num_cpus=1, address="127.0.0.1:6391")
    monkeypatch.setattr(local_ray, "state_dir", lambda: tmp_path)
    monkeypatch.setattr(ray_runtime, "current", lambda: None)  # no Ray up in this process
    study = load_study(write_study(TINY_STUDY + "\n[resources]\ncpus_per_trial = 2\n"))
    with pytest.raises(StudyError) as err:
        check_fits(study, address=None, num_cpus=None, what=what)
    text = str(err.value)
    assert "the 1 CPUs of the warm Ray runtime at 127.0.0.1:6391" in text and "this machine's" not in text
    assert "--address local" in text and "--num-cpus 2" in text and "hpbench ray stop" in text
    check_fits(study, address="local", num_cpus=2, what=what)  # a runtime of its own: fits


@pytest.mark.parametrize("warm_cpus, expected", [(None, 2), (1, 1)])
def test_the_estimate_prices_the_concurrency_of_the_runtime_the_search_joins(write_study, tmp_path, monkeypatch, warm_cpus, expected):
    """s50/h8 #4: a 1-CPU warm runtime on a larger machine was priced at the machine's concurrency
    (2 trials at once), while the search trained one at a time on it; the contention stays the machine's."""
    from hpbench.api.estimate import study_estimate
    from hpbench.cost import clock

    monkeypatch.setattr(clock, "n_cpus", lambda: 4)
    monkeypatch.setattr(local_ray, "state_dir", lambda: tmp_path / "ray")
    if warm_cpus is not None:
        record(tmp_path / "ray", num_cpus=warm_cpus)
    study = load_study(write_study(TINY_STUDY))  # max_concurrent = 2
    est = study_estimate(study, device_flops=1e12, samples=2, cache_dir=tmp_path / "cache", preflight=False)
    assert est.summary["concurrency"] == expected
    assert est.summary["wall_time"]["cpus"] == 4
