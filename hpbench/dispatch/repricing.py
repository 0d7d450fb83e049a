"""What a search takes from the commands before it on this machine: its study's earlier records
re-priced against the current device model (:mod:`hpbench.cost.reprice`: read from the cache when
it has them, else priced in the helper process, the trials' own predictor, while the search runs;
the clock's figures follow once they are back) and the study's last estimate's predictions of
its sampled configurations (:mod:`hpbench.cost.priced`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, TypeVar

from hpbench.cost import history, priced, reprice, startup_probe
from hpbench.cost.figures import Figures
from hpbench.cost.history import ModelTag
from hpbench.study.schema import Study

T = TypeVar("T")


def repriced_speeds(study: Study, records: list[dict[str, Any]]) -> dict[str, float]:
    """In the helper process: ``records``' speeds against the study's device model, as its
    predictor prices them (:func:`hpbench.cost.reprice.speeds`)."""
    from hpbench.dispatch.predictions import predict_columns

    return reprice.speeds(records, lambda params: predict_columns(study, dict(params), None).get("predicted_epoch_s"))


class Repricing:
    def __init__(self, *, study: Study, records: Sequence[Mapping[str, Any]], model: ModelTag | None, history_dir: Path | None,
                 price_with: Callable[[Study, list[dict[str, Any]]], dict[str, float]] = repriced_speeds) -> None:
        """``price_with``: ``(study, records) -> speeds``, called in the pool (a module-level function: the helper pickles it)."""
        self.study, self.records, self.model, self.history_dir, self.price_with = study, records, model, history_dir, price_with
        self.speeds: dict[str, float] = reprice.load_cache(history_dir, model) if history_dir is not None else {}
        self._fut: Future[dict[str, float]] | None = None

    def figures(self) -> Figures:
        """The history's figures (:func:`hpbench.cost.history.figures`), the re-priced records read as the current model's."""
        if self.history_dir is None:
            return Figures()
        return history.figures(self.records, study=self.study.name, model=self.model, repriced=self.speeds, prior=startup_probe.prior(self.history_dir))

    def start(self, pool: Executor) -> None:
        """Price in ``pool`` the study's latest records of an earlier model the cache has not got."""
        todo = reprice.missing(self.records, study=self.study.name, model=self.model, have=self.speeds)
        if todo and self.history_dir is not None:
            self._fut = pool.submit(self.price_with, self.study, todo)

    def take(self) -> bool:
        """Whether new speeds came back since the last call (then added to :attr:`speeds` and the cache)."""
        fut = self._fut
        if fut is None or not fut.done():
            return False
        self._fut = None
        new = fut.result() if fut.exception() is None else {}
        if not new or self.history_dir is None or self.model is None:
            return False
        self.speeds = reprice.remember(self.history_dir, self.model, self.speeds, new)
        return True


def estimate_flops(history_dir: Path | None, *, model: ModelTag | None, study: Study) -> Future[float | None] | None:
    """The median FLOPs per step of the configurations the study's last estimate against ``model``
    sampled (:func:`hpbench.cost.priced.load_flops`), as a future done already; None without one."""
    got = None if history_dir is None else priced.load_flops(history_dir, model=model, study=study)
    return None if got is None else _done(got)


def estimate_plan(history_dir: Path | None, *, model: ModelTag | None, study: Study) -> Future[list[float]] | None:
    """The sampled configurations' predictions from the study's last estimate against ``model``
    (:mod:`hpbench.cost.priced`), as a future done already: no wait for the helper. None without one."""
    from hpbench.dispatch.predictions import sampled_configurations

    got = None if history_dir is None else priced.load(history_dir, model=model, study=study, n=len(sampled_configurations(study)))
    return _done(got) if got else None


def _done(value: T) -> Future[T]:
    """A future that already holds ``value`` (the clock reads the estimate's and the helper's alike)."""
    fut: Future[T] = Future()
    fut.set_result(value)
    return fut
