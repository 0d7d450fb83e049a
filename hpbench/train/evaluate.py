"""Evaluating a model on a split: the validation pass of every epoch, the logits temperature
scaling is fitted on, and the held-out test split evaluated once after the search. Batches
come from tensors in memory or from a DataLoader over streamed data alike; the outputs (one
row of logits per sample) are gathered and scored together."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from hpbench.config import TrialConfig
from hpbench.data.stream import StreamSplits
from hpbench.train import tasks
from hpbench.train.build import EVAL_CHUNK, Batch, batch_rows, chunks, eval_rows, load_data

__all__ = ["EVAL_CHUNK", "evaluate", "evaluate_batches", "evaluate_test", "has_test_split", "logits", "logits_batches"]


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, loss_fn: torch.nn.Module, *,
             chunk: int = EVAL_CHUNK) -> dict[str, float]:
    """The task's metrics (``loss``, ``accuracy`` …, unprefixed) of ``model`` on ``(x, y)``, in eval mode."""
    return evaluate_batches(model, chunks(x, y, chunk=chunk), task, loss_fn)


@torch.no_grad()
def evaluate_batches(model: torch.nn.Module, batches: Iterable[Batch], task: str, loss_fn: torch.nn.Module) -> dict[str, float]:
    """The task's metrics of ``model`` over every batch of ``batches`` together."""
    out, y = logits_batches(model, batches)
    loss = float(loss_fn(out, y).item())
    return tasks.metrics(task, out, y, loss)


@torch.no_grad()
def logits_batches(model: torch.nn.Module, batches: Iterable[Batch]) -> tuple[torch.Tensor, torch.Tensor]:
    """(outputs, targets) of ``model`` over ``batches``, in eval mode."""
    model.eval()
    outs, ys = [], []
    for xb, yb in batches:
        outs.append(model(xb))
        ys.append(yb)
    if not outs:
        raise ValueError("evaluating on an empty split")
    return (torch.cat(outs) if len(outs) > 1 else outs[0]), (torch.cat(ys) if len(ys) > 1 else ys[0])


@torch.no_grad()
def logits(model: torch.nn.Module, x: torch.Tensor, *, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    """The model's outputs on ``x``, in eval mode."""
    model.eval()
    return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def has_test_split(cfg: TrialConfig) -> bool:
    """``data.test_fraction > 0``, or a test split came with the data (prepared once per process);
    never for a task without a dataset (rl)."""
    from hpbench.data.prepare import prepare_config

    if not cfg.data.dataset:
        return False

    s = prepare_config(cfg.data, seed=cfg.seed)
    return (s.test is not None) if isinstance(s, StreamSplits) else (s.x_test is not None)


def evaluate_test(cfg: TrialConfig, model: torch.nn.Module) -> dict[str, float]:
    """Evaluate a trained model once on the held-out test split (``data.test_fraction > 0``, or
    the test split the data came with); returns ``test_``-prefixed metrics (``test_loss``, ``test_accuracy`` …)."""
    device = next(model.parameters()).device
    data = load_data(cfg, device)
    if not data.has("test"):
        raise ValueError(f"data.test_fraction: evaluating on a test split needs test_fraction > 0 or a test split given with the data, "
                         f"but got {cfg.data.test_fraction}")
    rows = eval_rows(model, data.splits, batch_size=batch_rows(cfg, data.n_train))
    out = evaluate_batches(model, data.eval_batches("test", rows=rows), data.splits.task, tasks.loss_fn(data.splits.task))
    return {f"test_{k}": v for k, v in out.items()}
