"""Multi-process training on the CPU: torchrun, gloo, 2 ranks, `primps pretrain --stream --preset cpu-smoke`.

Each launch runs tests/dist_helper.py in both ranks, which calls the real `primps` command line and reports, per rank,
digests of G, D and G_ema, the real batches and stream indices it trained on, and any file a rank other than 0
wrote. About 40 s on the idle 2-core machine (two launches), so marked slow; CI runs it.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

HELPER = Path(__file__).with_name("dist_helper.py")
SEED = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp: Path, plan: list[dict], timeout: float = 300) -> tuple[int, float, dict, str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), str(HELPER), str(tmp / "report"), str(tmp / "w"), json.dumps(plan)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # torchrun and both ranks
        log, _ = proc.communicate()
    wall = time.monotonic() - t0
    reports = {r: json.loads((tmp / "report" / f"rank{r}.json").read_text())
               for r in (0, 1) if (tmp / "report" / f"rank{r}.json").is_file()}
    return proc.returncode, wall, reports, log


def pretrain(out: Path, kimg: float, *extra: str) -> list[str]:
    return ["pretrain", "--stream", "--train-preset", "cpu-smoke", "--seed", str(SEED), "--kimg", str(kimg),
            "--out", str(out), "--loader-workers", "0", "--device", "cpu", "--threads", "1", "--no-progress",
            *extra]


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """One launch: an uninterrupted run to 0.064 kimg, a run to 0.032 kimg and its resume to 0.064 kimg."""
    tmp = tmp_path_factory.mktemp("mp")
    w = tmp / "w"
    plan = [{"argv": pretrain(w / "full", 0.064, "--snapshot-kimg", "0.032")},
            {"argv": pretrain(w / "part", 0.032)},
            {"argv": pretrain(w / "part", 0.064, "--resume", str(w / "part" / "last.pt"))}]
    rc, wall, reports, log = torchrun(tmp, plan)
    assert rc == 0 and set(reports) == {0, 1}, log[-3000:]
    return w, reports, wall


def test_ranks_stay_bit_identical(two_rank_runs):
    _, reports, _ = two_rank_runs
    for i in range(3):
        r0, r1 = reports[0]["runs"][i], reports[1]["runs"][i]
        assert r0["rc"] == r1["rc"] == 0
        assert (r0["world"], r0["rank"], r1["rank"]) == (2, 0, 1)
        for net in ("G", "D", "G_ema"):
            assert r0[net] == r1[net], (i, net)
        assert r0["batches"] != r1["batches"]           # ... while each rank trained on its own images


def test_only_rank_0_writes(two_rank_runs):
    w, reports, _ = two_rank_runs
    assert reports[1]["writes"] == []
    for run in ("full", "part"):
        assert {"last.pt", "stats.jsonl"} <= {p.name for p in (w / run).iterdir()}
    assert not list(w.rglob(".*.tmp-*"))


def test_two_rank_resume_continues_to_the_new_kimg(two_rank_runs):
    from primps.trainers.checkpoint import load_checkpoint

    w, reports, _ = two_rank_runs
    part, resumed, full = (reports[0]["runs"][i] for i in (1, 2, 0))
    assert (part["cur_nimg"], resumed["cur_nimg"], resumed["step"]) == (32, 64, 8)
    assert len(resumed["batches"]) == 4                  # it trained only the remaining 4 steps
    st = load_checkpoint(w / "part" / "last.pt")
    assert (st["cur_nimg"], st["step"], st["batches_consumed"]) == (64, 8, 8)
    kimgs = [json.loads(line)["kimg"] for line in (w / "part" / "stats.jsonl").read_text().splitlines()]
    assert kimgs[-1] == pytest.approx(0.064) and kimgs == sorted(kimgs)
    for r in (0, 1):                                      # resumed == uninterrupted, on both ranks
        for net in ("G", "D", "G_ema"):
            assert reports[r]["runs"][2][net] == reports[r]["runs"][0][net], (r, net)
        assert reports[r]["runs"][1]["batches"] + reports[r]["runs"][2]["batches"] == \
            reports[r]["runs"][0]["batches"]
    assert full["cur_nimg"] == 64


def test_stream_ranks_split_the_one_rank_stream(two_rank_runs):
    """Rank r's j-th batch is the r-th half of the 1-rank stream's j-th batch: disjoint sample indices that together
    are the 1-rank stream, and the same pixels."""
    import numpy as np

    from primps.pipeline.config import SynthConfig
    from primps.pipeline.stream import SynthStream
    from primps.trainers.checkpoint import load_checkpoint

    w, reports, _ = two_rank_runs
    idx = [reports[r]["runs"][0]["indices"] for r in (0, 1)]
    assert len(idx[0]) == len(idx[1]) == 8
    per_rank = 4                                           # cpu-smoke batch 8 over 2 ranks
    one_rank = SynthStream(None, SEED, 2 * per_rank, rank=0, world=1)
    for j, g in zip(range(8), one_rank.global_batches()):
        a, b = set(range(*idx[0][j])), set(range(*idx[1][j]))
        assert not a & b and len(a) == len(b) == per_rank
        assert sorted(a | b) == list(range(g * 2 * per_rank, (g + 1) * 2 * per_rank))
    extra = load_checkpoint(w / "full" / "last.pt")["extra"]
    cfg = SynthConfig.from_dict(extra["synth_config"])
    it = iter(SynthStream(cfg, extra["synth_seed"], 2 * per_rank, rank=0, world=1))
    for j in range(8):
        whole = next(it).numpy()
        for r in (0, 1):
            half = np.ascontiguousarray(whole[r * per_rank:(r + 1) * per_rank])
            assert reports[r]["runs"][0]["batches"][j] == hashlib.sha256(half.tobytes()).hexdigest(), (j, r)


def test_a_killed_rank_fails_the_job_quickly_and_cleanly(tmp_path):
    """Rank 1 is SIGKILLed after 3 steps while rank 0 writes a checkpoint every step: torchrun exits non-zero within
    a bounded time, and the output holds only complete files (last.pt loads; no temporary left)."""
    from primps.trainers.checkpoint import load_checkpoint

    out = tmp_path / "w" / "out"
    plan = [{"argv": pretrain(out, 10, "--snapshot-kimg", "0.008"), "kill_rank": 1, "kill_after_steps": 3}]
    rc, wall, reports, log = torchrun(tmp_path, plan, timeout=240)
    assert rc != 0, log[-3000:]
    assert wall < 120, wall                                # 10 kimg would take minutes: the job stopped early
    assert 1 not in reports                                # rank 1 died before reporting
    assert not list(out.glob(".*.tmp-*")), list(out.iterdir())
    st = load_checkpoint(out / "last.pt")
    assert st["cur_nimg"] in (8, 16, 24, 32) and st["step"] == st["cur_nimg"] // 8
