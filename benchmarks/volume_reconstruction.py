"""Seconds per whole volume: DiffusionBlend++ and DDS at the paper's size, in fp32 and bf16.

Why: the paper's runtime table is per volume, and what a reproduction costs is GPU time per
reconstructed volume. This reconstructs one whole embedded thorax phantom (by default 504 x 256 x
256, the size of the AAPM test volume L067) from the task's views (default sv8) with priors of
the config's paper-size network, through the real sampler path (``dblend.recon.methods.
reconstruct``, as a reconstruct job calls it), once per method and sampling precision (the
methods' ``precision`` key).

The priors have random weights: a network's cost does not depend on its weights, so the
timings are those of trained priors, but the reconstructions are not images of anything and
their PSNR against the phantom says nothing about the methods. The PSNR difference between bf16
and fp32 of one method still is a numerical check: same sampler, seed, weights and data, only
the arithmetic of the network calls differs.

``--steps-scale`` runs a fraction of each method's configured steps (at least one); the seconds
per volume are then extrapolated to the configured steps from the measured seconds per step,
and marked so. ``--slices`` and ``--size`` shrink the volume, for a smoke test on a CPU. On
CUDA, "fp32" is torch's default arithmetic there: cuDNN may run convolutions in TF32 (the flags
are printed).

Timings only: nothing here asserts on them. Run ``python benchmarks/volume_reconstruction.py
--help``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

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
    require_methods,
    setup,
    simulated_task,
    table,
)

from dblend.config import method_for_task
from dblend.data.phantoms import thorax_phantom
from dblend.device import clock, peak_gpu_mib, peak_rss_mib, reset_peak_gpu
from dblend.errors import DblendError
from dblend.metrics import psnr
from dblend.physics.parallel import ParallelBeamOperator
from dblend.recon.kinds import needed_priors
from dblend.recon.methods import reconstruct

SCRIPT = "volume_reconstruction.py"
BLEND, BASELINE = "diffusionblend_pp_paper", "dds_paper"  # the papers' settings
PRECISIONS = ("fp32", "bf16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Seconds per whole volume, peak memory and the bf16 - fp32 PSNR difference "
        "of DiffusionBlend++ and DDS with paper-size priors (random weights).",
    )
    parser.add_argument("--size", type=int, default=256, help="slice size N (default: 256)")
    parser.add_argument(
        "--slices", type=int, default=504, help="slices Z (default: 504, AAPM's L067)"
    )
    parser.add_argument(
        "--task", default="sv8", help="a parallel-beam task of the config (default: sv8)"
    )
    parser.add_argument(
        "--network",
        default="paper",
        help="network size from the config's networks, for both priors (default: paper)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[BLEND, BASELINE],
        help=f"method entries of the config (default: {BLEND} {BASELINE})",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="sampling precisions to run (default: fp32 bf16)",
    )
    parser.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        help="run this fraction of each method's steps (at least one) and extrapolate the "
        "seconds per volume to all of them (default: 1, every step)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed sampling steps per method and precision first (default: 1)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="network batch size (default: each method's config)"
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom, noise and sampler seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def scaled_steps(steps: int, scale: float) -> int:
    """The steps run for a method configured with ``steps``: the fraction, at least one."""
    return max(1, round(steps * scale))


def run_method(
    name: str,
    method: dict[str, Any],
    sinogram: torch.Tensor,
    operator: ParallelBeamOperator,
    prior: torch.nn.Module,
    seed: int,
    device: torch.device,
) -> tuple[np.ndarray, dict[str, float | None]]:
    """One timed ``reconstruct`` call: the volume, its seconds, work and peak GPU memory."""
    reset_peak_gpu(device)
    started = clock(device)
    volume, stats = reconstruct(name, method, sinogram, operator, prior, seed, device)
    seconds = clock(device) - started
    return volume.cpu().numpy(), {
        "seconds": seconds,
        "nfe": stats.nfe,
        "inputs": stats.network_inputs,
        "peak_gpu_mib": peak_gpu_mib(device),
    }


def precision_lines(device: torch.device) -> list[str]:
    """What "fp32" means on this device: torch's TF32 flags on CUDA."""
    if device.type != "cuda":
        return ["fp32: plain float32; bf16: torch.autocast to bfloat16"]
    return [
        "fp32: torch's defaults on CUDA: cuDNN convolutions TF32 "
        f"{torch.backends.cudnn.allow_tf32}, matmuls TF32 {torch.backends.cuda.matmul.allow_tf32}"
        "; bf16: torch.autocast to bfloat16"
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    for option in ("size", "slices"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option} must be at least 1")
    if args.warmup < 0:
        fail(SCRIPT, "--warmup must be at least 0")
    if not 0 < args.steps_scale <= 1:
        fail(SCRIPT, f"--steps-scale must be in (0, 1], got {args.steps_scale}")
    task = parallel_task(SCRIPT, config, args.task)
    if args.network not in config["networks"]:
        fail(SCRIPT, f"--network {args.network!r} is not one of {', '.join(config['networks'])}")
    require_methods(SCRIPT, config, args.methods)
    started = time.perf_counter()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    volumes: dict[tuple[str, str], np.ndarray] = {}
    methods, parameters = {}, {}
    try:
        truth = thorax_phantom(args.size, args.slices, args.seed)
        operator, sinogram = simulated_task(
            task, torch.from_numpy(truth).to(device), args.seed, device
        )
        for name in args.methods:
            method = method_for_task(config, name, args.task)
            if needed_priors(method) != ["prior"]:
                fail(SCRIPT, f"--methods {name}: {method['kind']} does not sample with one prior")
            if args.batch_size is not None:
                method["batch_size"] = args.batch_size
            methods[name] = method
            prior = build_prior(config, method, args.network, args.size, device)
            parameters[name] = count_parameters(prior)
            steps = scaled_steps(method["steps"], args.steps_scale)
            for precision in args.precisions:
                settings = {**method, "precision": precision}
                if args.warmup:
                    warm = {**settings, "steps": args.warmup}
                    reconstruct(name, warm, sinogram, operator, prior, args.seed, device)
                timed = {**settings, "steps": steps}
                volume, result = run_method(
                    name, timed, sinogram, operator, prior, args.seed, device
                )
                result["steps"] = steps
                result["psnr"] = psnr(truth, np.clip(volume, 0.0, 1.0))
                results[name, precision] = result
                volumes[name, precision] = volume
            del prior
            if device.type == "cuda":
                torch.cuda.empty_cache()
    except DblendError as err:
        fail(SCRIPT, str(err))

    def per_volume(name: str, precision: str) -> float:
        result = results[name, precision]
        return result["seconds"] / result["steps"] * methods[name]["steps"]

    print("\n".join(machine_lines(device, args.threads)))
    print(
        f"volume: embedded thorax phantom seed {args.seed}, {args.slices} x {args.size} x "
        f"{args.size}; task {args.task} ({task['kind']}, {operator.geometry.n_views} views); "
        f"priors of network {args.network!r} with random weights (timings only; PSNR against the "
        "phantom means nothing for the methods)"
    )
    print("\n".join(precision_lines(device)))
    print()
    scaled = any(results[key]["steps"] < methods[key[0]]["steps"] for key in results)
    print(
        f"Whole-volume reconstructions after {args.warmup} untimed step(s) each"
        + (
            f"; {args.steps_scale:g} of each method's steps run, seconds per volume "
            "extrapolated (*) to all of them from the seconds per step"
            if scaled
            else ""
        )
    )
    header = [
        "method", "precision", "params", "steps run", "s", "s/step", "s/volume", "config steps",
        "network inputs", "peak GPU MiB", "PSNR dB",
    ]  # fmt: skip
    rows = []
    for (name, precision), r in results.items():
        config_steps = methods[name]["steps"]
        mark = "*" if r["steps"] < config_steps else ""
        rows.append(
            [
                config["methods"][name].get("label", name),
                precision,
                f"{parameters[name] / 1e6:.1f}M",
                str(r["steps"]),
                f"{r['seconds']:.2f}",
                f"{r['seconds'] / r['steps']:.4f}",
                f"{per_volume(name, precision):.1f}{mark}",
                str(config_steps),
                str(r["inputs"]),
                megabytes(r["peak_gpu_mib"]),
                f"{r['psnr']:.2f}",
            ]
        )
    print(table(header, rows))
    print()
    print("Ratios and differences (this run):")
    for name in args.methods:
        if all((name, p) in results for p in PRECISIONS):
            label = config["methods"][name].get("label", name)
            gap = results[name, "bf16"]["psnr"] - results[name, "fp32"]["psnr"]
            change = np.abs(volumes[name, "bf16"] - volumes[name, "fp32"]).max()
            speedup = per_volume(name, "fp32") / per_volume(name, "bf16")
            print(
                f"  {label}: PSNR bf16 - fp32 {gap:+.3f} dB, max |bf16 - fp32| {change:.2e}, "
                f"fp32 / bf16 seconds {speedup:.2f}"
            )
    if BLEND in args.methods and BASELINE in args.methods:
        for precision in args.precisions:
            ratio = per_volume(BASELINE, precision) / per_volume(BLEND, precision)
            print(f"  DDS / DB++ seconds per volume, {precision}: {ratio:.3f}")
    print(
        f"peak RSS {peak_rss_mib():.0f} MiB (whole process); "
        f"wall {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
