"""Training loop and `primps pretrain`: end to end on rendered shards, exact resume, bad arguments, NaN stop."""

import json
import math

import pytest
import torch

from primps.stages.cli import main as primps
from primps.trainers.loop import Trainer, TrainingDiverged
from primps.trainers.presets import get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def shards32(tmp_path_factory):
    root = tmp_path_factory.mktemp("render32")
    rc = primps(["render", "--resolution", "32", "-n", "48", "--shard-size", "16", "--seed", "1",
                 "--root", str(root / "data"), "--manifest-dir", str(root / "man"), "--dataset-name", "r32",
                 "--workers", "0", "--no-progress"])
    assert rc == 0
    return root / "man" / "r32.json"


def pretrain(manifest, out, kimg, *extra):
    return primps(["pretrain", "--manifest", str(manifest), "--train-preset", "cpu-smoke", "--kimg", str(kimg),
                   "--out", str(out), "--seed", "3", "--workers", "0", "--no-progress", *extra])


def test_pretrain_end_to_end(shards32, tmp_path):
    out = tmp_path / "run"
    assert pretrain(shards32, out, 0.064, "--diffaug", "color,translation,cutout") == 0
    recs = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    assert recs and recs[-1]["kimg"] == pytest.approx(0.064)
    for r in recs:
        for k in ("loss_g", "loss_d", "img_per_s"):
            assert math.isfinite(r[k]), (k, r)
    assert any("r1_penalty" in r for r in recs) and any("pl_penalty" in r for r in recs)
    grids = sorted(out.glob("grid-*.png"))
    assert grids and grids[-1].stat().st_size > 100
    st = Trainer.read_checkpoint(out / "last.pt")
    assert st["cur_nimg"] == 64 and st["step"] == 8
    assert st["config"]["diffaug_policy"] == "color,translation,cutout"
    assert st["manifest_id"].startswith("synth-")
    for key in ("G", "D", "G_ema", "opt_G", "opt_D", "rng", "pl_mean", "torch_cpu_rng",
                "batches_consumed"):
        assert key in st
    assert not list(out.glob(".*tmp*"))   # no temp files left behind


def test_resume_equals_straight_run(shards32, tmp_path):
    """N+M steps with a resume in between equal N+M steps straight through, bit for bit (CPU, fixed seed)."""
    a, b = tmp_path / "a", tmp_path / "b"
    args = ("--diffaug", "color,translation,cutout")
    assert pretrain(shards32, a, 0.072, *args) == 0                  # 9 steps straight
    assert pretrain(shards32, b, 0.032, *args) == 0                  # 4 steps ...
    assert pretrain(shards32, b, 0.072, *args, "--resume", str(b / "last.pt")) == 0   # ... + 5 resumed
    sa, sb = (torch.load(p / "last.pt", weights_only=False) for p in (a, b))
    assert sa["cur_nimg"] == sb["cur_nimg"] == 72 and sa["batches_consumed"] == sb["batches_consumed"] == 9
    for net in ("G", "D", "G_ema"):
        for k in sa[net]:
            assert torch.equal(sa[net][k], sb[net][k]), (net, k)
    assert torch.equal(sa["pl_mean"], sb["pl_mean"])


@pytest.mark.parametrize("argv, message", [
    (["--manifest", "MISSING.json", "--kimg", "1"], "manifest not found"),
    (["--kimg", "0"], "--kimg must be a number > 0"),
    (["--kimg", "-1"], "--kimg must be a number > 0"),
    (["--train-preset", "small64", "--kimg", "1"], "is 32x32 but the model resolution is 64"),
    (["--kimg", "1", "--resume", "nope.pt"], "--resume: checkpoint not found: nope.pt"),
    (["--kimg", "1", "--diffaug", "flip"], "unknown augmentation 'flip'"),
])
def test_bad_arguments_exit_2(shards32, tmp_path, capsys, argv, message):
    if "--manifest" not in argv:
        argv = ["--manifest", str(shards32), *argv]
    rc = primps(["pretrain", *argv, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1, err


def synthetic_batches(seed=0, b=8, res=32):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randint(0, 256, (b, 3, res, res), dtype=torch.uint8, generator=g)


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = get_preset("cpu-smoke", snapshot_every_kimg=0.016)
    tr = Trainer(cfg, "cpu", 0)
    tr.train(synthetic_batches(), 0.016, tmp_path)
    good = (tmp_path / "last.pt").read_bytes()
    with torch.no_grad():
        tr.D.out.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="became nan"):
        tr.train(synthetic_batches(), 0.048, tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == good


def test_ema_and_kimg_counter():
    cfg = get_preset("cpu-smoke", ema_halflife_kimg=0.008)   # beta = 0.5 per step of 8 images
    tr = Trainer(cfg, "cpu", 0)
    g0 = {k: v.clone() for k, v in tr.G.state_dict().items()}
    e0 = {k: v.clone() for k, v in tr.G_ema.state_dict().items()}
    tr.step(next(synthetic_batches()))
    assert tr.cur_nimg == 8 and tr.kimg == 0.008
    k = "synthesis.blocks.1.conv0.conv.weight"
    g1 = tr.G.state_dict()[k]
    assert torch.allclose(tr.G_ema.state_dict()[k], 0.5 * g1 + 0.5 * e0[k], atol=1e-6)
    assert not torch.equal(g1, g0[k])


def test_wrong_batch_resolution_is_usage_error():
    from primps.pipeline.errors import UsageError
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    with pytest.raises(UsageError, match="does not match"):
        tr.step(next(synthetic_batches(res=64)))
