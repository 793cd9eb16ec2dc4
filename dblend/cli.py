"""The ``dblend`` command: one subcommand per pipeline step, called by the Snakemake rules.

Sections of the config arrive as JSON (Snakemake passes them as params, so a changed section
re-runs the job). Errors meant for users (bad config, bad files, missing CUDA) print as one
line naming the problem and exit with status 2, leaving no output behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from dblend import jobs
from dblend.errors import DblendError
from dblend.report.html import TrainingCurve


def _json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def _pairs(items: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise DblendError(f"{option} expects KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dblend", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    commands = parser.add_subparsers(dest="command", required=True)

    phantom = commands.add_parser("phantom", help="write one embedded thorax phantom volume")
    phantom.add_argument("--size", type=int, required=True)
    phantom.add_argument("--slices", type=int, required=True)
    phantom.add_argument("--seed", type=int, required=True)
    phantom.add_argument("--out", type=Path, required=True)

    fetch = commands.add_parser("download", help="fetch one pinned series from TCIA, verified")
    fetch.add_argument("--uid", required=True, help="SeriesInstanceUID")
    fetch.add_argument("--root", type=Path, required=True, help="series land in ROOT/UID/")
    fetch.add_argument("--images", type=int, default=None, help="expected image count")

    prep = commands.add_parser("preprocess", help="DICOM series of one patient -> volume")
    prep.add_argument("--series-dir", type=Path, help="the series folder")
    prep.add_argument("--local-dir", type=Path, help="or a local copy to find it in")
    prep.add_argument("--manifest", type=Path, help="only series of this .tcia manifest")
    prep.add_argument("--match", help="text picking the series in the local copy")
    prep.add_argument("--patient", required=True, help="PatientID the files must carry")
    prep.add_argument("--settings", type=_json, required=True, help="preprocess config (JSON)")
    prep.add_argument("--out", type=Path, required=True)

    simulate = commands.add_parser("simulate", help="simulate a task's sinograms of a volume")
    simulate.add_argument("--volume", type=Path, required=True)
    simulate.add_argument("--task", type=_json, required=True, help="the task's config (JSON)")
    simulate.add_argument("--seed", type=int, required=True)
    simulate.add_argument("--device", default="auto")
    simulate.add_argument("--out", type=Path, required=True)

    train = commands.add_parser("train", help="train (or resume training) a score prior")
    train.add_argument("--prior", type=_json, required=True, help="the prior's config (JSON)")
    train.add_argument("--network", type=_json, required=True, help="its network (JSON)")
    train.add_argument("--volumes", type=Path, nargs="+", required=True)
    train.add_argument("--validation-volumes", type=Path, nargs="*", default=[])
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--loss-csv", type=Path, required=True)

    recon = commands.add_parser("reconstruct", help="reconstruct a volume with one method")
    recon.add_argument("--method-name", required=True)
    recon.add_argument("--method", type=_json, required=True, help="the method's config (JSON)")
    recon.add_argument("--sinogram", type=Path, required=True)
    recon.add_argument("--prior-checkpoint", type=Path)
    recon.add_argument("--prior", type=_json, help="the prior's config (JSON)")
    recon.add_argument("--network", type=_json, help="the prior's network (JSON)")
    recon.add_argument("--device", default="auto")
    recon.add_argument("--seed", type=int, required=True)
    recon.add_argument("--out", type=Path, required=True)

    evaluate = commands.add_parser("evaluate", help="PSNR/SSIM per plane of a reconstruction")
    evaluate.add_argument("--truth", type=Path, required=True)
    evaluate.add_argument("--recon", type=Path, required=True)
    evaluate.add_argument("--labels", type=_json, required=True, help="dataset/task/method/volume")
    evaluate.add_argument("--out", type=Path, required=True)

    tables = commands.add_parser("experiment-tables", help="an experiment's tables")
    tables.add_argument("--metrics", type=Path, nargs="+", required=True)
    tables.add_argument("--labels", type=_json, required=True, help="method -> label, in order")
    tables.add_argument("--out-dir", type=Path, required=True)

    combined = commands.add_parser("combined-tables", help="reported experiments in one table")
    combined.add_argument("--experiment-dirs", type=Path, nargs="+", required=True)
    combined.add_argument("--out-dir", type=Path, required=True)

    figure = commands.add_parser("figure", help="three-plane figure of one test volume")
    figure.add_argument("--truth", type=Path, required=True)
    figure.add_argument("--recon", nargs="+", required=True, metavar="METHOD=PATH")
    figure.add_argument("--title", required=True)
    figure.add_argument("--out", type=Path, required=True)

    runtime = commands.add_parser("runtime-figure", help="seconds and NFE per method")
    runtime.add_argument("--runtime-csv", type=Path, required=True)
    runtime.add_argument("--title", required=True)
    runtime.add_argument("--out", type=Path, required=True)

    sweep = commands.add_parser("sweep-figure", help="PSNR against a swept setting")
    sweep.add_argument("--summary-csv", type=Path, required=True)
    sweep.add_argument("--points", type=_json, required=True, help="the sweep's points (JSON)")
    sweep.add_argument("--key", required=True)
    sweep.add_argument("--title", required=True)
    sweep.add_argument("--out", type=Path, required=True)

    loss = commands.add_parser("loss-figure", help="a prior's training and validation loss")
    loss.add_argument("--loss-csv", type=Path, required=True)
    loss.add_argument("--title", required=True)
    loss.add_argument("--out", type=Path, required=True)

    report = commands.add_parser("report", help="the self-contained HTML report")
    report.add_argument("--experiment", nargs="+", required=True, metavar="DIR=TITLE")
    report.add_argument(
        "--training-curve",
        nargs=4,
        action="append",
        default=[],
        metavar=("DATASET", "PRIOR", "LOSS_CSV", "FIGURE"),
        help="a prior the experiments used (repeat for each)",
    )
    report.add_argument("--out", type=Path, required=True)

    describe = commands.add_parser("describe", help="print the metadata of a dblend file")
    describe.add_argument("path", type=Path)
    return parser


def _run(args: argparse.Namespace) -> None:
    if args.command == "phantom":
        jobs.make_phantom(args.size, args.slices, args.seed, args.out)
    elif args.command == "download":
        jobs.download(args.uid, args.root, args.images)
    elif args.command == "preprocess":
        jobs.preprocess(
            args.series_dir,
            args.local_dir,
            args.manifest,
            args.match,
            args.patient,
            args.settings,
            args.out,
        )
    elif args.command == "simulate":
        jobs.simulate_sinogram(args.volume, args.task, args.seed, args.device, args.out)
    elif args.command == "train":
        jobs.train(
            args.prior,
            args.network,
            args.volumes,
            args.validation_volumes,
            args.out,
            args.loss_csv,
            args.device,
            args.seed,
        )
    elif args.command == "reconstruct":
        jobs.reconstruct_volume(
            args.method_name,
            args.method,
            args.sinogram,
            args.prior_checkpoint,
            args.prior,
            args.network,
            args.device,
            args.seed,
            args.out,
        )
    elif args.command == "evaluate":
        jobs.evaluate(args.truth, args.recon, args.labels, args.out)
    elif args.command == "experiment-tables":
        jobs.experiment_tables(args.metrics, args.labels, args.out_dir)
    elif args.command == "combined-tables":
        jobs.combined_tables(args.experiment_dirs, args.out_dir)
    elif args.command == "figure":
        recons = {name: Path(path) for name, path in _pairs(args.recon, "--recon").items()}
        jobs.figure(args.truth, recons, args.title, args.out)
    elif args.command == "runtime-figure":
        jobs.runtime_plot(args.runtime_csv, args.title, args.out)
    elif args.command == "sweep-figure":
        jobs.sweep_plot(args.summary_csv, args.points, args.key, args.title, args.out)
    elif args.command == "loss-figure":
        jobs.loss_plot(args.loss_csv, args.title, args.out)
    elif args.command == "report":
        titles = {
            Path(path): text for path, text in _pairs(args.experiment, "--experiment").items()
        }
        curves = [
            TrainingCurve(prior, dataset, Path(loss_csv), Path(figure))
            for dataset, prior, loss_csv, figure in args.training_curve
        ]
        jobs.report(titles, curves, args.out)
    elif args.command == "describe":
        print(jobs.describe(args.path))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        _run(args)
    except DblendError as err:
        print(f"dblend {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
