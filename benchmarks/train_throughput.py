"""Training throughput (patches per second) and peak memory for each network size of the config.

Why: the network sizes in config (tiny for tests, small for the CPU demo, paper for GPUs) are
chosen by what a training budget allows; this measures what one optimisation step of each costs
with the real training step (``dblend.train.train_step`` on a ``TrainingRun`` fed by a
``PatchSampler``: forward, MSE, backward, clipping, AdamW, learning-rate schedule, EMA; bf16
autocast on CUDA as training does), after a few untimed warm-up steps.

Each size runs with gradient checkpointing off and on (``training.gradient_checkpointing``:
activations recomputed in the backward pass instead of kept), and the ratios of memory and
speed on/off are printed. Each measurement runs in its own spawned process, because a
process's peak resident memory (``ru_maxrss``) only ever grows: the peak printed is its own.
On CPU the paper size is skipped unless asked for by name: one step takes minutes there.

Timings only: nothing here asserts on them. Run ``python benchmarks/train_throughput.py --help``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from typing import Any

import torch
from _common import (
    add_common_arguments,
    count_parameters,
    fail,
    machine_lines,
    megabytes,
    setup,
    table,
)

from dblend.data.phantoms import thorax_phantom
from dblend.device import clock, peak_gpu_mib, peak_rss_mib, reset_peak_gpu
from dblend.errors import DblendError
from dblend.models.prior import PriorSpec
from dblend.models.schedule import VPSchedule
from dblend.patches import PatchSampler
from dblend.train import TrainingRun, train_step

SCRIPT = "train_throughput.py"
CPU_SKIPPED = ("paper",)  # run on CPU only when named in --networks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Training patches per second, seconds per step, peak memory and parameter "
        "count for each network size of the config, with the real training step.",
    )
    parser.add_argument(
        "--networks",
        nargs="+",
        help="network sizes from the config's networks (default: all of them; on CPU all but "
        f"{', '.join(CPU_SKIPPED)}, which is far too slow there)",
    )
    parser.add_argument(
        "--prior",
        default="patch",
        help="prior config whose slices, spacings and training settings are used (default: patch)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="patches per step (default: the prior's training config)"
    )
    parser.add_argument(
        "--crop",
        type=int,
        help="in-plane crop of training patches; 0 for whole slices "
        "(default: the prior's training config)",
    )
    parser.add_argument(
        "--size", type=int, default=64, help="slice size of the phantom volume (default: 64)"
    )
    parser.add_argument("--slices", type=int, default=36, help="slices of the volume (default: 36)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per size (default: 10)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed steps before timing (default: 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom and training seed")
    parser.add_argument(
        "--checkpointing",
        choices=("both", "off", "on"),
        default="both",
        help="gradient checkpointing: measure with it off and on, or only one (default: both)",
    )
    add_common_arguments(parser)
    return parser.parse_args(argv)


def choose_networks(
    known: list[str], requested: list[str] | None, device: torch.device
) -> tuple[list[str], list[str]]:
    """The sizes to run and those skipped: all named ones, else all but paper on CPU."""
    if requested:
        return list(dict.fromkeys(requested)), []
    if device.type == "cpu":
        return [n for n in known if n not in CPU_SKIPPED], [n for n in known if n in CPU_SKIPPED]
    return list(known), []


def measure(
    spec: PriorSpec,
    training: dict[str, Any],
    volume_args: tuple[int, int, int],
    warmup: int,
    steps: int,
    device_name: str,
    threads: int,
) -> dict[str, float | None]:
    """Time ``steps`` training steps after ``warmup`` ones (runs in a fresh process)."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    volume = torch.from_numpy(thorax_phantom(*volume_args))
    sampler = PatchSampler([volume], spec.slices, spec.spacings, training["crop"])
    schedule = VPSchedule.linear()
    rss_before = peak_rss_mib()
    torch.manual_seed(training["seed"])
    run = TrainingRun(spec, training, device)
    run.model.train()
    for _ in range(warmup):
        train_step(run, schedule, sampler)
    reset_peak_gpu(device)
    started = clock(device)
    for _ in range(steps):
        train_step(run, schedule, sampler)
    seconds = clock(device) - started
    return {
        "parameters": count_parameters(run.model),
        "seconds_per_step": seconds / steps,
        "patches_per_second": steps * training["batch_size"] / seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "peak_gpu_mib": peak_gpu_mib(device),
    }


def checkpointing_ratios(name: str, off: dict, on: dict) -> str:
    """Memory and time of a step with gradient checkpointing, as ratios to without it. Memory
    is the GPU's peak on CUDA, else the process's peak RSS growth over what it held before."""
    if off["peak_gpu_mib"] is not None:
        memory = on["peak_gpu_mib"] / off["peak_gpu_mib"]
        what = "peak GPU memory"
    else:
        grown = [r["peak_rss_mib"] - r["rss_before_mib"] for r in (on, off)]
        memory = grown[0] / grown[1] if grown[1] > 0 else float("nan")
        what = "peak RSS growth"
    time_ratio = on["seconds_per_step"] / off["seconds_per_step"]
    return f"{name}: {what} x {memory:.3f}, s/step x {time_ratio:.3f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    for option in ("size", "slices", "steps"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option} must be at least 1")
    if args.warmup < 0:
        fail(SCRIPT, "--warmup must be at least 0")
    if args.prior not in config["priors"]:
        fail(SCRIPT, f"--prior {args.prior!r} is not one of {', '.join(config['priors'])}")
    known = list(config["networks"])
    unknown = sorted(set(args.networks or []) - set(known))
    if unknown:
        fail(SCRIPT, f"unknown network(s) {', '.join(unknown)}; the config has {', '.join(known)}")
    prior = config["priors"][args.prior]
    training = {
        **prior["training"],
        "seed": args.seed,
        "steps": args.warmup + args.steps,  # the learning-rate schedule's horizon
    }
    if args.batch_size is not None:
        training["batch_size"] = args.batch_size
    if args.crop is not None:
        training["crop"] = args.crop or None
    names, skipped = choose_networks(known, args.networks, device)
    switches = {"both": (False, True), "off": (False,), "on": (True,)}[args.checkpointing]
    runs = [(name, switch) for name in names for switch in switches]
    results = {}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    volume_args = (args.size, args.slices, args.seed)
    try:
        for name, switch in runs:
            spec = PriorSpec.from_config(prior, config["networks"][name], image_size=args.size)
            settings = {**training, "gradient_checkpointing": switch}
            work = (spec, settings, volume_args, args.warmup, args.steps, str(device), args.threads)
            if len(runs) == 1:  # this process's peak is this run's alone
                results[name, switch] = measure(*work)
                continue
            with context.Pool(1) as pool:
                results[name, switch] = pool.apply(measure, work)
    except DblendError as err:
        fail(SCRIPT, f"network {name}: {err}")
    print("\n".join(machine_lines(device, args.threads)))
    crop = training["crop"] or args.size
    print(
        f"prior {args.prior!r}: {prior['slices']}-slice patches, spacings {prior['spacings']}; "
        f"batch {training['batch_size']} patches of {crop} x {crop}, from a {args.slices} x "
        f"{args.size} x {args.size} phantom; bf16 autocast: {device.type == 'cuda'}"
    )
    print()
    where = "each in its own process" if len(runs) > 1 else "in this process"
    print(f"Training: {args.steps} timed steps per run after {args.warmup} warm-up, {where}")
    header = [
        "network", "checkpointing", "params", "s/step", "patches/s", "peak RSS MiB",
        "RSS before MiB", "peak GPU MiB",
    ]  # fmt: skip
    rows = [
        [
            name,
            "on" if switch else "off",
            f"{r['parameters'] / 1e6:.2f}M",
            f"{r['seconds_per_step']:.4f}",
            f"{r['patches_per_second']:.1f}",
            megabytes(r["peak_rss_mib"]),
            megabytes(r["rss_before_mib"]),
            megabytes(r["peak_gpu_mib"]),
        ]
        for (name, switch), r in results.items()
    ]
    print(table(header, rows))
    for name in skipped:
        print(f"{name}: skipped on CPU (far too slow); name it in --networks to run it anyway")
    if len(switches) == 2:
        print()
        print("Gradient checkpointing on / off (this run):")
        for name in names:
            print("  " + checkpointing_ratios(name, results[name, False], results[name, True]))
    if len(names) > 1:
        first = names[0]
        print()
        shown = "on" if switches[0] else "off"
        print(f"Throughput relative to {first} (this run, checkpointing {shown}):")
        for name in names[1:]:
            ratio = (
                results[name, switches[0]]["patches_per_second"]
                / results[first, switches[0]]["patches_per_second"]
            )
            print(f"  {name} / {first}: {ratio:.3f}")
    print(f"wall {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
