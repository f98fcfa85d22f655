"""FID/KID: the mathematics on synthetic features, and sanity checks with the real Inception weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from primps.pipeline.errors import UsageError
from primps.trainers import metrics as M

REPO = Path(__file__).resolve().parents[1]
LOWSHOT = Path(os.environ.get("PRIMPS_LOWSHOT_DIR", REPO.parent / "shared" / "data" / "lowshot"))
N_IMG = 16  # per set; Inception on 2 CPU cores is slow


def load_folder(name: str, n: int, size: int = 128):
    import torch
    from PIL import Image

    files = sorted((LOWSHOT / name).glob("*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)[:n]
    if len(files) < n:
        pytest.skip(f"low-shot set {name} not available")
    arrs = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files]
    return torch.from_numpy(np.stack(arrs).transpose(0, 3, 1, 2).copy())


@pytest.fixture(scope="module")
def inception():
    return M.InceptionFeatures(batch_size=24)


@pytest.fixture(scope="module")
def obama():
    return load_folder("obama", N_IMG)


@pytest.fixture(scope="module")
def obama_feats(inception, obama):
    return inception.features(obama)


# -------------------------------------------------------------------------------- mathematics (no network)

def test_fid_of_known_gaussians():
    rng = np.random.default_rng(0)
    d = 4
    mu1, mu2 = np.zeros(d), np.full(d, 2.0)
    s1, s2 = np.eye(d), 4 * np.eye(d)
    # |mu1-mu2|^2 = 16; Tr(S1 + S2 - 2 sqrt(S1 S2)) = 4 * (1 + 4 - 4) = 4
    assert M.fid_from_stats(mu1, s1, mu2, s2) == pytest.approx(20.0, rel=1e-9)
    x = rng.normal(size=(500, d))
    assert M.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_singular_covariance_is_finite():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10, 64))  # n < d: singular covariance
    y = rng.normal(size=(10, 64)) + 0.5
    f = M.fid_from_features(x, y)
    assert np.isfinite(f) and f > 0


def test_kid_zero_for_same_distribution_and_positive_for_shift():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 16))
    y = rng.normal(size=(400, 16))
    z = rng.normal(size=(400, 16)) + 1.0
    same, same_std = M.kid_from_features(x, y, n_subsets=20, subset_size=200)
    diff, _ = M.kid_from_features(x, z, n_subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert diff > 10 * abs(same) and diff > 0.01


def test_kid_subset_size_capped_and_needs_two():
    rng = np.random.default_rng(3)
    m, s = M.kid_from_features(rng.normal(size=(5, 8)), rng.normal(size=(7, 8)), n_subsets=3)
    assert np.isfinite(m) and np.isfinite(s)
    with pytest.raises(ValueError):
        M.kid_from_features(rng.normal(size=(1, 8)), rng.normal(size=(7, 8)))


def test_missing_or_wrong_weights_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        M.InceptionFeatures(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(UsageError, match="sha256"):
        M.InceptionFeatures(bad, expected_sha256=M.INCEPTION_SHA256)
    with pytest.raises(UsageError, match="cannot load"):
        M.InceptionFeatures(bad)


def test_default_weights_located_and_hash_checked():
    p = M.default_inception_path()
    assert p.name == "default_1.pt"
    assert M.weights_sha256(p) == M.INCEPTION_SHA256


# ------------------------------------------------------------------------------- with the real weights

def test_features_shape_and_preprocess(inception, obama_feats):
    import torch

    assert obama_feats.shape == (N_IMG, 2048)
    assert np.isfinite(obama_feats).all() and obama_feats.std() > 0
    x = inception.preprocess(torch.full((1, 3, 64, 64), 255, dtype=torch.uint8))
    assert x.shape == (1, 3, 299, 299)
    assert float(x.max()) == pytest.approx(127 / 128)
    with pytest.raises(ValueError):
        inception.preprocess(torch.zeros(1, 3, 8, 8))  # float, not uint8


def test_fid_self_zero_and_monotone_in_noise(inception, obama, obama_feats):
    import torch

    assert M.fid_from_features(obama_feats, obama_feats) == pytest.approx(0.0, abs=1e-3)
    g = torch.Generator().manual_seed(0)
    sub = obama[:8]
    noise = torch.randn(sub.shape, generator=g)
    fids = []
    for sigma in (10.0, 40.0, 100.0):
        noisy = (sub.float() + sigma * noise).clamp(0, 255).to(torch.uint8)
        fids.append(M.fid_from_features(obama_feats, inception.features(noisy)))
    assert 0 < fids[0] < fids[1] < fids[2], fids


def test_fid_and_kid_large_between_datasets(inception, obama_feats):
    cat = inception.features(load_folder("grumpy_cat", N_IMG))
    half = N_IMG // 2
    within = M.fid_from_features(obama_feats[:half], obama_feats[half:])
    across = M.fid_from_features(obama_feats[:half], cat[:half])
    assert across > 1.5 * within and across > 100, (within, across)
    kid_within, _ = M.kid_from_features(obama_feats[:half], obama_feats[half:], n_subsets=10)
    kid_across, _ = M.kid_from_features(obama_feats, cat, n_subsets=10)
    assert kid_across > 0.05 and kid_across > 3 * abs(kid_within), (kid_within, kid_across)


def test_evaluator_with_cached_real_stats(tmp_path, inception, obama, obama_feats):
    import torch

    class FakeManifest:
        dataset_id = "test-obama"

    calls = []

    def images():
        calls.append(1)
        return iter([obama[:4], obama[4:8]])

    rs = M.real_stats(FakeManifest(), inception, cache_dir=tmp_path, images=images)
    assert rs.n == 8 and np.allclose(rs.mu, obama_feats[:8].mean(0), atol=1e-4)
    assert len(list(tmp_path.glob("fidstats-test-obama-*.npz"))) == 1
    rs2 = M.real_stats(FakeManifest(), inception, cache_dir=tmp_path, images=images)
    assert len(calls) == 1 and np.array_equal(rs2.mu, rs.mu)

    ev = M.FIDEvaluator.__new__(M.FIDEvaluator)
    ev.inception, ev.n_gen, ev.batch, ev.device, ev.seed = inception, 8, 8, "cpu", 0
    ev.kid_subsets, ev.kid_subset_size, ev.real = 5, 1000, rs

    def real_sample(n, seed):  # "generator" returning other real images of the same person: FID smaller
        return obama[8:8 + n]

    def grey_sample(n, seed):
        return torch.full((n, 3, 64, 64), 128, dtype=torch.uint8) + torch.randint(
            0, 3, (n, 3, 64, 64), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)

    good = ev.evaluate(sample_fn=real_sample)
    bad = ev.evaluate(sample_fn=grey_sample)
    assert set(good) >= {"fid", "kid", "kid_std", "n_gen", "n_real"}
    assert good["n_gen"] == 8 and good["n_real"] == 8
    assert bad["fid"] > 2 * good["fid"] and bad["kid"] > good["kid"]

    class G(torch.nn.Module):  # module interface: G.z_dim, G(z, c) -> [-1, 1]
        z_dim = 8

        def forward(self, z, c=None):
            return torch.tanh(z.mean(1))[:, None, None, None].expand(-1, 3, 32, 32)

    res = ev.evaluate(G())
    assert res["n_gen"] == 8 and res["fid"] > good["fid"]


def test_fid_methods_agree():
    rng = np.random.default_rng(4)
    for n1, n2, d in ((200, 150, 16), (20, 30, 48), (30, 500, 64)):  # full rank and singular (n < d)
        x, y = rng.normal(size=(n1, d)), 1.3 * rng.normal(size=(n2, d)) + 0.2
        a = M.fid_from_stats(*M.feature_stats(x), *M.feature_stats(y), method="eigh")
        b = M.fid_from_stats(*M.feature_stats(x), *M.feature_stats(y), method="sqrtm")
        c = M.fid_from_features(x, y, method="lowrank")
        assert a == pytest.approx(b, rel=1e-5) and c == pytest.approx(b, rel=1e-5)
        assert M.fid_from_features(x, y) == pytest.approx(b, rel=1e-5)
    with pytest.raises(ValueError):
        M.fid_from_stats(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="nope")
