"""Fused siblings (hpbench.dispatch.early_group, hpbench.train.fused): configurations equal but
for their learning rate and initialization train as one stacked model, each member as its own run
alone would (its lr, its rows, its early stopping, its rung decisions); the early trials ask them
from the searcher with the rest of the configuration fixed, and submit each group as one call."""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor, Future
from pathlib import Path

import pytest
from test_models import cfg

from hpbench.config import EarlyStoppingConfig, ScheduleConfig, lr_scalable, siblings_differ
from hpbench.dispatch.early import EARLY_ID
from hpbench.dispatch.siblings import sibling_keys
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY

torch = pytest.importorskip("torch")

from hpbench.train.fused import train_fused  # noqa: E402
from hpbench.train.trainer import train  # noqa: E402

MLP = {"depth": 2, "width": 32, "dropout": 0.0, "activation": "relu"}
LRS = (0.002, 0.01, 0.05)
INITS = ("xavier_uniform", "kaiming_normal", "orthogonal")
# The fused step moves each member from where it was by its lr times the step taken at lr 1
# (a lerp) where its run alone steps at its lr: the two round differently in the last bits, and
# training compounds that over a few epochs (each case's 3-5 epochs, float32).
REL = 1e-4


def siblings(**kw):
    return [cfg(seed=0, lr=lr, init=init, **kw) for lr, init in zip(LRS, INITS, strict=True)]


def with_schedule(cfgs, name, **params):
    return [dataclasses.replace(c, lr_schedule=ScheduleConfig(name=name, params=params)) for c in cfgs]


CASES = {f"{opt}": siblings(dataset="iris", model=MLP, optimizer=opt, epochs=3, batch_size=16,
                            opt_params={"momentum": 0.9} if opt in ("momentum", "nesterov") else ({"weight_decay": 0.05} if opt == "adamw" else None))
         for opt in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw")}
CASES["adam, early stopping, digits"] = siblings(dataset="digits", model=MLP, epochs=6, batch_size=64,
                                                 es=EarlyStoppingConfig(monitor="val_loss", patience=1, restore_best_weights=True))
CASES["momentum, step schedule"] = with_schedule(siblings(dataset="wine", model=MLP, optimizer="momentum", epochs=4, batch_size=16), "step",
                                                 step_size=2, gamma=0.5)
CASES["sgd, one cycle"] = with_schedule(siblings(dataset="wine", model=MLP, optimizer="sgd", epochs=3, batch_size=32), "one_cycle")


@pytest.mark.parametrize("case", list(CASES))
def test_siblings_trained_fused_match_each_run_alone(case):
    cfgs = CASES[case]
    fused = train_fused(cfgs)
    alone = [train(c) for c in cfgs]
    for c, f, a in zip(cfgs, fused, alone, strict=True):
        assert len(f.history) == len(a.history) and f.stop_reason == a.stop_reason and f.best_epoch == a.best_epoch
        for rf, ra in zip(f.history, a.history, strict=True):
            assert rf["learning_rate"] == pytest.approx(ra["learning_rate"], rel=1e-6)  # each member's own
            for k in ("train_loss", "val_loss", "val_accuracy"):
                assert rf[k] == pytest.approx(ra[k], rel=REL, abs=1e-6), (case, c.optimizer.lr, rf["epoch"], k)
    # the members differ: another lr or init moves the loss far more than the tolerance
    losses = [f.history[-1]["val_loss"] for f in fused]
    assert min(abs(x - y) / abs(y) for i, x in enumerate(losses) for y in losses[i + 1:]) > 100 * REL


def test_what_siblings_may_differ_in():
    base = siblings(dataset="iris", model=MLP)
    assert siblings_differ(base) is None
    wider = cfg(seed=0, dataset="iris", model={**MLP, "width": 64})
    assert "differ in more than" in siblings_differ([*base, wider])
    other_opt = cfg(seed=0, dataset="iris", model=MLP, optimizer="sgd")
    assert "differ in more than" in siblings_differ([base[0], other_opt])
    floor = with_schedule(base, "cosine", eta_min=1e-4)  # an absolute lr floor: members cannot share it at lr 1
    assert not lr_scalable(floor[0]) and "eta_min" in siblings_differ(floor)
    assert siblings_differ([dataclasses.replace(c, optimizer=dataclasses.replace(c.optimizer, lr=0.01)) for c in floor]) is None
    assert lr_scalable(with_schedule(base, "cosine")[0]) and lr_scalable(with_schedule(base, "exponential", gamma=0.9)[0])
    with pytest.raises(ValueError, match="differ in more than"):
        train_fused([*base, wider])


def test_a_member_its_report_stops_leaves_the_stack_without_an_outcome():
    cfgs = siblings(dataset="iris", model=MLP, epochs=4, batch_size=32)
    seen: list[tuple[int, int]] = []

    def report(k, row, record):
        seen.append((k, row["epoch"]))
        return k == 1 and row["epoch"] == 2  # member 1 pruned at epoch 2

    out = train_fused(cfgs, report=report)
    assert [(k, e) for k, e in seen if k == 1] == [(1, 1), (1, 2)]  # no epoch after it stopped
    assert sorted(e for k, e in seen if k != 1) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert len(out) == 2 and [len(o.history) for o in out] == [4, 4]
    alone = train(cfgs[2])  # the others trained on as they would have
    assert out[1].history[-1]["val_loss"] == pytest.approx(alone.history[-1]["val_loss"], rel=REL)


SPACE = TINY_STUDY.replace("trials = 4", "trials = 12\nfuse_siblings = 3").replace(
    '[space]\n', '[space]\ninit = { choice = ["xavier_uniform", "orthogonal"] }\n"model.width" = { choice = [16, 32] }\n')


def test_sibling_keys_are_the_searched_lr_and_init(write_study):
    study = load_study(write_study(SPACE))
    params = {"optimizer": "adam", "lr": 0.01, "init": "orthogonal", "model.width": 16}
    assert set(sibling_keys(study.space, params, lr_scalable=True)) == {"lr", "init"}
    assert sibling_keys(study.space, params, lr_scalable=False) == ("init",)
    fixed = load_study(write_study(TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }', ''), name="fixed.toml"))
    assert sibling_keys(fixed.space, {"optimizer": "adam"}, lr_scalable=True) == ()


class Held(Executor):
    """Runs nothing: the test completes each call's future (what it was called with is kept)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.futures: list[Future] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.calls.append((fn, args, kwargs))
        self.futures.append(Future())
        return self.futures[-1]


def _outcome(best: float) -> dict:
    return {"rows": [{"epoch": 1, "val_accuracy": best, "stop_reason": "completed"}], "error": None, "weights_file": None,
            "started_at": 0.0, "ended_at": 0.0}


def test_the_early_trials_launch_siblings_as_one_call_and_the_next_group_once_all_ended(write_study, tmp_path: Path):
    import optuna

    from hpbench.dispatch.early_group import run_early_group
    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.storage import open_storage, sqlite_url

    study = load_study(write_study(SPACE))
    held = Held()
    early = launch(study, n=2, storage=open_storage(sqlite_url(tmp_path / "optuna.db")), sampler=optuna.samplers.RandomSampler(seed=0),
                   points=[], executor=held, incoming=str(tmp_path / "incoming"), n_max=12)
    assert len(held.calls) == 1 and held.calls[0][0] is run_early_group  # 3 siblings (fuse_siblings), one call
    group = held.calls[0][1][1]
    assert len(group) == 3 and [t.trial_id for t in early.trials] == [EARLY_ID.format(i) for i in range(3)]
    assert [t.params for t in early.trials] == group
    for p in group[1:]:  # drawn with the leader's optimizer and width, their own lr and init
        assert (p["optimizer"], p["model.width"]) == (group[0]["optimizer"], group[0]["model.width"])
    assert len({p["lr"] for p in group}) == 3
    assert held.calls[0][2]["claim_files"] == [early.claim_file(EARLY_ID.format(i)) for i in range(3)]
    held.futures[0].set_result([_outcome(0.5), _outcome(0.7), _outcome(0.6)])
    assert [t.future.result()["rows"][0]["val_accuracy"] for t in early.trials[:3]] == [0.5, 0.7, 0.6]  # each member's own
    assert len(held.calls) == 2 and len(early.trials) == 6  # the next group, once the whole group ended
    told: list[str] = []
    early.harvest(lambda tid, outcome: told.append(tid))
    assert told == [EARLY_ID.format(i) for i in range(3)]
    trials = early.ostudy.trials
    assert [t.state.name for t in trials[:3]] == ["COMPLETE"] * 3 and [t.value for t in trials[:3]] == [0.5, 0.7, 0.6]
    held.futures[1].set_exception(RuntimeError("the helper died"))  # every member of a failed call fails
    early.stop()
    early.harvest(lambda tid, outcome: told.append(tid))
    assert told[3:] == [EARLY_ID.format(i) for i in range(3, 6)] and all(t.state.name == "FAIL" for t in early.ostudy.trials[3:6])


def test_the_study_default_leads_a_group_and_the_next_point_follows_it(write_study, tmp_path: Path):
    import optuna

    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.storage import open_storage, sqlite_url

    study = load_study(write_study(SPACE))
    held = Held()
    points = [{"optimizer": "adam", "lr": 0.001, "init": "orthogonal", "model.width": 32}, {"optimizer": "sgd", "lr": 0.05, "init": "orthogonal",
                                                                                           "model.width": 16}]
    early = launch(study, n=2, storage=open_storage(sqlite_url(tmp_path / "optuna.db")), sampler=optuna.samplers.RandomSampler(seed=0),
                   points=points, executor=held, incoming=str(tmp_path / "incoming"), n_max=12)
    first = held.calls[0][1][1]
    assert first[0] == points[0] and all(p["optimizer"] == "adam" and p["model.width"] == 32 for p in first)
    held.futures[0].set_result([_outcome(0.5)] * 3)
    assert held.calls[1][1][1][0] == points[1] and early.n_points == 2  # the second point next, though siblings took numbers 1-2


def test_a_group_in_one_call_prunes_at_the_rungs_saves_the_finished_and_stops_on_request(write_study, tmp_path: Path):
    from hpbench.dispatch.early_group import run_early_group
    from hpbench.dispatch.early_helper import STOP_FILE, EarlyRungs

    study = load_study(write_study(SPACE.replace("max_epochs = 3", "max_epochs = 4").replace('scheduler = "none"', 'scheduler = "asha"')))
    base = {"optimizer": "adam", "init": "orthogonal", "model.width": 32}
    params = [{**base, "lr": 0.01}, {**base, "lr": 1e-3}, {**base, "lr": 0.05}]
    rungs = EarlyRungs.of(study)
    assert rungs.epochs == frozenset({1, 3})
    high = rungs.with_value(1, 0.99).with_value(1, 0.98)  # two trials before scored high at epoch 1: a member below both stops there
    incoming = tmp_path / "incoming"
    out = run_early_group(study, params, str(incoming), rungs=high)
    assert all(o["error"] is None for o in out)
    for o in out:
        if o["weights_file"] is None:  # pruned at epoch 1: its row kept, no stop reason
            assert [r["epoch"] for r in o["rows"]] == [1] and "stop_reason" not in o["rows"][-1]
        else:
            assert Path(o["weights_file"]).is_file() and "stop_reason" in o["rows"][-1]
    assert any(o["weights_file"] is None for o in out)  # 0.98 at epoch 1 on iris-sized digits is out of reach
    free = run_early_group(study, params, str(incoming), rungs=rungs)  # empty rungs: the first member of each rung goes on
    assert [r["epoch"] for r in free[0]["rows"]] == [1, 2, 3, 4]
    assert len({tuple(r["val_loss"] for r in o["rows"][:1]) for o in free}) == 3  # each member its own lr
    (incoming / STOP_FILE).write_text("")
    stopped = run_early_group(study, params, str(incoming), rungs=rungs)
    assert all(o["interrupted"] and o["rows"] == [] for o in stopped)  # asked before it began: none trains


@pytest.mark.slow
def test_a_search_records_each_fused_sibling_as_its_own_trial(ray_local, tmp_path: Path):
    import optuna

    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search

    path = tmp_path / "g.toml"
    path.write_text(SPACE.replace('searcher = "random"', 'searcher = "tpe"'))
    study = load_study(path)
    run_search(study, SearchOptions(out=tmp_path / "out"))
    trials = hpbench.load(tmp_path / "out").sort_values("trial")
    epochs = hpbench.load(tmp_path / "out", table="epochs")
    assert len(trials) == 12 and trials["trial"].tolist() == list(range(12))
    early = trials[trials["trial_id"].str.startswith("early_")]
    first = early.iloc[:3]  # the study's default configuration and two siblings, trained as one stack
    assert len(early) >= 3 and first["optimizer"].nunique() == 1 and first["model.width"].nunique() == 1 and first["lr"].nunique() == 3
    assert (early["status"] == "finished").all() and early["best_val_accuracy"].notna().all()
    assert epochs[epochs["trial"].isin(first["trial"])].groupby("trial")["epoch"].max().tolist() == first["epochs"].tolist()
    ran_out = first[first["stop_reason"].notna()]  # the trainer ended them (not a rung): their weights are kept
    assert all((tmp_path / "out" / "weights" / f"{n}.pt").is_file() for n in ran_out["trial"])
    told = optuna.load_study(study_name=study.name, storage=f"sqlite:///{tmp_path / 'out' / 'optuna.db'}").trials
    assert len(told) == 12 and all(t.state.name in ("COMPLETE", "PRUNED") for t in told)
    assert sorted(told[i].params["lr"] for i in range(3)) == pytest.approx(sorted(first["lr"]), rel=1e-9)
