"""Cheap per-image statistics of uint8 RGB images, summarised over a set (used by `primps fidelity` and tests).

Written from the definitions published with the reference set (../shared/reference/official-256/stats.json), so
that a primps set and a reference set can be compared statistic by statistic. Each statistic is computed per image,
then summarised over the set: mean, std (ddof = 1), standard error of the mean, 5/50/95th percentiles.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

STAT_NAMES = ("channel_std", "neighbour_absdiff", "distinct_levels", "spectrum_slope", "saturation", "mean_value",
              "grey_fraction", "full_range", "has_255", "flat_fraction", "anisotropy")


@lru_cache(maxsize=8)
def _radial_bins(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer radius round(sqrt(ky^2 + kx^2)) of every DFT bin, the counts per radius 1..min(h,w)//2, log radii."""
    ky = np.fft.fftfreq(h) * h
    kx = np.fft.fftfreq(w) * w
    k = np.rint(np.hypot(ky[:, None], kx[None, :])).astype(np.int64).ravel()
    kmax = min(h, w) // 2
    counts = np.bincount(k, minlength=kmax + 1)[1:kmax + 1]
    return k, counts, np.log(np.arange(1, kmax + 1))


def image_stats(img: np.ndarray) -> dict[str, float]:
    """The statistics of one uint8 image [H, W, 3]."""
    x = img.astype(np.float64)
    h, w, _ = x.shape
    ax = np.abs(x[:, 1:] - x[:, :-1]).mean()  # mean absolute neighbour difference along x (all channels)
    ay = np.abs(x[1:] - x[:-1]).mean()
    g = x.mean(axis=2)
    amp = np.abs(np.fft.fft2(g - g.mean()))
    k, counts, logk = _radial_bins(h, w)
    kmax = counts.size
    mean_amp = np.bincount(k, weights=amp.ravel(), minlength=kmax + 1)[1:kmax + 1] / np.maximum(counts, 1)
    ok = mean_amp > 0
    slope = float(np.polyfit(logk[ok], np.log(mean_amp[ok]), 1)[0]) if ok.sum() > 2 else float("nan")
    hi, lo = x.max(axis=2), x.min(axis=2)
    sat = np.divide(hi - lo, hi, out=np.zeros_like(hi), where=hi > 0)
    vmin, vmax = int(img.min()), int(img.max())
    return {
        "channel_std": float(x.reshape(-1, 3).std(axis=0).mean()),
        "neighbour_absdiff": float(0.5 * (ax + ay)),
        "distinct_levels": float(np.mean([np.count_nonzero(np.bincount(img[..., c].ravel(), minlength=256))
                                          for c in range(3)])),
        "spectrum_slope": slope,
        "saturation": float(sat.mean()),
        "mean_value": float(x.mean()),
        "grey_fraction": float(((img[..., 0] == img[..., 1]) & (img[..., 1] == img[..., 2])).mean()),
        "full_range": float(vmin == 0 and vmax == 255),
        "has_255": float(vmax == 255),
        "flat_fraction": float(np.all(img[:, 1:] == img[:, :-1], axis=2).mean()),
        "anisotropy": float(abs(np.log(ax / ay))) if ax > 0 and ay > 0 else 0.0,
    }


def summarise(values: Iterable[float]) -> dict[str, float]:
    v = np.asarray(list(values), dtype=np.float64)
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": sd, "sem": sd / float(np.sqrt(v.size)),
            "p05": float(np.percentile(v, 5)), "p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}


def set_stats(images: Iterable[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per-statistic summary over a set of uint8 [H, W, 3] images (an array [N, H, W, 3] or any iterable)."""
    rows = [image_stats(np.asarray(im)) for im in images]
    if not rows:
        raise ValueError("set_stats needs at least one image")
    return {name: summarise(r[name] for r in rows) for name in STAT_NAMES}


def z_scores(ours: dict, ref: dict) -> dict[str, float]:
    """(mean_ours - mean_ref) / sqrt(sem_ours^2 + sem_ref^2) per statistic (0 when both are exactly equal and
    constant; +-inf when they differ and both are constant)."""
    out = {}
    for name in STAT_NAMES:
        if name not in ours or name not in ref:
            continue
        d = ours[name]["mean"] - ref[name]["mean"]
        se = float(np.hypot(ours[name]["sem"], ref[name]["sem"]))
        out[name] = d / se if se > 0 else (0.0 if d == 0 else float(np.copysign(np.inf, d)))
    return out


__all__ = ["STAT_NAMES", "image_stats", "set_stats", "summarise", "z_scores"]
