"""Print uv's options for the package sources pip is configured with.

`make install` installs the lock with uv, which takes seconds where pip takes minutes, but uv
reads no pip.conf and no PIP_* variable. This hands it the indexes, wheel folders and
constraints pip would use (`pip config list`), so both install from the same places.
"""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys

# pip's option -> uv's option of the same meaning.
UV_OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}
# For `pip install`, [install] overrides [global] and PIP_* variables (":env:") override both.
SECTIONS = ("global", "install", ":env:")


def uv_options(config_list: str) -> list[str]:
    """uv's options for the sources in `pip config list`'s output (lines `section.key='value'`)."""
    chosen: dict[str, tuple[int, str]] = {}
    for line in config_list.splitlines():
        name, found, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if not found or key not in UV_OPTIONS or section not in SECTIONS:
            continue
        rank = SECTIONS.index(section)
        if rank >= chosen.get(key, (-1, ""))[0]:
            chosen[key] = (rank, ast.literal_eval(value))
    return [
        part
        for key, (_, values) in chosen.items()
        for value in values.split()
        for part in (UV_OPTIONS[key], value)
    ]


def main() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    )
    print(shlex.join(uv_options(listed.stdout)))


if __name__ == "__main__":
    main()
