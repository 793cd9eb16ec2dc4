"""The registry of method kinds: one line per kind, each written in its own module here.

To add a kind: write its module (a ``KIND`` entry: prior, partition, sampler, data-consistency
step, config keys with defaults), add it to the tuple below, and give it a config entry and a
row in config/README.md; the schema, the checks and the sampler tests pick it up from here.
"""

from __future__ import annotations

from dblend.errors import ConfigError
from dblend.recon.kinds import (
    dds,
    dds2d,
    diffusionblend,
    diffusionblend_pp,
    diffusionmbir,
    fbp,
    fbpunet,
    tpdm,
)
from dblend.recon.kinds.base import LearnedKind, MethodKind, Settings

KINDS: dict[str, MethodKind] = {
    kind.name: kind
    for kind in (
        fbp.KIND,
        fbpunet.KIND,
        dds.KIND,
        dds2d.KIND,
        diffusionmbir.KIND,
        tpdm.KIND,
        diffusionblend.KIND,
        diffusionblend_pp.KIND,
    )
}


def kind_of(settings: Settings) -> MethodKind:
    """The registry entry of a method's ``kind``."""
    try:
        return KINDS[settings["kind"]]
    except KeyError:
        raise ConfigError(
            f"unknown method kind {settings.get('kind')!r}; expected one of {', '.join(KINDS)}"
        ) from None


def needed_priors(settings: Settings) -> list[str]:
    """The keys naming the priors a method samples with: none, ``prior``, ``auxiliary_prior``."""
    return list(kind_of(settings).needs())


def trains_model(settings: Settings) -> bool:
    """Whether a method has a model of its own, trained per data set and task (FBP-UNet)."""
    return isinstance(kind_of(settings), LearnedKind)
