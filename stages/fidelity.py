"""`primps fidelity`: how close is a synthetic distribution to a reference set of images?

Compares N images drawn from a synth config (``--config/--preset/--variant/--resolution``, indices 0..N-1 under
``--seed``) or read from a shard manifest (``--manifest``) with a reference tar or folder of images: FID and KID with
the project's Inception features (trainers.metrics, offline), and the per-image statistics of
pipeline.imagestats side by side with z-scores. Prints a table; ``--json`` also writes it all as JSON. Reference
features are cached per (sha256 of the reference, Inception weights) in the cache directory.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import sys
import tarfile
from pathlib import Path

import numpy as np

from primps.pipeline.config import PRESETS as SYNTH_PRESETS
from primps.pipeline.errors import UsageError
from primps.stages import checks
from primps.stages.cli import hidden_alias

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
CACHE_VERSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fidelity",
        help="compare a synth config or a shard manifest with reference images (FID, KID, image statistics)",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--reference", required=True, help="reference images: a tar of images or a folder of image files")
    p.add_argument("--manifest", default=None, help="compare this shard manifest (or shard dir) instead of a config")
    p.add_argument("--images", default=None, help="compare this tar or folder of images instead of a config")
    p.add_argument("--config", default=None, help="synth config YAML (a SynthConfig mapping or a 'synth' section)")
    p.add_argument("--preset", default=None, choices=list(SYNTH_PRESETS),
                   help="synth preset (paper, clean)")
    p.add_argument("--variant", default=None, help="synth variant (default: the config's)")
    p.add_argument("--resolution", default=None, help="'256' or '256x128' (H x W); default: the config's")
    p.add_argument("-n", "--n-images", dest="n", metavar="N", type=int, default=500,
                   help="images to draw (or, with --manifest / --images, the first N to read)")
    hidden_alias(p, "--n", dest="n", type=int)
    p.add_argument("--seed", type=int, default=0, help="dataset seed of the drawn images")
    p.add_argument("--no-fid", action="store_true", help="statistics only (no Inception features)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID: number of random subsets")
    p.add_argument("--kid-subset-size", type=int, default=250, help="KID: subset size (capped at the set sizes)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default: $PRIMPS_CACHE_DIR or ~/.cache/primps)")
    p.add_argument("--inception", default=None, help="Inception TorchScript file (default: the packaged weights)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file (atomically)")
    p.set_defaults(func=run)


# -- reference images ----------------------------------------------------------------------------------------------
def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"reference image {name} cannot be decoded: {exc}") from None


def reference_members(path: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every image in a tar or folder, sorted by name; UsageError when there is none."""
    if not path.exists():
        raise UsageError(f"reference not found: {path}")
    out: list[tuple[str, bytes]] = []
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                out.append((f.name, f.read_bytes()))
    else:
        try:
            with tarfile.open(path) as t:
                for m in sorted(t.getmembers(), key=lambda m: m.name):
                    if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES:
                        out.append((m.name, t.extractfile(m).read()))
        except (tarfile.TarError, OSError) as exc:
            raise UsageError(f"reference {path} is neither a folder nor a readable tar: {exc}") from None
    if len(out) < 2:
        raise UsageError(f"reference {path} holds {len(out)} image(s); need at least 2")
    return out


def load_reference(path: Path, resolution: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Decoded reference images uint8 [N, H, W, 3] and the sha256 of their bytes; checks the resolution."""
    members = reference_members(path)
    digest = hashlib.sha256()
    imgs = []
    for name, data in members:
        digest.update(name.encode() + b"\0" + data)
        img = _decode(data, name)
        if img.shape[:2] != tuple(resolution):
            raise UsageError(f"reference image {name} is {img.shape[0]}x{img.shape[1]} (HxW) but the compared "
                             f"images are {resolution[0]}x{resolution[1]}; pass --resolution "
                             f"{img.shape[0]}x{img.shape[1]} or a reference of the same size")
        imgs.append(img)
    return np.stack(imgs), digest.hexdigest()


# -- features ------------------------------------------------------------------------------------------------------
def _features(inception, images: np.ndarray, desc: str) -> np.ndarray:
    from tqdm import tqdm

    bs = inception.batch_size
    parts = [inception.features(images[i:i + bs].transpose(0, 3, 1, 2).copy())
             for i in tqdm(range(0, len(images), bs), desc=desc, unit="batch", file=sys.stderr)]
    return np.concatenate(parts)


def reference_features(inception, images: np.ndarray, digest: str, cache_dir: Path) -> np.ndarray:
    from primps.pipeline.atomic import atomic_write

    path = cache_dir / f"fidelity-ref-{digest[:16]}-{inception.sha256[:16]}-v{CACHE_VERSION}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                if str(z["digest"]) == digest and z["features"].shape[0] == len(images):
                    return z["features"].astype(np.float64)
        except Exception:  # noqa: BLE001 - a damaged cache is recomputed
            pass
    feats = _features(inception, images, "reference features")
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez(tmp, features=feats.astype(np.float32), digest=digest))
    return feats


# -- the compared images -------------------------------------------------------------------------------------------
def _manifest_images(path: str, n: int) -> tuple[np.ndarray, dict]:
    from primps.pipeline.manifest import load_manifest
    from primps.trainers.metrics import iter_manifest_images

    man = load_manifest(path)
    out = []
    got = 0
    for batch in iter_manifest_images(man, batch_size=64):
        arr = batch.numpy().transpose(0, 2, 3, 1)
        out.append(arr[:n - got])
        got += len(out[-1])
        if got >= n:
            break
    if got < 2:
        raise UsageError(f"manifest {path} holds {got} image(s); need at least 2")
    return np.concatenate(out), {"manifest": str(path), "dataset_id": man.dataset_id}


def run(args: argparse.Namespace) -> int:
    from primps.pipeline import imagestats
    from primps.pipeline.atomic import atomic_write_json
    from primps.pipeline.config import resolve_synth_config

    checks.int_in_range(args.n, "--n-images", 2, 100_000)
    checks.non_negative_int(args.seed, "--seed")
    checks.positive_int(args.kid_subsets, "--kid-subsets")
    checks.int_in_range(args.kid_subset_size, "--kid-subset-size", 2, 10**6)
    checks.existing_path(args.reference, "--reference", "reference")
    for path, flag in ((args.manifest, "--manifest"), (args.images, "--images"), (args.config, "--config")):
        if path is not None:
            checks.existing_path(path, flag)
    if args.inception is not None:
        checks.existing_file(args.inception, "--inception", "Inception weights file")
    if args.cache_dir is not None:
        checks.output_dir(args.cache_dir, "--cache-dir")
    if args.json is not None:
        checks.output_file(args.json, "--json", (".json",))
    cfg = None
    if args.manifest is not None and args.images is not None:
        raise UsageError("give at most one of --manifest and --images")
    if args.manifest is not None or args.images is not None:
        if args.config or args.preset or args.variant or args.resolution:
            raise UsageError("--manifest/--images cannot be combined with --config/--preset/--variant/--resolution")
    if args.images is not None:
        members = reference_members(Path(args.images))[:args.n]
        first = _decode(members[0][1], members[0][0])
        resolution = first.shape[:2]
    elif args.manifest is not None:
        from primps.pipeline.manifest import load_manifest

        resolution = tuple(load_manifest(args.manifest).resolution)
    else:
        cfg = resolve_synth_config(args.config, None, preset=args.preset, variant=args.variant,
                                   resolution=args.resolution)
        resolution = (cfg.height, cfg.width)
    ref_path = Path(args.reference)
    ref_imgs, digest = load_reference(ref_path, resolution)
    inception = None
    if not args.no_fid:
        from primps.trainers.metrics import InceptionFeatures

        inception = InceptionFeatures(path=args.inception)

    if cfg is not None:
        from tqdm import tqdm

        from primps.pipeline.synth import render_into

        imgs = np.empty((args.n, cfg.height, cfg.width, 3), dtype=np.uint8)
        for i in tqdm(range(args.n), desc="drawing", unit="img", file=sys.stderr):
            render_into(cfg, args.seed, i, imgs[i])
        source = {"config": cfg.to_dict(), "seed": args.seed}
    elif args.images is not None:
        decoded = [_decode(data, name) for name, data in members]
        if any(im.shape != decoded[0].shape for im in decoded):
            raise UsageError(f"--images {args.images}: images of different sizes")
        imgs = np.stack(decoded)
        source = {"images": str(args.images)}
    else:
        imgs, source = _manifest_images(args.manifest, args.n)

    result: dict = {"reference": str(ref_path), "reference_sha256": digest, "n_reference": len(ref_imgs),
                    "n": len(imgs), "resolution": list(resolution), **source}
    if inception is not None:
        from primps.trainers.metrics import default_cache_dir, fid_from_features, kid_from_features

        cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        ref_f = reference_features(inception, ref_imgs, digest, cache)
        our_f = _features(inception, imgs, "features")
        result["fid"] = fid_from_features(ref_f, our_f, method="eigh")
        kid_m, kid_s = kid_from_features(ref_f, our_f, n_subsets=args.kid_subsets,
                                         subset_size=min(args.kid_subset_size, len(ref_f), len(our_f)))
        result["kid_mean"], result["kid_std"] = kid_m, kid_s
        result["inception_sha256"] = inception.sha256
    ours = imagestats.set_stats(imgs)
    ref = imagestats.set_stats(ref_imgs)
    z = imagestats.z_scores(ours, ref)
    result["stats"] = {k: {"ours": ours[k], "reference": ref[k], "z": z[k]} for k in imagestats.STAT_NAMES}
    print(format_table(result))
    if args.json is not None:
        atomic_write_json(args.json, _jsonable(result))
    return 0


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


def format_table(result: dict) -> str:
    lines = [f"fidelity: {result['n']} images vs {result['n_reference']} reference images ({result['reference']}), "
             f"{result['resolution'][0]}x{result['resolution'][1]}"]
    if "fid" in result:
        lines.append(f"  FID {result['fid']:.2f}   KID {result['kid_mean']:.4f} +- {result['kid_std']:.4f}")
    lines.append(f"  {'statistic':<18} {'ours':>10} {'reference':>10} {'z':>7}")
    for name, row in result["stats"].items():
        flag = "  <-- |z| > 3" if abs(row["z"]) > 3 else ""
        lines.append(f"  {name:<18} {row['ours']['mean']:>10.4f} {row['reference']['mean']:>10.4f} "
                     f"{row['z']:>7.2f}{flag}")
    return "\n".join(lines)
