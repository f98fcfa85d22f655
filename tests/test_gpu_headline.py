"""benchmarks/gpu_headline.sh --dry-run: the GPU headline command's path (wheel parts joined and sha256-checked,
environment check, synthesizer JIT warm-up, `primps repro`, results packed into at most 8 files) on the CPU at tiny
scale. About 100 s on the loaded 2-core machine (Inception's first run dominates), so marked slow; CI runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_headline.sh"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_gpu_headline_dry_run(tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, PYTHON=sys.executable)
    p = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--out", str(out)], capture_output=True, text=True,
                       env=env, timeout=580)
    log = p.stdout + p.stderr
    assert p.returncode == 0, log[-4000:]
    assert "sha256 ok" in log and "synthesizer JIT warm" in log
    files = sorted(f.name for f in out.iterdir())
    assert len(files) <= 8 and all(f.is_file() and f.stat().st_size <= 16 << 20 for f in out.iterdir()), files
    assert {"results.json", "results.md", "fid_obama.png", "samples.tar", "run.tgz", "headline.log"} <= set(files)
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] is True, res.keys()


def test_gpu_headline_rejects_unknown_arguments():
    p = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown argument --bogus" in p.stderr


def test_gpu_headline_run_without_stashed_parts_fails_before_any_work(tmp_path):
    (tmp_path / "carry").mkdir()
    env = dict(os.environ, PRIMPS_GPU_STASH=str(tmp_path / "stash"), PRIMPS_GPU_CARRY=str(tmp_path / "carry"),
               OUT=str(tmp_path / "out"))
    p = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert p.returncode != 0 and "FID wheel parts" in p.stdout + p.stderr
