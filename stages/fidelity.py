"""`primps fidelity`: how close is a synthetic distribution to a reference set of images?

Compares N images drawn from a synth config (``--config/--synth-preset/--variant/--resolution``, indices 0..N-1 under
``--seed``) or read from a shard manifest (``--manifest``) with a reference tar or folder of images: FID and KID with
the project's Inception features (trainers.metrics, offline), and the per-image statistics of
pipeline.imagestats side by side with z-scores. Prints a table; ``--json`` also writes it all as JSON. Reference
features are cached per (sha256 of the reference, resizing, Inception weights) in the cache directory.

A reference of the official size (256x256) is compared with images of any other size by the comparison rule
(pipeline.lookrule): below 256 the reference is downsized to S by area; above, both sides are downsized to 128.
The FID noise floor is a split-half floor of the reference processed the same way (FID of its first against its
second half, since only one reference is given), and ours is compared with each half at the same sample sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path

import numpy as np

from primps.pipeline.config import SYNTH_PRESETS
from primps.pipeline.errors import UsageError
from primps.pipeline.reference import (
    decode_rgb,
    image_features,
    load_reference,
    manifest_images,
    reference_features,
    reference_members,
)
from primps.stages import checks
from primps.stages.cli import hidden_alias


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
    p.add_argument("--synth-preset", default=None, choices=list(SYNTH_PRESETS),
                   help="synth preset (paper, clean)")
    hidden_alias(p, "--preset", dest="synth_preset", choices=list(SYNTH_PRESETS))
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
        if args.config or args.synth_preset or args.variant or args.resolution:
            raise UsageError("--manifest/--images cannot be combined with "
                             "--config/--synth-preset/--variant/--resolution")
    if args.images is not None:
        members = reference_members(Path(args.images))[:args.n]
        first = decode_rgb(members[0][1], members[0][0])
        resolution = first.shape[:2]
    elif args.manifest is not None:
        from primps.pipeline.manifest import load_manifest

        resolution = tuple(load_manifest(args.manifest).resolution)
    else:
        cfg = resolve_synth_config(args.config, None, preset=args.synth_preset, variant=args.variant,
                                   resolution=args.resolution)
        resolution = (cfg.height, cfg.width)
    from primps.pipeline import lookrule

    ref_path = Path(args.reference)
    ref_imgs, digest = load_reference(ref_path, None)
    rule = None
    if ref_imgs.shape[1:3] != tuple(resolution):
        if not lookrule.resizable_reference(ref_imgs.shape[1:3], resolution):
            raise UsageError(f"reference images are {ref_imgs.shape[1]}x{ref_imgs.shape[2]} (HxW) but the compared "
                             f"images are {resolution[0]}x{resolution[1]}; give a reference of the same size, or "
                             "an official 256x256 one (resized by the comparison rule)")
        rule = min(resolution)
        ref_imgs = lookrule.to_comparison(ref_imgs, rule)
        digest = hashlib.sha256(f"{digest} area-{ref_imgs.shape[1]}".encode()).hexdigest()
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
        decoded = [decode_rgb(data, name) for name, data in members]
        if any(im.shape != decoded[0].shape for im in decoded):
            raise UsageError(f"--images {args.images}: images of different sizes")
        imgs = np.stack(decoded)
        source = {"images": str(args.images)}
    else:
        imgs, source = manifest_images(args.manifest, args.n)

    result: dict = {"reference": str(ref_path), "reference_sha256": digest, "n_reference": len(ref_imgs),
                    "n": len(imgs), "resolution": list(resolution), **source}
    if rule is not None:
        imgs = lookrule.to_comparison(imgs, rule)
        result["comparison"] = {"side": int(imgs.shape[1]), "filter": lookrule.FILTER_NAME,
                                "rule": "reference downsized to S" if rule < lookrule.REFERENCE_SIDE
                                else f"both downsized to {lookrule.LARGE_COMPARISON_SIDE}"}
    if inception is not None:
        from primps.trainers.metrics import default_cache_dir, fid_against_split_floor, fid_from_features

        cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        ref_f = reference_features(inception, ref_imgs, digest, cache)
        our_f = image_features(inception, imgs, "features")
        half = len(ref_f) // 2
        if half >= 2 and len(our_f) >= half:
            res = fid_against_split_floor(ref_f, our_f, n_subsets=args.kid_subsets,
                                          subset_size=min(args.kid_subset_size, half))
            res["floor_kind"] = (f"split-half: FID of the reference's first {half} against its next {half} images "
                                 f"(only one reference given); ours: the first {half} against each half")
            result.update(res)
        else:
            from primps.trainers.metrics import kid_from_features

            result["fid"] = fid_from_features(ref_f, our_f)
            result["kid_mean"], result["kid_std"] = kid_from_features(
                ref_f, our_f, n_subsets=args.kid_subsets, subset_size=min(args.kid_subset_size, len(ref_f),
                                                                          len(our_f)))
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
    if "comparison" in result:
        c = result["comparison"]
        lines.append(f"  compared at {c['side']}x{c['side']}: {c['rule']} ({c['filter']})")
    if "fid" in result:
        lines.append(f"  FID {result['fid']:.2f}   KID {result['kid_mean']:.4f} +- {result['kid_std']:.4f}")
    if "floor" in result:
        lines.append(f"  noise floor ({result['n_half']} vs {result['n_half']}, split-half of the reference): "
                     f"FID {result['floor']:.2f}, KID {result['kid_floor']:.4f};  ours at the same sizes: FID "
                     f"{result['fid_split']:.2f}, ratio {result['ratio']:.3f}")
    lines.append(f"  {'statistic':<18} {'ours':>10} {'reference':>10} {'z':>7}")
    for name, row in result["stats"].items():
        flag = "  <-- |z| > 3" if abs(row["z"]) > 3 else ""
        lines.append(f"  {name:<18} {row['ours']['mean']:>10.4f} {row['reference']['mean']:>10.4f} "
                     f"{row['z']:>7.2f}{flag}")
    return "\n".join(lines)
