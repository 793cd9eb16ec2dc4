"""Where a training step and a sampling step spend their time on a CPU, by kind of operation.

Why: making the demo faster starts with knowing what its time is made of. This profiles the real
training step (``dblend.train.train_step`` on a prior of the config) and the real sampler
(``dblend.recon.methods.reconstruct`` with one method of the config, untrained prior: the
weights do not change the cost) with ``torch.profiler``, and sums each operator's own time into
kinds: convolutions (forward and backward), normalisation and activation, attention, matrix
products, copies and layout, everything else in torch, and the time outside torch's operators
(ASTRA's projections, Python).

Beside the shares it prints how fast the convolutions ran: their FLOPs (``FlopCounterMode`` over
the same steps) over their time, against a large fp32 matrix product on the same threads, the
practical ceiling of this CPU's arithmetic. Convolutions that dominate the time and run near that
ceiling leave a layout or fusion switch little to gain; only less arithmetic helps then.

CPU only (on a GPU the profiler's CPU times are kernel launches; ``train_throughput.py`` and
``volume_reconstruction.py`` measure the GPU). Timings only: nothing here asserts on them. Run
``python benchmarks/step_profile.py --help``.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from _common import (
    add_common_arguments,
    build_prior,
    fail,
    machine_lines,
    parallel_task,
    require_methods,
    setup,
    simulated_task,
    table,
)
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from dblend.config import method_for_task
from dblend.data.phantoms import thorax_phantom
from dblend.errors import DblendError
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.patches import PatchSampler
from dblend.recon.methods import reconstruct
from dblend.train import DiffusionObjective, TrainingRun, train_step

SCRIPT = "step_profile.py"
OUTSIDE = "outside torch operators (ASTRA, Python)"
# (kind, substrings of an aten operator's name), matched in this order; the rest is "other".
KINDS = (
    ("convolution", ("conv",)),
    ("normalisation and activation", ("group_norm", "layer_norm", "silu", "gelu")),
    ("attention", ("scaled_dot_product",)),
    ("matrix products", ("aten::mm", "aten::addmm", "aten::bmm")),
    ("copies and layout", ("copy", "aten::cat", "upsample", "aten::empty", "contiguous")),
)
OTHER = "other torch operators"
GEMM_SIZE = 1024


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Shares of a training step's and a sampling step's time by kind of "
        "operation, and the convolutions' FLOP rate against a large matrix product.",
    )
    parser.add_argument("--prior", default="patch", help="prior config to train (default: patch)")
    parser.add_argument(
        "--method",
        default="diffusionblend_pp",
        help="method entry of the config to sample with (default: diffusionblend_pp)",
    )
    parser.add_argument("--task", default="sv8", help="a parallel-beam task (default: sv8)")
    parser.add_argument("--size", type=int, default=64, help="slice size N (default: 64)")
    parser.add_argument("--slices", type=int, default=40, help="slices Z (default: 40)")
    parser.add_argument(
        "--train-steps", type=int, default=5, help="profiled training steps (default: 5)"
    )
    parser.add_argument(
        "--sampling-steps", type=int, default=4, help="profiled sampling steps (default: 4)"
    )
    parser.add_argument("--seed", type=int, default=0, help="phantom and training seed")
    add_common_arguments(parser)
    return parser.parse_args(argv)


def kind_of(name: str) -> str:
    """The kind an operator's own time is counted under."""
    return next((kind for kind, keys in KINDS if any(k in name for k in keys)), OTHER)


def conv_flops(counter: FlopCounterMode) -> int:
    """The FLOPs of the convolutions (forward and backward) a counter saw."""
    flops = counter.get_flop_counts()["Global"]
    return sum(n for op, n in flops.items() if kind_of(str(op)) == "convolution")


def profile_call(work: Callable[[], object]) -> tuple[dict[str, float], int, float]:
    """Seconds per kind of ``work()``'s operators, its convolution FLOPs and its wall time.

    ``work`` runs twice: once under the FLOP counter (which also warms caches and allocators),
    then timed under the profiler.
    """
    with FlopCounterMode(display=False) as counter:
        work()
    seconds: dict[str, float] = defaultdict(float)
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        work()
    wall = time.perf_counter() - started
    for event in profiler.key_averages():
        seconds[kind_of(event.key)] += event.self_cpu_time_total / 1e6
    seconds[OUTSIDE] = max(0.0, wall - sum(seconds.values()))
    return dict(seconds), conv_flops(counter), wall


def gemm_gflops(repeats: int = 10) -> float:
    """The FLOP rate of a large fp32 matrix product on this process's threads."""
    a, b = torch.randn(GEMM_SIZE, GEMM_SIZE), torch.randn(GEMM_SIZE, GEMM_SIZE)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * GEMM_SIZE**3 * repeats / (time.perf_counter() - started) / 1e9


def training_work(args: argparse.Namespace, config: dict, volume: torch.Tensor) -> Callable:
    """``args.train_steps`` real training steps of the config's prior, after one untimed."""
    prior = config["priors"][args.prior]
    training = {**prior["training"], "seed": args.seed}
    spec = PriorSpec.from_config(prior, config["networks"][prior["network"]], args.size)
    sampler = PatchSampler([volume], spec.slices, spec.spacings, training["crop"])
    objective = DiffusionObjective(VPSchedule.linear(), sampler)
    torch.manual_seed(args.seed)
    run = TrainingRun(ScorePrior(spec), training, torch.device("cpu"))
    run.model.train()
    train_step(run, objective)

    def work() -> None:
        for _ in range(args.train_steps):
            train_step(run, objective)

    return work


def sampling_work(args: argparse.Namespace, config: dict, volume: torch.Tensor) -> Callable:
    """One ``reconstruct`` call of the method with ``args.sampling_steps`` steps."""
    cpu = torch.device("cpu")
    task = parallel_task(SCRIPT, config, args.task)
    operator, sinogram = simulated_task(task, volume, args.seed, cpu)
    method = {**method_for_task(config, args.method, args.task), "steps": args.sampling_steps}
    prior = build_prior(
        config, method, config["priors"][method["prior"]]["network"], args.size, cpu
    )
    return lambda: reconstruct(args.method, method, sinogram, operator, prior, args.seed, cpu)


def report(title: str, seconds: dict[str, float], flops: int, wall: float, gemm: float) -> str:
    rows = [
        [kind, f"{s:.3f}", f"{100 * s / wall:.1f}"]
        for kind, s in sorted(seconds.items(), key=lambda item: -item[1])
    ]
    conv = flops / seconds.get("convolution", float("nan")) / 1e9
    return "\n".join(
        [
            f"{title}: {wall:.3f} s",
            table(["kind of operation", "seconds", "% of wall"], rows),
            f"convolutions: {flops / 1e9:.1f} GFLOP at {conv:.1f} GFLOP/s, "
            f"{100 * conv / gemm:.0f}% of the {GEMM_SIZE}^3 matrix product's rate",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, device = setup(SCRIPT, args)
    if device.type != "cpu":
        fail(
            SCRIPT,
            "profiles the CPU only; train_throughput.py and volume_reconstruction.py measure a GPU",
        )
    for option in ("size", "slices", "train_steps", "sampling_steps"):
        if getattr(args, option) < 1:
            fail(SCRIPT, f"--{option.replace('_', '-')} must be at least 1")
    if args.prior not in config["priors"]:
        fail(SCRIPT, f"--prior {args.prior!r} is not one of {', '.join(config['priors'])}")
    require_methods(SCRIPT, config, [args.method])
    volume = torch.from_numpy(thorax_phantom(args.size, args.slices, args.seed))
    try:
        gemm = gemm_gflops()
        training = profile_call(training_work(args, config, volume))
        sampling = profile_call(sampling_work(args, config, volume))
    except DblendError as err:
        fail(SCRIPT, str(err))
    print("\n".join(machine_lines(device, args.threads)))
    print(f"fp32 {GEMM_SIZE}^3 matrix product: {gemm:.1f} GFLOP/s")
    print()
    print(report(f"training prior {args.prior!r}, {args.train_steps} steps", *training, gemm))
    print()
    title = f"sampling {args.method} on {args.slices} x {args.size} x {args.size}"
    print(report(f"{title}, {args.sampling_steps} steps", *sampling, gemm))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
