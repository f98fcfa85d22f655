"""Process-wide numerics, switched once at start-up: float32 that is float32.

PyTorch lets cuDNN convolutions (and, if asked, matmuls) run float32 tensors in TF32, a 10-bit-mantissa format, on
Ampere and later GPUs; cuDNN's default is on. stylegan2-ada-pytorch turns both off at start-up, and so do we: the
paths that say float32 (the R1 and path-length double backward, the low-resolution blocks, evaluation with
``precision="fp32"``, Inception) then run in IEEE float32. bf16/fp16 autocast regions are not affected.
"""

from __future__ import annotations

import signal
import threading


def exact_float32() -> None:
    """TF32 off for cuDNN convolutions and CUDA matmuls ('highest' float32 matmul precision). Idempotent; cheap."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


def float32_mode(device_type: str) -> str:
    """How float32 convolutions and matmuls run on ``device_type`` right now: 'fp32', or 'tf32' on CUDA when either
    TF32 switch is on."""
    import torch

    if device_type != "cuda":
        return "fp32"
    tf32 = torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32 \
        or torch.get_float32_matmul_precision() != "highest"
    return "tf32" if tf32 else "fp32"


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt in the main thread, so a stopped run unwinds: an atomic write in progress
    removes its temporary file, and the command exits 130 (torchrun sends SIGTERM to the other ranks when one fails;
    so do job schedulers and `primps repro`)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
