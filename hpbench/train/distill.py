"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a fixed teacher's
softened outputs as well as the hard labels::

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

The ``T^2`` keeps the soft term's gradients on the scale of the hard term's as ``T`` changes.
``alpha = 0`` is plain cross-entropy: the same student trained without a teacher. A binary
model's logit ``z`` is read as the two-class logits ``[0, z]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from hpbench.train.calibration import as_multiclass
from hpbench.train.weights import build_saved_model, load_record


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, *, alpha: float, temperature: float,
            label_smoothing: float = 0.0) -> torch.Tensor:
    s, t = as_multiclass(student), as_multiclass(teacher)
    hard = F.cross_entropy(s, y.reshape(-1).long(), label_smoothing=label_smoothing)
    if alpha == 0:
        return hard
    soft = F.kl_div(F.log_softmax(s / temperature, dim=1), F.log_softmax(t / temperature, dim=1), reduction="batchmean", log_target=True)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


def load_teacher(weights: str | Path, *, device: torch.device, input_shape: tuple[int, ...], n_outputs: int,
                 user_families: tuple[str, ...] = ()) -> torch.nn.Module:
    """The teacher model of a saved trial, in eval mode with its parameters frozen; a teacher of a
    user family is built only when the student's study names that family too (``user_families``)."""
    record = load_record(weights, finite=True)
    if tuple(record["input_shape"]) != tuple(input_shape) or int(record["n_outputs"]) != int(n_outputs):
        raise ValueError(f"distill.teacher: the teacher was trained on inputs {tuple(record['input_shape'])} with {record['n_outputs']} outputs, "
                         f"but this study's data has inputs {tuple(input_shape)} with {n_outputs} outputs")
    model = build_saved_model(record, user_families=user_families)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)


@dataclass(frozen=True, kw_only=True)
class Distillation:
    """A trial's teacher and its loss weights (``[distill]``): the training loss of a batch."""

    teacher: torch.nn.Module
    alpha: float
    temperature: float
    label_smoothing: float = 0.0  # of the hard-label term ([train] label_smoothing)

    def loss(self, model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_out = self.teacher(xb)
        return kd_loss(model(xb), t_out, yb, alpha=self.alpha, temperature=self.temperature, label_smoothing=self.label_smoothing)
