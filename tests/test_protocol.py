"""DiffAugment's / the Primitives-PS paper's low-shot protocol: x-flip of reals, EMA start and ramp-up, the finetune
profiles, TF32 off at start-up, and a real-statistics cache keyed by device type and float32 mode (issue 19)."""

import argparse

import numpy as np
import pytest
import torch

from primps.pipeline.errors import ConfigError
from primps.trainers import presets as P
from primps.trainers.loop import Trainer
from primps.trainers.presets import TrainConfig, get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def smoke(**over) -> TrainConfig:
    return get_preset("cpu-smoke", **over)


def real_batch(b: int = 8, res: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, res, res), dtype=torch.uint8, generator=g)


# ------------------------------------------------------------------------------------------------ mirror
def test_mirror_flips_some_reals_deterministically_per_step():
    tr = Trainer(smoke(mirror=True, batch=32), "cpu", seed=1)
    x = torch.randn(32, 3, 8, 8)
    tr._reseed()
    y = tr.mirror(x)
    flipped = [bool(torch.equal(y[i], x[i].flip(2))) for i in range(32)]
    kept = [bool(torch.equal(y[i], x[i])) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))          # each image is itself or its mirror image
    assert 4 <= sum(flipped) <= 28                             # p = 0.5 (P(outside) < 1e-4)
    tr._reseed()
    assert torch.equal(tr.mirror(x), y)                        # the same step draws the same flips
    tr.step_idx += 1
    tr._reseed()
    assert not torch.equal(tr.mirror(x), y)                    # the next step draws new ones
    off = Trainer(smoke(), "cpu", seed=1)
    off._reseed()
    assert torch.equal(off.mirror(x), x)                       # mirror off (default): identity


def test_step_feeds_mirrored_reals_to_d(monkeypatch):
    tr = Trainer(smoke(mirror=True), "cpu", seed=2)
    seen = {}
    mirror, d_main = tr.mirror, tr.d_main_loss

    def spy_mirror(real):
        seen["mirrored"] = out = mirror(real)
        return out

    def spy_d_main(real, b):
        seen["d_real"] = real
        return d_main(real, b)

    monkeypatch.setattr(tr, "mirror", spy_mirror)
    monkeypatch.setattr(tr, "d_main_loss", spy_d_main)
    tr.step(real_batch())
    assert seen["d_real"] is seen["mirrored"]


def test_mirror_draws_from_its_own_stream():
    """On x-flip-symmetric reals the flip changes no pixel, so with mirror on or off training must be bit-identical:
    the flips take no draw from the latent/noise or DiffAugment streams."""
    half = real_batch()[..., :16]
    sym = torch.cat([half, half.flip(3)], dim=3)
    out = []
    for mirror in (False, True):
        tr = Trainer(smoke(mirror=mirror, diffaug_policy="color,translation,cutout"), "cpu", seed=3)
        for _ in range(3):
            tr.step(sym)
        out.append([p.detach().clone() for p in (*tr.G.parameters(), *tr.D.parameters())])
    assert all(torch.equal(a, b) for a, b in zip(*out))


# ------------------------------------------------------------------------------------------------ EMA
def test_ema_beta_follows_stylegan2_ada_rampup_and_diffaugment_start():
    batch, half = 8, 0.1                                        # cpu-smoke: half-life 100 images
    tr = Trainer(smoke(ema_rampup=0.05), "cpu")
    assert tr.ema_beta() == 0.0                                 # cur_nimg 0: G_ema = G
    tr.cur_nimg = 1000                                          # min(100, 1000 * 0.05 = 50) images
    assert tr.ema_beta() == pytest.approx(0.5 ** (batch / 50))
    tr.cur_nimg = 100_000                                       # ramp done: the half-life itself
    assert tr.ema_beta() == pytest.approx(0.5 ** (batch / (half * 1000)))
    st = Trainer(smoke(ema_start_kimg=0.5), "cpu")
    st.cur_nimg = 496
    assert st.ema_beta() == 0.0                                 # before ema_start_kimg: G_ema = G
    st.cur_nimg = 504
    assert st.ema_beta() == pytest.approx(0.5 ** (batch / (half * 1000)))
    plain = Trainer(smoke(), "cpu")                             # default: constant beta from step 0 (as before)
    assert plain.ema_beta() == pytest.approx(0.5 ** (batch / (half * 1000)))


def test_ema_rampup_copies_g_at_the_first_step():
    tr = Trainer(smoke(ema_rampup=0.05), "cpu", seed=4)
    tr.step(real_batch())
    assert all(torch.equal(a, b) for a, b in zip(tr.G_ema.parameters(), tr.G.parameters()))
    off = Trainer(smoke(), "cpu", seed=4)
    off.step(real_batch())
    assert not all(torch.equal(a, b) for a, b in zip(off.G_ema.parameters(), off.G.parameters()))


@pytest.mark.parametrize("bad", [dict(ema_rampup=0.0), dict(ema_rampup=-1), dict(ema_start_kimg=-1),
                                 dict(mirror="yes"), dict(ema_rampup=True)])
def test_bad_protocol_fields_are_config_errors(bad):
    with pytest.raises(ConfigError):
        smoke(**bad)


def test_checkpoint_records_mirror_and_ema(tmp_path):
    tr = Trainer(smoke(mirror=True, ema_rampup=0.05, ema_start_kimg=0.2), "cpu")
    tr.save(tmp_path / "a.pt")
    st = Trainer.read_checkpoint(tmp_path / "a.pt")
    assert (st["config"]["mirror"], st["config"]["ema_rampup"], st["config"]["ema_start_kimg"]) == (True, 0.05, 0.2)
    back = Trainer.load(tmp_path / "a.pt")
    assert (back.cfg.mirror, back.cfg.ema_rampup, back.cfg.ema_start_kimg) == (True, 0.05, 0.2)


def test_old_checkpoints_load_with_the_old_protocol(tmp_path):
    tr = Trainer(smoke(), "cpu")
    st = tr.state_dict()
    for k in ("mirror", "ema_rampup", "ema_start_kimg"):
        del st["config"][k]
    torch.save(st, tmp_path / "old.pt")
    back = Trainer.load(tmp_path / "old.pt")
    assert (back.cfg.mirror, back.cfg.ema_rampup, back.cfg.ema_start_kimg) == (False, None, 0.0)


def test_metrics_json_protocol_numbers():
    from primps.stages.evaluate import protocol_numbers

    assert protocol_numbers(smoke()) == {"mirror": 0, "ema_rampup": 0.0, "ema_start_kimg": 0.0}
    assert protocol_numbers(smoke(mirror=True, ema_rampup=0.05, ema_start_kimg=5)) == {
        "mirror": 1, "ema_rampup": 0.05, "ema_start_kimg": 5.0}


# ------------------------------------------------------------------------------------------------ presets, profiles
@pytest.mark.parametrize("name", ["lowshot256", "small128", "small64"])
def test_lowshot_presets_train_as_diffaugment_published(name):
    cfg = get_preset(name)
    assert cfg.mirror is True and cfg.ema_rampup is None
    assert cfg.ema_start_kimg == cfg.ema_halflife_kimg          # TF: ema_start_kimg defaults to the half-life


def test_cpu_smoke_keeps_the_old_protocol():
    cfg = get_preset("cpu-smoke")
    assert (cfg.mirror, cfg.ema_rampup, cfg.ema_start_kimg) == (False, None, 0.0)


def test_paper_ps_profile_values_and_architecture_kept():
    base = get_preset("small64")
    cfg = P.apply_profile(base, "paper-ps")
    assert (cfg.batch, cfg.mbstd_group, cfg.g_lr, cfg.d_lr, cfg.r1_gamma, cfg.ema_halflife_kimg) == \
        (16, 4, 0.002, 0.002, 10.0, 10.0)
    assert (cfg.mirror, cfg.ema_rampup, cfg.ema_start_kimg, cfg.pl_weight) == (False, None, 0.0, 2.0)
    assert cfg.diffaug_policy == "color,translation,cutout"
    for k in ("resolution", "channel_base", "channel_max", "mapping_layers", "z_dim", "w_dim"):
        assert getattr(cfg, k) == getattr(base, k)
    d = P.apply_profile(base, "diffaugment")
    assert (d.mirror, d.ema_start_kimg, d.pl_weight) == (True, 10.0, 0.0)
    assert P.apply_profile(base, None) is base
    with pytest.raises(ConfigError):
        P.apply_profile(base, "nope")
    assert not set().union(*P.PROFILES.values()) & {"resolution", "channel_base", "channel_max", "z_dim", "w_dim"}
    assert set(P.TRAIN_PRESETS) >= {"lowshot256", "small64"}


def test_finetune_profile_reaches_the_trainer(tmp_path):
    from primps.stages import finetune as ft

    Trainer(smoke(), "cpu").save(tmp_path / "pre.pt")
    args = argparse.Namespace(resume=None, init=str(tmp_path / "pre.pt"), device="cpu", compile=False,
                              precision="fp32", seed=0, profile="paper-ps", batch=None, resolution=None,
                              diffaug="color,translation,cutout", snapshot_kimg=None, log_kimg=None,
                              train_preset="cpu-smoke", freeze_d=None)
    manifest = argparse.Namespace(dataset_id="real-x")
    tr = ft.build_trainer(args, manifest, "full")
    assert (tr.cfg.batch, tr.cfg.r1_gamma, tr.cfg.mirror, tr.cfg.ema_halflife_kimg) == (16, 10.0, False, 10.0)
    assert tr.cfg.channel_base == smoke().channel_base and tr.extra["profile"] == "paper-ps"
    args.profile, args.init = "diffaugment", None
    tr = ft.build_trainer(args, manifest, "scratch")
    assert tr.cfg.mirror and tr.cfg.ema_start_kimg == 10.0 and tr.cfg.resolution == 32


def test_finetune_profile_option_is_validated():
    from primps.stages.cli import build_parser

    p = build_parser()
    assert p.parse_args(["finetune", "--manifest", "m", "--kimg", "1", "--out", "o",
                         "--profile", "paper-ps"]).profile == "paper-ps"
    with pytest.raises(SystemExit) as e:
        p.parse_args(["finetune", "--manifest", "m", "--kimg", "1", "--out", "o", "--profile", "bogus"])
    assert e.value.code == 2


# ------------------------------------------------------------------------------------------------ TF32
@pytest.fixture
def tf32_on():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
    torch.set_float32_matmul_precision(saved[2])


def tf32_off() -> bool:
    return (not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
            and torch.get_float32_matmul_precision() == "highest")


def test_training_startup_turns_tf32_off(tf32_on):
    from primps.stages.train_options import setup_runtime

    assert not tf32_off()
    setup_runtime(argparse.Namespace(workers=0, threads=None))   # pretrain and finetune, after their checks
    assert tf32_off()


def test_evaluate_startup_turns_tf32_off(tf32_on, monkeypatch, tmp_path):
    from primps.stages import evaluate as ev

    monkeypatch.setattr(ev, "check_args", lambda args: None)
    monkeypatch.setattr(ev, "evaluate_checkpoint", lambda *a, **k: {"fid": 1.0})
    args = argparse.Namespace(checkpoint="c.pt", real="r", out=str(tmp_path), n_gen=2, batch=1, device="cpu",
                              inception=None, log=None, seed=None, grid=1, cache_dir=None, no_progress=True)
    assert not tf32_off()
    assert ev.run(args) == 0
    assert tf32_off()


def test_float32_mode_reads_the_switches(tf32_on):
    from primps.trainers.runtime import exact_float32, float32_mode

    assert float32_mode("cuda") == "tf32" and float32_mode("cpu") == "fp32"
    exact_float32()
    assert float32_mode("cuda") == "fp32"


# ------------------------------------------------------------------------------------------------ cache key
class StubInception:
    def __init__(self, numerics: str):
        self.sha256, self.batch_size, self.numerics, self.calls = "ab" * 32, 4, numerics, 0

    def features_from_batches(self, batches, progress=False):
        self.calls += 1
        return np.concatenate([np.full((len(b), 8), float(b.float().mean())) for b in batches]) + \
            np.arange(8)[None] * np.arange(6)[:, None]


def test_real_stats_cache_is_keyed_by_device_and_precision(tmp_path):
    from primps.trainers import metrics as M

    man = argparse.Namespace(dataset_id="real-key")

    def images():
        return [real_batch(3, 4, s) for s in (0, 1)]

    stubs = {n: StubInception(n) for n in ("cpu-fp32", "cuda-fp32", "cuda-tf32")}
    for stub in stubs.values():
        M.real_stats(man, stub, cache_dir=tmp_path, images=images)
    assert [s.calls for s in stubs.values()] == [1, 1, 1]             # nothing reused across numerics
    assert len(list(tmp_path.glob("fidstats-real-key-*.npz"))) == 3
    again = StubInception("cuda-fp32")
    M.real_stats(man, again, cache_dir=tmp_path, images=images)
    assert again.calls == 0                                            # same numerics: served from the cache


# ------------------------------------------------------------------------------------------------ documented deviations
@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_help_states_the_deviations_with_reference_values(command, capsys):
    from primps.stages.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("pl_mean = 0", "--freezed 3K+1", "+-256", "--fp32", "TF32 off"):
        assert needle in text, needle


@pytest.mark.parametrize("res", [32, 256])
def test_freeze_d_blocks_map_to_stylegan2_ada_layers(res):
    """The 3K+1 rule of the help text: D block 0 has four weight layers (fromRGB, conv0, conv1, skip), later blocks
    three, counted as stylegan2-ada counts its --freezed layers."""
    from primps.trainers.networks import Discriminator

    D = Discriminator(res, 256, 32, 4, 1, 0)
    layers = [sum(1 for m in b.modules() if m is not b and hasattr(m, "weight")) for b in D.blocks]
    assert layers[0] == 4 and all(n == 3 for n in layers[1:])
    for k in range(1, len(layers) + 1):
        assert sum(layers[:k]) == 3 * k + 1


# ------------------------------------------------------------------------------------------------ SIGTERM
def test_sigterm_during_a_checkpoint_write_leaves_no_partial_file(tmp_path):
    """A training command turns SIGTERM into KeyboardInterrupt (torchrun stops the surviving ranks so): an atomic
    checkpoint write in progress removes its temporary file and the old checkpoint stays."""
    import os
    import signal

    from primps.pipeline.atomic import atomic_write
    from primps.trainers.runtime import interrupt_on_sigterm

    target = tmp_path / "last.pt"
    target.write_bytes(b"old")
    before = signal.getsignal(signal.SIGTERM)
    try:
        interrupt_on_sigterm()

        def write(tmp):
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            tmp.write_bytes(b"half, then more")

        with pytest.raises(KeyboardInterrupt):
            atomic_write(target, write)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_fidelity_reference_cache_is_keyed_by_device_and_precision(tmp_path):
    from primps.pipeline.reference import reference_features

    class Stub:
        batch_size, sha256, calls = 4, "cd" * 32, 0

        def __init__(self, numerics):
            self.numerics = numerics

        def features(self, x):
            type(self).calls += 1
            return np.ones((len(x), 8))

    images = np.zeros((3, 4, 4, 3), np.uint8)
    for n in ("cpu-fp32", "cuda-tf32", "cpu-fp32"):
        reference_features(Stub(n), images, "d" * 64, tmp_path)
    assert Stub.calls == 2 and len(list(tmp_path.glob("fidelity-ref-*.npz"))) == 2
