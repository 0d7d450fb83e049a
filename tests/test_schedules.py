"""Learning-rate schedules, gradient clipping and label smoothing, through the real trainer on
tiny data (no Ray).

The learning rate of every optimizer step a trial takes is recorded with torch's global
optimizer step hook and compared, exactly, with torch's own scheduler of that kind built by
hand on a twin optimizer and stepped where PyTorch's documentation steps it (per epoch, or per
batch for warm-up + cosine and one-cycle; ReduceLROnPlateau fed the trial's own validation
metric). Closed forms check that the hand-built reference means what its name says.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
from test_models import cfg

from hpbench.config import EarlyStoppingConfig, ScheduleConfig, TrainConfig
from hpbench.train.schedules import SCHEDULES, Interval, interval

torch = pytest.importorskip("torch")

from torch.optim import lr_scheduler as S  # noqa: E402
from torch.optim.optimizer import register_optimizer_step_pre_hook  # noqa: E402

from hpbench.train import tasks  # noqa: E402
from hpbench.train.clipping import GradClip  # noqa: E402
from hpbench.train.epoch import train_epoch  # noqa: E402
from hpbench.train.precision import MixedPrecision, Precision  # noqa: E402
from hpbench.train.trainer import evaluate, load_data, train  # noqa: E402

LR = 0.05
EPOCHS = 6
BATCH = 32
STEPS = math.ceil(120 / BATCH)  # iris: 150 rows, val_fraction 0.2 -> 120 training rows -> 4 steps per epoch

# name -> (params as written in [lr_schedule], torch's scheduler of that kind on an optimizer)
CASES = {
    "constant": ({}, lambda o: None),
    "step": ({"step_size": 2, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=2, gamma=0.5)),
    "multistep": ({"milestones": [1, 4], "gamma": 0.3}, lambda o: S.MultiStepLR(o, milestones=[1, 4], gamma=0.3)),
    "exponential": ({"gamma": 0.8}, lambda o: S.ExponentialLR(o, gamma=0.8)),
    "cosine": ({"eta_min": 1e-3}, lambda o: S.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=1e-3)),
    "cosine_t_max": ({"t_max": 3}, lambda o: S.CosineAnnealingLR(o, T_max=3, eta_min=0.0)),
    "warmup_cosine": ({"warmup_epochs": 1.5, "eta_min": 1e-4},
                      lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.01, total_iters=6),
                                                   S.CosineAnnealingLR(o, T_max=EPOCHS * STEPS - 6, eta_min=1e-4)], milestones=[6])),
    "one_cycle": ({"pct_start": 0.25}, lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=EPOCHS * STEPS, pct_start=0.25, cycle_momentum=False)),
    "one_cycle_linear": ({"anneal_strategy": "linear", "three_phase": True, "div_factor": 10.0},
                         lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=EPOCHS * STEPS, anneal_strategy="linear", three_phase=True,
                                                div_factor=10.0, cycle_momentum=False)),
    "plateau": ({"patience": 0, "factor": 0.5}, lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=0)),
}


def schedule_cfg(case: str, *, epochs: int = EPOCHS, optimizer: str = "sgd", es: EarlyStoppingConfig | None = None):
    name = case.removesuffix("_t_max").removesuffix("_linear")
    c = cfg(dataset="iris", model={"depth": 1, "width": 8}, optimizer=optimizer, lr=LR, epochs=epochs, batch_size=BATCH, es=es)
    return dataclasses.replace(c, lr_schedule=ScheduleConfig(name=name, params=CASES[case][0]))


def step_lrs(c, **kw):
    """Train ``c``; returns (outcome, the learning rate of every optimizer step, in order)."""
    seen: list[float] = []
    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.append(opt.param_groups[0]["lr"]))
    try:
        out = train(c, **kw)
    finally:
        handle.remove()
    return out, seen


def reference(case: str, history: list[dict], *, monitor: str = "val_loss") -> list[float]:
    """The learning rate of each step under torch's own scheduler, stepped as documented."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    sched = CASES[case][1](opt)
    per_step = sched is not None and interval(case.removesuffix("_t_max").removesuffix("_linear")) is Interval.STEP
    lrs = []
    for epoch in range(len(history)):
        for _ in range(STEPS):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            if per_step:
                sched.step()
        if isinstance(sched, S.ReduceLROnPlateau):
            sched.step(history[epoch][monitor])
        elif sched is not None and not per_step:
            sched.step()
    return lrs


def test_every_registered_schedule_is_tested():
    assert {c.removesuffix("_t_max").removesuffix("_linear") for c in CASES} == set(SCHEDULES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_step_has_torchs_learning_rate_exactly(case):
    out, seen = step_lrs(schedule_cfg(case))
    assert len(out.history) == EPOCHS and len(seen) == EPOCHS * STEPS
    assert seen == reference(case, out.history)  # exact: the same float operations in the same order
    # the epochs table's learning_rate is the rate of the epoch's first step
    assert [r["learning_rate"] for r in out.history] == seen[::STEPS]


def test_the_references_mean_what_their_names_say():
    """Closed forms of three kinds (rel 1e-5: torch computes some of them recursively)."""
    h = [{"val_loss": 1.0}] * EPOCHS
    cos = reference("cosine", h)[::STEPS]
    assert cos == pytest.approx([1e-3 + (LR - 1e-3) * (1 + math.cos(math.pi * e / EPOCHS)) / 2 for e in range(EPOCHS)], rel=1e-5)
    warm, total, w = reference("warmup_cosine", h), EPOCHS * STEPS, 6
    expect = [LR * (0.01 + 0.99 * t / w) if t < w else 1e-4 + (LR - 1e-4) * (1 + math.cos(math.pi * (t - w) / (total - w))) / 2
              for t in range(total)]
    assert warm == pytest.approx(expect, rel=1e-5)
    cycle = reference("one_cycle", h)
    peak = round(0.25 * total) - 1  # OneCycleLR's first phase ends at step pct_start * total - 1
    assert cycle[0] == pytest.approx(LR / 25, rel=1e-5) and max(cycle) == pytest.approx(LR, rel=1e-5) and cycle.index(max(cycle)) == peak
    assert cycle[-1] < LR / 25 / 1e3


def test_plateau_watches_its_own_monitor_and_mode():
    c = schedule_cfg("plateau")
    c = dataclasses.replace(c, lr_schedule=ScheduleConfig(name="plateau", params={"monitor": "val_accuracy", "patience": 0, "factor": 0.5}))
    out, seen = step_lrs(c)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    ref = S.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0)  # accuracy: maximized
    expect = []
    for row in out.history:
        expect.append(opt.param_groups[0]["lr"])
        ref.step(row["val_accuracy"])
    assert seen[::STEPS] == expect


@pytest.mark.parametrize("case", ["one_cycle", "plateau", "step", "warmup_cosine"])
def test_a_resumed_trial_continues_the_schedule(case):
    """A trial restarted from its state after epoch 3 takes the same learning rates as one that
    never stopped (the scheduler's state travels with the checkpoint)."""
    states = []
    full, seen_full = step_lrs(schedule_cfg(case), on_state=lambda s: states.append(copy.deepcopy(s)))  # as a checkpoint file would hold it
    resumed, seen_rest = step_lrs(schedule_cfg(case), start_state=states[2])
    assert seen_rest == seen_full[3 * STEPS :]
    assert [r["learning_rate"] for r in resumed.history] == [r["learning_rate"] for r in full.history]


def test_an_early_stopped_trial_keeps_the_schedule_it_had():
    es = EarlyStoppingConfig(monitor="val_loss", mode="max", patience=1)  # stops after epoch 2
    out, seen = step_lrs(schedule_cfg("one_cycle", es=es))
    assert len(out.history) == 2 and seen == reference("one_cycle", out.history)


# -- gradient clipping -------------------------------------------------------------------------
def _grads(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def test_clip_norm_and_value_against_torch_and_by_hand():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    (model(torch.randn(16, 5)) * 100).pow(2).sum().backward()
    raw = _grads(model).clone()
    GradClip.of(list(model.parameters()), norm=0.5, value=None)()
    assert _grads(model).norm().item() == pytest.approx(0.5, rel=1e-5)
    assert torch.allclose(_grads(model), raw * (0.5 / raw.norm()), rtol=1e-5)
    for p, g in zip(model.parameters(), torch.split(raw, [p.numel() for p in model.parameters()]), strict=True):
        p.grad = g.reshape(p.shape).clone()
    GradClip.of(list(model.parameters()), norm=None, value=0.01)()
    assert torch.equal(_grads(model), raw.clamp(-0.01, 0.01))
    assert GradClip.of([], norm=None, value=None) is None


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_an_epoch_moves_the_weights_by_at_most_lr_times_clip_norm(precision):
    """One full-batch SGD step (lr 1) with clip_norm 1e-3 moves the weights by exactly 1e-3 in
    norm (the raw gradient is far larger). Under fp16 the gradients are unscaled before they
    are clipped: clipped while scaled by 1024 the step would be 1024 times shorter."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x, y = torch.randn(64, 4) * 10, torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0) if precision == "fp16" else None
    mixed = MixedPrecision(precision=Precision(precision), device_type="cpu", scaler=scaler)
    clip = GradClip.of(list(model.parameters()), norm=1e-3, value=None)
    train_epoch(model, opt, x=x, y=y, batch_size=64, loss_fn=torch.nn.CrossEntropyLoss(), generator=torch.Generator().manual_seed(0),
                precision=mixed, clip=clip)
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    # rel 1e-4: the difference of float32 weights of size ~0.3 keeps about 4 digits of a 1e-3 step
    assert (after - before).norm().item() == pytest.approx(1e-3, rel=1e-4)


def test_trainer_clips_when_asked():
    """Full-batch SGD with lr 1 and clip_norm 1e-4: the first epoch's validation loss hardly
    moves from the untrained model's, without clipping it moves a lot."""
    base = cfg(dataset="iris", model={"depth": 1, "width": 8}, optimizer="sgd", lr=1.0, epochs=1, batch_size="full")
    clipped = dataclasses.replace(base, train=dataclasses.replace(base.train, clip_norm=1e-4))
    untrained = train(dataclasses.replace(base, optimizer=dataclasses.replace(base.optimizer, lr=1e-12))).history[0]["val_loss"]
    assert abs(train(clipped).history[0]["val_loss"] - untrained) < 1e-3
    assert abs(train(base).history[0]["val_loss"] - untrained) > 0.05


# -- label smoothing -----------------------------------------------------------------------------
def test_label_smoothing_losses_by_hand():
    torch.manual_seed(0)
    logits, y, eps = torch.randn(10, 4), torch.randint(0, 4, (10,)), 0.2
    q = torch.nn.functional.one_hot(y, 4).float() * (1 - eps) + eps / 4  # Keras: y (1 - eps) + eps / K
    expect = -(q * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert tasks.loss_fn("multiclass", label_smoothing=eps)(logits, y).item() == pytest.approx(expect.item(), rel=1e-5)
    z, yb = torch.randn(10, 1), torch.randint(0, 2, (10,))
    t = yb.float() * (1 - eps) + eps / 2
    p = torch.sigmoid(z.reshape(-1))
    expect_b = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()
    assert tasks.loss_fn("binary", label_smoothing=eps)(z, yb).item() == pytest.approx(expect_b.item(), rel=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        tasks.loss_fn("regression", label_smoothing=0.1)


def test_label_smoothing_trains_on_smoothed_targets_and_validates_on_plain_ones():
    c = cfg(dataset="iris", model={"depth": 1, "width": 8}, lr=0.05, epochs=3)
    smoothed = dataclasses.replace(c, train=dataclasses.replace(c.train, label_smoothing=0.3))
    out = train(smoothed)
    data = load_data(smoothed, torch.device("cpu"))
    plain = evaluate(out.model, data.x_val, data.y_val, "multiclass", tasks.loss_fn("multiclass"))["loss"]
    assert out.history[out.best_epoch - 1]["val_loss"] == pytest.approx(plain, rel=1e-5)  # the model of its best epoch
    assert out.history[-1]["train_loss"] != pytest.approx(train(c).history[-1]["train_loss"], rel=1e-3)


def test_defaults_change_nothing():
    t = TrainConfig()
    assert (t.clip_norm, t.clip_value, t.label_smoothing) == (None, None, 0.0)


# -- the study file ------------------------------------------------------------------------------
SCHEDULE_SPACE = """
lr_schedule = { choice = ["constant", "step", "exponential", "cosine", "one_cycle", "plateau"] }
"lr_schedule.gamma" = { uniform = [0.5, 0.9], when = { lr_schedule = ["step", "exponential"] } }
"lr_schedule.eta_min" = { loguniform = [1e-5, 1e-3], when = { lr_schedule = ["cosine"] } }
"lr_schedule.patience" = { randint = [0, 3], when = { lr_schedule = ["plateau"] } }
"train.clip_norm" = { loguniform = [0.1, 10.0] }
"train.label_smoothing" = { uniform = [0.0, 0.2] }
"""


def test_a_searched_schedule_brings_its_own_parameters_only_where_active(write_study):
    import random

    from hpbench.study.parse import load_study
    from hpbench.study.resolve import trial_config
    from tests.helpers.studies import TINY_STUDY

    study = load_study(write_study(TINY_STUDY + SCHEDULE_SPACE + "\n[lr_schedule]\nstep_size = 2\n"))
    rng = random.Random(0)
    seen = set()
    for _ in range(60):
        p = study.space.sample(rng)
        name = p["lr_schedule"]
        seen.add(name)
        assert ("lr_schedule.gamma" in p) == (name in ("step", "exponential"))
        assert ("lr_schedule.eta_min" in p) == (name == "cosine")
        assert ("lr_schedule.patience" in p) == (name == "plateau")
        c = trial_config(study, p)
        assert c.lr_schedule.name == name and c.lr_schedule.params["step_size"] == 2
        assert c.train.clip_norm == p["train.clip_norm"] and c.train.label_smoothing == p["train.label_smoothing"]
        if name in ("step", "exponential"):
            assert c.lr_schedule.params["gamma"] == p["lr_schedule.gamma"]
    assert seen == {"constant", "step", "exponential", "cosine", "one_cycle", "plateau"}


@pytest.mark.parametrize(
    ("add", "expected"),
    [
        ('[lr_schedule]\nname = "cosinus"', ["lr_schedule.name", "unknown learning-rate schedule", "'cosinus'", "did you mean 'cosine'"]),
        ('[lr_schedule]\nname = "cosine"\ngamma = 0.5', ["lr_schedule.gamma", "unknown key"]),
        ('[lr_schedule]\nname = "step"\ngamma = 1.5', ["lr_schedule.gamma", "<= 1.0", "1.5"]),
        ('[lr_schedule]\nname = "multistep"', ["lr_schedule.milestones", "required"]),
        ('[lr_schedule]\nname = "multistep"\nmilestones = [5, 2]', ["lr_schedule.milestones", "increasing", "[5, 2]"]),
        ('[lr_schedule]\nname = "plateau"\nmonitor = "val_acc"', ["lr_schedule.monitor", "reports", "'val_acc'"]),
        ('[lr_schedule]\nname = "warmup_cosine"\nwarmup_epochs = 3', ["lr_schedule.warmup_epochs", "train.max_epochs (3", "3"]),
        ('[lr_schedule]\nname = "one_cycle"\npct_start = 1.0', ["lr_schedule.pct_start", "< 1.0", "1.0"]),
        ('[lr_schedule]\nname = "one_cycle"\ncycle_momentum = true',  # the space's sgd has no momentum: torch would give it one
         ["lr_schedule.cycle_momentum", "must be false with optimizer 'sgd'", "True"]),
        ('[lr_schedule]\nname = "one_cycle"\n[space]\n"lr_schedule.cycle_momentum" = { choice = [true, false] }',
         ["space.lr_schedule.cycle_momentum", "optimizer 'sgd'"]),
        ('[space]\n"lr_schedule.eta_min" = { uniform = [0.0, 0.1] }', ["space.lr_schedule.eta_min", "unknown key"]),  # constant has none
        ('[lr_schedule]\nname = "cosine"\n[space]\n"lr_schedule.eta_min" = { uniform = [0.0, 0.1], when = { lr_schedule = ["cosine"] } }',
         ["space.lr_schedule.eta_min.when.lr_schedule", "another searched key"]),
    ],
)
def test_bad_schedules_name_key_rule_and_value(write_study, add, expected):
    from hpbench.errors import StudyError
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    section, _, space = add.partition("[space]\n")
    text = TINY_STUDY.replace("[space]\n", f"{section}\n[space]\n{space}\n")
    with pytest.raises(StudyError) as info:
        load_study(write_study(text))
    for part in expected:
        assert part in str(info.value), str(info.value)


def step_momenta(c) -> list[float]:
    """Train ``c``; the momentum of every optimizer step, in order."""
    seen: list[float] = []
    handle = register_optimizer_step_pre_hook(lambda opt, args, kwargs: seen.append(opt.param_groups[0]["momentum"]))
    try:
        train(c)
    finally:
        handle.remove()
    return seen


def test_one_cycle_cycles_the_momentum_between_the_studys_bounds():
    c = dataclasses.replace(schedule_cfg("one_cycle", optimizer="momentum"),
                            lr_schedule=ScheduleConfig(name="one_cycle", params={"cycle_momentum": True, "base_momentum": 0.6, "max_momentum": 0.8}))
    seen = step_momenta(c)
    assert seen[0] == pytest.approx(0.8)  # the cycle starts at max_momentum (the lr at its lowest)
    assert min(seen) == pytest.approx(0.6, abs=0.01)  # and reaches base_momentum at the lr's peak
    assert max(seen) <= 0.8 + 1e-9


def test_one_cycle_leaves_the_momentum_alone_by_default():
    c = dataclasses.replace(schedule_cfg("one_cycle", optimizer="momentum"), lr_schedule=ScheduleConfig(name="one_cycle", params={}))
    assert set(step_momenta(c)) == {0.9}  # the optimizer's own (hpbench's default momentum)


def test_clipping_and_smoothing_are_checked(write_study):
    from hpbench.errors import StudyError
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    for line, parts in (("clip_norm = 0.0", ["train.clip_norm", "> 0.0"]), ("label_smoothing = 1.0", ["train.label_smoothing", "< 1.0"])):
        with pytest.raises(StudyError) as info:
            load_study(write_study(TINY_STUDY.replace("max_epochs = 3", f"max_epochs = 3\n{line}")))
        assert all(p in str(info.value) for p in parts), str(info.value)
    regression = TINY_STUDY.replace('dataset = "digits"', 'dataset = "diabetes"').replace('metric = "val_accuracy"', 'metric = "val_loss"')
    regression = regression.replace('mode = "max"', 'mode = "min"').replace("max_epochs = 3", "max_epochs = 3\nlabel_smoothing = 0.1")
    with pytest.raises(StudyError, match=r"train\.label_smoothing: applies to classification tasks only"):
        load_study(write_study(regression))


# -- a real search -------------------------------------------------------------------------------
SEARCH = """
[study]
name = "sched"
metric = "val_accuracy"
mode = "max"
searcher = "grid"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 1
width = 32

[optimizer]
name = "momentum"
lr = 0.05

[train]
max_epochs = 4
batch_size = 128
clip_norm = 5.0
label_smoothing = 0.1

[space]
lr_schedule = { grid = ["constant", "cosine", "one_cycle", "plateau"] }
"lr_schedule.eta_min" = { grid = [0.001], when = { lr_schedule = ["cosine"] } }
"""


@pytest.mark.slow
def test_a_schedule_search_records_and_reports_the_schedule(ray_local, tmp_path):
    """Through Ray: the schedule is a column like any other hyperparameter, the epochs table
    holds each epoch's learning rate, and the report shows both (leaderboard, what matters,
    the learning-rate column of the curves, the plots)."""
    from io import StringIO

    from rich.console import Console

    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.report import curves, leaderboard, matters, plots
    from hpbench.report.data import load_report
    from hpbench.study.parse import load_study

    path = tmp_path / "sched.toml"
    path.write_text(SEARCH)
    out = tmp_path / "out"
    run_search(load_study(path), SearchOptions(out=out, num_cpus=2), console=Console(file=StringIO()))
    trials, epochs = hpbench.load(out), hpbench.load(out, table="epochs")
    assert sorted(trials["lr_schedule"]) == ["constant", "cosine", "one_cycle", "plateau"]
    assert (trials["lr_schedule.eta_min"].notna() == (trials["lr_schedule"] == "cosine")).all()
    lrs = {s: epochs[epochs["trial"] == t].sort_values("epoch")["learning_rate"].tolist() for s, t in zip(trials["lr_schedule"], trials["trial"], strict=True)}
    assert lrs["constant"] == [0.05] * 4
    assert lrs["cosine"] == pytest.approx([0.001 + 0.049 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)], rel=1e-5)
    assert lrs["one_cycle"][0] == pytest.approx(0.05 / 25, rel=1e-5) and max(lrs["one_cycle"]) > 0.04
    assert trials["best_val_accuracy"].max() > 0.8  # it really trained

    data = load_report(out)
    con = Console(file=StringIO(), width=200)
    con.print(leaderboard.render(data))
    con.print(matters.render(data))
    con.print(curves.render(data))
    text = con.file.getvalue()
    assert "lr_schedule=one_cycle" in text and "learning rate (log)" in text
    assert {r["value"] for r in matters.per_value(data)["lr_schedule"]} == {"constant", "cosine", "one_cycle", "plateau"}
    made = {p.name for p in plots.write_plots(data, tmp_path / "plots")}
    assert {"learning_rates.png", "dimensions.png"} <= made
