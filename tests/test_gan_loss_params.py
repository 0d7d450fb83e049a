"""``train.gp_weight`` is read by loss wasserstein_gp only and ``train.d_loss_floor`` by every
other loss (:data:`hpbench.train.gan.keys.LOSS_PARAMS`, as :mod:`hpbench.train.gan.run` reads them).
Searched beside a loss that ignores it, every trial trained alike and the tables recorded, and
ranked by, a value it never used (bug hunt s49/h5): refused when the study is read, with the
``when`` to add, as a searched optimizer's parameters are. No Ray."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.study.parse import parse_study
from hpbench.train.gan import keys as GK
from hpbench.train.gan.config import GANLoss
from tests.test_gan_study import study

LOSSES = {"grid": ["non_saturating", "wasserstein_gp"]}
GP = {"grid": [1.0, 10.0]}
FLOOR = {"grid": [1e-3, 1e-1]}


def _space(**space: Any) -> dict[str, Any]:
    return {f"train.{k}" if k in ("loss", "gp_weight", "d_loss_floor") else k: v for k, v in space.items()}


def _problems(raw: dict[str, Any]) -> list[tuple[str, str, Any, str]]:
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="gan.toml")
    return [(p.key, p.rule, p.value, p.hint) for p in err.value.problems]


def test_the_losses_each_key_is_read_by():
    assert GK.LOSS_PARAMS == {"gp_weight": ("wasserstein_gp",), "d_loss_floor": ("non_saturating", "hinge")}
    assert set(GK.LOSS_PARAMS["gp_weight"]) | set(GK.LOSS_PARAMS["d_loss_floor"]) == {m.value for m in GANLoss}


@pytest.mark.parametrize(("train", "space", "key", "words"), [
    # a searched key beside a fixed loss that ignores it (the repro: two trials, the same FD)
    ({"loss": "non_saturating"}, _space(gp_weight=GP), "space.train.gp_weight", ["'non_saturating', which ignores it", 'loss = "wasserstein_gp"']),
    ({}, _space(gp_weight=GP), "space.train.gp_weight", ["'non_saturating', which ignores it"]),  # the default loss
    ({"loss": "hinge"}, _space(gp_weight=GP), "space.train.gp_weight", ["'hinge', which ignores it"]),
    ({"loss": "wasserstein_gp"}, _space(d_loss_floor=FLOOR), "space.train.d_loss_floor",
     ["'wasserstein_gp', which ignores it", 'loss = "non_saturating" or "hinge"']),
    # a searched key beside a searched loss, without the when
    ({}, _space(loss=LOSSES, gp_weight=GP), "space.train.gp_weight", ["searched with loss 'non_saturating' too",
                                                                     'add when = { "train.loss" = ["wasserstein_gp"] }']),
    ({}, _space(loss=LOSSES, d_loss_floor=FLOOR), "space.train.d_loss_floor", ["searched with loss 'wasserstein_gp' too",
                                                                              'add when = { "train.loss" = ["non_saturating"] }']),
    ({}, _space(loss={"choice": ["non_saturating", "hinge"]}, gp_weight=GP), "space.train.gp_weight", ["none of the losses"]),
    # a key set in [train] beside a loss (or searched losses) that ignore it
    ({"loss": "non_saturating", "gp_weight": 5.0}, {}, "train.gp_weight", ["'non_saturating', which ignores it"]),
    ({"loss": "wasserstein_gp", "d_loss_floor": 0.01}, {}, "train.d_loss_floor", ["'wasserstein_gp', which ignores it"]),
    ({"gp_weight": 5.0}, _space(loss={"choice": ["non_saturating", "hinge"]}), "train.gp_weight", ["none of the losses searched"]),
])
def test_a_loss_parameter_beside_a_loss_that_ignores_it_is_refused(train, space, key, words):
    found = _problems(study(train=train, space=space))
    assert any(k == key and all(w in f"{r} {v} {h}" for w in words) for k, r, v, h in found), found


@pytest.mark.parametrize(("train", "space"), [
    ({"loss": "wasserstein_gp"}, _space(gp_weight=GP)),
    ({"loss": "hinge"}, _space(d_loss_floor=FLOOR)),
    ({}, _space(d_loss_floor=FLOOR)),  # the default loss, non_saturating, reads it
    ({}, _space(loss=LOSSES, gp_weight={**GP, "when": {"train.loss": ["wasserstein_gp"]}})),
    ({}, _space(loss=LOSSES, d_loss_floor={**FLOOR, "when": {"train.loss": ["non_saturating"]}})),
    ({"gp_weight": 5.0, "d_loss_floor": 0.01}, _space(loss=LOSSES)),  # fixed, and read by some of the searched losses
    ({"loss": "wasserstein_gp", "gp_weight": 5.0}, {}),
    ({"d_loss_floor": 100.0}, {}),
])
def test_a_loss_parameter_a_loss_reads_is_accepted(train, space):
    parse_study(study(train=train, space=space), source="gan.toml")


def test_searching_gp_weight_beside_non_saturating_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "dead.toml"
    path.write_text('[data]\ndataset = "ring8"\n[model]\ntask = "gan"\nfamily = "mlp"\n[train]\nloss = "non_saturating"\n'
                    '[space]\n"train.gp_weight" = { grid = [1.0, 10.0] }\n', encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "train.gp_weight" in res.output and "wasserstein_gp" in res.output
    assert not out.exists()
