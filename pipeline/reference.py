"""Reference images for fidelity checks (``primps fidelity``, ``primps preview --reference``): a tar or folder of
images decoded to uint8 [N, H, W, 3] with the sha256 of their bytes, their Inception features cached per (sha256,
weights), and the first N images of a shard manifest as the same kind of array.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path

import numpy as np

from primps.pipeline.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
CACHE_VERSION = 2   # 2: the key holds the device type and float32 mode of the features (InceptionFeatures.numerics)


# -- reference images ----------------------------------------------------------------------------------------------
def decode_rgb(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"reference image {name} cannot be decoded: {exc}") from None


def reference_members(path: Path) -> list[tuple[str, bytes]]:
    """(name, bytes) of every image in a tar or folder, sorted by name; UsageError when there is none."""
    if not path.exists():
        raise UsageError(f"reference not found: {path}")
    out: list[tuple[str, bytes]] = []
    if path.is_dir():
        for f in sorted(path.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                out.append((f.name, f.read_bytes()))
    else:
        try:
            with tarfile.open(path) as t:
                for m in sorted(t.getmembers(), key=lambda m: m.name):
                    if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES:
                        out.append((m.name, t.extractfile(m).read()))
        except (tarfile.TarError, OSError) as exc:
            raise UsageError(f"reference {path} is neither a folder nor a readable tar: {exc}") from None
    if len(out) < 2:
        raise UsageError(f"reference {path} holds {len(out)} image(s); need at least 2")
    return out


def load_reference(path: Path, resolution: tuple[int, int] | None) -> tuple[np.ndarray, str]:
    """Decoded reference images uint8 [N, H, W, 3] and the sha256 of their bytes; checks the resolution (with
    ``resolution=None``: only that all images have one size)."""
    members = reference_members(path)
    digest = hashlib.sha256()
    imgs = []
    for name, data in members:
        digest.update(name.encode() + b"\0" + data)
        img = decode_rgb(data, name)
        if resolution is not None and img.shape[:2] != tuple(resolution):
            raise UsageError(f"reference image {name} is {img.shape[0]}x{img.shape[1]} (HxW) but the compared "
                             f"images are {resolution[0]}x{resolution[1]}; pass --resolution "
                             f"{img.shape[0]}x{img.shape[1]} or a reference of the same size")
        if imgs and img.shape != imgs[0].shape:
            raise UsageError(f"reference {path}: image {name} is {img.shape[0]}x{img.shape[1]}, the first one "
                             f"{imgs[0].shape[0]}x{imgs[0].shape[1]}; all reference images must have one size")
        imgs.append(img)
    return np.stack(imgs), digest.hexdigest()


# -- features ------------------------------------------------------------------------------------------------------
def image_features(inception, images: np.ndarray, desc: str) -> np.ndarray:
    from tqdm import tqdm

    bs = inception.batch_size
    parts = [inception.features(images[i:i + bs].transpose(0, 3, 1, 2).copy())
             for i in tqdm(range(0, len(images), bs), desc=desc, unit="batch", file=sys.stderr)]
    return np.concatenate(parts)


def reference_features(inception, images: np.ndarray, digest: str, cache_dir: Path) -> np.ndarray:
    from primps.pipeline.atomic import atomic_write

    numerics = inception.numerics   # device type and float32 mode: CPU and GPU features are never mixed
    path = cache_dir / f"fidelity-ref-{digest[:16]}-{inception.sha256[:16]}-{numerics}-v{CACHE_VERSION}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                if str(z["digest"]) == digest and z["features"].shape[0] == len(images):
                    return z["features"].astype(np.float64)
        except Exception:  # noqa: BLE001 - a damaged cache is recomputed
            pass
    feats = image_features(inception, images, "reference features")
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez(tmp, features=feats.astype(np.float32), digest=digest))
    return feats


# -- the compared images -------------------------------------------------------------------------------------------
def manifest_images(path: str, n: int) -> tuple[np.ndarray, dict]:
    from primps.pipeline.manifest import load_manifest
    from primps.trainers.metrics import iter_manifest_images

    man = load_manifest(path)
    out = []
    got = 0
    for batch in iter_manifest_images(man, batch_size=64):
        arr = batch.numpy().transpose(0, 2, 3, 1)
        out.append(arr[:n - got])
        got += len(out[-1])
        if got >= n:
            break
    if got < 2:
        raise UsageError(f"manifest {path} holds {got} image(s); need at least 2")
    return np.concatenate(out), {"manifest": str(path), "dataset_id": man.dataset_id}
