"""Synthesis speed, one process, one core: primps's synthesizer vs a naive baseline, measured side by side.

The naive baseline is written here from the description of the published generator's approach (not from its code):
per RGB channel, complex128 numpy FFT of Gaussian white noise, spectrum weighted on the full 2-D grid, inverse FFT,
min-max to uint8; shapes drawn one at a time with Pillow's ImageDraw; the salient shape is pasted through a mask.
It is only a yardstick for the ratio.

Also compared: one batched FFT over all six channels of a -ps image vs one channel at a time (primps picks by size).

Usage:  python benchmarks/bench_synth.py [--resolution 256] [--n 300] [--naive-n 30] [--repeats 3]
Prints one JSON object. Times are CPU time of this single-threaded process (BENCH_CLOCK=wall for wall clock), exclude
JIT warm-up, and are the best of --repeats blocks; the blocks of the things compared are interleaved so that they see
the same machine load.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from primps.pipeline.config import VARIANTS, SynthConfig, parse_resolution  # noqa: E402
from primps.pipeline.synth import render_into, sample_rng, warm_up  # noqa: E402

_WALL = os.environ.get("BENCH_CLOCK", "cpu") == "wall"


# -- naive baseline -----------------------------------------------------------------------------------------------
def _naive_pink(rng: np.random.Generator, h: int, w: int, amin: float, amax: float) -> np.ndarray:
    chans = []
    fy = np.abs(np.fft.fftfreq(h) * h)[:, None]
    fx = np.abs(np.fft.fftfreq(w) * w)[None, :]
    for _ in range(3):
        a, b = rng.uniform(amin, amax, size=2)
        spec = np.fft.fft2(rng.standard_normal((h, w)))  # complex128
        with np.errstate(divide="ignore"):
            wts = 1.0 / (np.broadcast_to(fx, (h, w)) ** a + np.broadcast_to(fy, (h, w)) ** b)
        wts[0, 0] = 0.0
        x = np.real(np.fft.ifft2(spec * wts))
        x = (x - x.min()) / max(x.max() - x.min(), 1e-12) * 255.0
        chans.append(x.astype(np.uint8))
    return np.stack(chans, axis=-1)


def _naive_shape(draw, kind: str, cx: float, cy: float, s1: float, s2: float, ang: float, th: float, fill) -> None:
    if kind == "line":
        dx, dy = s1 * math.cos(ang), s1 * math.sin(ang)
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=fill, width=max(1, int(round(th))))
    elif kind == "circle":
        draw.ellipse([cx - s1, cy - s1, cx + s1, cy + s1], fill=fill)
    elif kind == "rectangle":
        draw.rectangle([cx - s1, cy - s2, cx + s1, cy + s2], fill=fill)
    else:  # rotated ellipse as a 48-gon
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        c, s = math.cos(ang), math.sin(ang)
        xs = cx + s1 * np.cos(t) * c - s2 * np.sin(t) * s
        ys = cy + s1 * np.cos(t) * s + s2 * np.sin(t) * c
        draw.polygon(list(zip(xs.tolist(), ys.tolist())), fill=fill)


def naive_render(cfg: SynthConfig, seed: int, index: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    h, w, n = cfg.height, cfg.width, cfg.n_shapes
    side = min(h, w)
    if cfg.variant in ("pinknoise", "primitives-ps"):
        img = Image.fromarray(_naive_pink(rng, h, w, cfg.alpha_min, cfg.alpha_max))
        if cfg.variant == "pinknoise":
            return np.asarray(img)
    else:
        img = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    names = ["line", "circle", "ellipse", "rectangle"]
    p = np.array([cfg.weight_line, cfg.weight_circle, cfg.weight_ellipse, cfg.weight_rectangle])
    kinds = rng.choice(4, size=n, p=p / p.sum())
    for k in range(n):
        kind = names[kinds[k]]
        s1 = cfg.size_floor * side + rng.random() * side / 5 * (n - k) / n
        s2 = s1 * rng.uniform(cfg.minor_ratio_min, 1.0)
        _naive_shape(draw, kind, rng.random() * w, rng.random() * h, s1, s2, rng.random() * np.pi,
                     max(1.0, s1 * 0.15), tuple(int(v) for v in rng.integers(0, 256, 3)))
    if cfg.variant in ("primitives-s", "primitives-ps"):
        kind = cfg.salient_kinds[rng.integers(len(cfg.salient_kinds))]
        a = rng.uniform(cfg.salient_size_min, cfg.salient_size_max) * side
        b = a if kind == "circle" else rng.uniform(cfg.salient_size_min, cfg.salient_size_max) * side
        cx = w / 2 + rng.uniform(-1, 1) * cfg.salient_jitter * side
        cy = h / 2 + rng.uniform(-1, 1) * cfg.salient_jitter * side
        mask = Image.new("L", (w, h), 0)
        _naive_shape(ImageDraw.Draw(mask), kind, cx, cy, a, b, rng.random() * np.pi, 1, 255)
        if cfg.variant == "primitives-ps":
            tex = Image.fromarray(_naive_pink(rng, h, w, cfg.alpha_min, cfg.alpha_max))
        else:
            tex = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
        img.paste(tex, (0, 0), mask)
    return np.asarray(img)


# -- FFT layout comparison ------------------------------------------------------------------------------------------
def _pink_layout(seed: int, index: int, h: int, w: int, batched: bool) -> list[np.ndarray]:
    """All six channels of a -ps image, batched in one FFT pair or one channel at a time."""
    from primps.pipeline.pinknoise import PinkNoise

    pn = PinkNoise(sample_rng(seed, index), 6, h, w, 0.5, 3.5)
    pn.batched = batched
    return [pn.field(c) for c in range(6)]


# -- timing --------------------------------------------------------------------------------------------------------
def _time_block(fn, n: int) -> float:
    """ms per call of CPU time used by this process (single-threaded work; less disturbed by other load than wall
    time). Set BENCH_CLOCK=wall for wall-clock time."""
    clock = time.perf_counter if _WALL else time.process_time
    t0 = clock()
    for i in range(n):
        fn(i)
    return (clock() - t0) / n * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", default="256")
    ap.add_argument("--n", type=int, default=300, help="images per primps block")
    ap.add_argument("--naive-n", type=int, default=30, help="images per naive block")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    h, w = parse_resolution(args.resolution)
    base = SynthConfig(height=h, width=w)
    warm_up(base)
    canvas = np.empty((h, w, 3), dtype=np.uint8)
    res: dict[str, dict[str, float]] = {}
    for v in VARIANTS:
        cfg = base.replace(variant=v)
        render_into(cfg, 0, 10**6, canvas)
        naive_render(cfg, 0, 10**6)
        best_p, best_n = math.inf, math.inf
        for _ in range(args.repeats):
            best_p = min(best_p, _time_block(lambda i: render_into(cfg, 0, i, canvas), args.n))
            best_n = min(best_n, _time_block(lambda i: naive_render(cfg, 0, i), args.naive_n))
        res[v] = {"primps_ms_per_img": round(best_p, 3), "primps_img_per_s": round(1e3 / best_p, 1),
                  "naive_ms_per_img": round(best_n, 3), "speedup_vs_naive": round(best_n / best_p, 2)}
    _pink_layout(0, 0, h, w, True)
    _pink_layout(0, 0, h, w, False)
    bt, pc = math.inf, math.inf
    for _ in range(args.repeats):
        bt = min(bt, _time_block(lambda i: _pink_layout(0, i, h, w, True), args.n // 3 or 1))
        pc = min(pc, _time_block(lambda i: _pink_layout(0, i, h, w, False), args.n // 3 or 1))
    out = {
        "bench": "synth", "clock": "wall" if _WALL else "process_cpu", "resolution": [h, w], "n": args.n,
        "naive_n": args.naive_n, "repeats": args.repeats,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version(),
        "numpy": np.__version__, "variants": res,
        "ps_noise_6ch_ms": {"batched_one_fft_call": round(bt, 3), "per_channel": round(pc, 3),
                            "per_channel_speedup": round(bt / pc, 2)},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
