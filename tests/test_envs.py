"""envs/dblend.yaml, the rules' conda environment, states what pyproject.toml requires.

The two lists are kept by hand in two formats; this catches a dependency added, dropped or
re-ranged in one and not the other before a cluster run finds it by failing.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    OutputSettings,
    ResourceSettings,
    StorageSettings,
)

ROOT = Path(__file__).resolve().parents[1]
ENV = ROOT / "envs" / "dblend.yaml"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CHECKOUT = "${DBLEND_ROOT}"
"""The pip line installing the workflow's own checkout (set by workflow/rules/common.smk)."""


def env_entries() -> tuple[list[str], list[str]]:
    """(conda specs, pip lines) of the environment file."""
    conda, pip = [], []
    for entry in yaml.safe_load(ENV.read_text())["dependencies"]:
        if isinstance(entry, dict):
            pip.extend(entry["pip"])
        else:
            conda.append(entry)
    return conda, pip


def env_packages() -> list[Requirement]:
    """Every package the environment names, from conda or pip, but python, pip and this one."""
    conda, pip = env_entries()
    conda = [spec for spec in conda if spec.partition("=")[0] not in {"python", "pip"}]
    return [Requirement(spec) for spec in conda + [p for p in pip if p != CHECKOUT]]


def ranges(requirements: list[Requirement]) -> dict[str, str]:
    return {canonicalize_name(r.name): str(r.specifier) for r in requirements}


def test_env_states_every_runtime_dependency_with_the_same_range():
    packages = env_packages()
    env = ranges(packages)
    required = ranges([Requirement(spec) for spec in PROJECT["dependencies"]])
    assert len(env) == len(packages), "a package is listed twice"
    assert sorted(required.keys() - env.keys()) == [], "missing from envs/dblend.yaml"
    assert sorted(env.keys() - required.keys()) == [], "unknown to pyproject.toml"
    assert {n: (env[n], r) for n, r in required.items() if env[n] != r} == {}, "(env, pyproject)"


def test_torch_stays_a_range_so_clusters_get_cuda_builds():
    (torch,) = [r.specifier for r in env_packages() if r.name == "torch"]
    assert len(torch) > 1 and all(spec.operator != "==" for spec in torch), torch


def test_env_python_satisfies_requires_python():
    (python,) = [spec for spec in env_entries()[0] if spec.partition("=")[0] == "python"]
    assert Version(python.removeprefix("python=")) in SpecifierSet(PROJECT["requires-python"])


def test_env_installs_the_workflows_checkout_not_editable():
    """pip reads ${DBLEND_ROOT} (a plain path: no -e), which planning sets to this repository;
    the file names the package's version, so a release changes its hash and rebuilds it."""
    assert CHECKOUT in env_entries()[1]
    assert not [line for line in env_entries()[1] if line.startswith("-e")]
    assert f"dblend {PROJECT['version']} itself" in ENV.read_text()
    os.environ.pop("DBLEND_ROOT", None)
    parsed_workflow()
    assert os.environ["DBLEND_ROOT"] == str(ROOT)


def parsed_workflow() -> dict[str, Path]:
    """Parse the workflow as Snakemake does; each rule with a command and its conda path."""
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(),
            storage_settings=StorageSettings(),
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
        )
        return {
            rule.name: (Path(rule.snakefile).parent / rule.conda_env).resolve()
            for rule in workflow._workflow.rules
            if rule.shellcmd
        }


def test_every_rule_with_a_command_uses_this_environment():
    """Snakemake's own view: each rule's conda path, resolved from the file defining the rule."""
    envs = parsed_workflow()
    assert {"phantom", "simulate", "train_prior", "reconstruct", "report"} <= envs.keys()
    assert set(envs.values()) == {ENV}, envs
