"""The gan task wired into the tool (issue 16): study keys validated at the edge (exit 2, key,
rule and value named, nothing written), the trainer's gan task (metrics, both optimizers as
searched, the collapse stop reason, weights-only resume), ring8/grid25 in the dataset registry, the
cost model through hpbench/cost, and one tiny real Ray search. The GAN core itself (metrics,
losses, detector, cost formulas) is tested in tests/test_gan.py."""

from __future__ import annotations

import copy
import io
import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.data.mixtures import mixture
from hpbench.data.prepare import load_raw
from hpbench.errors import StudyError
from hpbench.results.status import StopReason
from hpbench.study.parse import parse_study
from hpbench.study.resolve import trial_config
from hpbench.train.gan import keys as GK
from hpbench.train.gan.config import GANConfig, GANLoss
from hpbench.train.gan.cost import config_epoch_flops
from hpbench.train.gan.task import GANTaskRun, gan_config
from hpbench.train.trainer import train

torch.set_num_threads(1)

# A tiny gan study on ring8: 20 generator steps per epoch, small networks.
GAN: dict[str, Any] = {
    "study": {"name": "gan_tiny", "trials": 2},
    "data": {"dataset": "ring8", "n_samples": 2000},
    "model": {"task": "gan", "family": "mlp", "depth": 1, "width": 32, "latent_dim": 4, "d_depth": 1, "d_width": 32},
    "optimizer": {"name": "adam", "lr": 1e-3, "betas": [0.5, 0.999]},
    "train": {"max_epochs": 3, "batch_size": 64, "g_steps_per_epoch": 20, "n_eval_samples": 500, "d_lr": 2e-3},
}


def study(**sections: dict[str, Any]) -> dict[str, Any]:
    """GAN with some sections' keys replaced (a value None removes the key)."""
    raw = copy.deepcopy(GAN)
    for name, table in sections.items():
        merged = {**raw.get(name, {}), **table}
        raw[name] = {k: v for k, v in merged.items() if v is not None}
    return raw


def problems(raw: dict[str, Any]) -> list[tuple[str, str, Any]]:
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="gan.toml")
    return [(p.key, p.rule, p.value) for p in err.value.problems]


# -- the study file ---------------------------------------------------------------------------

def test_a_gan_study_resolves_to_the_gan_config():
    s = parse_study(study(), source="gan.toml")
    assert s.settings.metric == GK.DEFAULT_METRIC == "val_modes_hq" and s.settings.mode == "max"
    g = gan_config(trial_config(s, {}))
    assert (g.latent_dim, g.g_depth, g.g_hidden, g.d_depth, g.d_hidden, g.batch_size, g.steps_per_epoch) == (4, 1, 32, 1, 32, 64, 20)
    assert g.g_optimizer.lr == 1e-3 and tuple(g.g_optimizer.params["betas"]) == (0.5, 0.999)
    assert g.d_optimizer.name == "adam" and g.d_optimizer.lr == 2e-3 and g.d_optimizer.params == {"betas": (0.5, 0.999)}
    assert g.loss is GANLoss.NON_SATURATING and g.d_steps == 1


def test_a_gan_on_another_dataset_ranks_by_the_frechet_distance_by_default():
    """The default metric follows the dataset (the mixtures' metrics are theirs only): a digits GAN
    with no [study] metric was refused, though the reference gave its default as the Fréchet distance."""
    s = parse_study(study(data={"dataset": "digits", "n_samples": None}), source="gan.toml")
    assert s.settings.metric == "val_frechet_distance" and s.settings.mode == "min"


def test_gan_keys_defaults_are_the_gan_config_defaults():
    d = GANConfig()
    assert GK.MODEL["latent_dim"].default == d.latent_dim and GK.MODEL["d_depth"].default == d.d_depth
    assert GK.MODEL["d_width"].default == d.d_hidden and GK.TRAIN["g_steps_per_epoch"].default == d.steps_per_epoch
    for k in ("d_steps", "gp_weight", "g_ema", "n_eval_samples", "mode_min_share", "collapse_patience", "collapse_warmup", "d_loss_floor"):
        assert GK.TRAIN[k].default == getattr(d, k), k
    assert GK.TRAIN["loss"].default == d.loss.value and GK.TRAIN["d_lr"].default == d.d_optimizer.lr


@pytest.mark.parametrize(("sections", "key", "rule"), [
    ({"model": {"family": "cnn", "depth": None, "width": None}}, "model.family", "MLPs"),
    ({"model": {"dropout": 0.1}}, "model.dropout", "does not apply"),
    ({"train": {"d_optimizer": "sgd", "d_betas": [0.9, 0.99]}}, "train.d_optimizer", "d_betas needs"),
    ({"train": {"loss": "vanilla"}}, "train.loss", "unknown loss"),
    ({"train": {"d_steps": 0}}, "train.d_steps", ">= 1"),
    ({"train": {"batch_size": "full"}}, "train.batch_size", "give a number"),
    ({"train": {"n_envs": 4}}, "train.n_envs", "applies to task 'rl' only"),
    ({"train": {"label_smoothing": 0.1}}, "train.label_smoothing", "does not apply to task 'gan'"),
    ({"study": {"metric": "val_frechet_distance"}}, "study.metric", "val_modes_covered"),
    ({"data": {"dataset": "digits", "n_samples": None}, "study": {"metric": "val_modes_hq"}}, "study.metric", "val_frechet_distance"),
    ({"lr_schedule": {"name": "cosine", "t_max": 3}}, "lr_schedule.name", "keeps its optimizers' lr"),
    # no classes to cover: a search ranked by it ranked no trial (exit 0, an empty leaderboard)
    ({"data": {"dataset": "diabetes", "n_samples": None}, "study": {"metric": "val_class_coverage"}}, "study.metric", "a regression task"),
    ({"data": {"dataset": "diabetes", "n_samples": None}, "train": {"early_stopping": {"monitor": "val_class_coverage", "patience": 1}}},
     "train.early_stopping.monitor", "no classes to cover"),
])
def test_bad_gan_studies_name_the_key_rule_and_value(sections, key, rule):
    found = problems(study(**sections))
    assert any(k == key and rule in r for k, r, _ in found), found


def test_another_family_on_a_study_with_mlp_keys_names_the_family_first():
    """`--set model.family=cnn` on the shipped ring8 study (which sets depth and width) said only
    "model.depth: unknown key (did you mean 'd_depth'?)"."""
    found = problems(study(model={"family": "cnn", "depth": 2, "width": 64}))
    assert found[0][0] == "model.family" and "MLPs" in found[0][1], found


def test_gan_keys_in_a_supervised_study_are_refused():
    raw = {"data": {"dataset": "iris"}, "model": {"family": "mlp", "latent_dim": 4}, "train": {"d_steps": 2}}
    keys = {k for k, _, _ in problems(raw)}
    assert {"model.latent_dim", "train.d_steps"} <= keys


def test_a_bad_gan_study_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[data]\ndataset = "ring8"\n[model]\ntask = "gan"\nfamily = "mlp"\n[train]\nloss = "minimax"\n', encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "train.loss" in res.output and "minimax" in res.output and "non_saturating" in res.output
    assert not out.exists()


# -- data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixtures_are_registered_datasets_labelled_by_mode(name):
    raw = load_raw(name, {"n_samples": 4000, "data_seed": 3})
    mix = mixture(name)
    assert raw.x.shape == (4000, 2) and raw.task == "multiclass" and raw.n_outputs == mix.n_modes
    # every sample lies within 5 sigma of the mode it is labelled with
    dist = np.linalg.norm(raw.x - mix.centers[raw.y], axis=1)
    assert dist.max() < 5 * mix.std
    again = load_raw(name, {"n_samples": 4000, "data_seed": 3})
    assert np.array_equal(raw.x, again.x)


# -- the trainer --------------------------------------------------------------------------------

def test_the_trainer_runs_the_gan_task_and_reports_both_losses_and_the_metrics():
    cfg = trial_config(parse_study(study(), source="gan.toml"), {})
    out = train(cfg)
    assert [r["epoch"] for r in out.history] == [1, 2, 3] and out.stop_reason is StopReason.COMPLETED
    for row in out.history:
        assert row["train_loss"] == pytest.approx(row["train_g_loss"] + row["train_d_loss"], rel=1e-5)
        assert 0 <= row["val_modes_covered"] <= 8 and 0 <= row["val_hq_fraction"] <= 1
        assert row["val_modes_hq"] == pytest.approx(row["val_modes_covered"] + row["val_hq_fraction"], rel=1e-5)
        assert row["train_gp"] == 0.0  # non_saturating has no penalty
    assert out.history[-1]["g_steps"] == 60
    assert out.n_params == (4 * 32 + 32 + 32 * 2 + 2) + (2 * 32 + 32 + 32 + 1)


def test_both_optimizers_are_built_as_searched():
    s = parse_study(study(space={"lr": {"loguniform": [1e-4, 1e-2]}, "train.d_lr": {"loguniform": [1e-4, 1e-2]},
                                 "optimizer.betas": {"choice": [[0.5, 0.999], [0.9, 0.999]]},
                                 "train.d_betas": {"choice": [[0.5, 0.999], [0.0, 0.9]]}}), source="gan.toml")
    params = {"lr": 3e-4, "train.d_lr": 7e-3, "optimizer.betas": (0.9, 0.999), "train.d_betas": (0.0, 0.9)}
    run = GANTaskRun(trial_config(s, params))
    g, d = run.run.g_optimizer.param_groups[0], run.run.d_optimizer.param_groups[0]
    assert g["lr"] == 3e-4 and tuple(g["betas"]) == (0.9, 0.999)
    assert d["lr"] == 7e-3 and tuple(d["betas"]) == (0.0, 0.9)
    g_params = {id(p) for p in run.run.generator.parameters()}
    assert all(id(p) in g_params for p in g["params"]) and not any(id(p) in g_params for p in d["params"])


def test_both_optimizers_get_what_the_searcher_draws(tmp_path):
    """Through Optuna as a search drives it (an sqlite storage; an enqueued point, then TPE's own
    draws): the D optimizer's lr and betas in its torch param group are the ones drawn."""
    import optuna

    s = parse_study(study(space={"lr": {"loguniform": [1e-4, 1e-2]}, "train.d_lr": {"loguniform": [1e-4, 1e-2]},
                                 "optimizer.betas": {"choice": [[0.5, 0.999], [0.9, 0.999]]},
                                 "train.d_betas": {"choice": [[0.5, 0.999], [0.0, 0.9]]}}), source="gan.toml")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    ostudy = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=1), direction="maximize")
    ostudy.enqueue_trial(s.space.encode({"lr": 3e-4, "train.d_lr": 7e-3, "optimizer.betas": [0.9, 0.999], "train.d_betas": [0.0, 0.9]}))
    for i in range(3):
        trial = ostudy.ask()
        params = s.space.define_by_run(trial)
        run = GANTaskRun(trial_config(s, params))
        g, d = run.run.g_optimizer.param_groups[0], run.run.d_optimizer.param_groups[0]
        assert (g["lr"], g["betas"]) == (params["lr"], params["optimizer.betas"])
        assert (d["lr"], d["betas"]) == (params["train.d_lr"], params["train.d_betas"])
        if i == 0:
            assert (d["lr"], d["betas"]) == (7e-3, (0.0, 0.9))
        ostudy.tell(trial, float(i))


def test_a_discriminator_that_wins_outright_stops_the_trial_as_collapsed():
    # every D loss is below a floor of 100: collapsed after collapse_patience = 2 evaluations
    cfg = trial_config(parse_study(study(train={"d_loss_floor": 100.0, "collapse_patience": 2, "max_epochs": 5}), source="gan.toml"), {})
    out = train(cfg)
    assert out.stop_reason is StopReason.COLLAPSED and len(out.history) == 2
    assert out.history[-1]["stop_reason"] == "collapsed"


def test_a_non_finite_loss_stops_the_trial_as_diverged():
    # SGD at a huge lr on the hinge loss blows the weights up
    cfg = trial_config(parse_study(study(optimizer={"name": "sgd", "lr": 1e12, "betas": None},
                                         train={"loss": "hinge", "d_optimizer": "sgd", "d_lr": 1e12, "max_epochs": 5}), source="gan.toml"), {})
    out = train(cfg)
    assert out.stop_reason is StopReason.DIVERGED


def test_resume_loads_weights_only_and_is_reproducible():
    cfg = trial_config(parse_study(study(train={"loss": "wasserstein_gp", "d_steps": 2}), source="gan.toml"), {})
    states: list[bytes] = []

    def keep(state: dict[str, Any]) -> None:
        buf = io.BytesIO()
        torch.save(state, buf)
        states.append(buf.getvalue())

    full = train(cfg, on_state=keep)
    resumed = train(cfg, start_state=torch.load(io.BytesIO(states[0]), weights_only=True))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for a, b in zip(full.history[1:], resumed.history[1:], strict=True):
        for k in ("train_g_loss", "train_d_loss", "train_gp", "val_hq_fraction", "val_modes_covered"):
            assert a[k] == pytest.approx(b[k], rel=1e-5), k
    assert full.history[-1]["train_gp"] > 0
    record = torch.load(io.BytesIO(states[-1]), weights_only=True)["final_model"]
    assert record["task"] == "gan" and tuple(record["samples"].shape) == (512, 2)
    from hpbench.train.weights import build_saved_model

    g = build_saved_model(record)  # the generator (Results.load_model built a supervised MLP and failed)
    assert g(torch.zeros(3, record["latent_dim"])).shape == (3, 2)


def test_digits_gives_a_frechet_distance_and_class_coverage(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    raw = study(study={"metric": "val_frechet_distance"}, data={"dataset": "digits", "n_samples": None},
                train={"max_epochs": 2, "n_eval_samples": 300})
    s = parse_study(raw, source="gan.toml")
    assert s.settings.mode == "min"
    out = train(trial_config(s, {}))
    row = out.history[-1]
    assert math.isfinite(row["val_frechet_distance"]) and row["val_frechet_distance"] > 0
    assert 0 <= row["val_class_coverage"] <= 1 and "val_modes_covered" not in row
    assert list((tmp_path / "hpbench" / "gan_features").glob("*.pt"))  # the feature classifier, cached


# -- the cost model -----------------------------------------------------------------------------

def test_predicted_flops_count_both_networks_d_steps_and_the_penalty():
    from hpbench.cost.annotate import predict_trial
    from hpbench.cost.device import DeviceModel

    dm = DeviceModel.hypothetical_device(flops_per_s=1e9)
    base = parse_study(study(), source="gan.toml")
    rows = {}
    for name, params in {"ns": {}, "d2": {"train.d_steps": 2}, "gp": {"train.loss": "wasserstein_gp"}}.items():
        s = parse_study(study(space={"train.d_steps": {"choice": [1, 2]}, "train.loss": {"choice": ["non_saturating", "wasserstein_gp"]}}),
                        source="gan.toml") if params else base
        cfg = trial_config(s, params)
        rows[name] = predict_trial(cfg, device_model=dm)
        assert rows[name]["flops_per_epoch"] == pytest.approx(config_epoch_flops(gan_config(cfg), data_dim=2), rel=1e-5)
        assert rows[name]["predicted_flops"] == pytest.approx(3 * rows[name]["flops_per_epoch"], rel=1e-5)
    # F_G = 2(4*32 + 32*2) = 384, F_D = 2(2*32 + 32) = 192, B = 64, 20 G steps, 500 eval samples
    d_step, g_step = 64 * (384 + 6 * 192), 64 * (3 * 384 + 2 * 192)
    assert rows["ns"]["flops_per_epoch"] == pytest.approx(20 * (d_step + g_step) + 500 * 384, rel=1e-5)
    assert rows["d2"]["flops_per_epoch"] - rows["ns"]["flops_per_epoch"] == pytest.approx(20 * d_step, rel=1e-5)
    assert rows["gp"]["flops_per_epoch"] - rows["ns"]["flops_per_epoch"] == pytest.approx(20 * 64 * 6 * 192, rel=1e-5)
    assert rows["d2"]["predicted_s"] > rows["ns"]["predicted_s"]


def test_a_gan_trial_gets_a_regime_and_an_interval_as_supervised_ones_do():
    """The whole-trial terms of hpbench.cost.trial_time on a gan trial: the trainer's seconds per
    epoch, the first epoch's warm-up, the concurrency slowdown of its regime, the P10-P90 band."""
    import dataclasses

    from hpbench.cost.annotate import predict_trial
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.predict import FEATURES
    from hpbench.cost.regime import Regime

    plain = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1.0, 1e9), matmul_flops_per_s=(1e10, 1e10), peak_flops_per_s=1e10,
                        bandwidth_bytes=(1e6, 64e6), bandwidth_curve=(1e11, 1e10), coef=dict.fromkeys(FEATURES, 1e-6))
    cfg = trial_config(parse_study(study(), source="gan.toml"), {})  # 3 epochs
    base = predict_trial(cfg, device_model=plain)
    assert base["regime"] in {str(r) for r in Regime} and base["predicted_s_p10"] is None  # no residuals: no interval
    assert base["predicted_s"] == pytest.approx(3 * base["predicted_epoch_s"], rel=1e-5)
    regime = base["regime"]
    dm = dataclasses.replace(plain, trainer_epoch_s=0.5, warmup_fraction=0.2, concurrency_slowdown={regime: 1.5},
                             intervals={"all": (0.8, 1.4)})
    one, two = predict_trial(cfg, device_model=dm), predict_trial(cfg, device_model=dm, max_concurrent=2)
    raw = base["predicted_epoch_s"]
    assert one["predicted_epoch_s"] == pytest.approx(raw + 0.5, rel=1e-5) and one["predicted_warmup_s"] == pytest.approx(0.2 * raw, rel=1e-5)
    assert one["predicted_s"] == pytest.approx(3 * (raw + 0.5) + 0.2 * raw, rel=1e-5)
    assert (one["predicted_s_p10"], one["predicted_s_p90"]) == pytest.approx((0.8 * one["predicted_s"], 1.4 * one["predicted_s"]), rel=1e-5)
    assert two["concurrency_slowdown"] == 1.5 and two["predicted_s"] == pytest.approx(1.5 * one["predicted_s"], rel=1e-5)


def test_estimate_prices_a_gan_study(tmp_path):
    path = tmp_path / "gan.toml"
    path.write_text('[data]\ndataset = "ring8"\n[model]\ntask = "gan"\nfamily = "mlp"\n[train]\nmax_epochs = 4\nbatch_size = 256\n',
                    encoding="utf-8")
    res = CliRunner().invoke(app, ["estimate", str(path), "--device-flops", "1e9", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["configurations"]
    assert rows and rows[0]["predicted_flops"] == pytest.approx(4 * rows[0]["flops_per_epoch"], rel=1e-5)


# -- a real search ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_tiny_gan_search_through_ray(ray_local, tmp_path):
    """3 trials of a small GAN on ring8 through Ray Tune with ASHA on val_modes_hq, searching both
    learning rates and the loss: every trial finishes, with its metrics, stop reason and cost."""
    from io import StringIO

    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search

    raw = study(study={"name": "gan_ray", "trials": 3, "max_concurrent": 2, "scheduler": "asha", "grace_period": 1},
                train={"max_epochs": 2},
                space={"lr": {"loguniform": [3e-4, 3e-3]}, "train.d_lr": {"loguniform": [3e-4, 3e-3]},
                       "train.loss": {"choice": ["non_saturating", "hinge"]}, "optimizer.betas": {"choice": [[0.5, 0.999], [0.9, 0.999]]}})
    out = tmp_path / "out"
    run_search(parse_study(raw, source="gan_ray.toml"), SearchOptions(out=out, num_cpus=2), console=Console(file=StringIO()))
    trials, epochs = hpbench.load(out), hpbench.load(out, table="epochs")
    assert len(trials) == 3 and set(trials["status"]) == {"finished"}
    assert set(trials["stop_reason"]) <= {"completed", "pruned", "collapsed", "early_stopped"}
    assert {"val_modes_covered", "val_hq_fraction", "val_modes_hq", "train_g_loss", "train_d_loss"} <= set(epochs.columns)
    assert trials["predicted_flops"].notna().all() and (trials["flops_spent"] > 0).all()
    for args in (["--json"], []):  # a list-valued parameter (optimizer.betas) in every section, JSON and tables
        res = CliRunner().invoke(app, ["report", str(out), *args])
        assert res.exit_code == 0, res.output
    assert "optimizer.betas=[0." in res.output
    figures = tmp_path / "figures"
    res = CliRunner().invoke(app, ["report", str(out), "--plots", str(figures), "--html"])
    assert res.exit_code == 0, res.output
    assert (figures / "gan_samples.png").stat().st_size > 0 and (figures / "gan_losses.png").stat().st_size > 0
    assert "gan_samples" in (figures / "report.html").read_text(encoding="utf-8")


def test_image_samples_are_tiled_into_one_grid():
    from hpbench.report.gan_plots import _image_grid

    x = np.arange(4 * 1 * 2 * 3, dtype=np.float32).reshape(4, 1, 2, 3)
    grid = _image_grid(x)
    assert grid.shape == (2 * 3, 2 * 4)  # 2 x 2 tiles of 2 x 3 with a 1-pixel border
    assert grid[0, 0] == 0.0 and grid[1, 2] == 1.0 and grid[3, 4] == 0.0  # each tile scaled to [0, 1]
