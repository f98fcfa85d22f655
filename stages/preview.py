"""`primps preview`: render a grid of synthetic samples to a PNG (one labelled row per variant with --variant all),
optionally with a row of reference images above each row of ours (``--reference``) for a side-by-side look."""

from __future__ import annotations

import argparse
from pathlib import Path

from primps.pipeline.config import SYNTH_PRESETS, VARIANTS
from primps.pipeline.errors import UsageError
from primps.pipeline.grid import make_grid, write_png
from primps.stages import checks
from primps.stages.cli import hidden_alias


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "preview",
        help="render a grid of synthetic images to a PNG",
        description="Render --n-images synthetic samples (indices 0..n-1 under --seed) into one PNG grid. With "
                    "--variant all there is one row per variant, in the order " + ", ".join(VARIANTS)
                    + ", labelled on the left. "
                    "With --reference, a row of reference images (the first --n-images) is put above each row of "
                    "ours; an official 256x256 reference is resized to a square --resolution by the comparison rule "
                    "(area-downsized below 256, enlarged pixel for pixel above). "
                    "The file is written under a temporary name and renamed.",
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
    p.add_argument("--synth-preset", default=None, choices=list(SYNTH_PRESETS),
                   help="synth preset: paper (the default look) or clean")
    hidden_alias(p, "--preset", dest="synth_preset", choices=list(SYNTH_PRESETS))
    p.add_argument("--reference", default=None,
                   help="reference images: a tar or folder of images (one variant), or a folder holding one "
                        "'<variant>-*.tar' per variant (e.g. ../shared/reference/official-256) for --variant all")
    p.add_argument("--n-shapes", type=int, default=None, help="override the number of shapes N (0..500)")
    p.add_argument("--size-policy", default=None, choices=["decay", "fix", "rand"], help="override the size policy")
    p.add_argument("--out", required=True, help="output PNG path")
    p.set_defaults(func=run)


def reference_for(path: Path, variant: str, single: bool) -> Path:
    """The reference tar/folder for ``variant``: ``path`` itself, or its '<variant>-*.tar' when it is a folder of
    per-variant tars (the longest matching variant name wins, so primitives-s-A.tar is not primitives)."""
    from primps.pipeline.config import VARIANTS

    if not path.exists():
        raise UsageError(f"--reference not found: {path}")
    if path.is_dir():
        tars = {}
        for f in sorted(path.glob("*.tar")):
            names = [v for v in VARIANTS if f.stem == v or f.stem.startswith(v + "-")]
            if names:
                tars.setdefault(max(names, key=len), f)
        if variant in tars:
            return tars[variant]
        if not single or tars:
            raise UsageError(f"--reference folder {path} has no '{variant}-*.tar'")
    return path


def _label(grid, labels: list[str], rows: int, h: int, pad: int):
    """Prefix a white margin with one label per row, its font scaled with the image height (readable at 512^2)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    size = max(11, min(h // 8, 64))
    font = ImageFont.load_default(size=size)
    width = max(96, 8 + int(font.getlength(max(labels[:rows], key=len, default=""))) + 8)
    out = np.full((grid.shape[0], grid.shape[1] + width, 3), 255, dtype=np.uint8)
    out[:, width:] = grid
    im = Image.fromarray(out)
    draw = ImageDraw.Draw(im)
    for r, text in enumerate(labels[:rows]):
        draw.text((4, pad + r * (h + pad) + h // 2), text, fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(im)


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

    from primps.pipeline.config import load_synth_config, with_overrides
    from primps.pipeline.synth import render_batch

    cfg = load_synth_config(args.config, args.synth_preset)
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
    refs = {}
    if args.reference is not None:
        from primps.pipeline import lookrule
        from primps.pipeline.reference import load_reference

        for v in variants:
            imgs, _ = load_reference(reference_for(Path(args.reference), v, len(variants) == 1), None)
            imgs = imgs[:args.n]
            if imgs.shape[1:3] != (cfg.height, cfg.width):
                if cfg.height != cfg.width or not lookrule.resizable_reference(imgs.shape[1:3],
                                                                               (cfg.height, cfg.width)):
                    raise UsageError(f"--reference images are {imgs.shape[1]}x{imgs.shape[2]} (HxW) but ours are "
                                     f"{cfg.height}x{cfg.width}; give a reference of the same size, or an "
                                     "official 256x256 one with a square --resolution")
                imgs = lookrule.reference_rows(imgs, cfg.height)
            refs[v] = imgs
    if len(variants) > 1 or refs:
        cols = args.n
        blocks, labels = [], []
        for v in variants:
            if v in refs:
                row = np.full((cols, cfg.height, cfg.width, 3), 255, dtype=np.uint8)
                row[:len(refs[v])] = refs[v]
                blocks.append(row)
                labels.append("reference")
            blocks.append(render_batch(cfg.replace(variant=v), args.seed, range(args.n)))
            labels.append(v)
        rows = len(blocks)
        grid = _label(make_grid(np.concatenate(blocks), rows, cols, pad=2), labels, rows, cfg.height, 2)
    else:
        cols = int(np.ceil(np.sqrt(args.n)))
        rows = int(np.ceil(args.n / cols))
        imgs = render_batch(cfg.replace(variant=variants[0]), args.seed, range(args.n))
        grid = make_grid(imgs, rows, cols, pad=2)
    write_png(grid, out)
    print(f"preview: wrote {out} ({rows} row(s) x {cols}: {', '.join(variants)}"
          f"{' with reference rows' if refs else ''}; {cfg.height}x{cfg.width}, seed {args.seed})")
    return 0
