"""The GAN core (issue 16): metrics and losses against hand-computed values, collapse detection fed
numbers, the cost formulas against FLOPs counted op by op, and short seeded GANRun epochs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import flop_registry

from hpbench.config import OptimizerConfig
from hpbench.train.gan import cost, losses, metrics
from hpbench.train.gan.collapse import CollapseDetector, GANStop
from hpbench.train.gan.config import GANConfig, GANLoss
from hpbench.train.gan.evaluate import FrechetEvaluator, MixtureEvaluator
from hpbench.train.gan.features import FeatureSettings, feature_classifier
from hpbench.train.gan.mixtures import grid, mixture, ring, train_val
from hpbench.train.gan.optim import torch_optimizer
from hpbench.train.gan.run import GANRun

torch.set_num_threads(1)
RING = ring()

# ---------------------------------------------------------------- mixtures


def test_mixtures_are_seeded_and_shaped_as_published():
    assert np.allclose(np.linalg.norm(RING.centers, axis=1), 2.0) and RING.std == 0.02 and RING.n_modes == 8
    g = grid()
    assert g.n_modes == 25 and g.std == 0.05 and sorted(set(g.centers[:, 0])) == [-4, -2, 0, 2, 4]
    a, b = train_val("ring8", n_train=300, n_val=50, seed=3), train_val("ring8", n_train=300, n_val=50, seed=3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[0].dtype == np.float32
    assert not np.array_equal(a[0], train_val("ring8", n_train=300, n_val=50, seed=4)[0])
    assert np.array_equal(a[0], train_val("ring8", n_train=300, n_val=99, seed=3)[0])  # n_val leaves x_train alone
    with pytest.raises(ValueError, match=r"unknown mixture 'ring9' \(did you mean 'ring8'\?\)"):
        mixture("ring9")


def test_real_mixture_samples_score_as_the_gaussian_says():
    """A 2-D Gaussian puts 1 − e^{−9/2} = 98.9 % of its mass within 3σ."""
    x = RING.sample(20_000, rng=np.random.default_rng(0))
    assert metrics.hq_fraction(x, centers=RING.centers, std=RING.std) == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert metrics.modes_covered(x, centers=RING.centers, std=RING.std, min_share=0.01) == 8


# ---------------------------------------------------------------- metrics


def test_mode_metrics_on_hand_made_samples():
    c, s = RING.centers, RING.std
    assert metrics.hq_fraction(c, centers=c, std=s) == 1.0  # exactly at every mode
    assert metrics.modes_covered(c, centers=c, std=s, min_share=0.1) == 8
    far = np.zeros((8, 2))  # the ring's centre is 2 (= 100σ) from every mode
    assert metrics.hq_fraction(far, centers=c, std=s) == 0.0
    assert metrics.modes_covered(far, centers=c, std=s, min_share=0.01) == 0
    one = np.repeat(c[:1], 10, axis=0)  # all on one mode: collapse
    assert metrics.modes_covered(one, centers=c, std=s, min_share=0.01) == 1 and metrics.hq_fraction(one, centers=c, std=s) == 1.0
    half = np.concatenate([c, far])
    assert metrics.hq_fraction(half, centers=c, std=s) == 0.5
    edge = c[:2] + np.array([[3 * s * 0.999, 0.0], [3 * s * 1.001, 0.0]])  # just inside, just outside 3σ
    assert metrics.hq_fraction(edge, centers=c, std=s) == 0.5
    nan = np.array([[np.nan, 0.0], [2.0, 0.0]])  # a NaN sample is high quality nowhere
    assert metrics.hq_fraction(nan, centers=c, std=s) == 0.5


def test_a_mode_counts_only_above_the_min_share():
    c, s = RING.centers, RING.std
    x = np.concatenate([np.repeat(c[:1], 199, axis=0), c[1:2]])  # mode 1 holds 1 of 200 samples = 0.5 %
    assert metrics.modes_covered(x, centers=c, std=s, min_share=0.01) == 1
    assert metrics.modes_covered(x, centers=c, std=s, min_share=0.005) == 2
    with pytest.raises(ValueError, match="min_share must be in"):
        metrics.modes_covered(x, centers=c, std=s, min_share=0.0)


def test_class_coverage():
    assert metrics.class_coverage(np.zeros(50), n_classes=10) == 0.1
    assert metrics.class_coverage(np.arange(10), n_classes=10) == 1.0
    assert metrics.class_coverage(np.array([0] * 99 + [1]), n_classes=2, min_share=0.05) == 0.5
    with pytest.raises(ValueError, match=r"predicted classes must be in \[0, 3\)"):
        metrics.class_coverage(np.array([0, 3]), n_classes=3)


def test_frechet_distance_against_gaussian_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 5))
    s1 = a @ a.T + np.eye(5)
    mu = rng.standard_normal(5)
    assert metrics.frechet_distance(mu, s1, mu, s1) == pytest.approx(0.0, abs=1e-9)
    shift = np.arange(5.0)
    assert metrics.frechet_distance(mu, s1, mu + shift, s1) == pytest.approx(float(shift @ shift), rel=1e-9)  # = ‖Δμ‖²
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])  # diagonal: Σ (√σ₁ − √σ₂)²
    assert metrics.frechet_distance(np.zeros(3), np.diag(d1), np.zeros(3), np.diag(d2)) == pytest.approx(2.0)
    b = rng.standard_normal((5, 5))
    s2 = b @ b.T + 0.1 * np.eye(5)  # non-commuting: against scipy's sqrtm
    from scipy.linalg import sqrtm

    ref = float(np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2))))
    assert metrics.frechet_distance(mu, s1, mu, s2) == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_is_safe_on_singular_covariances_and_names_bad_input():
    x = np.random.default_rng(1).standard_normal((3, 8))  # 3 samples in 8-D: rank-2 covariances
    value = metrics.frechet_distance_of(x, x)
    assert value == pytest.approx(0.0, abs=1e-8) and value >= 0
    assert np.isfinite(metrics.frechet_distance_of(x, x + 1.0))
    with pytest.raises(ValueError, match="features must be finite, but 1 values are NaN"):
        metrics.gaussian_stats(np.array([[0.0, np.nan], [1.0, 1.0]]))


# ---------------------------------------------------------------- losses


def test_losses_match_their_formulas():
    r, f = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.2, 1.5])
    sig = torch.sigmoid
    ns_d = -(torch.log(sig(r))).mean() - torch.log(1 - sig(f)).mean()
    assert losses.d_loss(GANLoss.NON_SATURATING, real=r, fake=f) == pytest.approx(ns_d.item(), rel=1e-5)
    assert losses.g_loss(GANLoss.NON_SATURATING, fake=f) == pytest.approx(-torch.log(sig(f)).mean().item(), rel=1e-5)
    hinge_d = (torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean()).item()
    assert losses.d_loss(GANLoss.HINGE, real=r, fake=f) == pytest.approx(hinge_d, rel=1e-5)  # (0 + 2 + 0.5)/3 + (0 + 1.2 + 2.5)/3
    assert hinge_d == pytest.approx(2.5 / 3 + 3.7 / 3)
    assert losses.g_loss(GANLoss.HINGE, fake=f) == pytest.approx(-f.mean().item(), rel=1e-5)
    assert losses.d_loss(GANLoss.WASSERSTEIN_GP, real=r, fake=f) == pytest.approx((f.mean() - r.mean()).item(), rel=1e-5)
    assert losses.g_loss(GANLoss.WASSERSTEIN_GP, fake=f) == pytest.approx(-f.mean().item(), rel=1e-5)
    zero = torch.zeros(3)  # D(x) = sigmoid(0) = 1/2 everywhere: D loss = 2 log 2, G loss = log 2 (by hand)
    assert losses.d_loss(GANLoss.NON_SATURATING, real=zero, fake=zero).item() == pytest.approx(2 * math.log(2), rel=1e-5)
    assert losses.g_loss(GANLoss.NON_SATURATING, fake=zero).item() == pytest.approx(math.log(2), rel=1e-5)
    big = torch.tensor([200.0])  # softplus form: no log(0) = -inf at saturated scores
    assert math.isfinite(losses.d_loss(GANLoss.NON_SATURATING, real=-big, fake=big).item())


def test_gradient_penalty_formula():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0]]))  # ∇D = w everywhere, ‖w‖ = 5 → (5 − 1)² = 16
    real, fake, eps = torch.randn(4, 2), torch.randn(4, 2), torch.rand(4)
    assert losses.gradient_penalty(lin, real=real, fake=fake, eps=eps).item() == pytest.approx(16.0, rel=1e-5)

    class HalfSquare(torch.nn.Module):  # D(x) = ½‖x‖² → ∇D(x̂) = x̂
        def forward(self, x):
            return 0.5 * (x**2).sum(dim=1)

    real, fake, eps = torch.tensor([[2.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.0], [0.0, 4.0]]), torch.tensor([0.25, 0.5])
    # x̂ = (0.5, 0) and (0, 2): ((0.5 − 1)² + (2 − 1)²) / 2 = 0.625
    assert losses.gradient_penalty(HalfSquare(), real=real, fake=fake, eps=eps).item() == pytest.approx(0.625, rel=1e-5)
    penalty = losses.gradient_penalty(lin, real=real, fake=fake, eps=eps)
    penalty.backward()  # create_graph: the penalty trains D's weights
    assert lin.weight.grad is not None and torch.allclose(lin.weight.grad, 2 * (5 - 1) * torch.tensor([[3.0, 4.0]]) / 5)


# ---------------------------------------------------------------- collapse detection


def test_nan_is_divergence_and_the_verdict_sticks():
    det = CollapseDetector(patience=3)
    assert det.update(g_loss=1.0, d_loss=1.0) is None
    assert det.update(g_loss=float("nan"), d_loss=1.0) is GANStop.DIVERGED
    assert det.update(g_loss=1.0, d_loss=1.0) is GANStop.DIVERGED
    assert CollapseDetector(patience=3).update(g_loss=1.0, d_loss=1.0, samples_finite=False) is GANStop.DIVERGED


def test_discriminator_winning_for_patience_evaluations_is_collapse():
    det = CollapseDetector(patience=3, d_loss_floor=1e-3)
    for d in (1e-4, 1e-4, 0.5, 1e-4, 1e-4):  # the streak restarts after a recovery
        assert det.update(g_loss=5.0, d_loss=d) is None
    assert det.update(g_loss=5.0, d_loss=1e-4) is GANStop.COLLAPSED
    off = CollapseDetector(patience=1, d_loss_floor=None)  # wasserstein_gp: the rule is off
    assert off.update(g_loss=5.0, d_loss=-1e-9) is None


def test_few_modes_after_warmup_is_collapse():
    det = CollapseDetector(patience=2, warmup=3)
    for _ in range(3):
        assert det.update(g_loss=1.0, d_loss=1.0, modes=0) is None  # warm-up: not counted
    assert det.update(g_loss=1.0, d_loss=1.0, modes=1) is None
    assert det.update(g_loss=1.0, d_loss=1.0, modes=5) is None  # recovered
    assert det.update(g_loss=1.0, d_loss=1.0, modes=1) is None
    state = det.state_dict()
    resumed = CollapseDetector(patience=2, warmup=3)
    resumed.load_state_dict(state)
    assert resumed.update(g_loss=1.0, d_loss=1.0, modes=1) is GANStop.COLLAPSED
    assert det.update(g_loss=1.0, d_loss=1.0, modes=None) is None  # unknown modes never count


# ---------------------------------------------------------------- config and optimizers


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match=r"gan.loss must be one of non_saturating, hinge, wasserstein_gp, but got loss='wgan'"):
        GANConfig(loss="wgan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"gan.d_steps must be an integer >= 1, but got d_steps=0"):
        GANConfig(d_steps=0)
    with pytest.raises(ValueError, match=r"gan.d_optimizer.lr must be a finite number > 0, but got lr=0.0"):
        GANConfig(d_optimizer=OptimizerConfig(name="adam", lr=0.0))
    assert GANConfig(loss="hinge").loss is GANLoss.HINGE  # type: ignore[arg-type]


def test_torch_optimizer_names_and_errors():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert torch_optimizer("nesterov", p, lr=0.1, params={}).defaults["nesterov"] is True
    assert torch_optimizer("amsgrad", p, lr=0.1, params={"betas": [0.5, 0.9]}).defaults["betas"] == (0.5, 0.9)
    with pytest.raises(ValueError, match=r"unknown name 'adamm' \(did you mean 'adam'\?\)"):
        torch_optimizer("adamm", p, lr=0.1, params={})
    with pytest.raises(ValueError, match=r"optimizer sgd: unknown parameter\(s\) betas"):
        torch_optimizer("sgd", p, lr=0.1, params={"betas": (0.5, 0.9)})


# ---------------------------------------------------------------- GANRun

TINY = dict(latent_dim=4, g_hidden=16, d_hidden=16, g_depth=1, d_depth=1, batch_size=32, steps_per_epoch=5, n_eval_samples=200)


def _run(seed: int = 0, **overrides) -> GANRun:
    x_train, _ = train_val("ring8", n_train=500, n_val=10, seed=0)
    return GANRun(GANConfig(seed=seed, **{**TINY, **overrides}), x_train=x_train, evaluator=MixtureEvaluator(mixture=RING))


def test_a_seeded_epoch_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = _run().train_epoch()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert a == _run().train_epoch()
    assert a != _run(seed=1).train_epoch()
    assert set(a) == {"g_loss", "d_loss", "gp", "modes_covered", "hq_fraction", "diverged", "collapsed"}
    assert a["diverged"] == a["collapsed"] == 0.0


@pytest.mark.parametrize("overrides", [{}, {"loss": "wasserstein_gp", "d_steps": 2, "g_ema": 0.9}])
def test_resume_from_state_dict_continues_bit_for_bit(overrides):
    straight = _run(**overrides)
    straight.train_epoch()
    expected = straight.train_epoch()
    first = _run(**overrides)
    first.train_epoch()
    state = first.state_dict()
    resumed = _run(seed=5, **overrides)  # different init and rng: everything comes from the state
    resumed.load_state_dict(state)
    assert resumed.train_epoch() == expected
    assert np.array_equal(resumed.sample(7, seed=2), straight.sample(7, seed=2))


def test_generator_and_discriminator_optimizers_are_separate():
    run = _run(g_optimizer=OptimizerConfig(name="sgd", lr=1e-12), d_optimizer=OptimizerConfig(name="rmsprop", lr=0.01, params={"alpha": 0.9}))
    assert isinstance(run.g_optimizer, torch.optim.SGD) and isinstance(run.d_optimizer, torch.optim.RMSprop)
    assert run.d_optimizer.defaults["alpha"] == 0.9
    g0 = [p.clone() for p in run.generator.parameters()]
    d0 = [p.clone() for p in run.discriminator.parameters()]
    run.train_epoch()
    assert all(torch.allclose(a, b, atol=1e-9) for a, b in zip(g0, run.generator.parameters(), strict=True))  # lr 1e-12
    assert not all(torch.equal(a, b) for a, b in zip(d0, run.discriminator.parameters(), strict=True))


def test_hpbench_optimizer_registry_plugs_in():
    from hpbench.train.optimizers import build_optimizer

    run = _run(g_optimizer=OptimizerConfig(name="adamw", lr=1e-3, params={"betas": (0.9, 0.999)}))
    other = GANRun(run.config, x_train=run.x_train.numpy(), evaluator=run.evaluator, build_optimizer=build_optimizer)
    assert isinstance(other.g_optimizer, torch.optim.AdamW) and other.g_optimizer.defaults["betas"] == (0.9, 0.999)
    assert run.train_epoch() == other.train_epoch()


def test_wgan_gp_epoch_reports_the_penalty_and_an_exploding_run_diverges():
    out = _run(loss="wasserstein_gp").train_epoch()
    assert out["gp"] > 0 and math.isfinite(out["d_loss"])
    boom = _run(d_optimizer=OptimizerConfig(name="sgd", lr=1e30), g_optimizer=OptimizerConfig(name="sgd", lr=1e30))
    out = boom.train_epoch()
    assert out["diverged"] == 1.0 and boom.stop_reason is GANStop.DIVERGED and "modes_covered" not in out
    with pytest.raises(RuntimeError, match="already stopped"):
        boom.train_epoch()


def test_a_generator_stuck_on_one_mode_is_stopped_as_collapsed():
    run = _run(collapse_warmup=0, collapse_patience=2)
    with torch.no_grad():  # pin G's output to mode 0 and freeze it
        last = run.generator[-1]
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(RING.centers[0], dtype=torch.float32))
    run.g_optimizer.param_groups[0]["lr"] = 0.0
    assert run.train_epoch()["collapsed"] == 0.0
    out = run.train_epoch()
    assert out["modes_covered"] == 1.0 and out["collapsed"] == 1.0 and run.stop_reason is GANStop.COLLAPSED


# ---------------------------------------------------------------- feature classifier and Fréchet evaluator


def test_feature_classifier_is_trained_once_and_cached(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (rng.standard_normal((300, 1, 2, 2)) + 3 * y[:, None, None, None]).astype(np.float32)
    settings = FeatureSettings(hidden=16, n_features=8, epochs=10, lr=1e-2)
    clf = feature_classifier(key="blobs", x=x, y=y, cache_dir=tmp_path, settings=settings)
    files = list(tmp_path.glob("blobs-*.pt"))
    assert len(files) == 1 and (clf.predict(x) == y).mean() > 0.9
    again = feature_classifier(key="blobs", x=x, y=y, cache_dir=tmp_path, settings=settings)
    assert np.array_equal(again.features(x[:5]), clf.features(x[:5])) and len(list(tmp_path.glob("*.pt"))) == 1
    feature_classifier(key="blobs", x=x[:-1], y=y[:-1], cache_dir=tmp_path, settings=settings)  # other data, other file
    assert len(list(tmp_path.glob("blobs-*.pt"))) == 2

    ev = FrechetEvaluator(x_ref=x, classifier=clf)
    same = ev(x)
    assert same.metrics["frechet_distance"] == pytest.approx(0.0, abs=1e-6) and same.metrics["class_coverage"] == 1.0 and same.modes == 3
    collapsed = ev(x[y == 0])
    assert collapsed.metrics["frechet_distance"] > 1.0 and collapsed.modes == 1
    raw = FrechetEvaluator(x_ref=x)(x + 10.0)  # no labels: standardized raw features
    assert raw.modes is None and raw.metrics["frechet_distance"] > 1.0


def test_a_constant_real_feature_does_not_blow_up_the_distance():
    """Digits' border pixels are always 0: a generated 0.1 there must not be divided by a ~0 std."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal((200, 3)), np.zeros((200, 1))], axis=1)
    noisy = x + np.array([0.0, 0.0, 0.0, 0.1])
    floor = 0.1 * x.std(axis=0).mean()  # the std floor: 10 % of the mean std (without it: (0.1 / 1e-6)² = 1e10)
    assert FrechetEvaluator(x_ref=x)(noisy).metrics["frechet_distance"] == pytest.approx((0.1 / floor) ** 2, rel=1e-6)


# ---------------------------------------------------------------- cost


class _CountFlops(TorchDispatchMode):
    """Matmul FLOPs op by op from torch's flop registry (FlopCounterMode's module tracker cannot
    follow ``autograd.grad`` on a leaf, which the gradient penalty needs)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket in flop_registry:
            shapes = tree_map(lambda t: t.shape if isinstance(t, torch.Tensor) else t, (args, kwargs))
            self.total += flop_registry[func._overloadpacket](*shapes[0], **shapes[1], out_val=out)
        return out


@pytest.mark.parametrize("loss", ["hinge", "wasserstein_gp"])
def test_cost_formulas_match_counted_flops(loss):
    run = _run(loss=loss, latent_dim=16, g_hidden=64, g_depth=2, d_hidden=48, d_depth=2)
    cfg = run.config
    g_fwd = cost.mlp_forward_flops(sizes=[16, 64, 64, 2])
    d_fwd = cost.mlp_forward_flops(sizes=[2, 48, 48, 1])
    for step, formula in ((run._d_step, cost.d_step_flops(g_forward=g_fwd, d_forward=d_fwd, batch_size=cfg.batch_size, gradient_penalty=loss == "wasserstein_gp")),
                          (run._g_step, cost.g_step_flops(g_forward=g_fwd, d_forward=d_fwd, batch_size=cfg.batch_size))):
        with _CountFlops() as counter:
            step()
        assert 0.93 * formula <= counter.total <= formula  # G's first layer needs no input gradient
    per_epoch = cost.config_epoch_flops(cfg, data_dim=2)
    d = cost.d_step_flops(g_forward=g_fwd, d_forward=d_fwd, batch_size=cfg.batch_size, gradient_penalty=loss == "wasserstein_gp")
    g = cost.g_step_flops(g_forward=g_fwd, d_forward=d_fwd, batch_size=cfg.batch_size)
    assert per_epoch == cfg.steps_per_epoch * (cfg.d_steps * d + g) + cfg.n_eval_samples * g_fwd


def test_cost_counts_d_steps_and_the_penalty():
    kw = dict(g_forward=100.0, d_forward=10.0, batch_size=4, steps_per_epoch=2)
    base = cost.epoch_flops(d_steps=1, gradient_penalty=False, **kw)
    assert base == 2 * (4 * (100 + 60) + 4 * (300 + 20))  # = 3840
    assert cost.epoch_flops(d_steps=5, gradient_penalty=False, **kw) == 2 * (5 * 4 * 160 + 4 * 320)
    assert cost.epoch_flops(d_steps=1, gradient_penalty=True, **kw) == base + 2 * 4 * 60
    assert cost.epoch_flops(d_steps=1, gradient_penalty=False, n_eval_samples=10, **kw) == base + 1000
    with pytest.raises(ValueError, match="d_steps must be >= 1, but got d_steps=0"):
        cost.epoch_flops(d_steps=0, gradient_penalty=False, **kw)


def test_softplus_form_equals_bce():
    """The non-saturating losses are torch's BCE-with-logits against labels 1 (real) and 0 (fake)."""
    r, f = torch.randn(16), torch.randn(16)
    bce = F.binary_cross_entropy_with_logits(r, torch.ones(16)) + F.binary_cross_entropy_with_logits(f, torch.zeros(16))
    assert losses.d_loss(GANLoss.NON_SATURATING, real=r, fake=f).item() == pytest.approx(bce.item(), rel=1e-5)
