"""Shared fixtures: tiny volumes, operators and priors, all real (ASTRA, diffusers, torch)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from tiny_workflow import TINY, snakemake

from dblend.models.adm import guided_diffusion_arguments
from dblend.models.fbpunet import FbpUNet, FbpUNetSpec
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.physics.geometry import parallel_geometry
from dblend.physics.parallel import ParallelBeamOperator

TINY_NETWORK = {
    "channels": [8, 16],
    "attention": [False, True],
    "layers_per_block": 1,
    "norm_groups": 4,
    "attention_head_dim": 8,
    "dropout": 0.0,
    "scale_shift": True,
}


def smooth_volume(depth: int, size: int) -> torch.Tensor:
    """A volume in [0, 1] with soft ellipses whose centres drift along z."""
    z, y, x = np.meshgrid(
        np.linspace(-1, 1, depth),
        np.linspace(-1, 1, size),
        np.linspace(-1, 1, size),
        indexing="ij",
    )
    body = 1.0 / (1.0 + np.exp(((x / 0.8) ** 2 + (y / 0.6) ** 2 - 1.0) * 12))
    blob = np.exp(-(((x - 0.3 * z) / 0.2) ** 2 + ((y + 0.1) / 0.25) ** 2))
    return torch.from_numpy((0.5 * body + 0.4 * blob).astype(np.float32))


def reference_adm(
    network: dict, in_channels: int, out_channels: int, classes: int | None, new_order: bool
) -> torch.nn.Module:
    """OpenAI's own ADM (guided-diffusion's UNetModel; PyPI: guided-diffusion-sdk) for a network
    entry: the reference every conversion test compares against."""
    with warnings.catch_warnings():  # its torch.cuda.amp decorators are deprecated
        warnings.simplefilter("ignore", FutureWarning)
        from guided_diffusion.unet import UNetModel

    order = "new" if new_order else "legacy"
    return UNetModel(
        **guided_diffusion_arguments(network, in_channels, out_channels, classes, order)
    )


def randomised(model: torch.nn.Module) -> torch.nn.Module:
    """Every weight random (ADM zero-initialises its output convolutions), in eval mode."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.05)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_volume() -> torch.Tensor:
    return smooth_volume(13, 32)


@pytest.fixture(scope="session")
def sv8_operator() -> ParallelBeamOperator:
    return ParallelBeamOperator(parallel_geometry({"kind": "sparse_view", "views": 8}, 32))


@pytest.fixture(scope="session")
def patch_prior() -> ScorePrior:
    torch.manual_seed(0)
    return ScorePrior(PriorSpec(3, (1, 3), 32, TINY_NETWORK)).eval()


@pytest.fixture(scope="session")
def slice_prior() -> ScorePrior:
    torch.manual_seed(0)
    return ScorePrior(PriorSpec(1, (1,), 32, TINY_NETWORK)).eval()


@pytest.fixture(scope="session")
def coronal_prior() -> ScorePrior:
    """TPDM's auxiliary prior: 1-slice, on coronal slices (thin volumes reflect-padded)."""
    torch.manual_seed(0)
    spec = PriorSpec(1, (1,), 32, TINY_NETWORK, plane="coronal", depth="pad")
    return ScorePrior(spec).eval()


@pytest.fixture(scope="session")
def fbpunet_model() -> FbpUNet:
    """An untrained FBP-UNet for 32 x 32 slices (Hann-filtered FBP input)."""
    torch.manual_seed(0)
    network = {**TINY_NETWORK, "attention": [False, False]}
    return FbpUNet(FbpUNetSpec(network, 32, "hann")).eval()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id: str) -> Path:
    """A folder where the whole chain ran on config/test/tiny.yaml (shared by the tests of the
    workflow, its provenance and its report). Under `make test`'s xdist workers it lies in
    their common temporary folder: the first worker to need it runs the chain, the others wait
    for that run and reuse it."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    workdir, finished = shared / "tiny", shared / "tiny.finished"
    with FileLock(shared / "tiny.lock"):
        if not finished.exists():
            workdir.mkdir(exist_ok=True)
            result = snakemake(workdir, "--configfile", str(TINY))
            assert result.returncode == 0, result.stderr[-4000:]
            finished.touch()
    return workdir


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests (whole Snakemake runs) first, each file's order kept: `make test`'s
    workers, a file at a time each, then start the long runs at once and end on short files."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
