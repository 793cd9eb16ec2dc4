"""What a method kind is: the prior it needs, its partition, sampler and data-consistency step,
and its config keys with their defaults.

A kind is one entry of ``dblend.recon.kinds.KINDS``, written in its own module of this package.
The config schema (``dblend.config``), the prior checks, the reconstruct job and the sampler tests
read the entry instead of testing ``kind == ...``, so adding a kind touches its module, the
registry line, config and docs. The parts are named, not imported (as score_sde registers its
predictors by name): the partition rules live in ``dblend.recon.partitions``, the samplers in
``dblend.recon.sampler`` and the data-consistency steps in ``dblend.recon.consistency``, so the
config can be checked without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Settings = Mapping[str, Any]
"""One method entry of the config (``methods.<name>``), defaults filled in."""

DIFFUSION_KEYS = ("label", "prior", "steps", "eta", "cg_iters", "batch_size", "precision")
"""Keys every diffusion kind takes; their schema is stated once, in ``$defs.method_keys``."""
TV_KEYS = ("rho", "lam", "weights")
"""Keys of the kinds whose data consistency is ADMM with TV along z."""


def shared(*names: str, **overrides: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Shared keys by name, optionally with a kind's own default or description laid over."""
    return {name: overrides.get(name, {}) for name in names}


def _adjacent(settings: Settings) -> frozenset[int]:
    return frozenset({1})


def _no_limits(settings: Settings, slices: int) -> list[str]:
    return []


@dataclass(frozen=True)
class PriorNeed:
    """The prior a kind samples with: a 1-slice (2D) prior, or a multi-slice patch prior that
    was trained on the slice spacings ``spacings(settings)`` (the network is told which)."""

    multi_slice: bool
    spacings: Callable[[Settings], frozenset[int]] = _adjacent

    def problems(self, settings: Settings, slices: int, spacings: Sequence[int]) -> list[str]:
        if not self.multi_slice and slices != 1:
            return [f"needs a 1-slice prior, got a {slices}-slice prior"]
        if self.multi_slice and slices < 2:
            return ["needs a multi-slice prior, got a 1-slice prior"]
        needed = self.spacings(settings)
        if self.multi_slice and not needed <= set(spacings):
            return [f"needs spacings {sorted(needed)}, prior knows {list(spacings)}"]
        return []


@dataclass(frozen=True, kw_only=True)
class MethodKind:
    """A reconstruction method kind and its config keys.

    ``keys`` maps each config key beyond ``kind`` to its JSON schema: a shared key (one of
    ``$defs.method_keys``) by name with an optional overlay (e.g. another default), the kind's
    own keys in full, each with its default and a description. ``limits`` states what ties the
    kind's keys to the slices of its prior (beyond what the schema can say).
    """

    name: str
    summary: str
    keys: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    prior: PriorNeed | None = None
    limits: Callable[[Settings, int], list[str]] = _no_limits

    def problems(self, settings: Settings, slices: int, spacings: Sequence[int]) -> list[str]:
        """Why ``settings`` cannot run with a prior of ``slices`` slices and ``spacings``."""
        if self.prior is None:
            return []
        return self.prior.problems(settings, slices, spacings) + self.limits(settings, slices)


@dataclass(frozen=True, kw_only=True)
class AnalyticKind(MethodKind):
    """A method without a prior: ``algorithm`` names its entry in ``dblend.recon.methods``."""

    algorithm: str


@dataclass(frozen=True, kw_only=True)
class DiffusionKind(MethodKind):
    """A diffusion sampler: a prior, and the named partition rule, sampler loop and
    data-consistency step it runs with (``dblend.recon.partitions.PARTITION_RULES``,
    ``dblend.recon.sampler.SAMPLERS``, ``dblend.recon.consistency.CONSISTENCY_STEPS``)."""

    prior: PriorNeed = field(default_factory=lambda: PriorNeed(multi_slice=False))
    partition: str
    sampler: str
    consistency: str
