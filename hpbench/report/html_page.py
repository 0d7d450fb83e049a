"""One self-contained HTML page of a report: the text report as rendered at 120 columns and
the PNG figures embedded (base64), so the page travels as one file."""

from __future__ import annotations

import base64
import html
from io import StringIO
from pathlib import Path

from rich.console import Console

from hpbench.report.data import ReportData
from hpbench.report.sections import print_report

WIDTH = 120  # columns of the text report in the page


def write_html(data: ReportData, out: Path, images: list[Path]) -> Path:
    """Write ``out/report.html``: the text report and the figures ``images``; returns its path."""
    buf = StringIO()
    print_report(Console(emoji=False, file=buf, width=WIDTH, color_system=None), data)
    figs = "\n".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"></figure>' for p in images
    )
    page = (f"<!doctype html><meta charset='utf-8'><title>hpbench report: {html.escape(data.name)}</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}pre{font-size:12px}</style>"
            f"<h1>hpbench report: {html.escape(data.name)}</h1>{figs}<pre>{html.escape(buf.getvalue())}</pre>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
