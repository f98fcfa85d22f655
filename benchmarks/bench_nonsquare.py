"""Does the centred S x S crop of an H x W image look like a square S image? Statistics against set A by the rule.

For each size H x W and variant: 200 of ours (seed 0), the centred S x S crop (S = min(H, W)), processed by the
comparison rule (pipeline/lookrule.py) against the 500 images of the official set A processed the same way; prints
one JSON line per cell with the three largest |z| of pipeline/imagestats.

    python benchmarks/bench_nonsquare.py --sizes 32x64,64x128,128x64,256x512
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from primps.pipeline import imagestats, lookrule
from primps.pipeline.config import VARIANTS, SynthConfig, parse_resolution
from primps.pipeline.reference import load_reference
from primps.pipeline.synth import render_batch

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official-256"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32x64,64x128,128x64,256x512")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--reference", type=Path, default=REF)
    args = ap.parse_args()
    for size in args.sizes.split(","):
        h, w = parse_resolution(size)
        s = min(h, w)
        for v in VARIANTS:
            b = render_batch(SynthConfig(variant=v, height=h, width=w), 0, range(args.n))
            ours = lookrule.to_comparison(b, s)  # the centred S x S crop, processed by the rule
            ref = lookrule.to_comparison(load_reference(args.reference / f"{v}-A.tar", (256, 256))[0], s)
            z = imagestats.z_scores(imagestats.set_stats(ours), imagestats.set_stats(ref))
            worst = sorted(z.items(), key=lambda kv: -abs(kv[1]))[:3]
            print(json.dumps({"size": size, "variant": v, "worst_z": {k: round(x, 1) for k, x in worst}}), flush=True)


if __name__ == "__main__":
    main()
