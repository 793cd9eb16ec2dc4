"""A self-contained HTML report: every table and figure, with captions, in one file."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dblend import __version__
from dblend.io import atomic_path
from dblend.report.tables import paper_layout

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption { color: #555; }
"""


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def write_report(
    summary_table: pd.DataFrame,
    figures: Sequence[tuple[Path, str]],
    out: Path,
    title: str = "dblend results",
) -> None:
    """Write ``out``: the paper-layout tables, then each (figure, caption)."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>dblend {__version__}. PSNR (dB) and SSIM, "
        "mean ± std over test volumes, per viewing plane; data range 1.</p>",
    ]
    for (dataset, task), frame in paper_layout(summary_table).items():
        parts.append(f"<h2>{html.escape(dataset)} / {html.escape(task)}</h2>")
        parts.append(frame.to_html(border=0))
    parts.append("<h2>Figures</h2>")
    for path, caption in figures:
        parts.append(
            f"<figure>{_image(path)}<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
