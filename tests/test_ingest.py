"""`primps ingest`: image normalisation of awkward inputs, shards + manifest, zip input, errors."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from primps.pipeline import images as IM
from primps.pipeline.errors import UsageError
from primps.stages import ingest as I
from primps.stages.cli import main as primps

REPO = Path(__file__).resolve().parents[1]
LOWSHOT = Path(os.environ.get("PRIMPS_LOWSHOT_DIR", REPO.parent / "shared" / "data" / "lowshot"))
R = 32


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def make_source(root: Path) -> dict[str, str]:
    """Write a mixed folder; returns {relative path: what it is}."""
    import imagecodecs

    root.mkdir(parents=True, exist_ok=True)
    obama = sorted((LOWSHOT / "obama").glob("*.jpg"))[:3]
    if len(obama) < 3:
        pytest.skip("low-shot obama images not available")
    kinds = {}
    for i, f in enumerate(obama):
        (root / f"real_{i}.jpg").write_bytes(f.read_bytes())
        kinds[f"real_{i}.jpg"] = "real"
    rgba = Image.new("RGBA", (40, 60), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 40, 60))  # fully transparent everywhere -> white
    (root / "alpha.png").write_bytes(png_bytes(rgba))
    (root / "sub").mkdir()
    (root / "sub" / "gray.png").write_bytes(png_bytes(Image.new("L", (50, 50), 100)))
    (root / "cmyk.jpg").write_bytes(jpeg_bytes(Image.new("CMYK", (48, 48), (0, 255, 255, 0))))  # red
    g16 = np.full((40, 40), 51200, np.uint16)  # 200 in 8 bits
    (root / "gray16.png").write_bytes(bytes(imagecodecs.png_encode(g16)))
    rgb16 = np.zeros((40, 40, 3), np.uint16)
    rgb16[..., 1] = 65535
    (root / "rgb16.png").write_bytes(bytes(imagecodecs.png_encode(rgb16)))
    (root / "tiny.png").write_bytes(png_bytes(Image.new("RGB", (3, 7), (10, 20, 30))))
    good = obama[0].read_bytes()
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "notes.jpg").write_text("this is not an image\n")
    (root / ".DS_Store").write_bytes(b"\0\1hidden")
    kinds.update({"alpha.png": "white", "sub/gray.png": "gray", "cmyk.jpg": "red", "gray16.png": "g200",
                  "rgb16.png": "green", "tiny.png": "tiny"})
    return kinds


def read_shards(out: Path) -> dict[str, np.ndarray]:
    from primps.pipeline.manifest import load_manifest
    from primps.pipeline.shards import decode_image

    m = load_manifest(out)
    images, metas = {}, {}
    for shard in m.shard_paths():
        with tarfile.open(shard) as tar:
            for mem in tar.getmembers():
                key, ext = mem.name.split(".", 1)
                data = tar.extractfile(mem).read()
                if ext == "json":
                    metas[key] = json.loads(data)
                else:
                    images[key] = decode_image(data, ext)
    return {metas[k]["src"]: images[k] for k in images}


# ------------------------------------------------------------------------------------------- pure functions

def test_normalize_modes():
    import imagecodecs

    arr, notes = IM.normalize_image(png_bytes(Image.new("LA", (20, 20), (0, 0))), 8)
    assert arr.shape == (8, 8, 3) and arr.dtype == np.uint8 and (arr == 255).all() and notes == []
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.info["transparency"] = 0
    arr, _ = IM.normalize_image(png_bytes(pal), 8)
    assert (arr == 255).all()  # palette index 0 is transparent -> white
    pal.paste(1, (0, 0, 16, 16))
    arr, _ = IM.normalize_image(png_bytes(pal), 8)
    assert (arr == [0, 255, 0]).all()
    arr, _ = IM.normalize_image(bytes(imagecodecs.png_encode(np.full((9, 9), 65535, np.uint16))), 8)
    assert (arr == 255).all()


def test_centre_crop_and_exif_orientation():
    img = Image.new("RGB", (90, 30), (0, 0, 255))
    img.paste((255, 0, 0), (30, 0, 60, 30))  # red centre third
    arr, _ = IM.normalize_image(png_bytes(img), 16)
    assert arr.shape == (16, 16, 3)
    assert arr[..., 0].min() > 240 and arr[..., 2].max() < 15  # only the red centre survives the crop
    # EXIF orientation 6 (rotate 90 CW on display): a 60x20 stored image displays as 20x60.
    stored = Image.new("RGB", (60, 20), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 30, 20))  # left half white in storage -> top half on display
    exif = Image.Exif()
    exif[0x0112] = 6
    arr, notes = IM.normalize_image(jpeg_bytes(stored, exif=exif), 8)
    assert notes == []
    col = arr[:, 4, 0].astype(int)  # the displayed image's centre square is rows 20..40 of 60: half/half
    without, _ = IM.normalize_image(jpeg_bytes(stored), 8)
    assert abs(col[0] - col[-1]) > 150  # top/bottom differ after rotation
    assert abs(int(without[0, 0, 0]) - int(without[-1, 0, 0])) < 30  # unrotated: columns differ, not rows


def test_not_an_image():
    with pytest.raises(IM.NotAnImage):
        IM.normalize_image(b"hello", 8)
    with pytest.raises(IM.NotAnImage):
        IM.normalize_image(jpeg_bytes(Image.new("RGB", (64, 64), 7))[:200], 8)


# -------------------------------------------------------------------------------------------- whole stage

def test_ingest_folder_mixed(tmp_path, capsys):
    kinds = make_source(tmp_path / "src")
    out = tmp_path / "out"
    rc = primps(["ingest", str(tmp_path / "src"), "--resolution", str(R), "--out", str(out)])
    assert rc == 0
    err = capsys.readouterr().err
    skipped_line = [ln for ln in err.splitlines() if "skipped" in ln]
    assert len(skipped_line) == 1 and "2 corrupt or non-image" in skipped_line[0]
    assert "truncated.jpg" in skipped_line[0] and "notes.jpg" in skipped_line[0]
    assert "upsampled" in err and "tiny.png (upsampled from 3x7)" in err
    imgs = read_shards(out)
    assert set(imgs) == set(kinds)  # hidden file ignored, two bad files skipped
    for rel, kind in kinds.items():
        a = imgs[rel]
        assert a.shape == (R, R, 3) and a.dtype == np.uint8, rel
        if kind == "white":
            assert (a == 255).all()
        elif kind == "gray":
            assert (a == 100).all()
        elif kind == "g200":
            assert (a == 200).all()
        elif kind == "green":
            assert (a == [0, 255, 0]).all()
        elif kind == "tiny":
            assert (a == [10, 20, 30]).all()
        elif kind == "red":
            assert a[..., 0].mean() > 200 and a[..., 1].mean() < 60 and a[..., 2].mean() < 60
        else:
            assert a.std() > 10
    from primps.pipeline.manifest import load_manifest

    m = load_manifest(out)
    assert m.kind == "ingest" and m.n_images == len(kinds) and m.resolution == (R, R)
    assert m.dataset_id.startswith("real-") and m.image_format == "png"
    card = (out / "README.md").read_text()  # the dataset card beside the shards
    assert m.dataset_id in card and f"{len(kinds)} in 1 shard(s)" in card and "keep their own licence" in card
    keys = sorted(imgs)
    assert keys == sorted(kinds)
    # deterministic: a second run gives the same bytes
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert primps(["ingest", str(tmp_path / "src"), "--resolution", str(R), "--out", str(out)]) == 0
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first


def test_ingest_progress_on_a_terminal(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    make_source(tmp_path / "src")
    for flags, shown in (([], True), (["--no-progress"], False)):
        monkeypatch.setattr(sys, "stderr", Terminal())
        assert primps(["ingest", str(tmp_path / "src"), "--resolution", str(R), "--out", str(tmp_path / "o"),
                       *flags]) == 0
        assert ("ingest src: 100%" in sys.stderr.getvalue()) == shown


def test_loader_reads_ingested(tmp_path):
    from primps.pipeline.loader import make_loader

    make_source(tmp_path / "src")
    res = I.ingest(tmp_path / "src", tmp_path / "out", 16, shard_size=4)
    assert len(res.skipped) == 2 and res.n_images == 9
    batch = next(iter(make_loader(res.manifest_path, batch_size=5, seed=0, resampled=True)))
    assert batch.shape == (5, 3, 16, 16) and str(batch.dtype) == "torch.uint8"


def test_zip_duplicates_and_id(tmp_path):
    src = tmp_path / "imgs.zip"
    a = png_bytes(Image.new("RGB", (20, 20), (1, 2, 3)))
    b = png_bytes(Image.new("RGB", (20, 20), (200, 2, 3)))
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("x/b.png", b)
        zf.writestr("a.png", a)
        zf.writestr("x/copy_of_a.png", a)
        zf.writestr("__MACOSX/._a.png", b"junk")
    res = I.ingest(src, tmp_path / "out", 16)
    assert res.n_images == 2 and res.duplicates == [("x/copy_of_a.png", "a.png")]
    assert any("1 exact duplicate(s) dropped" in w for w in res.warnings)
    imgs = read_shards(tmp_path / "out")
    assert list(imgs) == ["a.png", "x/b.png"]  # sorted order
    res2 = I.ingest(src, tmp_path / "out2", 32)
    res3 = I.ingest(src, tmp_path / "out3", 16, image_format="jpg")
    assert len({res.dataset_id, res2.dataset_id, res3.dataset_id}) == 3
    assert I.ingest(src, tmp_path / "out4", 16).dataset_id == res.dataset_id


def test_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert primps(["ingest", str(empty), "--resolution", "16", "--out", str(tmp_path / "o")]) == 2
    assert "holds no files" in capsys.readouterr().err
    (empty / "junk.jpg").write_text("no")
    assert primps(["ingest", str(empty), "--resolution", "16", "--out", str(tmp_path / "o")]) == 2
    assert "no readable images" in capsys.readouterr().err
    (empty / "ok.png").write_bytes(png_bytes(Image.new("RGB", (9, 9))))
    assert primps(["ingest", str(empty), "--resolution", "16", "--out", str(tmp_path / "o"), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "junk.jpg" in err and "--strict" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / ".primps" / "manifest.json").exists()
    assert primps(["ingest", str(tmp_path / "missing"), "--resolution", "16", "--out", str(tmp_path / "o")]) == 2
    assert primps(["ingest", str(empty), "--resolution", "0", "--out", str(tmp_path / "o")]) == 2
    notzip = tmp_path / "file.txt"
    notzip.write_text("x")
    with pytest.raises(UsageError, match="neither a folder nor a zip"):
        I.ingest(notzip, tmp_path / "o", 16)
