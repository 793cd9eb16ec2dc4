"""Real Snakemake runs of the whole chain on the tiny config, and refusals of bad configs."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_workflow import ROOT, TINY, snakemake

from dblend.config import deep_merge, validate
from dblend.io import read_array
from dblend.models.checkpoint import checkpoint_metadata
from dblend.provenance import (
    digest,
    file_sha256,
    pipeline_commit,
    prior_identity,
    reconstruction_key,
    reconstruction_settings,
)

BASE = ROOT / "config" / "config.yaml"


@pytest.mark.slow
def test_each_trained_prior_is_also_exported_for_diffusers(tiny_run):
    for prior in ("patch", "slice"):
        folder = tiny_run / "results" / "priors" / "tiny" / f"{prior}-diffusers"
        assert (folder / "diffusion_pytorch_model.safetensors").is_file()
        metadata = json.loads((folder / "dblend_prior.json").read_text())
        assert metadata["checkpoint"] == f"results/priors/tiny/{prior}.pt"
        assert "trained from scratch" in (folder / "README.md").read_text()


@pytest.mark.slow
def test_whole_chain_writes_tables_figures_and_report(tiny_run):
    results = tiny_run / "results"
    run = results / "tiny"
    table = pd.read_csv(run / "tables" / "metrics.csv")
    assert set(table.columns) >= {
        "dataset",
        "task",
        "method",
        "volume",
        "plane",
        "convention",
        "psnr",
        "ssim",
        "slices_scored",
        "slices",
        "volume_psnr",
        "volume_ssim",
        "seconds",
    }
    swept = {"diffusionblend_pp_steps_2", "diffusionblend_pp_steps_3"}
    assert set(table["method"]) == {"fbp", "fbpunet", "tpdm", "dds", "diffusionblend_pp", *swept}
    assert len(table) == 7 * 3, "7 methods x 3 planes x 1 test volume"
    assert set(table["convention"]) == {"anatomy"}
    for column in ("psnr", "volume_psnr"):
        assert table[column].between(5.0, 60.0).all(), table[column].describe()
    for column in ("ssim", "volume_ssim"):
        assert table[column].between(0.0, 1.0).all(), table[column].describe()
    assert (table["slices_scored"].between(1, table["slices"])).all()
    summary = pd.read_csv(run / "tables" / "summary.csv")
    spread = [column for column in summary.columns if column.endswith("_std")]
    numbers = summary.drop(columns=spread).select_dtypes("number").to_numpy()
    assert numbers.size and np.isfinite(numbers).all()
    one_volume = summary["volumes"] == 1
    assert (summary[spread].isna().all(axis=1) == one_volume).all(), "a std of one volume is empty"
    assert (table.loc[table.method.isin(["dds", "diffusionblend_pp", "tpdm"]), "nfe"] == 3).all()
    assert (table.loc[table.method == "fbpunet", "nfe"] == 1).all(), "one pass of its U-Net"
    summary_md = (run / "tables" / "summary.md").read_text()
    assert "| DiffusionBlend++ + TV |" in summary_md
    assert "(n = 1)" in summary_md and "± 0.00" not in summary_md, "one test volume"
    experiment_md = (run / "experiments" / "tiny" / "summary.md").read_text()
    rows = re.findall(r"^\| ([^|]+?) \| \d", experiment_md, re.M)
    assert rows == [
        "FBP",
        "FBP-UNet (small)",
        "TPDM (100 steps)",
        "DDS (tuned)",
        "DiffusionBlend++ + TV",
    ], "the experiment's order of methods, not by name"
    assert "Convention anatomy: PSNR and SSIM averaged over the slices that hold" in summary_md
    experiment = run / "experiments" / "tiny"
    figure = experiment / "figures" / "tiny" / "sv8" / "phantom003.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    for table in ("summary", "tv", "runtime"):
        assert (experiment / f"{table}.csv").is_file()
        assert "DiffusionBlend++" in (experiment / f"{table}.md").read_text()
        assert r"\begin{tabular}" in (experiment / f"{table}.tex").read_text()
    sweep = pd.read_csv(run / "experiments" / "tiny_sweep" / "runtime.csv")
    assert sorted(sweep["nfe"]) == [2, 3], "one swept method per steps value"
    assert (run / "experiments" / "tiny_sweep" / "sweep.png").is_file()
    for prior in ("patch", "slice", "coronal"):
        assert (results / "priors" / "tiny" / f"{prior}.loss.png").read_bytes()[:4] == b"\x89PNG"
    fbpunet = pd.read_csv(results / "fbpunet" / "tiny" / "sv8" / "fbpunet.loss.csv")
    assert list(fbpunet["step"]) == [2, 4, 6] and fbpunet["validation_loss"].notna().any()
    report = (run / "report" / "report.html").read_text()
    assert report.count("data:image/png;base64,") == 7, "figure, 2 runtimes, sweep, 3 losses"
    assert "DiffusionBlend++ + TV steps=2" in report
    assert "<h2>Training</h2>" in report
    for prior in ("patch", "slice", "coronal"):
        assert (
            f"prior <code>{prior}</code> on data set\n<code>tiny</code> over its\n6 steps" in report
        )
    for rule in ("train_prior", "train_fbpunet", "reconstruct", "simulate", "phantom"):
        assert any((results / "benchmarks" / rule).rglob("*.tsv")), rule
        assert any((results / "logs" / rule).rglob("*.log")), rule
    assert any((run / "logs" / "evaluate").rglob("*.log")), "the run's own stages log in it"
    assert any((run / "benchmarks" / "evaluate").rglob("*.tsv"))


SWEEP_TABLE = ("Tables", "tiny_sweep", "Tiny steps sweep")
SNAKEMAKE_REPORT = {
    # path: (category, subcategory, text its caption must hold)
    "results/tiny/experiments/tiny/summary.html": (
        "Tables",
        "tiny",
        "PSNR (dB) and SSIM of each method of experiment Tiny chain (CI), per data set",
    ),
    "results/tiny/experiments/tiny/tv.html": ("Tables", "tiny", "Total variation per voxel"),
    "results/tiny/experiments/tiny/runtime.html": ("Tables", "tiny", "the paper's NFE counts"),
    "results/tiny/experiments/tiny_sweep/summary.html": SWEEP_TABLE,
    "results/tiny/experiments/tiny_sweep/tv.html": SWEEP_TABLE,
    "results/tiny/experiments/tiny_sweep/runtime.html": SWEEP_TABLE,
    "results/tiny/tables/summary.csv": (
        "Tables",
        "all experiments",
        "(tiny, tiny_sweep) in one table: mean and std over test volumes, scored under "
        "convention anatomy",
    ),
    "results/tiny/tables/metrics.csv": ("Tables", "all experiments", "one row per data set"),
    "results/tiny/experiments/tiny/figures/tiny/sv8/phantom003.png": (
        "Figures",
        "tiny",
        "slices of test volume phantom003 of data set tiny, task sv8, reconstructed by each "
        "method of experiment Tiny chain (CI)",
    ),
    "results/tiny/experiments/tiny/runtime.png": ("Figures", "tiny", "experiment Tiny chain (CI)."),
    "results/tiny/experiments/tiny_sweep/runtime.png": (
        "Figures",
        "tiny_sweep",
        "Tiny steps sweep",
    ),
    "results/tiny/experiments/tiny_sweep/sweep.png": (
        "Figures",
        "tiny_sweep",
        "against the swept setting steps in experiment Tiny steps sweep (CI)",
    ),
    "results/priors/tiny/patch.loss.png": (
        "Training",
        "tiny",
        "Training loss of prior patch on data set tiny over its 6 steps",
    ),
    "results/priors/tiny/slice.loss.png": ("Training", "tiny", "prior slice on data set tiny"),
    "results/priors/tiny/coronal.loss.png": ("Training", "tiny", "prior coronal on data set tiny"),
}


def report_variable(page: str, name: str):
    """A value Snakemake's HTML report embeds as JSON in `var NAME = ...;`."""
    match = re.search(rf'^\s*var {name} = ([{{"].*);$', page, re.MULTILINE)
    assert match, name
    return json.loads(match.group(1))


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


@pytest.mark.slow
def test_every_reconstruction_prior_and_table_records_what_made_it(tiny_run):
    base, tiny = (yaml.safe_load(path.read_text()) for path in (BASE, TINY))
    config = validate(deep_merge(base, tiny))
    results = tiny_run / "results"
    commit = pipeline_commit(ROOT)
    key = reconstruction_key(config, "tiny", "sv8", "diffusionblend_pp")
    _, attrs = read_array(results / "recon" / "tiny" / "sv8" / key / "phantom003.h5")
    made = attrs["provenance"]
    settings = reconstruction_settings(config, "tiny", "sv8", "diffusionblend_pp")
    assert made["config_hash"] == digest(settings) and made["seed"] == attrs["seed"]
    assert (made["commit"], made["dirty"]) == (commit["commit"], commit["dirty"])
    prior = results / "priors" / "tiny" / "patch.pt"
    assert made["prior_sha256"] == file_sha256(prior)
    trained = ["results/data/tiny/phantom000.h5", "results/data/tiny/phantom001.h5"]
    assert made["prior_training_volumes"] == trained
    checkpoint = checkpoint_metadata(prior)["provenance"]
    assert checkpoint["training_volumes"] == trained
    assert checkpoint["validation_volumes"] == ["results/data/tiny/phantom002.h5"]
    assert checkpoint["config_hash"] == digest(prior_identity(config, "tiny", "patch"))
    described = subprocess.run(
        ["dblend", "describe", str(prior)], capture_output=True, text=True, check=True
    )
    assert json.loads(described.stdout)["provenance"] == checkpoint, "no weights printed"
    record = json.loads((results / "tiny" / "experiments" / "tiny" / "provenance.json").read_text())
    assert (record["run"], record["test_volumes"]) == ("tiny", {"tiny / sv8": 1})
    rows = {r["method"]: r for r in record["reconstructions"]}
    assert rows["diffusionblend_pp"]["config_hash"] == made["config_hash"]
    table = pd.read_csv(results / "tiny" / "tables" / "metrics.csv")
    assert set(table["config_hash"].dropna()) >= {made["config_hash"]}
    report = (results / "tiny" / "report" / "report.html").read_text()
    run = report.split("<h2>Run</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<td>tiny</td>" in run and f"<td>{commit['commit']}" in run
    assert "<td>tiny / sv8</td><td>1</td>" in run
    runtime = pd.read_csv(results / "tiny" / "experiments" / "tiny" / "runtime.csv")
    blend = runtime.set_index("method").loc["diffusionblend_pp"]
    assert (blend["steps"], blend["nfe"]) == (3, 3)
    assert blend["input_slices"] == 3 * blend["network_inputs"] and blend["peak_rss_mb"] > 0


@pytest.mark.slow
def test_snakemake_report_holds_every_table_and_figure_captioned(tiny_run):
    out = tiny_run / "snakemake_report.html"
    result = snakemake(tiny_run, "--configfile", str(TINY), "--report", str(out))
    assert result.returncode == 0, result.stderr[-4000:]
    page = out.read_text()
    results = report_variable(page, "results")
    categories = report_variable(page, "categories")
    assert set(results) == set(SNAKEMAKE_REPORT)
    for path, (category, subcategory, caption) in SNAKEMAKE_REPORT.items():
        assert path in categories[category][subcategory], path
        assert caption in text_of(results[path]["caption"]), path
        assert results[path]["data_uri"].startswith("data:"), "embedded, not linked"
    description = text_of(report_variable(page, "workflow_desc"))
    assert "tiny: Tiny chain (CI)" in description
    assert "tiny_sweep: Tiny steps sweep (CI)" in description


@pytest.mark.slow
def test_finished_run_has_nothing_left_to_do(tiny_run):
    result = snakemake(tiny_run, "--configfile", str(TINY), "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def planned_jobs(result: subprocess.CompletedProcess) -> Counter:
    """Job counts per rule from the 'Job stats' table of a (dry) run."""
    table = (result.stdout + result.stderr).split("Job stats:", 1)[1].split("total", 1)[0]
    return Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)})


def test_a_swept_value_equal_to_the_main_row_is_its_reconstruction(tmp_path):
    result = snakemake(tmp_path, "--configfile", str(TINY), "-n")
    assert result.returncode == 0, result.stderr[-4000:]
    jobs = planned_jobs(result)
    # fbp, fbpunet, tpdm, dds, diffusionblend_pp (3 steps) and its sweep over 2 and 3 steps:
    # seven rows scored, six reconstructions, since the 3-step arm has the main row's settings.
    assert jobs["evaluate"] == 7 and jobs["reconstruct"] == 6


@pytest.mark.slow
def test_a_second_run_keeps_the_first_and_reuses_its_work(tiny_run):
    again = tiny_run / "again.yaml"
    again.write_text("name: tiny_again\nrun: [tiny]\n")
    first = {p: p.stat().st_mtime_ns for p in (tiny_run / "results" / "tiny").rglob("*.*")}
    plan = planned_jobs(snakemake(tiny_run, "--configfile", str(TINY), str(again), "-n"))
    assert not {"phantom", "simulate", "train_prior", "reconstruct"} & set(plan), plan
    result = snakemake(tiny_run, "--configfile", str(TINY), str(again))
    assert result.returncode == 0, result.stderr[-4000:]
    second = tiny_run / "results" / "tiny_again"
    assert (second / "report" / "report.html").is_file()
    assert "| DiffusionBlend++ + TV |" in (second / "tables" / "summary.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in first} == first, "the first run is untouched"
    result = snakemake(tiny_run, "--configfile", str(TINY), "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_a_new_method_override_reruns_that_method_only(tiny_run):
    overlay = tiny_run / "override.yaml"
    overlay.write_text("tasks:\n  sv8:\n    method_overrides:\n      dds: {lam: 0.0005}\n")
    plan = planned_jobs(snakemake(tiny_run, "--configfile", str(TINY), str(overlay), "-n"))
    assert not {"phantom", "simulate", "train_prior", "train_fbpunet"} & set(plan), plan
    assert plan["reconstruct"] == 1, "the sinograms and the other methods stay as they are"


@pytest.mark.parametrize(
    ("overlay", "named"),
    [
        ("methods:\n  dds:\n    stepz: 3\n", "methods.dds"),
        ("tasks:\n  sv8:\n    views: eight\n", "tasks.sv8.views"),
        ("experiments:\n  tiny:\n    methods: [fbp, magic]\n", "experiments.tiny.methods"),
        ("run: [tiny, nothing]\n", "run"),
    ],
)
def test_bad_config_stops_before_any_job(tmp_path, overlay, named):
    bad = tmp_path / "bad.yaml"
    bad.write_text(overlay)
    result = snakemake(tmp_path, "--configfile", str(TINY), str(bad), "-n")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()
