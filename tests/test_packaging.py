"""What others pin, install and cite: the lock agrees with pyproject.toml's ranges, the Makefile
installs from it, and the licence and citation files agree with the package metadata."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "envs" / "cpu.lock.txt"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def locked() -> dict[str, Version]:
    """{package: version} of every `name==version` line of the lock."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def project_requirements() -> list[Requirement]:
    """The runtime dependencies and every extra's, but the extras' references to dblend."""
    specs = PROJECT["dependencies"] + [
        spec for extra in PROJECT["optional-dependencies"].values() for spec in extra
    ]
    return [r for r in map(Requirement, specs) if canonicalize_name(r.name) != "dblend"]


def test_lock_pins_every_requirement_inside_its_range():
    pins = locked()
    missing = [r.name for r in project_requirements() if canonicalize_name(r.name) not in pins]
    assert missing == []
    outside = {
        r.name: (str(pins[canonicalize_name(r.name)]), str(r.specifier))
        for r in project_requirements()
        if not r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)
    }
    assert outside == {}, "(locked, required)"


def test_lock_names_its_torch_build_and_how_it_is_made():
    assert locked()["torch"].local == "cpu"
    assert "#    make lock" in LOCK.read_text().splitlines()[:3]


def test_make_install_uses_the_lock_and_make_lock_writes_it():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK := envs/cpu\.lock\.txt$", makefile, re.M)
    install = makefile[makefile.index("$(BIN)/.installed:") : makefile.index("\ninstall:")]
    assert "-r $(LOCK)" in install and "--no-deps -e ." in install
    lock = makefile[makefile.index("\nlock:") :].split("\n\n")[0]
    assert "--output-file $(LOCK)" in lock and "pyproject.toml" in lock


def test_make_install_installs_with_the_locked_uv_and_falls_back_to_pip():
    makefile = (ROOT / "Makefile").read_text()
    install = makefile[makefile.index("$(BIN)/.installed:") : makefile.index("\ninstall:")]
    assert "$(PIP) \"$$(grep '^uv==' $(LOCK))\"" in install and "uv" in locked()
    assert install.index("$(UV) -r $(LOCK)") < install.index("$(PIP) -r $(LOCK)")


def test_pip_sources_hand_uv_the_sources_pip_would_use():
    spec = importlib.util.spec_from_file_location("pip_sources", ROOT / "envs" / "pip_sources.py")
    pip_sources = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pip_sources)
    listed = (
        "global.find-links='/wheels'\n"
        "global.extra-index-url='file:///a/simple\\nfile:///b/simple'\n"
        ":env:.find-links='/env-wheels'\n"
        "install.index-url='https://install/simple'\n"
        "global.index-url='https://global/simple'\n"
        "global.cert='/certs.pem'\n"
        "global.constraint='/pins.txt'\n"
    )
    assert pip_sources.uv_options(listed) == [
        "--find-links", "/env-wheels",
        "--extra-index-url", "file:///a/simple",
        "--extra-index-url", "file:///b/simple",
        "--index-url", "https://install/simple",
        "--constraint", "/pins.txt",
    ]  # fmt: skip
    assert pip_sources.uv_options("") == []


def test_snakemake_is_an_extra_and_the_package_never_imports_it():
    assert all(Requirement(r).name != "snakemake" for r in PROJECT["dependencies"])
    assert "snakemake" in PROJECT["optional-dependencies"]["workflow"][0]
    imports = re.compile(r"^\s*(?:import|from)\s+snakemake\b", re.M)
    assert [p for p in (ROOT / "dblend").rglob("*.py") if imports.search(p.read_text())] == []


def test_licence_and_citation_agree_with_the_package():
    assert PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["version"] == PROJECT["version"]
    assert citation["license"] == PROJECT["license"]
    (paper,) = citation["references"]
    assert "DiffusionBlend" in paper["title"] and paper["year"] == 2024


def test_lock_python_satisfies_requires_python():
    makefile = (ROOT / "Makefile").read_text()
    python = re.search(r"^LOCK_PYTHON \?= (\S+)$", makefile, re.M)[1]
    assert Version(python) in SpecifierSet(PROJECT["requires-python"])
