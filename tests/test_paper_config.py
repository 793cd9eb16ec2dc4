"""config/paper.yaml as a cluster user meets it: dry runs that plan every job of the paper.

No network here: a sitecustomize module makes every socket connection of the Snakemake process
fail, so the plan must come from the pinned series alone. Each named target must plan its own
reconstructions and nothing of the other experiments.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import offline
import pytest
import yaml
from dicom_factory import write_series

from dblend.config import deep_merge, method_for_task, validate
from dblend.experiments import experiment_methods
from dblend.physics.geometry import parallel_geometry
from dblend.physics.parallel import ParallelBeamOperator
from dblend.provenance import reconstruction_key
from dblend.recon.units import normalised_weights

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "config" / "paper.yaml"
JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", re.MULTILINE)


@pytest.fixture(scope="module")
def paper_config() -> dict:
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return validate(deep_merge(base, yaml.safe_load(PAPER.read_text())))


@pytest.fixture(scope="module")
def offline_env(tmp_path_factory) -> dict[str, str]:
    return offline.offline_env(tmp_path_factory.mktemp("offline"))


def aapm_copy(workdir: Path) -> None:
    """A small copy where datasets.aapm.local_dir points: two slices of each split patient (a
    plan needs the folder, and checks the split against the patients it holds)."""
    patients = yaml.safe_load(PAPER.read_text())["datasets"]["aapm"]["patients"]
    for patient in (p for side in patients.values() for p in side):
        folder = workdir / "data" / "aapm" / patient / "full_1mm"
        if not folder.exists():
            write_series(folder, 2, patient_id=patient)


def planned(
    workdir: Path, env: dict[str, str], *args: str, configs: tuple[Path, ...] = (PAPER,)
) -> str:
    """The log of a dry run of the paper config (overlaid by ``configs``), shell lines included."""
    aapm_copy(workdir)
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-p"]
    command += [*args, "-d", str(workdir), "-n", "--configfile", *map(str, configs)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout + result.stderr


def dry_run(workdir: Path, env: dict[str, str], *args: str) -> list[tuple[str, str]]:
    """(rule, output) of every job a dry run of the paper config plans."""
    jobs = []
    for rule, body in JOB.findall(planned(workdir, env, *args)):
        output = re.search(r"^    output: (.*)$", body, re.MULTILINE)
        jobs.append((rule, output.group(1) if output else ""))
    return jobs


def test_the_socket_guard_really_refuses(offline_env):
    probe = "import socket; socket.create_connection(('127.0.0.1', 9))"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=offline_env, capture_output=True, text=True
    )
    assert "network access during a dry run" in result.stderr


def test_dry_run_plans_downloads_preprocessing_and_everything_downstream(
    paper_config, offline_env, tmp_path
):
    jobs = Counter(rule for rule, _ in dry_run(tmp_path, offline_env))
    pins = yaml.safe_load((ROOT / paper_config["datasets"]["lidc"]["pins"]).read_text())
    aapm = paper_config["datasets"]["aapm"]["patients"]
    assert jobs["download"] == len(pins["patients"])
    assert jobs["preprocess"] == len(pins["patients"]) + sum(len(ids) for ids in aapm.values())
    assert jobs["train_prior"] == 3 * 2, "patch, slice and coronal prior per data set"
    tasks = {t for e in paper_config["run"] for t in paper_config["experiments"][e]["tasks"]}
    assert jobs["train_fbpunet"] == len(tasks) * 2, "one FBP-UNet per task and data set"
    rows = {
        (dataset, task, method)
        for name in paper_config["run"]
        for dataset in paper_config["experiments"][name]["datasets"]
        for task in paper_config["experiments"][name]["tasks"]
        for method in experiment_methods(paper_config, name)
    }
    # Ablation arms with the main row's settings (jump_every 2, adjacent_shift on, the default
    # step counts) are the main row's reconstruction: one job, one seed, one number.
    distinct = {(d, t, reconstruction_key(paper_config, d, t, m)) for d, t, m in rows}
    assert len(distinct) < len(rows)
    assert jobs["reconstruct"] == len(distinct), "one test volume per data set"
    assert jobs["evaluate"] == len(rows), "every row is scored under its own name"
    assert jobs["experiment_tables"] == len(paper_config["run"])
    assert jobs["report"] == 1
    assert not (tmp_path / "results").exists(), "a dry run writes nothing"


@pytest.mark.parametrize("target", ["nfe_sweep", "ablation_jump_frequency", "table_limited_angle"])
def test_named_target_plans_only_its_own_part(paper_config, offline_env, tmp_path, target):
    jobs = dry_run(tmp_path, offline_env, target)
    experiment = paper_config["experiments"][target]
    planned = {
        tuple(output.split("/")[2:5])
        for rule, output in jobs
        if rule == "reconstruct"  # results/recon/<dataset>/<task>/<key>/<volume>.h5
    }
    expected = {
        (dataset, task, reconstruction_key(paper_config, dataset, task, method))
        for dataset in experiment["datasets"]
        for task in experiment["tasks"]
        for method in experiment_methods(paper_config, target)
    }
    assert planned == expected
    tables = [output for rule, output in jobs if rule == "experiment_tables"]
    assert len(tables) == 1 and f"results/paper/experiments/{target}/" in tables[0]
    rules = {rule for rule, _ in jobs}
    assert "report" not in rules and "combined_tables" not in rules
    assert ("download" in rules) == ("lidc" in experiment["datasets"])


def test_slurm_profile_plans_the_paper_with_gpus_for_training_and_sampling(offline_env, tmp_path):
    aapm_copy(tmp_path)
    command = [sys.executable, "-m", "snakemake", "-n", "--profile", "slurm", "-d", str(tmp_path)]
    command += ["--configfile", str(PAPER)]
    result = subprocess.run(
        command, cwd=ROOT, env=offline_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    log = result.stdout + result.stderr
    for rule, body in JOB.findall(log):
        resources = re.search(r"^    resources: (.*)$", body, re.MULTILINE).group(1)
        gpu_rules = {"train_prior", "train_fbpunet", "reconstruct"}
        assert ("gpu=1" in resources) == (rule in gpu_rules), rule


PUBLISHED = {
    # method: (rho, lambda sparse view, lambda limited angle), in the public code's units
    "dds_paper": (10.0, 0.04, 0.4),
    "diffusionmbir": (10.0, 0.04, 0.04),
    "diffusionblend": (1e-3, 5e-5, 5e-5),
    "diffusionblend_pp_paper": (1e-3, 5e-5, 5e-5),
}
CONVERTED_SV8 = {  # at 256 x 256 with 8 views: c^2 = pi / 16 ||A||^2 = 390
    "dds_paper": (0.0256, 1.03e-4),
    "diffusionmbir": (0.0256, 1.03e-4),
    "diffusionblend": (2.56e-6, 1.28e-7),
    "diffusionblend_pp_paper": (2.56e-6, 1.28e-7),
}


def test_every_table_runs_the_papers_own_weights(paper_config):
    tables = ("table_sparse_view", "table_limited_angle")
    methods = {m for t in tables for m in paper_config["experiments"][t]["methods"]}
    with_tv = {m for m in methods if "rho" in paper_config["methods"][m]}
    assert with_tv == set(PUBLISHED)
    for method, (rho, lam_sv, lam_la) in PUBLISHED.items():
        for task, lam in (("sv8", lam_sv), ("sv6", lam_sv), ("sv4", lam_sv), ("la90", lam_la)):
            settings = method_for_task(paper_config, method, task)
            assert (settings["weights"], settings["rho"], settings["lam"]) == ("paper", rho, lam)
    for name in paper_config["run"]:
        for method in experiment_methods(paper_config, name):
            assert paper_config["methods"][method].get("weights", "paper") == "paper", method


def test_paper_weights_convert_to_the_expected_values_at_256_and_8_views(paper_config):
    aapm = paper_config["datasets"]["aapm"]["preprocess"]["size"]
    operator = ParallelBeamOperator(parallel_geometry(paper_config["tasks"]["sv8"], aapm))
    for method, (rho, lam) in CONVERTED_SV8.items():
        weights = normalised_weights(method_for_task(paper_config, method, "sv8"), operator)
        assert weights["rho"] == pytest.approx(rho, rel=0.01), method
        assert weights["lam"] == pytest.approx(lam, rel=0.01), method


def test_diffusionmbir_runs_the_papers_2000_steps(paper_config):
    settings = paper_config["methods"]["diffusionmbir"]
    assert settings["steps"] == 2000 and settings["snr"] == 0.16 and settings["cg_iters"] == 1


def test_published_checkpoints_plan_the_papers_fine_tuning_and_the_authors_dds_prior(
    offline_env, tmp_path
):
    """With OpenAI's checkpoint set (config/imagenet_init.yaml) the priors fine-tune with the
    paper's recipe per data set; with DDS's prior (config/dds_prior.yaml) the slice-prior rows
    use it converted, and the slice prior is trained for TPDM alone (with its coronal prior)."""
    checkpoints = tmp_path / "data" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("256x256_diffusion_uncond.pt", "AAPM256_1M.pt"):
        (checkpoints / name).write_bytes(b"")  # a dry run only checks that inputs exist
    overlays = (PAPER, ROOT / "config" / "imagenet_init.yaml", ROOT / "config" / "dds_prior.yaml")
    log = planned(tmp_path, offline_env, configs=overlays)
    trainings = {}
    for match in re.finditer(
        r"train_prior --prior '([^']*)'.*?--out results/priors/(\w+)/(\w+)\.pt", log
    ):
        trainings[(match.group(2), match.group(3))] = json.loads(match.group(1))
    priors = ("patch", "slice", "coronal")
    assert set(trainings) == {(d, p) for d in ("aapm", "lidc") for p in priors}
    tpdm = r"reconstruct --method-name tpdm .*--prior-checkpoint results/priors/aapm/slice\.pt"
    assert re.search(tpdm + r" .*--auxiliary-prior-checkpoint results/priors/aapm/coronal\.pt", log)
    for (dataset, _), prior in trainings.items():
        assert prior["init"]["path"] == "data/checkpoints/256x256_diffusion_uncond.pt"
        recipe = prior["training"]
        assert (recipe["learning_rate"], recipe["batch_size"]) == (1e-5, 4)
        assert recipe["steps"] == {"aapm": 65000, "lidc": 62000}[dataset]
    conversions = re.findall(r"convert_checkpoint --checkpoint (\S+) .*--out (\S+)", log)
    assert sorted(conversions) == [
        ("data/checkpoints/AAPM256_1M.pt", f"results/priors/{d}/dds_aapm.pt")
        for d in ("aapm", "lidc")
    ]
    assert "loss_figure" in log and "dds_aapm.loss" not in log, "no loss curve of a published prior"


def test_the_tables_have_the_papers_eight_rows_in_its_order(paper_config):
    labels = ["FBP", "FBP-UNet", "DiffusionMBIR", "TPDM", "DDS 2D", "DDS", "DiffusionBlend"]
    labels.append("DiffusionBlend++")
    for table in ("table_sparse_view", "table_limited_angle"):
        methods = paper_config["experiments"][table]["methods"]
        assert [paper_config["methods"][m]["label"] for m in methods] == labels, table
    tpdm = paper_config["methods"]["tpdm"]
    assert (tpdm["steps"], tpdm["K"], tpdm["auxiliary_prior"]) == (2000, 2, "coronal")
