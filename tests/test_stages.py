"""One name per stage: every rule runs the `dblend` subcommand of its own name, and every stage
module of the package is run by the rule of that name."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dblend.cli import commands, main

ROOT = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", re.MULTILINE | re.DOTALL)
SUBCOMMAND = re.compile(r'"dblend (?:--threads \{threads\} )?(\w+)')


def rule_subcommands() -> dict[str, list[str]]:
    """Each named rule of the workflow and the dblend subcommands its shell line runs."""
    rules = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for name, body in RULE.findall(path.read_text()):
            rules[name] = SUBCOMMAND.findall(body)
    return rules


def stage_names() -> set[str]:
    return {
        name for name, module in commands().items() if module.__name__.startswith("dblend.stages.")
    }


def test_every_rule_runs_the_subcommand_of_its_own_name():
    rules = rule_subcommands()
    assert rules, "no rules found"
    for name, subcommands in rules.items():
        assert subcommands == [name], f"rule {name} runs {subcommands}"


def test_every_stage_is_run_by_a_rule_and_every_rule_is_a_stage():
    assert set(rule_subcommands()) == stage_names()


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_has_a_function_of_its_name_and_help(name, capsys):
    module = commands()[name]
    assert callable(getattr(module, name)), f"{module.__name__} has no function {name}"
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    summary = module.__doc__.strip().splitlines()[0]
    assert summary in " ".join(capsys.readouterr().out.split()), (
        "the module's docstring is its help"
    )


def test_dblend_help_lists_every_stage_and_tool():
    result = subprocess.run(
        [sys.executable, "-m", "dblend.cli", "--help"], capture_output=True, text=True, check=True
    )
    for name in commands():
        assert name in result.stdout
