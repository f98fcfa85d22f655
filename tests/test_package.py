"""The installed distribution: one `primps` package, no generic top-level names, a small public API."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

import primps


def _in_clean_process(code: str, cwd) -> str:
    """Run ``code`` from an unrelated directory, so the source tree is not on sys.path (only the install is)."""
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_only_primps_is_installed_at_top_level(tmp_path):
    code = "from importlib.metadata import distribution as d; print(d('primps').read_text('top_level.txt'))"
    assert _in_clean_process(code, tmp_path).split() == ["primps"]


def test_sub_packages_import_under_primps_in_a_clean_process(tmp_path):
    # From an unrelated directory, only `primps.*` resolves; the bare names do not.
    code = ("import importlib.util as u, primps.pipeline.synth, primps.stages.cli, primps.trainers.presets; "
            "print([u.find_spec(n) is None for n in ('pipeline', 'stages', 'trainers')])")
    assert _in_clean_process(code, tmp_path) == "[True, True, True]"


def test_version_flag():
    r = subprocess.run([sys.executable, "-m", "primps.stages", "--version"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0
    assert r.stdout.strip() == f"primps {primps.__version__}"
    assert primps.__version__ != "0+unknown"


def test_public_api_render_one_is_the_synthesizer():
    from primps.pipeline.config import SynthConfig
    from primps.pipeline.synth import render_one

    cfg = SynthConfig(height=32, width=48)
    a = primps.render_one(cfg, seed=3, index=5)
    assert a.shape == (32, 48, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_one(cfg, 3, 5))
    assert np.array_equal(primps.render_one({"height": 32, "width": 48}, 3, 5), a)
    assert primps.SynthConfig is SynthConfig
