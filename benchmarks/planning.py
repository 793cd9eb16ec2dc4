"""Seconds Snakemake takes to plan a run: the wait before any job starts, and all of a rerun.

Why: every ``snakemake`` call plans the whole run first (config validation, the job graph, the
rerun checks), and a rerun with nothing to do is nothing but that plan. A plan that grows slow
makes every small rerun and every ``-n`` slow. This times ``snakemake -n`` (a dry run: the plan
only) for each config given, in a working directory (by default this checkout, so a finished
``make demo`` is timed as the rerun it would be), and prints the median and fastest seconds and
the jobs planned. Timings only: nothing here asserts on them (a shared machine is noisy).
Run ``python benchmarks/planning.py --help``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import fail, table

SCRIPT = "planning.py"
ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT, description="Seconds of `snakemake -n` (the plan of a run) per config."
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=ROOT,
        help="where the run's results are (default: this checkout)",
    )
    parser.add_argument(
        "--configfile",
        action="append",
        dest="configs",
        help="a config overlay to plan (repeat for several rows; default: the default config "
        "alone, i.e. the demo)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="dry runs per config (default: 3)")
    return parser.parse_args(argv)


def planned_jobs(output: str) -> int:
    """Jobs a dry run planned: the 'total' of its job stats, 0 for 'Nothing to be done'."""
    found = re.search(r"^total\s+(\d+)$", output, re.M)
    return int(found[1]) if found else 0


def dry_run(workdir: Path, config: str | None) -> tuple[float, int]:
    """Seconds of one ``snakemake -n`` and the jobs it planned; a failed plan stops the script."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
    command += ["-d", str(workdir), "--cores", "2", "-n"]
    if config:
        command += ["--configfile", str(Path(config).resolve())]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        fail(SCRIPT, f"snakemake -n with {config or 'the default config'} failed:\n{tail}")
    return seconds, planned_jobs(output)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeats < 1:
        fail(SCRIPT, f"--repeats must be at least 1, got {args.repeats}")
    if not args.workdir.is_dir():
        fail(SCRIPT, f"--workdir {args.workdir}: not a directory")
    rows = []
    for config in args.configs or [None]:
        runs = [dry_run(args.workdir, config) for _ in range(args.repeats)]
        seconds = [s for s, _ in runs]
        rows.append(
            [
                config or "(default config)",
                str(runs[-1][1]),
                f"{statistics.median(seconds):.2f}",
                f"{min(seconds):.2f}",
            ]
        )
    print(f"workdir {args.workdir.resolve()}; {args.repeats} dry run(s) per config")
    print()
    print(table(["config", "jobs planned", "median s", "fastest s"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
