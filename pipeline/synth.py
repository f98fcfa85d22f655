"""The Primitives-PS synthesizer: one image is a pure function of (SynthConfig, seed, index).

Each sample has its own RNG, ``numpy.random.Generator(PCG64(SeedSequence([seed, index])))``, so pixels do not depend
on batch, order, process or worker count. Draw order within a sample (fixed, documented for reproducibility):

1. pink-noise channels, when the variant uses them (``pinknoise``: 3; ``primitives-ps``: 6 = background and salient
   texture, all drawn up front, see pipeline.pinknoise.PinkNoise), else the flat background colour (3 integers);
2. the N particles: kinds [N], colours [N, 3], sizes [N, 3], centres [N, 2], line endpoints [N, 4], rectangle
   corners [N, 2], ellipse angles [N] (everything for every particle, whatever its kind); in a non-square image
   N = ``particle_count`` and then the offsets along the long side [N];
3. the salient shape (variants ``-s`` and ``-ps``): kind, colour [3], centre, radii [2], rectangle extents [2],
   rectangle corner, angle.

What is drawn follows the published generator (../shared/reference/official-256/SPEC.md) with every deviation a
SynthConfig field; see SynthConfig for the quirk switches and pipeline.config.SYNTH_PRESETS for ``paper`` and ``clean``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from numba import njit

from primps.pipeline import coverage, raster
from primps.pipeline.config import REF_SIDE, SALIENT_KINDS, SynthConfig
from primps.pipeline.pinknoise import PinkNoise
from primps.pipeline.raster import ELLIPSE, LINE, RECTANGLE, THIN_LINE

_ALL = np.ones(3, dtype=np.uint8)
_KIND_ORDER = ("line", "circle", "ellipse", "rectangle")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The RNG of sample ``index`` under ``seed`` (both non-negative integers)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index)])))


def uniform_int(rng: np.random.Generator, lo, hi, size=None) -> np.ndarray:
    """U{lo..hi - 1} (lo where the range is empty) as floor(lo + u * (hi - lo)) from ``rng.random``: one double
    per value whatever the range, so a resolution change never shifts the rest of the sample's stream (numpy's
    ``integers`` draws nothing for an empty range)."""
    return scale_int(rng.random(size), lo, hi)


def scale_int(u, lo, hi):
    """floor(lo + u * max(hi - lo, 1)) in float64: ``uniform_int`` for doubles ``u`` already drawn. Several
    consecutive ``rng.random`` calls equal one call for all their values (the stream is sequential), so a sample's
    uniforms are drawn in one call and split, with the same values as one call per quantity."""
    lo = np.asarray(lo, dtype=np.float64)
    span = np.maximum(np.asarray(hi, dtype=np.float64) - lo, 1.0)
    return np.floor(lo + u * span)


def frame(cfg: SynthConfig) -> tuple[float, int, int]:
    """(u, H_ref, W_ref): u = S / 256 pixels per reference pixel, and the image size in reference pixels (256 on the
    short side). Everything is drawn in reference pixels, as the official generator draws a 256^2 image, and
    scaled by u (see SynthConfig, "Other sizes")."""
    side = min(cfg.height, cfg.width)
    return side / REF_SIDE, round(cfg.height * REF_SIDE / side), round(cfg.width * REF_SIDE / side)


def coverage_rows(cfg: SynthConfig) -> int:
    """0 at S >= 256 (pixel-centre raster), else the sub-rows per pixel row of the coverage raster, ceil(256/S)."""
    side = min(cfg.height, cfg.width)
    return 0 if side >= REF_SIDE else -(-REF_SIDE // side)


#: Particle density of a non-square strip relative to a square image's mean density. A square image shows more
#: background than a uniform strip of the same mean density (fewer particles cover its borders, and the visible
#: background is the mean of exp(-density)), so the strip is made sparser; calibrated on set A: the centred 64^2
#: crop of 64x128 / 128x64 `primitives` images has every |z| <= 2.1 at 0.93 (1.0: flat_fraction z -4.9, grey -6.2;
#: 0.8: +14, +11; BENCHMARKS.md, non-square).
STRIP_DENSITY = 0.93


def particle_count(cfg: SynthConfig) -> int:
    """The number of particles: N for a square image. A non-square image is drawn as a strip of overlapping square
    images: every particle is placed as in a square image at a uniform offset U{-255..L - 1} along the long side
    (L reference pixels), so every point of the strip is equally covered, and there are
    STRIP_DENSITY * N * (L + 255) / 256 of them (rounded)."""
    _, h, w = frame(cfg)
    return cfg.n_shapes if h == w else round(STRIP_DENSITY * cfg.n_shapes * (max(h, w) + REF_SIDE - 1) / REF_SIDE)


def size_bounds(cfg: SynthConfig, n: int | None = None) -> np.ndarray:
    """The exclusive size bound m_n of every particle n = 0..N-1 (N = ``particle_count``), in reference pixels
    (sizes are U{1..m_n - 1}; see SynthConfig)."""
    n = particle_count(cfg) if n is None else n
    side = REF_SIDE
    if cfg.size_policy == "fix":
        return np.full(n, max(1, round(cfg.fix_fraction * side)) + 1, dtype=np.int64)
    top = math.floor(cfg.size_max_fraction * side)
    if cfg.size_policy == "rand":
        return np.full(n, top + 2, dtype=np.int64)
    return np.rint(top * (n - np.arange(n)) / max(n, 1) + 2).astype(np.int64)  # rint: half to even


def _shape_params(cfg: SynthConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kinds, raster parameters and colours of the N particles (SPEC.md section 3, with the quirk switches)."""
    n = particle_count(cfg)
    u, h, w = frame(cfg)
    weights = np.array([cfg.weight_line, cfg.weight_circle, cfg.weight_ellipse, cfg.weight_rectangle])
    cdf = np.cumsum(weights / weights.sum())
    r_kind = rng.random(n)
    colors = rng.integers(0, cfg.color_max + 1, size=(n, 3), dtype=np.uint8)
    m = size_bounds(cfg, n)
    # One call for the 12 uniforms per particle, in the documented order: sizes [N, 3], centres [N, 2],
    # endpoints [N, 4], corners [N, 2], angles [N]; then, in a non-square image, offsets along the long side [N]:
    # every particle is placed as in a square image, then shifted along the long side (particle_count).
    square = h == w
    uu = rng.random((12 if square else 13) * n)
    axis, long_side = (-1, 0) if square else ((0 if w > h else 1), max(h, w))
    if not square:
        h = w = REF_SIDE
    bw, bh = _bounds(cfg, u, w, h)
    kinds, params = _particles(r_kind, cdf, uu, m, cfg.size_policy == "fix", w, h, bw, bh, axis, long_side,
                               cfg.ellipse_growth, cfg.sorted_line_endpoints, cfg.line_length_decay)
    band = kinds == raster.LINE  # a band's angle: numpy's arctan2 (its SIMD result differs from libm's in the
    if band.any():               # last bit for ~7 % of angles, and the pixels are pinned): from (dx, dy) in p[3:5]
        params[band, 4] = np.arctan2(params[band, 4], params[band, 3])
        params[band, 3] = 0.0
    if _scaled(cfg):
        kinds, params = _to_image(kinds, params, u, REF_SIDE % min(cfg.height, cfg.width) == 0)
    return kinds, params, colors


@njit(cache=True, nogil=True)
def _particles(r_kind, cdf, uu, m, fix, w, h, bw, bh, axis, long_side, growth, sorted_ends, length_decay):
    """The particles' kinds and raster parameters from their uniforms (see _shape_params), one particle at a time,
    with the arithmetic of the vectorised version (U{lo..hi - 1} = floor(lo + u * max(hi - lo, 1)) as in
    ``scale_int``). A band (thick line) leaves (dx, dy) in params[3:5] for its angle (numpy's arctan2)."""
    n = r_kind.size
    kinds = np.empty(n, dtype=np.int64)
    params = np.zeros((n, 6), dtype=np.float64)
    for i in range(n):
        k = 0
        for c in cdf:
            if c <= r_kind[i]:
                k += 1
        k = min(k, 3)
        mi = float(m[i])
        if fix:
            sa = sb = st = mi - 1.0
        else:
            span = max(mi - 1.0, 1.0)
            sa = math.floor(1.0 + uu[3 * i] * span)
            sb = math.floor(1.0 + uu[3 * i + 1] * span)
            st = math.floor(1.0 + uu[3 * i + 2] * span)
        cx = math.floor(uu[3 * n + 2 * i] * max(float(w), 1.0))
        cy = math.floor(uu[3 * n + 2 * i + 1] * max(float(h), 1.0))
        e = 5 * n + 4 * i
        x0 = math.floor(uu[e] * max(float(bw), 1.0))
        x1 = math.floor(uu[e + 1] * max(float(bw), 1.0))
        y0 = math.floor(uu[e + 2] * max(float(bh), 1.0))
        y1 = math.floor(uu[e + 3] * max(float(bh), 1.0))
        rx = math.floor(uu[9 * n + 2 * i] * max(float(bw) - mi, 1.0))
        ry = math.floor(uu[9 * n + 2 * i + 1] * max(float(bh) - mi, 1.0))
        ang = math.floor(uu[11 * n + i] * 180.0) * (np.pi / 180.0)
        if axis >= 0:
            sh = math.floor((1.0 - REF_SIDE) + uu[12 * n + i] * max(long_side - (1.0 - REF_SIDE), 1.0))
            if axis == 0:
                cx += sh
                x0 += sh
                x1 += sh
                rx += sh
            else:
                cy += sh
                y0 += sh
                y1 += sh
                ry += sh
        p = params[i]
        if k == RECTANGLE:
            p[0] = rx + 0.5 * sa + 0.5
            p[1] = ry + 0.5 * sb + 0.5
            p[2] = 0.5 * sa
            p[3] = 0.5 * sb
        elif k == LINE:
            if sorted_ends:
                x0, x1 = min(x0, x1), max(x0, x1)
                y0, y1 = min(y0, y1), max(y0, y1)
            dx, dy = x1 - x0, y1 - y0
            if length_decay:
                length = math.hypot(dx, dy)
                f = sa / max(length, 1e-12) if length > sa else 1.0
                dx, dy = np.rint(dx * f), np.rint(dy * f)
                x1, y1 = x0 + dx, y0 + dy
            if st <= 1:
                k = THIN_LINE
                p[0], p[1], p[2], p[3], p[4] = x0, y0, x1, y1, 0.0
            else:
                p[0] = 0.5 * (x0 + x1) + 0.5
                p[1] = 0.5 * (y0 + y1) + 0.5
                p[2] = 0.5 * math.hypot(dx, dy)  # libm's hypot, as numpy's
                p[3] = dx
                p[4] = dy
            p[5] = 2.0 * (math.ceil(0.5 * st) + 0.5)
        else:
            p[0] = cx + 0.5
            p[1] = cy + 0.5
            ell = k == ELLIPSE
            p[2] = sa + growth if ell else sa
            p[3] = sb + growth if ell else sb
            p[4] = ang if ell else 0.0
        kinds[i] = k
    return kinds, params


def _bounds(cfg: SynthConfig, u: float, w: int, h: int) -> tuple[int, int]:
    """Exclusive bounds of line endpoints and particle-rectangle corners on a w x h (reference pixel) frame."""
    if cfg.particle_bounds == "official":
        return round(255 / u), round(255 / u)  # 0..254 image pixels, whatever the size
    if cfg.particle_bounds == "scaled":
        return (255 * w) // 256, (255 * h) // 256
    return w, h


def _scaled(cfg: SynthConfig) -> bool:
    """Whether shape parameters are returned in image pixels scaled from reference pixels (S != 256, except above
    256 without ``crisp_edges``: there they stay in reference pixels for the block raster)."""
    side = min(cfg.height, cfg.width)
    return side < REF_SIDE or (side > REF_SIDE and cfg.crisp_edges)


#: Radius of the disc with as many pixels as the official pixel-centre circle of integer radius r (Gauss's lattice
#: count: 5 pixels at r = 1, 13 at r = 2, ...), so that coverage gives the official area.
_LATTICE_RADIUS = np.array([math.sqrt(sum(2 * math.isqrt(r * r - y * y) + 1 for y in range(-r, r + 1)) / math.pi)
                            if r > 0 else 0.0 for r in range(REF_SIDE // 2)])


def _to_image(kinds: np.ndarray, params: np.ndarray, u: float, on_grid: bool) -> tuple[np.ndarray, np.ndarray]:
    """Reference-pixel shape parameters -> image pixels at u = S/256 != 1. A one-pixel line becomes a band
    max(|cos|, |sin|) wide (one pixel per step along its longer axis) between the centres of its end pixels.
    ``on_grid`` (256/S an integer): the coverage raster samples exactly the 256^2 pixel centres, so the official
    geometry is kept; otherwise the shapes are first made continuous with the area of their official pixel-centre
    raster: a rectangle covering x1..x1 + a inclusive is a + 1 pixels long, a circle has its lattice-count radius."""
    kinds, p = kinds.copy(), params.copy()
    if not on_grid:
        rect = kinds == raster.RECTANGLE
        p[rect, 2:4] += 0.5
        circ = kinds == raster.CIRCLE
        r = p[circ, 2]
        whole = (r == np.floor(r)) & (r < _LATTICE_RADIUS.size)
        p[np.flatnonzero(circ)[whole], 2:4] = _LATTICE_RADIUS[r[whole].astype(np.int64)][:, None]
    thin = kinds == raster.THIN_LINE
    if thin.any():
        x0, y0, x1, y1 = p[thin, 0], p[thin, 1], p[thin, 2], p[thin, 3]
        ang = np.arctan2(y1 - y0, x1 - x0)
        p[thin, 0], p[thin, 1] = 0.5 * (x0 + x1) + 0.5, 0.5 * (y0 + y1) + 0.5
        p[thin, 2], p[thin, 3], p[thin, 4] = 0.5 * np.hypot(x1 - x0, y1 - y0), 0.0, ang
        p[thin, 5] = np.maximum(np.abs(np.cos(ang)), np.abs(np.sin(ang)))
        kinds[thin] = raster.LINE
    p[:, 0:4] *= u
    p[:, 5] *= u
    return kinds, p


def _salient_params(cfg: SynthConfig, rng: np.random.Generator) -> tuple[int, np.ndarray, np.ndarray]:
    """Kind code, raster parameters and colour of the salient shape (SPEC.md section 4, with the quirk switches).
    Every quantity is drawn whatever the kind, so the stream does not depend on it."""
    u, h, w = frame(cfg)
    side = min(cfg.height, cfg.width)
    kind_name = cfg.salient_kinds[int(uniform_int(rng, 0, len(cfg.salient_kinds)))]
    color = rng.integers(0, cfg.color_max + 1, size=3, dtype=np.uint8)
    # One call for the 9 uniforms that follow, in order: cx, cy, radii [2], extents [2], x1, y1, angle.
    uu = rng.random(9)

    def span(k: int, lo: int, hi: int, size=None):  # U{lo..hi - 1} (lo when the range is empty) from uu[k:k+size]
        return scale_int(uu[k] if size is None else uu[k:k + size], lo, hi)

    ref = REF_SIDE  # the short side in reference pixels: the salient shape sits in the centred square
    jx = jy = math.floor(cfg.salient_jitter * ref)
    cx, cy = span(0, w // 2 - jx, w // 2 + jx), span(1, h // 2 - jy, h // 2 + jy)
    radii = span(2, math.floor(cfg.salient_size_min * ref), math.floor(cfg.salient_size_max * ref), 2)
    extents = span(4, math.floor(cfg.salient_rect_min * ref), math.floor(cfg.salient_rect_max * ref), 2)
    x1 = (w - ref) // 2 + span(6, ref // 8, ref // 2)
    y1 = (h - ref) // 2 + span(7, ref // 8, ref // 2)
    angle = float(span(8, 0, 180)) * math.pi / 180.0
    g = cfg.ellipse_growth
    if kind_name == "circle":
        p = [cx + 0.5, cy + 0.5, radii[0], radii[0], 0.0, 1.0]
    elif kind_name == "ellipse":
        p = [cx + 0.5, cy + 0.5, radii[0] + g, radii[1] + g, angle if cfg.salient_ellipse_rotation else 0.0, 1.0]
    elif cfg.salient_rect_by_corner:
        p = [x1 + 0.5 * extents[0] + 0.5, y1 + 0.5 * extents[1] + 0.5, 0.5 * extents[0], 0.5 * extents[1], 0.0, 1.0]
    else:
        p = [cx + 0.5, cy + 0.5, 0.5 * extents[0], 0.5 * extents[1], 0.0, 1.0]
    kind = raster.KIND_CODES[kind_name]
    p = np.array(p, dtype=np.float64)
    if _scaled(cfg):
        k, q = _to_image(np.array([kind]), p[None, :], u, REF_SIDE % side == 0)
        kind, p = int(k[0]), q[0]
    return kind, p, color


def render_into(cfg: SynthConfig, seed: int, index: int, canvas: np.ndarray,
                mask: np.ndarray | None = None) -> np.ndarray | None:
    """Render sample (seed, index) into ``canvas`` (uint8 [H, W, 3], C-contiguous).

    If ``mask`` (uint8 [H, W]) is given it is set to 1 on the salient shape (all 0 for variants without one; below
    256^2: where the shape covers at least half of the pixel). Returns the mask used, if any.
    """
    h, w = cfg.height, cfg.width
    if canvas.shape != (h, w, 3) or canvas.dtype != np.uint8:
        raise ValueError(f"canvas must be uint8 {(h, w, 3)}, got {canvas.dtype} {canvas.shape}")
    if mask is not None and (mask.shape != (h, w) or mask.dtype != np.uint8):
        raise ValueError(f"mask must be uint8 {(h, w)}, got {mask.dtype} {mask.shape}")
    q = coverage_rows(cfg)
    if q:
        return _render_coverage(cfg, seed, index, canvas, mask, q)
    rng = sample_rng(seed, index)
    variant = cfg.variant
    has_salient = variant in ("primitives-s", "primitives-ps")
    if has_salient and mask is None:
        mask = np.zeros((h, w), dtype=np.uint8)
    elif mask is not None:
        mask[...] = 0
    dummy = np.zeros((1, 1), dtype=np.uint8)
    noise = None
    if variant in ("pinknoise", "primitives-ps"):  # background 0..2, salient texture 3..5
        noise = _noise(cfg, rng)
        raster.fields_to_canvas(noise.field(0), noise.field(1), noise.field(2), canvas, dummy, False, _ALL,
                                cfg.joint_normalisation)
        if variant == "pinknoise":
            return mask
    else:
        bg = _background(cfg, rng)
        raster.fill(canvas, bg[0], bg[1], bg[2])
    blocks = min(h, w) > REF_SIDE and not cfg.crisp_edges
    u, href, wref = frame(cfg)
    if cfg.n_shapes:
        kinds, params, colors = _shape_params(cfg, rng)
        if blocks:
            raster.draw_shapes_blocks(canvas, kinds, params, colors, u, href, wref)
        else:
            raster.draw_shapes(canvas, kinds, params, colors)
    if has_salient:
        kind, p, color = _salient_params(cfg, rng)
        if blocks:
            raster.draw_mask_blocks(mask, kind, p, u, href, wref)
        else:
            raster.draw_mask(mask, kind, p)
        if noise is not None:
            channels = (color != 0).astype(np.uint8) if cfg.salient_mask_per_channel else _ALL
            raster.fields_to_canvas(noise.field(3), noise.field(4), noise.field(5), canvas, mask, True, channels,
                                    cfg.joint_normalisation)
        elif blocks:
            raster.draw_shapes_blocks(canvas, np.array([kind], dtype=np.int64), p[None, :], color[None, :], u, href,
                                      wref)
        else:
            raster.draw_shapes(canvas, np.array([kind], dtype=np.int64), p[None, :], color[None, :])
    return mask


def _noise(cfg: SynthConfig, rng: np.random.Generator) -> PinkNoise:
    """The pink-noise channels of a ``pinknoise`` (3) or ``primitives-ps`` (6: background, salient texture) image."""
    return PinkNoise(rng, 3 if cfg.variant == "pinknoise" else 6, cfg.height, cfg.width, cfg.alpha_min,
                     cfg.alpha_max, cfg.noise_unit, cfg.noise_dc_fraction)


def _background(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    bg = rng.integers(0, cfg.color_max + 1, size=3, dtype=np.uint8)
    if cfg.grey_background:
        bg[1] = bg[2] = bg[0]
    return bg


def _normalised(noise: PinkNoise, first: int, joint: bool) -> tuple[list, list, list]:
    """Fields first..first+2 and the (min, max) each is normalised with (joint: over the three); below 256^2 the
    range is that of the 256^2 field (PinkNoise.range_margin)."""
    fs = [noise.field(first + c) for c in range(3)]
    margin = [noise.range_margin(first + c, f) for c, f in enumerate(fs)]
    lo = [float(f.min()) - m for f, m in zip(fs, margin)]
    hi = [float(f.max()) + m for f, m in zip(fs, margin)]
    if joint:
        lo, hi = [min(lo)] * 3, [max(hi)] * 3
    return fs, lo, hi


def _render_coverage(cfg: SynthConfig, seed: int, index: int, canvas: np.ndarray, mask: np.ndarray | None,
                     q: int) -> np.ndarray | None:
    """render_into below 256^2: the same draws, composed in float with pixel coverage (pipeline.coverage), so that a
    pixel is the mean of the 256^2 raster it stands for."""
    h, w = cfg.height, cfg.width
    rng = sample_rng(seed, index)
    variant = cfg.variant
    has_salient = variant in ("primitives-s", "primitives-ps")
    work = np.empty((h, w, 3), dtype=np.float32)
    noise = None
    if variant in ("pinknoise", "primitives-ps"):
        noise = _noise(cfg, rng)
        fs, lo, hi = _normalised(noise, 0, cfg.joint_normalisation)
        for c in range(3):
            coverage.write_field(fs[c], work, c, lo[c], hi[c])
    else:
        bg = _background(cfg, rng)
        coverage.fill(work, float(bg[0]), float(bg[1]), float(bg[2]))
    if variant != "pinknoise" and cfg.n_shapes:
        kinds, params, colors = _shape_params(cfg, rng)
        coverage.draw_shapes(work, kinds, params, colors, q)
    if mask is not None:
        mask[...] = 0
    if has_salient:
        kind, p, color = _salient_params(cfg, rng)
        if noise is not None:
            cov = np.zeros((h, w), dtype=np.float32)
            coverage.draw_mask(cov, kind, p, q)
            fs, lo, hi = _normalised(noise, 3, cfg.joint_normalisation)
            for c in range(3):
                if color[c] != 0 or not cfg.salient_mask_per_channel:
                    coverage.blend_field(fs[c], work, c, lo[c], hi[c], cov)
            if mask is not None:
                mask[...] = cov >= 0.5
        else:
            coverage.draw_shapes(work, np.array([kind], dtype=np.int64), p[None, :], color[None, :], q)
            if mask is not None:
                cov = np.zeros((h, w), dtype=np.float32)
                coverage.draw_mask(cov, kind, p, q)
                mask[...] = cov >= 0.5
    coverage.to_uint8(work, canvas)
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
