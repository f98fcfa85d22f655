"""`primps finetune`: strategies freeze what they claim, FID hook and best.pt, resolution mismatch, resume."""

import json

import pytest
import torch

from primps.pipeline.manifest import load_manifest
from primps.stages.cli import build_parser
from primps.stages.cli import main as primps
from primps.stages.finetune import build_trainer, finetune, resolve_strategy
from primps.trainers.loop import Trainer
from primps.trainers.presets import get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def render(root, res, n, name, seed):
    rc = primps(["render", "--resolution", str(res), "-n", str(n), "--shard-size", str(n), "--seed", str(seed),
                 "--root", str(root / "data"), "--manifest-dir", str(root / "man"), "--dataset-name", name,
                 "--workers", "0", "--no-progress"])
    assert rc == 0
    return root / "man" / f"{name}.json"


def lowshot(root, res, n, name, seed):
    """A small real-kind target set: synthetic images saved as PNG files, then `primps ingest`ed."""
    from PIL import Image

    from primps.pipeline.config import SynthConfig
    from primps.pipeline.synth import render_batch

    src = root / f"{name}-src"
    src.mkdir()
    for i, img in enumerate(render_batch(SynthConfig(height=res, width=res), seed, range(n))):
        Image.fromarray(img).save(src / f"{i:03d}.png")
    assert primps(["ingest", str(src), "--resolution", str(res), "--out", str(root / name)]) == 0
    return root / name / ".primps" / "manifest.json"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    pre = render(root, 32, 32, "pre32", 1)
    low = lowshot(root, 32, 16, "low32", 2)      # stands in for an ingested 100-shot set
    low64 = lowshot(root, 64, 8, "low64", 3)
    assert primps(["pretrain", "--manifest", str(pre), "--kimg", "0.016", "--out", str(root / "pre"),
                   "--seed", "0", "--workers", "0", "--no-progress"]) == 0
    return {"ckpt": root / "pre" / "last.pt", "low": low, "low64": low64, "pre": pre}


class FakeEvaluator:
    """Returns a scripted FID sequence; checks it receives a generator function with z_dim."""

    def __init__(self, fids):
        self.fids = list(fids)
        self.calls = 0

    def evaluate(self, fn):
        z = torch.randn(2, fn.z_dim, generator=torch.Generator().manual_seed(0))
        assert fn(z).shape == (2, 3, 32, 32)
        fid = self.fids[self.calls]
        self.calls += 1
        return {"fid": fid, "kid": fid / 1000}


def args_for(*argv):
    return build_parser().parse_args(["finetune", *argv])


def run_ft(setup, out, *extra, fids=(50.0,) * 10, kimg="0.016"):
    a = args_for("--manifest", str(setup["low"]), "--kimg", kimg, "--out", str(out), "--seed", "5",
                 "--eval-every", "0.008", "--workers", "0", "--no-progress", *extra)
    ev = FakeEvaluator(fids)
    assert finetune(a, evaluator=ev) == 0
    return ev, torch.load(out / "last.pt", weights_only=False)


def changed(before: dict, after: dict, prefix: str = "") -> dict:
    return {k: not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)
            and before[k].is_floating_point() and "noise_const" not in k and "w_avg" not in k}


def test_freezed_keeps_first_k_d_blocks(setup, tmp_path):
    init = torch.load(setup["ckpt"], weights_only=False)
    _, st = run_ft(setup, tmp_path, "--init", str(setup["ckpt"]), "--strategy", "freezed", "--freeze-d", "2")
    ch = changed(init["D"], st["D"])
    frozen = {k: v for k, v in ch.items() if k.startswith(("blocks.0.", "blocks.1."))}
    rest = {k: v for k, v in ch.items() if k not in frozen}
    assert frozen and not any(frozen.values()), frozen
    assert rest and all(rest.values()), rest
    assert all(changed(init["G"], st["G"]).values())
    assert st["d_frozen_blocks"] == 2 and st["extra"]["strategy"] == "freezed"
    assert st["cur_nimg"] == 16   # the finetune counter starts at 0


def test_full_changes_everything(setup, tmp_path):
    init = torch.load(setup["ckpt"], weights_only=False)
    _, st = run_ft(setup, tmp_path, "--init", str(setup["ckpt"]), "--strategy", "full")
    for net in ("G", "D", "G_ema"):
        ch = changed(init[net], st[net])
        assert ch and all(ch.values()), (net, [k for k, v in ch.items() if not v])
    assert st["manifest_id"] != init["manifest_id"] and st["extra"]["init"] == str(setup["ckpt"])


def test_scratch_starts_from_fresh_weights(setup, tmp_path):
    a = args_for("--manifest", str(setup["low"]), "--kimg", "0.008", "--out", str(tmp_path), "--seed", "5",
                 "--from", "scratch", "--train-preset", "cpu-smoke")
    tr = build_trainer(a, load_manifest(a.manifest), resolve_strategy(a))
    fresh = Trainer(get_preset("cpu-smoke", diffaug_policy="color,translation,cutout"), "cpu", 5)
    init = torch.load(setup["ckpt"], weights_only=False)
    for k, v in fresh.G.state_dict().items():
        assert torch.equal(tr.G.state_dict()[k], v), k
    assert any(not torch.equal(init["G"][k], v) for k, v in tr.G.state_dict().items() if "const" not in k)
    assert tr.cfg.diffaug_policy == "color,translation,cutout" and tr.cur_nimg == 0


def test_fid_curve_and_best_checkpoint(setup, tmp_path):
    ev, st = run_ft(setup, tmp_path, "--init", str(setup["ckpt"]), "--eval-seed", "7",
                    fids=[50.0, 40.0, 30.0, 35.0], kimg="0.024")
    recs = [json.loads(line) for line in (tmp_path / "fid.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in recs] == [0.0, 0.008, 0.016, 0.024]   # the curve starts at the initial model
    assert [r["fid"] for r in recs] == [50.0, 40.0, 30.0, 35.0] and recs[1]["kid"] == pytest.approx(0.04)
    assert {r["seed"] for r in recs} == {7}
    best = torch.load(tmp_path / "best.pt", weights_only=False)
    assert best["cur_nimg"] == 16 and best["extra"]["best_fid"] == 30.0
    assert st["cur_nimg"] == 24 and st["extra"]["best_fid"] == 30.0


def test_finetune_resume(setup, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ("--init", str(setup["ckpt"]), "--strategy", "freezed", "--freeze-d", "1")
    _, sa = run_ft(setup, a, *common, kimg="0.024")
    run_ft(setup, b, *common, kimg="0.008")
    _, sb = run_ft(setup, b, "--resume", str(b / "last.pt"), kimg="0.024")
    for net in ("G", "D", "G_ema"):
        for k in sa[net]:
            assert torch.equal(sa[net][k], sb[net][k]), (net, k)
    assert sb["d_frozen_blocks"] == 1


@pytest.mark.parametrize("extra, message", [
    (["--strategy", "freezed"], "needs a pretrained checkpoint"),
    (["--init", "CKPT", "--strategy", "freezed"], "needs --freeze-d K"),
    (["--init", "CKPT", "--freeze-d", "2"], "only valid with --strategy freezed"),
    (["--init", "CKPT", "--strategy", "freezed", "--freeze-d", "9"], "--freeze-d must be between 1 and 3"),
    (["--init", "missing.pt"], "--init: checkpoint not found: missing.pt"),
    (["--init", "CKPT", "--kimg", "0"], "--kimg must be a number > 0"),
])
def test_bad_arguments_exit_2(setup, tmp_path, capsys, extra, message):
    extra = [str(setup["ckpt"]) if e == "CKPT" else e for e in extra]
    argv = ["finetune", "--manifest", str(setup["low"]), "--out", str(tmp_path), "--eval-every", "-1"]
    if "--kimg" not in extra:
        argv += ["--kimg", "0.008"]
    rc = primps(argv + extra)
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err


def test_resolution_mismatch_exit_2(setup, tmp_path, capsys):
    rc = primps(["finetune", "--manifest", str(setup["low64"]), "--init", str(setup["ckpt"]), "--kimg", "0.008",
                 "--out", str(tmp_path), "--eval-every", "-1"])
    err = capsys.readouterr().err
    assert rc == 2 and "is 64x64 but the model resolution is 32" in err, err


def test_synthetic_target_rejected_up_front(setup, tmp_path, capsys):
    """A rendered (synthetic) set is not a low-shot target: rejected before any statistics are computed."""
    rc = primps(["finetune", "--manifest", str(setup["pre"]), "--init", str(setup["ckpt"]), "--kimg", "0.008",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "is a synthetic set of 32 images" in err and "primps ingest" in err, err
    assert not (tmp_path / "o").exists()
