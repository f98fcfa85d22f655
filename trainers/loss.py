"""StyleGAN2 losses: non-saturating logistic, lazy R1 (Mescheder et al. 2018), lazy path-length regularisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def g_nonsat(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator non-saturating loss: softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator logistic loss: softplus(D(G(z))) + softplus(-D(x))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(D, augment, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared gradient norm of D's logits w.r.t. real images (through the augmentation). Returns (penalty, logits)."""
    real = real.detach().requires_grad_(True)
    logits = D(augment(real))
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]), logits


def path_length(G, ws: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample Jacobian norm ||J_w^T y||, y ~ N(0, I)/sqrt(H*W). Returns (lengths, images).

    ``ws`` must come from ``G.map`` inside the autograd graph (not detached): the gradient of the penalty then flows
    through ``ws`` into the mapping network, so the penalty regularises all of G as in the StyleGAN2 paper."""
    if not ws.requires_grad:
        ws = ws.requires_grad_(True)
    img = G.synthesis(ws, "random", G.synthesis.make_noise(ws.shape[0], generator))
    h, w = img.shape[2], img.shape[3]
    y = torch.randn(img.shape, device=img.device, generator=generator) / (h * w) ** 0.5
    (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    return grad.square().sum(2).mean(1).sqrt(), img
