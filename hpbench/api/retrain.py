"""``hpbench.train_study``: train one configuration — a study without ``[space]``, such as the one
``hpbench best --study-out`` writes — with the same trainer every search trial runs, in this
process (no Ray), and save the model with its metrics, the test split's included.

The trial's seed, data split, threads (``cpus_per_trial``) and device are the study's, so the
winner of a search retrained this way repeats its trial's epochs.

``DIR`` (default ``results/<study name>``) receives ``model.pt`` (the weights file format of
:mod:`hpbench.train.weights`: ``hpbench.train.weights.load_record`` + ``build_saved_model`` read
it), ``metrics.json`` (final metrics, every epoch, the configuration) and ``study.toml`` (the study
trained, overrides and ``epochs`` applied); :mod:`hpbench.api.train_folder` owns that folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpbench.api.checks import check_call
from hpbench.api.train_folder import check_folder, trained_study, write
from hpbench.errors import StudyError
from hpbench.results.files import STUDY_JSON, OutputError, check_fresh_folder, check_writable
from hpbench.results.train_record import METRICS_FILE, MODEL_FILE, held
from hpbench.study.schema import Study

if TYPE_CHECKING:
    import torch
    from rich.console import Console

    from hpbench.api.predict import Predictor

__all__ = ["METRICS_FILE", "MODEL_FILE", "OutputError", "Trained", "check_train", "train_study"]


@dataclass(frozen=True, kw_only=True)
class Trained:
    """One configuration trained by :func:`train_study`."""

    out: Path  # where model.pt and metrics.json are
    metrics: dict[str, float]  # the final model's: the epoch at best_epoch (train_loss, val_*), and test_* with a test split
    history: list[dict[str, Any]]  # every epoch's row, as the trainer reported it
    best_epoch: int
    epochs: int  # epochs run
    stop_reason: str
    train_s: float
    model: torch.nn.Module | None = field(default=None, repr=False)  # the final model (CPU or the study's device), eval mode
    families: tuple[str, ...] = ()  # the model family the study names (a user family's weights build only with it)

    @property
    def weights(self) -> Path:
        return self.out / MODEL_FILE

    def load_model(self) -> torch.nn.Module:
        """The trained model as ``Results.load_model`` gives it, rebuilt from ``model.pt`` on the CPU,
        in eval mode: a supervised study's network, an rl study's policy (taking raw observations
        with ``normalize_obs``), a gan study's generator (:attr:`model` is what the trainer holds)."""
        from hpbench.api.predict import load_model

        return load_model(self.weights, user_families=self.families)

    def load_predictor(self) -> Predictor:
        """The trained model with its data's encoding, for new raw data (:class:`hpbench.api.predict.Predictor`)."""
        from hpbench.api.predict import load_predictor

        return load_predictor(self.weights, user_families=self.families)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "weights": str(self.weights), "metrics": self.metrics, "best_epoch": self.best_epoch,
                "epochs": self.epochs, "stop_reason": self.stop_reason, "train_s": self.train_s}


def train_study(study: Study, *, epochs: int | None = None, out: str | Path | None = None, force: bool = False,
                console: Console | None = None) -> Trained:
    """Train the study's one configuration; ``epochs`` overrides ``[train] max_epochs``. Each
    epoch is printed on ``console`` (default: a new Rich console; ``Console(quiet=True)`` for none).
    Raises :class:`~hpbench.errors.StudyError` before training when the study has a ``[space]``,
    ``epochs`` is below 1 or ``out`` cannot take the results, :class:`OutputError` when ``out``
    holds another study's training (``force``: replace it), its ``PreflightFailed`` when
    the search's pre-flight finds the data or the network broken, and a ``StudyError`` after
    training when it diverged in its first epoch (no finite weights: nothing is written). It trains in this process and
    leaves it as it was: torch's thread count (set to the trial's while it trains) is restored, the
    trial workers' allocator setting is not applied (:mod:`hpbench.train.in_process`)."""
    from rich.console import Console

    check_call("hpbench.train", study, ints={"epochs": epochs})
    target, trained, study_text, replacing = _check(study, epochs=epochs, out=out, force=force, cli=False)
    from hpbench.train.in_process import caller_process

    con = console or Console(emoji=False)
    if replacing:
        con.print(replacing, highlight=False, markup=False)
    with caller_process():
        return _train(trained, target=target, study_text=study_text, con=con)


def _train(study: Study, *, target: Path, study_text: str, con: Console) -> Trained:
    """Train ``study`` (:func:`~hpbench.api.train_folder.trained_study`: its epochs are the ones
    asked for) and write its folder."""
    from rich.markup import escape

    from hpbench.preflight.run import preflight
    from hpbench.study.resolve import trial_config
    from hpbench.train import weights
    from hpbench.train.evaluate import evaluate_test, has_test_split
    from hpbench.train.task import evaluates_test
    from hpbench.train.trainer import train as run_trainer

    # the search's pre-flight: bad data or a network that cannot be built (user code raising, a CNN
    # asking for 19 GB) is a PreflightFailed naming it before any training, not a traceback after
    for warning in preflight(study):
        con.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    cfg = trial_config(study, {})
    final: dict[str, Any] = {}

    def keep_final(state: dict[str, Any]) -> None:
        if "final_model" in state:
            final["record"] = state["final_model"]

    def show(row: dict[str, Any]) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if _metric(k) and isinstance(v, float))
        con.print(f"[dim]epoch {row['epoch']}/{cfg.train.max_epochs}  {shown}[/]", highlight=False, soft_wrap=True)  # one line each, piped too

    outcome = run_trainer(cfg, report=show, on_state=keep_final)
    if outcome.best_epoch is None:  # diverged before any epoch's weights were kept (hpbench.train.best): none to save
        raise StudyError(source=study.source, key="train", rule=f"the training diverged (its loss was not finite) in epoch "
                         f"{outcome.history[-1]['epoch']}, before any epoch's weights were kept: it has no model to save, and nothing was written",
                         hint=f"a smaller optimizer.lr than {cfg.optimizer.lr:g}")
    best = next((r for r in outcome.history if r["epoch"] == outcome.best_epoch), outcome.history[-1])
    metrics = {k: float(v) for k, v in best.items() if _metric(k) and isinstance(v, int | float) and math.isfinite(v)}
    model = outcome.model.eval()
    # test_fraction > 0, or a test split given with the data; a gan's generator (or an rl policy) has
    # no test evaluation: fed the test split's samples as noise, it crashed after the training (s49/h5)
    if evaluates_test(cfg.task) and has_test_split(cfg):
        import torch

        with torch.no_grad():
            metrics.update(evaluate_test(cfg, model))
    result = Trained(out=target, metrics=metrics, history=outcome.history, best_epoch=outcome.best_epoch, epochs=len(outcome.history),
                     stop_reason=str(outcome.stop_reason), train_s=float(sum(r.get("epoch_s", 0.0) for r in outcome.history)), model=model,
                     families=(cfg.model.family,))
    write(target, trained=study, model=weights.dumps(final["record"]), study_text=study_text,
          record={**result.to_dict(), "source": study.source, "config": study.config, "history": outcome.history})
    return result


def check_train(study: Study, *, epochs: int | None, out: str | Path | None, cli: bool = False, force: bool = False) -> Path:
    """Refuse, before anything is trained or written, what :func:`train_study` cannot do; returns ``DIR``."""
    return _check(study, epochs=epochs, out=out, force=force, cli=cli)[0]


def _check(study: Study, *, epochs: int | None, out: str | Path | None, force: bool, cli: bool) -> tuple[Path, Study, str, str | None]:
    """``DIR``, the study trained, its ``study.toml`` text and the line saying which training in
    ``DIR`` it replaces (``None``: none), or the refusal."""
    if len(study.space):
        raise StudyError(source=study.source, key="space", value=", ".join(study.space.keys()),
                         rule="hpbench train trains one configuration: remove [space] (`hpbench best RESULTS --study-out FILE` "
                              "writes a search's winner as such a study)")
    if epochs is not None and epochs < 1:
        key = "--epochs" if cli else "epochs"
        raise StudyError(source="hpbench train" if cli else "hpbench.train", key=key, rule="must be at least 1", value=epochs)
    key = "--out" if cli else "out"
    if out == "":  # Path("") is the current directory
        raise StudyError(source="hpbench train" if cli else "hpbench.train", key=key, value=out,
                         rule="must be a folder path, not empty ('.' names the current folder)")
    target = Path(out) if out is not None else study.default_out()
    if (target / STUDY_JSON).is_file():
        raise StudyError(source="hpbench train" if cli else "hpbench.train", key=key, value=str(target),
                         rule=f"holds a search's results ({STUDY_JSON}); train into another directory")
    check_writable(target)
    if held(target) is None:  # model.pt, metrics.json and study.toml would replace the user's own files there
        check_fresh_folder(target, kind=f"an earlier training's folder (holding hpbench's {METRICS_FILE})")
    trained, study_text = trained_study(study, epochs=epochs)
    return target, trained, study_text, check_folder(target, trained, force=force, cli=cli)


def _metric(key: str) -> bool:
    return key == "train_loss" or key.startswith("val_")
