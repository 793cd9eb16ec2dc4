"""Every shell command in the README's and docs' code blocks works as written.

Commands are read from the fenced shell blocks of README.md, config/README.md and docs/*.md, and
each is checked the way its kind allows without running the pipeline: `snakemake` as a dry run
(`-n` added) in a copy of the repository holding small DICOM copies where configs expect local
data, and no network; `dblend` subcommands, benchmark scripts and their options against their
`--help`; make targets with `make -n`; benchmark shell scripts with `bash -n`; `echo TEXT > FILE`
and `mkdir -p` act in the copy (the commands after them use it). Setup and download steps (venv,
pip, wget, conda) are listed and not run; any other command fails the test, so a new kind of
command needs a check here first.

A YAML block whose first line is a comment naming a file (`# config/my_ct.yaml`) is written to
that path in the copy before the commands run, so a doc's overlay is what its commands use; a
name under `~/` (a user's own Snakemake profile) is written under the test's home, whose
`.config` the commands see as their XDG config folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import offline
import pytest
import yaml
from dicom_factory import write_series
from doc_blocks import Command, commands_of, files_of

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETUP = ("python -m venv", "python3 -m venv", "source ", "pip install", "wget ", "conda ")
"""Install and download steps a user types once (they change the machine or need the network),
and the maintainers' environment export; listed, not run here."""
COPIED = ("config",)
"""Folders copied into the work copy (tests write into them); everything else is linked."""


def distinct(commands: list[Command]) -> list[Command]:
    """One of each command (a dry run is the same check with or without its -n)."""
    seen = {}
    for command in commands:
        seen.setdefault(tuple(w for w in command.words if w != "-n"), command)
    return list(seen.values())


COMMANDS = distinct([command for doc in DOCS for command in commands_of(doc, ROOT)])


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """The user's home of the commands: where a doc's `~/...` files go."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def work_copy(tmp_path_factory, home) -> Path:
    """The repository as a user's clone: configs copied, the doc's files and local DICOM
    written, everything else linked; nothing under results/ yet."""
    copy = tmp_path_factory.mktemp("clone")
    for entry in ROOT.iterdir():
        if entry.name in {"results", "data", ".git", ".venv"} or entry.name.startswith("."):
            continue
        if entry.name in COPIED:
            shutil.copytree(entry, copy / entry.name)
        else:
            (copy / entry.name).symlink_to(entry)
    for doc in DOCS:
        for name, text in files_of(doc).items():
            path = home / name.removeprefix("~/") if name.startswith("~/") else copy / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for config in sorted((copy / "config").glob("*.yaml")):
        write_local_copies(copy, yaml.safe_load(config.read_text()) or {})
        write_downloaded_checkpoints(copy, yaml.safe_load(config.read_text()) or {})
    return copy


def write_local_copies(copy: Path, config: dict) -> None:
    """Three-slice series of every patient of the config's local_dicom data sets, where the
    config expects them (the shipped paper config's AAPM copy, a doc's own-data overlay)."""
    for dataset in config.get("datasets", {}).values():
        if dataset.get("source") == "local_dicom":
            for patients in dataset["patients"].values():
                for patient in patients:
                    folder = copy / dataset["local_dir"] / patient / "full_1mm_ct"
                    write_series(folder, 3, patient_id=patient)


def write_downloaded_checkpoints(copy: Path, config: dict) -> None:
    """Empty stand-ins for the published checkpoints a config names (a user downloads them; a
    plan needs them to exist, never reads them)."""
    for prior in config.get("priors", {}).values():
        for source in (prior.get("pretrained"), prior.get("init")):
            if source and source.get("path"):
                (copy / source["path"]).parent.mkdir(parents=True, exist_ok=True)
                (copy / source["path"]).touch()


@pytest.fixture(scope="module")
def env(tmp_path_factory, home) -> dict[str, str]:
    return {
        **offline.offline_env(tmp_path_factory.mktemp("offline")),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def test_the_docs_hold_every_kind_of_command():
    kinds = {kind_of(command) for command in COMMANDS}
    assert kinds == {"snakemake", "dblend", "make", "benchmark", "script", "setup", "write"}, kinds


def kind_of(command: Command) -> str:
    words = command.words
    text = str(command)
    if text.startswith(SETUP):
        return "setup"
    if words[0] == "snakemake":
        return "snakemake"
    if (words[0] == "echo" and len(words) == 4 and words[2] == ">") or words[:2] == ("mkdir", "-p"):
        return "write"
    script = [w for w in words if w.endswith(".sh")]
    if "bash" in words and script and script[0].startswith("benchmarks/"):
        return "script"
    if words[0] == "dblend":
        return "dblend"
    if words[0] == "make":
        return "make"
    if words[0].endswith("python") and len(words) > 1 and words[1].startswith("benchmarks/"):
        return "benchmark"
    return "unknown"


def run(words: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def options_of(words: tuple[str, ...]) -> set[str]:
    return {word.split("=")[0] for word in words if word.startswith("--")}


def config_files(words: tuple[str, ...]) -> list[str]:
    """The words --configfile takes: every word after it up to the next option."""
    if "--configfile" not in words:
        return []
    taken = []
    for word in words[words.index("--configfile") + 1 :]:
        if word.startswith("-"):
            break
        taken.append(word)
    return taken


def check_snakemake(command: Command, cwd: Path, env: dict[str, str]) -> None:
    words = list(command.words)
    not_files = [w for w in config_files(command.words) if not w.endswith((".yaml", ".yml"))]
    assert not not_files, (
        f"{command.doc}: `{command}`: --configfile takes {not_files} as config files; "
        "put targets before --configfile"
    )
    if "--report" in words:
        at = words.index("--report")
        assert words[at + 1].endswith((".html", ".zip")), f"{command}: report must be .html/.zip"
        del words[at : at + 2]  # a report needs a finished run; the plan is what can be checked
    if "-n" not in words:
        words.insert(1, "-n")
    result = run([sys.executable, "-m", *words], cwd, env)
    assert result.returncode == 0, f"{command.doc}: `{command}` failed:\n{result.stderr[-3000:]}"
    assert not (cwd / "results").exists(), "a dry run writes nothing"


def check_help(command: Command, program: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = run([*program, "--help"], cwd, env)
    assert result.returncode == 0, f"{command.doc}: `{command}`: {result.stderr[-2000:]}"
    missing = sorted(o for o in options_of(command.words) if o not in result.stdout)
    assert not missing, f"{command.doc}: `{command}` uses options its --help lacks: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_documented_command_works(command, work_copy, env):
    kind = kind_of(command)
    assert kind != "unknown", f"{command.doc}: `{command}`: no check knows this command"
    if kind == "setup":
        return
    if kind == "write":  # echo TEXT > FILE (an overlay the next commands use), or mkdir -p
        if command.words[0] == "mkdir":
            for folder in command.words[2:]:
                (work_copy / folder).mkdir(parents=True, exist_ok=True)
        else:
            (work_copy / command.words[3]).write_text(command.words[1] + "\n")
    elif kind == "script":  # a shell script of the benchmarks: it must at least parse
        script = next(w for w in command.words if w.endswith(".sh"))
        result = run(["bash", "-n", script], work_copy, env)
        assert result.returncode == 0, f"{command.doc}: `{command}`: {result.stderr}"
    elif kind == "snakemake":
        check_snakemake(command, work_copy, env)
    elif kind == "dblend":
        subcommand = next(w for w in command.words[1:] if not w.startswith("-"))
        check_help(command, ["dblend", subcommand], work_copy, env)
    elif kind == "benchmark":
        check_help(command, [sys.executable, command.words[1]], work_copy, env)
    else:
        targets = [w for w in command.words[1:] if not w.startswith("-") and "=" not in w]
        result = run(["make", "-n", *targets], work_copy, env)
        assert result.returncode == 0, f"{command.doc}: `{command}`: {result.stderr}"


def test_command_extraction_joins_lines_and_drops_comments(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```bash\nsnakemake --cores 2 \\\n    --configfile a.yaml   # a comment\n\n```\n"
        "```yaml\n# config/x.yaml\nseed: 1\n```\n```python\nprint(1)\n```\n"
    )
    found = [c.words for c in commands_of(doc, tmp_path)]
    assert found == [("snakemake", "--cores", "2", "--configfile", "a.yaml")]
    assert files_of(doc) == {"config/x.yaml": "# config/x.yaml\nseed: 1\n"}
    assert config_files(("snakemake", "--configfile", "a.yaml", "nfe_sweep")) == [
        "a.yaml",
        "nfe_sweep",
    ]
