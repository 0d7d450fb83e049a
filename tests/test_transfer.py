"""Transfer learning: weights loaded by name, the right parameters frozen, a new head when the
outputs differ, and bad references refused at validation (exit 2). No Ray."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.models import build_model
from hpbench.study.parse import parse_study
from hpbench.train.transfer import apply, freeze_all_but_last, layers, load_into
from tests.helpers.saved_trials import DIGITS_MLP, train_and_save

MLP = {"depth": 2, "width": 16}


def _mlp(n_outputs: int) -> torch.nn.Module:
    return build_model("mlp", input_shape=(1, 8, 8), n_outputs=n_outputs, params=MLP)


def test_load_into_reuses_the_body_and_gives_a_new_head():
    torch.manual_seed(0)
    old, new = _mlp(10), _mlp(5)
    head_before = new[-1].weight.detach().clone()
    n_reused, new_head = load_into(new, old.state_dict())
    assert new_head and n_reused == 4  # two hidden Linear layers: weight + bias each
    assert torch.equal(new[1].weight, old[1].weight) and torch.equal(new[3].weight, old[3].weight)
    assert torch.equal(new[-1].weight, head_before)  # the head keeps its fresh initialization


def test_same_shapes_load_everything():
    old, new = _mlp(10), _mlp(10)
    assert load_into(new, old.state_dict()) == (6, False)
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values(), strict=True))


def test_only_the_head_may_change_shape():
    old = build_model("mlp", input_shape=(1, 8, 8), n_outputs=10, params={"depth": 2, "width": 32})
    with pytest.raises(ValueError, match="only the head may change shape"):
        load_into(_mlp(10), old.state_dict())
    with pytest.raises(ValueError, match="do not match"):
        load_into(_mlp(10), build_model("mlp", input_shape=(1, 8, 8), n_outputs=10, params={"depth": 1, "width": 16}).state_dict())


def test_freeze_all_but_last_k_layers():
    m = _mlp(5)
    assert [n for n, _ in layers(m)] == ["1", "3", "5"]
    frozen = freeze_all_but_last(m, 1)
    assert frozen == 64 * 16 + 16 + 16 * 16 + 16
    assert [p.requires_grad for p in m.parameters()] == [False, False, False, False, True, True]
    m2 = _mlp(5)
    assert freeze_all_but_last(m2, 2) == 64 * 16 + 16
    assert freeze_all_but_last(_mlp(5), 99) == 0  # k >= the layer count freezes nothing
    with pytest.raises(ValueError, match=r"model.freeze"):
        freeze_all_but_last(_mlp(5), 0)


def test_trainer_fine_tunes_from_a_saved_trial(tmp_path):
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    weights, record = train_and_save(tmp_path / "pre", {**DIGITS_MLP, "data": {**DIGITS_MLP["data"], "classes": [0, 1, 2, 3, 4]}})
    raw = {**DIGITS_MLP, "study": {"name": "ft", "metric": "val_accuracy"},
           "data": {**DIGITS_MLP["data"], "classes": [5, 6, 7, 8, 9, 0]},
           "model": {**DIGITS_MLP["model"], "init_from": f"{tmp_path / 'pre'}:0", "freeze": 1}}
    study = parse_study(raw)
    cfg = trial_config(study, {})
    assert cfg.model.init_from == str(weights) and cfg.model.freeze == 1 and "init_from" not in cfg.model.params
    out = train(cfg)
    assert out.history[0]["new_head"] is True and out.history[0]["n_trainable"] == 32 * 6 + 6
    body = out.model[1].weight.detach().cpu()
    assert torch.equal(body, record["state_dict"]["1.weight"])  # frozen: unchanged by fine-tuning
    assert apply(_mlp_like(), weights, freeze=None).n_frozen == 0


def _mlp_like() -> torch.nn.Module:
    return build_model("mlp", input_shape=(1, 8, 8), n_outputs=3, params={"depth": 1, "width": 32})


@pytest.mark.parametrize(("ref", "fragment"), [
    ("results/nowhere:0", "must name a results directory"),
    ("no-colon", "must be 'RESULTS_DIR:TRIAL'"),
    ("{dir}:7", "has no saved weights"),
    ("{dir}:x", "TRIAL must be a trial number or 'best'"),
])
def test_bad_init_from_exits_2_naming_key_and_value(tmp_path, ref, fragment):
    train_and_save(tmp_path / "pre")
    ref = ref.format(dir=tmp_path / "pre")
    study = tmp_path / "s.toml"
    study.write_text(f'[data]\ndataset = "digits"\n[model]\nfamily = "mlp"\ninit_from = "{ref}"\n', encoding="utf-8")
    res = CliRunner().invoke(app, ["search", str(study), "--out", str(tmp_path / "out")])
    flat = " ".join(res.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
    assert res.exit_code == 2, res.output
    assert "model.init_from" in flat and fragment in flat and repr(ref)[:20] in flat, flat


def test_freeze_needs_init_from_and_init_from_is_not_searchable():
    with pytest.raises(StudyError, match=r"model.freeze: needs model.init_from"):
        parse_study({**DIGITS_MLP, "model": {**DIGITS_MLP["model"], "freeze": 1}})
    with pytest.raises(StudyError, match="cannot be searched"):
        parse_study({**DIGITS_MLP, "space": {"model.init_from": {"choice": ["a:1", "b:2"]}}})


def test_init_from_a_model_of_other_layers_is_found_by_the_preflight(tmp_path):
    """A saved trial whose layers do not fit this study's networks (another depth here; an rl
    policy in the hunt): every trial failed on it after Ray started, exit 1. The pre-flight loads
    it into each network it tries, and says so before anything starts."""
    from hpbench.preflight.run import check_study

    train_and_save(tmp_path / "pre")  # DIGITS_MLP's network
    raw = {**DIGITS_MLP, "model": {**DIGITS_MLP["model"], "depth": 3, "init_from": f"{tmp_path / 'pre'}:0"}}
    found = [str(p) for p in check_study(parse_study(raw))]
    assert any("model.init_from: the saved model's layers do not match this model's" in p for p in found), found
    same = {**DIGITS_MLP, "model": {**DIGITS_MLP["model"], "init_from": f"{tmp_path / 'pre'}:0"}}
    assert [str(p) for p in check_study(parse_study(same))] == []
