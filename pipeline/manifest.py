"""Dataset manifests: one JSON file that names and checks a set of WebDataset shards.

Public API
----------
``build_manifest(*, dataset_id, kind, resolution, image_format, shards, shard_dir, manifest_path, config=None,
config_hash=None, generator_version=None, extra=None) -> dict``
    ``kind`` is ``"synthetic"`` or ``"ingest"``; ``shards`` a list of ``ShardInfo`` in order; ``shard_dir`` the
    directory holding the tars. The shard directory is stored *relative to the manifest file's directory*, so a
    copied tree (manifests/ + shards) still resolves. ``n_images`` is the sum of the shard counts. No timestamps:
    equal inputs give byte-identical manifests.
``write_manifest(path, manifest_dict)``
    Canonical JSON (sorted keys, indent 1), written under a temporary name and renamed. The copy inside a shard
    folder (``<shard_dir>/manifest.json``, written last by render and ingest) first gets its dataset card.
``write_dataset_card(shard_dir, manifest_dict)`` / ``dataset_card(manifest_dict) -> str``
    ``<shard_dir>/README.md``: what the set is, generator version, config, seed, counts, licence of the images and
    how to read the shards with plain webdataset or wids. Deterministic (no dates), like the manifest.
``load_manifest(path) -> Manifest``
    ``path`` is a manifest JSON file, or a shard directory containing ``manifest.json``. Raises ``UsageError``
    naming the file if it is missing or malformed.
``write_wids_index(shard_dir, shards, name)``
    ``wids-shard-index-v1`` JSON (``<shard_dir>/wids-index.json``) with relative urls, sample counts and file sizes
    (``filesize``, which wids sums for its dataset size) so that ``wids.ShardListDataset(path)`` random-accesses the
    shards.

``Manifest`` attributes: ``path``, ``dataset_id``, ``kind``, ``resolution`` (H, W), ``n_images``, ``image_format``,
``config`` (dict or None), ``config_hash``, ``generator_version``, ``shards`` (list of ShardInfo), ``data`` (the raw
dict); methods ``shard_dir()`` and ``shard_paths()`` (absolute paths).
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
from primps.pipeline.shards import ShardInfo

MANIFEST_FORMAT = "primps-manifest-v1"
KINDS = ("synthetic", "ingest")
SHARD_DIR_MANIFEST = "manifest.json"
WIDS_INDEX_NAME = "wids-index.json"


def make_dataset_id(prefix: str, payload: dict) -> str:
    """The one dataset-id recipe: ``<prefix>-`` + 16 hex of sha256 over the canonical JSON of ``payload`` (what
    defines the data). ``synth-`` (render), ``real-`` (ingest), ``stream-`` (pretrain --stream)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{prefix}-" + hashlib.sha256(blob).hexdigest()[:16]
CARD_NAME = "README.md"


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name == SHARD_DIR_MANIFEST:  # the shard folder's own copy: the card goes first, the manifest last
        write_dataset_card(path.parent, manifest)
    atomic_write_bytes(path, _canonical(manifest))
    return path


_KIND_TEXT = {
    "synthetic": ("Synthetic images rendered by `primps render` (the Primitives-PS synthesizer: random primitive "
                  "shapes over pink noise), as pretraining data for GANs.",
                  "Procedurally generated from a seed: no photographs, no people, no personal data. The images are "
                  "program output; use them under the MIT licence of primps."),
    "ingest": ("Real images converted by `primps ingest` (RGB, centre-cropped, resized), as a low-shot GAN "
               "training target.",
               "Derived from the source images, which keep their own licence and may show people: check the "
               "source's terms before sharing this set."),
}


def dataset_card(manifest: dict) -> str:
    """The Markdown dataset card of a shard set (see ``write_dataset_card``)."""
    what, licence = _KIND_TEXT.get(manifest.get("kind"), ("A primps shard set.", "See the source of the images."))
    h, w = manifest["resolution"]
    rows = [("dataset id", manifest["dataset_id"]), ("kind", manifest["kind"]),
            ("images", f"{manifest['n_images']} in {manifest['n_shards']} shard(s)"),
            ("resolution", f"{h}x{w} (height x width), RGB"), ("image format", manifest["image_format"])]
    for key, label in (("generator_version", "generator version"), ("seed", "seed"), ("shard_size", "shard size"),
                       ("config_hash", "config hash")):
        if manifest.get(key) is not None:
            rows.append((label, str(manifest[key])))
    fmt = manifest["image_format"]
    decode = {"npy": "", "png": '.decode("rgb8")', "jpg": '.decode("rgb8")'}.get(fmt, "")
    lines = [
        f"# {manifest['dataset_id']}", "", what, "",
        "| | |", "|---|---|", *(f"| {k} | `{v}` |" for k, v in rows), "",
        "## Licence", "", licence, "",
        "## Files", "",
        "- `shard-NNNNNN.tar`: WebDataset shards; sample `KEY` is `KEY." + fmt + "` (the image) and `KEY.json` "
        "(its metadata).",
        "- `shard-NNNNNN.tar.sha256.json`: sha256 and size of each shard; `primps verify <this folder>` re-checks "
        "them.",
        f"- `{WIDS_INDEX_NAME}`: index for random access with wids; `{SHARD_DIR_MANIFEST}`: the full manifest "
        "(config, shard list), written last: a folder without it is incomplete.",
        "",
        "## Reading (plain webdataset, no primps needed)", "",
        "```python",
        "import glob, webdataset as wds",
        f"ds = wds.WebDataset(sorted(glob.glob('shard-*.tar')), shardshuffle=False){decode}",
        f"for sample in ds:  # {{'__key__': '000000', '{fmt}': HxWx3 uint8 array, 'json': {{...}}}}",
        "    ...",
        "# random access:",
        f"import wids; ds = wids.ShardListDataset('{WIDS_INDEX_NAME}')",
        "```", "",
    ]
    if manifest.get("config") is not None:
        lines += ["## Config", "", "```json", json.dumps(manifest["config"], sort_keys=True, indent=1), "```", ""]
    return "\n".join(lines)


def write_dataset_card(shard_dir: str | os.PathLike, manifest: dict) -> Path:
    """Write ``<shard_dir>/README.md``, the first thing someone who finds the shards on a shared disk reads."""
    path = Path(shard_dir) / CARD_NAME
    atomic_write_bytes(path, dataset_card(manifest).encode("utf-8"))
    return path


def write_wids_index(shard_dir: str | os.PathLike, shards: Sequence[ShardInfo], name: str) -> Path:
    index = {
        "__kind__": "wids-shard-index-v1",
        "wids_version": 1,
        "name": name,
        "shardlist": [{"url": s.file, "nsamples": s.n_samples, "filesize": s.bytes} for s in shards],
    }
    path = Path(shard_dir) / WIDS_INDEX_NAME
    atomic_write_bytes(path, _canonical(index))
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
        path = path / SHARD_DIR_MANIFEST
    if not path.is_file():
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
