"""Seconds per sampling step: DiffusionBlend++ against DDS, and the operator against ASTRA.

Why: a DiffusionBlend++ step sends 3-slice patches through the network, a third as many inputs
as DDS's single slices for the same volume, while both pay the same data-consistency step; the
goal stated for this project is DB++ at no more than half of DDS's time per step with priors of
the same network size. This script measures both in one run on the same volume and sinogram,
through the real sampler path (``dblend.recon.methods.reconstruct``, as a reconstruct job calls
it) with untrained priors (the weights do not change the cost), and splits each step into
network, data consistency and the rest, so a missed goal shows where the time went.

The data-consistency step spends its time in the torch-applied ASTRA system matrix
(``ParallelBeamOperator``); a second table times its forward + adjoint on the same slices against
ASTRA's own CPU forward projection and backprojection with the same projector and geometry, and
checks the two agree. ASTRA is called as its Python API offers it, one slice per call, so its
time includes the per-call creation of data objects and algorithms; that is the cost a
slice-by-slice ASTRA loop would pay inside every conjugate-gradient iteration.

"Seconds per step" is one ``reconstruct`` call's wall time over its steps, so it also carries the
call's one-off setup (one adjoint for the data term), a small share of the "rest" column.

Timings only: nothing here asserts on them. Run ``python benchmarks/sampling_speed.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import astra
import numpy as np
import torch
from _common import (
    add_common_arguments,
    build_prior,
    count_parameters,
    fail,
    machine_lines,
    megabytes,
    parallel_task,
    setup,
    simulated_task,
    table,
)

from dblend.config import method_for_task
from dblend.data.phantoms import thorax_phantom
from dblend.device import clock, peak_gpu_mib, peak_rss_mib, reset_peak_gpu
from dblend.errors import DblendError
from dblend.models.prior import ScorePrior
from dblend.physics.geometry import ParallelGeometry
from dblend.physics.parallel import ParallelBeamOperator, astra_geometries
from dblend.recon.consistency import AdmmTvZ
from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.methods import reconstruct

SCRIPT = "sampling_speed.py"
BLEND, BASELINE = "diffusionblend_pp_paper", "dds_paper"  # config method names compared
PARTS = ("network", "consistency")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Seconds per sampling step of DiffusionBlend++ and DDS (same prior size) "
        "on one phantom volume, and the torch-applied operator against ASTRA's CPU projector.",
    )
    parser.add_argument("--size", type=int, default=64, help="slice size N (default: 64)")
    parser.add_argument("--slices", type=int, default=36, help="slices Z (default: 36)")
    parser.add_argument(
        "--task", default="sv8", help="a parallel-beam task of the config (default: sv8)"
    )
    parser.add_argument("--views", type=int, help="override the views of a sparse_view task")
    parser.add_argument(
        "--network",
        help="network size from the config's networks, used by both priors "
        f"(default: the network of {BLEND}'s prior in the config)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=4,
        help="timed sampling steps per method and repeat; even, so DB++'s adjacent and jump "
        "steps are timed equally often (default: 4)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed sampling steps first (default: 1)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs per method, alternating methods; the median is printed (default: 3)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="network batch size (default: each method's config)"
    )
    parser.add_argument(
        "--operator-repeats",
        type=int,
        default=10,
        help="timed forward + adjoint passes of each projector; median printed (default: 10)",
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom and sampler seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


class StepClock:
    """Accumulates the seconds spent in the sampler's network and data-consistency calls.

    It wraps ``VolumeDenoiser.epsilon`` and ``AdmmTvZ.__call__`` (the two calls of every step)
    while active, synchronising CUDA around each so the time lands in the right part.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = dict.fromkeys(PARTS, 0.0)

    def _timed(self, part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(call)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = clock(self.device)
            try:
                return call(*args, **kwargs)
            finally:
                self.seconds[part] += clock(self.device) - started

        return wrapper

    @contextlib.contextmanager
    def active(self) -> Iterator[StepClock]:
        patches = {"network": (VolumeDenoiser, "epsilon"), "consistency": (AdmmTvZ, "__call__")}
        originals = {part: getattr(cls, name) for part, (cls, name) in patches.items()}
        try:
            for part, (cls, name) in patches.items():
                setattr(cls, name, self._timed(part, originals[part]))
            yield self
        finally:
            for part, (cls, name) in patches.items():
                setattr(cls, name, originals[part])


def time_method(
    name: str,
    method: dict[str, Any],
    steps: int,
    sinogram: torch.Tensor,
    operator: ParallelBeamOperator,
    prior: ScorePrior,
    seed: int,
    device: torch.device,
) -> dict[str, float]:
    """One ``reconstruct`` call of ``steps`` steps: seconds per step, split into parts."""
    step_clock = StepClock(device)
    with step_clock.active():
        started = clock(device)
        _, stats = reconstruct(
            name, {**method, "steps": steps}, sinogram, operator, prior, seed, device
        )
        total = clock(device) - started
    per_step = {part: seconds / steps for part, seconds in step_clock.seconds.items()}
    return {
        "total": total / steps,
        **per_step,
        "rest": total / steps - sum(per_step.values()),
        "inputs": stats.network_inputs / steps,
    }


def sampling_table(
    config: dict[str, Any],
    args: argparse.Namespace,
    operator: ParallelBeamOperator,
    sinogram: torch.Tensor,
    device: torch.device,
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """Lines of the sampling table and the median per-step measurements of each method."""
    network = args.network or config["priors"][config["methods"][BLEND]["prior"]]["network"]
    if network not in config["networks"]:
        fail(SCRIPT, f"--network {network!r} is not one of {', '.join(config['networks'])}")
    methods, priors = {}, {}
    for name in (BLEND, BASELINE):
        methods[name] = method_for_task(config, name, args.task)
        if args.batch_size is not None:
            methods[name]["batch_size"] = args.batch_size
        priors[name] = build_prior(config, methods[name], network, args.size, device)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in methods}
    peak_gpu: dict[str, float] = {}
    fixed = {name: (operator, priors[name], args.seed) for name in methods}
    for name, method in methods.items():
        if args.warmup:
            time_method(name, method, args.warmup, sinogram, *fixed[name], device)
    for repeat in range(args.repeats):
        order = list(methods) if repeat % 2 == 0 else list(reversed(methods))
        for name in order:
            reset_peak_gpu(device)
            runs[name].append(
                time_method(name, methods[name], args.steps, sinogram, *fixed[name], device)
            )
            peak = peak_gpu_mib(device)
            if peak is not None:
                peak_gpu[name] = max(peak_gpu.get(name) or 0.0, peak)
    median = {
        name: {key: statistics.median(r[key] for r in results) for key in results[0]}
        for name, results in runs.items()
    }
    header = [
        "method", "prior", "params", "inputs/step", "s/step", "network", "consistency",
        "rest", "peak GPU MiB",
    ]  # fmt: skip
    rows = [
        [
            config["methods"][name].get("label", name),
            f"{priors[name].spec.slices}-slice {network}",
            f"{count_parameters(priors[name]) / 1e6:.2f}M",
            f"{m['inputs']:.1f}",
            f"{m['total']:.4f}",
            f"{m['network']:.4f}",
            f"{m['consistency']:.4f}",
            f"{m['rest']:.4f}",
            megabytes(peak_gpu.get(name)),
        ]
        for name, m in median.items()
    ]
    lines = [
        f"Sampling: {args.steps} timed steps per method after {args.warmup} warm-up, "
        f"median of {args.repeats} run(s); seconds per step (network / data consistency / rest "
        "split by wrapping the sampler's calls)",
        table(header, rows),
    ]
    return lines, median


def astra_forward_adjoint(volume: np.ndarray, projector: int) -> tuple[np.ndarray, np.ndarray]:
    """ASTRA's CPU forward projection and backprojection of every slice, one slice at a time."""
    sinograms, backprojections = [], []
    for image in volume:
        sino_id, sinogram = astra.create_sino(image, projector)
        astra.data2d.delete(sino_id)
        back_id, back = astra.create_backprojection(sinogram, projector)
        astra.data2d.delete(back_id)
        sinograms.append(sinogram)
        backprojections.append(back)
    return np.stack(sinograms), np.stack(backprojections)


def operator_table(
    geometry: ParallelGeometry,
    operator: ParallelBeamOperator,
    volume: torch.Tensor,
    repeats: int,
    device: torch.device,
) -> tuple[list[str], float]:
    """Lines of the operator table and the ratio torch / ASTRA of their median times."""
    array = volume.cpu().numpy().astype(np.float32)
    vol_geom, proj_geom = astra_geometries(geometry)
    projector = astra.create_projector(geometry.projector, proj_geom, vol_geom)
    try:

        def run_torch() -> tuple[torch.Tensor, torch.Tensor]:
            sinogram = operator.forward(volume)
            return sinogram, operator.adjoint(sinogram)

        def run_astra() -> tuple[np.ndarray, np.ndarray]:
            return astra_forward_adjoint(array, projector)

        seconds: dict[str, list[float]] = {"torch": [], "astra": []}
        results: dict[str, tuple[Any, Any]] = {}
        calls: dict[str, Callable[[], tuple[Any, Any]]] = {"torch": run_torch, "astra": run_astra}
        for name, call in calls.items():
            results[name] = call()  # warm-up, kept for the agreement check
        for _ in range(repeats):
            for name, call in calls.items():
                started = clock(device)
                call()
                seconds[name].append(clock(device) - started)
    finally:
        astra.projector.delete(projector)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    agreement = []
    for index, label in enumerate(("forward", "adjoint")):
        ours = results["torch"][index].cpu().numpy()
        theirs = results["astra"][index]
        agreement.append(
            f"{label} {np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30):.1e}"
        )
    slices = volume.shape[0]
    rows = [
        [
            f"torch sparse matrix ({device.type})",
            f"{medians['torch']:.5f}",
            f"{medians['torch'] / slices * 1e3:.3f}",
        ],
        [
            f"ASTRA CPU '{geometry.projector}' create_sino + create_backprojection",
            f"{medians['astra']:.5f}",
            f"{medians['astra'] / slices * 1e3:.3f}",
        ],
    ]
    lines = [
        f"Operator: forward + adjoint of all {slices} slices ({geometry.n_views} views x "
        f"{geometry.detector_bins} bins), median of {repeats}",
        table(["implementation", "s/volume", "ms/slice"], rows),
        "max |torch - ASTRA| / max |ASTRA|: " + ", ".join(agreement),
    ]
    return lines, medians["torch"] / medians["astra"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    for option in ("size", "slices", "steps", "repeats", "operator_repeats"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        fail(SCRIPT, "--warmup must be at least 0")
    task = parallel_task(SCRIPT, config, args.task)
    if args.views is not None:
        if task["kind"] != "sparse_view":
            fail(SCRIPT, f"--views needs a sparse_view task; {args.task} is {task['kind']}")
        task["views"] = args.views
    started = time.perf_counter()
    try:
        volume = torch.from_numpy(thorax_phantom(args.size, args.slices, args.seed)).to(device)
        operator, sinogram = simulated_task(task, volume, args.seed, device)
        geometry = operator.geometry
        sampling_lines, median = sampling_table(config, args, operator, sinogram, device)
        operator_lines, operator_ratio = operator_table(
            geometry, operator, volume, args.operator_repeats, device
        )
    except DblendError as err:
        fail(SCRIPT, str(err))
    sampling_ratio = median[BLEND]["total"] / median[BASELINE]["total"]
    print("\n".join(machine_lines(device, args.threads)))
    print(
        f"volume: embedded thorax phantom seed {args.seed}, {args.slices} x {args.size} x "
        f"{args.size}; task {args.task} ({task['kind']}, {geometry.n_views} views)"
    )
    print()
    print("\n".join(sampling_lines))
    print()
    print("\n".join(operator_lines))
    print()
    print("Ratios (this run):")
    print(f"  DB++ / DDS seconds per sampling step: {sampling_ratio:.3f} (goal: <= 0.5)")
    print(
        "  DB++ / DDS network seconds per step:  "
        f"{median[BLEND]['network'] / median[BASELINE]['network']:.3f}"
    )
    print(f"  torch operator / ASTRA CPU (forward + adjoint): {operator_ratio:.3f}")
    print(
        f"peak RSS {peak_rss_mib():.0f} MiB (whole process); "
        f"wall {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
