"""The ``dblend`` command: one subcommand per pipeline stage (and per user tool).

Each Snakemake rule runs ``dblend <rule name>``; the subcommand, its module in
:mod:`dblend.stages` and the function doing the work share that name. Config sections arrive as
JSON words (Snakemake passes them as params, so a changed section re-runs the job). Errors meant
for users (bad config, bad files, missing CUDA) print as one line naming the problem and exit
with status 2, leaving no output behind.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from types import ModuleType

import torch

from dblend import stages, tools
from dblend.errors import DblendError


def commands() -> dict[str, ModuleType]:
    """Every stage and tool module by name (modules whose name starts with _ are helpers)."""
    found = {}
    for package in (stages, tools):
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                found[info.name] = importlib.import_module(f"{package.__name__}.{info.name}")
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dblend", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, module in commands().items():
        summary = (module.__doc__ or name).strip().splitlines()[0]
        command = subcommands.add_parser(name, help=summary, description=summary)
        module.add_arguments(command)
        command.set_defaults(run=getattr(module, name))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command, run, threads = args.pop("command"), args.pop("run"), args.pop("threads")
    if threads:
        torch.set_num_threads(threads)
    try:
        run(**args)
    except DblendError as err:
        print(f"dblend {command}: error: {err}", file=sys.stderr)
        return 2
    except (OSError, MemoryError) as err:  # what the system refuses: one line, not a traceback
        reason = " ".join(str(err).split()) or type(err).__name__
        print(f"dblend {command}: error: {reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
