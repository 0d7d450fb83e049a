"""Matplotlib on the Agg backend (no display needed) and saving a figure: shared by the report's
figure modules (:mod:`hpbench.report.plots`, :mod:`hpbench.report.gan_plots`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DPI = 110


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: it takes a second)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)
    return path
