"""`primps bench`: micro-benchmarks printing one JSON line each. Sub-commands: `synth` (add more with _register_*)."""

from __future__ import annotations

import argparse
import json

from primps.pipeline.config import SYNTH_PRESETS
from primps.stages import checks
from primps.stages.cli import hidden_alias


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="micro-benchmarks (one JSON line each)",
        description="Micro-benchmarks. Each sub-command prints one JSON line on stdout.",
    )
    sub = p.add_subparsers(dest="bench_command", metavar="BENCH", required=True)
    _register_synth(sub)


def _register_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="synthesis speed, one process",
        description="Time the synthesizer (render_one, into a reused buffer) over --n-images images in this one "
                    "process (after a JIT warm-up that is not timed) and print {ms_per_img, img_per_s, "
                    "cpu_ms_per_img, ...} as one JSON line: wall-clock figures, plus the CPU time this "
                    "(single-threaded) process used, which is less disturbed by other load on the machine. "
                    "Encoding and I/O are not included.",
    )
    p.add_argument("--resolution", default="256", help="'256' or '256x128' (H x W), each side 16..1024")
    p.add_argument("-n", "--n-images", dest="n", metavar="N", type=int, default=500, help="images to time")
    hidden_alias(p, "--n", dest="n", type=int)
    p.add_argument("--variant", default="primitives-ps", help="synth variant")
    p.add_argument("--seed", type=int, default=0, help="dataset seed")
    p.add_argument("--config", default=None, help="synth config YAML (as for `primps preview`)")
    p.add_argument("--synth-preset", default=None, choices=list(SYNTH_PRESETS),
                   help="synth preset (paper, clean)")
    hidden_alias(p, "--preset", dest="synth_preset", choices=list(SYNTH_PRESETS))
    p.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from primps.pipeline.config import VARIANTS, parse_resolution

    h, w = parse_resolution(args.resolution)
    checks.positive_int(args.n, "--n-images")
    checks.non_negative_int(args.seed, "--seed")
    checks.choice(args.variant, "--variant", VARIANTS)
    if args.config is not None:
        checks.existing_file(args.config, "--config", "config file")

    import time

    import numpy as np

    from primps.pipeline.config import load_synth_config
    from primps.pipeline.synth import render_into, warm_up

    cfg = load_synth_config(args.config, args.synth_preset).replace(height=h, width=w, variant=args.variant)
    warm_up(cfg)
    canvas = np.empty((h, w, 3), dtype=np.uint8)
    render_into(cfg, args.seed, 10**9, canvas)  # warm the FFT plan cache at this size
    c0, t0 = time.process_time(), time.perf_counter()
    for i in range(args.n):
        render_into(cfg, args.seed, i, canvas)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"bench": "synth", "variant": cfg.variant, "height": h, "width": w, "n": args.n,
                      "n_shapes": cfg.n_shapes, "ms_per_img": round(dt / args.n * 1e3, 4),
                      "img_per_s": round(args.n / dt, 2), "cpu_ms_per_img": round(cpu / args.n * 1e3, 4)}))
    return 0
