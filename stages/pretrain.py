"""`primps pretrain`: train StyleGAN2 (+ optional DiffAugment) on a rendered shard set."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from primps.pipeline.errors import UsageError
from primps.stages import checks
from primps.stages.cli import hidden_alias

#: The training preset when --preset is not given, in pretrain and finetune alike: the one that runs on a CPU.
DEFAULT_PRESET = "cpu-smoke"

HELP = """Pretrain StyleGAN2 on a shard manifest (from `primps render`). The data stream is infinite and
resampled, a different stream per rank/worker. Writes OUT/stats.jsonl (losses, R1, path length, img/s, GPU memory),
OUT/grid-*.png (fixed latents, every snapshot) and OUT/last.pt (atomic; G, D, G_ema, optimizers, RNG states, kimg,
data position, config, manifest id). --resume OUT/last.pt continues the same run; the kimg counter is a total.
Multi-GPU: torchrun --nproc_per_node N -m primps.stages pretrain ... (the batch is split across GPUs)."""


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by pretrain and finetune."""
    p.add_argument("--kimg", type=float, required=True, help="training budget in thousands of real images shown "
                   "(total, counted across resumes)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed for init, latents, noise, augmentation, data order")
    p.add_argument("--batch", type=int, default=None, help="total batch size (default: the preset's)")
    p.add_argument("--resume", default=None, help="continue from this checkpoint (e.g. OUT/last.pt)")
    p.add_argument("--loader-workers", dest="workers", metavar="N", type=int, default=0,
                   help="DataLoader worker processes (0: load in the training process)")
    hidden_alias(p, "--workers", dest="workers", type=int)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--compile", action="store_true", help="torch.compile the main G and D passes (GPU)")
    p.add_argument("--snapshot-kimg", type=float, default=None,
                   help="snapshot (grid + checkpoint) interval in kimg (default: the preset's)")
    p.add_argument("--log-kimg", type=float, default=None, help="stats logging interval in kimg "
                                                                "(default: the preset's)")


def register(subparsers) -> None:
    from primps.trainers.presets import preset_names

    p = subparsers.add_parser("pretrain", help="pretrain StyleGAN2 on rendered synthetic shards", description=HELP)
    p.add_argument("--manifest", required=True, help="shard manifest JSON written by `primps render`")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=preset_names(), help="training config preset")
    p.add_argument("--diffaug", default=None, help="DiffAugment policy, e.g. color,translation,cutout ('' = off; "
                   "default: the preset's)")
    p.add_argument("--resolution", type=int, default=None,
                   help="override the preset's resolution (must match the shards), e.g. cpu-smoke at 64")
    add_common(p)
    p.set_defaults(func=run)


def check_model_fits_data(args, manifest) -> None:
    """Up front, without torch: the model resolution (checkpoint, or preset + --resolution) equals the data's, and
    a resumed run still has kimg to go."""
    if args.resolution is not None:
        checks.training_resolution(args.resolution, "--resolution")
    if args.resume:
        info = checks.checkpoint_info(args.resume, "--resume")
        res = info["config"]["resolution"]
        if args.resolution is not None and args.resolution != res:
            raise UsageError(f"--resolution {args.resolution} differs from the checkpoint's {res}")
        checks.same_resolution(manifest, res, f"checkpoint {args.resume}")
        done = info.get("cur_nimg", 0)
        if isinstance(done, int) and done >= args.kimg * 1000:
            raise UsageError(f"the checkpoint {args.resume} is already at kimg {done / 1000:.3f} >= --kimg {args.kimg}")
    else:
        checks.same_resolution(manifest, checks.preset_resolution(args.preset, args.resolution),
                               f"preset {args.preset}")


def check_common(args) -> None:
    if not args.kimg > 0:
        raise UsageError(f"--kimg must be > 0, got {args.kimg}")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be >= 1, got {args.batch}")
    if args.workers < 0:
        raise UsageError("--workers must be >= 0")
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError("--threads must be >= 1")
        import torch
        torch.set_num_threads(args.threads)


def load_data_manifest(path: str):
    from primps.pipeline.manifest import load_manifest

    if not Path(path).is_file():
        raise UsageError(f"manifest not found: {path}")
    try:
        return load_manifest(path)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"cannot read manifest {path}: {exc}") from None


def check_resolution(manifest, cfg) -> None:
    h, w = manifest.resolution
    if (h, w) != (cfg.resolution, cfg.resolution):
        raise UsageError(f"the data in {manifest.path} is {h}x{w} but the model resolution is {cfg.resolution}; "
                         f"pick a matching preset/checkpoint or re-render the data")


def data_stream(manifest, trainer, seed: int, workers: int, chunk_batches: int = 1000):
    """Resumable infinite batch stream: chunk k is a fresh loader seeded from (seed, k)."""
    from primps.pipeline.loader import make_loader
    from primps.trainers.loop import resumable_stream

    def make(chunk: int):
        return make_loader(manifest, trainer.batch_per_rank, seed=seed * 100_003 + chunk, resampled=True,
                           num_workers=workers)

    return resumable_stream(make, trainer.batches_consumed, chunk_batches)


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


def run(args) -> int:
    checks.training_options(args)
    check_model_fits_data(args, checks.manifest(args.manifest, "--manifest"))

    from primps.trainers.loop import Trainer, TrainingDiverged, default_device
    from primps.trainers.presets import TrainConfig, get_preset

    check_common(args)
    manifest = load_data_manifest(args.manifest)
    device = args.device or default_device()
    if args.resume:
        st = Trainer.read_checkpoint(args.resume)
        if args.resolution is not None and args.resolution != st["config"]["resolution"]:
            raise UsageError(f"--resolution {args.resolution} differs from the checkpoint's "
                             f"{st['config']['resolution']}")
        cfg = make_config(args, TrainConfig.from_dict(st["config"]))
        trainer = Trainer.load(args.resume, device, compile=args.compile, cfg=cfg)
        if trainer.manifest_id not in (None, manifest.dataset_id):
            print(f"primps pretrain: warning: resuming a run trained on {trainer.manifest_id} with data "
                  f"{manifest.dataset_id}", file=sys.stderr)
    else:
        cfg = make_config(args, get_preset(args.preset))
        trainer = Trainer(cfg, device, args.seed, manifest.dataset_id, compile=args.compile)
    check_resolution(manifest, trainer.cfg)
    if trainer.cur_nimg >= args.kimg * 1000:
        raise UsageError(f"the checkpoint is already at kimg {trainer.kimg:.3f} >= --kimg {args.kimg}")
    data = data_stream(manifest, trainer, trainer.seed, args.workers)
    try:
        trainer.train(data, args.kimg, args.out)
    except TrainingDiverged as exc:
        print(f"primps pretrain: training diverged: {exc}; the last good checkpoint is {Path(args.out) / 'last.pt'}",
              file=sys.stderr)
        return 3
    if trainer.rank == 0:
        print(f"primps pretrain: done at kimg {trainer.kimg:.3f}; checkpoint {Path(args.out) / 'last.pt'}")
    return 0
