"""Study parsing and validation, without Ray or training."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpbench.errors import StudyError
from hpbench.study.overrides import parse_override
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config
from tests.conftest import STUDIES, TINY_STUDY


def test_quickstart_is_accepted_as_written():
    study = load_study(STUDIES / "quickstart.toml")
    s = study.settings
    assert (s.name, s.metric, s.mode, s.trials, s.searcher, s.scheduler, s.max_concurrent) == (
        "quickstart", "val_accuracy", "max", 24, "tpe", "asha", 2,
    )
    assert study.space.keys() == [
        "optimizer", "lr", "batch_size", "init", "model.depth", "model.width", "model.activation", "optimizer.momentum",
    ]
    assert study.space.dim("optimizer.momentum").when == {"optimizer": ("momentum", "nesterov")}
    assert study.config["train"]["early_stopping"]["patience"] == 3


def test_quickstarts_comments_list_every_registered_searcher_and_scheduler():
    """They listed random | grid | tpe and none | asha | median, "more may come" (bug hunt s47h1)."""
    import re

    from hpbench.strategies import SCHEDULERS, SEARCHERS
    from hpbench.study import keys as K

    lines = (STUDIES / "quickstart.toml").read_text(encoding="utf-8").splitlines()
    for key, registry in (("searcher", SEARCHERS), ("scheduler", SCHEDULERS)):
        comment = next(line for line in lines if line.startswith(f"{key} =")).partition("#")[2]
        listed = [re.sub(r"\(.*?\)", "", part).rpartition(":")[2].strip() for part in comment.split("|")]
        assert listed == list(registry.names(plugins=False)), (key, comment)
        assert f" {K.STUDY[key].default} (the default" in comment, (key, comment)


def test_validation_imports_neither_torch_nor_ray():
    code = (
        "import sys; from hpbench.study.parse import load_study; load_study(sys.argv[1]); "
        "print('torch' in sys.modules, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(STUDIES / "quickstart.toml")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_trial_config_applies_params_by_path():
    study = load_study(STUDIES / "quickstart.toml")
    params = {"optimizer": "momentum", "lr": 0.01, "batch_size": "full", "init": "zeros",
              "model.depth": 2, "model.width": 32, "model.activation": "tanh", "optimizer.momentum": 0.9}
    cfg = trial_config(study, params)
    assert cfg.optimizer.name == "momentum" and cfg.optimizer.lr == 0.01
    assert cfg.optimizer.params == {"momentum": 0.9}
    assert cfg.train.batch_size == "full" and cfg.train.init == "zeros"
    assert cfg.model.family == "mlp" and cfg.model.params == {"depth": 2, "width": 32, "activation": "tanh"}
    assert cfg.train.early_stopping is not None and cfg.train.early_stopping.restore_best_weights
    assert cfg.threads == 1 and cfg.seed == 0


def test_a_grid_too_large_to_list_is_refused_with_its_size(write_study):
    """Counted, not listed: a grid over randint [1, 1e15] was a tuple of 10**15 values (MemoryError, bug hunt s49/h2)."""
    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "grid"').replace(
        'lr = { loguniform = [1e-3, 1e-1] }', 'batch_size = { randint = [1, 1000000000000000] }')
    message = _error(write_study, text)
    for part in ("space.batch_size", "grid search runs every point of the space, at most 1,000,000",
                 "randint [1, 1000000000000000]", "but got 2,000,000,000,000,000 points"):
        assert part in message, message


def test_a_wide_randint_is_searched_and_conditioned_on_without_listing_it(write_study):
    """A ``when`` on a randint parent checks its values by arithmetic (bug hunt s49/h2: it listed them)."""
    from hpbench.results.columns import param_dtypes

    space = ('batch_size = { randint = [1, 1000000000000000] }\n'
             '"model.depth" = { randint = [1, 3], when = { batch_size = [8, 16.0] } }')
    study = load_study(write_study(TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }', space)))
    assert study.space.dim("model.depth").when == {"batch_size": (8, 16.0)}
    assert study.space.mixed_keys() == [] and param_dtypes(study.space)["batch_size"] == "Int64"
    message = _error(write_study, TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }', space.replace("[8, 16.0]", "[0]")))
    assert "space.model.depth.when.batch_size: values must be among batch_size's values randint [1, 1000000000000000], but got 0" in message


@pytest.mark.parametrize(("key", "value", "bound"), [("study.trials", "10**30", "1000000000"), ("train.max_epochs", "10**30", "1000000"),
                                                     ("train.max_epochs", "randint", "1000000")])
def test_counts_beyond_any_search_are_refused(write_study, key, value, bound):
    """``trials`` and ``max_epochs`` have upper bounds far beyond real use (10**30 hung the estimate, bug hunt s49/h2)."""
    name = key.split(".")[1]
    if value == "randint":  # a searched max_epochs is held to the same rule
        text, key = TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }', '"train.max_epochs" = { randint = [1, 1000000000000000] }'), \
            "space.train.max_epochs.randint: high"
    else:
        text = TINY_STUDY.replace({"trials": "trials = 4", "max_epochs": "max_epochs = 3"}[name], f"{name} = {10**30}")
    message = _error(write_study, text)
    assert key in message and f"must be <= {bound}" in message, message


@pytest.mark.parametrize(("key", "bound"), [("study.repeats", "10000"), ("study.repeats_top", "1000000000"), ("study.max_concurrent", "1000000"),
                                          ("study.max_failures", "1000000"), ("study.grace_period", "1000000"), ("study.reduction_factor", "1000000")])
def test_other_counts_beyond_any_search_are_refused(write_study, key, bound):
    """``repeats = 10**30`` hung the estimate (each repeat is priced) and ``reduction_factor = 10**30``
    crashed a search inside numpy's log: every count of the study section has an upper bound, named
    with its key and the value when it is passed (bug hunt s50, carried over)."""
    with pytest.raises(StudyError) as info:
        load_study(write_study(TINY_STUDY), overrides=[f"{key}={10**30}"])
    message = str(info.value)
    assert key in message and f"must be <= {bound}" in message and str(10**30) in message, message


def test_repeats_option_beyond_its_bound_is_refused():
    from hpbench.api.search import check_options

    with pytest.raises(StudyError) as info:
        check_options(address=None, num_cpus=None, budget_flops=None, budget_s=None, repeats=10**30, cli=True)
    assert "--repeats" in str(info.value) and "from 0 to 10,000" in str(info.value) and str(10**30) in str(info.value)


def test_set_and_trials_overrides(write_study):
    path = write_study(TINY_STUDY)
    study = load_study(path, overrides=["train.max_epochs=7", "optimizer.name=sgd"], trials=9)
    assert study.config["train"]["max_epochs"] == 7
    assert study.config["optimizer"]["name"] == "sgd"
    assert study.settings.trials == 9


def test_default_name_is_file_stem_and_mode_inferred(write_study):
    text = TINY_STUDY.replace('name = "tiny"\n', "").replace('mode = "max"\n', "")
    study = load_study(write_study(text, name="mystudy.toml"))
    assert study.name == "mystudy" and study.settings.mode == "max"


def _error(write_study, text: str) -> str:
    with pytest.raises(StudyError) as info:
        load_study(write_study(text))
    return str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { loguniform = [0.0, 1e-1] }', ["space.lr", "0 < low < high", "low=0.0"]),
        ('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { uniform = [0.5, 0.1] }', ["space.lr", "low < high", "low=0.5, high=0.1"]),
        ('optimizer = { choice = ["adam", "sgd"] }', "optimizer = { choice = [] }", ["space.optimizer.choice", "non-empty", "[]"]),
        ('optimizer = { choice = ["adam", "sgd"] }', 'optimizer = { choice = ["adam", "sgdd"] }', ["space.optimizer", "unknown optimizer", "'sgdd'", "did you mean 'sgd'"]),
        ('mode = "max"', 'mode = "maximize"', ["study.mode", "unknown mode", "'maximize'"]),
        ('trials = 4', 'trials = "four"', ["study.trials", "integer", "'four'"]),
        ('trials = 4', 'trails = 4', ["study.trails", "unknown key", "did you mean 'trials'"]),
        ('dataset = "digits"', 'dataset = "digitz"', ["data.dataset", "unknown dataset", "'digitz'", "did you mean 'digits'"]),
        ('family = "mlp"', 'family = "mlpp"', ["model.family", "unknown model family", "'mlpp'"]),
        ('width = 32', 'width = 0', ["model.width", ">= 1", "0"]),
        ('batch_size = 64', 'batch_size = "half"', ["train.batch_size", '"full"', "'half'"]),
        ('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { loguniform = [1e-3, 1e-1] }\n"optimizer.weight_decay" = { uniform = [0.0, 0.1], when = { optimiser = ["sgd"] } }', ["space.optimizer.weight_decay.when.optimiser", "another searched key", "did you mean 'optimizer'"]),
        ('lr = { loguniform = [1e-3, 1e-1] }', '"model.depthh" = { randint = [1, 2] }', ["space.model.depthh", "unknown key", "did you mean 'depth'"]),
        ('lr = { loguniform = [1e-3, 1e-1] }', 'init = { choice = ["zeros", "glorot"] }', ["space.init", "unknown initialization", "'glorot'"]),
        ('metric = "val_accuracy"', 'metric = "val_f1"', ["study.metric", "val_accuracy", "'val_f1'"]),
        ('max_epochs = 3', 'max_epochs = 3\nearly_stopping = { monitor = "val_acc", patience = 2 }', ["train.early_stopping.monitor", "'val_acc'"]),
        ('searcher = "random"', 'searcher = "grid"', ["space.lr", "grid search needs finite values", "loguniform"]),
        ('[space]', '[spcae]', ["spcae", "unknown section", "did you mean 'space'"]),
    ],
)
def test_bad_input_names_key_rule_and_value(write_study, old, new, expected):
    assert old in TINY_STUDY
    message = _error(write_study, TINY_STUDY.replace(old, new, 1))
    for part in expected:
        assert part in message, message
    assert "study.toml" in message


def test_malformed_toml(write_study):
    message = _error(write_study, TINY_STUDY + "\n[broken\n")
    assert "malformed TOML" in message and "study.toml" in message


def test_conditional_cycle_is_rejected(write_study):
    text = TINY_STUDY.replace(
        'lr = { loguniform = [1e-3, 1e-1] }',
        '"optimizer.momentum" = { uniform = [0.1, 0.9], when = { "optimizer.weight_decay" = [0.0] } }\n'
        '"optimizer.weight_decay" = { choice = [0.0, 0.1], when = { "optimizer.momentum" = [0.5] } }',
    )
    message = _error(write_study, text.replace('choice = ["adam", "sgd"]', 'choice = ["momentum", "sgd"]'))
    assert "space.optimizer.momentum" in message or "space.optimizer.weight_decay" in message


def test_a_condition_on_an_unsearched_key_never_suggests_the_key_being_defined(write_study):
    """``did you mean`` offered the dimension itself, which the next message refused as depending
    on itself (bug hunt s52h2, finding 4)."""
    text = TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }',
                              '"model.dropout" = { uniform = [0.0, 0.5], when = { "model.depth" = [2] } }')
    message = _error(write_study, text)
    assert "space.model.dropout.when.model.depth" in message and "another searched key" in message, message
    assert "model.dropout'?" not in message, message


def test_bad_override():
    with pytest.raises(StudyError, match="--set"):
        parse_override("max_epochs")
    assert parse_override("train.max_epochs=5") == (["train", "max_epochs"], 5)
    assert parse_override("optimizer.name=adam") == (["optimizer", "name"], "adam")


def test_set_reaches_a_quoted_dotted_space_key():
    """``--set`` split its key at every '.', so no override reached ``"train.d_lr"`` (bug hunt s47h1)."""
    assert parse_override('space."train.d_lr"={grid=[0.001]}') == (["space", "train.d_lr"], {"grid": [0.001]})
    assert parse_override("space.'a=b'=1") == (["space", "a=b"], 1)
    study = load_study(STUDIES / "quickstart.toml", overrides=['space."model.width"={grid=[128]}'])
    assert study.space.dim("model.width").dist.grid_values() == (128,)
    for bad in ("max_epochs=3", 'space."unclosed=1', "=3"):
        with pytest.raises(StudyError, match="--set"):
            parse_override(bad)


def test_an_unknown_space_key_is_offered_the_searchable_keys():
    """The options listed data.kind, data.shape and train.devices (refused in [space]) and left out
    distill.alpha and model.hidden_size."""
    with pytest.raises(StudyError) as err:
        load_study(STUDIES / "quickstart.toml", overrides=['space.zzzz={grid=[1]}'])
    said = str(err.value)
    assert "space.zzzz: unknown key (expected one of: " in said
    assert "distill.alpha" in said and "model.hidden_size" in said and "train.early_stopping.patience" in said
    for refused in ("data.kind", "data.shape", "train.devices", "model.task"):
        assert f" {refused}," not in said and f" {refused})" not in said
    with pytest.raises(StudyError, match=r"space.model.widht: unknown key \(did you mean 'width'\?\)"):
        load_study(STUDIES / "quickstart.toml", overrides=['space."model.widht"={grid=[1]}'])
    with pytest.raises(StudyError) as err:  # the study's family's keys, less those [space] refuses
        load_study(STUDIES / "quickstart.toml", overrides=['space."model.zzzz"={grid=[1]}'])
    assert "(expected one of: activation, depth, dropout, family, freeze, width)" in str(err.value)


def test_enqueue_points_are_validated_against_the_space(write_study):
    ok = TINY_STUDY.replace('max_concurrent = 2', 'max_concurrent = 2\nenqueue = [{ optimizer = "sgd", lr = 0.01 }, { optimizer = "adam" }]')
    study = load_study(write_study(ok))
    assert study.settings.enqueue == ({"optimizer": "sgd", "lr": 0.01}, {"optimizer": "adam"})
    out_of_range = TINY_STUDY.replace('max_concurrent = 2', 'max_concurrent = 2\nenqueue = [{ lr = 0.5 }]')
    message = _error(write_study, out_of_range)
    assert "study.enqueue[0].lr" in message and "loguniform" in message and "0.5" in message
    unknown = TINY_STUDY.replace('max_concurrent = 2', 'max_concurrent = 2\nenqueue = [{ init = "zeros" }]')
    assert "study.enqueue[0].init" in _error(write_study, unknown)


def test_quickstart_enqueues_the_zero_init_reference():
    study = load_study(STUDIES / "quickstart.toml")
    assert study.settings.enqueue[0]["init"] == "zeros"


def test_augment_needs_image_data_and_heads_divide_d_model(write_study):
    text = TINY_STUDY.replace('dataset = "digits"', 'dataset = "iris"').replace('preprocess = ["standardize"]', 'preprocess = ["augment"]')
    message = _error(write_study, text)
    assert "data.preprocess" in message and "image data only" in message and "'iris'" in message
    text = TINY_STUDY.replace('family = "mlp"\ndepth = 1\nwidth = 32', 'family = "transformer"\nd_model = 30')
    text = text.replace('lr = { loguniform = [1e-3, 1e-1] }', '"model.heads" = { choice = [2, 4] }')
    message = _error(write_study, text)
    assert "model.heads" in message and "d_model=30 with heads=4" in message
    # every bad pair named at once, the rule said once (bug hunt s49/h3: "but d_model=30 with heads=4, but got 4")
    text = text.replace("d_model = 30", "").replace('"model.heads" = { choice = [2, 4] }',
                                                  '"model.heads" = { choice = [3, 4] }\n"model.d_model" = { choice = [30, 32] }')
    message = _error(write_study, text)
    assert "d_model=30 with heads=4, d_model=32 with heads=3" in message and message.count("but") == 1


def test_grid_resume_skips_the_points_that_ran():
    from hpbench.dispatch.searchers import _canonical

    assert _canonical({"batch_size": 16, "lr": 0.01}) == _canonical({"lr": 0.01, "batch_size": "16"})
    assert _canonical({"batch_size": 16, "momentum": None}) == _canonical({"batch_size": 16})


def test_resumed_grid_runs_only_the_points_not_yet_run(write_study):
    from hpbench.dispatch.searchers import make_searcher

    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "grid"').replace(
        'lr = { loguniform = [1e-3, 1e-1] }', 'batch_size = { grid = [16, "full"] }')
    study = load_study(write_study(text))
    assert len(study.space.grid()) == 4
    done = [{"optimizer": "sgd", "batch_size": "full"}, {"optimizer": "adam", "batch_size": "16"}]  # as read back from the tables
    searcher = make_searcher(study, storage=None, done=done)
    left = searcher._points_to_evaluate
    assert sorted(map(repr, left)) == sorted(map(repr, [{"optimizer": "adam", "batch_size": "full"}, {"optimizer": "sgd", "batch_size": 16}]))


def test_init_std_reaches_the_normal_initialization(write_study):
    text = TINY_STUDY.replace("batch_size = 64", 'batch_size = 64\ninit = "normal"\ninit_std = 0.01')
    study = load_study(write_study(text))
    assert trial_config(study, {}).train.init_params == {"std": 0.01}
    assert "train.init_std" in _error(write_study, text.replace("init_std = 0.01", "init_std = 0.0"))


@pytest.mark.parametrize(("space", "expected"), [("", 9), ('max_epochs = { choice = [9, 27] }', 27), ('max_epochs = { choice = [3, 5] }', 9),
                                                 ('"train.max_epochs" = { randint = [2, 12] }', 12)])
def test_the_schedulers_horizon_is_the_most_epochs_a_trial_may_train(write_study, space, expected):
    """A searched max_epochs above [train] max_epochs: Ray's ASHA, given the fixed 9 as max_t,
    stopped the 27-epoch trials at 9 and wrote them pruned (weights not kept)."""
    from hpbench.dispatch.early_helper import EarlyRungs
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    text = TINY_STUDY.replace("max_epochs = 3", "max_epochs = 9").replace('scheduler = "none"', 'scheduler = "asha"')
    study = load_study(write_study(text.replace("[space]\n", f"[space]\n{space}\n")))
    assert study.max_epochs == expected
    rungs = EarlyRungs.of(study).epochs
    assert max(rungs, default=0) < expected  # the rungs lie below the horizon
    assert (9 in rungs) == (expected > 9)  # epoch 9 a rung the longer trials pass, not their end


@pytest.mark.parametrize(("model", "space", "refused"), [
    ('family = "gru"\ndropout = 0.3', "", True),  # the recurrent default: one layer
    ('family = "lstm"\nlayers = 1', '"model.dropout" = { uniform = [0.0, 0.5] }', True),
    ('family = "lstm"\nlayers = 2\ndropout = 0.3', "", False),
    ('family = "gru"', '"model.dropout" = { uniform = [0.0, 0.5] }\n"model.layers" = { choice = [1, 2] }', False),
    ('family = "gru"\ndropout = 0.3', 'family = { choice = ["gru", "transformer"] }', False),  # the transformer's dropout acts at one layer
])
def test_recurrent_dropout_with_one_layer_is_refused(write_study, model, space, refused):
    """PyTorch's recurrent dropout acts between stacked layers: with one layer hpbench set it to
    0 without a word, and a searched dropout showed an importance it could not have."""
    text = TINY_STUDY.replace('family = "mlp"\ndepth = 1\nwidth = 32', model).replace('dataset = "digits"', 'dataset = "signals"')
    text = text.replace('preprocess = ["standardize"]', 'preprocess = ["standardize"]\nn_samples = 60\nlength = 8')
    text = text.replace("[space]\n", f"[space]\n{space}\n")
    if refused:
        assert "acts between stacked recurrent layers" in _error(write_study, text)
    else:
        from hpbench.study.parse import load_study

        load_study(write_study(text))


@pytest.mark.parametrize(("space", "refused", "hint"), [
    ('"optimizer.momentum" = { uniform = [0.5, 0.99] }', True, 'add when = { optimizer = ["momentum", "rmsprop"] }'),
    ('"optimizer.momentum" = { uniform = [0.5, 0.99], when = { optimizer = ["momentum"] } }', False, ""),
    ('"optimizer.momentum" = { uniform = [0.5, 0.99], when = { "optimizer.name" = ["adam", "momentum"] } }', True,
     'make it when = { optimizer = ["momentum"] }'),
    ('"optimizer.weight_decay" = { loguniform = [1e-5, 1e-2] }', False, ""),  # every optimizer takes it
    ('"optimizer.eps" = { loguniform = [1e-9, 1e-6] }', True, 'add when = { optimizer = ["adam", "rmsprop"] }'),
    # a child of a dimension conditioned on the optimizer is active only where its parent is
    ('"optimizer.momentum" = { choice = [0.5, 0.9], when = { optimizer = ["momentum", "rmsprop"] } }\n'
     '"optimizer.eps" = { loguniform = [1e-9, 1e-6], when = { "optimizer.momentum" = [0.9] } }', True,
     'make it when = { "optimizer.momentum" = [0.9], optimizer = ["rmsprop"] }'),
])
def test_a_searched_optimizer_parameter_is_conditioned_on_the_optimizers_that_take_it(write_study, space, refused, hint):
    """build_optimizer drops a parameter the trial's optimizer does not take: Adam trials of a
    study searching an unconditioned optimizer.momentum recorded a momentum they never used, and
    fANOVA gave it an importance (bug hunt s47h3, finding 3)."""
    text = TINY_STUDY.replace('optimizer = { choice = ["adam", "sgd"] }', 'optimizer = { choice = ["adam", "momentum", "rmsprop"] }')
    text = text.replace("[space]\n", f"[space]\n{space}\n")
    if not refused:
        load_study(write_study(text))
        return
    with pytest.raises(StudyError) as info:
        load_study(write_study(text))
    message = str(info.value)
    assert "study.toml" in message and "space.optimizer." in message, message
    assert "is taken by the optimizer" in message and "not take it" in message, message
    assert hint in message, message


@pytest.mark.parametrize(("space", "refused", "hint"), [
    ('"model.hidden_size" = { choice = [16, 32] }', True, 'add when = { family = ["lstm"] }'),
    ('"model.hidden_size" = { choice = [16, 32], when = { family = ["lstm"] } }', False, ""),
    ('"model.dropout" = { uniform = [0.0, 0.3] }', False, ""),  # both families take it (layers = 2: the LSTM's acts)
])
def test_a_searched_family_parameter_is_conditioned_on_the_families_that_take_it(write_study, space, refused, hint):
    """MLP trials of ``family = ["mlp", "lstm"]`` with an unconditioned model.hidden_size recorded
    a hidden size the MLP never had (build_model drops a parameter the family does not take)."""
    text = TINY_STUDY.replace('family = "mlp"\ndepth = 1\nwidth = 32', 'family = "mlp"\nlayers = 2')
    text = text.replace("[space]\n", f'[space]\nfamily = {{ choice = ["mlp", "lstm"] }}\n{space}\n')
    if not refused:
        load_study(write_study(text))
        return
    message = _error(write_study, text)
    assert "space.model.hidden_size" in message and "which does not take it" in message, message
    assert hint in message, message


@pytest.mark.parametrize(("space", "refused", "hint"), [
    ('lr_schedule = { choice = ["constant", "step", "cosine"] }\n"lr_schedule.gamma" = { uniform = [0.1, 0.9] }', True,
     'add when = { lr_schedule = ["step"] }'),
    ('lr_schedule = { choice = ["constant", "step", "cosine"] }\n'
     '"lr_schedule.gamma" = { uniform = [0.1, 0.9], when = { lr_schedule = ["step"] } }', False, ""),
    ('lr_schedule = { choice = ["step", "exponential"] }\n"lr_schedule.gamma" = { uniform = [0.1, 0.9] }', False, ""),  # both take it
    ('init = { choice = ["xavier_uniform", "normal"] }\n"train.init_std" = { loguniform = [0.01, 0.1] }', True,
     'add when = { init = ["normal"] }'),
    ('init = { choice = ["xavier_uniform", "normal"] }\n"train.init_std" = { loguniform = [0.01, 0.1], when = { init = ["normal"] } }',
     False, ""),
    ('lr_schedule = { choice = ["constant", "step"] }\n"lr_schedule.step_size" = { randint = [2, 5], when = { lr_schedule = ["step"] } }\n'
     '"lr_schedule.gamma" = { uniform = [0.1, 0.9], when = { "lr_schedule.step_size" = [2] } }', False, ""),  # active through its parent
])
def test_a_searched_schedule_or_initialization_parameter_is_conditioned_on_those_that_take_it(write_study, space, refused, hint):
    """The rule of the optimizers' and families' parameters holds for the schedules' and the
    initializations' (session 47 left them out): a constant schedule's trials recorded a gamma,
    Xavier's an init_std, each ranked and given an importance, though ``build_schedule`` and
    ``initialize`` drop what they do not take."""
    text = TINY_STUDY.replace("[space]\n", f"[space]\n{space}\n")
    if not refused:
        load_study(write_study(text))
        return
    message = _error(write_study, text)
    assert "study.toml" in message and ("which does not take it" in message or "which do not take it" in message), message
    assert hint in message, message


@pytest.mark.parametrize(("train", "space", "refused"), [
    ('init = "xavier_uniform"', '"train.init_std" = { grid = [0.001, 0.5, 5.0] }', "space.train.init_std"),
    ("init_std = 0.5", "", "train.init_std"),  # PyTorch's own initialization ("default") takes none
    ('init = "normal"', '"train.init_std" = { loguniform = [0.01, 0.1] }', None),
    ('init = "normal"\ninit_std = 0.02', "", None),
])
def test_init_std_with_a_fixed_initialization_that_takes_none_is_refused(write_study, train, space, refused):
    """A grid over train.init_std with init = "xavier_uniform" ran three identical trials, the
    value recorded and ranked though ignored (bug hunt s48/h5); init_std set in [train] beside
    such an init was ignored without a word."""
    text = TINY_STUDY.replace("batch_size = 64", f"batch_size = 64\n{train}").replace("[space]\n", f"[space]\n{space}\n")
    if refused is None:
        study = load_study(write_study(text))
        assert study.config["train"]["init"] == "normal"
        return
    message = _error(write_study, text)
    assert f"{refused}: is the standard deviation of init = \"normal\" only" in message and 'set [train] init = "normal"' in message, message


def test_a_user_familys_parameters_are_its_own(write_study):
    """A family named by 'package.module:build' is given every model parameter: nothing to refuse."""
    text = TINY_STUDY.replace('family = "mlp"\ndepth = 1\nwidth = 32', 'family = "mlp"')
    text = text.replace("[space]\n", '[space]\nfamily = { choice = ["lstm", "tests.helpers.flaky:build"] }\n'
                                      '"model.hidden_size" = { choice = [16, 32] }\n')
    load_study(write_study(text))


def test_a_condition_on_a_continuous_key_is_refused(write_study):
    """``when = { lr = [0.01] }`` on a loguniform lr was accepted: the child was active only when
    a draw equalled 0.01 exactly, so in effect never."""
    text = TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }',
                              'lr = { loguniform = [1e-3, 1e-1] }\n"model.dropout" = { uniform = [0.0, 0.5], when = { lr = [0.01] } }')
    message = _error(write_study, text)
    assert "space.model.dropout.when.lr" in message and "listed values" in message and "loguniform" in message


def test_an_enqueued_point_naming_one_setting_twice_is_refused(write_study):
    """``{ lr = 0.01, "optimizer.lr" = 0.02 }`` was accepted, the last value winning."""
    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "random"\nenqueue = [{ lr = 0.01, "optimizer.lr" = 0.02 }]')
    message = _error(write_study, text)
    assert "study.enqueue[0].optimizer.lr" in message and "second time" in message


def test_early_stopping_false_turns_it_off_and_true_takes_keras_defaults(tmp_path):
    """`early_stopping = false` was refused as "must be a table", though leaving the key out is how it is off."""
    study = load_study(STUDIES / "quickstart.toml", overrides=["train.early_stopping=false"])
    assert "early_stopping" not in study.config["train"]
    assert trial_config(study, {"optimizer": "adam", "lr": 0.01, "batch_size": 64, "init": "zeros", "model.depth": 1, "model.width": 32,
                                "model.activation": "relu"}).train.early_stopping is None
    on = load_study(STUDIES / "quickstart.toml", overrides=["train.early_stopping=true"])
    es = on.config["train"]["early_stopping"]
    assert (es["monitor"], es["patience"], es["restore_best_weights"]) == ("val_loss", 0, False)
    with pytest.raises(StudyError, match=r"train.early_stopping: must be a table like .* \(or false: off\), but got 3"):
        load_study(STUDIES / "quickstart.toml", overrides=["train.early_stopping=3"])


@pytest.mark.parametrize(("override", "said"), [
    ('study.searcher="TPE"', "study.searcher: unknown searcher, but got 'TPE' (did you mean 'tpe'?)"),
    ('study.scheduler="ASHA"', "(did you mean 'asha'?)"),
    ('train.device="gpu"', "train.device: unknown device, but got 'gpu' (did you mean 'cuda'?)"),
    ('study.metric="accuracy"', "but got 'accuracy' (did you mean 'val_accuracy'?)"),
    ('study.metric="val_acc"', "(did you mean 'val_accuracy'?)"),
])
def test_a_name_in_another_case_or_a_common_synonym_is_named(override, said):
    """'TPE' and 'ASHA' got the list of options (difflib compares case), 'gpu' got "did you mean 'cpu'?"
    and the metric 'accuracy' no hint at all."""
    with pytest.raises(StudyError) as err:
        load_study(STUDIES / "quickstart.toml", overrides=[override])
    assert said in str(err.value)


def test_did_you_mean_keeps_the_closest_match_and_lists_the_options_when_none_is_close():
    from hpbench.errors import did_you_mean

    assert did_you_mean("cosinus", ["cosine", "step"]) == "did you mean 'cosine'?"
    assert did_you_mean("zzz", ["b", "a"]) == "expected one of: a, b"
    assert did_you_mean("gpu", ["cpu", "auto"]) == "did you mean 'cpu'?"  # a synonym only where its option is offered
    assert did_you_mean("x", []) == ""
    # Optuna's and Ray Tune's names of the distributions
    assert did_you_mean("categorical", ["choice", "grid", "loguniform", "randint", "uniform"]) == "did you mean 'choice'?"
    assert did_you_mean("grid_search", ["choice", "grid", "loguniform", "randint", "uniform"]) == "did you mean 'grid'?"


@pytest.mark.parametrize(("name", "what"), [("sales.xlsx", "an Excel workbook: save it as CSV"), ("rows.tsv", "a tab-separated file"),
                                            ("frame.pkl", "a pickle, not read (unpickling runs code)")])
def test_a_data_file_of_a_kind_hpbench_does_not_read_is_told_what_to_save_it_as(name, what):
    """An Excel, TSV, JSON or pickle file got "unknown dataset" and the list of the built-in ones."""
    with pytest.raises(StudyError) as err:
        load_study(STUDIES / "quickstart.toml", overrides=[f'data.dataset="{name}"'])
    said = str(err.value)
    assert f"data.dataset: must be a file hpbench reads (.csv, .csv.gz/.bz2/.xz, .parquet, .npz, .npy) or 'package.module:load' (your own loader), but got '{name}'" in said
    assert what in said and "digits" not in said


def test_a_warm_up_as_long_as_the_training_is_refused_in_one_reading(tmp_path):
    """The message said "..., but max_epochs=2, but got 2.0" (bug hunt s47h1)."""
    path = tmp_path / "wc.toml"
    path.write_text('[study]\nname = "wc"\ntrials = 2\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n[train]\nmax_epochs = 2\n'
                    '[lr_schedule]\nname = "warmup_cosine"\nwarmup_epochs = 2\n')
    with pytest.raises(StudyError) as err:
        load_study(path)
    text = str(err.value)
    assert "lr_schedule.warmup_epochs: must be < train.max_epochs (2: " in text and text.count("but") == 1, text


def test_a_file_name_the_name_rule_refuses_gives_a_name_it_takes(tmp_path):
    """``my study.toml`` (no [study] name) was refused as "study.name: must use only letters ...,
    but got 'my study'", a key the file does not have (bug hunt s49/h2); its default name reads
    each refused character as '_'. A name the file sets is still held to the rule."""
    path = tmp_path / "my study (v2).toml"
    path.write_text('[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n[train]\nmax_epochs = 1\n', encoding="utf-8")
    assert load_study(path).name == "my_study__v2_"
    path.write_text('[study]\nname = "my study"\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n', encoding="utf-8")
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert info.value.key == "study.name" and info.value.value == "my study"


def test_a_byte_order_mark_is_read_past_and_deep_nesting_is_a_study_error(tmp_path):
    """A UTF-8 byte-order mark (Windows editors) read "malformed TOML: Invalid statement (at line 1,
    column 1)"; ~1,000 nested arrays, in the file or a --set value, ended in a RecursionError
    traceback (bug hunt s49/h2)."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[study]\nname = "bom"\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n')
    assert load_study(path).name == "bom"
    deep = "[" * 3000 + "]" * 3000
    path.write_text(f'[study]\nname = "deep"\nx = {deep}\n', encoding="utf-8")
    with pytest.raises(StudyError, match="nested too deeply"):
        load_study(path)
    path.write_bytes(b"\xef\xbb\xbf" + b'[study]\nname = "bom"\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n')
    with pytest.raises(StudyError, match="nested too deeply") as info:
        load_study(path, overrides=[f"train.x={deep}"])
    assert info.value.source == "--set"


def test_a_toml_date_is_shown_as_written_and_a_device_is_not_called_missing(tmp_path):
    """A TOML date read "but got datetime.date(1979, 5, 27)"; /dev/null as the study read "study
    file must exist" of a path that exists (bug hunt s49/h2)."""
    path = tmp_path / "d.toml"
    path.write_text('[study]\nname = "d"\ntrials = 1979-05-27\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n', encoding="utf-8")
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert "but got 1979-05-27" in str(info.value) and "datetime" not in str(info.value)
    with pytest.raises(StudyError, match="not a device or other special file"):
        load_study("/dev/null")


def test_a_value_a_set_override_gave_is_blamed_on_the_override(tmp_path):
    """A bad ``--set`` value was named as the study file's ("s.toml: train.max_epochs: must be >=
    1, but got -1"), whose own value was fine (bug hunt s49/h2); the file's own problems stay its."""
    path = tmp_path / "s.toml"
    path.write_text('[study]\ntrials = 0\n[data]\ndataset = "iris"\n[model]\nfamily = "mlp"\n[train]\nmax_epochs = 1\n'
                    '[space]\nlr = { loguniform = [1e-3, 1e-1] }\n', encoding="utf-8")
    with pytest.raises(StudyError) as info:
        load_study(path, overrides=["train.max_epochs=-1", "space.lr={loguniform=[0, 1]}"])
    by_key = {p.key: p.source for p in info.value.problems}
    assert by_key == {"study.trials": str(path), "train.max_epochs": f"{path} (--set)", "space.lr.loguniform": f"{path} (--set)"}, by_key


def test_a_family_of_the_wrong_type_is_the_one_error_of_model(tmp_path):
    """``family = {a = 1}`` also called the family's own keys unknown ("model.depth: unknown key
    (expected one of: family, freeze, init_from, task)"; bug hunt s49/h2): with no family read,
    they cannot be judged."""
    path = tmp_path / "s.toml"
    path.write_text('[data]\ndataset = "iris"\n[model]\nfamily = { a = 1 }\ndepth = 2\nwidth = 32\n', encoding="utf-8")
    with pytest.raises(StudyError) as info:
        load_study(path)
    assert [p.key for p in info.value.problems] == ["model.family"], [str(p) for p in info.value.problems]
