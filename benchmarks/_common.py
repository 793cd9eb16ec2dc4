"""What the benchmark scripts share: config, device, the machine's description and tables.

The scripts are run by path (``python benchmarks/<name>.py``), which puts this folder on
``sys.path``; the helpers live here so the scripts measure and print in the same way (clock
and memory readings come from :mod:`dblend.device`, which the pipeline's jobs use too).
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import dblend
from dblend.config import load
from dblend.device import resolve_device
from dblend.errors import DblendError
from dblend.models.checkpoint import load_prior
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.physics.geometry import task_geometry
from dblend.physics.parallel import ParallelBeamOperator
from dblend.physics.simulate import simulate

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every benchmark takes: which config, where to run, how many CPU threads."""
    parser.add_argument(
        "--config",
        action="append",
        type=Path,
        help="config file(s), later ones overlaying earlier ones as with Snakemake "
        f"(default: {REPO_CONFIG.relative_to(REPO_CONFIG.parents[1])})",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where torch runs; auto takes CUDA when present (default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (torch.set_num_threads); the pipeline's jobs use 1 (default: 1)",
    )


def fail(script: str, message: str) -> None:
    """Refuse plainly: one line on stderr and exit status 2, like the dblend CLI."""
    print(f"{script}: error: {message}", file=sys.stderr)
    sys.exit(2)


def setup(script: str, args: argparse.Namespace) -> tuple[dict[str, Any], torch.device]:
    """The validated config and the device, or a clean refusal (e.g. cuda without CUDA)."""
    if args.threads < 1:
        fail(script, f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    try:
        config = load(*(args.config or [REPO_CONFIG]))
        device = resolve_device(args.device)
    except DblendError as err:
        fail(script, str(err))
    return config, device


def parallel_task(script: str, config: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of the config's task ``name``, refused unless it exists and is parallel-beam."""
    if name not in config["tasks"]:
        fail(script, f"--task {name!r} is not one of {', '.join(config['tasks'])}")
    task = dict(config["tasks"][name])
    if task["kind"] not in ("sparse_view", "limited_angle"):
        fail(script, f"--task {name}: only parallel-beam tasks, not {task['kind']}")
    return task


def simulated_task(
    task: dict[str, Any], volume: torch.Tensor, seed: int, device: torch.device
) -> tuple[ParallelBeamOperator, torch.Tensor]:
    """The task's operator for ``volume`` and its simulated sinogram.

    The operator's spectral norm is computed here, once, so no timed or profiled run pays for it.
    """
    operator = ParallelBeamOperator(task_geometry(task, tuple(volume.shape)), device)
    sinogram = simulate(volume, operator, task["noise"], seed)
    operator.norm  # noqa: B018 - cached by the operator
    return operator, sinogram


def require_methods(script: str, config: dict[str, Any], names: Sequence[str]) -> None:
    """Refuse method names the config does not define, naming them."""
    unknown = [m for m in names if m not in config["methods"]]
    if unknown:
        fail(script, f"--methods {', '.join(unknown)}: not in the config's methods")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(device: torch.device, threads: int) -> list[str]:
    """What the numbers were measured on, printed above every table."""
    lines = [
        f"torch {torch.__version__}, python {platform.python_version()}, {platform.system()}",
        f"CPU: {cpu_model()}, torch threads {threads}",
        f"dblend {dblend.__version__} from {Path(dblend.__file__).parent}",
        f"device: {device}",
    ]
    if device.type == "cuda":
        lines[-1] += f" ({torch.cuda.get_device_name(device)})"
    return lines


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: columns padded to their widest cell, numbers right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def megabytes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_prior(
    config: dict[str, Any], method: dict[str, Any], network: str, size: int, device: torch.device
) -> ScorePrior:
    """An untrained prior of the method's prior config (slices, spacings) and ``network``.

    Random weights: a network's cost does not depend on its weights, so timings need no training.
    """
    spec = PriorSpec.from_config(
        config["priors"][method["prior"]], config["networks"][network], image_size=size
    )
    torch.manual_seed(0)
    return ScorePrior(spec).to(device).eval()


def load_priors(
    config: dict, named: list[str], image_size: int, device: torch.device
) -> dict[str, ScorePrior]:
    """Each NAME=CHECKPOINT as the config's prior NAME, refusing a checkpoint of another config."""
    priors = {}
    for item in named:
        name, sep, path = item.partition("=")
        if not sep or name not in config["priors"]:
            known = ", ".join(sorted(config["priors"]))
            raise DblendError(f"--prior {item!r}: expected NAME=CHECKPOINT with NAME in {known}")
        settings = config["priors"][name]
        spec = PriorSpec.from_config(settings, config["networks"][settings["network"]], image_size)
        priors[name] = load_prior(path, spec, device)
    return priors
