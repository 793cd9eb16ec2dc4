"""The config schema: defaults, unknown keys, wrong types and broken references, named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dblend.config import (
    deep_merge,
    load,
    method_for_task,
    prior_training,
    run_name,
    schema,
    validate,
)
from dblend.errors import ConfigError
from dblend.recon.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


SHIPPED = sorted(
    str(p.relative_to(ROOT / "config"))
    for pattern in ("*.yaml", "test/*.yaml")
    for p in (ROOT / "config").glob(pattern)
)


# Configs that overlay paper.yaml rather than the default alone.
PAPER_OVERLAYS = {"imagenet_init.yaml", "dds_prior.yaml"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_are_valid(name):
    paths = [ROOT / "config" / "config.yaml"]
    if name in PAPER_OVERLAYS:
        paths.append(ROOT / "config" / "paper.yaml")
    if name != "config.yaml":
        paths.append(ROOT / "config" / name)
    config = load(*paths)
    assert config["methods"]["dds"]["cg_iters"] == 5
    assert set(config["run"]) <= set(config["experiments"])


def test_seed_study_replicates_the_demo_priors_and_methods_under_other_names():
    config = load(ROOT / "config" / "config.yaml", ROOT / "config" / "seed_study.yaml")
    for copy in "bcd":
        for prior in ("patch", "slice"):
            assert config["priors"][f"{prior}_{copy}"] == config["priors"][prior]
        for method, prior in (("dds", "slice"), ("diffusionblend_pp", "patch")):
            replica = dict(config["methods"][f"{method}_{copy}"])
            assert replica.pop("prior") == f"{prior}_{copy}"
            assert replica.pop("label") == f"{config['methods'][method]['label']} {copy}"
            assert replica == {
                k: v for k, v in config["methods"][method].items() if k not in ("prior", "label")
            }


def test_fast_priors_change_only_the_two_priors_steps_and_rate():
    base = load(ROOT / "config" / "config.yaml")
    fast = load(ROOT / "config" / "config.yaml", ROOT / "config" / "fast_priors.yaml")
    for prior, schedule in {"patch": (1000, 0.004), "slice": (1800, 0.002)}.items():
        training = dict(fast["priors"][prior]["training"])
        assert (training.pop("steps"), training.pop("learning_rate")) == schedule
        assert training == {
            k: v
            for k, v in base["priors"][prior]["training"].items()
            if k not in ("steps", "learning_rate")
        }
        fast["priors"][prior]["training"] = base["priors"][prior]["training"]
    assert fast == {**base, "name": "fast_priors"}, "nothing else differs, TPDM's prior included"


def _schema_keys(node: object) -> set[str]:
    """Every property name the schema defines, at any depth."""
    if isinstance(node, list):
        return set().union(*map(_schema_keys, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    keys = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) else set()
    return keys | set().union(*map(_schema_keys, node.values()))


def test_config_readme_documents_every_schema_key():
    readme = (ROOT / "config" / "README.md").read_text()
    undocumented = sorted(key for key in _schema_keys(schema()) if f"`{key}`" not in readme)
    assert not undocumented, f"config/README.md does not mention {undocumented}"


def test_config_readme_has_a_row_for_every_method_kind():
    readme = (ROOT / "config" / "README.md").read_text()
    missing = sorted(name for name in KINDS if f"\n| `{name}` |" not in readme)
    assert not missing, f"config/README.md's table of kinds lacks {missing}"


def test_the_method_schema_has_one_branch_per_kind_from_the_registry():
    method = schema()["$defs"]["method"]
    assert method["properties"]["kind"]["enum"] == list(KINDS)
    branches = {b["if"]["properties"]["kind"]["const"]: b["then"] for b in method["allOf"]}
    assert set(branches) == set(KINDS)
    for name, kind in KINDS.items():
        assert set(branches[name]["properties"]) == {"kind", *kind.keys}, name
        assert branches[name]["required"] == list(kind.required), name
    shared = schema()["$defs"]["method_keys"]["properties"]
    assert branches["dds"]["properties"]["steps"] == shared["steps"], "stated once, shared"
    assert branches["diffusionmbir"]["properties"]["cg_iters"]["default"] == 1
    assert branches["dds"]["properties"]["cg_iters"]["default"] == 5


def test_windows_further_apart_than_the_patch_are_refused_before_any_job(config):
    config["methods"]["diffusionblend"]["window_stride"] = 4
    with pytest.raises(ConfigError, match=r"methods\.diffusionblend: .*window_stride 4 exceeds"):
        validate(config)


def test_a_task_override_that_leaves_slices_without_windows_is_refused(config):
    config["tasks"]["sv8"]["method_overrides"] = {"diffusionblend": {"window_stride": 5}}
    with pytest.raises(ConfigError, match=r"tasks\.sv8\.method_overrides\.diffusionblend"):
        validate(config)


def test_a_prior_that_cannot_serve_its_method_is_refused_before_any_job(config):
    config["methods"]["diffusionblend_pp"]["prior"] = "slice"
    with pytest.raises(ConfigError, match=r"methods\.diffusionblend_pp: .*multi-slice prior"):
        validate(config)


def test_defaults_are_filled(config):
    validate(config)
    assert config["tasks"]["sv8"]["noise"] == {"model": "none"}
    assert config["tasks"]["sv8"]["detector_bins"] is None
    assert config["methods"]["diffusionblend_pp"]["adjacent_shift"] is True
    assert config["priors"]["patch"]["training"]["grad_clip"] == 1.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["tasks"]["sv8"].update(view=3), r"tasks\.sv8.*'view' was unexpected"),
        (lambda c: c["methods"]["dds"].update(steps="many"), r"methods\.dds\.steps: 'many'"),
        (lambda c: c.update(sed=1), r"'sed' was unexpected"),
        (lambda c: c["priors"]["patch"].update(network="huge"), r"priors\.patch\.network: 'huge'"),
        (
            lambda c: c["experiments"]["demo"].update(methods=["nope"]),
            r"experiments\.demo\.methods: 'nope' is not defined",
        ),
        (lambda c: c.update(run=["demo", "other"]), r"run: 'other' is not defined"),
        (
            lambda c: c["experiments"]["demo"].update(sweep={"key": "stepz", "values": [1]}),
            r"method fbp \(fbp\) has no key 'stepz'",
        ),
        (lambda c: c["datasets"]["demo"].pop("size"), r"datasets\.demo: 'size' is a required"),
        (
            lambda c: c["priors"]["patch"]["training"].update(lr_schedule="linear"),
            r"priors\.patch\.training\.lr_schedule: 'linear' is not one of",
        ),
        (
            lambda c: c["tasks"]["la90"]["method_overrides"]["dds"].update(jump=1),
            r"tasks\.la90\.method_overrides\.dds.*'jump' was unexpected",
        ),
        (lambda c: c["priors"]["slice"].update(depth="pad"), r"priors\.slice: .* should not be"),
        (
            lambda c: c["priors"]["slice"].update(plane="sagittal"),
            r"priors\.slice\.plane: 'sagittal' is not one of",
        ),
    ],
)
def test_bad_configs_are_refused_naming_the_key(config, change, message):
    change(config)
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_a_coronal_prior_gets_a_depth_mode_and_axial_priors_stay_as_they_were(config):
    config["priors"]["coronal"] = {**config["priors"]["slice"], "plane": "coronal"}
    validate(config)
    assert config["priors"]["coronal"]["depth"] == "pad"
    assert "plane" not in config["priors"]["slice"] and "depth" not in config["priors"]["slice"]


def test_task_overrides_apply_to_their_method_only(config):
    validate(config)
    assert method_for_task(config, "dds", "la90")["lam"] != config["methods"]["dds"]["lam"]
    assert method_for_task(config, "dds", "sv8") == config["methods"]["dds"]


def test_overlays_merge_nested_keys():
    base = {"a": {"b": 1, "c": 2}, "d": [1]}
    merged = deep_merge(base, {"a": {"b": 5}, "d": [2]})
    assert merged == {"a": {"b": 5, "c": 2}, "d": [2]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1]}


def test_unreadable_config_file_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    with pytest.raises(ConfigError, match=r"bad\.yaml: cannot read"):
        load(bad)


def test_sweeps_become_methods_of_their_own(config):
    config["experiments"]["nfe"] = {
        "datasets": ["demo"], "tasks": ["sv8"], "methods": ["dds"],
        "sweep": {"key": "steps", "values": [10, 20]},
    }  # fmt: skip
    validate(config)
    assert config["methods"]["dds_steps_10"]["steps"] == 10
    assert config["methods"]["dds_steps_20"]["label"] == "DDS (tuned) steps=20"
    assert config["methods"]["dds_steps_20"]["rho"] == config["methods"]["dds"]["rho"]


def test_a_pretrained_prior_takes_no_training(config):
    config["priors"]["slice"]["pretrained"] = {"path": "dds.pt", "format": "adm"}
    with pytest.raises(ConfigError, match=r"priors\.slice: a pretrained prior is used as it is"):
        validate(config)
    del config["priors"]["slice"]["training"]
    validate(config)
    assert config["priors"]["slice"]["pretrained"]["attention_order"] == "legacy"


def test_training_steps_per_data_set_are_resolved_for_each(config):
    config["priors"]["patch"]["training"]["steps"] = {"demo": 7}
    validate(config)
    assert prior_training(config, "patch", "demo")["steps"] == 7
    with pytest.raises(ConfigError, match=r"priors\.patch\.training\.steps: no steps for .*'lidc'"):
        prior_training(config, "patch", "lidc")


def test_the_init_recipe_replaces_training_only_when_a_path_is_set(config):
    recipe = {"steps": 3, "batch_size": 2}
    config["priors"]["patch"]["init"] = {"path": None, "format": "adm", "training": recipe}
    validate(config)
    assert prior_training(config, "patch", "demo")["steps"] == 2400
    config["priors"]["patch"]["init"]["path"] = "adm.pt"
    assert prior_training(config, "patch", "demo")["batch_size"] == 2


def test_every_shipped_config_names_its_own_run():
    names = [yaml.safe_load((ROOT / "config" / name).read_text())["name"] for name in SHIPPED]
    assert len(set(names)) == len(names), names


def test_run_name_comes_from_the_config_or_the_overlay_file(config, tmp_path):
    named, unnamed = tmp_path / "named.yaml", tmp_path / "my_ct.yaml"
    named.write_text("name: paper_b\n")
    unnamed.write_text("seed: 3\n")
    merged = {**config, "name": "paper_b"}
    assert run_name(config, [], {}) == "demo"
    assert run_name(config, [unnamed], {}) == "my_ct"
    assert run_name(merged, [named, unnamed], {}) == "paper_b", "an overlay that names it wins"
    assert run_name({**config, "name": "cli"}, [unnamed], {"name": "cli"}) == "cli"
    odd = tmp_path / "my-ct.yaml"
    odd.write_text("seed: 3\n")
    with pytest.raises(ConfigError, match=r"my-ct.yaml: sets no `name`.*add `name: <run>`"):
        run_name(config, [odd], {})
    with pytest.raises(ConfigError, match="config key name: 'priors' is a folder every run"):
        run_name({**config, "name": "priors"}, [], {})
