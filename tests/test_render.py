"""Render stage: deterministic shards and manifest, resume after kill -9, verify, plain webdataset/wids/tar reading,
bad parameters (exit 2, nothing written)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# Runs the real `primps` main() of the installed package.
CLI = "import sys; from primps.stages.cli import main; sys.exit(main(sys.argv[1:]))"
N, SHARD, RES = 48, 12, "32"  # 4 shards


def primps(*args, cwd, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", CLI, *map(str, args)], cwd=cwd, env=e, capture_output=True,
                          text=True, **kw)


def render_args(workers):
    return ["render", "--resolution", RES, "-n", N, "--shard-size", SHARD, "--seed", 7, "--root", "data",
            "--manifest-dir", "man", "--workers", workers, "--no-progress"]


def tree_bytes(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ref(tmp_path_factory) -> Path:
    """An uninterrupted render with a 1-worker local Dask cluster."""
    d = tmp_path_factory.mktemp("ref")
    r = primps(*render_args(1), cwd=d, timeout=120)
    assert r.returncode == 0, r.stderr
    return d


def _manifest(base: Path) -> Path:
    (m,) = list((base / "man").glob("*.json"))
    return m


def test_two_workers_byte_identical(ref, tmp_path):
    r = primps(*render_args(2), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    a, b = tree_bytes(ref), tree_bytes(tmp_path)
    assert sorted(a) == sorted(b)
    assert a == b
    man = json.loads(_manifest(ref).read_text())
    assert man["n_images"] == N and len(man["shards"]) == N // SHARD
    assert man["kind"] == "synthetic" and man["config"]["height"] == 32
    assert man["dataset_id"] == _manifest(ref).stem


def test_different_seed_is_different_dataset(ref, tmp_path):
    args = render_args(0)
    args[args.index("--seed") + 1] = 8
    r = primps(*args, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _manifest(tmp_path).name != _manifest(ref).name


def test_kill9_then_resume_gives_same_output(ref, tmp_path):
    env = {"PRIMPS_TEST_SHARD_DELAY_S": "1.5"}
    e = dict(os.environ, **env)
    proc = subprocess.Popen([sys.executable, "-c", CLI, *map(str, render_args(0))], cwd=tmp_path, env=e,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not list(tmp_path.glob("data/*/.primps/*.sha256.json")):
            time.sleep(0.05)
        time.sleep(0.3)  # the second shard is now part-written under its tmp name
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = list(tmp_path.glob("data/*/.primps/*.sha256.json"))
    assert 1 <= len(done) < N // SHARD, "render was not interrupted part way"
    assert not (tmp_path / "man").exists() or not list((tmp_path / "man").glob("*.json"))
    r = primps(*render_args(1), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "skipped" in r.stderr and f"{len(done) * SHARD} skipped" in r.stderr
    assert tree_bytes(tmp_path) == tree_bytes(ref)


def test_verify_ok_and_flipped_byte_and_missing(ref, tmp_path):
    shutil.copytree(ref, tmp_path / "copy")  # a copied tree still resolves (relative shard paths)
    base = tmp_path / "copy"
    m = _manifest(base)
    r = primps("verify", m, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (shard_dir,) = list((base / "data").iterdir())
    assert primps("verify", shard_dir, cwd=tmp_path).returncode == 0
    victim = shard_dir / "shard-000002.tar"
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0x01
    victim.write_bytes(bytes(data))
    (shard_dir / "shard-000003.tar").unlink()
    r = primps("verify", m, cwd=tmp_path)
    assert r.returncode == 1
    assert "shard-000002.tar" in r.stderr and "sha256" in r.stderr
    assert "shard-000003.tar: missing" in r.stderr
    assert "shard-000000.tar" not in r.stderr and "shard-000001.tar" not in r.stderr
    r = primps("verify", base / "man", cwd=tmp_path)
    assert r.returncode == 1


def test_plain_webdataset_tar_and_wids_read_back(ref):
    import webdataset as wds

    from primps.pipeline.config import SynthConfig
    from primps.pipeline.synth import render_one

    (shard_dir,) = list((ref / "data").iterdir())
    urls = [str(p) for p in sorted(shard_dir.glob("shard-*.tar"))]
    # plain webdataset, no primps involved in reading
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("rgb8"))
    assert len(samples) == N
    man = json.loads(_manifest(ref).read_text())
    cfg = SynthConfig.from_dict(man["config"])
    for i, s in enumerate(samples):
        assert s["__key__"] == f"{i:06d}"
        assert s["json"] == {"index": i, "seed": 7, "variant": cfg.variant, "config_hash": man["config_hash"]}
        np.testing.assert_array_equal(s["png"], render_one(cfg, 7, i))
    out = subprocess.run(["tar", "-tf", urls[1]], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["000012.json", "000012.png"] and len(out) == 2 * SHARD
    import wids

    # the index lies in .primps/ with urls relative to itself; localname reads the shards in place (no /tmp copy)
    ds = wids.ShardListDataset(str(shard_dir / ".primps" / "wids-index.json"), localname=os.path.abspath,
                               transformations=[])
    assert len(ds) == N
    assert ds[30]["__key__"] == "000030"
    index = json.loads((shard_dir / ".primps" / "wids-index.json").read_text())
    assert [s["filesize"] for s in index["shardlist"]] == [os.path.getsize(u) for u in urls]
    assert sum(s.get("filesize", 0) for s in ds.shards) == sum(os.path.getsize(u) for u in urls) > 0  # wids nbytes


def test_dataset_card_beside_the_shards(ref):
    (shard_dir,) = list((ref / "data").iterdir())
    card = (shard_dir / "README.md").read_text()
    man = json.loads(_manifest(ref).read_text())
    for needle in (man["dataset_id"], man["generator_version"], man["config_hash"], "seed | `7`",
                   f"{N} in 4 shard(s)", "no personal data", "wds.WebDataset(", "wids.ShardListDataset(",
                   '"variant": "primitives-ps"'):
        assert needle in card, needle


@pytest.mark.parametrize("args, needle", [
    (["-n", "0"], "--n-images"),
    (["--shard-size", "-3"], "--shard-size"),
    (["--format", "gif"], "format"),
    (["--format", "jpg", "--quality", "0"], "quality"),
    (["--variant", "stripes"], "variant"),
    (["--resolution", "7"], "resolution"),
    (["--config", "nope.yaml"], "nope.yaml"),
    (["--config", "bad.yaml"], "bad.yaml"),
    (["--root", "afile/sub"], "afile"),
    (["--manifest-dir", "afile"], "afile"),
    (["--workers", "-1"], "workers"),
    (["--min-shards", "-1"], "--min-shards"),
])
def test_bad_parameters_exit_2_and_write_nothing(tmp_path, args, needle):
    (tmp_path / "bad.yaml").write_text("variant: [unclosed\n")
    (tmp_path / "afile").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    r = primps("render", "-n", 4, "--resolution", 32, "--root", "out", "--manifest-dir", "mans", *args,
               "--workers", "0" if "--workers" not in args else args[args.index("--workers") + 1], cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_write_shard_is_deterministic_and_sidecar_checks(tmp_path):
    from primps.pipeline.shards import count_samples, encode_image, shard_is_complete, write_shard

    img = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    samples = [(f"{i:04d}", {"png": encode_image(img, "png"), "cls": b"%d" % i}) for i in range(5)]
    a = write_shard(tmp_path / "a.tar", samples)
    b = write_shard(tmp_path / "b.tar", samples)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    assert a.sha256 == b.sha256 and a.n_samples == 5 and a.bytes == (tmp_path / "a.tar").stat().st_size
    assert count_samples(tmp_path / "a.tar") == (5, ["cls", "png"])
    assert shard_is_complete(tmp_path / "a.tar", 5) == a
    assert shard_is_complete(tmp_path / "a.tar", 6) is None
    raw = bytearray((tmp_path / "a.tar").read_bytes())
    raw[700] ^= 0xFF
    (tmp_path / "a.tar").write_bytes(bytes(raw))
    assert shard_is_complete(tmp_path / "a.tar") is None
    with pytest.raises(ValueError):
        write_shard(tmp_path / "c.tar", [("a.b", {"png": b""})])
    assert not list(tmp_path.glob("c.tar*"))  # no tmp file left behind


@pytest.mark.parametrize("fmt", ["png", "jpg", "npy"])
def test_encode_decode_roundtrip(fmt):
    from primps.pipeline.shards import decode_image, encode_image

    yy, xx = np.mgrid[0:24, 0:20]
    img = np.stack([yy * 8, xx * 10, (yy + xx) * 4], axis=2).astype(np.uint8)  # smooth: JPEG stays close
    out = decode_image(encode_image(img, fmt, 95), fmt)
    assert out.shape == img.shape and out.dtype == np.uint8
    if fmt == "jpg":
        assert np.abs(out.astype(int) - img).mean() < 4
    else:
        np.testing.assert_array_equal(out, img)


def test_load_manifest_errors(tmp_path):
    from primps.pipeline.errors import UsageError
    from primps.pipeline.manifest import load_manifest

    with pytest.raises(UsageError, match="not found"):
        load_manifest(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{}")
    with pytest.raises(UsageError, match="not a primps manifest"):
        load_manifest(tmp_path / "y.json")


def test_fixed_dataset_name_rerender_with_other_params_replaces_shards(tmp_path):
    from primps.pipeline.manifest import load_manifest

    base = ["render", "--root", "data", "--manifest-dir", "man", "--dataset-name", "fixed", "--workers", 0,
            "--no-progress", "--seed", 1]
    r = primps(*base, "--resolution", 32, "-n", 30, "--shard-size", 10, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = primps(*base, "--resolution", 16, "-n", 20, "--shard-size", 10, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "0 skipped" in r.stderr  # same shard names and counts, but other parameters: nothing reused
    m = load_manifest(tmp_path / "man" / "fixed.json")
    assert m.resolution == (16, 16) and m.n_images == 20
    assert sorted(p.name for p in (tmp_path / "data" / "fixed").glob("shard-*.tar")) == \
        ["shard-000000.tar", "shard-000001.tar"]
    assert primps("verify", tmp_path / "data" / "fixed", cwd=tmp_path).returncode == 0


def test_non_square_render_warns_in_one_line(tmp_path):
    """Only square images are the paper's look (README, Non-square): a non-square render says so, once."""
    from primps.pipeline.lookrule import non_square_warning

    assert non_square_warning(64, 64, "render") is None
    r = primps("render", "--resolution", "16x24", "-n", 2, "--root", "d", "--manifest-dir", "m", "--workers", 0,
               "--min-shards", 0, "--no-progress", cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "16x24 is not square" in warnings[0], r.stderr
