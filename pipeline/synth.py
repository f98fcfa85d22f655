"""The Primitives-PS synthesizer: one image is a pure function of (SynthConfig, seed, index).

Each sample has its own RNG, ``numpy.random.Generator(PCG64(SeedSequence([seed, index])))``, so pixels do not depend
on batch, order, process or worker count. Draw order within a sample (fixed, documented for reproducibility):

1. pink-noise channels, when the variant uses them (``pinknoise``: 3; ``primitives-ps``: 6 = background and salient
   texture, all drawn up front, see pipeline.pinknoise.PinkNoise), else the flat background colour (3 integers);
2. the N shapes: kinds, a block of uniforms [N, 7], colours [N, 3];
3. the salient shape (variants ``-s`` and ``-ps``): kind, uniforms [6], colour [3].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from primps.pipeline import raster
from primps.pipeline.config import SALIENT_KINDS, SynthConfig
from primps.pipeline.pinknoise import PinkNoise

_KIND_ORDER = ("line", "circle", "ellipse", "rectangle")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The RNG of sample ``index`` under ``seed`` (both non-negative integers)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index)])))


def _shape_params(cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = cfg.n_shapes
    h, w = cfg.height, cfg.width
    side = float(min(h, w))
    weights = np.array([cfg.weight_line, cfg.weight_circle, cfg.weight_ellipse, cfg.weight_rectangle])
    cdf = np.cumsum(weights / weights.sum())
    u = rng.random((n, 7))
    kinds = np.searchsorted(cdf, u[:, 0], side="right").clip(0, 3).astype(np.int64)
    colors = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    floor = cfg.size_floor * side
    if cfg.size_policy == "decay":
        s1 = floor + u[:, 3] * (side / 5.0) * (n - np.arange(n)) / max(n, 1)
    elif cfg.size_policy == "fix":
        s1 = np.full(n, cfg.fix_fraction * side)
    else:  # rand
        s1 = floor + u[:, 3] * (side / 5.0)
    s1 = np.maximum(s1, 0.5)
    ratio = cfg.minor_ratio_min + (1.0 - cfg.minor_ratio_min) * u[:, 4]
    s2 = s1 * ratio
    is_rect = kinds == raster.RECTANGLE
    swap = is_rect & (u[:, 5] < 0.5)  # rectangle: which axis is the long one
    s1r = np.where(swap, s2, s1)
    s2r = np.where(swap, s1, s2)
    thick = np.maximum(1.0, s1 * (cfg.line_thickness_min + (cfg.line_thickness_max - cfg.line_thickness_min)
                                  * u[:, 6]))
    params = np.empty((n, raster.N_PARAMS), dtype=np.float64)
    params[:, 0] = u[:, 1] * w
    params[:, 1] = u[:, 2] * h
    params[:, 2] = s1r
    params[:, 3] = s2r
    params[:, 4] = u[:, 5] * np.pi
    params[:, 5] = thick
    return kinds, params, colors


def _salient_params(cfg: SynthConfig, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    h, w = cfg.height, cfg.width
    side = float(min(h, w))
    kind_name = cfg.salient_kinds[int(rng.integers(0, len(cfg.salient_kinds)))]
    u = rng.random(6)
    color = rng.integers(0, 256, size=3, dtype=np.uint8)
    lo, hi = cfg.salient_size_min * side, cfg.salient_size_max * side
    a = lo + (hi - lo) * u[2]
    b = lo + (hi - lo) * u[3]
    if kind_name == "circle":
        b = a
    p = np.array([
        w / 2.0 + (2.0 * u[0] - 1.0) * cfg.salient_jitter * side,
        h / 2.0 + (2.0 * u[1] - 1.0) * cfg.salient_jitter * side,
        max(a, b) if kind_name == "ellipse" else a,
        min(a, b) if kind_name == "ellipse" else b,
        u[4] * np.pi,
        1.0,
    ], dtype=np.float64)
    return raster.KIND_CODES[kind_name], p, color


def render_into(cfg: SynthConfig, seed: int, index: int, canvas: np.ndarray,
                mask: np.ndarray | None = None) -> np.ndarray | None:
    """Render sample (seed, index) into ``canvas`` (uint8 [H, W, 3], C-contiguous).

    If ``mask`` (uint8 [H, W]) is given it is set to 1 on the salient shape (all 0 for variants without one).
    Returns the mask used, if any.
    """
    h, w = cfg.height, cfg.width
    if canvas.shape != (h, w, 3) or canvas.dtype != np.uint8:
        raise ValueError(f"canvas must be uint8 {(h, w, 3)}, got {canvas.dtype} {canvas.shape}")
    if mask is not None and (mask.shape != (h, w) or mask.dtype != np.uint8):
        raise ValueError(f"mask must be uint8 {(h, w)}, got {mask.dtype} {mask.shape}")
    rng = sample_rng(seed, index)
    variant = cfg.variant
    has_salient = variant in ("primitives-s", "primitives-ps")
    if has_salient and mask is None:
        mask = np.zeros((h, w), dtype=np.uint8)
    elif mask is not None:
        mask[...] = 0
    dummy = np.zeros((1, 1), dtype=np.uint8)
    noise = None
    if variant == "pinknoise":
        noise = PinkNoise(rng, 3, h, w, cfg.alpha_min, cfg.alpha_max)
    elif variant == "primitives-ps":
        noise = PinkNoise(rng, 6, h, w, cfg.alpha_min, cfg.alpha_max)  # background 0..2, salient texture 3..5
    else:
        bg = rng.integers(0, 256, size=3, dtype=np.uint8)
        raster.fill(canvas, bg[0], bg[1], bg[2])
    if noise is not None:
        for c in range(3):
            raster.field_to_channel(noise.field(c), canvas, c, dummy, False)
        if variant == "pinknoise":
            return mask
    if cfg.n_shapes:
        kinds, params, colors = _shape_params(cfg, rng)
        raster.draw_shapes(canvas, kinds, params, colors)
    if has_salient:
        kind, p, color = _salient_params(cfg, rng)
        raster.draw_mask(mask, kind, p)
        if noise is not None:
            for c in range(3):
                raster.field_to_channel(noise.field(3 + c), canvas, c, mask, True)
        else:
            raster.draw_shapes(canvas, np.array([kind], dtype=np.int64), p[None, :], color[None, :])
    return mask


def render_one(cfg: SynthConfig, seed: int, index: int) -> np.ndarray:
    """Sample ``index`` under ``seed`` as uint8 [H, W, 3]."""
    canvas = np.empty((cfg.height, cfg.width, 3), dtype=np.uint8)
    render_into(cfg, seed, index, canvas)
    return canvas


def render_with_mask(cfg: SynthConfig, seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 [H, W, 3], salient mask uint8 [H, W]); the mask is all 0 for variants without a salient shape."""
    canvas = np.empty((cfg.height, cfg.width, 3), dtype=np.uint8)
    mask = np.zeros((cfg.height, cfg.width), dtype=np.uint8)
    render_into(cfg, seed, index, canvas, mask)
    return canvas, mask


def render_batch(cfg: SynthConfig, seed: int, indices: Iterable[int] | Sequence[int]) -> np.ndarray:
    """Samples ``indices`` under ``seed`` as uint8 [N, H, W, 3]; row k equals ``render_one(cfg, seed, indices[k])``."""
    idx = [int(i) for i in indices]
    out = np.empty((len(idx), cfg.height, cfg.width, 3), dtype=np.uint8)
    for k, i in enumerate(idx):
        render_into(cfg, seed, i, out[k])
    return out


def warm_up(cfg: SynthConfig | None = None) -> None:
    """Compile (or load from the numba cache) every rasterizer by rendering one tiny image per variant."""
    base = cfg or SynthConfig()
    for v in ("pinknoise", "primitives", "primitives-s", "primitives-ps"):
        render_one(base.replace(variant=v, height=16, width=16, n_shapes=4,
                                salient_kinds=list(SALIENT_KINDS)), 0, 0)


__all__ = ["render_one", "render_batch", "render_into", "render_with_mask", "sample_rng", "warm_up"]
