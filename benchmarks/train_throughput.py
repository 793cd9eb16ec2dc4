"""Training throughput, FLOP utilisation and peak memory per network size and speed switches.

Why: the network sizes in config (tiny for tests, small for the CPU demo, paper for GPUs) are
chosen by what a training budget allows; this measures what one optimisation step of each costs
with the real training step (``dblend.train.train_step`` on a ``TrainingRun`` fed by a
``PatchSampler``: forward, MSE, backward, clipping, AdamW, learning-rate schedule, EMA, in the
training section's precision, bf16 autocast on CUDA by default), after a few untimed warm-up
steps (which also pay torch.compile's compilation when it is switched on).

Each ``--switches`` is one combination of the training section's speed switches (config/
README.md: ``channels_last``, ``compile``, ``fused_optimizer``, ``precision``; any key of the
training or network section is taken, validated by the config schema) and gives one row per
network size. The FLOPs of one step (U-Net forward and backward, counted by torch's
``FlopCounterMode`` on the meta device, so without computing anything) over its measured time
give the model FLOPs utilisation against the card's dense bf16 peak (``PEAK_BF16_TFLOPS``, or
``--peak-tflops``). The loss of the first step, from the same seed and batch in every row,
shows that a switch left the numbers alone (within bf16 noise when the precision is bf16).

With more than one row, each runs in its own spawned process, because a process's peak
resident memory (``ru_maxrss``) only ever grows: the peak printed for a row is then its own.
On CPU the paper size is skipped unless asked for by name: one step takes minutes there.

Timings only: nothing here asserts on them. Run ``python benchmarks/train_throughput.py --help``.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import time
from typing import Any

import torch
import yaml
from _common import (
    add_common_arguments,
    count_parameters,
    fail,
    machine_lines,
    megabytes,
    setup,
    table,
)
from torch.utils.flop_counter import FlopCounterMode

from dblend.config import SCHEMA_PATH, validate
from dblend.data.phantoms import thorax_phantom
from dblend.device import clock, peak_gpu_mib, peak_rss_mib, reset_peak_gpu
from dblend.errors import DblendError
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.patches import PatchSampler
from dblend.train import DiffusionObjective, TrainingRun, train_step

SCRIPT = "train_throughput.py"
CPU_SKIPPED = ("paper",)  # run on CPU only when named in --networks
DEFAULTS = "defaults"  # the --switches value that changes nothing
# Dense (no sparsity) bf16 tensor-core peaks from the vendors' datasheets, in TFLOP/s; the
# first name found in torch's device name counts, so "H100 PCIe" is looked for before "H100".
PEAK_BF16_TFLOPS = {
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "H200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "RTX 4090": 165.0,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Training patches per second, seconds per step, FLOPs and utilisation, peak "
        "memory and parameter count for each network size of the config and each combination "
        "of speed switches, with the real training step.",
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
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (default: 10)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="untimed steps before timing, at least 1: the first gives the first loss and pays "
        "any compilation (default: 3)",
    )
    parser.add_argument(
        "--switches",
        action="append",
        help="one combination of speed switches per option, e.g. "
        "'channels_last,compile,fused_optimizer' or 'precision=fp32': keys of the training "
        f"(or network) section, 'key' meaning key=true; '{DEFAULTS}' changes nothing "
        f"(default: {DEFAULTS} alone)",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        help="the device's peak in TFLOP/s for the utilisation column (default: the dense bf16 "
        f"peak of a known card: {', '.join(f'{k} {v:g}' for k, v in PEAK_BF16_TFLOPS.items())})",
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom and training seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def parse_switches(text: str) -> dict[str, Any]:
    """``'a,b=x'`` as ``{'a': True, 'b': x}`` (values read as YAML); the defaults as ``{}``."""
    if text.strip() == DEFAULTS:
        return {}
    switches: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        switches[key.strip()] = yaml.safe_load(value) if value else True
    if not switches:
        raise ValueError(f"--switches {text!r} names no switch")
    return switches


def apply_switches(
    config: dict[str, Any], prior: str, network: str, switches: dict[str, Any]
) -> dict[str, Any]:
    """A copy of ``config`` with each switch set in the prior's training or the network section.

    A key belongs to the section whose schema names it (training first); the result is validated
    like any config, so a wrong value or an unknown key is refused with the config's message.
    """
    definitions = yaml.safe_load(SCHEMA_PATH.read_text())["$defs"]
    sections = {
        "training": ("priors", prior, "training"),
        "network": ("networks", network),
    }
    changed = copy.deepcopy(config)
    for key, value in switches.items():
        section = next((s for s in sections if key in definitions[s]["properties"]), "training")
        target = changed
        for part in sections[section]:
            target = target[part]
        target[key] = value
    return validate(changed, where="--switches")


def peak_tflops(device: torch.device, override: float | None) -> tuple[float | None, str]:
    """The peak the utilisation is measured against, and where it came from."""
    if override is not None:
        return override, "--peak-tflops"
    if device.type != "cuda":
        return None, "no peak known for a CPU; give --peak-tflops"
    name = torch.cuda.get_device_name(device)
    for card, tflops in PEAK_BF16_TFLOPS.items():
        if card in name:
            return tflops, f"dense bf16 peak of the {card}"
    return None, f"no peak known for {name}; give --peak-tflops"


def step_flops(spec: PriorSpec, batch: int, size: int) -> int:
    """FLOPs of the U-Net's forward and backward on one batch, counted on the meta device."""
    with torch.device("meta"):
        model = ScorePrior(spec)
        patches = torch.randn(batch, spec.slices, size, size)
        timesteps = torch.zeros(batch, dtype=torch.long)
        labels = torch.zeros(batch, dtype=torch.long) if spec.labelled else None
    with FlopCounterMode(display=False) as counter:
        model.unet(patches, timesteps, class_labels=labels).sample.sum().backward()
    return counter.get_total_flops()


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
    objective = DiffusionObjective(VPSchedule.linear(), sampler)
    rss_before = peak_rss_mib()
    torch.manual_seed(training["seed"])
    run = TrainingRun(ScorePrior(spec), training, device)
    run.model.train()
    first_loss = train_step(run, objective)
    for _ in range(warmup - 1):
        train_step(run, objective)
    reset_peak_gpu(device)
    started = clock(device)
    for _ in range(steps):
        train_step(run, objective)
    seconds = clock(device) - started
    return {
        "first_loss": first_loss,
        "parameters": count_parameters(run.model),
        "seconds_per_step": seconds / steps,
        "patches_per_second": steps * training["batch_size"] / seconds,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "peak_gpu_mib": peak_gpu_mib(device),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    for option in ("size", "slices", "steps", "warmup"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option} must be at least 1")
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        fail(SCRIPT, "--peak-tflops must be positive")
    if args.prior not in config["priors"]:
        fail(SCRIPT, f"--prior {args.prior!r} is not one of {', '.join(config['priors'])}")
    known = list(config["networks"])
    unknown = sorted(set(args.networks or []) - set(known))
    if unknown:
        fail(SCRIPT, f"unknown network(s) {', '.join(unknown)}; the config has {', '.join(known)}")
    try:
        combinations = {text: parse_switches(text) for text in args.switches or [DEFAULTS]}
    except ValueError as err:
        fail(SCRIPT, str(err))
    names, skipped = choose_networks(known, args.networks, device)
    peak, peak_source = peak_tflops(device, args.peak_tflops)
    volume_args = (args.size, args.slices, args.seed)
    jobs = {}
    try:
        for name in names:
            for text, switches in combinations.items():
                switched = apply_switches(config, args.prior, name, switches)
                prior = switched["priors"][args.prior]
                spec = PriorSpec.from_config(prior, switched["networks"][name], args.size)
                training = {
                    **prior["training"],
                    "seed": args.seed,
                    "steps": args.warmup + args.steps,  # the learning-rate schedule's horizon
                }
                if args.batch_size is not None:
                    training["batch_size"] = args.batch_size
                if args.crop is not None:
                    training["crop"] = args.crop or None
                timing = (args.warmup, args.steps, str(device), args.threads)
                jobs[name, text] = (spec, training, volume_args, *timing)
    except DblendError as err:
        fail(SCRIPT, str(err))
    results, flops = {}, {}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    try:
        for (name, text), work in jobs.items():
            spec, training = work[0], work[1]
            crop = training["crop"] or args.size
            flops[name, text] = step_flops(spec, training["batch_size"], crop)
            if len(jobs) == 1:  # this process's peak is this row's alone
                results[name, text] = measure(*work)
                continue
            with context.Pool(1) as pool:
                results[name, text] = pool.apply(measure, work)
    except DblendError as err:
        fail(SCRIPT, f"network {name}, switches {text}: {err}")
    print("\n".join(machine_lines(device, args.threads)))
    training = next(iter(jobs.values()))[1]
    crop = training["crop"] or args.size
    prior = config["priors"][args.prior]
    print(
        f"prior {args.prior!r}: {prior['slices']}-slice patches, spacings {prior['spacings']}; "
        f"batch {training['batch_size']} patches of {crop} x {crop}, from a {args.slices} x "
        f"{args.size} x {args.size} phantom; precision {prior['training']['precision']} "
        "unless switched"
    )
    print(
        "FLOPs per step: U-Net forward + backward (FlopCounterMode); utilisation against "
        + (f"{peak:g} TFLOP/s ({peak_source})" if peak else f"nothing: {peak_source}")
    )
    print()
    where = "each row in its own process" if len(jobs) > 1 else "in this process"
    print(f"Training: {args.steps} timed steps per row after {args.warmup} warm-up, {where}")
    header = [
        "network / switches", "params", "GFLOP/step", "s/step", "patches/s", "TFLOP/s",
        "MFU %", "first loss", "peak RSS MiB", "RSS before MiB", "peak GPU MiB",
    ]  # fmt: skip
    rows = []
    for (name, text), r in results.items():
        achieved = flops[name, text] / r["seconds_per_step"] / 1e12
        rows.append(
            [
                f"{name} / {text}",
                f"{r['parameters'] / 1e6:.2f}M",
                f"{flops[name, text] / 1e9:.3f}",
                f"{r['seconds_per_step']:.4f}",
                f"{r['patches_per_second']:.1f}",
                f"{achieved:.3g}",
                f"{100 * achieved / peak:.1f}" if peak else "-",
                f"{r['first_loss']:.6f}",
                megabytes(r["peak_rss_mib"]),
                megabytes(r["rss_before_mib"]),
                megabytes(r["peak_gpu_mib"]),
            ]
        )
    print(table(header, rows))
    for name in skipped:
        print(f"{name}: skipped on CPU (far too slow); name it in --networks to run it anyway")
    if len(results) > 1:
        first = next(iter(results))
        print()
        print(f"Throughput relative to {' / '.join(first)} (this run):")
        for key, r in list(results.items())[1:]:
            ratio = r["patches_per_second"] / results[first]["patches_per_second"]
            print(f"  {' / '.join(key)}: {ratio:.3f}")
    print(f"wall {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
