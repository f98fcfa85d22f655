"""Dataset manifests: one JSON file that names and checks a set of WebDataset shards.

Shard folder layout (render and ingest)::

    shard-000000.tar ...            the shards, and nothing else visible but
    README.md                       the dataset card (pipeline.card), Hub YAML front matter
    .primps/manifest.json           the manifest (authoritative for the folder; written last)
    .primps/wids-index.json         wids-shard-index-v1, shard urls relative to this file
    .primps/SHA256SUMS              `cd FOLDER && sha256sum -c .primps/SHA256SUMS`
    .primps/shard-*.tar.sha256.json per-shard resume records (pipeline.shards)

Hugging Face ``datasets`` skips hidden folders and README.md, so ``load_dataset(folder)`` and
``load_dataset("webdataset", data_dir=folder)`` see only the shards. Folders of the older layout (manifest.json,
wids-index.json and sidecars beside the shards) still load.

Public API
----------
``build_manifest(*, dataset_id, kind, resolution, image_format, shards, shard_dir, manifest_path, config=None,
config_hash=None, generator_version=None, extra=None) -> dict``
    ``kind`` is ``"synthetic"`` or ``"ingest"``; ``shards`` a list of ``ShardInfo`` in order; ``shard_dir`` the
    directory holding the tars. The shard directory is stored *relative to the manifest file's directory*, so a
    copied tree (manifests/ + shards) still resolves. ``n_images`` is the sum of the shard counts. No timestamps:
    equal inputs give byte-identical manifests. The copy in ``--manifest-dir`` differs from the folder's own copy
    only in ``shard_dir``.
``write_manifest(path, manifest_dict)``
    Canonical JSON (sorted keys, indent 1), written under a temporary name and renamed. The folder's own copy
    (``folder_manifest_path(shard_dir)``, written last by render and ingest) first gets ``SHA256SUMS`` and the
    dataset card.
``load_manifest(path) -> Manifest``
    ``path`` is a manifest JSON file, or a shard directory. Raises ``UsageError`` naming the file if it is missing
    or malformed.
``write_wids_index(shard_dir, shards, name)`` / ``write_checksums(shard_dir, shards)``
    The wids index (with ``nsamples`` and ``filesize``, which wids sums for its dataset size) and ``SHA256SUMS``.

``Manifest`` attributes: ``path``, ``dataset_id``, ``kind``, ``resolution`` (H, W), ``n_images``, ``image_format``,
``config`` (dict or None), ``config_hash``, ``generator_version``, ``shards`` (list of ShardInfo), ``data`` (the raw
dict); methods ``shard_dir()``, ``shard_paths()`` (absolute paths) and ``wids_index_path()``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from primps.pipeline.atomic import atomic_write_bytes
from primps.pipeline.errors import UsageError
from primps.pipeline.shards import META_DIR, ShardInfo

MANIFEST_FORMAT = "primps-manifest-v1"
KINDS = ("synthetic", "ingest")
# Paths relative to a shard folder.
SHARD_DIR_MANIFEST = f"{META_DIR}/manifest.json"
WIDS_INDEX_NAME = f"{META_DIR}/wids-index.json"
CHECKSUMS_NAME = f"{META_DIR}/SHA256SUMS"
#: Where the older layout kept the manifest copy and the wids index: beside the shards.
LEGACY_NAMES = ("manifest.json", "wids-index.json")


def make_dataset_id(prefix: str, payload: dict) -> str:
    """The one dataset-id recipe: ``<prefix>-`` + 16 hex of sha256 over the canonical JSON of ``payload`` (what
    defines the data). ``synth-`` (render), ``real-`` (ingest), ``stream-`` (pretrain --stream). The dataset card
    (pipeline/card.py) writes this recipe out; tests/test_reuse.py rebuilds ids from the card's text."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{prefix}-" + hashlib.sha256(blob).hexdigest()[:16]


def _canonical(d: dict) -> bytes:
    return (json.dumps(d, sort_keys=True, indent=1) + "\n").encode()


def build_manifest(
    *,
    dataset_id: str,
    kind: str,
    resolution: Sequence[int],
    image_format: str,
    shards: Sequence[ShardInfo],
    shard_dir: str | os.PathLike,
    manifest_path: str | os.PathLike,
    config: dict | None = None,
    config_hash: str | None = None,
    generator_version: str | None = None,
    extra: dict | None = None,
) -> dict:
    if kind not in KINDS:
        raise ValueError(f"manifest kind must be one of {KINDS}, got {kind!r}")
    rel = os.path.relpath(os.path.abspath(shard_dir), os.path.dirname(os.path.abspath(manifest_path)))
    d: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "dataset_id": dataset_id,
        "kind": kind,
        "resolution": [int(resolution[0]), int(resolution[1])],
        "image_format": image_format,
        "n_images": int(sum(s.n_samples for s in shards)),
        "n_shards": len(shards),
        "shard_dir": Path(rel).as_posix(),
        "shards": [s.to_dict() for s in shards],
        "config": config,
        "config_hash": config_hash,
        "generator_version": generator_version,
        "wids_index": WIDS_INDEX_NAME,
    }
    for k, v in (extra or {}).items():
        if k in d:
            raise ValueError(f"extra manifest key {k!r} clashes with a standard key")
        d[k] = v
    return d


def write_manifest(path: str | os.PathLike, manifest: dict) -> Path:
    from primps.pipeline.card import write_dataset_card

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name == "manifest.json" and path.parent.name == META_DIR:
        # the shard folder's own copy: checksums and card first, the manifest last
        shard_dir = path.parent.parent
        write_checksums(shard_dir, [ShardInfo.from_dict(s) for s in manifest["shards"]])
        write_dataset_card(shard_dir, manifest)
    atomic_write_bytes(path, _canonical(manifest))
    return path


def folder_manifest_path(shard_dir: str | os.PathLike) -> Path:
    """The shard folder's own manifest copy, ``<shard_dir>/.primps/manifest.json``."""
    return Path(shard_dir) / SHARD_DIR_MANIFEST


def find_folder_manifest(shard_dir: str | os.PathLike) -> Path | None:
    """The manifest copy of a shard folder, in the current layout or the older one (beside the shards); else None."""
    for cand in (folder_manifest_path(shard_dir), Path(shard_dir) / LEGACY_NAMES[0]):
        if cand.is_file():
            return cand
    return None


def migrate_legacy_layout(shard_dir: str | os.PathLike) -> None:
    """Tidy a shard folder of the older layout before a render or ingest rewrites it: sidecars beside the tars
    move into ``.primps/`` (so complete shards are still skipped), and the old manifest copy and wids index beside
    the shards go (they are rewritten in ``.primps/``); leftovers would make ``load_dataset(folder)`` fail."""
    from primps.pipeline.shards import SIDECAR_SUFFIX, sidecar_path

    shard_dir = Path(shard_dir)
    for old in shard_dir.glob(f"*.tar{SIDECAR_SUFFIX}"):
        new = sidecar_path(old.with_name(old.name[: -len(SIDECAR_SUFFIX)]))
        if new.exists():
            old.unlink()
        else:
            new.parent.mkdir(exist_ok=True)
            os.replace(old, new)
    for name in LEGACY_NAMES:
        (shard_dir / name).unlink(missing_ok=True)


def stray_files(shard_dir: str | os.PathLike, shards: Sequence[ShardInfo]) -> list[str]:
    """Visible files of a shard folder other than its shards and the card: Hugging Face ``datasets`` would read
    each as a shard (``load_dataset("webdataset", data_dir=...)`` fails on them)."""
    keep = {s.file for s in shards} | {"README.md"}
    d = Path(shard_dir)
    return sorted(p.name for p in d.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in keep) \
        if d.is_dir() else []


def write_wids_index(shard_dir: str | os.PathLike, shards: Sequence[ShardInfo], name: str) -> Path:
    """``<shard_dir>/.primps/wids-index.json``; wids resolves each url against the index file's own folder, so the
    index works from any working directory and in a moved folder."""
    path = Path(shard_dir) / WIDS_INDEX_NAME
    up = os.path.relpath(Path(shard_dir), path.parent)
    index = {
        "__kind__": "wids-shard-index-v1",
        "wids_version": 1,
        "name": name,
        "shardlist": [{"url": f"{up}/{s.file}", "nsamples": s.n_samples, "filesize": s.bytes} for s in shards],
    }
    atomic_write_bytes(path, _canonical(index))
    return path


def write_checksums(shard_dir: str | os.PathLike, shards: Sequence[ShardInfo]) -> Path:
    """``<shard_dir>/.primps/SHA256SUMS``: ``<sha256>  <shard file>`` lines, paths relative to the shard folder."""
    path = Path(shard_dir) / CHECKSUMS_NAME
    atomic_write_bytes(path, "".join(f"{s.sha256}  {s.file}\n" for s in shards).encode())
    return path


@dataclass
class Manifest:
    path: Path
    data: dict = field(repr=False)

    dataset_id: str = ""
    kind: str = ""
    resolution: tuple[int, int] = (0, 0)
    n_images: int = 0
    image_format: str = ""
    config: dict | None = None
    config_hash: str | None = None
    generator_version: str | None = None
    shards: list[ShardInfo] = field(default_factory=list)

    def shard_dir(self) -> Path:
        """Absolute shard directory: stored path relative to the manifest; else a same-named dir beside it."""
        base = self.path.parent
        rel = Path(self.data.get("shard_dir", "."))
        cand = (base / rel).resolve()
        if cand.is_dir():
            return cand
        for alt in (base / rel.name, base.parent / rel.name):
            if alt.is_dir() and self.shards and (alt / self.shards[0].file).exists():
                return alt.resolve()
        return cand

    def shard_paths(self) -> list[str]:
        d = self.shard_dir()
        return [str(d / s.file) for s in self.shards]

    def wids_index_path(self) -> Path:
        return self.shard_dir() / self.data.get("wids_index", WIDS_INDEX_NAME)


def load_manifest(path: str | os.PathLike) -> Manifest:
    path = Path(path)
    if path.is_dir():
        path = find_folder_manifest(path) or folder_manifest_path(path)
    if not path.is_file():
        moved = folder_manifest_path(path.parent)
        if path.name == LEGACY_NAMES[0] and moved.is_file():
            raise UsageError(f"manifest not found: {path} (shard folders keep it in {SHARD_DIR_MANIFEST} now: pass "
                             f"the folder {path.parent})")
        raise UsageError(f"manifest not found: {path}")
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != MANIFEST_FORMAT:
        raise UsageError(f"{path} is not a primps manifest (format != {MANIFEST_FORMAT!r})")
    try:
        shards = [ShardInfo.from_dict(s) for s in d["shards"]]
        res = d["resolution"]
        return Manifest(
            path=path.resolve(),
            data=d,
            dataset_id=str(d["dataset_id"]),
            kind=str(d["kind"]),
            resolution=(int(res[0]), int(res[1])),
            n_images=int(d["n_images"]),
            image_format=str(d["image_format"]),
            config=d.get("config"),
            config_hash=d.get("config_hash"),
            generator_version=d.get("generator_version"),
            shards=shards,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise UsageError(f"malformed manifest {path}: {exc!r}") from None
