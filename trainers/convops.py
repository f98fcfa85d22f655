"""2-D convolutions whose backward is built from forward convolutions, for fast gradients of gradients.

The R1 and path-length penalties differentiate a gradient, so autograd needs the derivative of every convolution's
backward. PyTorch's own conv2d backward is one opaque op whose derivative (``_convolution_double_backward``) is very
slow on CUDA. Here each convolution is a ``torch.autograd.Function`` whose backward is written with the same
differentiable functions, from the adjoint relations of the linear map y = conv(x, w):

* d/dx: the adjoint of conv2d(., w) is conv_transpose2d(., w) with the same stride/padding/dilation/groups
  (``output_padding`` restores the input size) and vice versa;
* d/dw: grad_w = d<gy, conv2d(x, w)>/dw is computed by the backend's weight-gradient kernel
  (``aten.convolution_backward`` with only the weight output); it is bilinear in (x, gy), so its own derivatives are
  conv2d(x, ggw) (w.r.t. gy) and conv_transpose2d(gy, ggw) (w.r.t. x), again through these Functions.

So a second (or third) derivative runs through ordinary forward and weight-gradient convolution kernels.
``set_impl('torch')`` selects plain ``F.conv2d`` / ``F.conv_transpose2d`` instead; ``'auto'`` (default) uses
``DEFAULT_IMPL`` per device type.
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
    """d<gy, conv2d(x, w)>/dw for w of spatial size ``kshape`` (differentiable through ``_WeightGrad``)."""
    return _WeightGrad.apply(x, gy, tuple(kshape), stride, padding, dilation, groups)


class _WeightGrad(torch.autograd.Function):
    """gw = d<gy, conv2d(x, w)>/dw, computed by the backend's weight-gradient kernel (cuDNN's on CUDA).

    gw is bilinear in (x, gy) with <ggw, gw> = <gy, conv2d(x, ggw)>, so its derivatives are again convolutions:
    d/dgy = conv2d(x, ggw) and d/dx = conv_transpose2d(gy, ggw), both through the Functions of this module."""

    @staticmethod
    def forward(ctx, x, gy, kshape, stride, padding, dilation, groups):
        ctx.save_for_backward(x, gy)
        ctx.conf = (stride, padding, dilation, groups)
        cout, cin = gy.shape[1], x.shape[1] // groups
        w0 = x.new_zeros(()).expand(cout, cin, *kshape)  # shape and dtype only: the kernel does not read w
        return torch.ops.aten.convolution_backward(gy, x, w0, None, list(stride), list(padding), list(dilation),
                                                   False, [0, 0], groups, [False, True, False])[1]

    @staticmethod
    def backward(ctx, ggw):
        x, gy = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gx = ggy = None
        if ctx.needs_input_grad[0]:
            gx = _ConvT2d.apply(gy, ggw, None, stride, padding, _output_padding(x, gy, ggw, ctx.conf), groups,
                                dilation)
        if ctx.needs_input_grad[1]:
            ggy = _Conv2d.apply(x, ggw, None, stride, padding, dilation, groups)
        return gx, ggy, None, None, None, None, None


def _output_padding(x, gy, w, conf) -> tuple[int, int]:
    """The output_padding that makes conv_transpose2d(gy, w) as large as x (the adjoint of a strided conv2d)."""
    stride, padding, dilation, _ = conf
    return tuple(x.shape[2 + d] - ((gy.shape[2 + d] - 1) * stride[d] - 2 * padding[d]
                                   + dilation[d] * (w.shape[2 + d] - 1) + 1) for d in range(2))


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
            gx = _ConvT2d.apply(gy, w, None, stride, padding, _output_padding(x, gy, w, ctx.conf), groups,
                                dilation)
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
