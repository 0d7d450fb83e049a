"""The study keys of the ``gan`` task (``[model] task = "gan"``), with the rule each value must
satisfy: what the study parser checks, the JSON Schema describes and :mod:`hpbench.train.gan.task`
turns into a :class:`~hpbench.train.gan.config.GANConfig`. Torch-free.

The common tables keep their meaning: ``[data] dataset`` is what the generator learns to sample
(``ring8`` / ``grid25``: the 2-D mixtures; any other dataset: Fréchet distance); ``[model] family``
(``mlp``) with ``depth`` / ``width`` / ``activation`` is the generator, ``d_depth`` / ``d_width``
the discriminator (same activation); ``[optimizer]`` is the generator's optimizer and the
``d_optimizer`` / ``d_lr`` / ``d_betas`` keys of ``[train]`` the discriminator's, searched
separately (``"optimizer.betas"`` and ``"train.d_betas"`` in [space]); ``[train] batch_size`` is
the batch of real and of generated samples per step; ``max_epochs`` counts evaluations, each
after ``g_steps_per_epoch`` generator steps. Defaults are :class:`GANConfig`'s (a test keeps them equal).
"""

from __future__ import annotations

from hpbench.registry import Param
from hpbench.rules import Float, Int, ListOf, OneOf
from hpbench.train.gan.config import GANConfig, GANLoss

_D = GANConfig()
ADAM_LIKE = ("adam", "amsgrad", "adamw")  # the optimizers d_betas applies to
D_OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", *ADAM_LIKE)

DATA: dict[str, Param] = {}

MODEL = {
    "latent_dim": Param(Int(min=1, max=4096), _D.latent_dim, "dimension of the generator's Gaussian noise z"),
    "d_depth": Param(Int(min=0, max=64), _D.d_depth, "hidden layers of the discriminator (an MLP; the generator is [model] depth x width)"),
    "d_width": Param(Int(min=1, max=65536), _D.d_hidden, "units per hidden layer of the discriminator"),
}

TRAIN = {
    "loss": Param(OneOf(tuple(m.value for m in GANLoss), "loss"), _D.loss.value,
                  "the adversarial objective: non_saturating (Goodfellow 2014), hinge, wasserstein_gp (Gulrajani 2017)"),
    "d_steps": Param(Int(min=1, max=100), _D.d_steps, "discriminator updates per generator update"),
    "gp_weight": Param(Float(min=0.0), _D.gp_weight, "weight of the gradient penalty (loss wasserstein_gp)"),
    "g_steps_per_epoch": Param(Int(min=1), _D.steps_per_epoch, "generator updates per epoch (one evaluation per epoch)"),
    "d_optimizer": Param(OneOf(D_OPTIMIZERS, "optimizer"), "adam", "the discriminator's optimizer ([optimizer] is the generator's)"),
    "d_lr": Param(Float(min=0.0, min_open=True), _D.d_optimizer.lr, "the discriminator's learning rate"),
    "d_betas": Param(ListOf(Float(min=0.0, max=1.0, max_open=True), min_len=2, max_len=2), tuple(_D.d_optimizer.params["betas"]),
                     "the discriminator's Adam betas (d_optimizer adam, amsgrad or adamw)"),
    "g_ema": Param(Float(min=0.0, max=1.0, max_open=True), _D.g_ema, "evaluate an exponential moving average of G's weights (0: off)"),
    "n_eval_samples": Param(Int(min=10, max=1_000_000), _D.n_eval_samples, "generated samples per evaluation"),
    "mode_min_share": Param(Float(min=0.0, max=1.0, min_open=True), _D.mode_min_share,
                            "a mode (or class) counts as covered when this share of samples is within 3 sigma of it"),
    "collapse_patience": Param(Int(min=1), _D.collapse_patience, "evaluations in a row that look collapsed before the trial stops as collapsed"),
    "collapse_warmup": Param(Int(min=0), _D.collapse_warmup, "evaluations before the 'at most one mode' rule applies"),
    "d_loss_floor": Param(Float(min=0.0), _D.d_loss_floor, "a discriminator loss below this counts as collapse (not for wasserstein_gp)"),
}

# Keys of the common tables that mean nothing to the gan task (rejected when set or searched). A gan
# has no test split (its model is a generator: the supervised test evaluation crashed on it after
# every trial had trained), so the keys that ask for one are refused too.
NOT_FOR_GAN = ("data.test_fraction", "data.x_test", "data.y_test", "data.preprocess", "model.init_from", "model.freeze", "train.init",
               "train.init_std", "train.calibration", "train.precision", "train.devices", "train.clip_norm", "train.clip_value", "train.label_smoothing")

# The [train] keys only some losses read -> those losses (hpbench.train.gan.run): the gradient
# penalty is wasserstein_gp's; the collapse rule's discriminator-loss floor is off for wasserstein_gp.
LOSS_PARAMS = {"gp_weight": (GANLoss.WASSERSTEIN_GP.value,),
               "d_loss_floor": tuple(m.value for m in GANLoss if m is not GANLoss.WASSERSTEIN_GP)}

MIXTURE_METRICS = ("val_modes_covered", "val_hq_fraction", "val_modes_hq")
FRECHET_METRICS = ("val_frechet_distance", "val_class_coverage")
CLASS_TASKS = ("multiclass", "binary")  # the tasks whose data gives val_class_coverage (a classifier of its classes)
METRICS = ("train_loss", "train_g_loss", "train_d_loss", "train_gp", *MIXTURE_METRICS, *FRECHET_METRICS)
DEFAULT_METRIC = "val_modes_hq"  # modes covered + hq_fraction: ranks by modes, then by sample quality


def default_metric(dataset: object = None) -> str:
    """What a gan study ranks by when ``[study] metric`` is not set: :data:`DEFAULT_METRIC` on the
    2-D mixtures (ring8, grid25), the Fréchet distance of its samples on any other dataset (the
    mixtures' metrics are theirs only: a digits GAN was refused until its metric was set by hand)."""
    from hpbench.data.mixtures import MIXTURES

    return DEFAULT_METRIC if dataset is None or dataset in MIXTURES else FRECHET_METRICS[0]
