"""StyleGAN2 generator and resnet discriminator in plain PyTorch (written from Karras et al. 2019/2020).

Equalized learning rate everywhere: weights are stored N(0, 1/lr_mul) and scaled at run time by lr_mul/sqrt(fan_in).
Up/downsampling uses a fixed separable [1,3,3,1] FIR filter through depthwise (transposed) convolution.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from primps.trainers import convops

SQRT2 = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) with gain sqrt(2), as in StyleGAN."""
    return F.leaky_relu(x, 0.2) * SQRT2


def fir_kernel(taps=(1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """Separable 2-D FIR kernel (outer product of ``taps``), normalised to sum 1."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def blur(x: torch.Tensor, kernel: torch.Tensor, pad: int, gain: float = 1.0, stride: int = 1) -> torch.Tensor:
    """Depthwise FIR filter with ``kernel`` (a registered buffer, so no host-to-device copy per call)."""
    c = x.shape[1]
    k = (kernel * gain if gain != 1.0 else kernel).to(x.dtype)
    return convops.conv2d(x, k.expand(c, 1, *kernel.shape), stride=stride, padding=pad, groups=c)


def upsample2x(x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """2x upsampling: zero insertion + [1,3,3,1] FIR (gain 4), as one depthwise transposed conv."""
    c = x.shape[1]
    kernel = fir_kernel().to(x.device) if kernel is None else kernel
    k = (kernel * 4).to(x.dtype).expand(c, 1, *kernel.shape)
    return convops.conv_transpose2d(x, k, stride=2, padding=1, groups=c)


def downsample2x(x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """2x downsampling: [1,3,3,1] FIR low-pass then stride 2, as one depthwise conv."""
    kernel = fir_kernel().to(x.device) if kernel is None else kernel
    return blur(x, kernel, pad=1, stride=2)


class EqLinear(nn.Module):
    def __init__(self, in_f: int, out_f: int, bias: bool = True, lr_mul: float = 1.0, bias_init: float = 0.0,
                 act: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_f, in_f) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_f,), float(bias_init))) if bias else None
        self.w_gain = lr_mul / math.sqrt(in_f)
        self.lr_mul = lr_mul
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.w_gain
        b = self.bias.to(x.dtype) * self.lr_mul if self.bias is not None else None
        x = F.linear(x, w, b)
        return lrelu(x) if self.act else x


class EqConv2d(nn.Module):
    """Plain (non-modulated) conv with equalized lr. ``down=True`` is conv followed by FIR 2x downsampling, done at
    the low resolution: FIR filter, then the conv with stride 2 (a quarter of the multiply-adds of conv-then-down)."""

    def __init__(self, in_ch: int, out_ch: int, k: int, bias: bool = True, act: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, k, k))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.w_gain = 1.0 / math.sqrt(in_ch * k * k)
        self.k = k
        self.pad = k // 2
        self.act = act
        self.down = down
        if down:
            self.register_buffer("fir", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.w_gain
        if not self.down:
            x = convops.conv2d(x, w, padding=self.pad)
        elif self.k == 1:
            x = convops.conv2d(blur(x, self.fir, pad=1, stride=2), w)
        else:   # FIR padded so that the stride-2 k x k conv lands on the same grid as conv-then-downsample
            x = convops.conv2d(blur(x, self.fir, pad=(self.k + 1) // 2), w, stride=2)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype).view(1, -1, 1, 1)
        if self.act:
            x = lrelu(x)
        return x * gain if gain != 1.0 else x


def _autocast(device_type: str, dtype: torch.dtype | None):
    """autocast to ``dtype`` on ``device_type``; ``dtype=None`` leaves the surrounding mode unchanged."""
    return torch.autocast(device_type=device_type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


class MappingNetwork(nn.Module):
    """z -> w: pixel-normalised z through `num_layers` FC layers (lr multiplier 0.01); tracks w_avg for truncation."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(EqLinear(dims[i], dims[i + 1], lr_mul=lr_mul, act=True)
                                    for i in range(num_layers))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.w_avg_beta = w_avg_beta

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            x = self.w_avg.lerp(x, truncation_psi)
        return x


class ModulatedConv2d(nn.Module):
    """Modulated conv (StyleGAN2) with optional demodulation and 2x upsampling.

    Two equal forms: ``fused=False`` (default, training) scales the activations by the styles, runs one conv with
    the shared weight and demodulates the output; ``fused=True`` builds per-sample weights and runs one grouped conv
    over the batch (kept for devices where it measures faster). ``up=True`` runs a stride-2 transposed conv at the
    low resolution followed by the [1,3,3,1] FIR filter, the same operator as FIR-upsample-then-conv at about a
    quarter of the cost. Styles and demodulation coefficients are always computed in float32.
    """

    def __init__(self, in_ch: int, out_ch: int, k: int, w_dim: int, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, k, k))
        self.w_gain = 1.0 / math.sqrt(in_ch * k * k)
        self.demodulate = demodulate
        self.up = up
        self.pad = k // 2
        self.out_ch = out_ch
        if up:
            self.register_buffer("fir", fir_kernel(), persistent=False)

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
        if not self.up:
            return convops.conv2d(x, weight, padding=self.pad, groups=groups)
        # conv_transpose2d correlates with the flipped kernel; flip so both forms equal upsample-then-conv2d.
        o, i, kh, kw = weight.shape
        wt = weight.flip([2, 3]).reshape(groups, o // groups, i, kh, kw).transpose(1, 2).reshape(groups * i,
                                                                                                  o // groups, kh, kw)
        x = convops.conv_transpose2d(x, wt, stride=2, groups=groups)
        return blur(x, self.fir, pad=1, gain=4.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        b, c, h, wd = x.shape
        with torch.autocast(device_type=x.device.type, enabled=False):
            s = self.affine(w.float())                                   # [B, in]
            weight = self.weight.float() * self.w_gain                   # [out, in, k, k]
            dcoef = None
            if self.demodulate:
                dcoef = torch.rsqrt(s.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8)   # [B, out]
        if not fused:
            x = x * s.to(x.dtype).view(b, c, 1, 1)
            x = self._conv(x, weight.to(x.dtype))
            if dcoef is not None:
                x = x * dcoef.to(x.dtype).view(b, -1, 1, 1)
            return x
        wb = weight[None] * s.view(b, 1, c, 1, 1)
        if dcoef is not None:
            wb = wb * dcoef.view(b, -1, 1, 1, 1)
        wb = wb.reshape(b * self.out_ch, c, *weight.shape[2:]).to(x.dtype)
        out = self._conv(x.reshape(1, b * c, h, wd), wb, groups=b)
        return out.reshape(b, self.out_ch, *out.shape[2:])


class StyleLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise + bias + lrelu."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.register_buffer("noise_const", torch.randn(1, 1, res, res, generator=torch.Generator().manual_seed(res)))
        self.res = res

    def forward(self, x, w, noise_mode: str = "random", noise: torch.Tensor | None = None, fused: bool = False):
        x = self.conv(x, w, fused)
        if noise_mode == "random":
            if noise is None:
                noise = torch.randn(x.shape[0], 1, self.res, self.res, device=x.device, dtype=torch.float32)
            x = x + (noise * self.noise_strength).to(x.dtype)
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        return lrelu(x + self.bias.to(x.dtype).view(1, -1, 1, 1))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x, w, fused: bool = False):
        return self.conv(x, w, fused) + self.bias.to(x.dtype).view(1, -1, 1, 1)


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    return int(min(channel_base // res, channel_max))


class SynthesisBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, w_dim: int, res: int, use_amp: bool):
        super().__init__()
        self.first = res == 4
        self.res = res
        self.use_amp = use_amp           # this block may run under reduced precision (see set_precision)
        self.amp_dtype: torch.dtype | None = None
        if self.first:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
            self.conv1 = StyleLayer(out_ch, out_ch, w_dim, res)
            self.num_ws = 1
        else:
            self.conv0 = StyleLayer(in_ch, out_ch, w_dim, res, up=True)
            self.conv1 = StyleLayer(out_ch, out_ch, w_dim, res)
            self.num_ws = 2
        self.num_noise = self.num_ws
        self.torgb = ToRGB(out_ch, w_dim)
        self.register_buffer("fir", fir_kernel(), persistent=False)

    def forward(self, x, img, ws, noise_mode: str, noises, fused: bool = False):
        with _autocast(ws.device.type, self.amp_dtype):
            i = 0
            if self.first:
                x = self.const[None].expand(ws.shape[0], -1, -1, -1)
            else:
                x = self.conv0(x, ws[:, i], noise_mode, noises[i], fused)
                i += 1
            x = self.conv1(x, ws[:, i], noise_mode, noises[i], fused)
            y = self.torgb(x, ws[:, i + 1], fused).float()
        img = y if img is None else upsample2x(img, self.fir) + y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, resolution: int, channel_base: int, channel_max: int, num_amp_res: int = 0):
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        if 2 ** log2 != resolution or resolution < 8:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.resolutions = [2 ** i for i in range(2, log2 + 1)]
        amp_from = 2 ** max(2, log2 + 1 - num_amp_res) if num_amp_res > 0 else resolution * 2
        blocks = []
        for res in self.resolutions:
            in_ch = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            out_ch = channels_at(res, channel_base, channel_max)
            blocks.append(SynthesisBlock(in_ch, out_ch, w_dim, res, use_amp=res >= amp_from))
        self.blocks = nn.ModuleList(blocks)
        # Each block's toRGB shares its w index with the next block's first conv; one extra w for the last toRGB.
        self.num_ws = sum(b.num_ws for b in self.blocks) + 1
        self.fused_modconv = False

    def make_noise(self, batch: int, generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> list[torch.Tensor]:
        """Per-layer noise maps [B,1,res,res] (float32), drawn from ``generator`` outside any compiled region and
        moved to ``device`` (default: the network's device)."""
        device = torch.device(device) if device is not None else self.blocks[0].const.device
        gdev = generator.device if generator is not None else device
        out = []
        for blk in self.blocks:
            for _ in range(blk.num_noise):
                out.append(torch.randn(batch, 1, blk.res, blk.res, device=gdev, generator=generator).to(
                    device, non_blocking=True))
        return out

    def forward(self, ws, noise_mode: str = "random", noise: list[torch.Tensor] | torch.Generator | None = None):
        """ws [B, num_ws, w_dim] -> images. ``noise``: the maps from ``make_noise`` (random mode; a
        ``torch.Generator`` draws them here, eagerly; None draws from the global RNG); ``noise_mode`` 'const' uses
        the fixed per-layer maps, 'none' no noise. Pass maps, not a generator, to a compiled synthesis network."""
        if isinstance(noise, torch.Generator):
            noise = self.make_noise(ws.shape[0], noise, ws.device) if noise_mode == "random" else None
        x = img = None
        i = j = 0
        for block in self.blocks:
            nz = noise[j:j + block.num_noise] if noise is not None else [None] * block.num_noise
            x, img = block(x, img, ws[:, i:i + block.num_ws + 1], noise_mode, nz, self.fused_modconv)
            i += block.num_ws
            j += block.num_noise
        return img


class Generator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, mapping_layers: int, resolution: int, channel_base: int,
                 channel_max: int, num_amp_res: int = 0):
        super().__init__()
        self.z_dim, self.w_dim, self.resolution = z_dim, w_dim, resolution
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(w_dim, resolution, channel_base, channel_max, num_amp_res)
        self.num_ws = self.synthesis.num_ws

    def map(self, z, truncation_psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        """z [B, z_dim] -> ws [B, num_ws, w_dim] (broadcast). The mapping network always runs in float32."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            w = self.mapping(z.float(), truncation_psi, update_w_avg)
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z, c=None, truncation_psi: float = 1.0, noise_mode: str = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        """z [B, z_dim] -> images [B, 3, R, R] in about [-1, 1]. ``c`` (class label) is unused (unconditional).
        With ``generator`` the random noise maps come from it (reproducible), else from the global RNG."""
        ws = self.map(z, truncation_psi)
        noise = (self.synthesis.make_noise(z.shape[0], generator, z.device)
                 if noise_mode == "random" and generator is not None else None)
        return self.synthesis(ws, noise_mode, noise)


def set_precision(module: nn.Module, dtype: torch.dtype | None) -> None:
    """Run the blocks built with ``use_amp`` (the ``num_amp_res`` highest resolutions) under autocast to ``dtype``
    (bfloat16 or float16); ``None`` = float32 everywhere. The mapping network, the low-resolution blocks, the
    discriminator epilogue and the regularisers' gradient penalties stay float32."""
    for m in module.modules():
        if hasattr(m, "amp_dtype"):
            m.amp_dtype = dtype if getattr(m, "use_amp", False) else None


@contextlib.contextmanager
def full_precision(*modules: nn.Module):
    """Temporarily run ``modules`` in float32 (for gradient penalties)."""
    saved = [(m, m.amp_dtype) for mod in modules for m in mod.modules() if hasattr(m, "amp_dtype")]
    try:
        for m, _ in saved:
            m.amp_dtype = None
        yield
    finally:
        for m, d in saved:
            m.amp_dtype = d


def style_mix(G: Generator, ws: torch.Tensor, prob: float, generator: torch.Generator,
              update_w_avg: bool = False) -> torch.Tensor:
    """Style-mixing regularisation: for a random subset of the batch, ws after a random cutoff come from a new z."""
    if prob <= 0:
        return ws
    b, n = ws.shape[0], ws.shape[1]
    dev = ws.device
    z2 = torch.randn(b, G.z_dim, device=dev, generator=generator)
    cutoff = torch.randint(1, n, (b, 1), device=dev, generator=generator)
    use = torch.rand(b, 1, device=dev, generator=generator) < prob
    cutoff = torch.where(use, cutoff, torch.full_like(cutoff, n))
    ws2 = G.map(z2, update_w_avg=update_w_avg)
    mask = (torch.arange(n, device=dev)[None, :] >= cutoff)[:, :, None]
    return torch.where(mask, ws2, ws)


class DBlock(nn.Module):
    """Resnet discriminator block: two 3x3 convs (the second downsamples) plus a 1x1 downsampling skip."""

    def __init__(self, in_ch: int, out_ch: int, from_rgb: bool, use_amp: bool):
        super().__init__()
        self.fromrgb = EqConv2d(3, in_ch, 1) if from_rgb else None
        self.conv0 = EqConv2d(in_ch, in_ch, 3)
        self.conv1 = EqConv2d(in_ch, out_ch, 3, down=True)
        self.skip = EqConv2d(in_ch, out_ch, 1, bias=False, act=False, down=True)
        self.use_amp = use_amp
        self.amp_dtype: torch.dtype | None = None

    def forward(self, x, img):
        with _autocast(img.device.type, self.amp_dtype):
            if self.fromrgb is not None:
                x = self.fromrgb(img)
            y = self.skip(x, gain=1 / SQRT2)
            x = self.conv1(self.conv0(x), gain=1 / SQRT2)
            return (x + y).float()


class MinibatchStd(nn.Module):
    def __init__(self, group_size: int, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x):
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        if b % g != 0:
            g = math.gcd(b, g)
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt()   # std over group
        y = y.mean(dim=[2, 3, 4])                                # [B/g, f]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    def __init__(self, resolution: int, channel_base: int, channel_max: int, mbstd_group: int = 4,
                 mbstd_channels: int = 1, num_amp_res: int = 0):
        super().__init__()
        log2 = int(round(math.log2(resolution)))
        self.resolution = resolution
        amp_from = 2 ** max(2, log2 + 1 - num_amp_res) if num_amp_res > 0 else resolution * 2
        blocks = []
        for i, res in enumerate(2 ** k for k in range(log2, 2, -1)):
            blocks.append(DBlock(channels_at(res, channel_base, channel_max),
                                 channels_at(res // 2, channel_base, channel_max), from_rgb=(i == 0),
                                 use_amp=res >= amp_from))
        self.blocks = nn.ModuleList(blocks)   # ordered from the high-resolution input side
        c4 = channels_at(4, channel_base, channel_max)
        self.mbstd = MinibatchStd(mbstd_group, mbstd_channels)
        self.conv = EqConv2d(c4 + mbstd_channels, c4, 3)
        self.fc = EqLinear(c4 * 16, c4, act=True)
        self.out = EqLinear(c4, 1)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = None
        for block in self.blocks:
            x = block(x, img)
        x = self.conv(self.mbstd(x))
        return self.out(self.fc(x.flatten(1)))


def count_params(module: nn.Module) -> int:
    return int(sum(np.prod(p.shape) for p in module.parameters()))
