"""Custom conv autograd (trainers/convops.py): first/second derivatives equal F.conv2d's; penalties unchanged."""

import pytest
import torch
import torch.nn.functional as F

from primps.trainers import convops
from primps.trainers import loss as L
from primps.trainers.networks import Discriminator, Generator
from primps.trainers.presets import get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")

# (in_ch, out_ch, k, stride, padding, groups, bias): every combination the networks use, on tiny shapes.
CONV_CASES = [
    (2, 3, 3, 1, 1, 1, True),     # EqConv2d 3x3 / modulated conv
    (2, 3, 1, 1, 0, 1, False),    # 1x1 (toRGB, fromRGB, skip)
    (2, 3, 3, 2, 0, 1, True),     # stride-2 downsampling conv
    (4, 4, 3, 2, 1, 2, False),    # grouped (fused modconv) / depthwise-like, stride 2
    (3, 3, 4, 1, 2, 3, False),    # depthwise FIR blur, padding 2
    (3, 3, 4, 2, 1, 3, False),    # depthwise FIR blur with stride 2
]
# (in_ch, out_ch_per_group, k, stride, padding, groups, bias) for conv_transpose2d.
CONVT_CASES = [
    (2, 3, 3, 2, 0, 1, False),    # modulated upsampling conv
    (4, 2, 3, 2, 0, 2, True),     # grouped (fused) upsampling conv
    (3, 1, 4, 2, 1, 3, False),    # depthwise FIR upsample2x
]


def _inputs(cin, wshape, bias, size=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, cin, size, size, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(*wshape, dtype=torch.float64, generator=g, requires_grad=True)
    b = torch.randn(wshape[0] if len(wshape) else 1, dtype=torch.float64, generator=g, requires_grad=True) \
        if bias else None
    return x, w, b


@pytest.fixture
def custom_impl():
    convops.set_impl("custom")
    yield
    convops.set_impl("auto")


@pytest.mark.parametrize("cin,cout,k,s,p,groups,bias", CONV_CASES)
def test_conv2d_gradcheck_and_gradgradcheck(custom_impl, cin, cout, k, s, p, groups, bias):
    x, w, b = _inputs(cin, (cout, cin // groups, k, k), bias)
    args = (x, w) + ((b,) if bias else ())

    def f(*a):
        return convops.conv2d(a[0], a[1], a[2] if bias else None, stride=s, padding=p, groups=groups)

    assert torch.allclose(f(*args), F.conv2d(x, w, b, s, p, 1, groups))
    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


@pytest.mark.parametrize("cin,cpg,k,s,p,groups,bias", CONVT_CASES)
def test_conv_transpose2d_gradcheck_and_gradgradcheck(custom_impl, cin, cpg, k, s, p, groups, bias):
    x, w, _ = _inputs(cin, (cin, cpg, k, k), False)
    b = torch.randn(cpg * groups, dtype=torch.float64, requires_grad=True) if bias else None
    args = (x, w) + ((b,) if bias else ())

    def f(*a):
        return convops.conv_transpose2d(a[0], a[1], a[2] if bias else None, stride=s, padding=p, groups=groups)

    assert torch.allclose(f(*args), F.conv_transpose2d(x, w, b, s, p, 0, groups))
    assert torch.autograd.gradcheck(f, args)
    assert torch.autograd.gradgradcheck(f, args)


def _r1_style(conv, x, w):
    """Grad w.r.t. w of the sum of squared input-gradients of a nonlinear function of the conv (R1 pattern)."""
    y = conv(x, w)
    (gx,) = torch.autograd.grad(F.leaky_relu(y, 0.2).square().sum(), x, create_graph=True)
    (gw,) = torch.autograd.grad(gx.square().sum(), w)
    return gx.detach(), gw


@pytest.mark.parametrize("cin,cout,k,s,p,groups,bias", CONV_CASES)
def test_r1_style_second_derivative_matches_torch(custom_impl, cin, cout, k, s, p, groups, bias):
    x, w, _ = _inputs(cin, (cout, cin // groups, k, k), False, size=7, seed=3)
    ref = _r1_style(lambda a, b: F.conv2d(a, b, None, s, p, 1, groups), x, w)
    got = _r1_style(lambda a, b: convops.conv2d(a, b, None, s, p, groups), x, w)
    for r, o in zip(ref, got):
        assert torch.allclose(r, o, rtol=1e-10, atol=1e-12)
    assert got[1].abs().sum() > 0


def test_impl_switch_rejects_unknown_name():
    with pytest.raises(ValueError, match="conv ops"):
        convops.set_impl("cudnn")


def _penalty_grads(impl, which):
    """Gradients of the R1 penalty w.r.t. D's parameters or of the path-length penalty w.r.t. G's parameters."""
    convops.set_impl(impl)
    try:
        cfg = get_preset("cpu-smoke")
        torch.manual_seed(0)
        G = Generator(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.resolution, cfg.channel_base, cfg.channel_max)
        D = Discriminator(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.mbstd_group)
        g = torch.Generator().manual_seed(1)
        if which == "r1":
            real = torch.randn(4, 3, cfg.resolution, cfg.resolution, generator=g)
            pen, _ = L.r1_penalty(D, lambda t: t, real)
            params = list(D.parameters())
        else:
            ws = G.map(torch.randn(4, cfg.z_dim, generator=g))
            pen, _ = L.path_length(G, ws, g)
            params = list(G.parameters())
        grads = torch.autograd.grad(pen.sum(), params, allow_unused=True)
        return [torch.zeros_like(p) if gr is None else gr for p, gr in zip(params, grads)]
    finally:
        convops.set_impl("auto")


@pytest.mark.parametrize("which", ["r1", "pl"])
def test_penalty_gradients_equal_between_implementations(which):
    ref = _penalty_grads("torch", which)
    got = _penalty_grads("custom", which)
    assert sum(int(r.abs().sum() > 0) for r in ref) >= len(ref) // 2   # the penalty reaches most parameters
    for r, o in zip(ref, got):
        assert torch.allclose(r, o, rtol=1e-4, atol=1e-6 * (1 + r.abs().max().item()))


def test_default_impl_per_device():
    assert convops.get_impl("cuda") == "custom"
    assert convops.get_impl("cpu") in ("torch", "custom")
    convops.set_impl("custom")
    try:
        assert convops.get_impl("cpu") == "custom"
    finally:
        convops.set_impl("auto")
