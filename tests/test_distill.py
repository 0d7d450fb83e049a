"""Knowledge distillation: the loss against its formula on fixed logits, the teacher loaded
from a saved trial, [distill] validation, and (slow) a real search saving weights that a
distill study then uses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.study.parse import parse_study
from hpbench.train.distill import kd_loss, load_teacher
from tests.helpers.saved_trials import DIGITS_MLP, train_and_save

S = torch.tensor([[1.0, 2.0, 0.5], [0.2, -1.0, 3.0]])
T_ = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
Y = torch.tensor([1, 2])


def test_kd_loss_equals_the_formula():
    alpha, temp = 0.7, 3.0
    p_t = torch.softmax(T_ / temp, 1)
    p_s = torch.softmax(S / temp, 1)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()  # KL(soft teacher || soft student), batch mean
    ce = -torch.log_softmax(S, 1)[torch.arange(2), Y].mean()
    expected = alpha * temp**2 * kl + (1 - alpha) * ce
    assert kd_loss(S, T_, Y, alpha=alpha, temperature=temp).item() == pytest.approx(expected.item(), rel=1e-5)  # float32: two summation orders differ in the last digits by CPU


def test_kd_loss_at_alpha_zero_is_cross_entropy():
    assert kd_loss(S, T_, Y, alpha=0.0, temperature=5.0).item() == pytest.approx(F.cross_entropy(S, Y).item(), rel=1e-5)
    z = torch.tensor([0.3, -2.0])
    assert kd_loss(z, -z, torch.tensor([1, 0]), alpha=0.0, temperature=2.0).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(z, torch.tensor([1.0, 0.0])).item(), rel=1e-5)


def test_kd_loss_is_zero_soft_term_when_student_equals_teacher():
    assert kd_loss(S, S, Y, alpha=1.0, temperature=2.0).item() == pytest.approx(0.0, abs=1e-5)


def _student(teacher_ref: str, **distill):
    return {**DIGITS_MLP, "study": {"name": "student", "metric": "val_accuracy"},
            "model": {"family": "mlp", "depth": 1, "width": 4}, "distill": {"teacher": teacher_ref, **distill}}


def test_teacher_loads_and_a_student_trains_with_it(tmp_path):
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    weights, _ = train_and_save(tmp_path / "teacher")
    teacher = load_teacher(weights, device=torch.device("cpu"), input_shape=(1, 8, 8), n_outputs=10)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    with pytest.raises(ValueError, match=r"distill.teacher"):
        load_teacher(weights, device=torch.device("cpu"), input_shape=(1, 8, 8), n_outputs=5)
    raw = _student(f"{tmp_path / 'teacher'}:0", alpha=0.9)
    raw["space"] = {"distill.alpha": {"choice": [0.0, 0.9]}, "distill.temperature": {"uniform": [1.0, 8.0]}}
    study = parse_study(raw)
    kd = trial_config(study, {"distill.alpha": 0.9, "distill.temperature": 4.0})
    plain = trial_config(study, {"distill.alpha": 0.0, "distill.temperature": 4.0})
    assert kd.distill is not None and kd.distill.teacher == str(weights) and kd.distill.temperature == 4.0
    a, b = train(kd).history[0]["train_loss"], train(plain).history[0]["train_loss"]
    assert a != b  # the teacher's soft term changes what is minimised


def test_bad_teacher_exits_2_naming_key_and_value(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('[data]\ndataset = "digits"\n[model]\nfamily = "mlp"\n[distill]\nteacher = "results/missing:best"\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["search", str(study), "--out", str(tmp_path / "out")])
    flat = " ".join(res.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
    assert res.exit_code == 2 and "distill.teacher" in flat and "'results/missing:best'" in flat, flat


def test_distill_section_is_validated(tmp_path):
    with pytest.raises(StudyError, match=r"distill.teacher: is required"):
        parse_study({**DIGITS_MLP, "distill": {"alpha": 0.5}})
    with pytest.raises(StudyError, match=r"space.distill.alpha: needs a \[distill\] section"):
        parse_study({**DIGITS_MLP, "space": {"distill.alpha": {"uniform": [0.1, 0.9]}}})
    train_and_save(tmp_path / "t")
    with pytest.raises(StudyError, match=r"distill.alpha"):
        parse_study(_student(f"{tmp_path / 't'}:0", alpha=1.5))
    with pytest.raises(StudyError, match="the teacher cannot be searched"):
        parse_study({**_student(f"{tmp_path / 't'}:0"), "space": {"distill.teacher": {"choice": ["a:1"]}}})


@pytest.mark.slow
def test_search_saves_weights_and_a_distill_study_uses_them(tmp_path, ray_local):
    import pandas as pd

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.results.weights import weights_path
    from hpbench.train.weights import load_record

    teacher_raw = {**DIGITS_MLP, "study": {"name": "teacher", "metric": "val_accuracy", "searcher": "grid", "scheduler": "none", "max_concurrent": 2},
                   "train": {"max_epochs": 3, "batch_size": 64, "early_stopping": {"monitor": "val_loss", "patience": 1, "restore_best_weights": True}},
                   "space": {"lr": {"grid": [0.003, 0.03]}}}
    out = tmp_path / "teacher"
    run_search(parse_study(teacher_raw), SearchOptions(out=out))
    trials = pd.read_parquet(out / "trials.parquet")
    assert (trials["status"] == "finished").all()
    for t in trials["trial"]:
        record = load_record(weights_path(out, int(t)))
        assert record["family"] == "mlp" and record["n_outputs"] == 10 and "1.weight" in record["state_dict"]
    student = {**_student(f"{out}:best", temperature=3.0), "study": {"name": "student", "metric": "val_accuracy", "searcher": "grid", "scheduler": "none"},
               "space": {"distill.alpha": {"grid": [0.0, 0.8]}}}
    store = run_search(parse_study(student), SearchOptions(out=tmp_path / "student"))
    assert sorted(t["status"] for t in store.trials.values()) == ["finished", "finished"]
    assert all(t.get("best_val_accuracy") for t in store.trials.values())
