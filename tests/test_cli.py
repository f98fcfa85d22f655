"""The `primps` command: every sub-command has --help, and usage errors exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from primps.stages.cli import STAGE_MODULES, build_parser

ROOT = Path(__file__).resolve().parents[1]


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_stage_module_registers_a_command():
    assert len(_subcommands()) >= len(STAGE_MODULES)


@pytest.mark.parametrize("name", _subcommands())
def test_subcommand_help(name):
    proc = subprocess.run([sys.executable, "-m", "primps.stages", name, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout and name in proc.stdout


def test_unknown_command_exits_2():
    proc = subprocess.run([sys.executable, "-m", "primps.stages", "no-such-command"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_environment_yml_installs_pyproject_extras():
    """environment.yml must install the same dependency set as pyproject.toml (the source of truth)."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    editable = next(line for line in pip_section if line.startswith("-e ."))
    listed = set(editable.split("[", 1)[1].rstrip("]").split(","))
    assert listed == set(extras), f"environment.yml installs extras {listed}, pyproject defines {set(extras)}"
