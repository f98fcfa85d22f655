"""`primps pretrain`: train StyleGAN2 (+ optional DiffAugment) on a rendered shard set or straight from the
synthesizer (``--stream``)."""

from __future__ import annotations

import sys
from pathlib import Path

from primps.pipeline.config import SYNTH_PRESETS
from primps.pipeline.errors import UsageError
from primps.stages import checks
from primps.stages.cli import hidden_alias
from primps.stages.train_options import DEFAULT_PRESET, DEVIATIONS, add_common, make_config, setup_runtime

HELP = """Pretrain StyleGAN2 on a shard manifest (from `primps render`) or, with --stream, on images synthesized on
the fly in DataLoader workers (sample i of the stream is the image `primps render --seed S` stores at index i; no
render step, nothing stored). A manifest stream is infinite and resampled, a different stream per rank/worker.
Writes OUT/stats.jsonl (losses, R1, path length, img/s, GPU memory), OUT/grid-*.png (fixed latents, every snapshot)
and OUT/last.pt (atomic; G, D, G_ema, optimizers, pl_mean, kimg, data position, config, dataset id; CPU tensors, so
it resumes on any device). --resume OUT/last.pt continues the same run; the kimg counter is a total.
Multi-GPU: torchrun --nproc_per_node N -m primps.stages pretrain ... (the batch is split across GPUs).

""" + DEVIATIONS


def register(subparsers) -> None:
    from primps.trainers.presets import preset_names

    p = subparsers.add_parser("pretrain", help="pretrain StyleGAN2 on synthetic images (rendered shards or a stream)",
                              description=HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest", help="shard manifest JSON written by `primps render`")
    src.add_argument("--stream", action="store_true",
                     help="synthesize training images on the fly (options below) instead of reading shards")
    p.add_argument("--synth-preset", default=None, choices=list(SYNTH_PRESETS),
                   help="--stream: synthesizer preset (e.g. paper)")
    p.add_argument("--config", default=None, help="--stream: synthesizer YAML config")
    p.add_argument("--variant", default=None, help="--stream: synthesizer variant override")
    p.add_argument("--train-preset", default=DEFAULT_PRESET, choices=preset_names(), help="training config preset")
    hidden_alias(p, "--preset", dest="train_preset", choices=preset_names())
    p.add_argument("--diffaug", default=None, help="DiffAugment policy, e.g. color,translation,cutout ('' = off; "
                   "default: the preset's)")
    p.add_argument("--resolution", type=int, default=None,
                   help="override the preset's resolution (must match the shards), e.g. cpu-smoke at 64")
    add_common(p)
    p.set_defaults(func=run)


def check_model_fits_data(args, manifest):
    """Up front, without torch: the training config (the checkpoint's or the preset's, with this command's
    overrides) is valid, its resolution equals the data's (the manifest's; None for --stream), and a resumed run still
    has kimg to go. Returns (config, checkpoint metadata or None)."""
    from primps.trainers.presets import TrainConfig, get_preset

    if args.resolution is not None:
        checks.training_resolution(args.resolution, "--resolution")
    info = None
    if args.resume:
        info = checks.checkpoint_info(args.resume, "--resume")
        res = info["config"]["resolution"]
        if args.resolution is not None and args.resolution != res:
            raise UsageError(f"--resolution {args.resolution} differs from the checkpoint's {res}")
        checks.kimg_to_go(info, args.kimg, args.resume)
        base, what = TrainConfig.from_dict(info["config"]), f"checkpoint {args.resume}"
    else:
        base, what = get_preset(args.train_preset), f"preset {args.train_preset}"
    cfg = make_config(args, base)
    if manifest is not None:
        checks.same_resolution(manifest, cfg.resolution, what)
    return cfg, info


def synth_config_for(args, model_resolution: int):
    """The --stream synthesizer config (``resolve_synth_config``); the image size defaults to the model's."""
    from primps.pipeline.config import resolve_synth_config

    res = args.resolution if args.resolution is not None else (None if args.config else model_resolution)
    try:
        cfg = resolve_synth_config(args.config, None, args.synth_preset, args.variant, res)
    except Exception as exc:  # ConfigError and friends: one line
        raise UsageError(str(exc)) from None
    if (cfg.height, cfg.width) != (model_resolution, model_resolution):
        raise UsageError(f"the synthesizer config makes {cfg.height}x{cfg.width} images but the model resolution is "
                         f"{model_resolution}; pass --resolution or a matching --config")
    return cfg


def run(args) -> int:
    checks.training_options(args)
    if not args.stream and (args.synth_preset or args.config or args.variant):
        raise UsageError("--synth-preset, --config and --variant only apply to --stream")
    manifest = None if args.stream else checks.manifest(args.manifest, "--manifest")
    cfg, info = check_model_fits_data(args, manifest)
    synth = synth_config_for(args, cfg.resolution) if args.stream else None  # bad options fail before torch loads
    stream_seed = int((info.get("extra") or {}).get("synth_seed", info["seed"])) if info else args.seed

    from primps.pipeline.stream import data_stream, synth_stream
    from primps.trainers.loop import Trainer, TrainingDiverged, default_device

    setup_runtime(args)
    device = args.device or default_device()
    if args.stream:
        from primps.pipeline.config import config_hash
        from primps.pipeline.stream import dataset_id
        data_id = dataset_id(synth, stream_seed)
    else:
        data_id = manifest.dataset_id
    if args.resume:
        trainer = Trainer.load(args.resume, device, compile=args.compile, cfg=cfg, precision=args.precision)
        if trainer.manifest_id not in (None, data_id):
            print(f"primps pretrain: warning: resuming a run trained on {trainer.manifest_id} with data "
                  f"{data_id}", file=sys.stderr)
    else:
        trainer = Trainer(cfg, device, args.seed, data_id, compile=args.compile, precision=args.precision)
    if args.stream:
        trainer.extra.update(stream=True, synth_config=synth.to_dict(), synth_config_hash=config_hash(synth),
                             synth_seed=stream_seed)
        data = synth_stream(synth, trainer, stream_seed, args.workers)
    else:
        data = data_stream(manifest, trainer, trainer.seed, args.workers)
    try:
        trainer.train(data, args.kimg, args.out, progress=not args.no_progress)
    except TrainingDiverged as exc:
        print(f"primps pretrain: training diverged: {exc}; the last good checkpoint is {Path(args.out) / 'last.pt'}",
              file=sys.stderr)
        return 3
    if trainer.rank == 0:
        print(f"primps pretrain: done at kimg {trainer.kimg:.3f}; checkpoint {Path(args.out) / 'last.pt'}")
    return 0
