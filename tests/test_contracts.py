"""One contract per extension point, run over every registry entry: a new optimizer,
initializer, model family, dataset, searcher or scheduler is tested by registering it.

No training and no Ray runtime: optimizers and families take one step on a tiny tensor,
searchers suggest one configuration from a small study, schedulers are built.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from hpbench.data.datasets import DATASETS, TASKS
from hpbench.dispatch.schedulers import SCHEDULERS, decision_epochs, make_scheduler
from hpbench.dispatch.searchers import SEARCHERS, make_searcher, n_trials
from hpbench.models import FAMILIES, build_model
from hpbench.strategies import TRAIT_VALUES, SchedulerTraits, scheduler_traits
from hpbench.study.parse import parse_study
from hpbench.train.initializers import INITIALIZERS, initialize
from hpbench.train.optimizers import OPTIMIZERS, build_optimizer
from hpbench.train.tasks import loss_fn

# The input kinds a model may be given, as one sample's shape: tabular features, a one-channel
# image (digits' 8x8), a sequence of (time, features) (the adding problem's two features).
KINDS: dict[str, tuple[int, ...]] = {"tabular": (10,), "image": (1, 8, 8), "sequence": (12, 2)}
N_OUT = 3


def _tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def _step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: Any = None) -> float:
    """One forward/backward pass (and optimizer step when given) with cross-entropy; returns the loss."""
    out = model(x)
    loss = loss_fn("multiclass")(out, y)
    loss.backward()
    if optimizer is not None:
        optimizer.step()
    return float(loss.detach())


# -- optimizers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimizer_builds_with_its_defaults_and_one_step_changes_the_parameters(name):
    model = _tiny_model()
    opt = build_optimizer(name, model.parameters(), lr=0.05, params={})
    assert isinstance(opt, torch.optim.Optimizer)
    before = [p.detach().clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(0)
    opt.zero_grad()
    loss = _step(model, torch.randn(16, 4, generator=g), torch.randint(0, 2, (16,), generator=g), opt)
    assert np.isfinite(loss)
    after = list(model.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True)), f"{name}: one step left every parameter unchanged"


# -- initializers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_initializer_sets_every_weight_and_the_model_still_steps(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    n = initialize(model, name, activation="relu", params={})
    weights = [k for k, p in model.named_parameters() if p.dim() >= 2]
    if name == "default":  # PyTorch's own initialization, left as it is
        assert n == 0 and all(torch.equal(p, before[k]) for k, p in model.named_parameters())
    else:
        assert n == len(weights) == 3
        assert all(not p.any() for k, p in model.named_parameters() if k.endswith("bias"))
        assert torch.equal(model[4].weight, before["4.weight"]), "a norm's scale (1-D) keeps its default"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    g = torch.Generator().manual_seed(0)
    assert np.isfinite(_step(model, torch.randn(5, 1, 8, 8, generator=g), torch.randint(0, 2, (5,), generator=g)))


# -- model families --------------------------------------------------------------------------------
def _accepts(family: str, shape: tuple[int, ...]) -> nn.Module | None:
    """The family's model for inputs of ``shape`` (its defaults), or None where the family refuses
    that kind of input with a ValueError that names the shape."""
    try:
        return build_model(family, input_shape=shape, n_outputs=N_OUT, params={})  # type: ignore[no-any-return]
    except ValueError as err:
        assert str(shape) in str(err), f"{family}: the refusal should name the shape {shape}: {err}"
        return None


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_builds_and_steps_on_each_input_kind_it_accepts(family, kind):
    shape = KINDS[kind]
    torch.manual_seed(0)
    model = _accepts(family, shape)
    if model is None:
        pytest.skip(f"{family} does not take {kind} inputs {shape}")
    assert isinstance(model, nn.Module)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, *shape, generator=g), torch.randint(0, N_OUT, (4,), generator=g)
    model.train()
    assert tuple(model(x).shape) == (4, N_OUT)
    assert np.isfinite(_step(model, x, y))
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(gr is not None and torch.isfinite(gr).all() for gr in grads), f"{family}: a parameter got no finite gradient"
    assert any(gr.abs().sum() > 0 for gr in grads if gr is not None)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_takes_at_least_one_input_kind(family):
    assert any(_accepts(family, shape) is not None for shape in KINDS.values())


# -- datasets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_loads_with_its_declared_task_and_shape(name):
    from hpbench.data.prepare import load_raw

    entry = DATASETS.get(name)
    raw = load_raw(name, {})
    assert raw.task == entry.meta["task"] and raw.task in TASKS
    assert raw.image == bool(entry.meta.get("image", False))
    assert raw.x.dtype == np.float32 and raw.x.ndim >= 2 and len(raw.x) == len(raw.y) > 0
    assert np.isfinite(raw.x).all() and np.isfinite(raw.y).all()
    if raw.image:
        assert len(raw.input_shape) == 3, f"{name}: an image dataset's samples are (C, H, W), not {raw.input_shape}"
    if raw.task == "regression":
        assert raw.y.dtype == np.float32 and raw.n_outputs == 1
    else:
        assert raw.y.dtype == np.int64 and set(np.unique(raw.y)) == set(range(max(raw.n_outputs, 2)))


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_feeds_a_model_one_step(name):
    """A few samples through an MLP with the task's loss: shapes, dtypes and targets fit together."""
    from hpbench.data.prepare import load_raw

    raw = load_raw(name, {})
    torch.manual_seed(0)
    model = build_model("mlp", input_shape=raw.input_shape, n_outputs=raw.n_outputs, params={"depth": 1, "width": 8})
    x, y = torch.from_numpy(raw.x[:8]), torch.from_numpy(raw.y[:8])
    loss = loss_fn(raw.task)(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)


# -- searchers and schedulers (built, not run: no Ray runtime) --------------------------------------
def _study(**settings: Any) -> Any:
    """A small study with a finite space (so that every searcher, grid included, can take it)."""
    raw = {"study": {"name": "contract", "metric": "val_accuracy", "mode": "max", "trials": 3, **settings},
           "data": {"dataset": "iris"}, "model": {"family": "mlp", "depth": 1, "width": 8}, "train": {"max_epochs": 4},
           "space": {"optimizer": {"choice": ["adam", "sgd"]}, "lr": {"choice": [0.01, 0.1]}}}
    return parse_study(raw)


@pytest.mark.parametrize("name", SEARCHERS.names())
def test_searcher_builds_a_tune_searcher_that_suggests_from_the_space(name):
    import optuna
    from ray.tune.search import Searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _study(searcher=name)
    searcher = make_searcher(study, storage=optuna.storages.InMemoryStorage())
    assert isinstance(searcher, Searcher)
    config = searcher.suggest("contract-0")
    assert isinstance(config, dict) and config["optimizer"] in ("adam", "sgd") and config["lr"] in (0.01, 0.1), config
    assert n_trials(study) >= 1


@pytest.mark.parametrize("name", SCHEDULERS.names())
def test_scheduler_builds_a_tune_scheduler(name):
    from ray.tune.schedulers import TrialScheduler

    study = _study(scheduler=name)
    scheduler = make_scheduler(study, max_t=4)
    assert isinstance(scheduler, TrialScheduler)
    epochs = decision_epochs(study, max_t=4)
    assert all(1 <= e <= 4 for e in epochs)


@pytest.mark.parametrize("name", SCHEDULERS.names())
def test_a_schedulers_traits_are_ones_the_rest_of_hpbench_reads(name):
    """What a scheduler registers (hpbench.strategies.SchedulerTraits) decides the early trials'
    rungs, the epochs trials report at once and the estimate's replay: each value one they know."""
    from hpbench.cost.estimate import pruning
    from hpbench.dispatch.early_helper import EarlyRungs

    traits = scheduler_traits(name)
    assert traits.rungs in (None, "epochs", "seconds") and traits.replay in ("none", "asha", "hyperband", "median")
    assert all(SCHEDULERS.get(name).meta[k] in TRAIT_VALUES[k] for k in SCHEDULERS.get(name).meta)  # none unsaid by a typo
    study = _study(scheduler=name)
    assert pruning(study).kind == traits.replay
    assert bool(EarlyRungs.of(study).epochs) == (traits.rungs is not None)
    assert (EarlyRungs.of(study).evidence is not None) == traits.evidence


def test_the_median_rules_trials_report_every_epoch():
    """The median rule judges every epoch from its grace period on: its trials report each epoch at
    once, as asha-cost's do (they reported once a second, and a trial shorter than that was never
    judged); ASHA's report their rungs."""
    assert decision_epochs(_study(scheduler="median"), max_t=4) == frozenset({1, 2, 3, 4})
    assert decision_epochs(_study(scheduler="asha"), max_t=4) == frozenset({1, 3})


def test_a_plugin_scheduler_gets_what_its_traits_say():
    """A scheduler registered with ASHA's rungs and replay is treated as ASHA throughout, without
    its name written anywhere else; one registered with none of them prunes nothing before Tune."""
    from hpbench.cost.estimate import pruning
    from hpbench.dispatch.early_helper import EarlyRungs

    SCHEDULERS.register("contract-rungs", doc="a plugin's ASHA", rungs="epochs", replay="asha", colour="blue")(
        SCHEDULERS.get("asha").build)
    SCHEDULERS.register("contract-plain", doc="a plugin's FIFO", rungs="weeks")(SCHEDULERS.get("none").build)  # not a value: unsaid
    try:
        rungs, plain = _study(scheduler="contract-rungs"), _study(scheduler="contract-plain")
        assert scheduler_traits("contract-rungs") == SchedulerTraits(rungs="epochs", replay="asha")  # unknown meta ignored
        assert decision_epochs(rungs, max_t=4) == decision_epochs(_study(scheduler="asha"), max_t=4) == frozenset({1, 3})
        assert EarlyRungs.of(rungs).epochs == frozenset({1, 3}) and pruning(rungs).kind == "asha"
        assert decision_epochs(plain, max_t=4) == frozenset() and EarlyRungs.of(plain).epochs == frozenset()
        assert pruning(plain).kind == "none" and scheduler_traits("no-such-scheduler") == SchedulerTraits()
    finally:
        for n in ("contract-rungs", "contract-plain"):
            SCHEDULERS._entries.pop(n, None)
            SCHEDULERS._builtin.discard(n)


def test_the_study_keys_check_names_against_the_searcher_and_scheduler_registries():
    """[study] searcher / scheduler are checked against the registries themselves (hpbench/strategies.py,
    which both study/ and dispatch/ import): no copy of their names to keep equal, plugins' included."""
    from hpbench.registry import Registered
    from hpbench.study import keys as K

    assert K.STUDY["searcher"].rule == Registered(SEARCHERS)
    assert K.STUDY["scheduler"].rule == Registered(SCHEDULERS)


# -- report sections ---------------------------------------------------------------------------------
def test_report_sections_follow_the_one_list_of_names():
    from hpbench.report.names import SECTION_NAMES, SectionName
    from hpbench.report.sections import SECTIONS

    assert tuple(SECTIONS) == tuple(SectionName) and tuple(str(s) for s in SectionName) == SECTION_NAMES


def test_cli_offers_every_report_section(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from hpbench.cli import app
    from hpbench.report import matters
    from hpbench.report.names import SECTION_NAMES
    from tests.helpers.report_tables import write_bare

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(matters, "importance", lambda data, **_: {"available": False, "note": "not computed here"})  # Optuna's (slow)
    out = write_bare(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(out), "--json", *(arg for name in SECTION_NAMES for arg in ("--section", name))])
    assert res.exit_code == 0, res.output
    assert [k for k in json.loads(res.output) if k in SECTION_NAMES] == list(SECTION_NAMES)
    res = runner.invoke(app, ["report", str(out), "--section", "nope"])
    assert res.exit_code == 2 and all(name in res.output for name in SECTION_NAMES)
