"""An environment for subprocesses that must not reach the network (dry runs of real configs).

A sitecustomize module makes every socket connection of the process fail, so a plan must come
from what the repository pins and the test wrote, never from a server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

NO_NETWORK = """\
import socket

def _refuse(*args, **kwargs):
    raise OSError("network access during a dry run")

socket.socket.connect = _refuse
socket.create_connection = _refuse
"""


def offline_env(site: Path) -> dict[str, str]:
    """os.environ with the refusing sitecustomize (written into ``site``) first on the import
    path, before any path already there, and this interpreter's scripts first on PATH."""
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    python_path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return {**os.environ, "PYTHONPATH": python_path, "PATH": path}
