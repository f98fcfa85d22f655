"""`primps preview`: render a grid of synthetic samples to a PNG (one row per variant with --variant all)."""

from __future__ import annotations

import argparse
from pathlib import Path

from primps.pipeline.grid import make_grid, write_png
from primps.pipeline.config import VARIANTS
from primps.pipeline.errors import UsageError
from primps.stages import checks
from primps.stages.cli import hidden_alias


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "preview",
        help="render a grid of synthetic images to a PNG",
        description="Render --n-images synthetic samples (indices 0..n-1 under --seed) into one PNG grid. With "
                    "--variant all "
                    "there is one row per variant, in the order " + ", ".join(VARIANTS) + ". The file is written "
                    "under a temporary name and renamed.",
    )
    p.add_argument("--variant", default=None,
                   help="one of " + ", ".join(VARIANTS) + ", or 'all' (default: the config's variant, "
                        "primitives-ps)")
    p.add_argument("-n", "--n-images", dest="n", metavar="N", type=int, default=16,
                   help="samples per row with --variant all; otherwise in total, in a near-square grid (1..1024)")
    hidden_alias(p, "--n", dest="n", type=int)
    p.add_argument("--resolution", default=None, help="image size, '256' or '256x128' (H x W), each side 16..1024 "
                                                      "(default: the config's, 256)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed")
    p.add_argument("--config", default=None, help="synth config YAML (a SynthConfig mapping, or a file with a "
                                                  "top-level 'synth' section such as params.yaml)")
    p.add_argument("--n-shapes", type=int, default=None, help="override the number of shapes N (0..500)")
    p.add_argument("--size-policy", default=None, choices=["decay", "fix", "rand"], help="override the size policy")
    p.add_argument("--out", required=True, help="output PNG path")
    p.set_defaults(func=run)


def load_synth_config(path: str | None):
    """SynthConfig from --config: a plain mapping, or a file with a 'synth' section."""
    from primps.pipeline.config import SynthConfig, load_config

    if path is None:
        return SynthConfig()
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return load_config(path)  # raises the proper ConfigError
    if isinstance(data, dict) and "synth" in data and isinstance(data["synth"], dict):
        return load_config(path, section="synth")
    return load_config(path)


def run(args: argparse.Namespace) -> int:
    from primps.pipeline.config import parse_resolution

    checks.int_in_range(args.n, "--n-images", 1, 1024)
    checks.non_negative_int(args.seed, "--seed")
    if args.variant is not None:
        checks.choice(args.variant, "--variant", (*VARIANTS, "all"))
    if args.resolution is not None:
        parse_resolution(args.resolution)
    out = checks.output_file(args.out, "--out", (".png",))
    if args.config is not None:
        checks.existing_file(args.config, "--config", "config file")

    import numpy as np

    from primps.pipeline.config import with_overrides
    from primps.pipeline.synth import render_batch

    cfg = load_synth_config(args.config)
    h = w = None
    if args.resolution is not None:
        h, w = parse_resolution(args.resolution)
    cfg = with_overrides(cfg, height=h, width=w, n_shapes=args.n_shapes, size_policy=args.size_policy)
    if args.variant == "all":
        variants = list(VARIANTS)
    elif args.variant is None:
        variants = [cfg.variant]
    elif args.variant in VARIANTS:
        variants = [args.variant]
    else:
        raise UsageError(f"--variant must be one of {', '.join(VARIANTS)} or all, got {args.variant!r}")
    if len(variants) > 1:
        rows, cols = len(variants), args.n
        imgs = np.concatenate([render_batch(cfg.replace(variant=v), args.seed, range(args.n)) for v in variants])
    else:
        cols = int(np.ceil(np.sqrt(args.n)))
        rows = int(np.ceil(args.n / cols))
        imgs = render_batch(cfg.replace(variant=variants[0]), args.seed, range(args.n))
    write_png(make_grid(imgs, rows, cols, pad=2), out)
    print(f"preview: wrote {out} ({rows} row(s) x {cols}: {', '.join(variants)}; {cfg.height}x{cfg.width}, "
          f"seed {args.seed})")
    return 0
