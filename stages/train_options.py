"""Options shared by the training sub-commands (pretrain, finetune): CLI infrastructure like ``cli.py`` and
``checks.py``, not a sub-command. ``add_common`` adds the options, ``make_config`` applies them to a TrainConfig,
``setup_runtime`` applies the runtime ones after the up-front checks."""

from __future__ import annotations

import argparse

from primps.stages.cli import hidden_alias

#: The training preset when --preset is not given, in pretrain and finetune alike: the one that runs on a CPU.
DEFAULT_PRESET = "cpu-smoke"

#: Where training knowingly differs from stylegan2-ada-pytorch / DiffAugment, with the reference equivalents; the end
#: of `primps pretrain --help` and `primps finetune --help` (README.md, "Deviations from the references").
DEVIATIONS = """Deviations from stylegan2-ada / DiffAugment: (1) the path-length running mean pl_mean is saved in
checkpoints and carried from --init into a finetune; both references start a finetune with pl_mean = 0 (a fresh
loss object), so early path-length penalties differ. (2) finetune --freeze-d K counts discriminator blocks from the
image side; stylegan2-ada's --freezed counts layers (fromRGB, conv0, conv1, skip in the first block, three in each
later one), so --freeze-d K = --freezed 3K+1 (K=1: 4, K=2: 7, K=3: 10), and --freezed L freezes (L-1)//3 whole blocks
plus part of the next. (3) no activation clamp: stylegan2-ada clamps conv outputs to +-256 (conv_clamp 256) in its
fp16 layers; here bf16 has float32's range and fp16 steps that overflow are skipped by the GradScaler; the equivalent
reference run is stylegan2-ada with --fp32 (no fp16 layers, no clamp). float32 paths run with TF32 off, as there."""


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by pretrain and finetune."""
    p.add_argument("--kimg", type=float, required=True, help="training budget in thousands of real images shown "
                   "(total, counted across resumes)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed for init, latents, noise, augmentation, data order")
    p.add_argument("--batch", type=int, default=None, help="total batch size (default: the preset's)")
    p.add_argument("--resume", default=None, help="continue from this checkpoint (e.g. OUT/last.pt)")
    p.add_argument("--loader-workers", dest="workers", metavar="N", type=int, default=None,
                   help="DataLoader worker processes (default: the CPU cores available, less one; 0: load in the "
                        "training process)")
    hidden_alias(p, "--workers", dest="workers", type=int)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the main G and D passes (GPU)")
    p.add_argument("--snapshot-kimg", type=float, default=None,
                   help="snapshot (grid + checkpoint) interval in kimg (default: the preset's)")
    p.add_argument("--log-kimg", type=float, default=None, help="stats logging interval in kimg "
                                                                "(default: the preset's)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto: bf16 autocast on Ampere+ GPUs, fp16 + GradScaler on older GPUs, fp32 on the CPU; "
                        "no +-256 activation clamp in any of them (stylegan2-ada clamps its fp16 layers); float32 "
                        "convolutions and matmuls run with TF32 off")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (kimg) on stderr")


def setup_runtime(args) -> None:
    """After the up-front checks: TF32 off (float32 is IEEE float32; ``trainers.runtime``), SIGTERM stops the run
    as Ctrl-C does (a checkpoint being written is removed, not left half-written), DataLoader workers default to the
    cores available (less one); torch threads."""
    from primps.trainers.runtime import exact_float32, interrupt_on_sigterm

    exact_float32()
    interrupt_on_sigterm()
    if args.workers is None:
        from primps.trainers.loop import default_workers
        args.workers = default_workers()
    if args.threads is not None:
        import torch
        torch.set_num_threads(args.threads)


def make_config(args, base):
    over = {}
    if args.batch is not None:
        over["batch"] = args.batch
    if getattr(args, "resolution", None) is not None:
        over["resolution"] = args.resolution
    if getattr(args, "diffaug", None) is not None:
        over["diffaug_policy"] = args.diffaug
    if args.snapshot_kimg is not None:
        over["snapshot_every_kimg"] = args.snapshot_kimg
    if args.log_kimg is not None:
        over["log_every_kimg"] = args.log_kimg
    return base.replace(**over) if over else base
