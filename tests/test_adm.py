"""ADM (guided-diffusion) checkpoints become UNet2DModel weights that compute the same epsilon.

The reference is OpenAI's own guided-diffusion UNetModel (packaged on PyPI as
guided-diffusion-sdk; its forward pass is that of openai/guided-diffusion): built with random
weights, its state dict converted, both networks are run on the same inputs. At the paper's size
(the ImageNet 256 x 256 unconditional model, 552M parameters) the same conversion runs on the
meta device, which checks every name and shape without allocating the weights; equal outputs at
that size were measured on a GPU (README, "Published checkpoints").
"""

from __future__ import annotations

import pytest
import torch
from conftest import randomised, reference_adm
from diffusers import UNet2DModel

from dblend.models import adm
from dblend.models.networks import unet_config

SMALL_NETWORK = {
    "channels": [32, 64, 64],
    "attention": [False, True, True],
    "layers_per_block": 2,
    "norm_groups": 32,
    "attention_head_dim": 16,
    "dropout": 0.0,
    "scale_shift": True,
    "layout": "adm",
}
# guided-diffusion's flags of 256x256_diffusion_uncond.pt (its README), as a network entry.
IMAGENET_NETWORK = {
    "channels": [256, 256, 512, 512, 1024, 1024],
    "attention": [False, False, False, True, True, True],
    "layers_per_block": 2,
    "norm_groups": 32,
    "attention_head_dim": 64,
    "dropout": 0.0,
    "scale_shift": True,
    "layout": "adm",
}


def converted(state: dict, network: dict, in_ch: int, out_ch: int, classes, order: str):
    config = unet_config(network, 16, in_ch, classes, out_ch)
    model = UNet2DModel(**config).eval()
    shapes = {name: tensor.shape for name, tensor in model.state_dict().items()}
    model.load_state_dict(adm.convert(state, config, shapes, order))
    return model


@pytest.mark.parametrize(
    ("order", "classes"),
    [("legacy", None), ("new", 5)],
    ids=["legacy-order-unconditional", "new-order-class-conditional"],
)
def test_converted_network_gives_adms_epsilon(order, classes):
    reference = randomised(reference_adm(SMALL_NETWORK, 3, 6, classes, order == "new"))
    model = converted(reference.state_dict(), SMALL_NETWORK, 3, 6, classes, order)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 16, 16, generator=generator)
    t = torch.tensor([0, 17, 500, 999])
    y = torch.tensor([0, 4, 2, 4]) if classes else None
    with torch.no_grad():
        expected, got = reference(x, t, y), model(x, t, class_labels=y).sample
    assert expected.abs().mean() > 0.01, "a meaningful output, not zeros"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_the_attention_order_matters():
    """The stated order is really used: the other one gives another network."""
    reference = randomised(reference_adm(SMALL_NETWORK, 3, 6, None, new_order=False))
    model = converted(reference.state_dict(), SMALL_NETWORK, 3, 6, None, "new")
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 600])
    with torch.no_grad():
        difference = (model(x, t).sample - reference(x, t)).abs().max()
    assert difference > 1e-4, "ten times the tolerance of the equality test"


def test_paper_size_checkpoint_maps_every_tensor_by_name_and_shape():
    with torch.device("meta"):
        reference = reference_adm(IMAGENET_NETWORK, 3, 6, None, new_order=False)
        config = unet_config(IMAGENET_NETWORK, 256, 3, None, 6)
        model = UNet2DModel(**config)
    state = reference.state_dict()
    shapes = {name: tensor.shape for name, tensor in model.state_dict().items()}
    weights = adm.convert(state, config, shapes)
    assert {n: w.shape for n, w in weights.items()} == shapes
    count = sum(t.numel() for t in state.values())
    assert count == sum(w.numel() for w in weights.values())
    assert 552e6 < count < 553e6, "the published model's 552M parameters"


def test_a_checkpoint_of_another_shape_is_refused_naming_each_tensor():
    reference = reference_adm(SMALL_NETWORK, 3, 6, None, new_order=False)
    state = reference.state_dict()
    state["extra.weight"] = torch.zeros(2, 2)
    del state["middle_block.1.qkv.bias"]
    network = {**SMALL_NETWORK, "channels": [32, 64, 128]}
    config = unet_config(network, 32, 3, None, 6)
    with torch.device("meta"):
        shapes = {n: t.shape for n, t in UNet2DModel(**config).state_dict().items()}
    with pytest.raises(adm.CheckpointMismatch) as error:
        adm.convert(state, config, shapes, where="adm.pt")
    message = str(error.value)
    assert message.startswith("adm.pt: its tensors do not fit")
    assert "unexpected extra.weight [2, 2]" in message
    assert "missing middle_block.1.qkv.bias [384]" in message
    assert "out.0.weight" not in message, "tensors that fit are not listed"
    assert "input_blocks.7.0.in_layers.2.weight: checkpoint has [64, 64, 3, 3], expected" in message
