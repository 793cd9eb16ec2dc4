"""The code blocks of the repository's Markdown docs: shell commands and named YAML files."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

SHELL = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
FILE_BLOCK = re.compile(r"\A# (\S+\.ya?ml)\b")
"""A YAML block whose first line is a comment naming a file is that file's content."""


@dataclass(frozen=True)
class Command:
    doc: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return shlex.join(self.words)


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return FENCE.findall(text)


def commands_of(path: Path, root: Path) -> list[Command]:
    """The commands of a doc's shell blocks: continuation lines joined, a quoted word may span
    lines, comments dropped."""
    found = []
    for language, body in blocks(path.read_text()):
        if language not in SHELL:
            continue
        pending = ""
        for line in body.replace("\\\n", " ").splitlines():
            pending += line + "\n"
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # a quoted word runs on to the next line
                continue
            pending = ""
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
