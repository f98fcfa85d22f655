"""Synthesis speed, one process, one core: primps's synthesizer vs a naive baseline, measured side by side.

The naive baseline is written here from SPEC.md's description of the published generator (not from its code): per
channel a complex128 numpy FFT of Gaussian white noise, spectrum weighted on the full 2-D grid, inverse FFT, joint
min-max to uint8; shapes drawn one at a time with Pillow's ImageDraw; the salient shape pasted through a mask. It is
only a yardstick for the ratio (square images only).

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
def _naive_pink(rng: np.random.Generator, s: int, amin: float, amax: float) -> np.ndarray:
    """SPEC.md sections 1-2 done plainly: per channel a complex128 FFT of white noise, weights on the full grid,
    inverse FFT; the three channels min-max normalised jointly."""
    f = np.abs(np.fft.fftfreq(s) * s) * 5.0 / s
    f[0] = f[1] / 10
    chans = []
    for _ in range(3):
        a, b = rng.uniform(amin, amax, size=2)
        wts = 1.0 / (f[:, None] ** a + f[None, :] ** b + 2e-6)
        chans.append(np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((s, s))) * wts)))
    x = np.stack(chans, axis=-1)
    return (255 * ((x - x.min()) / (x.max() - x.min()))).astype(np.uint8)


def naive_render(cfg: SynthConfig, seed: int, index: int) -> np.ndarray:
    """The paper preset at S x S drawn one shape at a time with Pillow's ImageDraw (a yardstick, square only)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    s, n = cfg.height, cfg.n_shapes
    if cfg.variant in ("pinknoise", "primitives-ps"):
        img = Image.fromarray(_naive_pink(rng, s, cfg.alpha_min, cfg.alpha_max))
        if cfg.variant == "pinknoise":
            return np.asarray(img)
    else:
        img = Image.new("RGB", (s, s), (int(rng.integers(0, 255)),) * 3)
    draw = ImageDraw.Draw(img)
    slots = ["line", "circle", "circle", "ellipse", "ellipse", "rectangle", "rectangle"]
    for k in range(n):
        m = int(round(s // 5 * (n - k) / n + 2))
        kind = slots[rng.integers(7)]
        col = tuple(int(v) for v in rng.integers(0, 255, 3))
        if kind == "line":
            xs, ys = np.sort(rng.integers(0, 255, 2)), np.sort(rng.integers(0, 255, 2))
            draw.line([(xs[0], ys[0]), (xs[1], ys[1])], fill=col, width=int(rng.integers(1, m)))
        elif kind == "rectangle":
            x, y = rng.integers(0, 255 - m, 2)
            draw.rectangle([x, y, x + rng.integers(1, m), y + rng.integers(1, m)], fill=col)
        else:
            x, y = rng.integers(0, s, 2)
            rx = int(rng.integers(1, m))
            ry = rx if kind == "circle" else int(rng.integers(1, m))
            draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=col)  # (rotation left out of the yardstick)
    if cfg.variant in ("primitives-s", "primitives-ps"):
        mask = Image.new("L", (s, s), 0)
        cx, cy = rng.integers(s // 2 - s // 10, s // 2 + s // 10, 2)
        rx, ry = rng.integers(s // 4, 3 * s // 8, 2)
        ImageDraw.Draw(mask).ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        if cfg.variant == "primitives-ps":
            tex = Image.fromarray(_naive_pink(rng, s, cfg.alpha_min, cfg.alpha_max))
        else:
            tex = Image.new("RGB", (s, s), tuple(int(v) for v in rng.integers(0, 255, 3)))
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
