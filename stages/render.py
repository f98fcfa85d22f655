"""`primps render`: synthesize a dataset into deterministic WebDataset shards with Dask, then write its manifest.

The library half (``RenderSpec``, ``make_spec``, ``render_dataset``, the shard task and the layout) lives in
``pipeline/render.py``; this module parses, checks and calls it.
"""

from __future__ import annotations

import argparse
import os
import sys

from primps.pipeline.config import SYNTH_PRESETS
from primps.pipeline.lookrule import non_square_warning
from primps.pipeline.render import DEFAULT_MIN_SHARDS, make_spec, render_dataset, too_few_shards
from primps.pipeline.shards import DEFAULT_SHARD_SIZE
from primps.stages import checks
from primps.stages.cli import hidden_alias


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "render", help="render a synthetic dataset into WebDataset shards (Dask) and write its manifest",
        description="Render N synthetic images into deterministic WebDataset tar shards, one Dask task per shard, "
                    "then write <manifest-dir>/<dataset>.json last. Rerunning resumes: complete shards (sha256 "
                    "sidecar matches) are skipped. Same parameters give byte-identical shards and manifest.")
    p.add_argument("--config", help="synthesizer YAML config (default: the built-in SynthConfig)")
    p.add_argument("--config-section", help="read this top-level key of the YAML file (e.g. synth)")
    p.add_argument("--synth-preset", choices=list(SYNTH_PRESETS),
                   help="synthesizer preset: paper (default look) or clean (SPEC.md's corrections); "
                        "the config file's own fields still win")
    hidden_alias(p, "--preset", dest="synth_preset", choices=list(SYNTH_PRESETS))
    p.add_argument("--resolution", help="override image size: 256 or HxW such as 64x64, each side 16..1024")
    p.add_argument("--variant", help="override variant: pinknoise, primitives, primitives-s, primitives-ps")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; a different seed is a different dataset")
    p.add_argument("-n", "--n-images", metavar="N", type=int, default=1000, help="number of images")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, help="images per shard")
    p.add_argument("--format", dest="image_format", default="png", help="png (lossless), jpg or npy")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1..100, jpg only")
    p.add_argument("--root", default="data/synthetic", help="output root; shards go to <root>/<dataset>/")
    p.add_argument("--manifest-dir", default="manifests", help="folder for <dataset>.json")
    p.add_argument("--dataset-name", help="fixed output name instead of the dataset id (static paths for DVC)")
    p.add_argument("--workers", type=int, default=None,
                   help="Dask worker processes of the local cluster (default: CPU count); 0 renders in this "
                        "process without Dask")
    p.add_argument("--scheduler", default=os.environ.get("DASK_SCHEDULER_ADDRESS"),
                   help="address of an existing Dask scheduler (default: $DASK_SCHEDULER_ADDRESS; else a local "
                        "cluster)")
    p.add_argument("--min-shards", type=int, default=DEFAULT_MIN_SHARDS, metavar="N",
                   help="warn when the set gets fewer than N shards (default %(default)s; 0: never). Readers need "
                        "at least ranks x DataLoader workers shards for plain webdataset with split_by_node, e.g. "
                        "8 for 4 GPUs x 2 workers (and a multiple of the ranks, equally full, for equal samples per "
                        "rank); resampled=True readers and primps' own loader need one")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks.positive_int(args.n_images, "--n-images")
    checks.positive_int(args.shard_size, "--shard-size")
    checks.non_negative_int(args.seed, "--seed")
    if args.workers is not None:
        checks.non_negative_int(args.workers, "--workers")
    checks.non_negative_int(args.min_shards, "--min-shards")
    if args.config is not None:
        checks.existing_file(args.config, "--config", "config file")
    checks.output_dir(args.root, "--root")
    checks.output_dir(args.manifest_dir, "--manifest-dir")
    spec = make_spec(config_path=args.config, config_section=args.config_section, seed=args.seed,
                     n_images=args.n_images, shard_size=args.shard_size, image_format=args.image_format,
                     quality=args.quality, root=args.root, manifest_dir=args.manifest_dir,
                     dataset_name=args.dataset_name, resolution=args.resolution, variant=args.variant,
                     preset=args.synth_preset)
    for warning in (too_few_shards(spec.n_shards, spec.n_images, args.min_shards),
                    non_square_warning(spec.config.height, spec.config.width, "render")):
        if warning:
            print(warning, file=sys.stderr)
    path = render_dataset(spec, scheduler=args.scheduler, workers=args.workers, progress=not args.no_progress)
    print(path)
    return 0
