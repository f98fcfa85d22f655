"""`primps pretrain --stream`: batches synthesized on the fly equal a render of the same config and seed."""

import pytest
import torch
import torch.utils.data

from primps.pipeline.config import resolve_synth_config
from primps.pipeline.loader import make_dataset
from primps.pipeline.stream import SynthStream, dataset_id, make_stream_loader
from primps.stages.cli import main as primps
from primps.trainers.loop import Trainer

B, K, SEED = 4, 3, 11


def rendered(tmp_path):
    rc = primps(["render", "--resolution", "32", "-n", str(B * K * 2), "--shard-size", str(B * K), "--seed",
                 str(SEED), "--root", str(tmp_path / "data"), "--manifest-dir", str(tmp_path / "man"),
                 "--dataset-name", "r", "--workers", "0", "--no-progress"])
    assert rc == 0
    ds = make_dataset(tmp_path / "man" / "r.json", 0, resampled=False, shuffle=0, batch_size=B)
    return list(ds)


def test_stream_batches_equal_render(tmp_path):
    cfg = resolve_synth_config(None, None, "paper", None, 32)
    ref = rendered(tmp_path)
    one = [b for _, b in zip(range(2 * K), SynthStream(cfg, SEED, B))]
    assert all(torch.equal(a, b) for a, b in zip(one, ref)) and len(ref) == 2 * K
    loader = make_stream_loader(cfg, SEED, B, num_workers=2)         # workers render alternate batches
    two = [b for _, b in zip(range(2 * K), loader)]
    assert all(torch.equal(a, b) for a, b in zip(two, ref))
    resumed = [b for _, b in zip(range(K), SynthStream(cfg, SEED, B, start_batch=K))]
    assert all(torch.equal(a, b) for a, b in zip(resumed, ref[K:]))
    r0 = next(iter(SynthStream(cfg, SEED, B, rank=0, world=2)))   # rank r takes global batches r, r+W, ...
    r1 = next(iter(SynthStream(cfg, SEED, B, rank=1, world=2)))
    assert torch.equal(r0, ref[0]) and torch.equal(r1, ref[1])


@pytest.mark.slow
def test_pretrain_stream_cli(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pretrain", "--stream", "--synth-preset", "paper", "--resolution", "32", "--train-preset", "cpu-smoke",
            "--seed", str(SEED), "--kimg", "0.016", "--out", str(out), "--workers", "0", "--no-progress"]
    assert primps(argv) == 0
    st = Trainer.read_checkpoint(out / "last.pt")
    cfg = resolve_synth_config(None, None, "paper", None, 32)
    assert st["manifest_id"] == dataset_id(cfg, SEED) and st["extra"]["synth_seed"] == SEED
    assert st["extra"]["synth_config"] == cfg.to_dict() and st["batches_consumed"] == 2
    assert primps(argv[:-5] + ["--kimg", "0.024", "--out", str(out), "--resume", str(out / "last.pt"),
                               "--workers", "0", "--no-progress"]) == 0
    assert Trainer.read_checkpoint(out / "last.pt")["batches_consumed"] == 3
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:   # exactly one of --manifest / --stream (argparse, exit 2)
        primps(["pretrain", "--stream", "--manifest", "m.json", "--kimg", "1", "--out", str(tmp_path)])
    assert exc.value.code == 2
    capsys.readouterr()
    assert primps(["pretrain", "--stream", "--variant", "nope", "--kimg", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and err.count("\n") == 1, err
    assert primps(["pretrain", "--manifest", "m.json", "--variant", "primitives", "--kimg", "1",
                   "--out", str(tmp_path / "x")]) == 2
    assert "only apply to --stream" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
