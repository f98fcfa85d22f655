"""Launched under torchrun by tests/test_multiprocess.py: runs `primps` commands in each rank and writes what the
rank saw, on the side, to REPORT/rank<r>.json (no primps code knows about it).

    python -m torch.distributed.run --nproc_per_node 2 tests/dist_helper.py REPORT WATCH PLAN_JSON

PLAN_JSON is a list of steps, each {"argv": [...primps arguments...], "kill_rank": r, "kill_after_steps": n}
(the kill keys optional). Per command the report holds the exit code, sha256 digests of G, D and G_ema after the
run, the image counter, the sha256 of every real batch the rank trained on and the stream's sample indices. An audit
hook records every file a rank other than 0 opens for writing, renames or creates under WATCH.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path


def digest(module) -> str:
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> int:
    report_dir, watch, plan = Path(sys.argv[1]), str(Path(sys.argv[2]).resolve()), json.loads(sys.argv[3])
    rank = int(os.environ["RANK"])
    writes: list[str] = []

    def audit(event, args):
        if rank == 0 or event not in ("open", "os.rename", "os.replace", "os.mkdir", "os.remove"):
            return
        if event == "open":
            path, mode, flags = args
            if not isinstance(path, (str, bytes, os.PathLike)):
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if not writing or os.path.isdir(path):
                return   # reads, and the unnamed O_TMPFILE probe of a folder by the up-front writability check
        else:
            path = args[0]
        p = os.path.abspath(os.fsdecode(path))
        if p.startswith(watch):
            writes.append(f"{event} {p}")

    sys.addaudithook(audit)

    import datetime

    import torch.distributed as dist

    # primps would initialise the group itself (trainers.loop.dist_info); here with a short timeout, so that a
    # test that goes wrong fails in minutes instead of gloo's default half hour.
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=120))

    from primps.pipeline import stream as stream_mod
    from primps.stages.cli import main as primps
    from primps.trainers.loop import Trainer

    record: dict = {}
    orig_train, orig_step, orig_indices = Trainer.train, Trainer.step, stream_mod.batch_indices

    def train(self, *a, **k):
        try:
            return orig_train(self, *a, **k)
        finally:
            record.update(G=digest(self.G), D=digest(self.D), G_ema=digest(self.G_ema), cur_nimg=self.cur_nimg,
                          step=self.step_idx, world=self.world, rank=self.rank)

    def step(self, real_u8):
        record.setdefault("batches", []).append(hashlib.sha256(real_u8.contiguous().numpy().tobytes()).hexdigest())
        orig_step(self, real_u8)
        kill = record.get("_kill")
        if kill and kill[0] == self.rank and self.step_idx >= kill[1]:
            os.kill(os.getpid(), signal.SIGKILL)

    def batch_indices(g, b):
        r = orig_indices(g, b)
        record.setdefault("indices", []).append([r.start, r.stop])
        return r

    Trainer.train, Trainer.step, stream_mod.batch_indices = train, step, batch_indices
    out = []
    for item in plan:
        record.clear()
        if "kill_rank" in item:
            record["_kill"] = (item["kill_rank"], item["kill_after_steps"])
        rc = primps(item["argv"])
        record.pop("_kill", None)
        out.append({"rc": rc, **record})
        dist.barrier()   # separate launches in real use: the next command starts once rank 0 has saved
    dist.barrier()
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / f"rank{rank}.json").write_text(json.dumps({"runs": out, "writes": writes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
