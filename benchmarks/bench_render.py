"""Render throughput into PNG shards (end to end: synthesize, encode, tar, sha256, fsync), 1 vs 2 Dask workers.

Usage: python benchmarks/bench_render.py [--n 20000] [--resolution 256] [--shard-size 1000] [--workers 1 2]
Prints one JSON object: per worker count img/s (render_dataset wall time on an already started local cluster, and
including cluster start-up), peak worker RSS (MiB), the 1 -> 2 worker scaling, an estimate for 1,000,000 images, and
a comparison of lossless encoders (PNG filters and levels via imagecodecs and Pillow, raw PPM) on the same images.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _maxrss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _png_encoders() -> dict:
    """Lossless encoders a plain webdataset reader still decodes (PNG any filter/level; PPM via Pillow)."""
    import imagecodecs
    from PIL import Image

    def png(level, filt, strategy=None):
        kw = {"level": level, "filter": filt}
        if strategy is not None:
            kw["strategy"] = strategy
        return lambda a: bytes(imagecodecs.png_encode(a, **kw))

    def pil(fmt, **kw):
        def enc(a):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format=fmt, **kw)
            return buf.getvalue()
        return enc

    F, S = imagecodecs.PNG.FILTER, imagecodecs.PNG.STRATEGY
    return {
        "png_l1_paeth_rle (primps default)": png(1, F.PAETH, S.RLE),
        "png_l1_sub_rle": png(1, F.SUB, S.RLE),
        "png_l1_up_rle": png(1, F.UP, S.RLE),
        "png_l1_none_rle": png(1, F.NONE, S.RLE),
        "png_l1_paeth": png(1, F.PAETH),
        "png_l2_paeth_rle": png(2, F.PAETH, S.RLE),
        "png_l0_none (stored)": png(0, F.NONE),
        "png_pillow_default": pil("PNG"),
        "png_pillow_level1": pil("PNG", compress_level=1),
        "ppm_pillow (raw)": pil("PPM"),
    }


def codec_compare(cfg, n: int = 100, repeats: int = 3) -> dict:
    """ms per image and mean bytes of every encoder in _png_encoders on the same n images (best of repeats,
    interleaved), plus the synthesis time of the same images."""
    import numpy as np

    from primps.pipeline.synth import render_one

    imgs = [render_one(cfg, 0, i) for i in range(n)]
    enc = _png_encoders()
    best = {k: float("inf") for k in enc}
    size = {}
    for _ in range(repeats):
        for k, f in enc.items():
            t = time.perf_counter()
            out = [f(a) for a in imgs]
            best[k] = min(best[k], (time.perf_counter() - t) / n)
            size[k] = int(np.mean([len(o) for o in out]))
    t = time.perf_counter()
    for i in range(n):
        render_one(cfg, 1, i)
    synth = (time.perf_counter() - t) / n
    return {"ms_per_image_synth": round(synth * 1e3, 3),
            "encoders": {k: {"ms": round(best[k] * 1e3, 3), "bytes": size[k]} for k in enc}}


def run_one(spec_kw: dict, workers: int) -> dict:
    from dask.distributed import Client, LocalCluster

    from primps.pipeline.render import limit_threads, make_spec, render_dataset

    with tempfile.TemporaryDirectory(prefix="bench-render-") as d:
        spec = make_spec(root=Path(d) / "data", manifest_dir=Path(d) / "man", **spec_kw)
        t0 = time.perf_counter()
        limit_threads()
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
                Client(cl) as client:
            t1 = time.perf_counter()
            render_dataset(spec, scheduler=cl.scheduler_address, progress=False)
            t2 = time.perf_counter()
            rss = client.run(_maxrss_mib)
        n = spec.n_images
        return {"workers": workers, "n_images": n, "seconds": round(t2 - t1, 2),
                "img_per_s": round(n / (t2 - t1), 1), "img_per_s_incl_cluster_start": round(n / (t2 - t0), 1),
                "img_per_s_per_worker": round(n / (t2 - t1) / workers, 1),
                "peak_worker_rss_mib": round(max(rss.values()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--resolution", default="256")
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--variant", default="primitives-ps")
    ap.add_argument("--codecs-only", action="store_true", help="only the encoder comparison (no Dask runs)")
    a = ap.parse_args()
    from primps.pipeline.render import make_spec

    kw = dict(n_images=a.n, shard_size=a.shard_size, resolution=a.resolution, variant=a.variant, seed=0,
              image_format="png")
    cfg = make_spec(root=tempfile.gettempdir(), manifest_dir=tempfile.gettempdir(), **kw).config
    res = {"benchmark": "render", "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
           "resolution": a.resolution, "variant": a.variant, "format": "png", "shard_size": a.shard_size,
           "codec": codec_compare(cfg), "runs": [] if a.codecs_only else [run_one(kw, w) for w in a.workers]}
    by = {r["workers"]: r for r in res["runs"]}
    if 1 in by and 2 in by:
        res["scaling_1_to_2"] = round(by[2]["img_per_s"] / by[1]["img_per_s"], 2)
    if res["runs"]:
        best = max(res["runs"], key=lambda r: r["img_per_s"])
        res["est_minutes_for_1M_images"] = round(1e6 / best["img_per_s"] / 60, 1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
