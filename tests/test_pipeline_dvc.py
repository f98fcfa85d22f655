"""The whole `dvc repro` pipeline (preview, render → pretrain → ingest → finetune → evaluate → report) at a reduced
smoke scale.

The repository's dvc.yaml is run unchanged in a temporary git repo; only params.yaml is shrunk so the test stays
around a minute. A second `dvc repro` must do nothing, every evaluation must write a finite FID, and the report must
show every run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LOWSHOT = Path(os.environ.get("PRIMPS_LOWSHOT_DIR", ROOT.parent / "shared" / "data" / "lowshot"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("dvc", path=str(Path(sys.executable).parent)) is None, reason="dvc not installed"),
    pytest.mark.skipif(not (LOWSHOT / "obama").is_dir(), reason=f"low-shot sets not found at {LOWSHOT}"),
]


def _run(cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def test_dvc_repro_smoke(tmp_path):
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["preview"].update(n=2, resolution=32)
    params["render"].update(resolution=32, n_images=200, shard_size=100)
    params["pretrain"].update(resolution=32, kimg=0.016, batch=4, snapshot_kimg=0.008)
    params["ingest"].update(resolution=32, targets=["obama"])
    scratch = "--from scratch --train-preset cpu-smoke --resolution 32"
    params["finetune"].update(kimg=0.016, batch=4, eval_every=0, n_gen=8, runs={
        "obama-scratch": {"target": "obama", "args": scratch},
        "obama-freezed": {"target": "obama", "args": "--init runs/pretrain/last.pt --strategy freezed --freeze-d 1"},
    })
    params["evaluate"]["n_gen"] = 16
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), PRIMPS_LOWSHOT_DIR=str(LOWSHOT),
               PRIMPS_CACHE_DIR=str(tmp_path / "cache"), DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    _run(["git", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "init"], repo, env)
    _run(["dvc", "repro"], repo, env)
    for run in ("obama-scratch", "obama-freezed"):
        metrics = json.loads((repo / "eval" / run / "metrics.json").read_text())
        assert math.isfinite(metrics["fid"]) and metrics["fid"] > 0, metrics
        assert metrics["n_gen"] == 16 and metrics["n_real"] == 100
        assert (repo / "eval" / run / "fid_curve.png").stat().st_size > 0
        assert (repo / "eval" / run / "samples.png").stat().st_size > 0
    page = (repo / "report.html").read_text()
    assert "obama, scratch: generated samples" in page and "obama, freezed: generated samples" in page
    assert "after 0.008 kimg" in page and "after 0.016 kimg" in page  # both pretraining snapshots
    assert "obama: real training images" in page and 'class="note"' not in page
    shown = _run(["dvc", "metrics", "show", "--json"], repo, env)
    assert "obama-freezed" in shown and "fid" in shown
    again = _run(["dvc", "repro"], repo, env)
    assert "up to date" in again, again
    # .gitignore covers what the pipeline writes (README "What to commit"); only dvc.lock, which a user commits
    # and DVC refuses to have git-ignored, shows up.
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], repo, env)
    assert status.strip().splitlines() == ["?? dvc.lock"], status
