"""Shard tar writing: byte-identical to the tars of the hand-written tarfile code it replaced (golden sha256)."""

from __future__ import annotations

import json
import subprocess
import tarfile

import pytest

from primps.pipeline.shards import shard_is_complete, write_shard

# sha256 and size of the tar below as written by the tarfile-based write_shard before it moved to
# webdataset.TarWriter (computed with that code, commit a654814). Any change in headers or order changes it.
GOLDEN_SHA256 = "7488074013167a33c4c1b072237a8fa8ca77ae4eb4176ca87c0e7a4fa8fe6473"
GOLDEN_BYTES = 40960


def _samples():
    for i in range(5):
        yield f"{i:06d}", {"png": bytes(range(256)) * (i * 7 + 1), "json": json.dumps({"i": i}).encode(),
                           "cls": b"%d" % i}


def test_write_shard_matches_golden_bytes(tmp_path):
    info = write_shard(tmp_path / "a.tar", _samples(), meta={"x": 1})
    assert (info.sha256, info.bytes, info.n_samples) == (GOLDEN_SHA256, GOLDEN_BYTES, 5)
    assert shard_is_complete(tmp_path / "a.tar", 5, {"x": 1}) == info
    # only the tar is visible; its resume record lies in the hidden .primps/ folder
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        ".primps", ".primps/a.tar.sha256.json", "a.tar"]


def test_headers_are_deterministic_and_ordered(tmp_path):
    write_shard(tmp_path / "a.tar", _samples())
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members[:3]] == ["000000.cls", "000000.json", "000000.png"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.type) for m in members} == {
        (0, 0, 0, "primps", "primps", 0o644, tarfile.REGTYPE)}
    listed = subprocess.run(["tar", "-tf", str(tmp_path / "a.tar")], capture_output=True, text=True, check=True)
    assert len(listed.stdout.split()) == 15


@pytest.mark.parametrize("key", ["a.b", "a/b", ""])
def test_bad_key_leaves_nothing(tmp_path, key):
    with pytest.raises(ValueError, match="bad sample key"):
        write_shard(tmp_path / "a.tar", [(key, {"png": b"x"})])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sizes", [[], [0], [1, 511, 512, 513], [8704], [30727]])
def test_same_bytes_as_tarfile_for_any_member_size(tmp_path, sizes):
    """Padding to 512-byte blocks and the end of archive (two zero blocks, then a whole 10240-byte record) are
    what tarfile writes, for empty shards and sizes at block and record boundaries."""
    import hashlib
    import io

    samples = [(f"{i:06d}", {"bin": b"x" * s, "json": b"{}"}) for i, s in enumerate(sizes)]
    info = write_shard(tmp_path / "a.tar", samples)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for key, fields in samples:
            for ext in sorted(fields):
                ti = tarfile.TarInfo(f"{key}.{ext}")
                ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(fields[ext]), 0, 0o644, "primps", "primps"
                tar.addfile(ti, io.BytesIO(fields[ext]))
    assert (info.sha256, info.bytes) == (hashlib.sha256(buf.getvalue()).hexdigest(), len(buf.getvalue()))


def test_non_bytes_field_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="not bytes"):
        write_shard(tmp_path / "a.tar", [("000000", {"png": b"x"}), ("000001", {"json": "text"})])
    assert list(tmp_path.iterdir()) == []
