"""The weights file of a finished trial: its one owner, writing and reading.

A weights file is ``torch.save`` of a :class:`WeightsRecord` (a plain ``dict`` on disk): the
final (restored-best) model's ``state_dict`` on the CPU plus what rebuilds the model
(``family``, ``params``, ``input_shape``, ``n_outputs``), the ``task`` and the fitted
``temperature`` (``None`` without temperature scaling).

The trainer builds the record (:func:`record`) into its final state; the dispatcher writes it
(:func:`save`) into the trial's last Tune checkpoint or hands it over on the driver's node; the
driver places it at ``results/<name>/weights/<trial>.pt`` (path helpers, torch-free:
:mod:`hpbench.results.weights`). Transfer learning, distillation and the test split read it back
(:func:`load_record`, :func:`build_saved_model`).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Any, NotRequired, TypedDict

import torch

from hpbench.config import TrialConfig
from hpbench.data.prepare import Splits
from hpbench.models import build_model


class WeightsRecord(TypedDict):
    state_dict: dict[str, torch.Tensor]
    family: str
    params: dict[str, Any]
    input_shape: tuple[int, ...]
    n_outputs: int
    task: str
    temperature: NotRequired[float | None]


def record(cfg: TrialConfig, splits: Splits, model: torch.nn.Module, *, temperature: float | None) -> WeightsRecord:
    """What a saved weights file holds: the weights (copied to the CPU) and what rebuilds the model."""
    return {"state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
            "family": cfg.model.family, "params": dict(cfg.model.params), "input_shape": tuple(splits.input_shape),
            "n_outputs": int(splits.n_outputs), "task": splits.task, "temperature": temperature}


def save(rec: WeightsRecord | dict[str, Any], file: str | Path | IO[bytes]) -> None:
    """Write a weights file (a path or an open binary file)."""
    torch.save(rec, file)


def dumps(rec: WeightsRecord | dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    save(rec, buf)
    return buf.getvalue()


def load_record(path: str | Path) -> WeightsRecord:
    """Read a weights file (tensors on the CPU)."""
    # weights_only=False: the behaviour hpbench has always had (a later change restricts it)
    return torch.load(Path(path), map_location="cpu", weights_only=False)  # type: ignore[no-any-return]


def build_saved_model(rec: WeightsRecord) -> torch.nn.Module:
    """The saved model rebuilt from its record, with its weights loaded (on the CPU, train mode)."""
    model: torch.nn.Module = build_model(rec["family"], input_shape=tuple(rec["input_shape"]), n_outputs=int(rec["n_outputs"]), params=dict(rec["params"]))
    model.load_state_dict(rec["state_dict"])
    return model
