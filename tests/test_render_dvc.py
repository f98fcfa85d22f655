"""`dvc repro` runs the render stage from dvc.yaml/params.yaml; a second `dvc repro` does nothing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).with_name("dvc")


@pytest.mark.skipif(not DVC.exists() or shutil.which("git") is None, reason="dvc or git not installed")
def test_dvc_repro_render_then_noop(tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, work / name)
    for pkg in ("pipeline", "stages"):
        shutil.copytree(REPO / pkg, work / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["render"].update(resolution=32, n_images=30, shard_size=10)  # keep the test small
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    # only the render stage: the other stages' inputs do not exist in this temp repo
    stages = yaml.safe_load((work / "dvc.yaml").read_text())
    (work / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"render": stages["stages"]["render"]}}))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "primps"  # the installed package's main(), whatever venv runs the tests
    shim.write_text(f"#!{sys.executable}\nimport sys\nfrom primps.stages.cli import main\n"
                    "if __name__ == '__main__':  # Dask spawns workers that re-import this script\n"
                    "    sys.exit(main())\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", DVC_NO_ANALYTICS="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

    def sh(*cmd):
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
        return r.stdout + r.stderr

    sh("git", "init", "-q")
    sh(str(DVC), "init", "-q")
    sh(str(DVC), "config", "core.analytics", "false")
    out1 = sh(str(DVC), "repro", "render")
    assert "Running stage 'render'" in out1
    assert len(list((work / "data/synthetic/render").glob("shard-*.tar"))) == 3
    assert (work / "manifests/render.json").is_file() and (work / "dvc.lock").is_file()
    out2 = sh(str(DVC), "repro", "render")
    assert "Running stage" not in out2 and "didn't change" in out2
