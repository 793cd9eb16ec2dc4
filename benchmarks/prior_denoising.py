"""How well each trained prior denoises a slice, by noise level: the quality behind the PSNRs.

Why: every sampler in dblend projects the Tweedie estimate x0(x_t) = (x_t - sqrt(1 - abar) eps) /
sqrt(abar) onto the data, so a prior is only as useful as that estimate. This script noises
held-out volumes at chosen timesteps and measures the mean squared error of x0 on the same slices
for every prior named: a 1-slice prior sees the slice alone, a k-slice prior sees it as the centre
of a patch (once per spacing it was trained on), all with the same noise. A patch prior that
beats the slice prior at low noise but not at high noise, for instance, tells where its training
falls short before any reconstruction is run.

Errors are in the [0, 1] intensity units of the volumes (the network's [-1, 1] error / 4), over
the slices every named patch fits around. Measurements only: nothing here asserts on them. Run
``python benchmarks/prior_denoising.py --help``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from _common import add_common_arguments, fail, load_priors, machine_lines, setup, table

from dblend.errors import DblendError
from dblend.io import read_array
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule

SCRIPT = "prior_denoising.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Mean squared error of each prior's x0 estimate of a slice, by timestep, on "
        "held-out volumes (dblend HDF5 files, e.g. results/data/<dataset>/<volume>.h5).",
    )
    parser.add_argument(
        "--prior",
        action="append",
        required=True,
        metavar="NAME=CHECKPOINT",
        help="a prior of the config and its checkpoint (repeat; the first is the reference)",
    )
    parser.add_argument(
        "--volume", action="append", required=True, type=Path, help="a volume (repeat)"
    )
    parser.add_argument(
        "--timesteps",
        default="20,100,300,600,900",
        help="comma-separated timesteps of the T = 1000 schedule (default: 20,100,300,600,900)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="patches per network call (default: 16)"
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def centre_windows(spec: PriorSpec, spacing: int, slices: torch.Tensor) -> torch.Tensor:
    """Indices [len(slices), k] of the k-slice patches (given spacing) centred on each slice."""
    offsets = (torch.arange(spec.slices) - spec.slices // 2) * spacing
    return slices.view(-1, 1) + offsets.view(1, -1)


def x0_errors(
    prior: ScorePrior,
    spacing: int,
    noisy: torch.Tensor,
    clean: torch.Tensor,
    slices: torch.Tensor,
    abar: float,
    t: int,
    batch_size: int,
) -> torch.Tensor:
    """Squared error of the x0 estimate of each listed slice (network units), summed per slice."""
    windows = centre_windows(prior.spec, spacing, slices)
    errors = []
    for chunk in windows.split(batch_size):
        inputs = noisy[chunk]
        with torch.no_grad():
            eps = prior(
                inputs,
                torch.full((len(chunk),), t, device=noisy.device),
                torch.full((len(chunk),), spacing, device=noisy.device),
            )[:, prior.spec.slices // 2]
        centre = chunk[:, prior.spec.slices // 2]
        x0 = (noisy[centre] - math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)
        errors.append(((x0 - clean[centre]) ** 2).flatten(1).mean(1))
    return torch.cat(errors)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    try:
        timesteps = [int(t) for t in args.timesteps.split(",")]
        volumes = [torch.from_numpy(read_array(path)[0]).float() for path in args.volume]
        priors = load_priors(config, args.prior, volumes[0].shape[-1], device)
    except (DblendError, ValueError, OSError) as err:
        fail(SCRIPT, str(err))
    schedule = VPSchedule.linear()
    rows = [(name, s) for name, prior in priors.items() for s in prior.spec.spacings]
    reach = max((p.spec.slices // 2) * max(p.spec.spacings) for p in priors.values())
    sums = {row: [0.0] * len(timesteps) for row in rows}
    count = 0
    for index, volume in enumerate(volumes):
        slices = torch.arange(reach, volume.shape[0] - reach)
        if len(slices) == 0:
            fail(SCRIPT, f"{args.volume[index]}: {volume.shape[0]} slices leave none to measure")
        clean = (volume * 2.0 - 1.0).to(device)
        count += len(slices)
        for column, t in enumerate(timesteps):
            abar = schedule.alpha_bar(t)
            noise = torch.randn(
                clean.shape, generator=torch.Generator().manual_seed(args.seed + 1000 * index + t)
            ).to(device)
            noisy = math.sqrt(abar) * clean + math.sqrt(1.0 - abar) * noise
            for name, spacing in rows:
                errors = x0_errors(
                    priors[name], spacing, noisy, clean, slices, abar, t, args.batch_size
                )
                sums[(name, spacing)][column] += float(errors.sum()) / 4.0
    means = {row: [value / count for value in values] for row, values in sums.items()}
    print("\n".join(machine_lines(device, args.threads)))
    print(f"{len(volumes)} volume(s), {count} slices; MSE of x0 in [0, 1] units\n")
    header = ["prior", "spacing", *(f"t={t}" for t in timesteps)]
    print(table(header, [[n, str(s), *(f"{v:.3g}" for v in means[(n, s)])] for n, s in rows]))
    reference = means[rows[0]]
    print(f"\nratio to {rows[0][0]} (spacing {rows[0][1]}); below 1 is better:")
    ratios = [
        [n, str(s), *(f"{v / r:.2f}" for v, r in zip(means[(n, s)], reference, strict=True))]
        for n, s in rows[1:]
    ]
    print(table(header, ratios))


if __name__ == "__main__":
    main()
