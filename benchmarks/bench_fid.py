"""FID mathematics side by side (sqrtm vs eigh vs low-rank) and Inception throughput; prints one JSON line.

    .venv/bin/python benchmarks/bench_fid.py --n-real 100 --n-gen 5000 --inception-n 32
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def timed(fn):
    t = time.perf_counter()
    v = fn()
    return v, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-real", type=int, default=100)
    ap.add_argument("--n-gen", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--inception-n", type=int, default=32, help="images for the Inception throughput (0: skip)")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()

    from primps.trainers import metrics as M

    rng = np.random.default_rng(0)
    # feature-like data: non-negative, correlated (pool3 features are post-ReLU averages)
    mix = rng.normal(size=(args.dim, args.dim)) / np.sqrt(args.dim)
    real = np.abs(rng.normal(size=(args.n_real, args.dim)) @ mix)
    fake = np.abs(rng.normal(size=(args.n_gen, args.dim)) @ mix + 0.05)
    s_real, s_fake = M.feature_stats(real), M.feature_stats(fake)
    out = {"n_real": args.n_real, "n_gen": args.n_gen, "dim": args.dim}
    res = {}
    for method in ("sqrtm", "eigh"):
        res[method], out[f"{method}_s"] = timed(lambda: M.fid_from_stats(*s_real, *s_fake, method=method))
    res["lowrank"], out["lowrank_s"] = timed(lambda: M.fid_from_features(real, fake, method="lowrank"))
    out.update({f"fid_{k}": v for k, v in res.items()})
    out["max_rel_diff"] = max(abs(v - res["sqrtm"]) for v in res.values()) / res["sqrtm"]
    out["speedup_eigh_vs_sqrtm"] = out["sqrtm_s"] / out["eigh_s"]
    out["speedup_lowrank_vs_sqrtm"] = out["sqrtm_s"] / out["lowrank_s"]
    _, out["kid_100x_s"] = timed(lambda: M.kid_from_features(real, fake))
    if args.inception_n:
        import torch

        inc = M.InceptionFeatures(batch_size=args.batch)
        imgs = torch.randint(0, 256, (args.inception_n, 3, 256, 256), dtype=torch.uint8,
                             generator=torch.Generator().manual_seed(0))
        inc.features(imgs[: min(4, args.inception_n)])  # warm-up
        _, dt = timed(lambda: inc.features(imgs))
        out["inception_img_per_s"] = args.inception_n / dt
        out["torch_threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
