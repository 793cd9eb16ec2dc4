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
    was trained on the slice spacings ``spacings(settings)`` (the network is told which), of
    slices of one ``plane`` (axial, or coronal for TPDM's auxiliary prior)."""

    multi_slice: bool
    spacings: Callable[[Settings], frozenset[int]] = _adjacent
    plane: str = "axial"

    def problems(
        self, settings: Settings, slices: int, spacings: Sequence[int], plane: str = "axial"
    ) -> list[str]:
        if plane != self.plane:
            return [f"needs a prior of {self.plane} slices, got one of {plane} slices"]
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
    kind's keys to the slices of its (main) prior, beyond what the schema can say.
    """

    name: str
    summary: str
    keys: Mapping[str, Mapping[str, Any]]
    required: tuple[str, ...] = ()
    prior: PriorNeed | None = None
    limits: Callable[[Settings, int], list[str]] = _no_limits

    def needs(self) -> dict[str, PriorNeed]:
        """The priors the kind samples with, by the config key that names each."""
        return {"prior": self.prior} if self.prior is not None else {}

    def problems(
        self,
        settings: Settings,
        slices: int,
        spacings: Sequence[int],
        plane: str = "axial",
        key: str = "prior",
    ) -> list[str]:
        """Why ``settings`` cannot run with the prior named by ``key`` (of ``slices`` slices of
        ``plane``, trained on ``spacings``)."""
        need = self.needs().get(key)
        if need is None:
            return []
        problems = need.problems(settings, slices, spacings, plane)
        return problems + self.limits(settings, slices) if key == "prior" else problems


@dataclass(frozen=True, kw_only=True)
class AnalyticKind(MethodKind):
    """A method without a prior: ``algorithm`` names its entry in ``dblend.recon.methods``."""

    algorithm: str


@dataclass(frozen=True, kw_only=True)
class LearnedKind(MethodKind):
    """A method with a network of its own, trained per data set and task on the training
    volumes (FBP-UNet), and no prior: ``algorithm`` names its entry in
    ``dblend.recon.methods.LEARNED``."""

    algorithm: str


@dataclass(frozen=True, kw_only=True)
class DiffusionKind(MethodKind):
    """A diffusion sampler: a prior, and the named partition rule, sampler loop and
    data-consistency step it runs with (``dblend.recon.partitions.PARTITION_RULES``,
    ``dblend.recon.sampler.SAMPLERS``, ``dblend.recon.consistency.CONSISTENCY_STEPS``).
    ``auxiliary_prior`` is a second prior some samplers alternate with (TPDM's coronal one)."""

    prior: PriorNeed = field(default_factory=lambda: PriorNeed(multi_slice=False))
    auxiliary_prior: PriorNeed | None = None
    partition: str
    sampler: str
    consistency: str

    def needs(self) -> dict[str, PriorNeed]:
        auxiliary = {"auxiliary_prior": self.auxiliary_prior} if self.auxiliary_prior else {}
        return {"prior": self.prior, **auxiliary}
