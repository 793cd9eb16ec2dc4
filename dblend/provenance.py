"""The software a result was made with, recorded in every file the pipeline writes.

Numbers from the same config can still differ between versions of torch, diffusers, ASTRA or
NumPy, so every volume, sinogram, reconstruction and prior carries the versions that made it,
and the HTML report lists them. Versions come from the installed distributions' metadata, so
recording them imports nothing heavy. A local version label says which torch build ran
(``+cpu``, ``+cu130``; PyPI's own Linux wheels carry none and are CUDA builds).
"""

from __future__ import annotations

import platform
from importlib import metadata

from dblend import __version__

RECORDED = ("torch", "diffusers", "astra-toolbox", "numpy")
"""The distributions whose versions every output records, besides dblend and Python."""


def software_versions() -> dict[str, str]:
    """{name: version} of dblend, Python and each distribution in RECORDED."""
    versions = {"dblend": __version__, "python": platform.python_version()}
    for name in RECORDED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
