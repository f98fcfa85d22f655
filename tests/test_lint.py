"""The whole tree passes `ruff check` (pyproject.toml [tool.ruff]: 120 columns, pycodestyle E/W, pyflakes F, isort I),
so the README's test command, and .ci/run with it, fails on a lint error."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, "ruff check found problems (run `.venv/bin/ruff check --fix .`):\n" + r.stdout + r.stderr
