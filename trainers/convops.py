"""2-D convolutions whose backward is built from forward convolutions, for fast gradients of gradients.

The R1 and path-length penalties differentiate a gradient, so autograd needs the derivative of every convolution's
backward. PyTorch's own conv2d backward is one opaque op whose derivative (``_convolution_double_backward``) is very
slow on CUDA. Here each convolution is a ``torch.autograd.Function`` whose backward is written with the same
differentiable functions, from the adjoint relations of the linear map y = conv(x, w):

* d/dx: the adjoint of conv2d(., w) is conv_transpose2d(., w) with the same stride/padding/dilation/groups
  (``output_padding`` restores the input size) and vice versa;
* d/dw: grad_w[o, i, k] = sum_{n, a} gy[n, o, a] * x[n, i, k*dilation + a*stride - pad], which is itself a conv2d
  of x (batch and channel axes swapped, so samples become channels) with gy as the kernel, stride and dilation
  exchanged, cropped to the kernel size. Groups are kept apart by putting the group index next to the samples.

So a second (or third) derivative runs through ordinary forward convolution kernels. ``set_impl('torch')`` selects
plain ``F.conv2d`` / ``F.conv_transpose2d`` instead; ``'auto'`` (default) uses ``DEFAULT_IMPL`` per device type.
Under autocast, inputs are cast to the autocast dtype before the Function runs (as autocast does for F.conv2d), so the
backward sees consistent dtypes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IMPLS = ("auto", "torch", "custom")
# CUDA: custom (PyTorch's conv double backward dominated the H200 step). CPU: torch measured ~10% faster side by side
# (cpu-smoke, BENCHMARKS.md trainer section), so the CPU keeps F.conv2d's autograd.
DEFAULT_IMPL = {"cuda": "custom", "cpu": "torch"}
_impl = "auto"


def set_impl(name: str) -> None:
    """Select the convolution implementation for all networks: 'auto', 'torch' or 'custom'."""
    global _impl
    if name not in IMPLS:
        raise ValueError(f"conv ops must be one of {', '.join(IMPLS)}, got {name!r}")
    _impl = name


def get_impl(device_type: str = "cpu") -> str:
    """The implementation used on ``device_type`` ('torch' or 'custom')."""
    return DEFAULT_IMPL.get(device_type, "torch") if _impl == "auto" else _impl


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _weight_grad(x, gy, kshape, stride, padding, dilation, groups):
    """d<gy, conv2d(x, w)>/dw for w of spatial size ``kshape``, as one (custom) conv2d."""
    n, cin = x.shape[:2]
    cout = gy.shape[1]
    ci, co = cin // groups, cout // groups
    # input: channels = (group, sample), batch = per-group input channel; kernel: gy with (group, out) first.
    xi = x.reshape(n, groups, ci, *x.shape[2:]).permute(2, 1, 0, 3, 4).reshape(ci, groups * n, *x.shape[2:])
    gk = gy.reshape(n, groups, co, *gy.shape[2:]).permute(1, 2, 0, 3, 4).reshape(cout, n, *gy.shape[2:])
    gw = _Conv2d.apply(xi, gk, None, dilation, padding, stride, groups)          # [ci, cout, k', k']
    return gw[:, :, :kshape[0], :kshape[1]].transpose(0, 1)


class _Conv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            op = tuple(x.shape[2 + d] - ((gy.shape[2 + d] - 1) * stride[d] - 2 * padding[d]
                                         + dilation[d] * (w.shape[2 + d] - 1) + 1) for d in range(2))
            gx = _ConvT2d.apply(gy, w, None, stride, padding, op, groups, dilation)
        if ctx.needs_input_grad[1]:
            gw = _weight_grad(x, gy, w.shape[2:], stride, padding, dilation, groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(dim=(0, 2, 3))
        return gx, gw, gb, None, None, None, None


class _ConvT2d(torch.autograd.Function):
    """y = conv_transpose2d(x, w): the adjoint of x -> conv2d(x, w) (w: [C_in, C_out/groups, kh, kw])."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, output_padding, groups, dilation):
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _Conv2d.apply(gy, w, None, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:   # <y, gy> = <x, conv2d(gy, w)>: the weight gradient of conv2d(gy, .) at x
            gw = _weight_grad(gy, x, w.shape[2:], stride, padding, dilation, groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(dim=(0, 2, 3))
        return gx, gw, gb, None, None, None, None, None


def _cast(x, w, b):
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        dt = torch.get_autocast_dtype(dev)
        x, w = x.to(dt), w.to(dt)
        b = b.to(dt) if b is not None else None
    return x, w, b


def conv2d(x, w, bias=None, stride=1, padding=0, groups: int = 1, dilation=1):
    """``F.conv2d`` (int padding) with a backward made of convolutions when the 'custom' implementation is on."""
    if get_impl(x.device.type) == "torch":
        return F.conv2d(x, w, bias, stride, padding, dilation, groups)
    x, w, bias = _cast(x, w, bias)
    return _Conv2d.apply(x, w, bias, _pair(stride), _pair(padding), _pair(dilation), groups)


def conv_transpose2d(x, w, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1):
    """``F.conv_transpose2d`` with a backward made of convolutions when the 'custom' implementation is on."""
    if get_impl(x.device.type) == "torch":
        return F.conv_transpose2d(x, w, bias, stride, padding, output_padding, groups, dilation)
    x, w, bias = _cast(x, w, bias)
    return _ConvT2d.apply(x, w, bias, _pair(stride), _pair(padding), _pair(output_padding), groups, _pair(dilation))
