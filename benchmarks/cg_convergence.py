"""A method's PSNR against its number of CG iterations per data step, with a trained prior.

Why: DDS and DiffusionMBIR solve their ADMM-TV-z data step with a few conjugate-gradient
iterations (DDS 5, DiffusionMBIR 1) and trust them to be enough. The paper's weights, converted
to this project's units (``weights: paper``, ``dblend.recon.units``), give a rho that grows as
the image shrinks (c^2 ~ pi N / 2): DDS's rho 10 is 0.026 at 256 x 256 but 0.103 at the demo's
64 x 64. Whether a method's poor score there comes from its weights or from too few iterations
for them is a question this answers: it reconstructs a slab of a held-out volume with each named
method at each ``--cg-iters`` (everything else as configured: sampler, seed, steps), through the
real sampler path (``dblend.recon.methods.reconstruct``, as a reconstruct job calls it).

Printed per row: PSNR of the slab (clipped to [0, 1], whole slab, data range 1), its value range
before clipping (an estimate far outside [0, 1] has not converged) and seconds; then each
method's PSNR gain over its configured ``cg_iters``. Measurements only: nothing here asserts on
them. Run ``python benchmarks/cg_convergence.py --help``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    add_common_arguments,
    fail,
    load_priors,
    machine_lines,
    parallel_task,
    require_methods,
    setup,
    simulated_task,
    table,
)

from dblend.config import method_for_task
from dblend.errors import DblendError
from dblend.io import read_array
from dblend.metrics import psnr
from dblend.recon.kinds import needed_priors
from dblend.recon.methods import reconstruct

SCRIPT = "cg_convergence.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="PSNR of methods with an ADMM-TV-z data step against their CG iterations per "
        "step, on a slab of a held-out volume (a dblend HDF5 file, e.g. "
        "results/data/demo/phantom009.h5), with a trained prior.",
    )
    parser.add_argument(
        "--prior",
        required=True,
        metavar="NAME=CHECKPOINT",
        help="the methods' prior and its checkpoint, e.g. slice=results/priors/demo/slice.pt",
    )
    parser.add_argument("--volume", required=True, type=Path, help="the held-out volume")
    parser.add_argument(
        "--first", type=int, default=16, help="first slice of the slab (default: 16)"
    )
    parser.add_argument("--slices", type=int, default=8, help="slices of the slab (default: 8)")
    parser.add_argument(
        "--task", default="sv8", help="a parallel-beam task of the config (default: sv8)"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["dds_paper", "dds"],
        help="method entries of the config that use the prior (default: dds_paper dds)",
    )
    parser.add_argument(
        "--cg-iters",
        type=int,
        nargs="+",
        default=[5, 10, 20],
        help="CG iterations per data step to run (default: 5 10 20)",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise and sampler seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def slab(path: Path, first: int, count: int) -> np.ndarray:
    """Slices first .. first + count of the volume at ``path``, refused if it has fewer."""
    volume = read_array(path)[0]
    if first < 0 or count < 2 or first + count > volume.shape[0]:
        raise DblendError(
            f"{path}: slices {first} to {first + count - 1} asked for, but it has "
            f"{volume.shape[0]} (and a slab needs at least 2)"
        )
    return np.ascontiguousarray(volume[first : first + count], dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    if min(args.cg_iters) < 1:
        fail(SCRIPT, "--cg-iters must be at least 1")
    task = parallel_task(SCRIPT, config, args.task)
    require_methods(SCRIPT, config, args.methods)
    prior_name = args.prior.partition("=")[0]
    started = time.perf_counter()
    rows, gains = [], []
    try:
        truth = slab(args.volume, args.first, args.slices)
        prior = load_priors(config, [args.prior], truth.shape[-1], device)[prior_name]
        operator, sinogram = simulated_task(
            task, torch.from_numpy(truth).to(device), args.seed, device
        )
        for name in args.methods:
            method = method_for_task(config, name, args.task)
            if needed_priors(method) != ["prior"] or method["prior"] != prior_name:
                fail(SCRIPT, f"--methods {name}: does not sample with the prior {prior_name!r}")
            if "cg_iters" not in method:
                fail(SCRIPT, f"--methods {name}: {method['kind']} has no CG data step")
            label = config["methods"][name].get("label", name)
            scores = {}
            for iters in sorted({method["cg_iters"], *args.cg_iters}):
                clock = time.perf_counter()
                settings = {**method, "cg_iters": iters}
                volume, _ = reconstruct(
                    name, settings, sinogram, operator, prior, args.seed, device
                )
                estimate = volume.cpu().numpy()
                scores[iters] = psnr(truth, np.clip(estimate, 0.0, 1.0))
                mark = " (configured)" if iters == method["cg_iters"] else ""
                rows.append(
                    [
                        label,
                        f"{iters}{mark}",
                        f"{scores[iters]:.2f}",
                        f"{estimate.min():.2f}",
                        f"{estimate.max():.2f}",
                        f"{time.perf_counter() - clock:.1f}",
                    ]
                )
            base = scores[method["cg_iters"]]
            gains += [f"  {label}: {i} CG {s - base:+.2f} dB" for i, s in scores.items()]
    except DblendError as err:
        fail(SCRIPT, str(err))
    print("\n".join(machine_lines(device, args.threads)))
    print(
        f"volume: {args.volume}, slices {args.first} to {args.first + args.slices - 1}; task "
        f"{args.task} ({task['kind']}); prior {args.prior}; seed {args.seed}"
    )
    print()
    print(table(["method", "CG iters", "PSNR dB", "min", "max", "s"], rows))
    print()
    print("PSNR against each method's configured cg_iters (this run):")
    print("\n".join(gains))
    print(f"wall {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
