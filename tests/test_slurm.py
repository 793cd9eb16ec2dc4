"""`snakemake --profile slurm` on a real one-node SLURM cluster (tests/slurm_cluster.py).

The run must finish with the metrics table; every job that is not a local rule must have gone
through sbatch, and no local one; and what slurmctld recorded for each job must be what
slurm/config.yaml asks: a GPU for training and reconstruction and none for the others, and each
rule's runtime and memory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import slurm_cluster
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "slurm"
GPU_RULES = {"train_prior", "train_fbpunet", "reconstruct"}
# tiny.yaml cut to one training volume, no validation volume and one prior, so that the chain
# fits well within two minutes on two cores; it still runs every rule the cluster gets.
SMALLER = {
    "datasets": {"tiny": {"train": 1, "validation": 0}},
    "experiments": {"tiny": {"methods": ["fbp", "diffusionblend_pp"]}},
    "run": ["tiny"],
}
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) ", re.MULTILINE)


def job_blocks(log: str, field: str) -> list[tuple[bool, str, str]]:
    """(local?, rule, value of ``field``) for each job Snakemake's log announces."""
    block = rf"^(local)?rule (\w+):\n(?:    .*\n)*?    {field}: (.*)$"
    return [(bool(local), rule, value) for local, rule, value in re.findall(block, log, re.M)]


def snakemake(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    venv = str(Path(sys.executable).parent)
    env = {**env, "PATH": os.pathsep.join([venv, env["PATH"]])}
    command = [sys.executable, "-m", "snakemake", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_profile_is_found_by_name_from_the_repository_root(tmp_path):
    """The README's `snakemake --profile slurm`, as a dry run: no cluster needed."""
    result = snakemake("--profile", "slurm", "-d", str(tmp_path), "-n", env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Using profile slurm for setting default command line arguments." in result.stderr
    log = result.stdout + result.stderr  # a dry run prints its jobs on stdout
    resources = {rule: value for _, rule, value in job_blocks(log, "resources")}
    assert "gpu=1" in resources["train_prior"] and "gpu=1" in resources["reconstruct"]
    assert "gpu" not in resources["phantom"] and "gpu" not in resources["simulate"]


def test_site_settings_come_from_a_profile_of_ones_own(tmp_path):
    """Account and partition in the user's profile, given after the workflow's: each job asks
    for both, and still for the workflow's per-rule memory, time and GPU."""
    site = tmp_path / "mysite"
    site.mkdir()
    (site / "config.yaml").write_text(
        yaml.safe_dump({"default-resources": {"slurm_account": "lab", "slurm_partition": "big"}})
    )
    workdir = tmp_path / "work"
    args = ("--profile", "slurm", "--profile", str(site), "-d", str(workdir), "-n")
    result = snakemake(*args, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-4000:]
    log = result.stdout + result.stderr
    resources = {rule: value for _, rule, value in job_blocks(log, "resources")}
    for rule in ("phantom", "train_prior"):
        assert "slurm_account=lab" in resources[rule] and "slurm_partition=big" in resources[rule]
    assert "gpu=1" in resources["train_prior"] and "mem_mb=32000" in resources["train_prior"]


@dataclass
class Run:
    workdir: Path
    remote: dict[str, str]  # Snakemake job id -> rule, for the jobs sent to the cluster
    local: dict[str, str]  # the same for the jobs Snakemake ran itself
    slurm_ids: dict[str, list[str]]  # Snakemake job id -> SLURM job ids (a retry adds one)
    jobs: dict[str, dict[str, str]]  # SLURM job id -> `scontrol show job --details` fields


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = slurm_cluster.unavailable()
    if reason:
        if os.environ.get("DBLEND_REQUIRE_SLURM") == "1":
            pytest.fail(f"DBLEND_REQUIRE_SLURM=1, but no SLURM cluster can start: {reason}")
        pytest.skip(
            f"no SLURM cluster here: {reason}; `make test DEBIAN_PACKAGES=1`, run as root on "
            "Debian or Ubuntu, installs one"
        )
    with slurm_cluster.slurm_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def profile_run(cluster, tmp_path_factory) -> Run:
    workdir = tmp_path_factory.mktemp("work")
    smaller = workdir / "smaller.yaml"
    smaller.write_text(yaml.safe_dump(SMALLER))
    result = snakemake(
        *("-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--profile", str(PROFILE)),
        *("--configfile", str(ROOT / "config" / "test" / "tiny.yaml"), str(smaller)),
        # No accounting on this cluster: sacct would never report a job finished.
        *("--slurm-status-command", "squeue", "--slurm-no-account"),
        # The first status check after 6 s rather than 40: these jobs take seconds, not hours.
        *("--slurm-init-seconds-before-status-checks", "6"),
        "results/tiny/tables/metrics.csv",
        env=cluster.env,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-6000:] + "\n" + cluster.logs()
    remote, local = {}, {}
    for is_local, rule, job in job_blocks(result.stderr, "jobid"):
        (local if is_local else remote)[job] = rule
    slurm_ids: dict[str, list[str]] = {}
    for job, slurm_id in SUBMITTED.findall(result.stderr):
        slurm_ids.setdefault(job, []).append(slurm_id)
    jobs = {i: cluster.job(i) for ids in slurm_ids.values() for i in ids}
    return Run(workdir, remote, local, slurm_ids, jobs)


def minutes(time_limit: str) -> int:
    """SLURM's [D-]HH:MM:SS in minutes."""
    days, _, clock = time_limit.rpartition("-")
    hours, mins, _ = map(int, clock.split(":"))
    return int(days or 0) * 24 * 60 + hours * 60 + mins


@pytest.mark.slow
def test_profile_run_writes_the_metrics_table(profile_run):
    table = pd.read_csv(profile_run.workdir / "results" / "tiny" / "tables" / "metrics.csv")
    assert set(table["method"]) == {"fbp", "diffusionblend_pp"}
    assert table["psnr"].between(5.0, 60.0).all(), "finite and plausible"
    assert table["ssim"].between(0.0, 1.0).all()


@pytest.mark.slow
def test_every_cluster_job_went_through_sbatch_and_no_local_one(profile_run):
    assert set(profile_run.remote.values()) == {"phantom", "simulate", "train_prior", "reconstruct"}
    assert set(profile_run.local.values()) == {"evaluate", "experiment_tables", "combined_tables"}
    assert profile_run.slurm_ids.keys() == profile_run.remote.keys()
    for job, rule in profile_run.remote.items():
        for slurm_id in profile_run.slurm_ids[job]:
            comment = profile_run.jobs[slurm_id]["Comment"]
            assert comment.startswith(f"rule_{rule}_wildcards_"), (rule, comment)
    final = {profile_run.jobs[ids[-1]]["JobState"] for ids in profile_run.slurm_ids.values()}
    assert final == {"COMPLETED"}


@pytest.mark.slow
def test_slurm_granted_what_the_profile_asks(profile_run):
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    for job, rule in profile_run.remote.items():
        asked = profile["set-resources"][rule]
        assert (asked.get("gpu") == 1) == (rule in GPU_RULES), rule
        for slurm_id in profile_run.slurm_ids[job]:
            recorded = profile_run.jobs[slurm_id]
            if rule in GPU_RULES:
                assert recorded.get("TresPerJob") == "gres:gpu:1", (rule, recorded)
                assert recorded["JOB_GRES"] == "gpu:1", (rule, recorded)
            else:
                assert "TresPerJob" not in recorded, (rule, recorded)
                assert recorded["JOB_GRES"] == "(null)", (rule, recorded)
            assert recorded["MinMemoryNode"] == f"{asked['mem_mb']}M", (rule, recorded)
            assert minutes(recorded["TimeLimit"]) == asked["runtime"], (rule, recorded)
