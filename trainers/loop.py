"""The StyleGAN2 + DiffAugment training loop: ``Trainer(cfg, device, seed)``, ``.train(data_iter, kimg, out_dir)``,
``.save(path)`` / ``Trainer.load(path)``.

One training step is four phases, as in the StyleGAN2 paper (appendix B, lazy regularisation): G main (non-saturating
loss), G reg (path length, every ``pl_interval`` steps), D main (logistic loss), D reg (R1, every ``r1_interval``
steps). Each phase takes its own optimizer step; Adam's lr and betas are scaled by k/(k+1) for the optimizer whose
regulariser runs every k minibatches, and the regulariser's loss is multiplied by k.

Determinism: every random draw comes from three explicit torch.Generators (``gen`` for latents, noise, style mixing
and path-length probes; ``aug_gen`` for DiffAugment; ``mirror_gen`` for the x-flips of reals), re-seeded at every
step from (seed, rank, step), so streams are distinct per rank, a resume continues them exactly on any device and
checkpoints hold no device-specific RNG state.
Network init runs under a forked, seeded global RNG. The checkpoint holds the number of batches consumed, so a
resumed run continues the same data stream and, on CPU, reproduces an uninterrupted run.

No host-device synchronisation inside a step: losses, regulariser values and finiteness flags (losses and gradient
norms) accumulate on the device and are read every ``log_every_kimg`` and before every hook or snapshot.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from primps.pipeline.errors import UsageError
from primps.pipeline.grid import save_grid
from primps.pipeline.loader import rank_world
from primps.trainers import loss as L
from primps.trainers.checkpoint import CKPT_FORMAT, load_checkpoint, save_checkpoint
from primps.trainers.diffaug import DiffAugment
from primps.trainers.networks import Discriminator, Generator, full_precision, set_precision, style_mix
from primps.trainers.presets import TrainConfig

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA GPUs of compute capability >= 8 (Ampere+), fp16 on older GPUs, fp32 on the CPU."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.get_device_capability(device)[0] >= 8 else "fp16"


def derive_seed(seed: int, rank: int, step: int, stream: int) -> int:
    """A 63-bit seed for RNG ``stream`` of ``rank`` at ``step`` (numpy SeedSequence mixing)."""
    hi, lo = np.random.SeedSequence([int(seed), int(rank), int(step), int(stream)]).generate_state(2, np.uint32)
    return (int(hi) << 31) ^ int(lo)


def default_workers() -> int:
    """DataLoader workers: the CPU cores this process may use, less one for the training loop."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        n = os.cpu_count() or 1
    return max(0, n - 1)


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the last good checkpoint on disk is kept."""


def dist_info() -> tuple[int, int]:
    """(rank, world_size); initialises torch.distributed (NCCL) once when launched by torchrun with WORLD_SIZE>1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return rank_world()


def default_device() -> str:
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def to_uint8(images) -> torch.Tensor:
    """Float images in [-1, 1] [B,3,H,W] -> uint8 tensor (round half up, clamp); uint8 input passes through."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        return x
    return (x.detach().float() * 127.5 + 128.0).clamp(0, 255).to(torch.uint8)


def to_float_images(batch: torch.Tensor, device) -> torch.Tensor:
    """uint8 [B,3,H,W] -> float32 in [-1, 1] on device."""
    if batch.dtype != torch.uint8 or batch.ndim != 4 or batch.shape[1] != 3:
        raise UsageError(f"training batches must be uint8 [B,3,H,W], got {batch.dtype} {tuple(batch.shape)}")
    return batch.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)


class Trainer:
    def __init__(self, cfg: TrainConfig, device: str | torch.device = "cpu", seed: int = 0,
                 manifest_id: str | None = None, compile: bool = False, precision: str = "auto"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.seed = int(seed)
        self.manifest_id = manifest_id
        self.precision = resolve_precision(precision, self.device)
        self.rank, self.world = dist_info()
        if cfg.batch % self.world:
            raise UsageError(f"batch {cfg.batch} is not divisible by the number of GPUs {self.world}")
        self.batch_per_rank = cfg.batch // self.world
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.G = Generator(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.resolution, cfg.channel_base,
                               cfg.channel_max, cfg.num_amp_res).to(self.device)
            self.D = Discriminator(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.mbstd_group,
                                   cfg.mbstd_channels, cfg.num_amp_res).to(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        set_precision(self.G, amp)
        set_precision(self.D, amp)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.gen = torch.Generator(device=self.device)
        self.aug_gen = torch.Generator(device=self.device)
        self.mirror_gen = torch.Generator(device=self.device)
        self.augment = DiffAugment(cfg.diffaug_policy, self.aug_gen)
        self.pl_mean = torch.zeros([], device=self.device)
        self.cur_nimg = 0
        self.step_idx = 0
        self.batches_consumed = 0
        self.d_frozen_blocks = 0
        self.extra: dict = {}
        self.compile = compile
        grid_gen = torch.Generator().manual_seed(self.seed + 7919)
        self.grid_z = torch.randn(cfg.grid_size, cfg.z_dim, generator=grid_gen).to(self.device)
        self._build_optimizers()
        fp16 = self.precision == "fp16"
        self.scaler_G = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_D = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self._g_syn = torch.compile(self.G.synthesis) if compile else self.G.synthesis
        self._d_fwd = torch.compile(self.D) if compile else self.D
        self._reset_stats()

    # ----------------------------------------------------------------------------------------------- setup
    def _adam(self, params, lr: float, interval: int) -> torch.optim.Adam:
        c = interval / (interval + 1)   # lazy regularisation: rescale lr and betas (StyleGAN2, appendix B)
        b1, b2 = self.cfg.betas
        fused = self.device.type == "cuda"
        return torch.optim.Adam(params, lr=lr * c, betas=(b1 ** c, b2 ** c), eps=1e-8, fused=fused)

    def _build_optimizers(self) -> None:
        cfg = self.cfg
        self.opt_G = self._adam(list(self.G.parameters()), cfg.g_lr, cfg.pl_interval)
        self.opt_D = self._adam(self.d_trainable_params(), cfg.d_lr, cfg.r1_interval)

    def d_trainable_params(self) -> list[torch.nn.Parameter]:
        frozen = {id(p) for b in self.D.blocks[: self.d_frozen_blocks] for p in b.parameters()}
        return [p for p in self.D.parameters() if id(p) not in frozen]

    def freeze_d(self, k: int) -> None:
        """FreezeD (Mo et al. 2020): freeze the first k discriminator blocks counted from the image input side
        (block 0 includes fromRGB). Rebuilds the D optimizer over the remaining parameters."""
        if not 0 <= k <= len(self.D.blocks):
            raise UsageError(f"--freeze-d must be between 0 and {len(self.D.blocks)} for resolution "
                             f"{self.cfg.resolution}, got {k}")
        self.d_frozen_blocks = int(k)
        for i, b in enumerate(self.D.blocks):
            b.requires_grad_(i >= k)
        self.opt_D = self._adam(self.d_trainable_params(), self.cfg.d_lr, self.cfg.r1_interval)

    def _d_requires_grad(self, flag: bool) -> None:
        for p in self.d_trainable_params():
            p.requires_grad_(flag)

    def _sync_grads(self, params, bucket_bytes: int = 25 << 20) -> None:
        """Average gradients over ranks: one all-reduce per bucket of flattened gradients (not one per tensor)."""
        if self.world <= 1:
            return
        import torch.distributed as dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        grads = [p.grad for p in params if p.grad is not None]
        bucket: list[torch.Tensor] = []
        size = 0
        for i, g in enumerate(grads + [None]):
            if g is not None:
                bucket.append(g)
                size += g.numel() * g.element_size()
            if bucket and (g is None or size >= bucket_bytes):
                flat = _flatten_dense_tensors(bucket)
                dist.all_reduce(flat)
                flat /= self.world
                for dst, src in zip(bucket, _unflatten_dense_tensors(flat, bucket)):
                    dst.copy_(src)
                bucket, size = [], 0

    # ----------------------------------------------------------------------------------------------- stats
    def _reset_stats(self) -> None:
        self._acc: dict[str, torch.Tensor] = {}
        self._acc_n: dict[str, int] = {}
        self._finite: dict[str, torch.Tensor] = {}

    def _record(self, name: str, value: torch.Tensor, check: str | None = None) -> None:
        """Accumulate a scalar on the device (no sync); ``check`` names it in the divergence message."""
        v = value.detach().float()
        self._acc[name] = self._acc[name] + v if name in self._acc else v
        self._acc_n[name] = self._acc_n.get(name, 0) + 1
        if check:
            self._check_finite(check, v)

    def _check_finite(self, label: str, value: torch.Tensor) -> None:
        ok = torch.isfinite(value).all()
        self._finite[label] = self._finite[label] & ok if label in self._finite else ok

    def _check_grads(self, label: str, params) -> None:
        """Flag non-finite gradients (skipped under fp16, where the GradScaler skips such steps itself)."""
        if self.precision == "fp16":
            return
        grads = [p.grad for p in params if p.grad is not None]
        if grads:
            self._check_finite(label, torch.stack(torch._foreach_norm(grads)).sum())

    def flush_stats(self) -> dict:
        """Read the accumulated stats from the device (one transfer), raise TrainingDiverged on a NaN/Inf, reset."""
        names = list(self._acc)
        labels = list(self._finite)
        vals = torch.stack([self._acc[k] for k in names] + [self._finite[k].float() for k in labels]).cpu().tolist() \
            if names or labels else []
        means = {k: vals[i] / self._acc_n[k] for i, k in enumerate(names)}
        bad = [lab for j, lab in enumerate(labels) if vals[len(names) + j] == 0.0]
        self._reset_stats()
        if bad:
            shown = {"G loss": "loss_g", "D loss": "loss_d", "R1 penalty": "r1_penalty",
                     "path-length penalty": "pl_penalty"}
            what = "; ".join(f"{lab} became {means.get(shown.get(lab, ''), float('nan'))}" for lab in bad)
            raise TrainingDiverged(f"{what} by kimg {self.cur_nimg / 1000:.3f} (step {self.step_idx})")
        return means

    # ----------------------------------------------------------------------------------------------- one step
    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=self.device, generator=self.gen)

    def _reseed(self) -> None:
        self.gen.manual_seed(derive_seed(self.seed, self.rank, self.step_idx, 1))
        self.aug_gen.manual_seed(derive_seed(self.seed, self.rank, self.step_idx, 2))
        self.mirror_gen.manual_seed(derive_seed(self.seed, self.rank, self.step_idx, 3))

    def mirror(self, real: torch.Tensor) -> torch.Tensor:
        """x-flip each real image with probability 0.5 (``cfg.mirror``), before DiffAugment; draws from the step's
        own ``mirror_gen`` stream, so turning it on changes no latent, noise or augmentation draw."""
        if not self.cfg.mirror:
            return real
        flip = torch.rand(real.shape[0], device=real.device, generator=self.mirror_gen) < 0.5
        return torch.where(flip[:, None, None, None], real.flip(3), real)

    def _opt_step(self, opt, scaler, loss: torch.Tensor, params, label: str) -> None:
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        params = list(params)
        self._sync_grads(params)
        self._check_grads(label, params)
        scaler.step(opt)
        scaler.update()

    def g_main_loss(self, b: int) -> torch.Tensor:
        ws = self.G.map(self._latents(b))
        self._track_w_avg(ws[:, 0])
        ws = style_mix(self.G, ws, self.cfg.style_mixing_prob, self.gen)
        noise = self.G.synthesis.make_noise(b, self.gen)
        fake = self._g_syn(ws, "random", noise)
        return L.g_nonsat(self._d_fwd(self.augment(fake)))

    @torch.no_grad()
    def _track_w_avg(self, w: torch.Tensor) -> None:
        """w_avg <- lerp(batch mean of w, w_avg, beta), the batch being the global one: under torch.distributed the
        per-rank means are averaged first (equal per-rank batches), so every rank holds the same w_avg, the one a
        single process with the whole batch would hold. (stylegan2-ada updates it per rank and leaves it out of its
        rank-consistency check.)"""
        m = self.G.mapping
        mean = w.detach().float().mean(0)
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(mean)
            mean /= self.world
        m.w_avg.copy_(mean.lerp(m.w_avg, m.w_avg_beta))

    def g_reg_loss(self, b: int) -> torch.Tensor:
        """Path-length penalty through all of G (mapping included), weighted for lazy regularisation."""
        cfg = self.cfg
        pb = max(1, b // cfg.pl_batch_shrink)
        with full_precision(self.G):
            ws = style_mix(self.G, self.G.map(self._latents(pb)), cfg.style_mixing_prob, self.gen)
            lengths, _ = L.path_length(self.G, ws, self.gen)
        batch_mean = lengths.mean().detach()
        if self.world > 1:   # the global batch's mean, so every rank holds (and a checkpoint saves) the same pl_mean
            import torch.distributed as dist

            dist.all_reduce(batch_mean)
            batch_mean /= self.world
        self.pl_mean.copy_(self.pl_mean.lerp(batch_mean, cfg.pl_decay))
        pen = (lengths - self.pl_mean).square().mean()
        self._record("pl_penalty", pen, "path-length penalty")
        self._record("pl_mean", self.pl_mean)
        return pen * (cfg.pl_weight * cfg.pl_interval)

    def d_main_loss(self, real: torch.Tensor, b: int) -> torch.Tensor:
        with torch.no_grad():
            ws = style_mix(self.G, self.G.map(self._latents(b)), self.cfg.style_mixing_prob, self.gen)
            fake = self._g_syn(ws, "random", self.G.synthesis.make_noise(b, self.gen))
        real_logits = self._d_fwd(self.augment(real))
        fake_logits = self._d_fwd(self.augment(fake))
        self._record("d_real", real_logits.mean())
        self._record("d_fake", fake_logits.mean())
        return L.d_logistic(real_logits, fake_logits)

    def d_reg_loss(self, real: torch.Tensor) -> torch.Tensor:
        """R1 on (augmented) reals in float32, weighted for lazy regularisation."""
        with full_precision(self.D):
            r1, _ = L.r1_penalty(self.D, self.augment, real)
        r1m = r1.mean()
        self._record("r1_penalty", r1m, "R1 penalty")
        return r1m * (self.cfg.r1_gamma / 2 * self.cfg.r1_interval)

    def step(self, real_u8: torch.Tensor) -> None:
        """One training step on a batch of real uint8 images: G main, G reg (every pl_interval steps), D main,
        D reg (every r1_interval steps), each with its own optimizer step; then the EMA update."""
        cfg = self.cfg
        real = to_float_images(real_u8, self.device)
        if real.shape[2] != cfg.resolution or real.shape[3] != cfg.resolution:
            raise UsageError(f"data resolution {real.shape[2]}x{real.shape[3]} does not match the model "
                             f"resolution {cfg.resolution}")
        if self.device.type == "cuda":
            real = real.contiguous(memory_format=torch.channels_last)
        b = real.shape[0]
        self._reseed()
        real = self.mirror(real)
        g_params = list(self.G.parameters())

        self.G.requires_grad_(True)
        self._d_requires_grad(False)
        loss_g = self.g_main_loss(b)
        self._record("loss_g", loss_g, "G loss")
        self._opt_step(self.opt_G, self.scaler_G, loss_g, g_params, "G gradients")
        if cfg.pl_weight > 0 and self.step_idx % cfg.pl_interval == 0:
            self._opt_step(self.opt_G, self.scaler_G, self.g_reg_loss(b), g_params, "G gradients (path length)")

        self.G.requires_grad_(False)
        self._d_requires_grad(True)
        d_params = self.d_trainable_params()
        loss_d = self.d_main_loss(real, b)
        self._record("loss_d", loss_d, "D loss")
        self._opt_step(self.opt_D, self.scaler_D, loss_d, d_params, "D gradients")
        if cfg.r1_gamma > 0 and self.step_idx % cfg.r1_interval == 0:
            self._opt_step(self.opt_D, self.scaler_D, self.d_reg_loss(real), d_params, "D gradients (R1)")

        self.update_ema()
        self.cur_nimg += cfg.batch
        self.step_idx += 1

    def ema_beta(self) -> float:
        """EMA decay for the step at ``cur_nimg`` (images shown before it): 0 (G_ema = G) before ``ema_start_kimg``
        (DiffAugment's TF code); else ``0.5 ** (batch / ema_nimg)`` with ``ema_nimg`` the half-life in images,
        ramped up as ``min(ema_nimg, cur_nimg * ema_rampup)`` when ``ema_rampup`` is set (stylegan2-ada)."""
        cfg = self.cfg
        if self.cur_nimg < cfg.ema_start_kimg * 1000:
            return 0.0
        ema_nimg = cfg.ema_halflife_kimg * 1000
        if cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * cfg.ema_rampup)
        return 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- lerp(G, G_ema, beta) (``ema_beta``), one fused foreach op; buffers copied."""
        beta = self.ema_beta()
        torch._foreach_lerp_(list(self.G_ema.parameters()), list(self.G.parameters()), 1.0 - beta)
        torch._foreach_copy_(list(self.G_ema.buffers()), list(self.G.buffers()))

    # ----------------------------------------------------------------------------------------------- loop
    @property
    def kimg(self) -> float:
        return self.cur_nimg / 1000

    def train(self, data_iter: Iterable, kimg: float, out_dir: str | Path, hooks: Iterable = (),
              log_name: str = "stats.jsonl", progress: bool = False) -> None:
        """Train until ``kimg`` thousand images in total have been shown (a resumed run continues its counter).

        ``hooks`` are callables ``hook(trainer, done: bool)`` with an ``every_kimg`` attribute; they run whenever the
        image counter crosses a multiple of ``every_kimg``, at the end, and (``at_start=True``) once before the first
        step of a run at kimg 0. Writes ``stats.jsonl``, ``grid-*.png`` and ``last.pt`` (rank 0 only). Raises
        TrainingDiverged on a NaN/Inf loss or gradient, leaving the last good checkpoint. ``progress`` shows a tqdm
        bar (kimg) on stderr.
        """
        from tqdm import tqdm

        out = Path(out_dir)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        target = int(round(kimg * 1000))
        log_n = max(1, int(self.cfg.log_every_kimg * 1000))
        snap_n = max(1, int(self.cfg.snapshot_every_kimg * 1000))
        hooks = list(hooks)
        if self.cur_nimg == 0:
            for h in hooks:
                if getattr(h, "at_start", False):
                    h(self, False)
        it = iter(data_iter)
        t0, n0 = time.perf_counter(), self.cur_nimg
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        # Counted in images (integers, shown in kimg) and capped at the target: the last batch may overshoot the
        # target, which must not push the bar past its total (tqdm's "clamping frac" warning, a negative time left).
        bar = tqdm(total=target, initial=min(self.cur_nimg, target), unit="kimg", unit_scale=1 / 1000,
                   disable=not progress or self.rank != 0, file=sys.stderr, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} kimg [{elapsed}<{remaining}]")
        try:
            while self.cur_nimg < target:
                batch = next(it)
                self.batches_consumed += 1
                prev = self.cur_nimg
                self.step(batch)
                bar.update(min(self.cur_nimg, target) - bar.n)
                done = self.cur_nimg >= target
                every = [max(1, int(h.every_kimg * 1000)) if getattr(h, "every_kimg", 0) else None for h in hooks]
                due = [done or (e is not None and prev // e != self.cur_nimg // e) for e in every]
                snap = done or prev // snap_n != self.cur_nimg // snap_n
                if done or prev // log_n != self.cur_nimg // log_n or any(due) or snap:
                    means = self.flush_stats()   # raises TrainingDiverged before anything is saved
                    dt = time.perf_counter() - t0
                    rec = {"kimg": round(self.kimg, 4), "step": self.step_idx, **means,
                           "img_per_s": (self.cur_nimg - n0) / max(dt, 1e-9),
                           "sec_per_kimg": dt / max(self.cur_nimg - n0, 1) * 1000}
                    if self.device.type == "cuda":
                        rec["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
                    self._log(out / log_name, rec)
                    t0, n0 = time.perf_counter(), self.cur_nimg
                if any(due):
                    bar.clear()   # a hook's own progress bar (FID) takes the line meanwhile, instead of garbling it
                for h, d in zip(hooks, due):   # before the snapshot, so that last.pt holds what the hooks recorded
                    if d:
                        h(self, done)
                if any(due):
                    bar.refresh()
                if snap and self.rank == 0:
                    self.save_grid(out / f"grid-{self.cur_nimg // 1000:06d}k{self.cur_nimg % 1000:03d}.png")
                    self.save(out / "last.pt")
        finally:
            bar.close()

    def _log(self, path: Path, rec: dict) -> None:
        if self.rank != 0:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    # ----------------------------------------------------------------------------------------------- outputs
    @torch.no_grad()
    def sample(self, z: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 [N,3,H,W] images from G_ema for fixed latents (constant noise, no truncation)."""
        z = self.grid_z if z is None else z.to(self.device)
        return to_uint8(self.G_ema(z, noise_mode="const")).cpu()

    def save_grid(self, path: Path) -> None:
        save_grid(self.sample(), path)

    def state_dict(self) -> dict:
        st = {
            "format": CKPT_FORMAT,
            "config": self.cfg.to_dict(),
            "seed": self.seed,
            "manifest_id": self.manifest_id,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "scaler_G": self.scaler_G.state_dict(), "scaler_D": self.scaler_D.state_dict(),
            "cur_nimg": self.cur_nimg, "step": self.step_idx, "batches_consumed": self.batches_consumed,
            "d_frozen_blocks": self.d_frozen_blocks,
            "pl_mean": self.pl_mean.detach().cpu(),
            "rng": "per-step from (seed, rank, step)",
            "torch_cpu_rng": torch.get_rng_state(),
            "extra": self.extra,
        }
        return st

    def save(self, path: str | Path) -> None:
        if self.rank != 0:
            return
        save_checkpoint(self.state_dict(), path)

    read_checkpoint = staticmethod(load_checkpoint)  # an alias kept for callers; the reader is trainers.checkpoint

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", compile: bool = False,
             weights_only: bool = False, cfg: TrainConfig | None = None, seed: int | None = None,
             precision: str = "auto") -> "Trainer":
        """Restore a trainer on any device (checkpoints hold CPU tensors and no device RNG state).

        ``weights_only`` loads G, D, G_ema and the path-length running mean ``pl_mean`` (so the path-length penalty
        of a finetune starts from the pretrained run's mean instead of 0) into a fresh run: new optimizers, kimg 0,
        RNG streams from ``seed``. This is the starting point of a finetune."""
        st = load_checkpoint(path)
        cfg = cfg or TrainConfig.from_dict(st["config"])
        tr = cls(cfg, device, st["seed"] if seed is None else seed, st.get("manifest_id"), compile, precision)
        tr.G.load_state_dict(st["G"])
        tr.D.load_state_dict(st["D"])
        tr.G_ema.load_state_dict(st["G_ema"])
        tr.pl_mean.copy_(st["pl_mean"])
        if weights_only:
            tr.extra = {"init": str(path), "init_kimg": st["cur_nimg"] / 1000,
                        "init_manifest_id": st.get("manifest_id")}
            return tr
        tr.freeze_d(int(st.get("d_frozen_blocks", 0)))
        tr.opt_G.load_state_dict(st["opt_G"])
        tr.opt_D.load_state_dict(st["opt_D"])
        if tr.precision == "fp16" and "scaler_G" in st:
            tr.scaler_G.load_state_dict(st["scaler_G"])
            tr.scaler_D.load_state_dict(st["scaler_D"])
        tr.cur_nimg, tr.step_idx, tr.batches_consumed = st["cur_nimg"], st["step"], st["batches_consumed"]
        torch.set_rng_state(st["torch_cpu_rng"])
        tr.extra = dict(st.get("extra", {}))
        return tr
