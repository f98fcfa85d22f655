"""`primps ingest SRC --resolution R --out DIR`: real images (a folder or a zip) -> WebDataset shards + manifest.

Every readable image becomes RGB ``R x R``: EXIF orientation applied, transparency composited on white, grayscale /
palette / CMYK / 16-bit converted, centre-cropped to a square and resized with Pillow's LANCZOS filter
(``reducing_gap`` for large downscales). Images smaller than R are upsampled with a warning. Corrupt or non-image
files are skipped and listed in one warning (``--strict`` makes that an error); exact duplicates (same source
bytes) are kept once and reported. Sources are read in sorted relative-path order, so output is deterministic.

Layout (same format and loader as ``primps render``, via ``pipeline.shards`` / ``pipeline.manifest``)::

    DIR/shard-000000.tar                     samples <key>.png (or .jpg/.npy) and <key>.json {"src", "sha256"}
    DIR/README.md                            dataset card (Hub YAML front matter)
    DIR/.primps/                             sidecars, wids-index.json, SHA256SUMS and manifest.json (kind
                                             "ingest", written last)

The dataset id is ``real-`` + 16 hex of sha256 over (the kept images' source sha256s in order, resolution,
format, JPEG quality, INGEST_VERSION).

Python API: ``list_sources(src)``, ``ingest(src, out, resolution, ...) -> IngestResult``; the per-image
normalisation is ``pipeline.images.normalize_image``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from primps.pipeline.config import MAX_SIDE, MIN_SIDE
from primps.pipeline.errors import UsageError
from primps.pipeline.images import NotAnImage, normalize_image
from primps.pipeline.shards import DEFAULT_SHARD_SIZE
from primps.stages import checks

INGEST_VERSION = 1
SHARD_PREFIX = "shard"


# ------------------------------------------------------------------------------------------------------ sources

def _hidden(rel: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))


def list_sources(src: str | os.PathLike) -> list[tuple[str, callable]]:
    """Sorted ``(relative path, read() -> bytes)`` for every non-hidden file of a folder (recursive) or zip."""
    src = Path(src)
    if not src.exists():
        raise UsageError(f"source not found: {src}")
    out: list[tuple[str, callable]] = []
    if src.is_dir():
        for p in src.rglob("*"):
            rel = p.relative_to(src).as_posix()
            if p.is_file() and not _hidden(rel):
                out.append((rel, p.read_bytes))
    elif zipfile.is_zipfile(src):
        zf = zipfile.ZipFile(src)
        for info in zf.infolist():
            rel = info.filename.rstrip("/")
            if not info.is_dir() and not _hidden(rel):
                out.append((rel, lambda name=info.filename: zf.read(name)))
    else:
        raise UsageError(f"source {src} is neither a folder nor a zip file")
    out.sort(key=lambda t: t[0])
    return out


# ------------------------------------------------------------------------------------------------------- ingest

@dataclass
class IngestResult:
    manifest_path: Path
    dataset_id: str
    n_images: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped path, kept path)
    upsampled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _summarise(paths: list[str], limit: int = 10) -> str:
    s = ", ".join(paths[:limit])
    return s + (f", ... ({len(paths) - limit} more)" if len(paths) > limit else "")


def ingest(src: str | os.PathLike, out: str | os.PathLike, resolution: int, image_format: str = "png",
           quality: int = 95, shard_size: int = DEFAULT_SHARD_SIZE, strict: bool = False,
           keep_duplicates: bool = False, progress: bool = False) -> IngestResult:
    """Convert every image under ``src`` into shards, card and ``.primps/manifest.json`` in ``out`` (module doc).

    ``progress`` shows a tqdm bar over the source files when stderr is a terminal (so captured output, logs and
    error messages stay clean).
    """
    from tqdm import tqdm

    from primps.pipeline.manifest import (
        SHARD_DIR_MANIFEST,
        build_manifest,
        make_dataset_id,
        migrate_legacy_layout,
        write_manifest,
        write_wids_index,
    )
    from primps.pipeline.shards import META_DIR, check_format, encode_image, sidecar_path, write_shard

    checks.side(resolution, "--resolution")   # the image side rule, as the command line checks it
    checks.positive_int(shard_size, "--shard-size")
    check_format(image_format, quality)
    sources = list_sources(src)
    if not sources:
        raise UsageError(f"source {src} holds no files")

    kept: list[tuple[str, str, np.ndarray]] = []  # (rel, sha256, image)
    skipped: list[tuple[str, str]] = []
    duplicates: list[tuple[str, str]] = []
    upsampled: list[str] = []
    seen: dict[str, str] = {}
    for rel, read in tqdm(sources, desc=f"ingest {Path(src).name}", unit="file", disable=None if progress else True,
                          dynamic_ncols=True):
        data = read()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen and not keep_duplicates:
            duplicates.append((rel, seen[digest]))
            continue
        try:
            arr, notes = normalize_image(data, resolution)
        except NotAnImage as exc:
            skipped.append((rel, str(exc)))
            continue
        if digest in seen:
            duplicates.append((rel, seen[digest]))
        seen.setdefault(digest, rel)
        if notes:
            upsampled.append(f"{rel} ({notes[0]})")
        kept.append((rel, digest, arr))

    warnings: list[str] = []
    if skipped:
        msg = (f"{len(skipped)} corrupt or non-image file(s) skipped: "
               + _summarise([f"{r} [{why}]" for r, why in skipped]))
        if strict:
            raise UsageError(msg.replace("skipped", "found") + " (--strict)")
        warnings.append(msg)
    if duplicates:
        verb = "kept" if keep_duplicates else "dropped"
        warnings.append(f"{len(duplicates)} exact duplicate(s) {verb}: "
                        + _summarise([f"{a} == {b}" for a, b in duplicates]))
    if upsampled:
        warnings.append(f"{len(upsampled)} image(s) smaller than {resolution}px upsampled: " + _summarise(upsampled))
    if not kept:
        raise UsageError(f"source {src} holds no readable images ({len(sources)} file(s) checked)")

    ident = {"sha256": [d for _, d, _ in kept], "resolution": resolution, "format": image_format,
             "quality": quality if image_format == "jpg" else None, "ingest_version": INGEST_VERSION}
    dataset_id = make_dataset_id("real", ident)

    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc}") from None
    migrate_legacy_layout(out)
    for stale in [*out.glob("*.tmp-*"), *(out / META_DIR).glob("*.tmp-*")]:
        stale.unlink(missing_ok=True)
    width = max(6, len(str(len(kept) - 1)))
    shards = []
    for s, start in enumerate(range(0, len(kept), shard_size)):
        def samples(start=start):
            for i in range(start, min(start + shard_size, len(kept))):
                rel, digest, arr = kept[i]
                meta = json.dumps({"src": rel, "sha256": digest}, sort_keys=True).encode()
                yield f"{i:0{width}d}", {image_format: encode_image(arr, image_format, quality), "json": meta}
        shards.append(write_shard(out / f"{SHARD_PREFIX}-{s:06d}.tar", samples()))
    for old in out.glob(f"{SHARD_PREFIX}-*.tar"):  # shards of an earlier, larger ingest into the same folder
        if old.name not in {sh.file for sh in shards}:
            old.unlink()
            sidecar_path(old).unlink(missing_ok=True)
    write_wids_index(out, shards, dataset_id)
    mpath = out / SHARD_DIR_MANIFEST
    manifest = build_manifest(
        dataset_id=dataset_id, kind="ingest", resolution=(resolution, resolution), image_format=image_format,
        shards=shards, shard_dir=out, manifest_path=mpath,
        config={"source": Path(src).name, "resolution": resolution, "format": image_format,
                "quality": quality if image_format == "jpg" else None, "shard_size": shard_size,
                "keep_duplicates": keep_duplicates},
        extra={"ingest_version": INGEST_VERSION, "skipped": [r for r, _ in skipped],
               "duplicates": [[a, b] for a, b in duplicates]})
    write_manifest(mpath, manifest)
    return IngestResult(mpath, dataset_id, len(kept), skipped, duplicates, upsampled, warnings)


# ---------------------------------------------------------------------------------------------------------- CLI

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ingest", help="convert a folder or zip of real images into WebDataset shards + manifest",
        description="Convert every image under SRC (a folder, searched recursively, or a .zip) to RGB RxR: EXIF "
                    "orientation applied, transparency composited on white, grayscale/palette/CMYK/16-bit "
                    "converted, centre-cropped to a square and LANCZOS-resized. Writes DIR/shard-*.tar, "
                    "the dataset card DIR/README.md and, in DIR/.primps/, the wids index, SHA256SUMS and "
                    "manifest.json (kind 'ingest', written last). Corrupt or "
                    "non-image files are skipped with one warning (--strict: error, exit 2); exact duplicates "
                    "are dropped and reported. Order is the sorted relative path, so output is deterministic.")
    p.add_argument("src", help="folder (recursive) or zip file of images")
    p.add_argument("--resolution", "-r", type=int, required=True,
                   help=f"output side length R in pixels, {MIN_SIDE}..{MAX_SIDE}")
    p.add_argument("--out", required=True, help="output folder for the shards, card and .primps/manifest.json")
    p.add_argument("--format", dest="image_format", default="png", help="png (lossless), jpg or npy")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100, jpg only")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="images per shard")
    p.add_argument("--strict", action="store_true", help="treat corrupt or non-image files as an error")
    p.add_argument("--keep-duplicates", action="store_true", help="keep exact duplicates instead of dropping them")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from primps.pipeline.shards import check_format

    checks.side(args.resolution, "--resolution")
    checks.positive_int(args.shard_size, "--shard-size")
    check_format(args.image_format, args.quality)
    checks.existing_path(args.src, "SRC", "source")
    checks.output_dir(args.out, "--out")
    res = ingest(args.src, args.out, args.resolution, image_format=args.image_format, quality=args.quality,
                 shard_size=args.shard_size, strict=args.strict, keep_duplicates=args.keep_duplicates,
                 progress=not args.no_progress)
    for w in res.warnings:
        print(f"primps ingest: warning: {w}", file=sys.stderr)
    print(f"primps ingest: {res.n_images} images -> dataset {res.dataset_id}; manifest {res.manifest_path}",
          file=sys.stderr)
    return 0
