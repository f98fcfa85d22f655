"""`primps analyze filters`: filter cosine similarity on known weights and on a cpu-smoke checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from primps.stages import analyze as A
from primps.stages.cli import main as primps


def test_filter_similarity_known_values():
    eye = torch.eye(4).reshape(4, 4, 1, 1)  # orthogonal filters
    assert A.filter_similarity(eye) == pytest.approx((0.0, 0.0))
    same = torch.ones(3, 2, 3, 3) * torch.tensor([1.0, 2.0, 5.0]).reshape(3, 1, 1, 1)  # parallel, any scale
    assert A.filter_similarity(same) == pytest.approx((1.0, 1.0))
    pm = torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1) * torch.ones(2, 1, 3, 3)  # opposite pair
    assert A.filter_similarity(pm) == pytest.approx((-1.0, 1.0))
    g = torch.Generator().manual_seed(0)
    rnd = torch.randn(64, 32, 3, 3, generator=g)  # random filters: nearly orthogonal in 288 dims
    m, a = A.filter_similarity(rnd)
    assert abs(m) < 0.01 and 0.02 < a < 0.08


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset

    path = tmp_path_factory.mktemp("an") / "ck.pt"
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    with torch.no_grad():  # make one D conv degenerate: every filter the same
        name, w = next((n, p) for n, p in tr.D.named_parameters() if p.ndim == 4 and p.shape[0] >= 2)
        w.copy_(w[:1].expand_as(w))
    tr.save(path)
    return path, name


def test_analyze_cli(ckpt, tmp_path, capsys):
    path, degenerate = ckpt
    out = tmp_path / "filters.json"
    assert primps(["analyze", "filters", str(path), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "(mean over layers)" in table and degenerate in table
    res = json.loads(out.read_text())["results"][0]
    assert set(res["nets"]) == {"G", "D"}
    for net in ("G", "D"):
        layers = res["nets"][net]["layers"]
        assert len(layers) >= 3 and all(len(r["shape"]) == 4 for r in layers)
        assert all(-1.0 <= r["mean_cos"] <= 1.0 + 1e-9 for r in layers)
    d = {r["layer"]: r for r in res["nets"]["D"]["layers"]}
    assert d[degenerate]["mean_cos"] == pytest.approx(1.0)
    others = [r["mean_abs_cos"] for n, r in d.items() if n != degenerate]
    assert max(others) < 0.5  # freshly initialised filters are diverse


def test_analyze_errors(ckpt, tmp_path, capsys):
    path, _ = ckpt
    assert primps(["analyze", "filters", str(tmp_path / "missing.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert primps(["analyze", "filters", str(path), "--nets", "G,X"]) == 2
    assert "unknown network" in capsys.readouterr().err
