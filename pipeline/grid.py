"""Image grids: tile uint8 images into one picture and write it as a PNG (atomically)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from primps.pipeline.atomic import atomic_write


def make_grid(images: np.ndarray, rows: int | None = None, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile uint8 [N, H, W, 3] images row by row into [rows*(H+pad)+pad, cols*(W+pad)+pad, 3], white padding.

    Without ``cols`` the grid is near-square; without ``rows`` it has as many rows as needed.
    """
    n, h, w, _ = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = rows or max(1, math.ceil(n / cols))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for k in range(min(n, rows * cols)):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = images[k]
    return grid


def write_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 [H, W, 3] array as a PNG under a temporary name, then rename."""
    from PIL import Image

    return atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def save_grid(images_nchw, path: str | os.PathLike) -> Path:
    """uint8 [N, 3, H, W] (numpy or torch) → a near-square PNG grid."""
    return write_png(make_grid(np.asarray(images_nchw).transpose(0, 2, 3, 1)), path)
