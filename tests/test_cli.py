"""The `primps` command: every sub-command has --help, and usage errors exit 2 with one line."""

from __future__ import annotations

import re
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


def _all_parsers(parser, prefix=("primps",)):
    yield " ".join(prefix), parser
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, (*prefix, name))


def test_help_says_required_and_shows_defaults_once():
    for name, parser in _all_parsers(build_parser()):
        text = parser.format_help()
        assert "(default: None)" not in text, name
        for action in parser._actions:
            if not action.option_strings or action.help == "==SUPPRESS==":
                continue
            line = parser._get_formatter()._expand_help(action) if action.help else ""
            assert len(re.findall(r"\(default|default:", line.lower())) <= 1, (name, action.option_strings, line)
            if action.required:
                assert "required" in line, (name, action.option_strings, line)


@pytest.mark.parametrize("argv, dest, value", [
    (["preview", "--n", "5", "--out", "x.png"], "n", 5),
    (["preview", "-n", "5", "--out", "x.png"], "n", 5),
    (["bench", "synth", "--n", "7"], "n", 7),
    (["evaluate", "c.pt", "--real", "m", "--out", "o", "--n-gen", "9"], "n_gen", 9),
    (["evaluate", "c.pt", "--real", "m", "--out", "o", "-n", "9"], "n_gen", 9),
    (["finetune", "--manifest", "m", "--kimg", "1", "--out", "o", "--n-gen", "11"], "n_gen", 11),
    (["finetune", "--manifest", "m", "--kimg", "1", "--out", "o", "--eval-n-images", "11"], "n_gen", 11),
    (["pretrain", "--manifest", "m", "--kimg", "1", "--out", "o", "--workers", "2"], "workers", 2),
    (["pretrain", "--manifest", "m", "--kimg", "1", "--out", "o", "--loader-workers", "2"], "workers", 2),
])
def test_old_spellings_are_hidden_aliases(argv, dest, value):
    assert getattr(build_parser().parse_args(argv), dest) == value
    parser = dict(_all_parsers(build_parser()))[" ".join(["primps", *argv[:2]]) if argv[0] == "bench"
                                                 else f"primps {argv[0]}"]
    text = parser.format_help()
    assert "--n-gen" not in text and " --n " not in text and "--workers" not in text.replace("--loader-workers", "")


def test_one_default_per_concept():
    p = build_parser()
    defaults = {c: p.parse_args(a) for c, a in {
        "render": ["render"], "ingest": ["ingest", "s", "-r", "32", "--out", "o"],
        "pretrain": ["pretrain", "--manifest", "m", "--kimg", "1", "--out", "o"],
        "finetune": ["finetune", "--manifest", "m", "--kimg", "1", "--out", "o"]}.items()}
    assert defaults["render"].shard_size == defaults["ingest"].shard_size
    assert defaults["pretrain"].train_preset == defaults["finetune"].train_preset
