"""numba rasterizers writing into a uint8 [H, W, 3] canvas (and a uint8 [H, W] mask). No OpenCV.

A shape is a kind code and a float64 parameter row ``(cx, cy, s1, s2, angle, thickness)`` in pixels/radians, with
pixel (i, j) sampled at its centre (x, y) = (j + 0.5, i + 0.5). Shapes are filled by scanline: for each row the
inside interval is solved in closed form (all four kinds are convex), so the cost is proportional to the painted area:

- LINE: a segment of half-length s1 through (cx, cy) at ``angle``, ``thickness`` pixels wide (round caps).
- CIRCLE: radius s1.
- ELLIPSE: semi-axes s1 (along ``angle``) and s2, rotated by ``angle``.
- RECTANGLE: axis-aligned, half-width s1 and half-height s2.
- THIN_LINE: a one-pixel, 8-connected line between the pixels (x0, y0) = (p[0], p[1]) and (x1, y1) = (p[2], p[3])
  (integer column/row indices; one pixel per step along the longer axis, the other coordinate rounded).

All functions are ``@njit(cache=True, nogil=True)`` with fastmath off, so results are exact IEEE arithmetic and
reproducible, and threads can render in parallel.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LINE, CIRCLE, ELLIPSE, RECTANGLE, THIN_LINE = 0, 1, 2, 3, 4
KIND_CODES = {"line": LINE, "circle": CIRCLE, "ellipse": ELLIPSE, "rectangle": RECTANGLE}
N_PARAMS = 6


_INF = 1e30


@njit(cache=True, nogil=True)
def _linear_interval(alpha, beta, lo, hi):
    """The dx interval where lo <= alpha * dx + beta <= hi (possibly empty: returned lo > hi)."""
    if alpha > 1e-12:
        return (lo - beta) / alpha, (hi - beta) / alpha
    if alpha < -1e-12:
        return (hi - beta) / alpha, (lo - beta) / alpha
    if lo <= beta <= hi:
        return -_INF, _INF
    return _INF, -_INF


@njit(cache=True, nogil=True)
def _disc_interval(px, py, r, y):
    dy = y - py
    q = r * r - dy * dy
    if q < 0.0:
        return _INF, -_INF
    half = math.sqrt(q)
    return px - half, px + half


@njit(cache=True, nogil=True)
def _row_span(kind, p, c, s, y):
    """The closed x-interval [xl, xh] of row y that lies inside the shape (xl > xh when empty)."""
    cx, cy, s1, s2, th = p[0], p[1], p[2], p[3], p[5]
    dy = y - cy
    if kind == CIRCLE:
        return _disc_interval(cx, cy, s1, y)
    if kind == RECTANGLE:
        if abs(dy) <= s2:
            return cx - s1, cx + s1
        return _INF, -_INF
    if kind == ELLIPSE:
        ia = 1.0 / (s1 * s1)
        ib = 1.0 / (s2 * s2)
        qa = c * c * ia + s * s * ib
        qb = 2.0 * c * s * (ia - ib) * dy
        qc = (s * s * ia + c * c * ib) * dy * dy - 1.0
        disc = qb * qb - 4.0 * qa * qc
        if disc < 0.0:
            return _INF, -_INF
        r = math.sqrt(disc)
        return cx + (-qb - r) / (2.0 * qa), cx + (-qb + r) / (2.0 * qa)
    # LINE: a capsule = band |u| <= s1, |v| <= th/2, plus discs of radius th/2 at both ends (convex: one interval)
    ht = 0.5 * th
    l1, h1 = _linear_interval(c, dy * s, -s1, s1)
    l2, h2 = _linear_interval(-s, dy * c, -ht, ht)
    xl, xh = max(l1, l2), min(h1, h2)
    if xl <= xh:
        xl += cx
        xh += cx
    a0, a1 = _disc_interval(cx + s1 * c, cy + s1 * s, ht, y)
    b0, b1 = _disc_interval(cx - s1 * c, cy - s1 * s, ht, y)
    if a0 <= a1:
        xl, xh = (a0, a1) if xl > xh else (min(xl, a0), max(xh, a1))
    if b0 <= b1:
        xl, xh = (b0, b1) if xl > xh else (min(xl, b0), max(xh, b1))
    return xl, xh


@njit(cache=True, nogil=True)
def _row_range(kind, p, c, s, h):
    """Rows that can intersect the shape (bounding box in y), clipped to 0..h."""
    cy, s1, s2, th = p[1], p[2], p[3], p[5]
    if kind == LINE:
        ey = abs(s1 * s) + 0.5 * th
    elif kind == CIRCLE:
        ey = s1
    elif kind == ELLIPSE:
        ey = math.sqrt((s1 * s) ** 2 + (s2 * c) ** 2)
    else:
        ey = s2
    i0 = max(0, int(math.floor(cy - ey - 0.5)))
    i1 = min(h, int(math.ceil(cy + ey + 0.5)) + 1)
    return i0, i1


@njit(cache=True, nogil=True)
def _col_range(xl, xh, w):
    """Pixel columns j with xl <= j + 0.5 <= xh, clipped to 0..w (as a half-open range)."""
    if xl > xh:
        return 0, 0
    j0 = max(0, int(math.ceil(xl - 0.5)))
    j1 = min(w, int(math.floor(xh - 0.5)) + 1)
    return j0, max(j0, j1)


@njit(cache=True, nogil=True)
def _draw_thin(canvas, p, r, g, b):
    h, w = canvas.shape[0], canvas.shape[1]
    x0, y0, x1, y1 = int(p[0]), int(p[1]), int(p[2]), int(p[3])
    n = max(abs(x1 - x0), abs(y1 - y0))
    for t in range(n + 1):
        if n == 0:
            x, y = x0, y0
        else:
            x = x0 + int(math.floor((x1 - x0) * t / n + 0.5))
            y = y0 + int(math.floor((y1 - y0) * t / n + 0.5))
        if 0 <= x < w and 0 <= y < h:
            canvas[y, x, 0] = r
            canvas[y, x, 1] = g
            canvas[y, x, 2] = b


@njit(cache=True, nogil=True)
def draw_shapes(canvas, kinds, params, colors):
    """Paint shapes in order (later ones on top) with solid colours. kinds int[n], params f8[n,6], colors u1[n,3]."""
    h, w = canvas.shape[0], canvas.shape[1]
    for k in range(kinds.shape[0]):
        kind = kinds[k]
        p = params[k]
        r, g, b = colors[k, 0], colors[k, 1], colors[k, 2]
        if kind == THIN_LINE:
            _draw_thin(canvas, p, r, g, b)
            continue
        c, s = math.cos(p[4]), math.sin(p[4])
        i0, i1 = _row_range(kind, p, c, s, h)
        for i in range(i0, i1):
            xl, xh = _row_span(kind, p, c, s, i + 0.5)
            j0, j1 = _col_range(xl, xh, w)
            for j in range(j0, j1):
                canvas[i, j, 0] = r
                canvas[i, j, 1] = g
                canvas[i, j, 2] = b


@njit(cache=True, nogil=True)
def draw_mask(mask, kind, params):
    """Set mask[i, j] = 1 inside one shape (params f8[6]); returns the number of pixels set."""
    h, w = mask.shape[0], mask.shape[1]
    c, s = math.cos(params[4]), math.sin(params[4])
    i0, i1 = _row_range(kind, params, c, s, h)
    count = 0
    for i in range(i0, i1):
        xl, xh = _row_span(kind, params, c, s, i + 0.5)
        j0, j1 = _col_range(xl, xh, w)
        for j in range(j0, j1):
            mask[i, j] = 1
        count += j1 - j0
    return count


def inside_reference(kind: int, p: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vectorised point-in-shape test (numpy, slow) used by tests to check the span rasterizer."""
    cx, cy, s1, s2, ang, th = (float(v) for v in p)
    dx, dy = x - cx, y - cy
    if kind == CIRCLE:
        return dx * dx + dy * dy <= s1 * s1
    if kind == RECTANGLE:
        return (np.abs(dx) <= s1) & (np.abs(dy) <= s2)
    c, s = math.cos(ang), math.sin(ang)
    u = dx * c + dy * s
    v = -dx * s + dy * c
    if kind == ELLIPSE:
        return (u / s1) ** 2 + (v / s2) ** 2 <= 1.0
    uc = np.clip(u, -s1, s1)
    return (u - uc) ** 2 + v * v <= 0.25 * th * th


@njit(cache=True, nogil=True)
def _write_channel(field, canvas, c, mn, mx):
    """canvas[:, :, c] = trunc(255 * ((field - mn) / (mx - mn))) (0 where mx == mn); divide first, then multiply,
    as the official conversion, so the maximum maps to exactly 255."""
    h, w = canvas.shape[0], canvas.shape[1]
    rng = mx - mn
    top = np.float32(255.0)
    if not rng > 0:
        for i in range(h):
            for j in range(w):
                canvas[i, j, c] = 0
        return
    for i in range(h):
        row = field[i]
        for j in range(w):
            canvas[i, j, c] = np.uint8(top * ((row[j] - mn) / rng))


@njit(cache=True, nogil=True)
def _write_channel_masked(field, canvas, c, mn, mx, mask):
    h, w = canvas.shape[0], canvas.shape[1]
    rng = mx - mn
    top = np.float32(255.0)
    for i in range(h):
        row = field[i]
        for j in range(w):
            if mask[i, j] != 0:
                canvas[i, j, c] = np.uint8(top * ((row[j] - mn) / rng)) if rng > 0 else np.uint8(0)


def fields_to_canvas(f0, f1, f2, canvas, mask, use_mask, channels, joint):
    """Write three float32 [H, W] fields as canvas channels 0..2: v -> trunc(255 * ((v - m) / (M - m))).

    ``joint``: m and M are the minimum and maximum over all three fields (the official normalisation); else each
    field's own. ``use_mask``: only pixels with mask != 0 are written; ``channels`` (uint8[3]): a channel c with
    channels[c] == 0 is not written at all. (Minimum and maximum by numpy: SIMD, ~4x faster than a numba loop.)
    """
    fs = (f0, f1, f2)
    lo = [f.min() for f in fs]
    hi = [f.max() for f in fs]
    if joint:
        lo = [min(lo)] * 3
        hi = [max(hi)] * 3
    for c in range(3):
        if channels[c]:
            if use_mask:
                _write_channel_masked(fs[c], canvas, c, lo[c], hi[c], mask)
            else:
                _write_channel(fs[c], canvas, c, lo[c], hi[c])


@njit(cache=True, nogil=True)
def fill(canvas, r, g, b):
    """Fill the canvas with one colour."""
    for i in range(canvas.shape[0]):
        for j in range(canvas.shape[1]):
            canvas[i, j, 0] = r
            canvas[i, j, 1] = g
            canvas[i, j, 2] = b


# -- above 256^2: the 256^2 raster seen at S (each reference pixel a block of about u x u pixels) --------------------
@njit(cache=True, nogil=True)
def _block(ref, u, n):
    """Pixels [a, b) of an axis of n pixels whose centres fall in reference pixel ``ref``: floor((i + 0.5) / u) =
    ref."""
    a = max(0, int(math.ceil(ref * u - 0.5)))
    b = min(n, int(math.ceil((ref + 1) * u - 0.5)))
    return a, b


@njit(cache=True, nogil=True)
def _fill_block(canvas, r0, r1, c0, c1, r, g, b):
    for i in range(r0, r1):
        for j in range(c0, c1):
            canvas[i, j, 0] = r
            canvas[i, j, 1] = g
            canvas[i, j, 2] = b


@njit(cache=True, nogil=True)
def draw_shapes_blocks(canvas, kinds, params, colors, u, href, wref):
    """draw_shapes with parameters in reference pixels on an image u >= 1 times larger: the reference-pixel-centre
    raster (the official one), every reference pixel painted as the block of image pixels whose centres it holds."""
    h, w = canvas.shape[0], canvas.shape[1]
    for k in range(kinds.shape[0]):
        kind = kinds[k]
        p = params[k]
        r, g, b = colors[k, 0], colors[k, 1], colors[k, 2]
        if kind == THIN_LINE:
            x0, y0, x1, y1 = int(p[0]), int(p[1]), int(p[2]), int(p[3])
            n = max(abs(x1 - x0), abs(y1 - y0))
            for t in range(n + 1):
                x, y = x0, y0
                if n > 0:
                    x = x0 + int(math.floor((x1 - x0) * t / n + 0.5))
                    y = y0 + int(math.floor((y1 - y0) * t / n + 0.5))
                if 0 <= x < wref and 0 <= y < href:
                    i0, i1 = _block(y, u, h)
                    j0, j1 = _block(x, u, w)
                    _fill_block(canvas, i0, i1, j0, j1, r, g, b)
            continue
        c, s = math.cos(p[4]), math.sin(p[4])
        m0, m1 = _row_range(kind, p, c, s, href)
        for m in range(m0, m1):
            i0, i1, j0, j1 = _span_block(kind, p, c, s, m, u, h, w, wref)
            _fill_block(canvas, i0, i1, j0, j1, r, g, b)


@njit(cache=True, nogil=True)
def _span_block(kind, p, c, s, m, u, h, w, wref):
    """The image-pixel block (i0, i1, j0, j1) of reference row m's span of a shape (empty when the row misses it)."""
    xl, xh = _row_span(kind, p, c, s, m + 0.5)
    a0, a1 = _col_range(xl, xh, wref)
    if a0 >= a1:
        return 0, 0, 0, 0
    i0, i1 = _block(m, u, h)
    return i0, i1, _block(a0, u, w)[0], _block(a1 - 1, u, w)[1]


@njit(cache=True, nogil=True)
def draw_mask_blocks(mask, kind, params, u, href, wref):
    """draw_mask in reference pixels, seen at u >= 1 (as draw_shapes_blocks)."""
    h, w = mask.shape[0], mask.shape[1]
    c, s = math.cos(params[4]), math.sin(params[4])
    m0, m1 = _row_range(kind, params, c, s, href)
    for m in range(m0, m1):
        i0, i1, j0, j1 = _span_block(kind, params, c, s, m, u, h, w, wref)
        for i in range(i0, i1):
            for j in range(j0, j1):
                mask[i, j] = 1
