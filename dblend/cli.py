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

from dblend import stages, tools
from dblend.errors import DblendError


def command_paths() -> dict[str, str]:
    """Every stage and tool by name -> its module's import path, found without importing any
    (modules whose name starts with _ are helpers)."""
    return {
        info.name: f"{package.__name__}.{info.name}"
        for package in (stages, tools)
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    }


def commands(names: list[str] | None = None) -> dict[str, ModuleType]:
    """The stage and tool modules by name: those named, or all."""
    paths = command_paths()
    return {name: importlib.import_module(paths[name]) for name in names or paths}


def _named_command(argv: list[str]) -> list[str]:
    """The subcommand ``argv`` names, alone, when it names a known one: a job imports only its
    own stage (and what that needs), not every stage's libraries; help and typos import all."""
    before = argparse.ArgumentParser(add_help=False)
    before.add_argument("--threads")
    before.add_argument("command", nargs="?")
    known, _ = before.parse_known_args(argv)
    return [known.command] if known.command in command_paths() else []


def _parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dblend", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, module in commands(names).items():
        summary = (module.__doc__ or name).strip().splitlines()[0]
        command = subcommands.add_parser(name, help=summary, description=summary)
        module.add_arguments(command)
        command.set_defaults(run=getattr(module, name))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = vars(_parser(_named_command(argv)).parse_args(argv))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    command, run, threads = args.pop("command"), args.pop("run"), args.pop("threads")
    if threads:
        import torch  # only a job that sets its threads pays for torch here

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
