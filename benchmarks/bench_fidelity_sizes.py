"""Fidelity at every size: the table variant x S of BENCHMARKS.md ("Synthesizer fidelity at every size").

For each variant and S, ours (``--n`` images, indices 0.. under ``--seed``, rendered at S) and the official set A
(``--n-ref`` images) are processed by the comparison rule (pipeline.lookrule: below 256 the official images are
area-downsized to S; above, both sides to 128), then compared with the project's Inception features: the noise
floor is split-half (set A alone: FID of its first against its second half), ours is FID against each half with
the same sample sizes (trainers.metrics.fid_against_split_floor), ratio = ours / floor. Statistics: ours against
all ``--n-ref`` reference images, z-scores. One JSON line per cell is appended to ``--out`` as soon as it is done
(the run can be stopped and resumed: finished cells are skipped); reference features are cached per (variant,
comparison side) in ``--cache``. CPU Inception is slow (~2 img/s on the shared 2-core VM): run it in the
background.

    python benchmarks/bench_fidelity_sizes.py --out fid_sizes.jsonl --sizes 64,32,512,128,1024 --n 200 --n-ref 400
    python benchmarks/bench_fidelity_sizes.py --out fid_sizes.jsonl --table    # print the markdown table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "official-256"


def _load_ref(variant: str) -> np.ndarray:
    from primps.pipeline.reference import load_reference

    imgs, _ = load_reference(REF / f"{variant}-A.tar", (256, 256))
    return imgs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", default="primitives-ps,primitives,primitives-s,pinknoise")
    ap.add_argument("--sizes", default="64,32,512,128,1024")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--n-ref", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "primps" / "fid-sizes"))
    ap.add_argument("--table", action="store_true", help="only print the markdown table of --out")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.table:
        print(table([json.loads(line) for line in out.read_text().splitlines() if line.strip()]))
        return 0

    from primps.pipeline import imagestats, lookrule
    from primps.pipeline.config import resolve_synth_config
    from primps.pipeline.reference import image_features
    from primps.pipeline.synth import render_batch
    from primps.trainers.metrics import InceptionFeatures, fid_against_split_floor

    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done.add((r["variant"], r["side"]))
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    inception = InceptionFeatures(batch_size=50)
    for variant in args.variants.split(","):
        ref_all = None
        for side in (int(s) for s in args.sizes.split(",")):
            if (variant, side) in done:
                continue
            t0 = time.time()
            if ref_all is None:
                ref_all = _load_ref(variant)[:args.n_ref]
            cside = lookrule.comparison_side(side)
            ref = lookrule.to_comparison(ref_all, side)
            fpath = cache / f"{variant}-A{args.n_ref}-{cside}.npy"
            if fpath.is_file():
                ref_f = np.load(fpath)
            else:
                ref_f = image_features(inception, ref, f"{variant} reference at {cside}")
                np.save(fpath, ref_f)
            cfg = resolve_synth_config(preset=args.preset, variant=variant, resolution=side)
            ours = lookrule.to_comparison(render_batch(cfg, args.seed, range(args.n)), side)
            our_f = image_features(inception, ours, f"{variant} ours at {side}")
            res = fid_against_split_floor(ref_f, our_f, subset_size=min(100, args.n))
            z = imagestats.z_scores(imagestats.set_stats(ours), imagestats.set_stats(ref))
            worst = max(z, key=lambda k: abs(z[k]))
            row = {"variant": variant, "side": side, "comparison_side": cside, "n": args.n, "n_ref": len(ref_all),
                   "seed": args.seed, "preset": args.preset, **res, "z": z, "max_abs_z": abs(z[worst]),
                   "max_z_stat": worst, "seconds": round(time.time() - t0, 1)}
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{variant} {side}: FID {res['fid_split']:.2f} floor {res['floor']:.2f} ratio {res['ratio']:.3f} "
                  f"max|z| {abs(z[worst]):.2f} ({worst})", file=sys.stderr, flush=True)
    return 0


def table(rows: list[dict]) -> str:
    sides = sorted({r["side"] for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["variant"], r["side"]): r for r in rows}
    lines = ["| variant | " + " | ".join(f"{s}²" for s in sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for v in variants:
        cells = []
        for s in sides:
            r = by.get((v, s))
            cells.append("not measured" if r is None else
                         f"{r['fid_split']:.1f} / {r['floor']:.1f} = **{r['ratio']:.2f}**, max z {r['max_abs_z']:.1f}")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
