"""The StyleGAN2 + DiffAugment training loop: ``Trainer(cfg, device, seed)``, ``.train(data_iter, kimg, out_dir)``,
``.save(path)`` / ``Trainer.load(path)``.

Determinism: every random draw comes from two explicit torch.Generators (``gen`` for latents, noise, style mixing and
path-length probes; ``aug_gen`` for DiffAugment); network init runs under a forked, seeded global RNG. The checkpoint
holds both generator states and the number of batches consumed, so a resumed run continues the same data stream
(see ``resumable_stream``) and, on CPU, reproduces an uninterrupted run.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from primps.pipeline.atomic import atomic_write
from primps.pipeline.errors import UsageError
from primps.pipeline.grid import save_grid
from primps.trainers import loss as L
from primps.trainers.diffaug import DiffAugment
from primps.trainers.networks import Discriminator, Generator, style_mix
from primps.trainers.presets import TrainConfig

CKPT_FORMAT = "primps-train-v1"


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
    return dist.get_rank(), dist.get_world_size()


def default_device() -> str:
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def resumable_stream(make_iter: Callable[[int], Iterable], start_batch: int = 0,
                     chunk_batches: int = 1000) -> Iterator:
    """An endless batch stream cut into chunks; chunk k comes from ``make_iter(k)`` (e.g. a loader seeded from
    (seed, k)). Starting at ``start_batch`` skips at most ``chunk_batches`` batches, so resuming is cheap and exact."""
    chunk, skip = divmod(int(start_batch), chunk_batches)
    while True:
        it = iter(make_iter(chunk))
        for i in range(chunk_batches):
            try:
                batch = next(it)
            except StopIteration:
                raise UsageError("the data stream ended; the loader must be infinite (resampled=True)") from None
            if i >= skip:
                yield batch
        skip = 0
        chunk += 1


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
                 manifest_id: str | None = None, compile: bool = False):
        self.cfg = cfg
        self.device = torch.device(device)
        self.seed = int(seed)
        self.manifest_id = manifest_id
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
            self.D = self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed * 1000 + 2 * self.rank + 1)
        self.aug_gen = torch.Generator(device=self.device).manual_seed(self.seed * 1000 + 2 * self.rank + 2)
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
        self._g_syn = torch.compile(self.G.synthesis) if compile else self.G.synthesis
        self._d_fwd = torch.compile(self.D) if compile else self.D

    # ----------------------------------------------------------------------------------------------- setup
    def _adam(self, params, lr: float, interval: int) -> torch.optim.Adam:
        c = interval / (interval + 1)   # lazy regularisation: rescale lr and betas (StyleGAN2, appendix B)
        b1, b2 = self.cfg.betas
        return torch.optim.Adam(params, lr=lr * c, betas=(b1 ** c, b2 ** c), eps=1e-8)

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

    def _sync_grads(self, params) -> None:
        if self.world <= 1:
            return
        import torch.distributed as dist
        for p in params:
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    # ----------------------------------------------------------------------------------------------- one step
    def _latents(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, device=self.device, generator=self.gen)

    def _check(self, name: str, value: torch.Tensor) -> float:
        v = float(value.detach())
        if not math.isfinite(v):
            raise TrainingDiverged(f"{name} became {v} at kimg {self.cur_nimg / 1000:.3f} (step {self.step_idx})")
        return v

    def step(self, real_u8: torch.Tensor) -> dict:
        """One G update and one D update on a batch of real uint8 images; returns the scalar stats."""
        cfg = self.cfg
        real = to_float_images(real_u8, self.device)
        if real.shape[2] != cfg.resolution or real.shape[3] != cfg.resolution:
            raise UsageError(f"data resolution {real.shape[2]}x{real.shape[3]} does not match the model "
                             f"resolution {cfg.resolution}")
        if self.device.type == "cuda":
            real = real.contiguous(memory_format=torch.channels_last)
        b = real.shape[0]
        stats: dict = {}

        # Generator: non-saturating loss (+ lazy path-length regularisation).
        self.G.requires_grad_(True)
        self._d_requires_grad(False)
        ws = style_mix(self.G, self.G.map(self._latents(b), update_w_avg=True), cfg.style_mixing_prob, self.gen)
        fake = self._g_syn(ws, "random", self.gen)
        loss_g = L.g_nonsat(self._d_fwd(self.augment(fake)))
        stats["loss_g"] = self._check("G loss", loss_g)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        if cfg.pl_weight > 0 and self.step_idx % cfg.pl_interval == 0:
            pb = max(1, b // cfg.pl_batch_shrink)
            ws = style_mix(self.G, self.G.map(self._latents(pb)), cfg.style_mixing_prob, self.gen)
            lengths, _ = L.path_length(self.G, ws, self.gen)
            self.pl_mean.copy_(self.pl_mean.lerp(lengths.mean().detach(), cfg.pl_decay))
            pen = (lengths - self.pl_mean).square().mean()
            stats["pl_penalty"] = self._check("path-length penalty", pen)
            stats["pl_mean"] = float(self.pl_mean)
            (pen * cfg.pl_weight * cfg.pl_interval).backward()
        self._sync_grads(self.G.parameters())
        self.opt_G.step()

        # Discriminator: logistic loss (+ lazy R1 on reals).
        self.G.requires_grad_(False)
        self._d_requires_grad(True)
        with torch.no_grad():
            ws = style_mix(self.G, self.G.map(self._latents(b)), cfg.style_mixing_prob, self.gen)
            fake = self._g_syn(ws, "random", self.gen)
        do_r1 = cfg.r1_gamma > 0 and self.step_idx % cfg.r1_interval == 0
        if do_r1:
            r1, real_logits = L.r1_penalty(self.D, self.augment, real)
        else:
            real_logits = self._d_fwd(self.augment(real))
        fake_logits = self._d_fwd(self.augment(fake))
        loss_d = L.d_logistic(real_logits, fake_logits)
        stats["loss_d"] = self._check("D loss", loss_d)
        stats["d_real"] = float(real_logits.detach().mean())
        stats["d_fake"] = float(fake_logits.detach().mean())
        total_d = loss_d
        if do_r1:
            r1m = r1.mean()
            stats["r1_penalty"] = self._check("R1 penalty", r1m)
            total_d = total_d + r1m * (cfg.r1_gamma / 2) * cfg.r1_interval
        self.opt_D.zero_grad(set_to_none=True)
        total_d.backward()
        self._sync_grads(self.d_trainable_params())
        self.opt_D.step()

        # EMA of G with a half-life in images.
        self.G.requires_grad_(False)
        beta = 0.5 ** (cfg.batch / (cfg.ema_halflife_kimg * 1000))
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                pe.copy_(p.lerp(pe, beta))
            for be, bsrc in zip(self.G_ema.buffers(), self.G.buffers()):
                be.copy_(bsrc)
        self.cur_nimg += cfg.batch
        self.step_idx += 1
        return stats

    # ----------------------------------------------------------------------------------------------- loop
    @property
    def kimg(self) -> float:
        return self.cur_nimg / 1000

    def train(self, data_iter: Iterable, kimg: float, out_dir: str | Path, hooks: Iterable = (),
              log_name: str = "stats.jsonl") -> None:
        """Train until ``kimg`` thousand images in total have been shown (a resumed run continues its counter).

        ``hooks`` are callables ``hook(trainer, done: bool)`` with an ``every_kimg`` attribute; they run whenever the
        image counter crosses a multiple of ``every_kimg`` and at the end. Writes ``stats.jsonl``, ``grid-*.png``
        and ``last.pt`` (rank 0 only). Raises TrainingDiverged on a NaN/Inf loss, leaving the last good checkpoint.
        """
        out = Path(out_dir)
        if self.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
        target = int(round(kimg * 1000))
        it = iter(data_iter)
        log_n = max(1, int(self.cfg.log_every_kimg * 1000))
        snap_n = max(1, int(self.cfg.snapshot_every_kimg * 1000))
        hooks = list(hooks)
        acc: dict[str, list[float]] = {}
        t0, n0 = time.perf_counter(), self.cur_nimg
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        while self.cur_nimg < target:
            batch = next(it)
            self.batches_consumed += 1
            prev = self.cur_nimg
            for k, v in self.step(batch).items():
                acc.setdefault(k, []).append(v)
            done = self.cur_nimg >= target
            if done or prev // log_n != self.cur_nimg // log_n:
                dt = time.perf_counter() - t0
                rec = {"kimg": round(self.kimg, 4), "step": self.step_idx,
                       **{k: float(np.mean(v)) for k, v in acc.items()},
                       "img_per_s": (self.cur_nimg - n0) / max(dt, 1e-9),
                       "sec_per_kimg": dt / max(self.cur_nimg - n0, 1) * 1000}
                if self.device.type == "cuda":
                    rec["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2 ** 30
                self._log(out / log_name, rec)
                acc, t0, n0 = {}, time.perf_counter(), self.cur_nimg
            for h in hooks:   # before the snapshot, so that last.pt holds what the hooks recorded
                every = max(1, int(getattr(h, "every_kimg", 0) * 1000)) if getattr(h, "every_kimg", 0) else None
                if done or (every and prev // every != self.cur_nimg // every):
                    h(self, done)
            if done or prev // snap_n != self.cur_nimg // snap_n:
                if self.rank == 0:
                    self.save_grid(out / f"grid-{self.cur_nimg // 1000:06d}k{self.cur_nimg % 1000:03d}.png")
                    self.save(out / "last.pt")

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
            "cur_nimg": self.cur_nimg, "step": self.step_idx, "batches_consumed": self.batches_consumed,
            "d_frozen_blocks": self.d_frozen_blocks,
            "pl_mean": self.pl_mean.detach().cpu(),
            "gen_state": self.gen.get_state(), "aug_gen_state": self.aug_gen.get_state(),
            "torch_cpu_rng": torch.get_rng_state(),
            "extra": self.extra,
        }
        if torch.cuda.is_available():
            st["torch_cuda_rng"] = torch.cuda.get_rng_state_all()
        return st

    def save(self, path: str | Path) -> None:
        if self.rank != 0:
            return
        st = self.state_dict()
        atomic_write(Path(path), lambda p: torch.save(st, p))

    @staticmethod
    def read_checkpoint(path: str | Path) -> dict:
        path = Path(path)
        if not path.is_file():
            raise UsageError(f"checkpoint not found: {path}")
        try:
            st = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
            raise UsageError(f"cannot read checkpoint {path}: {exc}") from None
        if not isinstance(st, dict) or st.get("format") != CKPT_FORMAT:
            raise UsageError(f"{path} is not a primps training checkpoint")
        return st

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", compile: bool = False,
             weights_only: bool = False, cfg: TrainConfig | None = None, seed: int | None = None) -> "Trainer":
        """Restore a trainer. ``weights_only`` loads G, D, G_ema (and pl/w_avg buffers) into a fresh run (new
        optimizers, kimg 0, new RNG streams from ``seed``) - the starting point of a finetune."""
        st = cls.read_checkpoint(path)
        cfg = cfg or TrainConfig.from_dict(st["config"])
        tr = cls(cfg, device, st["seed"] if seed is None else seed, st.get("manifest_id"), compile)
        tr.G.load_state_dict(st["G"])
        tr.D.load_state_dict(st["D"])
        tr.G_ema.load_state_dict(st["G_ema"])
        if weights_only:
            tr.extra = {"init": str(path), "init_kimg": st["cur_nimg"] / 1000, "init_manifest_id": st.get("manifest_id")}
            return tr
        tr.freeze_d(int(st.get("d_frozen_blocks", 0)))
        tr.opt_G.load_state_dict(st["opt_G"])
        tr.opt_D.load_state_dict(st["opt_D"])
        tr.cur_nimg, tr.step_idx, tr.batches_consumed = st["cur_nimg"], st["step"], st["batches_consumed"]
        tr.pl_mean.copy_(st["pl_mean"])
        tr.gen.set_state(st["gen_state"])
        tr.aug_gen.set_state(st["aug_gen_state"])
        torch.set_rng_state(st["torch_cpu_rng"])
        if "torch_cuda_rng" in st and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["torch_cuda_rng"])
        tr.extra = dict(st.get("extra", {}))
        return tr
