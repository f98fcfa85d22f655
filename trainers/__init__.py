"""primps.trainers: StyleGAN2 + DiffAugment in plain PyTorch, training loop, FID/KID."""
