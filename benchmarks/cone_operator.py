"""Cone beam on the GPU: the operator on torch tensors against ASTRA's host-array calls, and FDK.

Why: ``ConeBeamOperator`` gives ASTRA the memory of torch CUDA tensors through DLPack, so the
data-consistency iterations of every sampling step never move a volume through the host. This
script times its forward + adjoint on one geometry against ASTRA's own convenience calls
(``create_sino3d_gpu`` and ``create_backprojection3d_gpu``), which take and return NumPy arrays
and so upload and download the data on every call, and checks the two give the same numbers.
It also measures how far ASTRA's voxel-driven backprojector is from the exact adjoint of its
forward projector (<Ax, y> against <x, A^T y>; CG tolerates a small mismatch), and FDK's time and
error on the phantom. The geometry is the cone_beam task's, in voxel widths.

Needs CUDA (ASTRA's 3D code kills a process without it); refuses plainly otherwise. Timings only:
nothing here asserts on them. Run ``python benchmarks/cone_operator.py --help``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import astra
import numpy as np
import torch
from _common import (
    add_common_arguments,
    fail,
    machine_lines,
    megabytes,
    setup,
    table,
)

from dblend.data.phantoms import thorax_phantom
from dblend.device import clock, peak_gpu_mib, peak_rss_mib, reset_peak_gpu
from dblend.errors import DblendError
from dblend.metrics import psnr
from dblend.physics.base import adjointness_test
from dblend.physics.cone import ConeBeamOperator, astra_geometries, require_cuda
from dblend.physics.geometry import ConeGeometry, cone_geometry

SCRIPT = "cone_operator.py"
T = TypeVar("T")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Cone-beam forward + adjoint on torch CUDA tensors (DLPack) against ASTRA's "
        "NumPy-array GPU calls on the same geometry, adjoint mismatch, and FDK on a phantom.",
    )
    parser.add_argument("--size", type=int, default=256, help="slice size N (default: 256)")
    parser.add_argument("--slices", type=int, default=256, help="slices Z (default: 256)")
    parser.add_argument(
        "--views", type=int, default=64, help="views over 360 degrees (default: 64)"
    )
    parser.add_argument(
        "--source-origin",
        type=float,
        help="source to rotation axis, in voxel widths (default: 4 x size, as config/cone_beam)",
    )
    parser.add_argument(
        "--origin-detector",
        type=float,
        help="rotation axis to detector, in voxel widths (default: 2 x size, as config/cone_beam)",
    )
    parser.add_argument(
        "--repeats", type=int, default=10, help="timed passes of each; median printed (default: 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def geometry_of(args: argparse.Namespace) -> ConeGeometry:
    task = {
        "kind": "cone_beam",
        "views": args.views,
        "arc": 360,
        "source_origin": args.source_origin or 4.0 * args.size,
        "origin_detector": args.origin_detector or 2.0 * args.size,
        "voxel_height": 1.0,
    }
    return cone_geometry(task, args.slices, args.size)


def timed(call: Callable[[], T], repeats: int, device: torch.device) -> tuple[T, float]:
    """The warm-up call's result (plans, kernels and allocator pools set up) and the median
    seconds of ``repeats`` further calls."""
    result = call()
    seconds = []
    for _ in range(repeats):
        started = clock(device)
        call()
        seconds.append(clock(device) - started)
    return result, statistics.median(seconds)


def host_forward_adjoint(
    volume: np.ndarray, geometries: tuple[dict, dict]
) -> tuple[np.ndarray, np.ndarray]:
    """ASTRA's GPU forward projection and backprojection from and to NumPy arrays."""
    vol_geom, proj_geom = geometries
    sino_id, projections = astra.create_sino3d_gpu(volume, proj_geom, vol_geom)
    astra.data3d.delete(sino_id)
    back_id, back = astra.create_backprojection3d_gpu(projections, proj_geom, vol_geom)
    astra.data3d.delete(back_id)
    return projections, back


def relative_difference(ours: torch.Tensor, theirs: np.ndarray) -> float:
    theirs_t = torch.from_numpy(theirs).to(ours.device)
    return float((ours - theirs_t).abs().max() / theirs_t.abs().max().clamp_min(1e-30))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _, device = setup(SCRIPT, args)
    for option in ("size", "slices", "views", "repeats"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option} must be at least 1")
    started = time.perf_counter()
    try:
        require_cuda(device)
        geometry = geometry_of(args)
        operator = ConeBeamOperator(geometry, device)
    except DblendError as err:
        fail(SCRIPT, str(err))
    phantom = thorax_phantom(args.size, args.slices, args.seed)
    volume = torch.from_numpy(phantom).to(device)
    geometries = astra_geometries(geometry)

    reset_peak_gpu(device)

    def dlpack_forward_adjoint() -> tuple[torch.Tensor, torch.Tensor]:
        projections = operator.forward(volume)
        return projections, operator.adjoint(projections)

    ours, dlpack_seconds = timed(dlpack_forward_adjoint, args.repeats, device)
    theirs, host_seconds = timed(
        lambda: host_forward_adjoint(phantom, geometries), args.repeats, device
    )
    fdk, fdk_seconds = timed(lambda: operator.fbp(ours[0]), args.repeats, device)
    fdk_psnr = psnr(phantom, fdk.clamp(0, 1).cpu().numpy())
    mismatch = adjointness_test(operator, operator.image_shape, operator.data_shape, args.seed)
    norm_started = clock(device)
    norm = operator.norm
    norm_seconds = clock(device) - norm_started

    rows = [
        ["torch CUDA tensors via DLPack (ConeBeamOperator)", f"{dlpack_seconds:.4f}"],
        ["ASTRA NumPy arrays (create_sino3d_gpu + create_backprojection3d_gpu)",
         f"{host_seconds:.4f}"],
    ]  # fmt: skip
    print("\n".join(machine_lines(device, args.threads)))
    print(
        f"volume: embedded thorax phantom seed {args.seed}, {args.slices} x {args.size} x "
        f"{args.size}; cone beam, {geometry.n_views} views over 360 degrees, source "
        f"{geometry.source_origin:g} and detector {geometry.origin_detector:g} voxel widths from "
        f"the axis, detector {geometry.detector_rows} x {geometry.detector_cols}"
    )
    print()
    print(f"Forward + adjoint, median of {args.repeats}")
    print(table(["implementation", "s/volume"], rows))
    print(
        "max |DLPack - NumPy| / max |NumPy|: "
        f"forward {relative_difference(ours[0], theirs[0]):.1e}, "
        f"adjoint {relative_difference(ours[1], theirs[1]):.1e}"
    )
    print(f"adjoint mismatch |<Ax, y> - <x, A^T y>| / |<Ax, y>|: {mismatch:.2e}")
    print(f"||A||_2 by 30 power iterations: {norm:.1f} ({norm_seconds:.2f} s)")
    print(
        f"FDK: {fdk_seconds:.4f} s/volume, PSNR {fdk_psnr:.2f} dB "
        f"against the phantom ({geometry.n_views} noise-free views)"
    )
    print()
    print("Ratios (this run):")
    print(f"  DLPack / NumPy arrays (forward + adjoint): {dlpack_seconds / host_seconds:.3f}")
    print(
        f"peak GPU {megabytes(peak_gpu_mib(device))} MiB (torch allocations); peak RSS "
        f"{peak_rss_mib():.0f} MiB; wall {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
