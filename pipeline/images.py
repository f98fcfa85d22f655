"""Image normalisation (pure): any readable image file -> RGB uint8 ``R x R``.

EXIF orientation applied, transparency composited on white, grayscale / palette / CMYK / 16-bit converted,
centre-cropped to a square and resized with Pillow's LANCZOS filter (``reducing_gap`` for large downscales).
Used by ``primps ingest``. ``normalize_image(data, resolution) -> (uint8 [R,R,3], notes)``; ``NotAnImage``.
"""

from __future__ import annotations

import io

import numpy as np

REDUCING_GAP = 3.0


class NotAnImage(Exception):
    """A source file that cannot be decoded as an image (corrupt, truncated, or not an image)."""


# ------------------------------------------------------------------------------------- image normalisation (pure)

def _to_8bit_array(img) -> np.ndarray:
    """Single-channel high-bit-depth image (I;16*, I, F) -> uint8 array, scaling 16-bit ranges down by 256."""
    a = np.asarray(img)
    if img.mode.startswith("I;16"):
        return (a.astype(np.uint32) >> 8).astype(np.uint8)
    if img.mode == "I":
        a = a.astype(np.int64)
        if a.max(initial=0) > 255:  # 16-bit data stored as 32-bit ints (e.g. 16-bit grayscale PNG)
            return (np.clip(a, 0, 65535) >> 8).astype(np.uint8)
        return np.clip(a, 0, 255).astype(np.uint8)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)  # "F"


def to_rgb(img):
    """Any Pillow image -> RGB: alpha / palette transparency composited on white; L, CMYK, 16-bit converted."""
    from PIL import Image

    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        return Image.fromarray(_to_8bit_array(img), "L").convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info) or (
        mode in ("L", "RGB") and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")  # L, 1, P, CMYK (Pillow inverts Adobe CMYK JPEGs on decode), YCbCr, LAB, HSV


def crop_resize(img, resolution: int):
    """Centre crop to a square, then LANCZOS resize to resolution x resolution (one resampling step)."""
    from PIL import Image

    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    if side == resolution:
        return img.crop(box)
    gap = REDUCING_GAP if side >= 2 * resolution else None
    return img.resize((resolution, resolution), Image.LANCZOS, box=box, reducing_gap=gap)


def open_image(data: bytes):
    """Decode bytes fully with Pillow, EXIF orientation applied; raise NotAnImage on any failure."""
    from PIL import Image, ImageOps

    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # truncated files fail here (ImageFile.LOAD_TRUNCATED_IMAGES stays False)
        img = ImageOps.exif_transpose(img)
    except Image.DecompressionBombError as exc:
        raise NotAnImage(f"too large ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad input
        raise NotAnImage(f"{type(exc).__name__}: {exc}") from None
    if img.size[0] < 1 or img.size[1] < 1:
        raise NotAnImage("empty image")
    return img


def normalize_image(data: bytes, resolution: int) -> tuple[np.ndarray, list[str]]:
    """Source bytes -> uint8 [R, R, 3] and notes (e.g. ``"upsampled from 3x7"``). Raises NotAnImage."""
    img = open_image(data)
    notes: list[str] = []
    w, h = img.size
    if min(w, h) < resolution:
        notes.append(f"upsampled from {w}x{h}")
    try:
        rgb = crop_resize(to_rgb(img), resolution)
        arr = np.asarray(rgb, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - exotic modes Pillow cannot convert
        raise NotAnImage(f"cannot convert mode {img.mode}: {exc}") from None
    if arr.shape != (resolution, resolution, 3):
        raise NotAnImage(f"unexpected decoded shape {arr.shape}")
    return np.ascontiguousarray(arr), notes


