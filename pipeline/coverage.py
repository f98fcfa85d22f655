"""Coverage-antialiased rasterizers for images smaller than the reference side (S < 256): numba, no OpenCV.

Below 256^2 a pixel stands for a block of (256/S)^2 pixels of the official 256^2 image, and the target is that
block's mean (the official image downsized by area). These functions compute it span by span, without drawing the
256^2 image: a pixel holds q x q sample points, q = ceil(256/S) (where 256/S is an integer, as at S = 32, 64, 128,
they are exactly the pixel centres of the 256^2 grid); each of the q sub-rows' inside interval is solved in closed
form by the same span code as the hard rasterizer (pipeline.raster), and the sample points in it are counted per
pixel in O(1) (interior pixels get all q). A shape of coverage
a in a pixel blends over what is there: v <- v + a (colour - v) (interior pixels: a = 1). The cost is that of the
hard rasterizer times ``q`` on the rows a shape touches, so it stays proportional to the painted area.

Working values are float32 [H, W, 3] in 0..255 (no rounding between layers); ``to_uint8`` rounds once at the end.
Shape parameters are those of pipeline.raster (``(cx, cy, s1, s2, angle, thickness)`` in pixels); one-pixel lines
come as bands one sample wide (see pipeline.synth._to_image).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from primps.pipeline.raster import _row_range, _row_span, fill  # fill: the one canvas fill, any dtype


@njit(cache=True, nogil=True)
def _row_coverage(kind, p, c, s, i, q, w, cov):
    """Accumulate the coverage of pixel row i into cov[0..w): the fraction of its q x q sample points
    (i + (r + 0.5) / q, j + (t + 0.5) / q) inside the shape. Returns the touched column range [j0, j1)."""
    inv2 = 1.0 / (q * q)
    j0, j1 = w, 0
    for r in range(q):
        xl, xh = _row_span(kind, p, c, s, i + (r + 0.5) / q)
        if not xl <= xh:
            continue
        ma = max(0, int(math.ceil(xl * q - 0.5)))  # sample columns m with xl <= (m + 0.5) / q <= xh
        mb = min(w * q - 1, int(math.floor(xh * q - 0.5)))
        if ma > mb:
            continue
        ja, jb = ma // q, mb // q
        if ja == jb:
            cov[ja] += (mb - ma + 1) * inv2
        else:
            cov[ja] += ((ja + 1) * q - ma) * inv2
            full = q * inv2
            for j in range(ja + 1, jb):
                cov[j] += full
            cov[jb] += (mb - jb * q + 1) * inv2
        j0 = min(j0, ja)
        j1 = max(j1, jb + 1)
    return j0, j1


@njit(cache=True, nogil=True)
def draw_shapes(canvas, kinds, params, colors, q):
    """Blend shapes in order over a float32 [H, W, 3] canvas with their pixel coverage (q sub-rows per row)."""
    h, w = canvas.shape[0], canvas.shape[1]
    cov = np.zeros(w, dtype=np.float64)
    for k in range(kinds.shape[0]):
        kind = kinds[k]
        p = params[k]
        cr, cg, cb = np.float32(colors[k, 0]), np.float32(colors[k, 1]), np.float32(colors[k, 2])
        c, s = math.cos(p[4]), math.sin(p[4])
        i0, i1 = _row_range(kind, p, c, s, h)
        for i in range(i0, i1):
            j0, j1 = _row_coverage(kind, p, c, s, i, q, w, cov)
            for j in range(j0, j1):
                a = cov[j]
                cov[j] = 0.0
                if a >= 1.0 - 1e-9:
                    canvas[i, j, 0] = cr
                    canvas[i, j, 1] = cg
                    canvas[i, j, 2] = cb
                elif a > 0.0:
                    af = np.float32(a)
                    canvas[i, j, 0] += af * (cr - canvas[i, j, 0])
                    canvas[i, j, 1] += af * (cg - canvas[i, j, 1])
                    canvas[i, j, 2] += af * (cb - canvas[i, j, 2])


@njit(cache=True, nogil=True)
def draw_mask(mask, kind, params, q):
    """mask (float32 [H, W], zeroed by the caller) = coverage of one shape."""
    h, w = mask.shape[0], mask.shape[1]
    cov = np.zeros(w, dtype=np.float64)
    c, s = math.cos(params[4]), math.sin(params[4])
    i0, i1 = _row_range(kind, params, c, s, h)
    for i in range(i0, i1):
        j0, j1 = _row_coverage(kind, params, c, s, i, q, w, cov)
        for j in range(j0, j1):
            mask[i, j] = min(cov[j], 1.0)
            cov[j] = 0.0


@njit(cache=True, nogil=True)
def write_field(field, canvas, ch, mn, mx):
    """canvas[:, :, ch] = 255 (field - mn) / (mx - mn) - 0.5: the official 8-bit truncation, averaged over a
    pixel's block, lowers the mean by half a level."""
    h, w = canvas.shape[0], canvas.shape[1]
    rng = mx - mn
    for i in range(h):
        for j in range(w):
            v = np.float32(255.0) * ((field[i, j] - mn) / rng) - np.float32(0.5) if rng > 0 else np.float32(0.0)
            canvas[i, j, ch] = max(v, np.float32(0.0))


@njit(cache=True, nogil=True)
def blend_field(field, canvas, ch, mn, mx, mask):
    """Blend a normalised field (as write_field) into channel ch with weights ``mask`` (the salient texture)."""
    h, w = canvas.shape[0], canvas.shape[1]
    rng = mx - mn
    for i in range(h):
        for j in range(w):
            a = mask[i, j]
            if a > 0.0:
                v = np.float32(255.0) * ((field[i, j] - mn) / rng) - np.float32(0.5) if rng > 0 else np.float32(0.0)
                v = max(v, np.float32(0.0))
                canvas[i, j, ch] += a * (v - canvas[i, j, ch])


@njit(cache=True, nogil=True)
def to_uint8(canvas, out):
    """out = floor(canvas + 0.5) clipped to 0..255 (one rounding, at the end)."""
    for i in range(canvas.shape[0]):
        for j in range(canvas.shape[1]):
            for c in range(3):
                v = math.floor(canvas[i, j, c] + 0.5)
                out[i, j, c] = np.uint8(min(max(v, 0.0), 255.0))


__all__ = ["draw_shapes", "draw_mask", "write_field", "blend_field", "fill", "to_uint8"]
