"""`primps evaluate` on a tiny cpu-smoke checkpoint against a few ingested real images (real Inception weights)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from primps.stages import evaluate as E
from primps.stages.cli import main as primps
from primps.trainers.runs import read_fid_log

REPO = Path(__file__).resolve().parents[1]
LOWSHOT = Path(os.environ.get("PRIMPS_LOWSHOT_DIR", REPO.parent / "shared" / "data" / "lowshot"))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from primps.stages.ingest import ingest
    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset

    tmp = tmp_path_factory.mktemp("eval")
    files = sorted((LOWSHOT / "obama").glob("*.jpg"))[:8]
    if len(files) < 8:
        pytest.skip("low-shot obama images not available")
    src = tmp / "src"
    src.mkdir()
    for f in files:
        shutil.copy(f, src / f.name)
    res = ingest(src, tmp / "real", 32)
    ck = tmp / "ck.pt"
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr.cur_nimg = 1234
    tr.save(ck)
    log = tmp / "fid.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"kimg": 0.0, "fid": 300.0, "kid": 0.3}, {"kimg": 0.5, "fid": 250.0}, {"kimg": 1.0, "step": 3},
        {"kimg": 1.234, "fid": 240.0}]) + "\n")   # no "seed" field: an older log (fresh seed defaults to 1)
    return tmp, res.manifest_path, ck, log


def test_evaluate_cli_outputs(setup, capsys):
    tmp, manifest, ck, log = setup
    out = tmp / "out"
    args = ["evaluate", str(ck), "--real", str(manifest), "--out", str(out), "--n-gen", "8", "--batch", "8",
            "--log", str(log), "--cache-dir", str(tmp / "cache"), "--grid", "4", "--device", "cpu"]
    assert primps(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    m = json.loads((out / "metrics.json").read_text())
    assert all(isinstance(v, (int, float)) for v in m.values()), m   # numbers only (DVC metrics)
    assert m["fid"] == pytest.approx(printed["fid"]) and m["fid"] > 50  # untrained G is far from real faces
    assert m["n_gen"] == 8 and m["n_real"] == 8 and m["kimg"] == pytest.approx(1.234)
    assert m["fid_select"] == 240.0
    info = json.loads((out / "info.json").read_text())
    assert info["inception_sha256"].startswith("7ff4a85c") and info["checkpoint"].endswith("ck.pt")
    assert info["seed"] == 1 and info["noise"] == "random" and info["kid_subset_size"] == 4   # 8 reals -> subsets of 4
    assert np.isfinite(m["kid"]) and m["kid_std"] > 0
    grid = Image.open(out / "samples.png")
    assert grid.size == (64, 64) and grid.mode == "RGB"
    curve = Image.open(out / "fid_curve.png")
    assert curve.size == (640, 420)   # the one FID-curves figure (trainers.runs.curves_png), 6.4 x 4.2 in at 100 dpi
    assert len(list((tmp / "cache").glob("fidstats-real-*.npz"))) == 1
    assert not list(out.glob("*.tmp*"))


def test_read_fid_log_and_errors(setup, tmp_path, capsys):
    _, manifest, ck, log = setup
    recs = read_fid_log(log)
    assert [r["kimg"] for r in recs] == [0.0, 0.5, 1.234]  # the record without fid is ignored
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kimg": 1}\n')
    base = ["--real", str(manifest), "--out", str(tmp_path / "o"), "--n-gen", "4"]
    assert primps(["evaluate", str(ck), *base, "--log", str(bad)]) == 2
    assert "no records with 'kimg' and 'fid'" in capsys.readouterr().err
    assert primps(["evaluate", str(tmp_path / "none.pt"), *base]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert primps(["evaluate", str(ck), *base, "--inception", str(tmp_path / "no.pt")]) == 2
    assert "Inception weights file not found" in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_evaluate_refuses_selection_seed_and_resolution_mismatch(setup, tmp_path, capsys):
    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset

    tmp, manifest, ck, _ = setup
    log = tmp_path / "fid.jsonl"
    log.write_text(json.dumps({"kimg": 0.0, "fid": 300.0, "kid": 0.3, "seed": 5}) + "\n")
    base = ["--real", str(manifest), "--out", str(tmp_path / "o"), "--n-gen", "4", "--cache-dir", str(tmp / "cache")]
    assert primps(["evaluate", str(ck), *base, "--log", str(log), "--seed", "5"]) == 2
    assert "selected on" in capsys.readouterr().err
    ck64 = tmp_path / "ck64.pt"
    Trainer(get_preset("cpu-smoke", resolution=64), "cpu", 0).save(ck64)
    assert primps(["evaluate", str(ck64), *base]) == 2
    err = capsys.readouterr().err
    assert "is 32x32 but the model resolution is 64" in err and err.count("\n") == 1, err
    assert not (tmp_path / "o" / "metrics.json").exists()
    assert E.selection_seed([{"kimg": 0, "fid": 1.0, "seed": 5}], {}) == 5
