"""The comparison rule of "the paper's look at size H x W" (README, "Other resolutions"): how images of one size
are compared with the official 256^2 images.

With S = min(H, W) and the centred S x S crop of an H x W image:

- S < 256: the official 256^2 images are downsized to S x S by area averaging (box filter: every output pixel is
  the mean of the input pixels it covers, rounded to the nearest level, half up; exact in float for integer
  factors 256/S, Pillow's ``Image.BOX`` otherwise). Ours are compared as they are.
- S = 256: nothing is resized.
- S > 256: both sides are downsized by area to 128 x 128 (content, not edges, is compared).

Area, not Lanczos: it has no ringing, so it never invents values outside the input range (Lanczos clips its
overshoot to 0 and 255 and makes every downsized image "full range"), and a pixel's value is exactly the mean of
the 256^2 raster under it, which is what the synthesizer's coverage antialiasing computes below 256^2.
"""

from __future__ import annotations

import numpy as np

REFERENCE_SIDE = 256
#: Above the reference side both sides are compared at this side.
LARGE_COMPARISON_SIDE = 128
FILTER_NAME = "area: the mean of the covered pixels, rounded"


def non_square_warning(height: int, width: int, command: str) -> str | None:
    """One warning line for a non-square size, whose centred square crop is not yet the paper's look for every
    variant (README, "Non-square images"; benchmarks/bench_nonsquare.py); None for a square one."""
    if height == width:
        return None
    return (f"primps {command}: warning: {height}x{width} is not square; its centred {min(height, width)}^2 crop "
            f"is near the paper's look only for primitives, and off for the pink noise (README, Non-square images)")


def comparison_side(side: int) -> int:
    """The side at which images of side S are compared with the official 256^2 images."""
    if side > REFERENCE_SIDE:
        return LARGE_COMPARISON_SIDE
    return side


def centre_crop(images: np.ndarray) -> np.ndarray:
    """The centred S x S crop (S = min(H, W)) of uint8 images [N, H, W, 3]."""
    h, w = images.shape[1:3]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return images[:, y0:y0 + s, x0:x0 + s]


def area_downsize(images: np.ndarray, side: int) -> np.ndarray:
    """uint8 images [N, H, W, 3] downsized by area averaging to side x side (returned as is when already that
    size; upsizing is refused)."""
    from PIL import Image

    images = np.asarray(images)
    h, w = images.shape[1:3]
    if (h, w) == (side, side):
        return images
    if side > min(h, w):
        raise ValueError(f"area_downsize: cannot downsize {h}x{w} to {side}x{side}")
    if h == w and h % side == 0:  # integer factor: the exact mean of each r x r block, rounded half up
        r = h // side
        blocks = images.reshape(len(images), side, r, side, r, 3).astype(np.float64)
        return np.floor(blocks.mean(axis=(2, 4)) + 0.5).astype(np.uint8)
    out = np.empty((len(images), side, side, 3), dtype=np.uint8)
    for k, im in enumerate(images):
        out[k] = np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize((side, side), Image.BOX))
    return out


def to_comparison(images: np.ndarray, side: int) -> np.ndarray:
    """Images of side S (ours: centre-cropped first; or official 256^2 ones) processed by the rule for a
    comparison at side ``side`` = the S of the images being evaluated."""
    return area_downsize(centre_crop(np.asarray(images)), comparison_side(side))


def resizable_reference(ref_shape: tuple[int, ...], resolution: tuple[int, int]) -> bool:
    """Whether images of ``resolution`` (H, W) are compared with a reference of ``ref_shape`` by the rule: the
    reference is the official size (256 x 256) and the compared images are of another size."""
    return tuple(ref_shape[:2]) == (REFERENCE_SIDE, REFERENCE_SIDE) and tuple(resolution) != tuple(ref_shape[:2])


def reference_rows(images: np.ndarray, side: int) -> np.ndarray:
    """Official 256^2 images shown beside ours of side S (``primps preview``): area-downsized to S below 256,
    enlarged pixel for pixel (nearest neighbour, as the block raster draws shapes) above."""
    from PIL import Image

    if side <= REFERENCE_SIDE:
        return area_downsize(images, side)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize((side, side), Image.NEAREST))
                     for im in images])


__all__ = ["resizable_reference", "reference_rows", "REFERENCE_SIDE", "LARGE_COMPARISON_SIDE", "FILTER_NAME",
           "comparison_side", "centre_crop",
           "area_downsize", "to_comparison"]
