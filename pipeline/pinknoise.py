"""Pink-noise fields as the published Primitives-PS generator draws them, sampled directly in the frequency domain.

One field (SPEC.md section 1): white Gaussian noise filtered by w(k_y, k_x) = 1 / (f_y^a + f_x^b + 2e-6), a (rows)
and b (columns) drawn from U(alpha_min, alpha_max) for every field. The frequency of signed DFT index k is
f = 5|k|/256 in cycles per S pixels (``unit="image"``, S = min(h, w): the texture scales with the image; at 256^2 this
is the official 5|k|/S) or f = 5|k|/L on an axis of L pixels (``unit="pixel"``, the official per-pixel unit). The
zero frequency is not removed: it is replaced by ``dc_fraction`` (0.1) times the first non-zero frequency of the
S axis, so every field carries a large random offset.

Filtering white noise is the same as drawing the DFT of white noise directly: we fill the non-negative-f_x
half-spectrum with independent complex Gaussians and invert it with float32 FFTs (`scipy.fft.ifft` down the columns,
then `scipy.fft.irfft` along the rows; together irfft2). The real inverse keeps only the Hermitian part of the
k_x = 0 and k_x = W/2 columns, which halves their variance; those two columns are scaled by sqrt(2) so that every
frequency carries the variance of real white noise (this matters: with a != b those columns hold much of the energy).

Each coefficient is a complex Gaussian drawn in polar form from 32 bits of the sample's PCG64 stream (two per
64-bit word): a Rayleigh magnitude by inverse-CDF table lookup on 16 bits (2^16 equiprobable levels; the tail is cut
at ~4.9 sigma) and a uniform phase by phasor table lookup on 12 bits (4096 levels).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

#: The official generator's frequency unit: f = 1 at a period of 5 pixels at S = 256 (0.2 cycles per pixel).
UNIT_CYCLES = 5.0
REF_SIDE = 256
#: Added to the sum of the two powers (each power carries 1e-6 in the official formula).
EPS = 2e-6


@lru_cache(maxsize=32)
def freq_vectors(h: int, w: int, unit: str = "image", dc_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """f_y (length h, FFT order) and f_x (length w//2+1) in the official unit, float64, with the zero frequency
    replaced by ``dc_fraction`` times the first non-zero frequency of the S = min(h, w) axis. Cached."""
    s = min(h, w)
    if unit == "image":
        scale_y, scale_x = UNIT_CYCLES * s / (REF_SIDE * h), UNIT_CYCLES * s / (REF_SIDE * w)
        f1 = UNIT_CYCLES / REF_SIDE
    else:
        scale_y, scale_x, f1 = UNIT_CYCLES / h, UNIT_CYCLES / w, UNIT_CYCLES / s
    fy = np.abs(np.fft.fftfreq(h) * h) * scale_y
    fx = np.fft.rfftfreq(w) * w * scale_x
    fy[0] = fx[0] = dc_fraction * f1
    fy.setflags(write=False)
    fx.setflags(write=False)
    return fy, fx


@lru_cache(maxsize=32)
def axis_gains(h: int, w: int, unit: str = "image") -> tuple[np.ndarray, np.ndarray] | None:
    """Per-axis amplitude gains (g_y length h, g_x length w//2+1, float32) that make a field drawn at S = min(h, w)
    the official 256^2 field seen at S (``unit="image"`` only; None at S = 256 or with the pixel unit):

    - S < 256: the transfer function of the area filter, H(k) = sin(pi k / L) / (R sin(pi k R / L)) on an axis of
      L pixels, R = 256 / S (one pixel averages R x R official pixels);
    - S > 256: 1 up to the official Nyquist frequency (128 cycles per S pixels), 0 above: the texture has no detail
      finer than the official 256^2 one, so its range (and normalisation) is that of the 256^2 field.
    """
    s = min(h, w)
    if unit != "image" or s == REF_SIDE:
        return None
    out = []
    for n, k in ((h, np.abs(np.fft.fftfreq(h) * h)), (w, np.fft.rfftfreq(w) * w)):
        if s < REF_SIDE:
            r = REF_SIDE / s
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.sin(np.pi * k / n) / (r * np.sin(np.pi * k / (r * n)))
            g[k == 0] = 1.0
        else:
            g = (k * s / n <= REF_SIDE / 2).astype(np.float64)
        g = g.astype(np.float32)
        g.setflags(write=False)
        out.append(g)
    return out[0], out[1]


@njit(cache=True, nogil=True)
def _residual_ratio(a, b, s, dc_fraction):
    """sqrt(var lost / var kept) when the official 256^2 field with exponents (a, b) is area-downsized to S < 256
    (DC excluded): the kept part is the in-band spectrum times the filter's |H|^2; the lost part is the rest of
    the in-band power (exact sum) and everything above S's Nyquist frequency (midpoint sum on cells of R x R
    frequencies, where the weight is smooth). Every term depends on |k| only, so each sum runs over k >= 0 with
    the multiplicity of +-k (4x fewer terms)."""
    r = REF_SIDE / s
    unit = UNIT_CYCLES / REF_SIDE
    half = s // 2
    # in band: k = -half .. half - 1, i.e. |k| = 0 (once), 1 .. half - 1 (twice), half (once: only -half)
    py = np.empty(half + 1)
    px = np.empty(half + 1)
    hh = np.empty(half + 1)
    mu = np.empty(half + 1)
    for k in range(half + 1):
        f = dc_fraction * unit if k == 0 else k * unit
        py[k] = f ** a
        px[k] = f ** b
        hh[k] = 1.0 if k == 0 else (math.sin(math.pi * k / s) / (r * math.sin(math.pi * k / REF_SIDE))) ** 2
        mu[k] = 1.0 if k == 0 or k == half else 2.0
    kept, lost = 0.0, 0.0
    for i in range(half + 1):
        for j in range(half + 1):
            if i == 0 and j == 0:
                continue
            wt = 1.0 / (py[i] + px[j] + EPS)
            w2 = wt * wt * mu[i] * mu[j]
            g = hh[i] * hh[j]
            kept += w2 * g
            lost += w2 * (1.0 - g)
    # above: cell centres k_t = -128 + (t + 0.5) R, t = 0 .. S - 1, symmetric (t <-> S - 1 - t gives -k)
    # (the band's edge is asymmetric: -half is inside, +half is not, so count the inside signs of each pair)
    m = (s + 1) // 2
    qy = np.empty(m)
    qx = np.empty(m)
    mq = np.empty(m)
    nin = np.empty(m)
    for t in range(m):
        k = -REF_SIDE / 2 + (t + 0.5) * r
        qy[t] = (abs(k) * unit) ** a
        qx[t] = (abs(k) * unit) ** b
        neg = 1.0 if -half <= k < half else 0.0
        pos = 1.0 if -half <= -k < half else 0.0
        if 2 * t + 1 == s:  # k = 0, its own mirror
            mq[t], nin[t] = 1.0, neg
        else:
            mq[t], nin[t] = 2.0, neg + pos
    for i in range(m):
        for j in range(m):
            c = mq[i] * mq[j] - nin[i] * nin[j]  # sign pairs not both inside the band
            if c == 0.0:
                continue
            wt = 1.0 / (qy[i] + qx[j] + EPS)
            lost += wt * wt * r * r * c
    return math.sqrt(lost / kept) if kept > 0 else 0.0


@njit(cache=True, nogil=True)
def field_std(field):
    """Standard deviation of a 2-D field (population, float64 accumulation, two passes)."""
    n = field.size
    acc = 0.0
    for v in field.flat:
        acc += v
    mean = acc / n
    acc = 0.0
    for v in field.flat:
        d = v - mean
        acc += d * d
    return math.sqrt(acc / n)


@lru_cache(maxsize=64)
def max_of_normals(n: float) -> float:
    """Approximate expected maximum of n independent standard normal values (Blom's formula)."""
    from scipy.special import ndtri

    return float(ndtri((n - 0.375) / (n + 0.25))) if n > 1 else 0.0


#: The removed detail is spatially correlated, so the (256/S)^2 values under a pixel are not independent: their
#: maximum is about half that of independent ones. Calibrated on set A at 32^2 and 64^2 (BENCHMARKS.md: 0 gives
#: channel_std z +2.4 for pinknoise at 32^2, 1 gives saturation z -2.8; 0.5 leaves every |z| < 2.3).
RANGE_MARGIN_FACTOR = 0.5

_MAG_BITS, _PHASE_BITS = 16, 12


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Rayleigh magnitudes (inverse CDF on 2^16 equiprobable levels, E[r^2] = 2) and unit phasors (2^12 levels)."""
    u = (np.arange(2**_MAG_BITS, dtype=np.float64) + 0.5) / 2**_MAG_BITS
    mag = np.sqrt(-2.0 * np.log(u)).astype(np.float32)
    theta = 2.0 * np.pi * (np.arange(2**_PHASE_BITS, dtype=np.float64) + 0.5) / 2**_PHASE_BITS
    phasor = (np.cos(theta) + 1j * np.sin(theta)).astype(np.complex64)
    mag.setflags(write=False)
    phasor.setflags(write=False)
    return mag, phasor


_MAG, _PHASOR = _tables()


# error_model="numpy": IEEE division (the divisor is never 0) instead of numba's default zero check and raise on
# every element; bit-identical values, six 256^2 fields 0.285 -> 0.23 ms (BENCHMARKS.md, issue 18).
@njit(cache=True, nogil=True, error_model="numpy")
def _fill_spectrum(raw32, a, b, fy, fx, mag, phasor, w, out):
    """out[i, j] = z / (fy_i^a + fx_j^b + EPS), z complex Gaussian from 32 raw bits (16: magnitude, next 12:
    phase); columns 0 and w/2 (w even) are scaled by sqrt(2) (see the module docstring)."""
    h, wh = out.shape
    px = np.empty(wh, dtype=np.float32)
    py = np.empty(h, dtype=np.float32)
    for j in range(wh):
        px[j] = fx[j] ** b + EPS
    for i in range(h):
        py[i] = fy[i] ** a
    sq2 = np.float32(np.sqrt(2.0))
    edge = wh - 1 if w % 2 == 0 else 0
    k = 0
    for i in range(h):
        yi = py[i]
        for j in range(wh):
            word = raw32[k]
            k += 1
            r = mag[word & 0xFFFF] / (yi + px[j])
            out[i, j] = phasor[(word >> 16) & 0xFFF] * r
        out[i, 0] *= sq2
        if edge:
            out[i, edge] *= sq2


@njit(cache=True, nogil=True, error_model="numpy")  # as _fill_spectrum
def _fill_spectrum_gains(raw32, a, b, fy, fx, gy, gx, mag, phasor, w, out):
    """_fill_spectrum with every coefficient also multiplied by gy_i * gx_j (axis_gains)."""
    h, wh = out.shape
    px = np.empty(wh, dtype=np.float32)
    py = np.empty(h, dtype=np.float32)
    for j in range(wh):
        px[j] = fx[j] ** b + EPS
    for i in range(h):
        py[i] = fy[i] ** a
    sq2 = np.float32(np.sqrt(2.0))
    edge = wh - 1 if w % 2 == 0 else 0
    k = 0
    for i in range(h):
        yi = py[i]
        gi = gy[i]
        for j in range(wh):
            word = raw32[k]
            k += 1
            r = mag[word & 0xFFFF] / (yi + px[j]) * (gi * gx[j])
            out[i, j] = phasor[(word >> 16) & 0xFFF] * r
        out[i, 0] *= sq2
        if edge:
            out[i, edge] *= sq2


#: At most this many pixels per channel, all channels are transformed in one batched FFT pair (less Python
#: overhead); above it, one channel at a time (the working set stays in cache). Measured crossover: ~128^2.
BATCH_MAX_PIXELS = 128 * 128


class PinkNoise:
    """n independent pink-noise channels of one image, drawn from ``rng`` at construction.

    Draw order: exponents (n x 2 uniforms: a then b per channel), then ceil(h*(w//2+1)/2) raw 64-bit words per
    channel. Channels are computed on demand with :meth:`field` (float32 [h, w], un-normalised). Above
    BATCH_MAX_PIXELS one channel is transformed at a time: that keeps the working set (~0.5 MB at 256^2) in cache
    and measured ~1.9x faster at 256^2 than one batched FFT call over all six channels of a -ps image; at small sizes
    the batched call wins (benchmarks/bench_synth.py). The choice depends on (h, w) only, so it is deterministic.
    """

    def __init__(self, rng: np.random.Generator, n: int, h: int, w: int, alpha_min: float, alpha_max: float,
                 unit: str = "image", dc_fraction: float = 0.1):
        self.n, self.h, self.w = n, h, w
        self.unit, self.dc_fraction = unit, float(dc_fraction)
        self.wh = w // 2 + 1
        self.ab = rng.uniform(alpha_min, alpha_max, size=(n, 2))
        self.per = (h * self.wh + 1) // 2
        self.raw = rng.bit_generator.random_raw(n * self.per).astype('<u8', copy=False)
        self.batched = h * w <= BATCH_MAX_PIXELS
        self._all: np.ndarray | None = None
        self.gains = axis_gains(h, w, unit)

    def _spectrum(self, c: int, out: np.ndarray) -> None:
        fy, fx = freq_vectors(self.h, self.w, self.unit, self.dc_fraction)
        words = self.raw[c * self.per:(c + 1) * self.per].view(np.uint32)  # low 32 bits first (little-endian)
        a, b = float(self.ab[c, 0]), float(self.ab[c, 1])
        if self.gains is None:
            _fill_spectrum(words, a, b, fy, fx, _MAG, _PHASOR, self.w, out)
        else:
            _fill_spectrum_gains(words, a, b, fy, fx, self.gains[0], self.gains[1], _MAG, _PHASOR, self.w, out)

    def range_margin(self, c: int, field: np.ndarray) -> float:
        """How far the official 256^2 field's extremes lie beyond this field's (field units): 0 at S >= 256 or with
        the pixel unit; below, RANGE_MARGIN_FACTOR times the expected maximum of (256/S)^2 independent normal values
        times the standard deviation of the detail that area downsizing removes (PinkNoise sees only what survives
        it), estimated from the spectrum."""
        s = min(self.h, self.w)
        if self.unit != "image" or s >= REF_SIDE:
            return 0.0
        rho = _residual_ratio(float(self.ab[c, 0]), float(self.ab[c, 1]), s, self.dc_fraction)
        return RANGE_MARGIN_FACTOR * rho * field_std(field) * max_of_normals((REF_SIDE / s) ** 2)

    def field(self, c: int) -> np.ndarray:
        """Channel c, float32 [h, w]."""
        from scipy import fft as sfft

        if self.batched:
            if self._all is None:
                spec = np.empty((self.n, self.h, self.wh), dtype=np.complex64)
                for k in range(self.n):
                    self._spectrum(k, spec[k])
                spec = sfft.ifft(spec, axis=1, overwrite_x=True, workers=1)
                self._all = sfft.irfft(spec, n=self.w, axis=2, overwrite_x=True, workers=1)
            return self._all[c]
        spec = np.empty((self.h, self.wh), dtype=np.complex64)
        self._spectrum(c, spec)
        spec = sfft.ifft(spec, axis=0, overwrite_x=True, workers=1)
        return sfft.irfft(spec, n=self.w, axis=1, overwrite_x=True, workers=1)

    def fields(self) -> np.ndarray:
        """All channels, float32 [n, h, w]."""
        return np.stack([self.field(c) for c in range(self.n)])


def pink_noise(rng: np.random.Generator, n: int, h: int, w: int, alpha_min: float, alpha_max: float,
               unit: str = "image", dc_fraction: float = 0.1) -> np.ndarray:
    """n independent pink-noise fields [n, h, w] float32 (un-normalised); see :class:`PinkNoise`."""
    return PinkNoise(rng, n, h, w, alpha_min, alpha_max, unit, dc_fraction).fields()


def radial_power_spectrum(img: np.ndarray, n_bins: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a 2-D array (mean removed): (radial frequency in cycles/image, power).

    A measuring tool used by tests and diagnostics; bins with no samples are dropped.
    """
    x = np.asarray(img, dtype=np.float64)
    x = x - x.mean()
    p = np.abs(np.fft.fft2(x)) ** 2
    h, w = x.shape
    fy = np.fft.fftfreq(h) * h
    fx = np.fft.fftfreq(w) * w
    r = np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    rmax = min(h, w) / 2
    edges = np.linspace(1, rmax, n_bins + 1)
    idx = np.digitize(r.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n_bins)
    sums = np.bincount(idx[ok], weights=p.ravel()[ok], minlength=n_bins)
    cnt = np.bincount(idx[ok], minlength=n_bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    keep = cnt > 0
    return centres[keep], sums[keep] / cnt[keep]
