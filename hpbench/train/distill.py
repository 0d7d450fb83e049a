"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a fixed teacher's
softened outputs as well as the hard labels::

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

The ``T^2`` keeps the soft term's gradients on the scale of the hard term's as ``T`` changes.
``alpha = 0`` is plain cross-entropy: the same student trained without a teacher. A binary
model's logit ``z`` is read as the two-class logits ``[0, z]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hpbench.train.calibration import as_multiclass


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, *, alpha: float, temperature: float) -> torch.Tensor:
    s, t = as_multiclass(student), as_multiclass(teacher)
    hard = F.cross_entropy(s, y.reshape(-1).long())
    if alpha == 0:
        return hard
    soft = F.kl_div(F.log_softmax(s / temperature, dim=1), F.log_softmax(t / temperature, dim=1), reduction="batchmean", log_target=True)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


def load_teacher(weights: str | Path, *, device: torch.device, input_shape: tuple[int, ...], n_outputs: int) -> torch.nn.Module:
    """The teacher model of a saved trial, in eval mode with its parameters frozen."""
    from hpbench.models import build_model
    from hpbench.results.weights import load_record

    record: dict[str, Any] = load_record(weights)
    if tuple(record["input_shape"]) != tuple(input_shape) or int(record["n_outputs"]) != int(n_outputs):
        raise ValueError(f"distill.teacher: the teacher was trained on inputs {tuple(record['input_shape'])} with {record['n_outputs']} outputs, "
                         f"but this study's data has inputs {tuple(input_shape)} with {n_outputs} outputs")
    model = build_model(record["family"], input_shape=tuple(record["input_shape"]), n_outputs=int(record["n_outputs"]), params=dict(record["params"]))
    model.load_state_dict(record["state_dict"])
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)
