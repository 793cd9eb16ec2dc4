"""Every shell command in the README's and docs' code blocks works as written.

Commands are read from the fenced shell blocks of README.md, config/README.md and docs/*.md, and
each is checked the way its kind allows without running the pipeline: `snakemake` as a dry run
(`-n` added) in a copy of the repository holding small DICOM copies where configs expect local
data, and no network; `dblend` subcommands, benchmark scripts and their options against their
`--help`; make targets with `make -n`. Setup commands (venv, pip) are listed and not run; any
other command fails the test, so a new kind of command needs a check here first.

A YAML block whose first line is a comment naming a file (`# config/my_ct.yaml`) is written to
that path in the copy before the commands run, so a doc's overlay is what its commands use.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import offline
import pytest
from dicom_factory import write_series

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "config" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_BLOCK = re.compile(r"\A# (\S+\.ya?ml)\b")
SETUP = ("python -m venv", "source ", "pip install")
"""Install steps a user types once; they change the machine, so they are not run here."""
COPIED = ("config",)
"""Folders copied into the work copy (tests write into them); everything else is linked."""
LOCAL_DICOM = {"data/aapm": ["L067", "L096", "L109", "L143", "L192", "L286", "L291", "L310"]}
"""Local DICOM copies the shipped configs point at, with the patients written into each."""


@dataclass(frozen=True)
class Command:
    doc: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return shlex.join(self.words)


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return FENCE.findall(text)


def commands_of(path: Path, root: Path = ROOT) -> list[Command]:
    """The commands of a doc's shell blocks, continuation lines joined and comments dropped."""
    found = []
    for language, body in blocks(path.read_text()):
        if language not in SHELL:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append(Command(str(path.relative_to(root)), tuple(words)))
    return found


def files_of(path: Path) -> dict[str, str]:
    """{relative path: text} of the YAML blocks that name the file they are."""
    files = {}
    for language, body in blocks(path.read_text()):
        named = FILE_BLOCK.match(body)
        if language in ("yaml", "yml") and named:
            files[named.group(1)] = body
    return files


def distinct(commands: list[Command]) -> list[Command]:
    """One of each command (a dry run is the same check with or without its -n)."""
    seen = {}
    for command in commands:
        seen.setdefault(tuple(w for w in command.words if w != "-n"), command)
    return list(seen.values())


COMMANDS = distinct([command for doc in DOCS for command in commands_of(doc)])


@pytest.fixture(scope="module")
def work_copy(tmp_path_factory) -> Path:
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
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            (copy / name).write_text(text)
    for folder, patients in LOCAL_DICOM.items():
        for patient in patients:
            write_series(copy / folder / patient / "full_1mm", 3, patient_id=patient)
    return copy


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return offline.offline_env(tmp_path_factory.mktemp("offline"))


def test_the_docs_hold_every_kind_of_command():
    kinds = {kind_of(command) for command in COMMANDS}
    assert kinds >= {"snakemake", "make", "benchmark", "setup"}, kinds


def kind_of(command: Command) -> str:
    words = command.words
    text = str(command)
    if text.startswith(SETUP):
        return "setup"
    if words[0] == "snakemake":
        return "snakemake"
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
    if kind == "snakemake":
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
