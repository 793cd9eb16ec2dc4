"""The configuration: schema validation with defaults, cross-references, per-job sections.

One JSON schema (``dblend/schemas/config.schema.yaml``) checks every run before any job starts,
whether Snakemake or the CLI loads the config; errors name the key path and what was expected.
Defaults written in the schema are filled in, so every job sees fully specified sections. The
schema of a method entry is assembled from the registry of method kinds (``dblend.recon.kinds``)
and the shared method keys the schema file states once. What the schema cannot say is checked
next: cross-references, U-Net geometry against the slice sizes and crops each network is used
with, and cone-beam tasks on a CPU-only ``device``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dblend.errors import ConfigError
from dblend.experiments import expand_sweeps
from dblend.models.shape import check_network
from dblend.recon.kinds import KINDS, kind_of, needed_priors, trains_model

SCHEMA_PATH = resources.files("dblend") / "schemas" / "config.schema.yaml"
CUDA_TASK_KINDS = ("cone_beam",)
"""Task kinds whose projectors run on CUDA only (ASTRA's 3D GPU code)."""
NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*")
"""What the schema allows as the name of an entry or a run."""
SHARED_FOLDERS = (
    "data",
    "sinograms",
    "priors",
    "fbpunet",
    "recon",
    "nifti",
    "logs",
    "benchmarks",
)
"""Folders of results/ that every run shares; a run (results/<name>/) cannot take these names."""
METHOD_REFERENCES = {"prior": "priors", "auxiliary_prior": "priors", "network": "networks"}
"""Method keys that name an entry of another section."""


def _method_schema(shared: Mapping[str, Any], description: str) -> dict[str, Any]:
    """``$defs.method``: one branch per registered kind, of its shared and its own keys."""
    branches = []
    for kind in KINDS.values():
        properties: dict[str, Any] = {"kind": True}
        for key, overlay in kind.keys.items():
            properties[key] = {**shared[key], **overlay} if key in shared else dict(overlay)
        branches.append(
            {
                "if": {"required": ["kind"], "properties": {"kind": {"const": kind.name}}},
                "then": {
                    "additionalProperties": False,
                    "required": list(kind.required),
                    "properties": properties,
                },
            }
        )
    return {
        "type": "object",
        "description": description,
        "required": ["kind"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": branches,
    }


def schema() -> dict[str, Any]:
    """The full schema, method kinds included, with every local ``$ref`` inlined, so defaults
    sit where they apply (a copy: the caller may change it)."""
    return copy.deepcopy(_parsed_schema())


@functools.cache
def _parsed_schema() -> dict[str, Any]:
    """The schema read once per process (a plan completes the method of every job with it);
    validation only reads it, filling an instance's defaults with copies."""
    loaded = yaml.safe_load(SCHEMA_PATH.read_text())
    definitions = loaded.pop("$defs")
    definitions["method"] = _method_schema(
        definitions["method_keys"]["properties"], definitions["method"]["description"]
    )

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = definitions[node["$ref"].removeprefix("#/$defs/")]
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**target, **siblings})
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {**inline(loaded), "$defs": inline(definitions)}


def _with_defaults(validator_class: type) -> type:
    """A validator that also writes each subschema's defaults into the instance it checks."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def fill(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and key not in instance:
                    instance[key] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": fill})


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _message(error: jsonschema.ValidationError) -> str:
    """The most specific error, phrased for people: where it is and what was expected."""
    leaf = jsonschema.exceptions.best_match([error])
    while leaf.context:
        leaf = jsonschema.exceptions.best_match(leaf.context)
    return f"config key {_path(leaf)}: {leaf.message}"


def validate(config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and check its cross-references."""
    full = _parsed_schema()
    validator_class = _with_defaults(jsonschema.validators.validator_for(full))
    validator = validator_class(full)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError(f"{where}: " + "\n".join(_message(e) for e in errors[:5]))
    _check_references(config)
    _check_networks(config)
    _check_device(config)
    before = set(config["methods"])
    expand_sweeps(config)
    for name in sorted(set(config["methods"]) - before):
        _check_method(config, config["methods"][name], f"swept method {name}")
    return config


def _require(names: Iterable[str], known: Mapping[str, Any], where: str, kind: str) -> None:
    for name in names:
        if name not in known:
            raise ConfigError(
                f"config key {where}: {name!r} is not defined under {kind} "
                f"(defined: {', '.join(sorted(known)) or 'none'})"
            )


def _check_references(config: dict[str, Any]) -> None:
    for name, prior in config["priors"].items():
        _require([prior["network"]], config["networks"], f"priors.{name}.network", "networks")
        extra = sorted({"training", "init"} & set(prior)) if "pretrained" in prior else []
        if extra:
            raise ConfigError(
                f"config key priors.{name}: a pretrained prior is used as it is; "
                f"remove {' and '.join(extra)}"
            )
    for name, method in config["methods"].items():
        for key, section in METHOD_REFERENCES.items():
            if key in method:
                _require([method[key]], config[section], f"methods.{name}.{key}", section)
        _check_prior_fits(config, method, f"methods.{name}")
    for name, experiment in config["experiments"].items():
        where = f"experiments.{name}"
        _require(experiment["datasets"], config["datasets"], f"{where}.datasets", "datasets")
        _require(experiment["tasks"], config["tasks"], f"{where}.tasks", "tasks")
        _require(experiment["methods"], config["methods"], f"{where}.methods", "methods")
    _require(config["run"], config["experiments"], "run", "experiments")
    for task_name, task in config["tasks"].items():
        overrides = task.get("method_overrides", {})
        where = f"tasks.{task_name}.method_overrides"
        _require(overrides, config["methods"], where, "methods")
        for method_name in overrides:
            method_for_task(config, method_name, task_name)


def _sizes(config: dict[str, Any], dataset: str) -> dict[str, int]:
    """The in-plane slice sizes a data set's volumes will have, by the config key setting each."""
    entry = config["datasets"][dataset]
    where = f"datasets.{dataset}"
    if entry["source"] == "embedded":
        return {f"{where}.size": entry["size"]}
    sizes = {f"{where}.preprocess.size": entry["preprocess"]["size"]}
    for patient, overrides in entry.get("per_patient", {}).items():
        if "size" in overrides:
            sizes[f"{where}.per_patient.{patient}.size"] = overrides["size"]
    return sizes


def _network_users(config: dict[str, Any], method: str) -> dict[str, dict[str, Any]]:
    """What trains a network for ``method``, by its config key: its priors, or itself (FBP-UNet)."""
    entry = config["methods"][method]
    users = {f"priors.{entry[key]}": config["priors"][entry[key]] for key in needed_priors(entry)}
    if trains_model(entry):
        users[f"methods.{method}"] = entry
    return users


def _check_networks(config: dict[str, Any]) -> None:
    """Each network can be built and takes every slice size and crop a model of it meets."""
    sizes: dict[str, dict[str, int]] = {name: {} for name in config["networks"]}
    for experiment in config["experiments"].values():
        for method in experiment["methods"]:
            for where, user in _network_users(config, method).items():
                network = sizes[user["network"]]
                trainings = {  # none for a published prior, two with a fine-tuning recipe
                    f"{where}.training": user.get("training"),
                    f"{where}.init.training": (user.get("init") or {}).get("training"),
                }
                for key, training in trainings.items():
                    if training and training["crop"] is not None:
                        network[f"{key}.crop"] = training["crop"]
                for dataset in experiment["datasets"]:
                    network.update(_sizes(config, dataset))
    for name, network in config["networks"].items():
        check_network(network, f"config key networks.{name}", sizes[name])


def cuda_tasks(config: Mapping[str, Any]) -> list[str]:
    """Tasks of the experiments that need CUDA (cone beam), in config order."""
    used = {task for entry in config["experiments"].values() for task in entry["tasks"]}
    return [
        name
        for name, task in config["tasks"].items()
        if name in used and task["kind"] in CUDA_TASK_KINDS
    ]


def _check_device(config: dict[str, Any]) -> None:
    tasks = cuda_tasks(config)
    if config["device"] == "cpu" and tasks:
        raise ConfigError(
            f"config key device: 'cpu', but tasks {', '.join(tasks)} are cone beam, which "
            "needs CUDA; use auto or cuda (and a machine or cluster profile with a GPU)"
        )


def _check_prior_fits(config: dict[str, Any], method: dict[str, Any], where: str) -> None:
    """Refuse a method whose priors' slices, spacings or planes cannot serve it (a patch method
    on a 1-slice prior, a window stride beyond the patch, TPDM's auxiliary prior on axial
    slices), before any job runs."""
    kind = kind_of(method)
    for key in kind.needs():
        prior = config["priors"].get(method.get(key))
        if prior is None:
            continue
        plane = prior.get("plane", "axial")
        problems = kind.problems(method, prior["slices"], prior["spacings"], plane, key)
        if problems:
            raise ConfigError(f"{where}: {method['kind']} with {key} {method[key]!r} {problems[0]}")


def complete_method(settings: dict[str, Any], where: str = "method") -> dict[str, Any]:
    """Validate one method entry against its kind's keys, filling its defaults (in place)."""
    method_schema = _parsed_schema()["$defs"]["method"]
    validator = _with_defaults(jsonschema.validators.validator_for(method_schema))(method_schema)
    errors = list(validator.iter_errors(settings))
    if errors:
        raise ConfigError(f"{where}: " + _message(errors[0]))
    return settings


def _check_method(config: dict[str, Any], settings: dict[str, Any], where: str) -> None:
    complete_method(settings, where)
    _check_prior_fits(config, settings, where)


def method_for_task(config: dict[str, Any], method: str, task: str) -> dict[str, Any]:
    """A method's settings with the task's overrides applied, validated again as a method."""
    overrides = config["tasks"][task].get("method_overrides", {}).get(method, {})
    merged = {**config["methods"][method], **overrides}
    where = f"tasks.{task}.method_overrides.{method} (merged with methods.{method})"
    _check_method(config, merged, where)
    return merged


def prior_training(config: Mapping[str, Any], prior: str, dataset: str) -> dict[str, Any]:
    """A prior's training settings on a data set: ``init.training`` (the fine-tuning recipe)
    when an init checkpoint is set and has one, else ``training``; per-data-set steps resolved."""
    entry = config["priors"][prior]
    init = entry.get("init") or {}
    key = f"priors.{prior}.init.training" if init.get("path") and "training" in init else None
    training = dict(init["training"] if key else entry["training"])
    steps = training["steps"]
    if isinstance(steps, Mapping):
        if dataset not in steps:
            raise ConfigError(
                f"config key {key or f'priors.{prior}.training'}.steps: no steps for data set "
                f"{dataset!r} (it names {', '.join(sorted(steps))})"
            )
        training["steps"] = steps[dataset]
    return training


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` on top of ``base`` key by key (nested mappings merge, others replace)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load(*paths: str | os.PathLike) -> dict[str, Any]:
    """Load YAML files (later ones overlay earlier ones, as Snakemake does) and validate."""
    config: dict[str, Any] = {}
    for path in paths:
        try:
            with open(path) as handle:
                overlay = yaml.safe_load(handle) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path}: cannot read the config file ({err})") from err
        config = deep_merge(config, overlay)
    return validate(config, where=", ".join(str(p) for p in paths))


def run_name(
    config: Mapping[str, Any],
    overlays: Sequence[str | os.PathLike],
    command_line: Mapping[str, Any],
) -> str:
    """The run's name: ``name`` when the command line (``--config name=...``) or an overlay
    sets it; otherwise the file name of the last overlay (``config/my_ct.yaml`` -> ``my_ct``),
    so an overlay without a name never writes into another run's folder; with no overlay, the
    default config's name."""
    name = config["name"]
    if "name" not in command_line and overlays and not any(map(_sets_name, overlays)):
        name = Path(overlays[-1]).stem
        if not NAME.fullmatch(name):
            raise ConfigError(
                f"{overlays[-1]}: sets no `name`, and its file name {name!r} cannot name the "
                "run (letters, digits and single underscores); add `name: <run>` to it"
            )
    if name in SHARED_FOLDERS:
        raise ConfigError(
            f"config key name: {name!r} is a folder every run shares under results/; "
            f"choose another (not one of {', '.join(SHARED_FOLDERS)})"
        )
    return name


def _sets_name(path: str | os.PathLike) -> bool:
    with open(path) as handle:
        return "name" in (yaml.safe_load(handle) or {})


def job_seed(config: Mapping[str, Any], *names: str) -> int:
    """A stable 31-bit seed for one job, from the base seed and the job's names."""
    text = "/".join([str(config["seed"]), *names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
