"""The figures of a gan study (``[model] task = "gan"``): a grid of generated samples per top
trial — a scatter over the mixture's modes for 2-D data, images for image data — and both
networks' learning curves (generator and discriminator loss per epoch).

The samples are the ones each trial's weights file carries (:mod:`hpbench.train.gan.task`: 512
samples of the weights the trial ended with, drawn from noise seed 0), read with
``torch.load(weights_only=True)`` after :func:`hpbench.results.weights.check_weights_file` (a file
from anyone's results folder is never trusted).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.report.data import ReportData
from hpbench.report.figures import pyplot, save_figure
from hpbench.results.deleted_weights import read_deleted
from hpbench.results.keep import KEY, deleted_by

G_LOSS, D_LOSS = "train_g_loss", "train_d_loss"
N_SHOWN_IMAGES = 36  # a 6 x 6 grid per trial


def is_gan(data: ReportData) -> bool:
    return G_LOSS in data.epochs.columns and D_LOSS in data.epochs.columns


def saved_samples(data: ReportData, trial: int) -> np.ndarray | None:
    """The generated samples in ``trial``'s weights file (None when it has none, or is refused)."""
    from hpbench.results.weights import check_weights_file, weights_path

    path = weights_path(data.path, trial)
    if not path.is_file():
        return None
    try:
        import torch

        check_weights_file(path)
        rec = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a damaged or hostile file: the figure goes without this trial
        return None
    samples = rec.get("samples") if isinstance(rec, dict) else None
    return None if samples is None else np.asarray(samples.numpy(), dtype=np.float32)


def samples_grid(data: ReportData, out: Path, *, top: int = 6) -> Path | None:
    """One panel per top trial: its generated samples (2-D: a scatter over the modes; images: a grid)."""
    if not is_gan(data):
        return None
    shown = [(int(r["trial"]), r) for _, r in data.ranked().head(top).iterrows()]
    found = [(t, r, s) for t, r, s in ((t, r, saved_samples(data, t)) for t, r in shown) if s is not None]
    if not found:
        return None
    plt = pyplot()
    cols = min(3, len(found))
    rows = math.ceil(len(found) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.6 * rows), squeeze=False)
    centers = _centers(data)
    for ax, (trial, row, s) in zip(axes.ravel(), found, strict=False):
        value = row.get(data.key)
        ax.set_title(f"#{trial} {data.metric}={value:.3g} ({row['stop_reason']})" if value == value else f"#{trial}", fontsize=8)
        if s.ndim == 2 and s.shape[1] == 2:
            ax.scatter(s[:, 0], s[:, 1], s=3, alpha=0.5)
            if centers is not None:
                ax.scatter(centers[:, 0], centers[:, 1], marker="x", color="red", s=30, label="modes")
            ax.set_aspect("equal")
        elif s.ndim >= 3:
            ax.imshow(_image_grid(s[:N_SHOWN_IMAGES]), cmap="gray")
            ax.axis("off")
        else:  # vectors of another width: the first two features
            flat = s.reshape(len(s), -1)
            ax.scatter(flat[:, 0], flat[:, min(1, flat.shape[1] - 1)], s=3, alpha=0.5)
    for ax in axes.ravel()[len(found):]:
        ax.axis("off")
    deleted = read_deleted(data.path)  # the value that deleted each file (a resume may have changed it since)
    by = {t: deleted_by({"settings": data.settings}, dict(r), deleted=deleted) for t, r in shown if t not in {f[0] for f in found}}
    dropped = {t: d for t, d in by.items() if d is not None}
    values = " or ".join(str(v) for v in sorted({d.keep_weights for d in dropped.values()}))
    unkept = f" ({', '.join(f'#{t}' for t in dropped)}: weights not kept, [study] {KEY} = {values})" if dropped else ""
    fig.suptitle(f"{data.name}: generated samples of the top {len(found)}{unkept}")
    return save_figure(fig, out / "gan_samples.png")


def losses(data: ReportData, out: Path, *, top: int = 6) -> Path | None:
    """Generator and discriminator loss per epoch of the top trials, side by side."""
    if not is_gan(data):
        return None
    e = data.epochs
    ranked = [int(t) for t in data.ranked().head(top)["trial"]]
    if not ranked:
        return None
    plt = pyplot()
    fig, (ax_g, ax_d) = plt.subplots(1, 2, figsize=(11, 4))
    for t in ranked:
        sub = e[e["trial"] == t].sort_values("epoch")
        ax_g.plot(sub["epoch"], sub[G_LOSS], marker="o", ms=2, label=f"#{t}")
        ax_d.plot(sub["epoch"], sub[D_LOSS], marker="o", ms=2, label=f"#{t}")
    for ax, what in ((ax_g, "generator loss"), (ax_d, "discriminator loss (with the penalty)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{data.name}: both networks' losses, top {len(ranked)}")
    return save_figure(fig, out / "gan_losses.png")


def _centers(data: ReportData) -> np.ndarray | None:
    from hpbench.data.mixtures import MIXTURES, mixture

    name = str(data.data.get("dataset") or data.data.get("name") or "")
    return mixture(name).centers if name in MIXTURES else None


def _image_grid(images: np.ndarray) -> Any:
    """(n, C, H, W) or (n, H, W) samples as one 2-D array of tiles (the first channel), each tile min-max scaled."""
    x = images[:, 0] if images.ndim == 4 else images
    n, h, w = x.shape
    side = math.ceil(math.sqrt(n))
    grid = np.ones((side * (h + 1), side * (w + 1)), dtype=np.float32)
    for i, tile in enumerate(x):
        lo, hi = float(tile.min()), float(tile.max())
        r, c = divmod(i, side)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = (tile - lo) / (hi - lo) if hi > lo else 0.0
    return grid
