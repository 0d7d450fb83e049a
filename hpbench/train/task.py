"""What a trial learns, by name (``[model] task``): the registry of the trainer's tasks and the
small interface every task's run has. Torch-free: the study reads the registry to validate a
study file; the builders import their task's module.

The one trainer (:func:`hpbench.train.trainer.train`) owns everything epochs share: the epoch
loop, Keras-exact early stopping, the weights a trial ends with (its best epoch's), divergence,
stop reasons, reporting, the resumable state and the final weights. A task owns what one epoch does and what
its state is:

* ``supervised`` (:mod:`hpbench.train.supervised`): classification and regression on a dataset
  (the task kind is the dataset's: multiclass, binary, regression);
* ``rl`` (:mod:`hpbench.train.rl.task`): a policy-gradient agent on a Gymnasium environment, an
  epoch being a fixed number of environment steps;
* ``gan`` (:mod:`hpbench.train.gan.task`): a generator and a discriminator trained against each
  other on a dataset, an epoch being a fixed number of generator steps and one evaluation.

Adding a task is one module with a class following :class:`TaskRun` and one ``register`` line;
``meta`` tells the study parser which keys of ``[data]``, ``[model]`` and ``[train]`` the task adds
(``data``, ``model``, ``train``: tables of :class:`~hpbench.registry.Param`), which common keys
it does not take (``unsupported``), whether it reads ``[data] dataset`` like the supervised task
(``dataset``: its options and files are checked the same way), which metrics it reports (``metrics``; ``None``: the
dataset's task decides) and the one that ranks trials unless ``[study] metric`` says (``metric``;
``None``: ``val_loss``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hpbench.registry import Registry
from hpbench.train.gan import keys as gan_keys
from hpbench.train.rl import keys as rl_keys

if TYPE_CHECKING:
    from hpbench.config import TrialConfig
    from hpbench.results.status import StopReason

TASKS: Registry[Any] = Registry(what="task")
SUPERVISED = "supervised"


class TaskRun(Protocol):
    """One trial's task-specific work, driven epoch by epoch by the trainer."""

    n_params: int
    model: Any  # the network (an nn.Module) whose best epoch's weights the trial ends with (hpbench.train.best)

    def first_fields(self) -> dict[str, Any]:
        """Extra fields of the first epoch's row (the device, transfer-learning counts, ...)."""
        ...

    def run_epoch(self) -> dict[str, Any]:
        """Train one epoch and evaluate: the row's metrics (``train_loss``, ``val_*``, ...)."""
        ...

    def diverged(self, row: Mapping[str, Any]) -> bool:
        """Whether the epoch's row shows divergence (a non-finite loss)."""
        ...

    def stop_reason(self) -> StopReason | None:
        """A reason of the task's own to stop now (rl: ``solved``), or None."""
        ...

    def final_fields(self, *, diverged: bool) -> dict[str, Any]:
        """Fields of the last row, once the final weights are in place (calibration, steps to solve)."""
        ...

    def record(self, row: Mapping[str, Any]) -> Any:
        """The final weights file's record (:mod:`hpbench.train.weights`)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The task's resumable state: tensors and plain values (read back with weights_only=True)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


@TASKS.register(SUPERVISED, doc="classification or regression on a dataset (the dataset's task: multiclass, binary, regression)",
                data={}, model={}, train={}, unsupported=(), metrics=None, metric=None)
def _supervised(cfg: TrialConfig) -> TaskRun:
    from hpbench.train.supervised import SupervisedRun

    return SupervisedRun(cfg)


@TASKS.register("rl", doc="reinforcement learning: a policy-gradient agent (ppo, a2c, reinforce) on a Gymnasium environment",
                data=rl_keys.DATA, model=rl_keys.MODEL, train=rl_keys.TRAIN, unsupported=rl_keys.NOT_FOR_RL, metrics=rl_keys.METRICS,
                metric="val_return")
def _rl(cfg: TrialConfig) -> TaskRun:
    from hpbench.train.rl.task import RLTaskRun

    return RLTaskRun(cfg)


@TASKS.register("gan", doc="generative adversarial network: an MLP generator and discriminator trained against each other on a dataset",
                data=gan_keys.DATA, model=gan_keys.MODEL, train=gan_keys.TRAIN, unsupported=gan_keys.NOT_FOR_GAN, metrics=gan_keys.METRICS,
                metric=gan_keys.default_metric, dataset=True)
def _gan(cfg: TrialConfig) -> TaskRun:
    from hpbench.train.gan.task import GANTaskRun

    return GANTaskRun(cfg)


def evaluates_test(task: str) -> bool:
    """Whether ``task`` has a held-out test split to evaluate (``test_*`` columns,
    :func:`hpbench.train.evaluate.evaluate_test`): the supervised task only. A gan's model is a
    generator, whose input is noise, not data, and an rl study has no dataset: the supervised
    evaluation fed a gan's saved generator the test split's images and crashed after every trial
    had trained (bug hunt s49/h5), so the test split's paths skip the other tasks."""
    return task == SUPERVISED


def build_run(cfg: TrialConfig) -> TaskRun:
    """The run of the trial's task (built, not yet trained)."""
    run: TaskRun = TASKS.get(cfg.task).build(cfg)
    return run
