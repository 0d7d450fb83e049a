"""Evaluating a model on a split: the validation pass of every epoch, the logits temperature
scaling is fitted on, and the held-out test split evaluated once after the search."""

from __future__ import annotations

import torch

from hpbench.config import TrialConfig
from hpbench.train import tasks
from hpbench.train.build import load_data

EVAL_CHUNK = 8192  # rows per forward pass (hpbench.cost.annotate predicts the same chunks)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, loss_fn: torch.nn.Module, *,
             chunk: int = EVAL_CHUNK) -> dict[str, float]:
    """The task's metrics (``loss``, ``accuracy`` …, unprefixed) of ``model`` on ``(x, y)``, in eval mode."""
    model.eval()
    outs = [model(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    loss = float(loss_fn(out, y).item())
    return tasks.metrics(task, out, y, loss)


@torch.no_grad()
def logits(model: torch.nn.Module, x: torch.Tensor, *, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """The model's outputs on ``x``, in eval mode."""
    model.eval()
    return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def evaluate_test(cfg: TrialConfig, model: torch.nn.Module) -> dict[str, float]:
    """Evaluate a trained model once on the held-out test split (``data.test_fraction > 0``);
    returns ``test_``-prefixed metrics (``test_loss``, ``test_accuracy`` …)."""
    if cfg.data.test_fraction <= 0:
        raise ValueError(f"data.test_fraction: evaluating on a test split needs test_fraction > 0, but got {cfg.data.test_fraction}")
    device = next(model.parameters()).device
    data = load_data(cfg, device)
    assert data.x_test is not None and data.y_test is not None  # internal: test_fraction > 0 makes a test split
    out = evaluate(model, data.x_test, data.y_test, data.splits.task, tasks.loss_fn(data.splits.task))
    return {f"test_{k}": v for k, v in out.items()}
