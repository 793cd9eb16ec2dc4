"""The ADM converter at full size: OpenAI's UNetModel against the prior converted from it.

Why: tests/test_adm.py proves equal epsilon at a small size and every tensor's name and shape at
the paper's size; this runs the paper-size networks themselves (random weights, since no
checkpoint can be fetched here): OpenAI's guided-diffusion UNetModel built for a network entry
(``adm256``: the ImageNet 256 x 256 model; DDS's ``dds_aapm256`` from config/dds_prior.yaml),
its state dict converted as ``priors.<name>.init`` / ``pretrained`` would convert the published
file. ADM zero-initialises its output convolutions; those get random weights too, so every
layer counts. Printed per case: the largest |epsilon| difference and the largest |epsilon|.

- ``--in-channels 3`` (ImageNet): the 3-slice prior for each spacing, the 1-slice prior (its
  input summed over RGB, epsilon averaged) and the class-conditional network (1000 labels);
- ``--in-channels 1`` (DDS): the 1-slice prior.

Inputs are ``--size`` pixels square (the networks are fully convolutional; 64 keeps a CPU run
to minutes). Numbers only: nothing here asserts on them.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from _common import add_common_arguments, count_parameters, fail, machine_lines, setup, table
from diffusers import UNet2DModel

from dblend.models import adm
from dblend.models.networks import unet_config
from dblend.models.pretrained import adapt
from dblend.models.prior import PriorSpec, ScorePrior

SCRIPT = "adm_conversion.py"


def reference(network: dict, in_channels: int, classes: int | None) -> torch.nn.Module:
    """OpenAI's UNetModel for the entry, with learned variance, every weight random."""
    with warnings.catch_warnings():  # guided-diffusion's torch.cuda.amp decorators
        warnings.simplefilter("ignore", FutureWarning)
        from guided_diffusion.unet import UNetModel

    torch.manual_seed(0)
    model = UNetModel(
        **adm.guided_diffusion_arguments(network, in_channels, 2 * in_channels, classes)
    )
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.02)
    return model.eval()


def converted_unet(state: dict, network: dict, in_channels: int, classes: int | None) -> dict:
    config = unet_config(network, 64, in_channels, classes, 2 * in_channels)
    with torch.device("meta"):
        shapes = {name: t.shape for name, t in UNet2DModel(**config).state_dict().items()}
    return adm.convert(state, config, shapes)


def prior(state: dict, spec: PriorSpec, in_channels: int, device: torch.device) -> ScorePrior:
    weights = adapt(converted_unet(state, spec.network, in_channels, None), spec, "reference")
    model = ScorePrior(spec)
    model.load_state_dict({f"unet.{name}": tensor for name, tensor in weights.items()})
    return model.to(device).eval()


def difference(got: torch.Tensor, want: torch.Tensor) -> list[str]:
    return [f"{(got - want).abs().max().item():.2e}", f"{want.abs().max().item():.3f}"]


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--network", default="adm256", help="a network entry (default: adm256)")
    parser.add_argument("--in-channels", type=int, choices=(1, 3), default=3)
    parser.add_argument("--size", type=int, default=64, help="input pixels (default: 64)")
    parser.add_argument("--batch", type=int, default=2)
    args = parser.parse_args()
    config, device = setup(SCRIPT, args)
    if args.network not in config["networks"]:
        fail(SCRIPT, f"no network {args.network!r} in the config")
    network = config["networks"][args.network]
    torch.backends.cuda.matmul.allow_tf32 = False  # compare float32 with float32
    torch.backends.cudnn.allow_tf32 = False
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=generator).to(device)
    t = torch.linspace(0, 999, args.batch).long().to(device)
    k = args.in_channels
    started = time.perf_counter()
    model = reference(network, k, None)
    state = model.state_dict()
    parameters = count_parameters(model)
    model.to(device)
    rows = []
    if k == 3:
        want = model(x, t)[:, :3]
        patch = prior(state, PriorSpec(3, (1, 3), args.size, network), 3, device)
        for spacing in (1, 3):
            got = patch(x, t, torch.full((args.batch,), spacing, device=device))
            rows.append([f"3-slice prior, spacing {spacing}", *difference(got, want)])
        del patch
        single = prior(state, PriorSpec(1, (1,), args.size, network), 3, device)
        want = model(x[:, :1].repeat(1, 3, 1, 1), t)[:, :3].mean(dim=1, keepdim=True)
        got = single(x[:, :1], t, torch.ones(args.batch, device=device))
        rows.append(["1-slice prior (RGB summed, epsilon averaged)", *difference(got, want)])
        del single, model, state
        model = reference(network, 3, 1000).to(device)
        unet = UNet2DModel(**unet_config(network, args.size, 3, 1000, 6))
        unet.load_state_dict(converted_unet(model.state_dict(), network, 3, 1000))
        labels = torch.randint(1000, (args.batch,), generator=generator).to(device)
        got = unet.to(device).eval()(x, t, class_labels=labels).sample
        rows.append(["network with 1000 class labels", *difference(got, model(x, t, labels))])
    else:
        single = prior(state, PriorSpec(1, (1,), args.size, network, (0.0, 1.0)), 1, device)
        got = single(x[:, :1], t, torch.ones(args.batch, device=device))
        rows.append(["1-slice prior", *difference(got, model(x[:, :1], t)[:, :1])])
    print("\n".join(machine_lines(device, args.threads)))
    print(f"network {args.network}: {parameters:,} parameters (OpenAI's UNetModel, {k} in)")
    print(f"inputs {args.batch} x {args.size} x {args.size}, timesteps {t.tolist()}")
    print(table(["case", "max |difference|", "max |epsilon|"], rows))
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
