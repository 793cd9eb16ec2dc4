"""A self-contained HTML report: every experiment's tables and figures, and the training curves
of the priors they used, captioned, in one file."""

from __future__ import annotations

import base64
import html
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pandas as pd

from dblend import __version__
from dblend.experiments import TABLE_TITLES
from dblend.io import atomic_path
from dblend.provenance import provenance
from dblend.report.figures import validation_points
from dblend.report.tables import convention_of

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption, .caption { color: #555; }
"""
CAPTIONS = resources.files("dblend.report") / "captions"
"""Caption templates shared with `snakemake --report`, which renders them with a ``snakemake``
object; this report renders the same files with the wildcards and params they name."""
_RST_MARKUP = (
    (re.compile(r"``(.+?)``"), r"<code>\1</code>"),
    (re.compile(r"\*(.+?)\*"), r"<em>\1</em>"),
)


def caption(name: str, wildcards: Mapping[str, Any] = {}, params: Mapping[str, Any] = {}) -> str:
    """The caption ``name`` (a .rst template in dblend/report/captions) as HTML."""
    template = jinja2.Template((CAPTIONS / f"{name}.rst").read_text())
    context = SimpleNamespace(
        wildcards=SimpleNamespace(**wildcards), params=SimpleNamespace(**params)
    )
    text = html.escape(template.render(snakemake=context).strip())
    for pattern, replacement in _RST_MARKUP:
        text = pattern.sub(replacement, text)
    return text


def figure_caption(path: Path, experiment_dir: Path, title: str) -> str:
    """What a figure of an experiment shows, from where it sits in the experiment folder."""
    if path.stem in ("runtime", "sweep"):
        return caption(f"figure_{path.stem}", params={"title": title})
    dataset, task, volume = path.relative_to(experiment_dir / "figures").with_suffix("").parts
    wildcards = {"dataset": dataset, "task": task, "volume": volume}
    return caption("figure_planes", wildcards, {"experiment": title})


HOW_TO_CITE = """
<h2>How to cite</h2>
<p>The method: Bowen Song, Jason Hu, Zhaoxu Luo, Jeffrey A. Fessler, Liyue Shen.
<em>DiffusionBlend: Learning 3D Image Prior through Position-aware Diffusion Score Blending for 3D
Computed Tomography Reconstruction.</em> NeurIPS 2024. arXiv:2406.10211.</p>
<p>This pipeline: dblend {version}, as its <code>CITATION.cff</code> gives it (MIT licence).</p>
<p>The data your results come from (full citations and acknowledgements in
<code>docs/data.md</code>): LIDC-IDRI, Armato et al., The Cancer Imaging Archive,
doi:10.7937/K9/TCIA.2015.LO9QL9SX, and Medical Physics 38(2):915-931, 2011; the AAPM 2016
Low-Dose CT Grand Challenge, McCollough et al., Medical Physics 44(10):e339-e352, 2017, with the
TCIA collection LDCT-and-Projection-data, doi:10.7937/9npb-2637. The embedded thorax phantoms of
the demo are dblend's own and need no data citation.</p>
"""
"""The report's last section: what to cite for the method, the pipeline and the data."""


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def experiment_section(directory: Path, title: str) -> list[str]:
    """Tables and figures of one experiment folder (as written by the experiment rules)."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    params = {"title": title, "convention": convention_of(pd.read_csv(directory / "summary.csv"))}
    for name in TABLE_TITLES:
        parts.append((directory / f"{name}.html").read_text())
        parts.append(f"<p class='caption'>{caption(f'table_{name}', params=params)}</p>")
    for path in sorted(directory.rglob("*.png")):
        text = figure_caption(path, directory, title)
        parts.append(f"<figure>{_image(path)}<figcaption>{text}</figcaption></figure>")
    return parts


@dataclass(frozen=True)
class TrainingCurve:
    """A prior trained on one data set: its loss history and the figure drawn from it."""

    prior: str
    dataset: str
    loss_csv: Path
    figure: Path


def training_caption(curve: TrainingCurve, history: pd.DataFrame) -> str:
    """The loss figure's caption, then the last losses so runs compare without the plot."""
    last = history.iloc[-1]
    validation = validation_points(history)
    final_validation = (
        f"{validation['validation_loss'].iloc[-1]:.4g}" if not validation.empty else "not logged"
    )
    wildcards = {"prior": curve.prior, "dataset": curve.dataset}
    described = caption("figure_loss", wildcards, {"steps": int(last["step"])})
    return (
        f"{described} Final training loss {last['loss']:.4g}, final validation loss "
        f"{html.escape(final_validation)}."
    )


def training_section(curves: Sequence[TrainingCurve]) -> list[str]:
    """The loss curves of the priors behind the reported reconstructions."""
    parts = ["<h2>Training</h2>"]
    for curve in curves:
        text = training_caption(curve, pd.read_csv(curve.loss_csv))
        parts.append(f"<figure>{_image(curve.figure)}<figcaption>{text}</figcaption></figure>")
    return parts


def software_section(software: Mapping[str, Sequence[Mapping[str, str]]]) -> list[str]:
    """For each kind of result (reconstructions, priors), the distinct software versions its
    files recorded and how many files ran with each, so a mixed environment shows at once."""
    parts = ["<h2>Software</h2>"]
    for kind, records in software.items():
        combinations = Counter(tuple(sorted(record.items())) for record in records)
        names = sorted({name for combination in combinations for name, _ in combination})
        header = "".join(f"<th>{html.escape(name)}</th>" for name in ["files", *names])
        rows = "".join(
            "<tr>"
            + f"<td>{count}</td>"
            + "".join(f"<td>{html.escape(dict(combination).get(n, '-'))}</td>" for n in names)
            + "</tr>"
            for combination, count in combinations.most_common()
        )
        parts.append(f"<h3>{html.escape(kind)}</h3><table><tr>{header}</tr>{rows}</table>")
    return parts


def run_section(run: str, config: Any, experiments: Mapping[Path, str]) -> list[str]:
    """What the report is of: the run, its config hash, the date, the pipeline's commit, and
    each table's number of test volumes (from the experiments' provenance.json), first."""
    made = provenance(config)
    records = [json.loads((d / "provenance.json").read_text()) for d in experiments]
    commits = {r["commit"] for record in records for r in record["reconstructions"]}
    commit = f"{made['commit'] or 'unknown'}" + (" (uncommitted changes)" if made["dirty"] else "")
    if commits - {made["commit"]}:
        others = ", ".join(sorted(str(c) for c in commits - {made["commit"]}))
        commit += f"; some reconstructions were made at {others}"
    facts = {
        "run": run,
        "config hash (SHA-256)": made["config_hash"],
        "date": made["created"],
        "pipeline commit": commit,
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    volumes = "".join(
        f"<tr><td>{html.escape(title)}</td><td>{html.escape(table)}</td><td>{count}</td></tr>"
        for record, title in zip(records, experiments.values(), strict=True)
        for table, count in record["test_volumes"].items()
    )
    return [
        "<h2>Run</h2>",
        f"<table class='run'>{rows}</table>",
        "<table><thead><tr><th>experiment</th><th>data set / task</th><th>test volumes</th>"
        f"</tr></thead><tbody>{volumes}</tbody></table>",
        "<p class='caption'>Over one test volume a table shows n = 1 where a std would be: there "
        "is no spread to show.</p>",
    ]


def write_report(
    experiments: Mapping[Path, str],
    out: Path,
    curves: Sequence[TrainingCurve] = (),
    title: str = "dblend results",
    software: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
    run: tuple[str, Any] | None = None,
) -> None:
    """Write ``out``: the run's section when ``run`` (its name and resolved config) is given,
    one section per experiment folder (mapped to its title), the training curves of their
    priors (when any method used one), the software versions the results recorded
    (``software``: kind of result -> one record per file), and how to cite."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        *(run_section(*run, experiments) if run else []),
        f"<p>dblend {__version__}. PSNR (dB) and SSIM are means ± std over test volumes, per "
        "viewing plane and of the whole volume; each table states the convention that scored "
        "it and how many slices of each plane it counted.</p>",
    ]
    for directory, experiment_title in experiments.items():
        parts += experiment_section(directory, experiment_title)
    if curves:
        parts += training_section(curves)
    if software:
        parts += software_section(software)
    parts.append(HOW_TO_CITE.format(version=html.escape(__version__)))
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
