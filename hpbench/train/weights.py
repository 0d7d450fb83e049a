"""The weights file of a finished trial: its one owner, writing and reading.

A weights file is ``torch.save`` of a :class:`WeightsRecord` (a plain ``dict`` on disk): the
final (restored-best) model's ``state_dict`` on the CPU plus what rebuilds the model
(``family``, ``params``, ``input_shape``, ``n_outputs``, the data's ``kind``), the ``task`` and the fitted
``temperature`` (``None`` without temperature scaling).

The trainer builds the record (:func:`record`) into its final state; the dispatcher writes it
(:func:`save`) into the trial's last Tune checkpoint or hands it over on the driver's node; the
driver places it at ``results/<name>/weights/<trial>.pt`` (path helpers, torch-free:
:mod:`hpbench.results.weights`). Transfer learning, distillation and the test split read it back
(:func:`load_record`, :func:`build_saved_model`).

A weights file may come from someone else's results folder, so reading one runs no code: its
pickle is checked first (:func:`hpbench.results.weights.check_weights_file`), loaded with
``torch.load(weights_only=True)`` (tensors and plain containers only), and its fields checked;
a model is rebuilt only from a registered family with valid parameters, or from a user family
(``package.module:build``) that the reading study names itself. Anything else is a
:class:`~hpbench.results.weights.WeightsFileError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Collection
from pathlib import Path
from typing import IO, Any, NotRequired, TypedDict

import torch

from hpbench.config import TrialConfig
from hpbench.data.encoding import Encoding
from hpbench.data.kinds import KINDS
from hpbench.data.prepare import Splits, StreamSplits
from hpbench.models import FAMILIES, build_model
from hpbench.registry import import_user_module, is_import_spec
from hpbench.results.weights import WeightsFileError, check_weights_file
from hpbench.rules import RuleError


class WeightsRecord(TypedDict):
    state_dict: dict[str, torch.Tensor]
    family: str
    params: dict[str, Any]
    input_shape: tuple[int, ...]
    n_outputs: int
    task: str
    temperature: NotRequired[float | None]
    kind: NotRequired[str]  # the data's kind (absent from files written before kinds: the shape's default)
    encoding: NotRequired[dict[str, Any] | None]  # the data as given -> the model's inputs and classes (hpbench.data.encoding); None: streamed


def record(cfg: TrialConfig, splits: Splits | StreamSplits, model: torch.nn.Module, *, temperature: float | None) -> WeightsRecord:
    """What a saved weights file holds: the weights (copied to the CPU) and what rebuilds the model."""
    params = dict(cfg.model.params)
    if cfg.model.family in FAMILIES:  # only the family's own: a fixed [model] key of another searched family (a transformer's
        own = FAMILIES.get(cfg.model.family).params  # ff_width beside family = "gru") made the file refuse to load
        params = {k: v for k, v in params.items() if k in own}
    return {"state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
            "family": cfg.model.family, "params": params, "input_shape": tuple(splits.input_shape),
            "n_outputs": int(splits.n_outputs), "task": splits.task, "temperature": temperature,
            "kind": str(splits.kind), "encoding": splits.encoding.to_record() if isinstance(splits, Splits) else None}


def save(rec: WeightsRecord | dict[str, Any], file: str | Path | IO[bytes]) -> None:
    """Write a weights file (a path or an open binary file)."""
    torch.save(rec, file)


def save_new(rec: WeightsRecord | dict[str, Any], directory: str | Path) -> str:
    """Write a weights file under a new unique name in ``directory`` (created if need be), for
    the driver to move into place (a trial's hand-off, an early trial's or a fused member's
    weights); returns its path."""
    import tempfile

    os.makedirs(directory, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="weights-", suffix=".pt", dir=directory)
    with os.fdopen(fd, "wb") as f:
        save(rec, f)
    return path


def dumps(rec: WeightsRecord | dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    save(rec, buf)
    return buf.getvalue()


def load_record(path: str | Path, *, finite: bool = False) -> WeightsRecord:
    """Read a weights file (tensors on the CPU); refuses, with a :class:`WeightsFileError`, one
    that would run code or is not a weights record, and with ``finite`` one whose weights are not
    finite (:func:`check_finite`: what a training starts from, ``init_from`` and a teacher)."""
    path = Path(path)
    check_weights_file(path)
    try:
        rec = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise WeightsFileError(f"{path}: refused: not a weights file torch loads safely ({type(err).__name__}: {str(err).splitlines()[0]})") from None
    _check_record(path, rec)
    if finite:
        check_finite(path, rec)
    return rec  # type: ignore[no-any-return]


def check_finite(path: Path, rec: WeightsRecord) -> None:
    """Refuse a record holding NaN or infinite weights: a trial that diverged in its first epoch
    saved its NaN weights before hpbench stopped saving them (bug hunt s51/h1, finding 2), and a
    training started from them diverged in every trial without a word."""
    for name, t in rec["state_dict"].items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise WeightsFileError(f"{path}: refused: its weights are not finite ({name} holds NaN or inf): the trial that saved "
                                   "them diverged, and a training started from them would diverge too")


def _check_record(path: Path, rec: object) -> None:
    """The fields :func:`record` writes, with their types."""
    def bad(what: str) -> WeightsFileError:
        return WeightsFileError(f"{path}: not a weights record hpbench wrote: {what}")

    if not isinstance(rec, dict):
        raise bad(f"it holds a {type(rec).__name__}, not a record")
    missing = [k for k in ("state_dict", "family", "params", "input_shape", "n_outputs", "task") if k not in rec]
    if missing:
        raise bad(f"missing {missing}")
    sd = rec["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise bad("state_dict must map names to tensors")
    if not isinstance(rec["family"], str) or not isinstance(rec["params"], dict) or not isinstance(rec["task"], str):
        raise bad("family and task must be names, params a table")
    shape = rec["input_shape"]
    if not isinstance(shape, (tuple, list)) or not all(isinstance(d, int) and d > 0 for d in shape):
        raise bad(f"input_shape must be positive integers, but got {shape!r}")
    if not isinstance(rec["n_outputs"], int) or rec["n_outputs"] < 1:
        raise bad(f"n_outputs must be a positive integer, but got {rec['n_outputs']!r}")
    if rec.get("temperature") is not None and not isinstance(rec["temperature"], float):
        raise bad(f"temperature must be a number, but got {rec['temperature']!r}")
    enc = rec.get("encoding")
    if enc is not None:
        if not isinstance(enc, dict):
            raise bad(f"encoding must be a table, but got a {type(enc).__name__}")
        try:
            Encoding.from_record(enc)
        except ValueError as err:
            raise bad(str(err)) from None


def build_saved_model(rec: WeightsRecord, *, user_families: Collection[str] = ()) -> torch.nn.Module:
    """The saved model rebuilt from its record, with its weights loaded (on the CPU, train mode).

    A registered family is built with its parameters checked by the family's own rules; a user
    family (``package.module:build``) only when it is among ``user_families``, the ones the
    reading study names itself (a file must not decide which code runs), imported as the search
    imported it (``ModuleNotFoundError`` naming the module where it does not import)."""
    task = rec.get("task")
    if task in ("rl", "gan"):  # their networks are the task's own (a policy; a generator), not the family's supervised model
        return _task_model(rec)
    family, params = rec["family"], dict(rec["params"])
    if family in FAMILIES:
        spec = FAMILIES.get(family).params
        for k, v in params.items():
            if k not in spec:
                raise WeightsFileError(f"saved model: {family} has no parameter {k!r}")
            try:
                spec[k].rule.check(v)
            except RuleError as err:
                raise WeightsFileError(f"saved model: {family}.{k} {err}, but got {err.shown(v)!r}") from None
    else:
        _check_user_family(family, user_families)
    kind = rec.get("kind")
    if kind is not None and kind not in KINDS:
        raise WeightsFileError(f"saved model: kind must be one of {', '.join(KINDS)}, but got {kind!r}")
    model: torch.nn.Module = build_model(family, input_shape=tuple(rec["input_shape"]), n_outputs=int(rec["n_outputs"]), params=params,
                                         kind=kind)
    try:
        model.load_state_dict(rec["state_dict"])
    except RuntimeError as err:
        raise WeightsFileError(f"saved model: its weights do not fit its {family} model: {str(err).splitlines()[0]}") from None
    return model


def _check_user_family(family: str, user_families: Collection[str]) -> None:
    """A family that is not registered is built only when the reading study names it (a weights
    file alone cannot choose which code runs), and its module must import as the search's did."""
    if not is_import_spec(family):
        raise WeightsFileError(f"saved model: refused to build family {family!r}: not a registered family (a plugin's family "
                               "needs its package installed), nor a user family 'package.module:build'")
    if family not in user_families:
        named = ", ".join(repr(f) for f in user_families if is_import_spec(f)) or "none"
        raise WeightsFileError(f"saved model: refused to build family {family!r}: the study that reads the file does not name it in "
                               f"[model] family or [space] (the user families it names: {named}); a weights file alone cannot "
                               "choose which code runs")
    _import_family_module(family)


def _import_family_module(family: str) -> None:
    """Import a user family's module as the search's trials did (installed, ``PYTHONPATH``, or the
    current directory); a module that is not found is named, with where it was looked for."""
    module = family.partition(":")[0]
    try:
        import_user_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or module
        if module != missing and not module.startswith(missing + "."):
            raise  # the module imports something that is missing: its own error says what
        raise ModuleNotFoundError(f"saved model: its family {family!r} needs the module {module!r}, which does not import here "
                                  f"(no module named {missing!r} installed, on PYTHONPATH or in the current directory "
                                  f"{os.getcwd()}): run from the folder the search ran in, or put the module on PYTHONPATH",
                                  name=missing) from None


def _task_model(rec: Any) -> torch.nn.Module:
    """An rl trial's policy (its actor-critic, as the run built it) or a gan trial's generator (the
    evaluated one: its moving average where it kept one), from what their records keep; weights
    loaded. (``Results.load_model`` built a supervised MLP and failed on every rl and gan record.) An rl record with
    ``normalize_obs`` gives a :class:`~hpbench.train.rl.normalize.NormalizedPolicy`: it takes raw observations."""
    try:
        if rec["task"] == "rl":
            from hpbench.train.rl.config import Activation
            from hpbench.train.rl.envs import EnvInfo, HeadKind, ObsKind
            from hpbench.train.rl.policy import build_policy

            info = EnvInfo(env_id=str(rec["env"]), obs_kind=ObsKind(rec["obs_kind"]), obs_shape=tuple(int(v) for v in rec["input_shape"]),
                           head_kind=HeadKind(rec["head_kind"]), n_actions=int(rec["n_outputs"]), action_low=None, action_high=None,
                           reward_threshold=None, max_episode_steps=None)
            model: torch.nn.Module = build_policy(info, hidden=tuple(int(v) for v in rec["hidden"]), activation=Activation(rec["activation"]),
                                                  cnn_channels=tuple(int(v) for v in rec["cnn_channels"]), log_std_init=0.0, seed=0)
        else:
            from hpbench.train.gan.networks import generator

            params = {"depth": 2, "width": 128, "activation": "relu", **dict(rec["params"])}  # the mlp family's defaults (gan.task)
            model = generator(latent_dim=int(rec["latent_dim"]), out_dim=int(rec["n_outputs"]), hidden=int(params["width"]),
                              depth=int(params["depth"]), activation=str(params["activation"]))
    except (KeyError, ValueError, TypeError) as err:
        raise WeightsFileError(f"saved model: the {rec['task']} record cannot rebuild its network: {type(err).__name__}: {err}") from None
    try:
        model.load_state_dict(rec["state_dict"])
    except RuntimeError as err:
        raise WeightsFileError(f"saved model: its weights do not fit its {rec['task']} network: {str(err).splitlines()[0]}") from None
    if rec["task"] == "rl" and rec.get("normalize_obs"):  # the policy takes raw observations, normalized as its evaluation did
        from hpbench.train.rl.normalize import NormalizedPolicy

        try:
            stats = rec["obs_norm"]
            model = NormalizedPolicy(model, tuple(torch.as_tensor(stats["mean"]).shape))
            model.set_stats(stats)
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise WeightsFileError(f"saved model: the rl record's obs_norm cannot normalize its observations: {type(err).__name__}: {err}") from None
    return model
