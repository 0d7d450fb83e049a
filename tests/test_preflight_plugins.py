"""The pre-flight's checks of plugin code the trainer and the dispatcher build around the networks
(bug hunt s48/h5, findings 3 and 4): a learning-rate schedule or initializer, a searcher or a
scheduler whose builder raises or returns the wrong thing is named before anything is started
or written (each failed every trial, or ``hpbench search`` with a traceback once its results
folder was made). Registered in-process; no Ray."""

from __future__ import annotations

from typing import Any

import pytest

from hpbench.preflight.run import check_study
from tests.test_preflight import one, study_file


def _no_horizon(optimizer: Any) -> Any:  # a schedule builder without the horizon keyword
    return None


def _no_activation(w: Any) -> None:  # an initializer without the activation keyword
    return None


def _positional_seed(seed: int) -> Any:  # a searcher builder without the space keyword
    import optuna

    return optuna.samplers.RandomSampler(seed=seed), []


def _not_a_sampler(*, seed: int, **_: Any) -> Any:
    return "not a sampler", []


def _metric_only(metric: str) -> Any:  # a scheduler builder without the mode keyword
    raise AssertionError("not called")


def _not_a_scheduler(**_: Any) -> Any:
    return object()


class _Scheduler:  # what a Ray Tune TrialScheduler offers the dispatcher, without Ray
    def on_trial_add(self, *a: Any) -> None: ...
    def on_trial_result(self, *a: Any) -> str: return "CONTINUE"
    def on_trial_complete(self, *a: Any) -> None: ...
    def choose_trial_to_run(self, *a: Any) -> None: ...


@pytest.fixture
def plugins():
    """The entries above, registered the way installed plugins are (not among the built-in names)."""
    from hpbench.strategies import SCHEDULERS, SEARCHERS
    from hpbench.train.initializers import INITIALIZERS
    from hpbench.train.schedules import SCHEDULES

    added = [(SCHEDULES, "no_horizon", _no_horizon), (INITIALIZERS, "no_activation", _no_activation),
             (SEARCHERS, "positional_seed", _positional_seed), (SEARCHERS, "not_a_sampler", _not_a_sampler),
             (SEARCHERS, "good_search", lambda *, seed, **_: _positional_seed(seed)),
             (SCHEDULERS, "metric_only", _metric_only), (SCHEDULERS, "not_a_scheduler", _not_a_scheduler),
             (SCHEDULERS, "good_sched", lambda **_: _Scheduler())]
    for registry, name, fn in added:
        registry.register(name, doc="a test plugin")(fn)
        registry._builtin.discard(name)
    yield
    for registry, name, _ in added:
        registry._entries.pop(name, None)


def _study(tmp_path, *, study: str = "", train: str = "max_epochs = 2", space: str = "lr = { loguniform = [1e-3, 1e-1] }"):
    s = study_file(tmp_path, data='dataset = "iris"', train=train, space=space)
    if not study:
        return s
    path = tmp_path / "study.toml"
    path.write_text(path.read_text().replace('searcher = "random"\nscheduler = "none"\n', study), encoding="utf-8")
    from hpbench.study.parse import load_study

    return load_study(path)


def test_a_plugin_schedule_with_the_wrong_signature_is_named_before_any_trial(tmp_path, plugins):
    msg = one(_study(tmp_path, train='max_epochs = 2\n[lr_schedule]\nname = "no_horizon"'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: lr_schedule.name: building the learning-rate schedule 'no_horizon' raised: "
                          "TypeError: _no_horizon() got an unexpected keyword argument 'horizon'"), msg


def test_a_searched_plugin_schedule_is_named_with_its_value_and_the_built_in_ones_pass(tmp_path, plugins):
    msg = one(_study(tmp_path, train='max_epochs = 4\nbatch_size = 16\n[lr_schedule]\nname = "constant"',
                     space='"lr_schedule.name" = { choice = ["warmup_cosine", "one_cycle", "cosine", "plateau", "no_horizon"] }'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: lr_schedule.name: building the learning-rate schedule 'no_horizon' raised"), msg
    assert msg.endswith("(1 of the 5 learning-rate schedules tried, those with lr_schedule.name = no_horizon)"), msg


def test_a_plugin_initializer_with_the_wrong_signature_is_named_before_any_trial(tmp_path, plugins):
    msg = one(_study(tmp_path, train='max_epochs = 2\ninit = "no_activation"'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: train.init: applying the initialization 'no_activation' raised: "
                          "TypeError: _no_activation() got an unexpected keyword argument 'activation'"), msg


def test_a_searched_plugin_initializer_is_named_with_its_value(tmp_path, plugins):
    msg = one(_study(tmp_path, space='init = { choice = ["xavier_uniform", "kaiming_normal", "no_activation"] }'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: train.init: applying the initialization 'no_activation' raised"), msg
    assert msg.endswith("(1 of the 3 initializations tried, those with init = no_activation)"), msg


@pytest.mark.parametrize(("name", "key", "rule"), [
    ("positional_seed", "study.searcher", "building the searcher 'positional_seed' raised: TypeError: _positional_seed() got an unexpected keyword argument"),
    ("not_a_sampler", "study.searcher", "the searcher 'not_a_sampler' must return (an optuna.samplers.BaseSampler, a list of the points "
                                        "evaluated first), but got (str, ...)"),
    ("metric_only", "study.scheduler", "building the scheduler 'metric_only' raised: TypeError: _metric_only() got an unexpected keyword argument"),
    ("not_a_scheduler", "study.scheduler", "the scheduler 'not_a_scheduler' must return a Ray Tune TrialScheduler, but got object (no on_trial_add"),
])
def test_a_plugin_searcher_or_scheduler_that_cannot_be_built_is_named_before_anything_starts(tmp_path, plugins, name, key, rule):
    """The dispatcher built them after the results folder was made: ``hpbench search`` ended there with a traceback."""
    kind = key.removeprefix("study.")
    other = "scheduler" if kind == "searcher" else "searcher"
    msg = one(_study(tmp_path, study=f'{kind} = "{name}"\n{other} = "{"none" if other == "scheduler" else "random"}"\n'))
    assert msg.startswith(f"{tmp_path / 'study.toml'}: {key}: {rule}"), msg


def test_good_plugin_searchers_and_schedulers_pass(tmp_path, plugins):
    assert check_study(_study(tmp_path, study='searcher = "good_search"\nscheduler = "good_sched"\n')) == []


def test_a_plugin_family_that_cannot_be_built_is_named_with_its_key(tmp_path):
    """A plugin family whose builder raised was reported as "model: building the network raised",
    naming neither the family nor the key (bug hunt s48/h5, finding 7), where a plugin optimizer
    is named ("optimizer.name: building the optimizer 'sig_opt' raised")."""
    from hpbench.models import FAMILIES

    def _no_n_outputs(*, input_shape: Any, params: Any) -> Any:  # a family builder without the n_outputs keyword
        raise AssertionError("not called")

    FAMILIES.register("no_n_outputs", doc="a test plugin")(_no_n_outputs)
    FAMILIES._builtin.discard("no_n_outputs")
    try:
        msg = one(study_file(tmp_path, data='dataset = "iris"', model='family = "no_n_outputs"'))
    finally:
        FAMILIES._entries.pop("no_n_outputs", None)
    assert msg.startswith(f"{tmp_path / 'study.toml'}: model.family: building the network of the family 'no_n_outputs' raised: TypeError"), msg
