"""Issue 11: each trainer defect has a test (lazy regularisation, path length through mapping, pl_mean carry-over,
per-rank RNG streams, device-portable checkpoints, NaN gradients), plus the FLOP budget, graph breaks and bf16."""

import pytest
import torch

from primps.trainers import loop
from primps.trainers.loop import Trainer, TrainingDiverged
from primps.trainers.presets import get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def batches(seed=0, b=8, res=32):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randint(0, 256, (b, 3, res, res), dtype=torch.uint8, generator=g)


def adam_steps(opt) -> int:
    return max(int(s["step"]) for s in opt.state.values())


def test_lazy_regularisation_separate_steps_and_hyperparameters():
    cfg = get_preset("cpu-smoke", pl_interval=4, r1_interval=16)
    tr = Trainer(cfg, "cpu", 0)
    # StyleGAN2 appendix B: lr and betas scaled by k/(k+1) for an optimizer whose regulariser runs every k steps.
    (g,), (d,) = tr.opt_G.param_groups, tr.opt_D.param_groups
    assert g["lr"] == pytest.approx(0.002 * 4 / 5) and d["lr"] == pytest.approx(0.002 * 16 / 17)
    assert g["betas"][1] == pytest.approx(0.99 ** (4 / 5)) and d["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    it = batches()
    for _ in range(17):
        tr.step(next(it))
    # ...which is right only because the regulariser takes its own optimizer step every k minibatches:
    assert adam_steps(tr.opt_G) == 17 + 5     # main steps + path-length steps at 0, 4, 8, 12, 16
    assert adam_steps(tr.opt_D) == 17 + 2     # main steps + R1 steps at 0, 16


def test_path_length_gradient_reaches_mapping_network():
    from primps.trainers import loss as L
    from primps.trainers.networks import style_mix

    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    gen = torch.Generator().manual_seed(0)
    ws = style_mix(tr.G, tr.G.map(torch.randn(4, tr.cfg.z_dim, generator=gen)), 0.9, gen)
    lengths, _ = L.path_length(tr.G, ws, gen)
    lengths.mean().backward()
    for name, p in tr.G.mapping.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_path_length_phase_reaches_mapping_network():
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr._reseed()
    tr.G.zero_grad(set_to_none=True)
    tr.g_reg_loss(8).backward()
    for name, p in tr.G.mapping.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_pl_mean_carries_over_into_finetune(tmp_path):
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    it = batches()
    for _ in range(3):
        tr.step(next(it))
    assert tr.pl_mean.item() > 0
    tr.save(tmp_path / "a.pt")
    ft = Trainer.load(tmp_path / "a.pt", "cpu", weights_only=True, seed=9)
    assert ft.cur_nimg == 0 and torch.equal(ft.pl_mean, tr.pl_mean)


def test_rng_streams_differ_per_rank_after_resume(tmp_path, monkeypatch):
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr.step(next(batches()))
    tr.save(tmp_path / "a.pt")
    draws = {}
    for rank in (0, 1):
        monkeypatch.setattr(loop, "dist_info", lambda r=rank: (r, 2))
        t = Trainer.load(tmp_path / "a.pt", "cpu")
        getattr(t, "_reseed", lambda: None)()   # what step() does first
        draws[rank] = (t._latents(4), torch.rand(4, generator=t.aug_gen))
    assert not torch.equal(draws[0][0], draws[1][0]) and not torch.equal(draws[0][1], draws[1][1])
    tr._reseed()   # rank 0 of the resumed run continues exactly where the saving run would have been
    assert torch.equal(tr._latents(4), draws[0][0])
    assert loop.derive_seed(0, 0, 5, 1) != loop.derive_seed(0, 1, 5, 1) != loop.derive_seed(0, 0, 6, 1)


def test_checkpoint_holds_no_device_state(tmp_path):
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr.step(next(batches()))
    tr.save(tmp_path / "a.pt")
    st = torch.load(tmp_path / "a.pt", weights_only=False)
    assert "gen_state" not in st and "torch_cuda_rng" not in st   # CUDA and CPU generator states differ in size

    def devices(o):
        if isinstance(o, torch.Tensor):
            return {o.device.type}
        if isinstance(o, dict):
            return set().union(*map(devices, o.values())) if o else set()
        if isinstance(o, (list, tuple)):
            return set().union(*map(devices, o)) if o else set()
        return set()
    assert devices(st) == {"cpu"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_checkpoint_moves_between_cuda_and_cpu(tmp_path):
    cfg = get_preset("cpu-smoke")
    tr = Trainer(cfg, "cuda", 0)
    tr.step(next(batches()))
    tr.save(tmp_path / "gpu.pt")
    cpu = Trainer.load(tmp_path / "gpu.pt", "cpu")
    cpu.step(next(batches()))
    cpu.save(tmp_path / "cpu.pt")
    back = Trainer.load(tmp_path / "cpu.pt", "cuda")
    back.step(next(batches()))
    assert back.step_idx == 3 and back.G.mapping.layers[0].weight.is_cuda


def test_nan_gradient_is_caught(tmp_path):
    cfg = get_preset("cpu-smoke", log_every_kimg=0.008)
    tr = Trainer(cfg, "cpu", 0)
    # A NaN that shows in D's gradients but in no loss value of this step.
    tr.D.conv.weight.register_hook(lambda g: g * float("nan"))
    with pytest.raises(TrainingDiverged, match="D gradients"):
        tr.train(batches(), 0.016, tmp_path)
    assert not (tmp_path / "last.pt").exists()


def test_flops_per_image_lowshot256():
    """G+D forward at lowshot256 was 347 GFLOP/img with up/down at the high resolution; now about 184."""
    from primps.trainers.flops import flops_per_image
    f = flops_per_image(get_preset("lowshot256"))
    assert 175e9 < f < 190e9, f / 1e9


def test_bf16_autocast_on_cpu_runs_and_keeps_float32_outputs():
    cfg = get_preset("cpu-smoke", num_amp_res=2)
    tr = Trainer(cfg, "cpu", 0, precision="bf16")
    assert tr.G.synthesis.blocks[-1].amp_dtype == torch.bfloat16 and tr.G.synthesis.blocks[0].amp_dtype is None
    it = batches()
    for _ in range(2):
        tr.step(next(it))
    stats = tr.flush_stats()
    assert stats and all(v == v for v in stats.values())
    img = tr.G(torch.randn(2, cfg.z_dim))
    assert img.dtype == torch.float32


def test_fused_and_unfused_modulated_conv_agree():
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0, precision="fp32")
    z = torch.randn(3, tr.cfg.z_dim, generator=torch.Generator().manual_seed(1))
    a = tr.G(z, noise_mode="const")
    tr.G.synthesis.fused_modconv = True
    b = tr.G(z, noise_mode="const")
    assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.parametrize("conv_ops", ["torch", "custom"])  # F.conv2d, and the convops autograd Functions
def test_training_forwards_compile_to_one_graph_each(conv_ops):
    from primps.trainers import convops

    convops.set_impl(conv_ops)
    try:
        _assert_one_graph_each()
    finally:
        convops.set_impl("auto")


def _assert_one_graph_each():
    tr = Trainer(get_preset("cpu-smoke"), "cpu", 0)
    tr._reseed()
    ws = tr.G.map(tr._latents(4))
    noise = tr.G.synthesis.make_noise(4, tr.gen)
    torch._dynamo.reset()
    eg = torch._dynamo.explain(tr.G.synthesis)(ws, "random", noise)
    ed = torch._dynamo.explain(tr.D)(torch.randn(4, 3, 32, 32))
    assert (eg.graph_count, eg.graph_break_count) == (1, 0), eg.break_reasons
    assert (ed.graph_count, ed.graph_break_count) == (1, 0), ed.break_reasons


def test_progress_bar_stops_at_its_total_and_yields_the_line_to_a_hook(tmp_path, capsys):
    """Issue 17: the last batch overshoots a kimg that is not a multiple of the batch (3 x 8 = 24 images for 0.02
    kimg); the bar must stop at its total (no TqdmWarning "clamping frac", no negative time left), and a hook that
    draws its own bar (finetune's FID) must not leave a second, garbled line (no cursor-up escapes)."""
    import warnings

    from tqdm import TqdmWarning, tqdm

    class Hook:
        every_kimg = 0.008

        def __call__(self, trainer, done):
            for _ in tqdm(range(2), desc="FID", leave=False, position=0, file=__import__("sys").stderr):
                pass

    tr = Trainer(get_preset("cpu-smoke", snapshot_every_kimg=1.0), "cpu", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TqdmWarning)
        tr.train(batches(), 0.02, tmp_path, hooks=[Hook()], progress=True)
    err = capsys.readouterr().err
    assert tr.cur_nimg == 24
    assert "0.020/0.020 kimg" in err and "0.024" not in err and "-" not in err.rsplit("kimg [", 1)[1]
    assert "\x1b[A" not in err
